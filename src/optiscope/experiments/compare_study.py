"""Several finished runs side by side: training curves, per-class accuracy, curvature overlays.

The ``compare`` kind copies what the training runs stored (``metrics.parquet``, ``eigs.parquet``)
into its own tables, labelled per run, and draws them on shared axes (seed 000 fig. 3's losses,
seed 001 figs. 1 and 3). The ``curvature-panels`` kind measures each run's curvature in its own
cached child folder, then overlays the loss along each run's top eigenvector (seed 001 fig. 2)
and tabulates the spectra.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from optiscope.errors import SpecError
from optiscope.experiments.curvature_study import CurvatureConfig, run_curvature_study
from optiscope.experiments.protocol import RunContext, StudyKind, Style
from optiscope.store import RunDir
from optiscope.viz.compare_figures import (
    along_direction_figure,
    eigen_ratio_figure,
    per_class_accuracy_figure,
    training_comparison_figure,
)

__all__ = [
    "COMPARE",
    "CURVATURE_PANELS",
    "CompareConfig",
    "CurvaturePanelsConfig",
    "child_folder",
    "run_summary",
]

_SUMMARY_COLUMNS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "grad_norm")
CompareFigure = Literal["training", "per_class", "eigen_ratio"]


def child_folder(index: int, label: str) -> str:
    """``01-sgd-lr_0.1``: a child's folder name, ordered and safe on any file system."""
    return f"{index + 1:02d}-" + re.sub(r"[^A-Za-z0-9.-]+", "_", label).strip("_")[:60]


def run_summary(label: str, run_dir: Path) -> dict[str, Any]:
    """One row: how a training run ended (status, steps, final metrics, optimizer, seconds)."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    last = pd.read_parquet(run_dir / "metrics.parquet").iloc[-1]
    summary = manifest.get("summary", {})
    row: dict[str, Any] = {"run": label, "optimizer": manifest["spec"].get("optimizer", "?")}
    row.update(status=summary.get("status", "?"), steps=summary.get("steps"), epochs=int(last["epoch"]))
    row.update({column: float(last[column]) for column in _SUMMARY_COLUMNS})
    row["seconds"] = float(manifest.get("timings", {}).get("total", float("nan")))
    return row


class CompareConfig(BaseModel):
    """Training runs to compare (label -> run directory) and the figures to draw."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runs: dict[str, str] = Field(min_length=1)
    figures: tuple[CompareFigure, ...] = ("training", "per_class")
    title: str = "comparison"


def _labelled(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([frame.assign(label=label) for label, frame in frames.items()], ignore_index=True)


def _per_label(table: pd.DataFrame, labels: list[str]) -> dict[str, pd.DataFrame]:
    return {
        label: table[table["label"] == label].drop(columns="label").reset_index(drop=True) for label in labels
    }


def _compare(config: CompareConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    runs = {label: Path(path) for label, path in config.runs.items()}
    run_dir.write_table("summary", pd.DataFrame([run_summary(label, path) for label, path in runs.items()]))
    run_dir.write_table(
        "curves", _labelled({label: pd.read_parquet(p / "metrics.parquet") for label, p in runs.items()})
    )
    if "eigen_ratio" in config.figures:
        missing = [label for label, path in runs.items() if not (path / "eigs.parquet").exists()]
        if missing:
            raise SpecError(
                f"eigen_ratio needs runs trained with track_eigs; {', '.join(missing)} tracked none"
            )
        run_dir.write_table(
            "eigs", _labelled({label: pd.read_parquet(p / "eigs.parquet") for label, p in runs.items()})
        )
    return {"runs": len(runs)}


def _diverged(run_dir: RunDir) -> dict[str, str]:
    """``{run label: "diverged at step 28"}`` for the runs whose stored summary says they diverged."""
    summary = run_dir.read_table("summary")
    rows = summary[summary["status"] == "diverged"]
    return {
        str(row["run"]): f"diverged at step {int(row['steps'])}" if pd.notna(row["steps"]) else "diverged"
        for _, row in rows.iterrows()
    }


def _render_compare(run_dir: RunDir, style: Style) -> None:
    config = CompareConfig(**run_dir.spec)
    labels = list(config.runs)
    metrics = _per_label(run_dir.read_table("curves"), labels)
    dpi = style.save_options()
    if "training" in config.figures:
        figure = training_comparison_figure(metrics, title=config.title, diverged=_diverged(run_dir))
        run_dir.save_figure(figure, "training.png", **dpi)
    if "per_class" in config.figures:
        run_dir.save_figure(per_class_accuracy_figure(metrics, title=config.title), "per_class.png", **dpi)
    if "eigen_ratio" in config.figures:
        eigs = _per_label(run_dir.read_table("eigs"), labels)
        untracked = [label for label, frame in eigs.items() if frame.empty]
        drawn = {label: frame for label, frame in eigs.items() if not frame.empty}
        if drawn:
            title = config.title
            if untracked:  # a run that stopped before its tracked steps has no eigenvalues to draw
                why = _diverged(run_dir)
                said = ", ".join(f"{label} ({why.get(label, 'stopped before them')})" for label in untracked)
                title = f"{config.title}\nno eigenvalues tracked for {said}"
            run_dir.save_figure(eigen_ratio_figure(drawn, title=title), "eigen_ratio.png", **dpi)


COMPARE: StudyKind[CompareConfig] = StudyKind(
    name="compare", config=CompareConfig, run=_compare, render=_render_compare
)


class CurvaturePanelsConfig(BaseModel):
    """One curvature study per training run, compared: spectra table and loss along each top eigenvector."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cells: tuple[CurvatureConfig, ...] = Field(min_length=1)
    labels: tuple[str, ...]
    title: str = "loss along the top Hessian eigenvector"

    @model_validator(mode="after")
    def _one_label_per_cell(self) -> CurvaturePanelsConfig:
        if len(self.labels) != len(self.cells):
            raise ValueError(f"labels: give one per cell ({len(self.cells)}), got {len(self.labels)}")
        return self


def _curvature_panels(config: CurvaturePanelsConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    rows, curves = [], {}
    for index, (cell, label) in enumerate(zip(config.cells, config.labels, strict=True)):
        result = run_curvature_study(cell, run_dir.path / child_folder(index, label), force=ctx.force)
        values = result.spectrum.values
        row = {"run": label, "lambda1": float(values[0]), "hvps": int(result.spectrum.hvps)}
        if len(values) > 1:
            row.update(lambda2=float(values[1]), ratio=float(values[0] / values[1]))
        rows.append(row)
        if result.along_line is not None:
            curves[label] = result.along_line
        ctx.report(index + 1, len(config.cells))
    run_dir.write_table("spectrum", pd.DataFrame(rows))
    if curves:
        run_dir.write_table("along_top1", _labelled(curves))
    return {"runs": len(rows)}


def _render_curvature_panels(run_dir: RunDir, style: Style) -> None:
    config = CurvaturePanelsConfig(**run_dir.spec)
    if (run_dir.path / "along_top1.parquet").is_file():
        table = run_dir.read_table("along_top1")
        curves = _per_label(table, [label for label in config.labels if label in set(table["label"])])
        run_dir.save_figure(
            along_direction_figure(curves, title=config.title), "along_top1.png", **style.save_options()
        )


CURVATURE_PANELS: StudyKind[CurvaturePanelsConfig] = StudyKind(
    name="curvature-panels",
    config=CurvaturePanelsConfig,
    run=_curvature_panels,
    render=_render_curvature_panels,
    nested=True,
)
