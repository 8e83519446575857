"""One registry entry: a named optimizer factory and what the engine must know to run it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from optiscope.errors import IncompatibleOptimizerError

__all__ = ["SOURCES", "OptimizerEntry", "check_compatible", "json_ready"]

SOURCES = ("torch", "pytorch_optimizer", "optiscope", "user")


@dataclass(frozen=True, eq=False)
class OptimizerEntry:
    """A registered optimizer: ``factory(params, **hparams) -> torch.optim.Optimizer``.

    Attributes:
        name: canonical name, lower case (a user import path keeps its own spelling).
        aliases: other names that resolve to this entry.
        source: ``"torch"``, ``"pytorch_optimizer"``, ``"optiscope"`` or ``"user"``.
        factory: builds the optimizer; called as ``factory(params, **hparams)``.
        defaults: the effective defaults (the factory's signature defaults with any preset or
            optiscope-chosen value applied, e.g. ``momentum=0.9`` for ``classical_momentum``).
        elementwise: each scalar coordinate's update depends only on its own gradient and state
            history, so many start points stacked in one tensor evolve exactly as separately.
        needs_create_graph: ``backward`` must be called with ``create_graph=True``.
        needs_closure: ``step`` must be given a closure that re-evaluates the loss.
        needs_matrix: the update is only defined for matrix-shaped parameters.
        conformance_exception: why the entry does not pass the conformance battery at its
            defaults (``None`` when it does).
        notes: formula differences, presets and defaults chosen by optiscope.
        tags: coarse families (``"adaptive"``, ``"momentum"``, ``"sign"``, ...).
    """

    name: str
    aliases: tuple[str, ...]
    source: str
    factory: Callable[..., torch.optim.Optimizer]
    defaults: dict[str, Any] = field(default_factory=dict)
    elementwise: bool = False
    needs_create_graph: bool = False
    needs_closure: bool = False
    needs_matrix: bool = False
    conformance_exception: str | None = None
    notes: str = ""
    tags: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """Everything ``optiscope optimizers list --json`` shows, as JSON-ready values."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "source": self.source,
            "defaults": {key: json_ready(value) for key, value in self.defaults.items()},
            "elementwise": self.elementwise,
            "needs_create_graph": self.needs_create_graph,
            "needs_closure": self.needs_closure,
            "needs_matrix": self.needs_matrix,
            "conformance_exception": self.conformance_exception,
            "notes": self.notes,
            "tags": list(self.tags),
        }


def json_ready(value: Any) -> Any:
    """Turn a default value into JSON: tuples to lists, non-finite floats and objects to text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (tuple, list)):
        return [json_ready(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return json_ready(value.item())
    return repr(value)


def check_compatible(entry: OptimizerEntry, param_shape: tuple[int, ...]) -> None:
    """Refuse to run ``entry`` on parameters of ``param_shape`` when it cannot work there.

    Matrix-only optimizers (Muon, Shampoo-style) orthogonalise or precondition a weight
    matrix; on the points of a 2-D surface (a vector of two numbers, or a stack of such
    points) their update is meaningless or undefined.

    Raises:
        IncompatibleOptimizerError: ``entry.needs_matrix`` and the shape is not a genuine
            matrix (fewer than 2 dimensions, or a dimension of size 1 such as one point
            ``(1, 2)``). Non-elementwise entries run one start point at a time, so a surface
            path always reaches this check with shape ``(2,)`` or ``(1, 2)``.
    """
    if not entry.needs_matrix:
        return
    shape = tuple(int(size) for size in param_shape)
    if len(shape) < 2 or min(shape) <= 1:
        raise IncompatibleOptimizerError(
            f"optimizer {entry.name!r} needs matrix-shaped parameters and cannot run on "
            f"parameters of shape {shape} (e.g. points of a 2-D surface)"
        )
