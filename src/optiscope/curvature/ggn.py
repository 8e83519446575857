"""Curvature operators other than the Hessian: the generalised Gauss-Newton and two Fishers.

The loss is :class:`HessianOperator`'s: ``L(theta) = sum_b w_b loss_fn(f(theta, X_b), y_b)`` with
``w_b`` the batch's share of the samples. The chain rule through the outputs ``z = f(theta, X)``
splits its Hessian into ``H = J^T H_z J + sum_k (dL/dz_k) d^2 z_k / dtheta^2``, where ``J`` is the
Jacobian of the outputs and ``H_z`` the Hessian of the loss in the outputs. The first term is the
generalised Gauss-Newton matrix ``G`` (Schraudolph 2002, "Fast curvature matrix-vector products
for second-order gradient descent"). It is PSD whenever the loss is convex in the outputs
(cross-entropy, MSE), and it is the curvature that Gauss-Newton, natural-gradient and K-FAC-type
optimizers precondition with. The second term vanishes for a model linear in ``theta`` and where
the output residuals ``dL/dz`` vanish, so ``G`` and ``H`` agree near an interpolating minimum.

- :class:`GGNOperator`: ``G v = J^T (H_z (J v))`` with ``H_z`` by autograd on ``loss_fn`` as a
  function of the outputs (whatever its reduction and scaling), ``J v`` and ``J^T w`` by
  ``torch.func`` (``jvp`` and ``vjp``); no dense Jacobian is formed.
- :class:`FisherOperator`: the model's Fisher information for the likelihood whose negative log
  is the loss. For softmax cross-entropy and for MSE (a Gaussian of fixed variance) the outputs are
  the likelihood's natural parameters, so the Fisher *equals* the GGN (Martens 2020, "New insights
  and perspectives on the natural gradient method", sec. 9.2). It uses the closed-form output
  curvature, ``(diag(p) - p p^T) / B`` per sample of a batch of ``B`` for cross-entropy and
  ``2 / (B C) I`` for MSE over ``C`` outputs: an independent route to the same matrix.
- :class:`EmpiricalFisherOperator`: ``F_emp = (1/N) sum_i g_i g_i^T`` over the per-sample loss
  gradients ``g_i`` (``torch.func.vmap`` of ``grad``, in chunks of bounded memory). It is *not* a
  curvature estimate in general: it matches the Fisher only when the labels are drawn from the
  model, and its eigenvectors can point far from the Hessian's (Kunstner, Balles and Hennig 2019,
  "Limitations of the empirical Fisher approximation for natural gradient descent").

Each is a :class:`HessianOperator` whose per-batch product is replaced (the parameter selection,
batching, counting and SciPy view are shared), so every solver (``top_eigen_of``, ``trace_of``,
``density_of``) runs on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap

from optiscope.curvature.errors import CurvatureError
from optiscope.curvature.hvp import AUTO_GRAPH_SAMPLES, Data, HessianOperator, LossFn, Product

__all__ = [
    "GGN_MODES",
    "OPERATORS",
    "EmpiricalFisherOperator",
    "FisherOperator",
    "GGNOperator",
    "curvature_operator",
]

OPERATORS = ("hessian", "ggn", "fisher", "empirical-fisher")
GGN_MODES = ("cached", "recompute")
# The empirical Fisher keeps the per-sample gradients (N x n numbers) up to this size, and
# computes them in chunks of at most this many bytes.
EF_CACHE_BYTES = 1 << 30
EF_CHUNK_BYTES = 64 << 20

OutputCurvature = Callable[[torch.Tensor], torch.Tensor]


class _ProductOperator(HessianOperator):
    """A :class:`HessianOperator` whose per-batch product is another matrix's (the hole to fill:
    :meth:`_batch_product`); ``mode`` is one of :data:`GGN_MODES` or ``"auto"``."""

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Data,
        params: str | Sequence[str] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        mode: str = "auto",
    ) -> None:
        super().__init__(model, loss_fn, data, params=params, device=device, dtype=dtype, mode="jvp")
        if mode == "auto":
            mode = self._auto_mode()
        if mode not in GGN_MODES:
            raise CurvatureError(f"unknown mode {mode!r}; choose auto or one of {GGN_MODES}")
        self.mode = mode

    def _auto_mode(self) -> str:
        """``"cached"`` up to :data:`AUTO_GRAPH_SAMPLES` samples, else ``"recompute"``."""
        return "cached" if self.num_samples <= AUTO_GRAPH_SAMPLES else "recompute"

    def _batch_product(self, x: torch.Tensor, y: torch.Tensor) -> Product:
        """``(vs, batched) -> M_b vs`` for one batch, ``vs`` ``(n,)`` or ``(m, n)`` rows if batched."""
        raise NotImplementedError

    def _batch_products(self) -> list[Product]:
        if self._cached:
            return self._cached
        products = [self._batch_product(x, y) for x, y in self._batches]
        if self.mode == "cached":
            self._cached = products
        return products

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={self.n}, params={len(self.names)} tensors, "
            f"samples={self.num_samples}, batches={len(self._batches)}, mode={self.mode}, "
            f"dtype={self.dtype}, calls={self.calls})"
        )


class GGNOperator(_ProductOperator):
    """The generalised Gauss-Newton matrix ``G = sum_b w_b J_b^T H_z,b J_b`` of the mean loss.

    Same constructor arguments and attributes as :class:`HessianOperator`, except ``mode``:
    ``"cached"`` keeps each batch's forward graph (its outputs and pull-back) between products,
    ``"recompute"`` keeps nothing and runs the forward passes at every product, and ``"auto"``
    (default) caches up to :data:`AUTO_GRAPH_SAMPLES` samples. ``calls`` counts ``G v`` products.
    """

    def _outputs(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, {**self._fixed, **self._unflatten(flat)}, (x,))

    def _output_curvature(self, z: torch.Tensor, y: torch.Tensor) -> OutputCurvature:
        """``u -> H_z u``, the loss's Hessian in the outputs ``z`` times ``u``.

        Reverse-over-reverse (a vjp of the output gradient, ``H_z`` being symmetric): forward mode
        through ``mse_loss``'s backward fails on PyTorch's immutable zero tangents.
        """
        pull_back = vjp(grad(lambda out: self.loss_fn(out, y)), z)[1]
        return lambda u: pull_back(u)[0]

    def _batch_product(self, x: torch.Tensor, y: torch.Tensor) -> Product:
        def outputs_of(flat: torch.Tensor) -> torch.Tensor:
            return self._outputs(flat, x)

        if self.mode == "cached":
            z, pull_back = vjp(outputs_of, self._theta)  # w -> (J^T w,)
            # J v is the transpose of the linear map w -> J^T w: one more vjp, on the kept graph.
            push_forward = vjp(pull_back, torch.zeros_like(z))[1]
            curvature = self._output_curvature(z, y)

            def single(v: torch.Tensor) -> torch.Tensor:
                return pull_back(curvature(push_forward((v,))[0]))[0]

        else:

            def single(v: torch.Tensor) -> torch.Tensor:
                z, jv = jvp(outputs_of, (self._theta,), (v,))
                return vjp(outputs_of, self._theta)[1](self._output_curvature(z, y)(jv))[0]

        return lambda vs, batched: vmap(single)(vs) if batched else single(vs)


def _fisher_kind(loss_fn: LossFn) -> str:
    """``"cross_entropy"`` or ``"mse"``: the likelihoods whose Fisher is formed in closed form."""
    if loss_fn is nn.functional.cross_entropy:
        return "cross_entropy"
    if loss_fn is nn.functional.mse_loss:
        return "mse"
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        if loss_fn.reduction == "mean" and loss_fn.weight is None and loss_fn.label_smoothing == 0:
            return "cross_entropy"
    elif isinstance(loss_fn, nn.MSELoss) and loss_fn.reduction == "mean":
        return "mse"
    raise CurvatureError(
        f"the Fisher is formed for a mean cross-entropy (no class weights or label smoothing) or a "
        f"mean MSE loss, got {loss_fn!r}; use the ggn operator for other losses"
    )


class FisherOperator(GGNOperator):
    """The Fisher information of the model's predictive distribution, ``sum_b w_b J_b^T F_z,b J_b``.

    ``F_z`` is the Fisher of the likelihood in the outputs, in closed form: for a batch of ``B``
    samples with softmax probabilities ``p_i``, ``F_z = blockdiag(diag(p_i) - p_i p_i^T) / B``
    (cross-entropy); ``2 / (B C) I`` for MSE with ``C`` outputs per sample. Both equal the loss's
    Hessian in the outputs, so this operator equals :class:`GGNOperator` (see the module
    docstring); its arguments are the GGN's.

    Raises:
        CurvatureError: a loss other than a mean cross-entropy or MSE, or cross-entropy logits
            that are not ``(B, classes)``.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Data,
        params: str | Sequence[str] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        mode: str = "auto",
    ) -> None:
        self.likelihood = _fisher_kind(loss_fn)
        super().__init__(model, loss_fn, data, params=params, device=device, dtype=dtype, mode=mode)

    def _output_curvature(self, z: torch.Tensor, y: torch.Tensor) -> OutputCurvature:
        if self.likelihood == "mse":
            scale = 2.0 / z.numel()
            return lambda u: scale * u
        if z.ndim != 2:
            raise CurvatureError(f"the cross-entropy Fisher needs logits (B, classes), got {tuple(z.shape)}")
        p = torch.softmax(z.detach(), dim=-1)
        batch = z.shape[0]
        return lambda u: (p * u - p * (p * u).sum(dim=-1, keepdim=True)) / batch


class EmpiricalFisherOperator(_ProductOperator):
    """The empirical Fisher ``(1/N) sum_i g_i g_i^T`` of the per-sample loss gradients ``g_i``.

    ``g_i`` is the gradient of ``loss_fn(model(x_i[None]), y_i[None])``, so for a ``loss_fn``
    returning a batch mean the ``g_i`` average to the gradient of the mean loss. Same
    constructor arguments and attributes as :class:`HessianOperator`, plus ``chunk_size``;
    ``mode`` is ``"cached"`` (keep each batch's ``(N_b, n)`` gradient matrix after the first
    product), ``"recompute"`` (recompute the gradients at every product, in chunks) or ``"auto"``
    (cache when all gradients take at most :data:`EF_CACHE_BYTES`).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Data,
        params: str | Sequence[str] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        mode: str = "auto",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(model, loss_fn, data, params=params, device=device, dtype=dtype, mode=mode)
        if chunk_size is not None and chunk_size < 1:
            raise CurvatureError(f"chunk_size must be at least 1, got {chunk_size}")
        self.chunk_size = chunk_size or max(1, EF_CHUNK_BYTES // (self.n * self._itemsize))

    @property
    def _itemsize(self) -> int:
        return torch.empty((), dtype=self.dtype).element_size()

    def _auto_mode(self) -> str:
        """``"cached"`` while all per-sample gradients fit in :data:`EF_CACHE_BYTES`."""
        return "cached" if self.num_samples * self.n * self._itemsize <= EF_CACHE_BYTES else "recompute"

    def sample_gradients(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample gradients ``(len(x), n)`` at the current parameters, ``chunk_size`` at a time."""

        def sample_loss(flat: torch.Tensor, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
            return self._batch_loss(flat, xi.unsqueeze(0), yi.unsqueeze(0))

        per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
        chunks = zip(torch.split(x, self.chunk_size), torch.split(y, self.chunk_size), strict=True)
        return torch.cat([per_sample(self._theta, xc, yc) for xc, yc in chunks])

    def _batch_product(self, x: torch.Tensor, y: torch.Tensor) -> Product:
        count = len(y)
        if self.mode == "cached":
            gradients = self.sample_gradients(x, y)
            return lambda vs, batched: (vs @ gradients.T) @ gradients / count

        def product(vs: torch.Tensor, batched: bool) -> torch.Tensor:
            out = torch.zeros_like(vs)
            for start in range(0, count, self.chunk_size):
                chunk = slice(start, start + self.chunk_size)
                gradients = self.sample_gradients(x[chunk], y[chunk])
                out += (vs @ gradients.T) @ gradients
            return out / count

        return product


def curvature_operator(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    kind: str = "hessian",
    params: str | Sequence[str] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    mode: str = "auto",
) -> HessianOperator:
    """The curvature operator ``kind`` of ``model``'s mean loss on ``data``, ready for the solvers.

    Example::

        ggn = curvature_operator(model, nn.CrossEntropyLoss(), (x, y), "ggn", dtype=torch.float64)
        top_eigen_of(ggn, k=2).values, trace_of(ggn, "hutch++", 150).value

    Args:
        model: the network.
        loss_fn: ``loss_fn(outputs, y)`` returning the batch mean.
        data: ``(X, y)`` or an iterable of ``(X, y)`` batches.
        kind: one of :data:`OPERATORS`: ``"hessian"``, ``"ggn"``, ``"fisher"`` (equal to the GGN
            for cross-entropy and MSE) or ``"empirical-fisher"``.
        params: parameter subset (see :func:`select_parameters`).
        device: device of the products.
        dtype: dtype of the products.
        mode: the operator's product mode (``"auto"`` picks one for each kind).

    Raises:
        CurvatureError: an unknown ``kind`` or ``mode``, or a Fisher of a loss it does not cover.
    """
    classes: dict[str, type[HessianOperator]] = {
        "hessian": HessianOperator,
        "ggn": GGNOperator,
        "fisher": FisherOperator,
        "empirical-fisher": EmpiricalFisherOperator,
    }
    if kind not in classes:
        raise CurvatureError(f"unknown curvature operator {kind!r}; choose one of {', '.join(OPERATORS)}")
    return classes[kind](model, loss_fn, data, params=params, device=device, dtype=dtype, mode=mode)
