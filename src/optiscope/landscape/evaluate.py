"""Evaluate a model's loss (and accuracy) on a line or plane of weights: the one entry point.

:func:`evaluate` fills a :class:`LandscapeGrid`; :func:`evaluate_points` evaluates any list of
points (a resumable caller feeds it chunks of the row-major flattened grid). Engines:

* ``first_layer``: the input layer's product three times per batch, the rest batched
  (:mod:`optiscope.landscape.first_layer`), when torch.fx proves the structure;
* ``vmap``: any model, grid points stacked under ``torch.func.vmap``
  (:mod:`optiscope.landscape.batched`);
* ``loop``: one point at a time (:mod:`optiscope.landscape.reference`), the oracle.

``auto`` picks ``first_layer`` when it applies and no buffers move, else ``vmap``, and falls
back to ``loop`` when the model or loss cannot run under vmap; the grid's attrs say which ran
and why.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from optiscope.landscape.batched import DEFAULT_MEMORY_BUDGET_BYTES, Progress, evaluate_points_vmap
from optiscope.landscape.directions_base import Directions, LandscapeError
from optiscope.landscape.first_layer import evaluate_points_first_layer, first_layer_plan
from optiscope.landscape.grid import LandscapeGrid, check_axis
from optiscope.landscape.reference import (
    LossFn,
    check_coords,
    evaluate_points_loop,
    mode_flags,
    nonempty_batches,
    restore_mode,
)

__all__ = ["ENGINES", "evaluate", "evaluate_points"]

ENGINES = ("auto", "first_layer", "vmap", "loop")


class _CountedData:
    """Re-iterable batches that count the samples of the first full pass."""

    def __init__(self, data: Any) -> None:
        is_iterator = isinstance(data, Iterator)
        self.data = list(data) if is_iterator else data  # a one-shot iterator is read once, kept
        self.samples: int | None = None

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        count = 0
        for batch in nonempty_batches(self.data):
            count += batch[0].shape[0]
            yield batch
        if self.samples is None:
            self.samples = count


def _describe_data(data: Any) -> str:
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        return f"tensors X{tuple(x.shape)} {x.dtype}, y{tuple(y.shape)} {y.dtype}".replace("torch.", "")
    return f"batches from {type(data).__name__}"


def _working_model(model: nn.Module, device: Any, dtype: Any) -> nn.Module:
    """``model`` itself, or a copy on ``device``/in ``dtype`` when either differs."""
    reference = next(iter(model.parameters()), None)
    if reference is None:
        raise LandscapeError("the model has no parameters to move")
    target_device = torch.device(device) if device is not None else reference.device
    target_dtype = _as_dtype(dtype) if dtype is not None else reference.dtype
    if target_device == reference.device and target_dtype == reference.dtype:
        return model
    return copy.deepcopy(model).to(device=target_device, dtype=target_dtype)


def _as_dtype(dtype: Any) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise LandscapeError(
            f"dtype must be a floating torch dtype such as float32 or float64, got {dtype!r}"
        )
    return value


def _choose(model: nn.Module, directions: Directions, engine: str) -> tuple[str, str, Any]:
    """``(engine, reason, first-layer plan or None)`` for the requested engine name."""
    if engine not in ENGINES:
        raise LandscapeError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine in ("vmap", "loop"):
        return engine, "requested", None
    if directions.buffers and engine == "auto":
        return "vmap", "the directions move buffers, which only vmap and loop apply", None
    plan, why = first_layer_plan(model)
    if engine == "first_layer":
        if plan is None:
            raise LandscapeError(f"the first_layer engine does not apply: {why}")
        return "first_layer", f"requested; {why}", plan
    if plan is None:
        return "vmap", f"first_layer does not apply: {why}", None
    return "first_layer", why, plan


def evaluate_points(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    directions: Directions,
    coords: Any,
    *,
    engine: str = "auto",
    device: Any = None,
    dtype: Any = None,
    memory_budget_bytes: int | None = None,
    progress: Progress | None = None,
    info: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at each point ``coords (P, dims)`` of the directions' line or plane.

    Args:
        model: the network at ``theta``; left with its weights and train/eval flags unchanged.
        loss_fn: ``loss_fn(logits, y)`` -> batch-mean loss, e.g. ``nn.CrossEntropyLoss()``.
        data: an ``(X, y)`` tensor pair or an iterable of ``(X, y)`` batches.
        directions: one or two directions matching ``model``.
        coords: ``(P, dims)`` coefficients; for a grid, row-major over ``(alpha, beta)``.
        engine: ``auto``, ``first_layer``, ``vmap`` or ``loop``.
        device: where to evaluate (a copy of the model moves there; data moves batch by batch).
        dtype: floating dtype to evaluate in (a copy of the model is cast).
        memory_budget_bytes: working-memory budget of the batched engines (512 MiB default).
        progress: called with the number of samples done after each slice of data.
        info: when given, filled with ``engine``, ``engine_reason``, ``samples``, ``dtype``,
            ``device`` and ``seconds``.

    Returns:
        ``loss (P,)`` and ``accuracy (P,)`` float64 (accuracy NaN unless labels are integers).

    Raises:
        LandscapeError: directions that do not fit, bad coords, an unknown or inapplicable engine.
    """
    directions.check_model(model)
    points = check_coords(coords, directions.dims)
    work = _working_model(model, device, dtype)
    counted = _CountedData(data)
    budget = DEFAULT_MEMORY_BUDGET_BYTES if memory_budget_bytes is None else int(memory_budget_bytes)
    if budget <= 0:
        raise LandscapeError(f"memory_budget_bytes must be positive, got {memory_budget_bytes}")
    chosen, reason, plan = _choose(work, directions, engine)
    flags, started = mode_flags(work), time.perf_counter()
    try:
        work.eval()
        loss, accuracy, chosen, reason = _run(work, loss_fn, counted, directions, points, chosen, reason,
                                              plan, budget, progress, fallback=engine == "auto")  # fmt: skip
    finally:
        restore_mode(work, flags)
    if info is not None:
        reference = next(iter(work.parameters()))
        info.update(engine=chosen, engine_reason=reason, samples=counted.samples,
                    dtype=str(reference.dtype).replace("torch.", ""), device=str(reference.device),
                    seconds=time.perf_counter() - started)  # fmt: skip
    return loss, accuracy


def _run(
    model: nn.Module,
    loss_fn: LossFn,
    data: _CountedData,
    directions: Directions,
    points: np.ndarray,
    engine: str,
    reason: str,
    plan: Any,
    budget: int,
    progress: Progress | None,
    *,
    fallback: bool,
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Run one engine; with ``fallback``, a batched engine that vmap cannot run becomes the loop."""
    if engine == "loop":
        return (*evaluate_points_loop(model, loss_fn, data, directions, points), engine, reason)
    try:
        if engine == "first_layer":
            result = evaluate_points_first_layer(
                model,
                loss_fn,
                data,
                directions,
                points,
                memory_budget_bytes=budget,
                progress=progress,
                plan=plan,
            )
        else:
            result = evaluate_points_vmap(model, loss_fn, data, directions, points,
                                          memory_budget_bytes=budget, progress=progress)  # fmt: skip
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
        if not fallback or isinstance(exc, LandscapeError):
            raise
        data.samples = None
        why = f"{engine} failed under vmap ({type(exc).__name__}: {str(exc)[:120]}); ran the loop instead"
        return (*evaluate_points_loop(model, loss_fn, data, directions, points), "loop", why)
    return (*result, engine, reason)


def evaluate(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    directions: Directions,
    alphas: Any,
    betas: Any = None,
    *,
    engine: str = "auto",
    device: Any = None,
    dtype: Any = None,
    memory_budget_bytes: int | None = None,
    progress: Progress | None = None,
) -> LandscapeGrid:
    """The loss (and accuracy) of ``model`` on the grid ``alphas x betas`` (or the line ``alphas``).

    ``loss[i, j] = mean over data of loss_fn(model(X; theta + alphas[i] d1 + betas[j] d2), y)``.
    Arguments as in :func:`evaluate_points`; ``betas`` is required for two directions and must
    be None for one.

    Returns:
        A :class:`LandscapeGrid` whose attrs record the engine used and why, the directions'
        kind and meta, the data, sample count, dtype, device and seconds.
    """
    alpha_axis = check_axis(alphas, "alphas")
    if (betas is None) != (directions.dims == 1):
        raise LandscapeError(
            f"{directions.dims} direction(s) need {'no ' if directions.dims == 1 else ''}betas"
        )
    if betas is None:
        coords = alpha_axis[:, None]
        beta_axis = None
    else:
        beta_axis = check_axis(betas, "betas")
        a, b = np.meshgrid(alpha_axis, beta_axis, indexing="ij")
        coords = np.stack([a.ravel(), b.ravel()], axis=1)
    info: dict[str, Any] = {}
    loss, accuracy = evaluate_points(model, loss_fn, data, directions, coords, engine=engine, device=device,
                                     dtype=dtype, memory_budget_bytes=memory_budget_bytes,
                                     progress=progress, info=info)  # fmt: skip
    shape = alpha_axis.shape if beta_axis is None else (alpha_axis.size, beta_axis.size)
    attrs = {**info, "directions_kind": directions.kind, "directions_meta": dict(directions.meta),
             "data": _describe_data(data), "loss_fn": _name_of(loss_fn), "points": len(coords)}  # fmt: skip
    return LandscapeGrid(alpha_axis, beta_axis, loss.reshape(shape), accuracy.reshape(shape), attrs)


def _name_of(loss_fn: LossFn) -> str:
    return getattr(loss_fn, "__name__", type(loss_fn).__name__)
