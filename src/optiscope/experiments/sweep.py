"""A sweep: a grid over training settings (seed 000's Table II), one resumable run per cell.

Each cell is a full training run in ``DIR/cells/<cell>/``, so a finished cell is a cache hit
and a killed sweep resumes at the first unfinished cell. A diverged cell is a result (status
``diverged``, accuracy at chance), never a failure of the sweep.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field

from optiscope.errors import SpecError
from optiscope.experiments.paths_render import write_report
from optiscope.experiments.train_study import run_train_study
from optiscope.nets.budget import SeedBudget, budget_fields, train_size
from optiscope.nets.trainer import MAX_EPOCHS, TrainConfig
from optiscope.optimizers import parse_spec
from optiscope.spec_syntax import format_named_args
from optiscope.store import RunDir
from optiscope.validated import validated
from optiscope.viz.markdown import markdown_table

__all__ = ["SweepConfig", "cell_configs", "cell_name", "run_sweep", "sweep_heatmap", "with_budget"]

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


def run_sweep(
    sweep: SweepConfig,
    out: str | Path,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run every cell (reusing finished ones) and store the results table, heatmap and report.

    ``progress`` is called as ``progress(cells done, cells)`` after each cell.
    """
    run_dir = RunDir.open(out, kind="sweep", spec=sweep.model_dump(mode="json"), force=force)
    if run_dir.cached:
        return run_dir.read_table("results")
    rows = []
    with run_dir:
        cells = cell_configs(sweep)
        for index, (settings, config) in enumerate(cells):
            run = run_train_study(config, Path(out) / "cells" / cell_name(index, settings), force=force)
            if progress is not None:
                progress(index + 1, len(cells))
            last = run.metrics.iloc[-1]
            row = {key: str(value) for key, value in settings.items()}
            row.update(status=run.status, epochs=int(last["epoch"]), steps=run.steps)
            row.update({key: float(last[key]) for key in ("train_accuracy", "test_accuracy", "test_loss")})
            rows.append(row)
        results = pd.DataFrame(rows)
        run_dir.write_table("results", results)
        run_dir.write_text("results.md", markdown_table(results))
        run_dir.save_figure(sweep_heatmap(results, list(sweep.grid)), "sweep.png")
        run_dir.complete(cells=len(rows))
    write_report(run_dir)
    return results


def sweep_heatmap(results: pd.DataFrame, keys: list[str]) -> Figure:
    """Test accuracy over the first two grid keys, one panel per value of the others."""
    rows_key, cols_key = [*keys, None, None][:2]
    rest = keys[2:]
    groups = list(results.groupby(rest, sort=False)) if rest else [((), results)]
    figure = Figure(figsize=(4.6 * len(groups) + 1, 4.2), layout="constrained")
    panels = figure.subplots(1, len(groups), squeeze=False)[0]
    for axes, (name, group) in zip(panels, groups, strict=True):
        if cols_key is None:
            table = group.set_index(rows_key)[["test_accuracy"]]
        else:
            table = group.pivot_table(index=rows_key, columns=cols_key, values="test_accuracy", sort=False)
        image = axes.imshow(table.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis")
        axes.set(
            xticks=range(table.shape[1]), yticks=range(table.shape[0]), xlabel=cols_key or "", ylabel=rows_key
        )
        axes.set_xticklabels(table.columns.astype(str))
        axes.set_yticklabels(table.index.astype(str))
        for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
            axes.text(
                j, i, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black"
            )
        label = ", ".join(f"{key}={value}" for key, value in zip(rest, np.atleast_1d(name), strict=False))
        axes.set_title(label or "test accuracy")
    figure.colorbar(image, ax=list(panels), label="test accuracy")
    return figure
