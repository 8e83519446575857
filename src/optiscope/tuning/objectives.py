"""What a trial is scored by: the loss gap at the end, steps to a target, or the area under the curve.

Every score is computed from the path engine's record of a run (losses per step, where it
stopped, and why) and the surface's minimum value, as the *gap* ``loss - minimum`` (0 at the
minimum). A run stops early for a reason (see :mod:`optiscope.paths.outcomes`); its curve is then
carried on to the budget so every run is scored over the same number of steps:

* a run that converged or left the domain downhill keeps its last loss;
* a run that diverged (non-finite, or thrown out uphill) counts as stuck at its start gap from
  the step it diverged: a failure is never scored better than not moving.

Scores, lower is better:

* ``final``: the gap after the budget.
* ``target``: the first step at which the gap is at or below ``tolerance``; a run that never gets
  there scores ``steps + 1 + g / (g + g0)`` (``g`` its final gap, ``g0`` its start gap), so the
  search can still tell a near miss from a failure.
* ``auc``: the mean gap over the ``steps + 1`` recorded points, the area under the loss curve per
  step (Dolan-More-style time-to-target and AUC objectives, as in AlgoPerf).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from optiscope.paths import RUN_STATUSES

__all__ = ["OBJECTIVES", "Objective", "gap_curves", "reached_steps", "score"]

Objective = Literal["final", "target", "auc"]
OBJECTIVES: tuple[str, ...] = ("final", "target", "auc")
_DIVERGED = RUN_STATUSES.index("diverged")


def gap_curves(losses: np.ndarray, n_steps: np.ndarray, status: np.ndarray, minimum: float) -> np.ndarray:
    """Each run's gap to ``minimum`` at every step, carried to the budget as the module says.

    Args:
        losses: ``(runs, steps + 1)``, NaN after a run stopped (the engine's ``losses``).
        n_steps: ``(runs,)`` the step each run stopped at.
        status: ``(runs,)`` index into ``RUN_STATUSES``.
        minimum: the surface's minimum value (or the reference the study uses for it).

    Returns:
        ``(runs, steps + 1)`` float64 gaps, all finite.
    """
    gaps = np.asarray(losses, dtype=np.float64) - float(minimum)
    stop = np.asarray(n_steps)[:, None]
    start = gaps[:, 0]
    last = gaps[np.arange(gaps.shape[0]), stop[:, 0]]
    failed = (np.asarray(status) == _DIVERGED) | ~np.isfinite(last)
    carried = np.where(failed, start, last)
    # A failed run is replaced from the step it failed at; another only after its last step.
    fill_from = np.where(failed[:, None], stop, stop + 1)
    gaps = np.where(np.arange(gaps.shape[1])[None, :] >= fill_from, carried[:, None], gaps)
    return np.where(np.isfinite(gaps), gaps, start[:, None])


def reached_steps(gaps: np.ndarray, tolerance: float) -> np.ndarray:
    """First step at which each run's gap is at or below ``tolerance``; -1 where it never is."""
    hit = gaps <= tolerance
    return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)


def score(objective: Objective, gaps: np.ndarray, tolerance: float) -> np.ndarray:
    """Each run's score under ``objective`` (see the module), from :func:`gap_curves`."""
    if objective == "final":
        return gaps[:, -1].copy()
    if objective == "auc":
        return gaps.mean(axis=1)
    if objective == "target":
        steps = gaps.shape[1] - 1
        reached = reached_steps(gaps, tolerance)
        final, start = np.maximum(gaps[:, -1], 0.0), np.maximum(gaps[:, 0], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            miss = np.where(final + start > 0, final / (final + start), 0.0)
        return np.where(reached >= 0, reached, steps + 1 + miss).astype(np.float64)
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
