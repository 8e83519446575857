"""A training study: train (compute + store, resumable by epoch) -> draw the curves from the tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from optiscope.experiments.execute import execute
from optiscope.experiments.protocol import ProgressCallback, RunContext, StudyKind, Style
from optiscope.nets.trainer import TrainConfig, TrainRun, train_in_run
from optiscope.store import RunDir
from optiscope.viz.curvature_figures import ratio_figure
from optiscope.viz.sharpness_figures import sharpness_figure
from optiscope.viz.training_figures import training_curves

__all__ = ["TRAIN", "render_train", "run_train_study", "train_title"]


def _compute(config: TrainConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    return train_in_run(config, run_dir, progress=ctx.progress).summary()


def train_title(config: TrainConfig) -> str:
    """``mlp on digits, adam:lr=0.001, batch 64``: what a training run is, in one line."""
    return f"{config.model} on {config.dataset}, {config.optimizer}, batch {config.batch_size or 'full'}"


def render_train(run_dir: RunDir, style: Style) -> None:
    """The training curves and, when tracked, the eigenvalue ratio and the sharpness against its
    stability threshold, from the stored tables."""
    title = train_title(TrainConfig(**run_dir.spec))
    summary = run_dir.manifest.get("summary", {})
    diverged = str(summary.get("stopped", "")) if summary.get("status") == "diverged" else None
    figure = training_curves(run_dir.read_table("metrics"), title=title, diverged=diverged)
    run_dir.save_figure(figure, "training.png", **style.save_options())
    if (run_dir.path / "eigs.parquet").is_file():
        eigs = run_dir.read_table("eigs")
        if len(eigs):
            figure = ratio_figure(eigs, title=f"{title}: lambda1 / lambda2 over the last steps")
            run_dir.save_figure(figure, "eigen_ratio.png", **style.save_options())
    if (run_dir.path / "sharpness.parquet").is_file():
        sharpness = run_dir.read_table("sharpness")
        if len(sharpness):
            figure = sharpness_figure(sharpness, title=f"{title}: sharpness and its stability threshold")
            run_dir.save_figure(figure, "sharpness.png", **style.save_options())


TRAIN: StudyKind[TrainConfig] = StudyKind(
    name="train", config=TrainConfig, run=_compute, render=render_train, seeds=lambda c: {"train": c.seed}
)


def run_train_study(
    config: TrainConfig,
    out: str | Path,
    *,
    style: Mapping[str, Any] | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> TrainRun:
    """Train into ``out`` (resuming or reusing what is there), draw it, and return the run."""
    execution = execute(TRAIN, config, out, style=style, force=force, progress=progress)
    return train_in_run(config, execution.run_dir)
