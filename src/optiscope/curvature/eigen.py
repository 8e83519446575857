"""Top eigenpairs of a loss Hessian: Lanczos (ARPACK), LOBPCG or power iteration.

Lanczos is SciPy's ``eigsh`` (implicitly restarted Lanczos, Lehoucq et al. 1998) on the float64
view of :class:`HessianOperator`; LOBPCG is SciPy's ``lobpcg`` (Knyazev 2001) on the same
operator, whose block products run as one vmapped pass on the operator's device
(``torch.lobpcg`` only accepts explicit matrices, not an operator, so it is not used); power
iteration with deflation is seed 001's method; ``krylov`` is a block Krylov (Davidson-type)
solve from the given start vectors, the tracker's warm step. Every result carries residual norms
computed from fresh products.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, eigsh, lobpcg
from torch import nn

from optiscope.curvature.errors import CurvatureError
from optiscope.curvature.hvp import Data, HessianOperator, LossFn
from optiscope.curvature.krylov import block_krylov
from optiscope.curvature.power import power_iteration
from optiscope.curvature.ritz import ritz_lanczos
from optiscope.curvature.spectrum import Spectrum

__all__ = ["METHODS", "WHICH", "residual_norms", "top_eigen", "top_eigen_of"]

METHODS = ("lanczos", "lobpcg", "power", "krylov", "ritz")
WHICH = ("LA", "SA", "LM")


class _BudgetExceeded(Exception):
    """Raised inside a solver's matvec when the HVP budget is spent."""


def _counted(operator: HessianOperator, max_hvps: int) -> Any:
    """The operator's SciPy view, raising :class:`_BudgetExceeded` past ``max_hvps`` products."""
    start = operator.calls
    scipy_op = operator.to_scipy()

    def guard(fn: Any) -> Any:
        def wrapped(array: np.ndarray) -> np.ndarray:
            columns = 1 if array.ndim == 1 else array.shape[1]
            if operator.calls - start + columns > max_hvps:
                raise _BudgetExceeded
            return fn(array)

        return wrapped

    scipy_op._matvec = guard(scipy_op._matvec)
    scipy_op._matmat = guard(scipy_op._matmat)
    return scipy_op


def _start_vectors(n: int, k: int, v0: Any, seed: int) -> np.ndarray:
    """Warm-start columns ``(n, k)`` from ``v0`` ((n,) or (n, j)), padded with seeded Gaussians."""
    rng = np.random.default_rng(seed)
    given = np.zeros((n, 0)) if v0 is None else np.asarray(torch.as_tensor(v0).cpu(), dtype=np.float64)
    if given.ndim == 1:
        given = given[:, None]
    if given.ndim != 2 or given.shape[0] != n:
        raise CurvatureError(f"v0 must have {n} rows, got shape {given.shape}")
    extra = rng.standard_normal((n, max(0, k - given.shape[1])))
    return np.concatenate([given[:, :k], extra], axis=1)


def residual_norms(operator: HessianOperator, values: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``||H v_i - lambda_i v_i||`` for each column, from ``k`` fresh products."""
    hv = operator.to_scipy().matmat(vectors)
    return np.linalg.norm(hv - vectors * values[None, :], axis=0)


def _lanczos(op: Any, n: int, k: int, tol: float, which: str, v0: np.ndarray, ncv: int | None) -> tuple:
    ncv = ncv if ncv is not None else min(n, max(2 * k + 8, 12))
    # ARPACK takes one start vector: the sum of the warm-start columns. It still builds a full
    # ncv-step basis before its first convergence check, so a warm start saves few products.
    start = v0.sum(axis=1)
    values, vectors = eigsh(op, k=k, which=which, tol=tol, v0=start, ncv=ncv, maxiter=10_000)
    return values, vectors, {"ncv": ncv}


def _lobpcg(op: Any, k: int, tol: float, which: str, x0: np.ndarray, scale: float | None) -> tuple:
    """SciPy LOBPCG in rounds of 20 iterations, each restarted from the last Ritz vectors.

    SciPy's tolerance is absolute on residual norms; ours is relative, so each round sets it
    from ``scale`` or else from the current largest Ritz value (a random start's Rayleigh
    quotients are far below ``lambda_1`` and would make the first rounds needlessly strict).
    """
    if which == "LM":
        raise CurvatureError("lobpcg supports which='LA' or 'SA'; use lanczos or power for 'LM'")
    vectors, values, rounds = np.linalg.qr(x0)[0], None, 0
    while True:
        rounds += 1
        magnitude = scale if scale is not None else (np.inf if values is None else np.max(np.abs(values)))
        atol = tol * max(magnitude, np.finfo(np.float64).tiny)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values, vectors, history = lobpcg(
                op, vectors, tol=atol, maxiter=20, largest=which == "LA", retResidualNormsHistory=True
            )
        residuals = np.asarray(history[-1])
        if np.max(residuals) <= tol * (scale if scale is not None else np.max(np.abs(values))):
            return values, vectors, {"rounds": rounds}


def _power(operator: HessianOperator, k: int, tol: float, which: str, x0: np.ndarray, budget: int) -> tuple:
    sign = -1.0 if which == "SA" else 1.0
    shift = 0.0
    x = torch.from_numpy(x0).to(operator.device, operator.dtype)
    if which != "LM":
        # For the algebraically extreme end, shift so that it is also the dominant one.
        probe, _, used = power_iteration(lambda v: sign * operator.matvec(v), x[:, :1], 1, tol, budget)
        budget -= used[0]
        shift = max(0.0, -float(probe[0]))
    values, vectors, iterations = power_iteration(
        lambda v: sign * operator.matvec(v) + shift * v, x, k, tol, budget
    )
    return sign * (values.cpu().numpy() - shift), vectors.cpu().numpy(), {"iterations": iterations}


def _krylov(
    operator: HessianOperator,
    k: int,
    tol: float,
    which: str,
    x0: np.ndarray,
    budget: int,
    scale: float | None,
) -> tuple:
    if which == "LM":
        raise CurvatureError("krylov supports which='LA' or 'SA'; use lanczos or power for 'LM'")
    start = torch.from_numpy(x0).to(operator.device, operator.dtype)
    values, vectors, used = block_krylov(operator.matmat, start, k, tol, budget, which == "LA", scale)
    return values.cpu().numpy(), vectors.cpu().numpy(), {"solver_products": used}


def _ritz(operator: HessianOperator, k: int, tol: float, which: str, x0: np.ndarray, budget: int) -> tuple:
    start = torch.from_numpy(x0.sum(axis=1)).to(operator.device, operator.dtype)
    found = ritz_lanczos(operator.matvec, start, k, tol, budget, which)
    meta = {"residuals": found.residuals, "error_bounds": [float(b) for b in found.bounds],
            "restarts": found.restarts}  # fmt: skip
    return found.values, found.vectors.cpu().numpy(), meta


def top_eigen_of(
    operator: HessianOperator,
    k: int = 2,
    tol: float = 1e-6,
    which: str = "LA",
    method: str = "lanczos",
    v0: Any = None,
    max_hvps: int = 10_000,
    seed: int = 0,
    ncv: int | None = None,
    scale: float | None = None,
) -> Spectrum:
    """Extreme eigenpairs of a prepared :class:`HessianOperator`.

    Args:
        operator: the Hessian operator.
        k: number of eigenpairs.
        tol: relative tolerance. ritz: the relative eigenvalue error delivered (each value's
            error bound, checked after every product, at most ``tol |lambda|``; see
            :func:`~optiscope.curvature.ritz.ritz_lanczos`). Lanczos: ARPACK's relative Ritz
            accuracy; LOBPCG and krylov: residual norms below ``tol`` times the largest Rayleigh
            quotient, or ``scale``; power: relative change of each eigenvalue between iterations.
        which: ``"LA"`` largest algebraic, ``"SA"`` smallest (most negative), ``"LM"`` largest
            magnitude.
        method: ``"lanczos"`` (ARPACK), ``"ritz"`` (Lanczos with full reorthogonalisation, stopped on
            eigenvalue error bounds; its residuals come from the recurrence, with no extra
            products), ``"lobpcg"``, ``"power"`` or ``"krylov"`` (block Krylov from ``v0``, see
            :func:`block_krylov`; best when ``v0`` is close, as in tracking).
        v0: warm start, ``(n,)`` or ``(n, j)``; missing columns are seeded Gaussians. Lanczos
            and ritz start from the sum of the first ``k`` columns, LOBPCG and power from each column.
        max_hvps: budget of products for the solver (the ``k`` residual checks come on top).
        seed: seed of the random start vectors.
        ncv: Lanczos basis size (default ``max(2k + 8, 12)``, at most ``n``; ARPACK builds this
            many vectors before its first convergence check, so small is cheap for a few
            well-separated eigenvalues).
        scale: LOBPCG and krylov only: eigenvalue magnitude setting the residual tolerance,
            e.g. the previous step's ``lambda_1`` when tracking.

    Returns:
        A :class:`Spectrum` with values descending.

    Raises:
        CurvatureError: bad ``k``, ``tol``, ``which`` or ``method``, or no convergence in budget.
    """
    if method not in METHODS:
        raise CurvatureError(f"unknown method {method!r}; choose one of {METHODS}")
    if which not in WHICH:
        raise CurvatureError(f"unknown which {which!r}; choose one of {WHICH}")
    if not 1 <= k < operator.n:
        raise CurvatureError(f"k must lie in [1, n) = [1, {operator.n}), got {k}")
    if not tol > 0:
        raise CurvatureError(f"tol must be positive, got {tol}")
    start_calls, started = operator.calls, time.perf_counter()
    x0 = _start_vectors(operator.n, k, v0, seed)
    try:
        if method == "lanczos":
            values, vectors, meta = _lanczos(_counted(operator, max_hvps), operator.n, k, tol, which, x0, ncv)
        elif method == "lobpcg":
            values, vectors, meta = _lobpcg(_counted(operator, max_hvps), k, tol, which, x0, scale)
        elif method == "krylov":
            values, vectors, meta = _krylov(operator, k, tol, which, x0, max_hvps, scale)
        elif method == "ritz":
            values, vectors, meta = _ritz(operator, k, tol, which, x0, max_hvps)
        else:
            values, vectors, meta = _power(operator, k, tol, which, x0, max_hvps)
    except (_BudgetExceeded, ArpackNoConvergence) as exc:
        raise CurvatureError(f"{method} did not converge to tol={tol} within {max_hvps} products") from exc
    solver_hvps = operator.calls - start_calls
    order = np.argsort(-np.asarray(values))
    values = np.asarray(values, dtype=np.float64)[order]
    vectors = np.asarray(vectors, dtype=np.float64)[:, order]
    vectors = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    if "residuals" in meta:  # from the Lanczos recurrence: no fresh products needed
        residuals = np.asarray(meta.pop("residuals"))[order]
        meta["error_bounds"] = [meta["error_bounds"][i] for i in order]
        residual_hvps = 0
    else:
        residuals = residual_norms(operator, values, vectors)
        residual_hvps = k
    return Spectrum(
        values=values,
        vectors=vectors,
        residuals=residuals,
        method=method,
        hvps=operator.calls - start_calls,
        seconds=time.perf_counter() - started,
        tol=tol,
        meta={"which": which, "solver_hvps": solver_hvps, "residual_hvps": residual_hvps, **meta},
    )


def top_eigen(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    k: int = 2,
    tol: float = 1e-6,
    which: str = "LA",
    method: str = "lanczos",
    params: str | Sequence[str] | None = None,
    v0: Any = None,
    max_hvps: int = 10_000,
    device: torch.device | str | None = None,
    seed: int = 0,
    dtype: torch.dtype | None = None,
    mode: str = "auto",
) -> Spectrum:
    """Top-``k`` eigenpairs of the Hessian of ``model``'s mean loss on ``data``.

    See :func:`top_eigen_of` for the arguments shared with it; ``params``, ``device``,
    ``dtype`` and ``mode`` go to :class:`HessianOperator` (``mode="double-backward"`` is the
    fastest for many products on one large batch).
    """
    operator = HessianOperator(model, loss_fn, data, params=params, device=device, dtype=dtype, mode=mode)
    return top_eigen_of(
        operator, k=k, tol=tol, which=which, method=method, v0=v0, max_hvps=max_hvps, seed=seed
    )
