"""optiscope: see and measure how optimization algorithms behave."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optiscope.errors import OptiscopeError

if TYPE_CHECKING:
    from optiscope.experiments.tune_study import TuneResult

__version__ = "0.1.0"

__all__ = ["OptiscopeError", "__version__", "tune"]


def tune(target: str, optimizers: list[str] | tuple[str, ...], **options: Any) -> TuneResult:
    """Tune ``optimizers`` on ``target`` with equal budgets and rank them with intervals.

    See :func:`optiscope.experiments.tune_study.tune` for the options (``out`` is required). The
    study is imported when called, so ``import optiscope`` stays light (no torch).
    """
    from optiscope.experiments.tune_study import tune as run_tune

    return run_tune(target, optimizers, **options)
