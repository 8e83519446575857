"""Several landscapes side by side: per batch (seed 000 fig. 1), per optimizer or setting (figs. 3-6).

Each cell (one training run x one data selection) is a whole landscape study in a child run
directory, so finished cells are cache hits and a killed comparison resumes at the first
unfinished cell; the parent holds the panel figures and a summary table of every cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from optiscope.experiments.landscape_render import drawn_path
from optiscope.experiments.landscape_study import LandscapeConfig, LandscapeResult, run_landscape_study
from optiscope.experiments.paths_render import write_report
from optiscope.store import RunDir
from optiscope.viz.landscape_figures import landscape_panels

__all__ = ["cell_label", "run_landscape_panels"]


def cell_label(config: LandscapeConfig, runs: int, datas: int) -> str:
    """A panel's label: the run's folder name and/or the data selection, whichever varies."""
    parts = ([Path(config.run).name] if runs > 1 else []) + ([config.data] if datas > 1 or runs == 1 else [])
    return ", ".join(parts)


def _slug(index: int, label: str) -> str:
    return f"{index:02d}-" + "".join(c if c.isalnum() or c in ".-" else "_" for c in label)


def run_landscape_panels(
    configs: Sequence[LandscapeConfig],
    labels: Sequence[str],
    out: str | Path,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    notes: Sequence[str] = (),
) -> list[LandscapeResult]:
    """One landscape study per config (in ``out/NN-label/``), then the panels of all of them.

    ``notes`` (e.g. which runs were left out because they diverged) go to ``findings.md``.
    """
    spec = {"cells": [config.model_dump(mode="json") for config in configs], "labels": list(labels)}
    if notes:
        spec["notes"] = list(notes)
    parent = RunDir.open(out, kind="landscape-panels", spec=spec, force=force)
    results = []
    for index, (config, label) in enumerate(zip(configs, labels, strict=True)):
        results.append(run_landscape_study(config, Path(out) / _slug(index, label), force=force))
        if progress is not None:
            progress(index + 1, len(configs))
    if not parent.cached:
        grids = [result.grid for result in results]
        paths = [drawn_path(result) for result in results]
        gradients = [result.gradient for result in results]
        if all(grid.dims == 2 for grid in grids):
            contour = landscape_panels(grids, labels, paths=paths, gradients=gradients, kind="contour")
            parent.save_figure(contour, "panels.png")
            surface = landscape_panels(grids, labels, paths=paths, kind="surface")
            parent.save_figure(surface, "panels3d.png")
        rows = [{"cell": label, **result.run_dir.read_table("summary").iloc[0].to_dict()}
                for label, result in zip(labels, results, strict=True)]  # fmt: skip
        parent.write_table("summary", pd.DataFrame(rows))
        if notes:
            parent.write_text("findings.md", "".join(f"- {note}\n" for note in notes))
        parent.complete(cells=len(results))
        write_report(parent)
    return results
