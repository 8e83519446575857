"""The Hessian as a diagonally preconditioned optimizer sees it: ``P^-1/2 H P^-1/2``.

An adaptive optimizer's step is ``-lr P^-1 m`` with a diagonal ``P`` (Adam:
``diag(sqrt(v_hat) + eps)``), so near a minimum its dynamics are those of gradient descent on
the Hessian ``P^-1 H``, whose eigenvalues are those of the symmetric ``P^-1/2 H P^-1/2``
(Cohen et al., "Adaptive gradient methods at the edge of stability", 2022). This operator wraps
a :class:`HessianOperator` and has its interface, so every solver of
:func:`~optiscope.curvature.top_eigen_of` runs on it.
"""

from __future__ import annotations

import torch
from scipy.sparse.linalg import LinearOperator

from optiscope.curvature.errors import CurvatureError
from optiscope.curvature.hvp import HessianOperator, scipy_view

__all__ = ["PreconditionedOperator"]


class PreconditionedOperator:
    """``v -> D H D v`` with ``D = P^-1/2`` for a positive diagonal preconditioner ``P``.

    Args:
        hessian: the Hessian operator (its ``calls`` count the products).
        diagonal: ``P``'s diagonal ``(n,)``, positive, in the operator's flat parameter order.

    Raises:
        CurvatureError: a diagonal of the wrong size, or one that is not positive and finite.
    """

    def __init__(self, hessian: HessianOperator, diagonal: torch.Tensor) -> None:
        diagonal = torch.as_tensor(diagonal).detach().to(hessian.device, hessian.dtype).reshape(-1)
        if diagonal.shape[0] != hessian.n:
            raise CurvatureError(
                f"the preconditioner has {diagonal.shape[0]} entries; the Hessian is {hessian.n}"
            )
        if not bool(torch.isfinite(diagonal).all()) or not bool((diagonal > 0).all()):
            raise CurvatureError("the preconditioner's diagonal must be positive and finite")
        self.hessian = hessian
        self.scale = diagonal.rsqrt()
        self.n, self.device, self.dtype = hessian.n, hessian.device, hessian.dtype

    @property
    def calls(self) -> int:
        """Hessian-vector products computed so far (shared with the wrapped operator)."""
        return self.hessian.calls

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``D H D v`` of a flat vector ``(n,)``."""
        v = torch.as_tensor(v).to(self.device, self.dtype)
        return self.scale * self.hessian.matvec(self.scale * v)

    def matmat(self, vs: torch.Tensor) -> torch.Tensor:
        """``D H D V`` for ``V`` of shape ``(n, m)``."""
        vs = torch.as_tensor(vs).to(self.device, self.dtype)
        return self.scale[:, None] * self.hessian.matmat(self.scale[:, None] * vs)

    def to_scipy(self) -> LinearOperator:
        """A float64 ``scipy.sparse.linalg.LinearOperator`` view."""
        return scipy_view(self)
