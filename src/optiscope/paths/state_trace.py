"""One optimizer, one start, every step's internals: gradient, update and optimizer state.

The path engine records where runs go; this module records *why*: for one run it keeps the
gradient the optimizer was given, the step it actually took and every small entry of
``optimizer.state[param]`` after each step (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``,
``square_avg``, ``sum``, ``velocity``, ``step`` ...), so a figure can draw them as vectors.

It is a plain, readable loop (no lanes): the reference the engine's paths agree with. The point
moves as one ``(1, 2)`` parameter, the shape the engine gives a run of its own, so rules that
depend on the parameter's shape (pytorch-optimizer's LARS applies its trust ratio only when
``ndim > 1``) take the same branch here as in the engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optiscope.optimizers import (
    OptimizerSpec,
    build_optimizer,
    check_compatible,
    full_matrix_adagrad_updates,
    get_entry,
    parse_spec,
)
from optiscope.surfaces import Surface

__all__ = [
    "StateTrace",
    "adagrad_demo_gradients",
    "adagrad_demo_updates",
    "per_coordinate_step_sizes",
    "trace_state",
]


@dataclass
class StateTrace:
    """The internals of one optimizer run on a 2-D surface, as numpy arrays.

    Step ``t`` (``0 <= t < steps``) starts at ``positions[t]``, is given ``gradients[t]``,
    leaves the optimizer state ``state[name][t]`` and moves by ``updates[t]`` to
    ``positions[t + 1]``.

    Attributes:
        surface: name of the surface.
        formula: the surface's formula (for titles).
        spec: the optimizer spec string (``"adam:lr=0.1"``).
        label: display label (``"adam(lr=0.1)"``).
        hparams: the optimizer's first parameter group before the first step (defaults filled
            in), numbers and tuples only: what a figure prints next to the path.
        positions: shape ``(steps + 1, 2)``; ``positions[0]`` is the start.
        losses: surface loss at each position, shape ``(steps + 1,)``.
        gradients: gradient given to the optimizer at each step, shape ``(steps, 2)``.
        updates: ``positions[t + 1] - positions[t]``, shape ``(steps, 2)``.
        lrs: the group's ``lr`` at each step (NaN when the optimizer has none), shape ``(steps,)``.
        state: per-parameter state vectors after each step, by name, each ``(steps, 2)``;
            NaN before an entry first appears.
        scalars: one-number state entries (``step``, ``trust_ratio`` ...), each ``(steps,)``.
            Entries of other sizes (full-matrix AdaGrad's ``2 x 2`` ``outer_sum``) are not kept.
    """

    surface: str
    formula: str
    spec: str
    label: str
    hparams: dict[str, Any]
    positions: np.ndarray
    losses: np.ndarray
    gradients: np.ndarray
    updates: np.ndarray
    lrs: np.ndarray
    state: dict[str, np.ndarray] = field(default_factory=dict)
    scalars: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Number of optimizer steps recorded."""
        return int(self.gradients.shape[0])


def _plain_hparams(group: dict[str, Any]) -> dict[str, Any]:
    """The numbers, booleans and tuples of numbers in a parameter group (no tensors, no params)."""
    kept: dict[str, Any] = {}
    for key, value in group.items():
        if isinstance(value, bool | int | float) or (
            isinstance(value, tuple) and all(isinstance(item, int | float) for item in value)
        ):
            kept[key] = value
    return kept


def _snapshot(entries: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Split one parameter's optimizer state into 2-element vectors and scalars (copies)."""
    vectors: dict[str, np.ndarray] = {}
    scalars: dict[str, float] = {}
    for key, value in entries.items():
        if torch.is_tensor(value):
            if value.numel() == 2:
                vectors[str(key)] = value.detach().reshape(2).cpu().double().numpy().copy()
            elif value.numel() == 1:
                scalars[str(key)] = float(value.detach().reshape(()).cpu())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            scalars[str(key)] = float(value)
    return vectors, scalars


def _stack(records: list[dict[str, Any]], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Stack per-step records into arrays of ``(steps, *shape)``; NaN where a key is missing."""
    names = list(dict.fromkeys(name for record in records for name in record))
    stacked = {name: np.full((len(records), *shape), np.nan) for name in names}
    for step, record in enumerate(records):
        for name, value in record.items():
            stacked[name][step] = value
    return stacked


def trace_state(
    surface: Surface,
    spec: OptimizerSpec | str,
    start: Sequence[float] | np.ndarray | None = None,
    steps: int = 50,
    *,
    dtype: torch.dtype = torch.float64,
) -> StateTrace:
    """Run one optimizer from one start and record gradient, update and state at every step.

    The gradient is that of ``surface`` itself (full batch: a stochastic surface's mini-batch
    loss is not used), so the trace is deterministic.

    Args:
        surface: the loss.
        spec: the optimizer config, a spec or a string like ``"adam:lr=0.1"``.
        start: the start point ``(2,)``; default the surface's own start.
        steps: optimizer steps to take (positive).
        dtype: parameter dtype (float64 by default, the reference precision).

    Returns:
        The :class:`StateTrace`.

    Raises:
        ValueError: ``steps`` is not positive or ``start`` is not two finite numbers.
        IncompatibleOptimizerError: an optimizer that cannot move a ``(1, 2)`` parameter.
    """
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    entry = get_entry(spec.name)
    check_compatible(entry, (1, 2))
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    origin = np.asarray(surface.start if start is None else start, dtype=np.float64)
    if origin.shape != (2,) or not np.isfinite(origin).all():
        raise ValueError(f"start must be two finite numbers, got {origin!r}")
    # (1, 2) as in the engine's one-start lanes, not (2,): see the module docstring.
    param = torch.nn.Parameter(torch.as_tensor(origin, dtype=dtype).reshape(1, 2))
    optimizer = build_optimizer(spec, [param])
    hparams = _plain_hparams(optimizer.param_groups[0])
    record = _run_loop(surface, optimizer, param, steps, entry.needs_closure, entry.needs_create_graph)
    return StateTrace(
        surface=surface.name,
        formula=surface.formula,
        spec=spec.to_string(),
        label=spec.label,
        hparams=hparams,
        updates=np.diff(record["positions"], axis=0),
        **record,
    )


def _run_loop(
    surface: Surface,
    optimizer: torch.optim.Optimizer,
    param: torch.nn.Parameter,
    steps: int,
    needs_closure: bool,
    create_graph: bool,
) -> dict[str, Any]:
    """The plain loop: gradient, step, snapshot of the state; arrays for :class:`StateTrace`."""

    def gradient() -> tuple[Tensor, Tensor]:
        loss = surface(param).sum()
        # autograd.grad, not backward: with create_graph a backward would make a reference cycle.
        (grad,) = torch.autograd.grad(loss, param, create_graph=create_graph)
        param.grad = grad
        return loss.detach(), grad.detach().reshape(2).clone()

    def closure() -> Tensor:
        return gradient()[0]

    positions, losses, grads, lrs = [param.detach().reshape(2).clone()], [], [], []
    vectors: list[dict[str, np.ndarray]] = []
    scalars: list[dict[str, float]] = []
    for _ in range(steps):
        loss, grad = gradient()
        losses.append(loss)
        grads.append(grad)
        lr = optimizer.param_groups[0].get("lr")
        lrs.append(float(lr) if isinstance(lr, int | float) else math.nan)
        if needs_closure:
            optimizer.step(closure)
        else:
            optimizer.step()
        positions.append(param.detach().reshape(2).clone())
        step_vectors, step_scalars = _snapshot(optimizer.state[param])
        vectors.append(step_vectors)
        scalars.append(step_scalars)
    with torch.no_grad():
        losses.append(surface(param).sum().detach())
    return {
        "positions": torch.stack(positions).cpu().double().numpy(),
        "losses": torch.stack(losses).cpu().double().numpy(),
        "gradients": torch.stack(grads).cpu().double().numpy(),
        "lrs": np.asarray(lrs, dtype=np.float64),
        "state": _stack(vectors, (2,)),
        "scalars": _stack(scalars, ()),
    }


def adagrad_demo_gradients(
    n_steps: int = 8, scales: Sequence[float] = (0.5, 2.0), seed: int = 32
) -> np.ndarray:
    """Seed 004's un-normalised demo "gradients": ``g_t = U(0, 1)^2 * scales``.

    Drawn as the seed draws them (``numpy.random.RandomState(seed).rand(2) * scales`` per step).

    Returns:
        ``(n_steps, 2)`` float64 gradients.
    """
    generator = np.random.RandomState(seed)
    scale = np.asarray(scales, dtype=np.float64)
    return np.stack([generator.rand(2) * scale for _ in range(n_steps)])


def adagrad_demo_updates(grads: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """AdaGrad's preconditioned directions ``v_t`` for a gradient sequence, full and diagonal.

    Full matrix (Duchi et al. 2011): ``v_t = (G_t^{1/2} + eps I)^{-1} g_t`` with
    ``G_t = sum_{tau <= t} g_tau g_tau^T``, by
    :func:`optiscope.optimizers.full_matrix_adagrad_updates`. Diagonal (torch, Keras):
    ``v_t = g_t / (sqrt(sum_{tau <= t} g_tau^2) + eps)``.

    Args:
        grads: ``(N, F)`` gradients in order.
        eps: added to the square root before dividing (seed 004 uses ``1e-5``).

    Returns:
        ``(full, diagonal)``, each ``(N, F)`` float64.

    Raises:
        ValueError: ``grads`` is not two-dimensional or ``eps`` is negative.
    """
    grads = np.asarray(grads, dtype=np.float64)
    full = full_matrix_adagrad_updates(torch.from_numpy(grads), eps=eps).numpy()
    diagonal = grads / (np.sqrt(np.cumsum(grads**2, axis=0)) + eps)
    return full, diagonal


# Optimizer name -> the state entry that scales its step per coordinate, for the optimizers
# whose update is exactly ``-step_size * direction`` with ``step_size = lr / (sqrt(v) + eps)``.
_ACCUMULATORS = {"rmsprop": "square_avg", "adagrad": "sum", "adam": "exp_avg_sq", "adamw": "exp_avg_sq"}


def per_coordinate_step_sizes(trace: StateTrace) -> tuple[str, np.ndarray] | None:
    """The per-coordinate step size ``lr / (sqrt(v_t) + eps)`` of RMSprop, AdaGrad and Adam.

    ``v_t`` is the accumulated squared gradient the optimizer divides by: RMSprop's
    ``square_avg``, AdaGrad's ``sum`` (with torch's ``lr_decay``: ``lr / (1 + (t-1) lr_decay)``),
    Adam's bias-corrected ``exp_avg_sq / (1 - beta2^t)``. The update is then ``-size * g_t``
    (RMSprop without momentum, AdaGrad) or ``-size * m_t / (1 - beta1^t)`` (Adam, AdamW).

    Args:
        trace: a trace from :func:`trace_state`.

    Returns:
        ``(state name, sizes (steps, 2))``, or ``None`` for any other optimizer (or RMSprop with
        momentum or centering, or AMSGrad, whose step is not of this form).
    """
    name = trace.spec.split(":")[0]
    key = _ACCUMULATORS.get(name)
    hparams = trace.hparams
    if key is None or key not in trace.state:
        return None
    if name == "rmsprop" and (hparams.get("momentum", 0) or hparams.get("centered", False)):
        return None
    if hparams.get("amsgrad", False):  # AMSGrad divides by the running maximum instead
        return None
    accumulated = trace.state[key]
    lrs = trace.lrs.copy()
    step = trace.scalars.get("step", np.arange(1, trace.steps + 1, dtype=np.float64))
    if key == "exp_avg_sq":
        accumulated = accumulated / (1.0 - hparams["betas"][1] ** step)[:, None]
    if key == "sum":
        lrs = lrs / (1.0 + (step - 1.0) * float(hparams.get("lr_decay", 0.0)))
    return key, lrs[:, None] / (np.sqrt(accumulated) + float(hparams.get("eps", 0.0)))
