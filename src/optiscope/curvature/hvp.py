"""Hessian-vector products of a model's loss, as a matrix-free linear operator.

The loss is the sample-weighted mean of ``loss_fn(model(X_b), y_b)`` over the batches
``(X_b, y_b)``, i.e. the mean over all samples when ``loss_fn`` returns a batch mean. By default
products are computed forward-over-reverse (``jvp`` of ``grad``; Pearlmutter 1994, "Fast exact
multiplication by the Hessian") through ``torch.func.functional_call`` on detached parameters,
so no autograd graph outlives a call. Two opt-in modes trade memory for speed when one batch
gets many products: a ``torch.func.linearize`` trace, or a retained double-backward graph.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import nn
from torch.func import functional_call, grad, jvp, linearize, vmap

from optiscope.curvature.errors import CurvatureError

__all__ = ["HVP_MODES", "Batch", "Data", "HessianOperator", "scipy_view", "select_parameters"]

HVP_MODES = ("jvp", "linearize", "double-backward")
# "auto" keeps one gradient graph (double-backward, measured ~3x cheaper per product than jvp on
# seed 000's MLP) while the data is small enough that the kept graphs stay small.
AUTO_GRAPH_SAMPLES = 20_000

Batch = tuple[torch.Tensor, torch.Tensor]
Data = Batch | Iterable[Batch]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Product = Callable[[torch.Tensor, bool], torch.Tensor]


def scipy_view(operator: Any) -> LinearOperator:
    """A float64 ``scipy.sparse.linalg.LinearOperator`` of any symmetric operator with ``n``,
    ``device``, ``dtype``, ``matvec`` and ``matmat`` on torch tensors (numpy in, numpy out)."""

    def to_torch(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)).to(
            operator.device, operator.dtype
        )

    def matvec(array: np.ndarray) -> np.ndarray:
        return operator.matvec(to_torch(array).reshape(-1)).to("cpu", torch.float64).numpy()

    def matmat(array: np.ndarray) -> np.ndarray:
        return operator.matmat(to_torch(array)).to("cpu", torch.float64).numpy()

    shape = (operator.n, operator.n)
    return LinearOperator(shape, matvec=matvec, rmatvec=matvec, matmat=matmat, dtype=np.float64)


def select_parameters(model: nn.Module, params: str | Sequence[str] | None) -> list[str]:
    """Names of the chosen parameters, in ``model.named_parameters()`` order.

    Args:
        model: the network.
        params: ``None`` for all parameters; a layer prefix such as ``"0"`` or ``"features.3"``;
            or a list of exact parameter names and/or prefixes.

    Returns:
        The selected names (at least one).

    Raises:
        CurvatureError: a name or prefix matches no parameter.
    """
    names = [name for name, _ in model.named_parameters()]
    if params is None:
        return names
    wanted = [params] if isinstance(params, str) else list(params)
    if not wanted:
        raise CurvatureError("params is an empty list; pass None for all parameters")

    def matches(name: str, key: str) -> bool:
        return name == key or name.startswith(key + ".")

    unknown = [key for key in wanted if not any(matches(name, key) for name in names)]
    if unknown:
        raise CurvatureError(f"params {unknown} match no parameter of the model; known: {names}")
    return [name for name in names if any(matches(name, key) for key in wanted)]


def _as_batches(data: Data, device: torch.device, dtype: torch.dtype) -> list[Batch]:
    """The data as a list of ``(X, y)`` on ``device``, floating inputs cast to ``dtype``."""
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        raw: list[Any] = [data]
    else:
        try:
            raw = list(data)  # type: ignore[arg-type]
        except TypeError as exc:
            raise CurvatureError(f"data must be (X, y) or an iterable of (X, y), got {type(data)}") from exc
    out: list[Batch] = []
    for item in raw:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise CurvatureError(f"each batch must be a pair (X, y), got {type(item).__name__}")
        x, y = (torch.as_tensor(t) for t in item)
        if len(x) != len(y) or len(x) == 0:
            raise CurvatureError(f"a batch has {len(x)} inputs and {len(y)} targets; need equal, >= 1")
        x = x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)
        y = y.to(device=device, dtype=dtype) if y.is_floating_point() else y.to(device)
        out.append((x, y))
    if not out:
        raise CurvatureError("data holds no batches")
    return out


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode (no dropout, frozen batch-norm statistics), then restore it."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class HessianOperator:
    """The Hessian of the mean loss with respect to a flat vector of chosen parameters.

    The flat ordering is ``model.named_parameters()`` restricted to the chosen parameters, each
    flattened row-major. Unchosen parameters and buffers are held fixed.

    Attributes:
        n: number of chosen scalar parameters (the operator is ``(n, n)``).
        dtype: dtype of products (and of the parameters and float inputs used).
        device: device of products.
        names: the chosen parameter names.
        calls: number of Hessian-vector products computed so far (a ``matmat`` of ``m`` columns
            counts ``m``).
        vectorized: whether ``matmat`` uses ``torch.func.vmap`` (decided on first use; it falls
            back to a column loop for models vmap cannot batch).
        mode: how products are computed, one of :data:`HVP_MODES`.
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
        """Store the model, loss and data; see the class docstring.

        Args:
            model: the network; it is put in eval mode during each product, then restored.
            loss_fn: ``loss_fn(logits, y)`` returning the batch mean.
            data: ``(X, y)`` or an iterable of ``(X, y)`` batches.
            params: ``None`` (all), a layer prefix, or a list of names/prefixes.
            device: device of products (default: the first parameter's).
            dtype: dtype of products (default: the first parameter's).
            mode: ``"auto"`` (default): ``"double-backward"`` for up to
                :data:`AUTO_GRAPH_SAMPLES` samples, else ``"jvp"``. ``"jvp"``: forward-over-reverse,
                ``jvp`` of ``grad`` recomputed at every product, nothing kept between calls.
                ``"linearize"``: the same product
                traced once per batch with ``torch.func.linearize`` and replayed, skipping the
                primal passes (about a second of tracing per batch, memory for the saved
                activations). ``"double-backward"``: reverse-over-reverse on a gradient graph
                built once per batch with ``create_graph`` and kept by the operator (as PyHessian
                does); cheapest per product for many products on one batch, and the graph is
                freed with the operator.
        """
        first = next(model.parameters(), None)
        if first is None:
            raise CurvatureError("the model has no parameters")
        self.device = torch.device(device) if device is not None else first.device
        self.dtype = dtype if dtype is not None else first.dtype
        if not self.dtype.is_floating_point:
            raise CurvatureError(f"dtype must be a floating dtype, got {self.dtype}")
        self.model = model
        self.loss_fn = loss_fn
        self.names = select_parameters(model, params)
        chosen = set(self.names)
        named = dict(model.named_parameters())
        self._shapes = [named[name].shape for name in self.names]
        self._sizes = [named[name].numel() for name in self.names]
        self.n = int(sum(self._sizes))
        self._theta = torch.cat(
            [named[name].detach().reshape(-1).to(self.device, self.dtype) for name in self.names]
        )
        self._fixed: dict[str, torch.Tensor] = {
            name: self._cast(p) for name, p in model.named_parameters() if name not in chosen
        }
        self._fixed.update({name: self._cast(b) for name, b in model.named_buffers()})
        self._batches = _as_batches(data, self.device, self.dtype)
        total = sum(len(y) for _, y in self._batches)
        self._weights = [len(y) / total for _, y in self._batches]
        self.num_samples = total
        self.calls = 0
        self.vectorized: bool | None = None
        if mode == "auto":
            mode = "double-backward" if total <= AUTO_GRAPH_SAMPLES else "jvp"
        if mode not in HVP_MODES:
            raise CurvatureError(f"unknown HVP mode {mode!r}; choose auto or one of {HVP_MODES}")
        self.mode = mode
        self._cached: list[Product] = []

    def _cast(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.detach().to(self.device)
        return tensor.to(self.dtype) if tensor.is_floating_point() else tensor

    def _unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = torch.split(flat, self._sizes)
        return {name: p.view(shape) for name, p, shape in zip(self.names, pieces, self._shapes, strict=True)}

    def _batch_loss(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = functional_call(self.model, {**self._fixed, **self._unflatten(flat)}, (x,))
        return self.loss_fn(logits, y)

    def _check_vector(self, v: torch.Tensor, ndim: int) -> torch.Tensor:
        v = torch.as_tensor(v)
        if v.ndim != ndim or v.shape[0] != self.n:
            want = f"({self.n},)" if ndim == 1 else f"({self.n}, m)"
            raise CurvatureError(f"expected a tensor of shape {want}, got {tuple(v.shape)}")
        return v.detach().to(self.device, self.dtype)

    def _jvp_product(self, x: torch.Tensor, y: torch.Tensor) -> Product:
        grad_fn = grad(lambda flat: self._batch_loss(flat, x, y))
        if self.mode == "linearize":
            single = linearize(grad_fn, self._theta)[1]
        else:

            def single(v: torch.Tensor) -> torch.Tensor:
                return jvp(grad_fn, (self._theta,), (v,))[1]

        return lambda vs, batched: vmap(single)(vs) if batched else single(vs)

    def _double_backward_product(self, x: torch.Tensor, y: torch.Tensor) -> Product:
        with torch.enable_grad():
            leaf = self._theta.clone().requires_grad_(True)
            (gradient,) = torch.autograd.grad(self._batch_loss(leaf, x, y), leaf, create_graph=True)

        def product(vs: torch.Tensor, batched: bool) -> torch.Tensor:
            with torch.enable_grad():
                (out,) = torch.autograd.grad(
                    gradient, leaf, grad_outputs=vs, retain_graph=True, is_grads_batched=batched
                )
            return out.detach()

        return product

    def _batch_products(self) -> list[Product]:
        """One function ``(vs, batched) -> H_b vs`` per batch, cached unless the mode is ``jvp``."""
        if self._cached:
            return self._cached
        build = self._double_backward_product if self.mode == "double-backward" else self._jvp_product
        products = [build(x, y) for x, y in self._batches]
        if self.mode != "jvp":
            self._cached = products
        return products

    def _hvp_columns(self, vs: torch.Tensor, batched: bool) -> torch.Tensor:
        """``H @ vs`` for ``vs`` of shape ``(n,)``, or ``(m, n)`` rows when ``batched``."""
        out = torch.zeros_like(vs)
        for product, weight in zip(self._batch_products(), self._weights, strict=True):
            out += weight * product(vs, batched)
        return out

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Hessian-vector product ``H v`` of a flat vector ``v`` of shape ``(n,)``."""
        v = self._check_vector(v, 1)
        with _eval_mode(self.model), torch.no_grad():
            out = self._hvp_columns(v, batched=False)
        self.calls += 1
        return out

    def matmat(self, vs: torch.Tensor) -> torch.Tensor:
        """``H V`` for ``V`` of shape ``(n, m)``; one vmapped pass, or a column loop as fallback."""
        vs = self._check_vector(vs, 2)
        with _eval_mode(self.model), torch.no_grad():
            out = None
            if self.vectorized is not False:
                try:
                    out = self._hvp_columns(vs.T.contiguous(), batched=True).T
                    self.vectorized = True
                except RuntimeError:
                    self.vectorized = False
            if out is None:
                out = torch.stack([self._hvp_columns(v, batched=False) for v in vs.T], dim=1)
        self.calls += vs.shape[1]
        return out

    def gradient(self) -> torch.Tensor:
        """Flat gradient ``(n,)`` of the mean loss at the current parameters."""
        with _eval_mode(self.model), torch.no_grad():
            out = torch.zeros_like(self._theta)
            for (x, y), weight in zip(self._batches, self._weights, strict=True):
                out += weight * grad(lambda flat, x=x, y=y: self._batch_loss(flat, x, y))(self._theta)
        return out

    def loss(self) -> float:
        """The mean loss at the current parameters."""
        total = 0.0
        with _eval_mode(self.model), torch.no_grad():
            for (x, y), weight in zip(self._batches, self._weights, strict=True):
                total += weight * float(self._batch_loss(self._theta, x, y))
        return total

    def to_scipy(self) -> LinearOperator:
        """A float64 ``scipy.sparse.linalg.LinearOperator`` view (numpy in, numpy out)."""
        return scipy_view(self)

    def __repr__(self) -> str:
        return (
            f"HessianOperator(n={self.n}, params={len(self.names)} tensors, samples={self.num_samples}, "
            f"batches={len(self._batches)}, dtype={self.dtype}, device={self.device}, calls={self.calls})"
        )
