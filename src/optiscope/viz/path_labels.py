"""What a path figure says about each config: its outcome from the runs table, never a made-up loss.

A run that left the domain or diverged has no meaningful final loss; its label says where it went
and at which step (``PathSet.status`` and ``outcome_steps``, decided by
:mod:`optiscope.paths.outcomes`).
"""

from __future__ import annotations

import numpy as np

from optiscope.paths import PathSet

__all__ = ["drawn_runs", "drawn_starts", "format_loss", "legend_label", "outcome_step", "outcome_text"]

_MAX_DRAWN_PER_CONFIG = 60


def format_loss(value: float) -> str:
    """A loss for a legend: 3 significant digits, scientific notation when tiny or huge."""
    if not np.isfinite(value):
        return str(value)
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.2e}"


def drawn_starts(n_starts: int, most: int = _MAX_DRAWN_PER_CONFIG) -> np.ndarray:
    """Indices of the starts drawn per config: all of them, or ``most`` spread evenly over them
    (a start grid is then sampled across the whole domain, not just its first rows)."""
    return np.unique(np.linspace(0, n_starts - 1, min(n_starts, most)).round().astype(int))


def drawn_runs(paths: PathSet) -> np.ndarray:
    """Indices of the runs the figures draw: :func:`drawn_starts` of every config."""
    starts = drawn_starts(paths.n_starts)
    return (np.arange(len(paths.specs))[:, None] * paths.n_starts + starts[None, :]).reshape(-1)


def outcome_step(paths: PathSet, run: int) -> int:
    """The step the run's outcome names (its last step when the table predates outcome steps)."""
    if paths.outcome_steps is not None:
        return int(paths.outcome_steps[run])
    return int(paths.n_steps[run])


def _run_text(paths: PathSet, run: int) -> str:
    status = paths.status[run]
    step = outcome_step(paths, run)
    if status == "diverged":
        return f"diverged at step {step}"
    if status == "left_domain":
        return f"left the domain at step {step}"
    final = format_loss(float(paths.final_losses[run]))
    if status == "converged":
        return f"converged at step {step}, loss {final}"
    return f"final loss {final} after {int(paths.n_steps[run])} steps"


def outcome_text(paths: PathSet, config: int) -> str:
    """How the runs of ``config`` ended, in words.

    One start: ``"diverged at step 7"``, ``"left the domain at step 12"``, ``"converged at step
    40, loss 1.2e-05"`` or ``"final loss 0.45 after 100 steps"``. Several: the median final loss
    of the runs that stayed in the domain and did not diverge, and how many did not.
    """
    first = config * paths.n_starts
    if paths.n_starts == 1:
        return _run_text(paths, first)
    runs = np.arange(first, first + paths.n_starts)
    status = np.asarray([paths.status[run] for run in runs])
    kept = (status != "diverged") & (status != "left_domain")
    parts = []
    if kept.any():
        median = float(np.median(paths.final_losses[runs[kept]]))
        parts.append(
            f"median final loss {format_loss(median)} over {int(kept.sum())} of {paths.n_starts} starts"
        )
    else:
        parts.append(f"no run of {paths.n_starts} stayed in the domain")
    for name, words in (("diverged", "diverged"), ("left_domain", "left the domain")):
        count = int((status == name).sum())
        if count:
            parts.append(f"{count} {words}")
    return ", ".join(parts)


def legend_label(paths: PathSet, config: int) -> str:
    """``label: outcome`` (see :func:`outcome_text`)."""
    return f"{paths.labels[config]}: {outcome_text(paths, config)}"
