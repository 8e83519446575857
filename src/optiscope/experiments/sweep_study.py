"""A sweep: a grid over training settings (seed 000's Table II), one resumable run per cell.

Each cell is a work unit (:func:`train_cell`): a full training run in ``DIR/cells/<cell>/``,
run by the current executor (in this process, or as a Ray task). Its results row is stored in
the sweep's unit store as it finishes, so a killed sweep resumes, on either executor, without
redoing a finished cell (and a finished cell's own run is a cache hit besides). A diverged cell
is a result (status ``diverged``, accuracy at chance), never a failure of the sweep.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from optiscope.errors import SpecError, StoreError
from optiscope.experiments.execute import execute
from optiscope.experiments.protocol import ProgressCallback, RunContext, StudyKind, Style
from optiscope.experiments.train_study import TRAIN
from optiscope.nets.budget import SeedBudget, budget_fields, train_size
from optiscope.nets.trainer import MAX_EPOCHS, TrainConfig
from optiscope.optimizers import parse_spec
from optiscope.spec_syntax import format_named_args
from optiscope.store import RunDir
from optiscope.store.manifest import MANIFEST_NAME
from optiscope.tuning.executors import EXECUTORS, current_executor, executor_scope, make_executor
from optiscope.validated import validated
from optiscope.viz.markdown import markdown_table
from optiscope.viz.sweep_figures import sweep_heatmap

__all__ = [
    "CELLS_DIR",
    "SWEEP",
    "CellResult",
    "CellTask",
    "SweepConfig",
    "cell_configs",
    "cell_name",
    "checked_sweep",
    "run_sweep",
    "sweep_from_file",
    "train_cell",
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


def sweep_from_file(
    *, executor: str | None = None, ray_address: str | None = None, **fields: Any
) -> tuple[SweepConfig, str | None, str | None]:
    """A sweep YAML's fields as ``(sweep, executor, ray_address)``: where the cells run may be
    written beside the sweep, but it is not part of it (nor of its cache key).

    Raises:
        SpecError: a bad sweep field, or an executor other than ``local`` or ``ray``.
    """
    if executor is not None and executor not in EXECUTORS:
        raise SpecError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if ray_address is not None and not isinstance(ray_address, str):
        raise SpecError(f"ray_address must be HOST:PORT or ray://HOST:PORT, got {ray_address!r}")
    return checked_sweep(**fields), executor, ray_address


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


@dataclass(frozen=True)
class CellTask:
    """One cell as a work unit: train ``config`` into the run directory ``folder`` (absolute, so a
    worker in another directory writes the same place), recomputing it if ``force``."""

    config: TrainConfig
    folder: str
    force: bool = False


@dataclass(frozen=True)
class CellResult:
    """What the results table takes from a finished cell, and whether its run was already there."""

    status: str
    epochs: int
    steps: int
    train_accuracy: float
    test_accuracy: float
    test_loss: float
    reused: bool = False

    def row(self) -> dict[str, Any]:
        """The cell's columns of the results table (after its grid settings)."""
        return {
            "status": self.status, "epochs": self.epochs, "steps": self.steps,
            "train_accuracy": self.train_accuracy, "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
        }  # fmt: skip

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The unit file's content: the scores as float64 (NaN and inf kept), the rest as meta."""
        scores = np.array([self.train_accuracy, self.test_accuracy, self.test_loss], dtype=np.float64)
        return {"scores": scores}, {"status": self.status, "epochs": self.epochs, "steps": self.steps}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> CellResult:
        """A stored cell read back (so ``reused``)."""
        train_accuracy, test_accuracy, test_loss = (float(value) for value in arrays["scores"])
        return cls(str(meta["status"]), int(meta["epochs"]), int(meta["steps"]), train_accuracy,
                   test_accuracy, test_loss, reused=True)  # fmt: skip


def train_cell(task: CellTask) -> CellResult:
    """Run one cell (the unit an executor ships): train it in its folder, or reuse the finished
    run there, and read its last epoch from the stored tables."""
    execution = execute(TRAIN, task.config, task.folder, force=task.force)
    summary = execution.run_dir.manifest.get("summary", {})
    last = execution.run_dir.read_table("metrics").iloc[-1]
    return CellResult(
        status=str(summary.get("status", "complete")), epochs=int(last["epoch"]),
        steps=int(summary.get("steps", 0)), train_accuracy=float(last["train_accuracy"]),
        test_accuracy=float(last["test_accuracy"]), test_loss=float(last["test_loss"]),
        reused=execution.cached,
    )  # fmt: skip


def _unit_id(index: int) -> str:
    return f"cell{index:04d}"


def _cell_results(tasks: list[CellTask], run_dir: RunDir, ctx: RunContext) -> dict[int, CellResult]:
    """Every cell's result: read back when a killed sweep stored it, else run on the executor and
    stored as it finishes."""
    results: dict[int, CellResult] = {}
    for index in range(len(tasks)):
        if run_dir.has_unit(_unit_id(index)):
            results[index] = CellResult.from_arrays(*run_dir.reuse_unit(_unit_id(index)))
            ctx.report(len(results), len(tasks))
    pending = [index for index in range(len(tasks)) if index not in results]
    for position, result in current_executor().run(train_cell, [tasks[index] for index in pending]):
        index = pending[position]
        if not (Path(tasks[index].folder) / MANIFEST_NAME).is_file():
            raise StoreError(
                f"cell {index} finished, but not in {tasks[index].folder}: on a Ray cluster, --out must "
                "be a folder every worker sees at the same path (a shared filesystem)"
            )
        run_dir.save_unit(_unit_id(index), *result.to_arrays())
        results[index] = result
        ctx.report(len(results), len(tasks))
    return results


def _compute(sweep: SweepConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    """Train every cell in ``cells/`` (finished cells are reused) and store the results table."""
    cells = cell_configs(sweep)
    root = run_dir.path.resolve() / CELLS_DIR
    tasks = [
        CellTask(config, str(root / cell_name(index, settings)), ctx.force)
        for index, (settings, config) in enumerate(cells)
    ]
    results = _cell_results(tasks, run_dir, ctx)
    rows = [
        {**{key: str(value) for key, value in settings.items()}, **results[index].row()}
        for index, (settings, _) in enumerate(cells)
    ]
    frame = pd.DataFrame(rows)
    run_dir.write_table("results", frame)
    run_dir.write_text("results.md", markdown_table(frame))
    reused = sum(result.reused for result in results.values())
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
    executor: str | None = None,
    ray_address: str | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Run every cell (reusing finished ones); the results table (heatmap and report drawn too).

    ``executor`` is ``local`` (default) or ``ray`` (``ray_address`` joins a running cluster, whose
    workers must see ``out`` at the same path); the numbers are the same either way.
    ``progress`` is called as ``progress(cells done, cells)`` after each cell.
    """
    with executor_scope(make_executor(executor, ray_address)):
        execution = execute(SWEEP, sweep, out, force=force, progress=progress)
    return execution.run_dir.read_table("results")
