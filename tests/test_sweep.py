"""Sweeps: grid cells are training runs; finished cells are reused; divergence is a result."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from PIL import Image
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.experiments.sweep_study import SweepConfig, cell_configs

SWEEP_YAML = """
base: {model: mlp, dataset: digits, optimizer: sgd, epochs: 2, patience: null}
grid:
  lr: [2, 0.05]
  batch_size: [64, 256]
  momentum: [0, 0.9]
"""


def test_cells_merge_optimizer_hparams_and_train_fields() -> None:
    sweep = SweepConfig.build(
        base={"optimizer": "sgd:lr=0.1"}, grid={"lr": [2, 0.002], "batch_size": [1, 64]}
    )
    cells = cell_configs(sweep)
    assert [settings for settings, _ in cells] == [
        {"lr": 2, "batch_size": 1}, {"lr": 2, "batch_size": 64},
        {"lr": 0.002, "batch_size": 1}, {"lr": 0.002, "batch_size": 64},
    ]  # fmt: skip
    assert cells[1][1].optimizer == "sgd:lr=2" and cells[1][1].batch_size == 64


def test_table_two_grid_runs_reuses_finished_cells_and_records_divergence(tmp_path: Path) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(SWEEP_YAML)
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", str(config), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.stderr
    results = pd.read_parquet(tmp_path / "s" / "results.parquet")
    assert len(results) == 8 and list(results.columns[:3]) == ["lr", "batch_size", "momentum"]
    diverged = results[
        (results["lr"] == "2") & (results["momentum"] == "0") & (results["batch_size"] == "64")
    ]
    assert diverged["status"].tolist() == ["diverged"]
    assert (results.loc[results["lr"] == "0.05", "status"] != "diverged").all()
    with Image.open(tmp_path / "s" / "figures" / "sweep.png") as image:  # a picture, not a blank one
        assert min(image.size) > 300 and len(image.convert("RGB").getcolors(1 << 16) or []) > 20
    assert (tmp_path / "s" / "results.md").exists()

    # A sweep killed after its cells finished resumes without recomputing any cell.
    cells = sorted((tmp_path / "s" / "cells").iterdir())
    before = [(cell / "metrics.parquet").stat().st_mtime_ns for cell in cells]
    manifest_path = tmp_path / "s" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["status"] = "running"
    manifest_path.write_text(json.dumps(manifest))
    result = runner.invoke(app, ["sweep", str(config), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.stderr
    assert json.loads(manifest_path.read_text())["status"] == "complete"
    assert "resumed and finished; 8 of 8 cells reused" in result.stdout, result.stdout
    assert [(cell / "metrics.parquet").stat().st_mtime_ns for cell in cells] == before
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s" / "results.parquet"), results)
