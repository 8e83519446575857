"""Are two trained solutions connected? Loss along the line and along a trained Bezier curve.

Garipov, Izmailov, Podoprikhin, Vetrov and Wilson, "Loss surfaces, mode connectivity, and fast
ensembling of DNNs" (NeurIPS 2018): between two minima ``a`` and ``b`` the straight line
``(1 - t) a + t b`` usually crosses a barrier, while a quadratic Bezier curve
``(1 - t)^2 a + 2 t (1 - t) c + t^2 b`` with a trained control point ``c`` often does not. ``c``
is trained on ``E_{t ~ U(0, 1)} L(theta(t))``: each step draws one ``t`` and one minibatch
(seeded by the step number, so a chunk of steps is a pure function of its inputs and training
resumes exactly). A net with BatchNorm layers has its running statistics recomputed on the
training data at each point of the curve before it is evaluated (Garipov et al., sec. 4), since
statistics of neither end fit the weights in between.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from optiscope.landscape.directions_base import LandscapeError
from optiscope.optimizers import build_optimizer

__all__ = [
    "CURVES",
    "BezierState",
    "CurveProfile",
    "barrier_height",
    "bezier_point",
    "evaluate_curve",
    "has_batch_norm",
    "line_point",
    "recompute_batch_norm",
    "train_bezier",
]

CURVES = ("linear", "bezier")
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_CHUNK = 4096  # samples per forward pass when evaluating
_STEP_SEED = 1_000_003  # spreads the per-step seeds of the Bezier training draws


def line_point(theta_a: torch.Tensor, theta_b: torch.Tensor, t: float) -> torch.Tensor:
    """``(1 - t) a + t b``: the straight line from ``a`` (t = 0) to ``b`` (t = 1).

    ``torch.lerp`` returns ``a`` and ``b`` exactly at the ends, and ``a`` everywhere when ``a = b``.
    """
    return torch.lerp(theta_a, theta_b, t)


def bezier_point(
    theta_a: torch.Tensor, theta_b: torch.Tensor, control: torch.Tensor, t: float
) -> torch.Tensor:
    """``(1 - t)^2 a + 2 t (1 - t) c + t^2 b``: the quadratic Bezier curve through ``a`` and ``b``."""
    return (1.0 - t) ** 2 * theta_a + 2.0 * t * (1.0 - t) * control + t**2 * theta_b


def barrier_height(losses: np.ndarray) -> float:
    """The maximum loss along a curve minus the mean of its two end values (0 for a flat line)."""
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2:
        raise LandscapeError(f"a barrier needs the losses along a curve, >= 2 points; got {values.shape}")
    return float(values.max() - 0.5 * (values[0] + values[-1]))


def has_batch_norm(model: nn.Module) -> bool:
    """Whether ``model`` holds BatchNorm layers that keep running statistics."""
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats for m in model.modules()
    )


def recompute_batch_norm(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> None:
    """Re-estimate every BatchNorm's running statistics on all of ``x`` at the current weights.

    One pass in train mode (each layer normalises with its batch's statistics, as in training)
    while hooks sum each BatchNorm's inputs per channel in float64; the running mean and the
    unbiased running variance are then set to those of all ``x`` pooled, not an average of batch
    statistics, so the result does not depend on ``batch_size`` for the first BatchNorm layer.
    The model is left in eval mode.
    """
    layers = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    sums: dict[nn.Module, list] = {layer: [0.0, 0.0, 0] for layer in layers}

    def record(layer: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        values = inputs[0].detach().to(torch.float64).transpose(0, 1).reshape(inputs[0].shape[1], -1)
        total = sums[layer]
        total[0] = total[0] + values.sum(dim=1)
        total[1] = total[1] + (values * values).sum(dim=1)
        total[2] += values.shape[1]

    hooks = [layer.register_forward_pre_hook(record) for layer in layers]
    model.train()
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                model(x[start : start + batch_size])
    finally:
        for hook in hooks:
            hook.remove()
    with torch.no_grad():
        for layer, (total, square, count) in sums.items():
            if count < 2:
                continue
            mean = total / count
            layer.running_mean.copy_(mean)
            layer.running_var.copy_((square - count * mean * mean) / (count - 1))
    model.eval()


@dataclass(frozen=True)
class CurveProfile:
    """Loss and accuracy at points ``t`` of a curve from ``a`` (t = 0) to ``b`` (t = 1).

    Attributes:
        t: ``(points,)`` curve parameters in [0, 1].
        loss: ``(points,)`` mean loss at each point.
        accuracy: ``(points,)`` share of correct argmax predictions (NaN for non-class targets).
    """

    t: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray

    @property
    def barrier(self) -> float:
        """:func:`barrier_height` of the loss."""
        return barrier_height(self.loss)


def _set_flat(model: nn.Module, flat: torch.Tensor) -> None:
    torch.nn.utils.vector_to_parameters(flat.to(next(model.parameters()).dtype), model.parameters())


def _loss_and_accuracy(
    model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor
) -> tuple[float, float]:
    total, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), _CHUNK):
            logits = model(x[start : start + _CHUNK])
            target = y[start : start + _CHUNK]
            total += float(loss_fn(logits, target)) * len(target)
            if not target.is_floating_point():
                correct += int((logits.argmax(1) == target).sum())
    accuracy = correct / len(x) if not y.is_floating_point() else float("nan")
    return total / len(x), accuracy


def evaluate_curve(
    model: nn.Module,
    loss_fn: LossFn,
    data: tuple[torch.Tensor, torch.Tensor],
    point: Callable[[float], torch.Tensor],
    ts: np.ndarray,
    batch_norm_data: torch.Tensor | None = None,
) -> CurveProfile:
    """Loss and accuracy of ``model`` with its weights set to ``point(t)`` for each ``t``.

    Args:
        model: the architecture; a copy is evaluated, ``model`` is left untouched.
        loss_fn: ``loss_fn(logits, y)`` returning the batch mean.
        data: ``(x, y)`` the loss is measured on.
        point: ``t -> theta(t)``, a flat vector in ``model.parameters()`` order.
        ts: the curve parameters.
        batch_norm_data: training inputs on which BatchNorm statistics are recomputed at each
            point (ignored for a model without BatchNorm).

    Returns:
        The :class:`CurveProfile`.
    """
    work = copy.deepcopy(model)
    x, y = data
    recompute = batch_norm_data is not None and has_batch_norm(work)
    losses, accuracies = [], []
    for t in np.asarray(ts, dtype=np.float64):
        _set_flat(work, point(float(t)))
        if recompute:
            recompute_batch_norm(work, batch_norm_data)
        work.eval()
        loss, accuracy = _loss_and_accuracy(work, loss_fn, x, y)
        losses.append(loss)
        accuracies.append(accuracy)
    return CurveProfile(np.asarray(ts, dtype=np.float64), np.array(losses), np.array(accuracies))


@dataclass
class BezierState:
    """The Bezier control point and its optimizer after ``step`` training steps (a resume point).

    Attributes:
        control: ``(n_params,)`` the control point ``c``.
        optimizer_state: ``torch.save`` bytes of the optimizer's ``state_dict`` (empty at step 0).
        step: training steps taken so far.
        losses: the training loss of each step taken in the last call.
    """

    control: torch.Tensor
    optimizer_state: bytes
    step: int
    losses: np.ndarray

    @classmethod
    def start(cls, theta_a: torch.Tensor, theta_b: torch.Tensor) -> BezierState:
        """Step 0: ``c`` at the midpoint, so the untrained curve is the straight line."""
        return cls(0.5 * (theta_a + theta_b), b"", 0, np.zeros(0))


def train_bezier(
    model: nn.Module,
    loss_fn: LossFn,
    data: tuple[torch.Tensor, torch.Tensor],
    theta_a: torch.Tensor,
    theta_b: torch.Tensor,
    state: BezierState,
    steps: int,
    *,
    optimizer: str = "adam:lr=0.001",
    batch_size: int = 128,
    seed: int = 0,
) -> BezierState:
    """Take ``steps`` training steps of the control point from ``state`` (Garipov et al., 2018).

    Step ``s`` draws ``t ~ U(0, 1)`` and a minibatch (with replacement) from a generator seeded by
    ``(seed, s)``, and moves ``c`` along the gradient of ``L(theta(t))``; the ends stay fixed. So
    ``train_bezier(..., train_bezier(..., state, m), n)`` equals ``train_bezier(..., state, m + n)``.

    Args:
        model: the architecture (its parameters are not changed; buffers, as BatchNorm's running
            statistics, are read but not updated).
        loss_fn: ``loss_fn(logits, y)`` returning the batch mean.
        data: training ``(x, y)``.
        theta_a: flat weights of one end ``(n_params,)``.
        theta_b: flat weights of the other end.
        state: where to continue from (:meth:`BezierState.start` for a fresh curve).
        steps: steps to take now.
        optimizer: a registry optimizer spec for ``c``.
        batch_size: samples per step.
        seed: seed of the draws.

    Returns:
        The new :class:`BezierState`.
    """
    x, y = data
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    control = state.control.detach().clone().requires_grad_(True)
    opt = build_optimizer(optimizer, [control])
    if state.optimizer_state:
        opt.load_state_dict(torch.load(io.BytesIO(state.optimizer_state), weights_only=True))
    losses = []
    was_training = model.training
    model.train()
    try:
        for step in range(state.step, state.step + steps):
            generator = torch.Generator().manual_seed(seed * _STEP_SEED + step)
            t = float(torch.rand((), generator=generator, dtype=torch.float64))
            index = torch.randint(len(x), (min(batch_size, len(x)),), generator=generator).to(x.device)
            flat = bezier_point(theta_a, theta_b, control, t)
            pieces = zip(names, torch.split(flat, sizes), shapes, strict=True)
            params = {name: piece.view(shape) for name, piece, shape in pieces}
            loss = loss_fn(functional_call(model, {**buffers, **params}, (x[index],)), y[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    finally:
        model.train(was_training)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    return BezierState(control.detach(), buffer.getvalue(), state.step + steps, np.array(losses))
