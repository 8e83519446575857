"""Several landscapes side by side: per batch (seed 000 fig. 1), per optimizer or setting (figs. 3-6).

Each cell (one training run x one data selection) is a whole landscape study in a child run
directory, so finished cells are cache hits and a killed comparison resumes at the first
unfinished cell; the parent holds the panel figures and a summary table of every cell.
:func:`landscape_study_for` is the one place that decides between a single landscape and panels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from optiscope.experiments.landscape_render import drawn_path, load_landscape
from optiscope.experiments.landscape_study import LANDSCAPE, LandscapeConfig, run_landscape_study
from optiscope.experiments.protocol import RunContext, StudyKind, Style
from optiscope.store import RunDir, load_run
from optiscope.viz.landscape_figures import landscape_panels

__all__ = ["LANDSCAPE_PANELS", "LandscapePanelsConfig", "cell_folder", "cell_label", "landscape_study_for"]


class LandscapePanelsConfig(BaseModel):
    """The landscapes to draw side by side, their panel labels, and notes on left-out runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cells: tuple[LandscapeConfig, ...] = Field(min_length=1)
    labels: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_label_per_cell(self) -> LandscapePanelsConfig:
        if len(self.labels) != len(self.cells):
            raise ValueError(f"labels: give one per cell ({len(self.cells)}), got {len(self.labels)}")
        return self


def cell_label(config: LandscapeConfig, runs: int, datas: int) -> str:
    """A panel's label: the run's folder name and/or the data selection, whichever varies."""
    parts = ([Path(config.run).name] if runs > 1 else []) + ([config.data] if datas > 1 or runs == 1 else [])
    return ", ".join(parts)


def cell_folder(index: int, label: str) -> str:
    """``00-batch_64``: a cell's folder, ordered and safe on any file system."""
    return f"{index:02d}-" + "".join(c if c.isalnum() or c in ".-" else "_" for c in label)


def landscape_study_for(
    configs: Sequence[LandscapeConfig], labels: Sequence[str], notes: Sequence[str] = ()
) -> tuple[StudyKind[Any], BaseModel]:
    """One landscape study when there is one cell and nothing to say, else a panels study."""
    if len(configs) == 1 and not notes:
        return LANDSCAPE, configs[0]
    return LANDSCAPE_PANELS, LandscapePanelsConfig(
        cells=tuple(configs), labels=tuple(labels), notes=tuple(notes)
    )


def _compute(config: LandscapePanelsConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    rows = []
    for index, (cell, label) in enumerate(zip(config.cells, config.labels, strict=True)):
        result = run_landscape_study(cell, run_dir.path / cell_folder(index, label), force=ctx.force)
        rows.append({"cell": label, **result.run_dir.read_table("summary").iloc[0].to_dict()})
        ctx.report(index + 1, len(config.cells))
    run_dir.write_table("summary", pd.DataFrame(rows))
    if config.notes:
        run_dir.write_text("findings.md", "".join(f"- {note}\n" for note in config.notes))
    return {"cells": len(config.cells)}


def _render(run_dir: RunDir, style: Style) -> None:
    config = LandscapePanelsConfig(**run_dir.spec)
    results = [
        load_landscape(load_run(run_dir.path / cell_folder(index, label)))
        for index, label in enumerate(config.labels)
    ]
    grids = [result.grid for result in results]
    if not all(grid.dims == 2 for grid in grids):
        return
    paths = [drawn_path(result) for result in results]
    gradients = [result.gradient for result in results]
    labels, notes = list(config.labels), list(config.notes)
    panel_notes = [_run_note(Path(cell.run)) for cell in config.cells]
    contour = landscape_panels(grids, labels, paths=paths, gradients=gradients, kind="contour",
                               panel_notes=panel_notes, notes=notes)  # fmt: skip
    run_dir.save_figure(contour, "panels.png", **style.save_options())
    surface = landscape_panels(
        grids, labels, paths=paths, kind="surface", panel_notes=panel_notes, notes=notes
    )
    run_dir.save_figure(surface, "panels3d.png", **style.save_options())


def _run_note(run: Path) -> str | None:
    """``"run diverged at step 12"`` when the training run's stored summary says it diverged."""
    manifest = run / "manifest.json"
    if not manifest.is_file():
        return None
    summary = json.loads(manifest.read_text()).get("summary", {})
    if summary.get("status") != "diverged":
        return None
    return f"run diverged at step {summary['steps']}" if summary.get("steps") is not None else "run diverged"


LANDSCAPE_PANELS: StudyKind[LandscapePanelsConfig] = StudyKind(
    name="landscape-panels", config=LandscapePanelsConfig, run=_compute, render=_render, nested=True
)
