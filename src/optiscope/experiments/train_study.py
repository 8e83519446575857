"""A training study: train (compute + store, resumable) -> draw the curves -> report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from optiscope.curvature import ratio_figure
from optiscope.experiments.paths_render import write_report
from optiscope.nets.trainer import TrainConfig, TrainRun, train
from optiscope.viz.training_figures import training_curves

__all__ = ["run_train_study"]


def run_train_study(
    config: TrainConfig,
    out: str | Path,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TrainRun:
    """Train into the run directory ``out`` (resuming or reusing what is there), then render."""
    run = train(config, out, force=force, progress=progress)
    assert run.run_dir is not None
    if not run.run_dir.cached:
        title = f"{config.model} on {config.dataset}, {config.optimizer}, batch {config.batch_size or 'full'}"
        run.run_dir.save_figure(training_curves(run.metrics, title=title), "training.png")
        if run.eigs is not None and len(run.eigs):
            figure = ratio_figure(run.eigs, title=f"{title}: lambda1 / lambda2 over the last steps")
            run.run_dir.save_figure(figure, "eigen_ratio.png")
        write_report(run.run_dir)
    return run
