"""Several finished runs side by side: training curves, per-class accuracy, curvature overlays.

``run_compare`` reads what training runs stored (``metrics.parquet``, ``eigs.parquet``) and
draws them on shared axes (seed 000 fig. 3's losses, seed 001 figs. 1 and 3).
``run_curvature_panels`` measures each run's curvature in its own cached child folder, then
overlays the loss along each run's top eigenvector (seed 001 fig. 2) and tabulates the spectra.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from optiscope.errors import SpecError
from optiscope.experiments.curvature_study import CurvatureConfig, run_curvature_study
from optiscope.experiments.paths_render import write_report
from optiscope.store import RunDir
from optiscope.viz.compare_figures import (
    along_direction_figure,
    eigen_ratio_figure,
    per_class_accuracy_figure,
    training_comparison_figure,
)

__all__ = ["child_folder", "run_compare", "run_curvature_panels", "run_summary"]

_SUMMARY_COLUMNS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "grad_norm")


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


def run_compare(
    runs: dict[str, Path],
    figures: Sequence[str],
    out: str | Path,
    *,
    title: str,
    force: bool = False,
) -> pd.DataFrame:
    """Draw the chosen ``figures`` for the training runs ``label -> run dir``; store a summary."""
    spec = {"runs": {label: str(path) for label, path in runs.items()}, "figures": list(figures)}
    run_dir = RunDir.open(out, kind="compare", spec=spec, force=force)
    if run_dir.cached:
        return run_dir.read_table("summary")
    with run_dir:
        metrics = {label: pd.read_parquet(path / "metrics.parquet") for label, path in runs.items()}
        summary = pd.DataFrame([run_summary(label, path) for label, path in runs.items()])
        run_dir.write_table("summary", summary)
        if "training" in figures:
            run_dir.save_figure(training_comparison_figure(metrics, title=title), "training.png")
        if "per_class" in figures:
            run_dir.save_figure(per_class_accuracy_figure(metrics, title=title), "per_class.png")
        if "eigen_ratio" in figures:
            run_dir.save_figure(eigen_ratio_figure(_eigs(runs), title=title), "eigen_ratio.png")
        run_dir.complete(runs=len(runs))
    write_report(run_dir)
    return summary


def _eigs(runs: dict[str, Path]) -> dict[str, pd.DataFrame]:
    missing = [label for label, path in runs.items() if not (path / "eigs.parquet").exists()]
    if missing:
        raise SpecError(f"eigen_ratio needs runs trained with track_eigs; {', '.join(missing)} tracked none")
    return {label: pd.read_parquet(path / "eigs.parquet") for label, path in runs.items()}


def run_curvature_panels(
    configs: Sequence[CurvatureConfig],
    labels: Sequence[str],
    out: str | Path,
    *,
    title: str,
    force: bool = False,
) -> pd.DataFrame:
    """One curvature study per run (``out/NN-label/``), then the overlays and the spectra table."""
    spec = {"cells": [config.model_dump(mode="json") for config in configs], "labels": list(labels)}
    parent = RunDir.open(out, kind="curvature-panels", spec=spec, force=force)
    if parent.cached:
        return parent.read_table("spectrum")
    with parent:
        results = [
            run_curvature_study(config, Path(out) / child_folder(index, label), force=force)
            for index, (config, label) in enumerate(zip(configs, labels, strict=True))
        ]
        rows = []
        for label, result in zip(labels, results, strict=True):
            values = result.spectrum.values
            row = {"run": label, "lambda1": float(values[0]), "hvps": int(result.spectrum.hvps)}
            if len(values) > 1:
                row.update(lambda2=float(values[1]), ratio=float(values[0] / values[1]))
            rows.append(row)
        table = pd.DataFrame(rows)
        parent.write_table("spectrum", table)
        curves = {
            label: r.along_line for label, r in zip(labels, results, strict=True) if r.along_line is not None
        }
        if curves:
            parent.save_figure(along_direction_figure(curves, title=title), "along_top1.png")
        parent.complete(runs=len(results))
    write_report(parent)
    return table
