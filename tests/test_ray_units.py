"""Sweep cells and landscape chunks as work units on Ray: the same numbers as in this process, and
a killed study resumes on either executor without redoing a stored unit.

One local Ray (2 CPUs, loopback) serves the whole module; the executors under test join it and
leave it running (an executor stops only a Ray it started itself).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'optiscope[ray]')")

from optiscope.cli import app  # noqa: E402 - imported once Ray is known to be there
from optiscope.errors import SpecError  # noqa: E402
from optiscope.experiments import sweep_study  # noqa: E402
from optiscope.experiments.landscape_study import (  # noqa: E402
    LandscapeConfig,
    load_landscape,
    run_landscape_study,
)
from optiscope.experiments.sweep_study import CellTask, SweepConfig, run_sweep  # noqa: E402
from optiscope.nets.trainer import TrainConfig, train  # noqa: E402
from optiscope.store import load_run  # noqa: E402
from optiscope.tuning import make_executor  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")
runner = CliRunner()
# A 2 x 2 grid of short digits runs (8 optimizer steps each, no early stop).
SWEEP = {
    "base": {"model": "mlp", "dataset": "digits", "limit": 256, "epochs": 5, "max_steps": 8,
             "batch_size": 64, "patience": None, "optimizer": "sgd"},
    "grid": {"lr": [0.05, 0.2], "momentum": [0, 0.9]},
}  # fmt: skip
NUMBERS = ["epochs", "steps", "train_accuracy", "test_accuracy", "test_loss"]
QUICK_FIGURES = {"interactive": False, "dpi": 40}  # the figures are not under test here


class Killed(Exception):
    """Stands for the process being killed once some units were stored."""


def _kill_after(units: int) -> Callable[[int, int], None]:
    """A progress callback that stops the study once ``units`` units are stored."""

    def progress(done: int, total: int) -> None:
        if done >= units:
            raise Killed(f"killed after {done} of {total} units")

    return progress


def _numbers(results: pd.DataFrame) -> np.ndarray:
    return results[NUMBERS].to_numpy(dtype=float)


def _cell_metrics(sweep_dir: Path) -> list[np.ndarray]:
    """Each cell's per-epoch metrics (numbers, less the timings), in grid order."""
    tables = [pd.read_parquet(cell / "metrics.parquet") for cell in sorted((sweep_dir / "cells").iterdir())]
    return [table.drop(columns="seconds").select_dtypes("number").to_numpy() for table in tables]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """The 2 x 2 sweep on the local executor (the reference) and its run directory."""
    out = tmp_path_factory.mktemp("local") / "sweep"
    return run_sweep(SweepConfig.build(**SWEEP), out), out


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    train(TrainConfig.build(epochs=2, limit=200, patience=None), run)
    return run


def test_a_sweep_on_ray_equals_the_local_sweep(
    local_sweep: tuple[pd.DataFrame, Path], tmp_path: Path
) -> None:
    expected, local_dir = local_sweep
    found = run_sweep(SweepConfig.build(**SWEEP), tmp_path / "sweep", executor="ray")
    pd.testing.assert_frame_equal(found[["lr", "momentum", "status"]], expected[["lr", "momentum", "status"]])
    np.testing.assert_array_equal(_numbers(found), _numbers(expected), err_msg="results: ray vs local")
    assert (found["steps"] == 8).all(), "each cell stops at max_steps"
    for cell, (on_ray, here) in enumerate(
        zip(_cell_metrics(tmp_path / "sweep"), _cell_metrics(local_dir), strict=True)
    ):
        np.testing.assert_array_equal(on_ray, here, err_msg=f"cell {cell} metrics per epoch: ray vs local")


def test_a_sweep_killed_here_resumes_on_ray_without_redoing_a_cell(
    local_sweep: tuple[pd.DataFrame, Path], tmp_path: Path
) -> None:
    out, sweep = tmp_path / "sweep", SweepConfig.build(**SWEEP)
    with pytest.raises(Killed):
        run_sweep(sweep, out, progress=_kill_after(2))
    assert sorted(unit.name for unit in (out / "units").iterdir()) == ["cell0000.npz", "cell0001.npz"]
    finished = sorted((out / "cells").rglob("*.parquet"))
    written = {path: path.stat().st_mtime_ns for path in finished}

    found = run_sweep(sweep, out, executor="ray")
    np.testing.assert_array_equal(
        _numbers(found), _numbers(local_sweep[0]), err_msg="resumed vs uninterrupted"
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reused_units"] == ["cell0000", "cell0001"]
    assert manifest["summary"] == {"cells": 4, "cells_reused": 2}
    assert {path: path.stat().st_mtime_ns for path in finished} == written, "a stored cell was retrained"


def test_a_sweep_killed_on_ray_resumes_here_training_only_the_missing_cells(
    local_sweep: tuple[pd.DataFrame, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, sweep = tmp_path / "sweep", SweepConfig.build(**SWEEP)
    with pytest.raises(Killed):  # the cells still out on Ray are cancelled and have ended
        run_sweep(sweep, out, executor="ray", progress=_kill_after(2))
    stored = sorted(unit.stem for unit in (out / "units").iterdir())
    assert len(stored) == 2, stored
    calls: list[str] = []
    train_cell = sweep_study.train_cell

    def counted(task: CellTask) -> sweep_study.CellResult:
        calls.append(Path(task.folder).name)
        return train_cell(task)

    monkeypatch.setattr(sweep_study, "train_cell", counted)
    found = run_sweep(sweep, out)
    cells = [cell.name for cell in sorted((out / "cells").iterdir())]
    assert calls == [name for index, name in enumerate(cells) if f"cell{index:04d}" not in stored]
    np.testing.assert_array_equal(
        _numbers(found), _numbers(local_sweep[0]), err_msg="resumed vs uninterrupted"
    )


def test_a_landscape_on_ray_equals_the_local_one_and_resumes_across_executors(
    trained_run: Path, tmp_path: Path
) -> None:
    config = LandscapeConfig.build(run=str(trained_run), grid=5, span=0.5, data="subset:120")
    local = run_landscape_study(config, tmp_path / "local", style=QUICK_FIGURES).grid
    options = ["--grid", "5", "--span", "0.5", "--data", "subset:120", "--no-interactive", "--dpi", "40"]
    result = runner.invoke(app, ["landscape", str(trained_run), "--out", str(tmp_path / "ray"), *options,
                                 "--executor", "ray"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "computed" in result.stdout and "engine first_layer" in result.stdout, result.stdout
    on_ray = load_landscape(load_run(tmp_path / "ray")).grid
    np.testing.assert_array_equal(on_ray.loss, local.loss, err_msg="5x5 loss: ray vs local executor")
    np.testing.assert_array_equal(on_ray.accuracy, local.accuracy, err_msg="5x5 accuracy: ray vs local")
    assert np.isfinite(local.loss).all() and local.loss[2, 2] < local.loss.max()

    with pytest.raises(Killed):  # 5 alpha rows are 5 chunks; killed once 3 are stored
        run_landscape_study(config, tmp_path / "resumed", style=QUICK_FIGURES, progress=_kill_after(3))
    units = sorted(unit.stem for unit in (tmp_path / "resumed" / "units").iterdir())
    assert units == ["grid-000", "grid-001", "grid-002"]
    resumed = run_landscape_study(config, tmp_path / "resumed", executor="ray", style=QUICK_FIGURES).grid
    np.testing.assert_array_equal(resumed.loss, local.loss, err_msg="resumed on ray vs uninterrupted local")
    manifest = json.loads((tmp_path / "resumed" / "manifest.json").read_text())
    assert manifest["reused_units"] == units, "the stored chunks are read back, not evaluated again"


def test_the_cli_sends_a_sweep_to_ray_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(json.dumps({**SWEEP, "grid": {"lr": [0.05]}, "executor": "ray"}))
    result = runner.invoke(app, ["sweep", str(config), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.stderr
    assert "computed" in result.stdout and (tmp_path / "s" / "results.parquet").is_file()

    cases = {
        "unknown": (["--executor", "banana"], "--executor must be one of local, ray"),
        "local-address": (
            ["--executor", "local", "--ray-address", "h:1"],
            "--ray-address needs --executor ray",
        ),
        "unreachable": (["--ray-address", "127.0.0.1:9"], "no Ray cluster answers there"),
        "malformed": (["--ray-address", "127.0.0.1:port"], "HOST:PORT or ray://HOST:PORT"),
    }
    for case, (options, message) in cases.items():
        out = tmp_path / case
        result = runner.invoke(app, ["sweep", str(config), "--out", str(out), *options])
        assert result.exit_code == 2, (case, result.stdout, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1, (case, result.stderr)
        assert not out.exists(), f"{case}: a folder was written before the input was checked"


def test_without_ray_installed_the_executor_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` now raises ImportError
    with pytest.raises(SpecError, match=r"pip install 'optiscope\[ray\]'"):
        make_executor("ray")


def test_a_study_yaml_sends_its_sweep_cells_and_tuning_batches_to_ray(tmp_path: Path) -> None:
    study = {
        "name": "units",
        "title": "Sweep cells and tuning batches as units",
        "steps": [
            {"kind": "sweep", "name": "grid", "base": SWEEP["base"], "grid": {"lr": [0.05, 0.2]}},
            {"kind": "tune", "name": "tuned", "target": "booth", "optimizers": ["sgd", "adam"], "trials": 4,
             "seeds": 2, "steps": 30, "batch": 2, "sensitivity": 0},
        ],
    }  # fmt: skip
    config = tmp_path / "study.yaml"
    config.write_text(json.dumps(study))
    folders = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        result = runner.invoke(app, ["run", str(config), "--out", str(out), "--executor", executor])
        assert result.exit_code == 0, result.stderr
        folders[executor] = {path.name.split("-", 1)[1]: path for path in out.iterdir() if path.is_dir()}
    local, remote = folders["local"], folders["ray"]
    results = [pd.read_parquet(f[key] / "results.parquet") for f in (local, remote) for key in ["grid"]]
    np.testing.assert_array_equal(_numbers(results[0]), _numbers(results[1]))
    best = [pd.read_parquet(f["tuned"] / "best.parquet") for f in (local, remote)]
    assert list(best[0]["params"]) == list(best[1]["params"])
    np.testing.assert_array_equal(best[0]["objective_mean"], best[1]["objective_mean"])
