"""A sweep: a grid over training settings (seed 000's Table II), one resumable run per cell.

Each cell is a full training run in ``DIR/cells/<cell>/``, so a finished cell is a cache hit
and a killed sweep resumes at the first unfinished cell. A diverged cell is a result (status
``diverged``, accuracy at chance), never a failure of the sweep.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from optiscope.errors import SpecError
from optiscope.experiments.execute import execute
from optiscope.experiments.protocol import ProgressCallback, RunContext, StudyKind, Style
from optiscope.experiments.train_study import TRAIN
from optiscope.nets.budget import SeedBudget, budget_fields, train_size
from optiscope.nets.trainer import MAX_EPOCHS, TrainConfig, train_in_run
from optiscope.optimizers import parse_spec
from optiscope.spec_syntax import format_named_args
from optiscope.store import RunDir
from optiscope.validated import validated
from optiscope.viz.markdown import markdown_table
from optiscope.viz.sweep_figures import sweep_heatmap

__all__ = [
    "CELLS_DIR",
    "SWEEP",
    "SweepConfig",
    "cell_configs",
    "cell_name",
    "checked_sweep",
    "run_sweep",
    "with_budget",
]

CELLS_DIR = "cells"

_TRAIN_FIELDS = set(TrainConfig.model_fields)


class SweepConfig(BaseModel):
    """The base training config and the grid: keys are TrainConfig fields or optimizer hparams."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(min_length=1)
    budget: SeedBudget | None = Field(default=None, description="the seed's epochs/steps, met per cell")

    @classmethod
    def build(cls, **fields: Any) -> SweepConfig:
        return validated(cls, fields)


def checked_sweep(**fields: Any) -> SweepConfig:
    """A sweep whose every cell is a valid training config (a bad base field is caught before
    any cell runs)."""
    sweep = SweepConfig.build(**fields)
    cell_configs(sweep)
    return sweep


def cell_configs(sweep: SweepConfig) -> list[tuple[dict[str, Any], TrainConfig]]:
    """Every grid cell as ``(its settings, its TrainConfig)``, in grid order."""
    keys = list(sweep.grid)
    cells = []
    for values in itertools.product(*(sweep.grid[key] for key in keys)):
        settings = dict(zip(keys, values, strict=True))
        fields = dict(sweep.base)
        hparams = {key: value for key, value in settings.items() if key not in _TRAIN_FIELDS}
        fields.update({key: value for key, value in settings.items() if key in _TRAIN_FIELDS})
        spec = parse_spec(fields.get("optimizer", TrainConfig().optimizer))
        fields["optimizer"] = format_named_args(spec.name, {**spec.hparams, **hparams})
        config = TrainConfig.build(**fields)
        if sweep.budget is not None:
            config = with_budget(config, sweep.budget)
        cells.append((settings, config))
    return cells


def with_budget(config: TrainConfig, budget: SeedBudget) -> TrainConfig:
    """``config`` with the epochs, step cap and patience that meet the seed's budget in steps."""
    size = train_size(config.dataset, config.data_dir, config.limit, config.seed, config.download)
    fields = budget_fields(budget, config.batch_size, size)
    if fields["epochs"] > MAX_EPOCHS:
        raise SpecError(
            f"budget: the seed's {fields['max_steps']} steps take {fields['epochs']} epochs of "
            f"{size} samples at batch {config.batch_size}, over the {MAX_EPOCHS}-epoch limit; "
            "use a larger batch or more training data"
        )
    return validated(TrainConfig, {**config.model_dump(), **fields})


def cell_name(index: int, settings: dict[str, Any]) -> str:
    """The folder of cell ``index`` with grid ``settings``."""
    parts = "-".join(f"{key}{value}" for key, value in settings.items())
    return f"{index:03d}-" + "".join(char if char.isalnum() or char in ".-" else "_" for char in parts)


def _compute(sweep: SweepConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    """Train every cell in ``cells/`` (finished cells are reused) and store the results table."""
    rows, reused = [], 0
    cells = cell_configs(sweep)
    for index, (settings, config) in enumerate(cells):
        folder = run_dir.path / CELLS_DIR / cell_name(index, settings)
        execution = execute(TRAIN, config, folder, force=ctx.force)
        reused += execution.cached
        run = train_in_run(config, execution.run_dir)
        ctx.report(index + 1, len(cells))
        last = run.metrics.iloc[-1]
        row = {key: str(value) for key, value in settings.items()}
        row.update(status=run.status, epochs=int(last["epoch"]), steps=run.steps)
        row.update({key: float(last[key]) for key in ("train_accuracy", "test_accuracy", "test_loss")})
        rows.append(row)
    results = pd.DataFrame(rows)
    run_dir.write_table("results", results)
    run_dir.write_text("results.md", markdown_table(results))
    return {"cells": len(rows), "cells_reused": reused}


def _render(run_dir: RunDir, style: Style) -> None:
    grid_keys = list(run_dir.spec["grid"])
    figure = sweep_heatmap(run_dir.read_table("results"), grid_keys)
    run_dir.save_figure(figure, "sweep.png", **style.save_options())


SWEEP: StudyKind[SweepConfig] = StudyKind(
    name="sweep", config=SweepConfig, run=_compute, render=_render, nested=True
)


def run_sweep(
    sweep: SweepConfig,
    out: str | Path,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Run every cell (reusing finished ones); the results table (heatmap and report drawn too).

    ``progress`` is called as ``progress(cells done, cells)`` after each cell.
    """
    execution = execute(SWEEP, sweep, out, force=force, progress=progress)
    return execution.run_dir.read_table("results")
