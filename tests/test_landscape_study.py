"""The landscape study end to end: a trained run -> grid, path, figures, report; resume; CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.experiments.landscape_study import LandscapeConfig, run_landscape_study, select_data
from optiscope.nets import batches
from optiscope.nets.trained import load_trained
from optiscope.nets.trainer import TrainConfig, train

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two short digits runs (SGD and Adam) with their weight paths recorded every step."""
    root = tmp_path_factory.mktemp("trained")
    sgd, adam = root / "sgd", root / "adam"
    train(TrainConfig.build(epochs=3, limit=300, patience=None), sgd)
    train(TrainConfig.build(epochs=3, limit=300, patience=None, optimizer="adam:lr=0.005"), adam)
    return sgd, adam


def _cross_entropy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(model(x), y))


def test_a_filter_landscape_is_centred_on_the_trained_loss(trained_runs, tmp_path: Path) -> None:
    run, _ = trained_runs
    config = LandscapeConfig.build(run=str(run), grid=5, span=0.5, data="subset:120")
    result = run_landscape_study(config, tmp_path / "land")
    trained = load_trained(run)
    x, y = trained.data.x_train[:120], trained.data.y_train[:120]
    assert result.grid.loss.shape == (5, 5)
    assert result.grid.loss[2, 2] == pytest.approx(_cross_entropy(trained.model, x, y), rel=1e-5)
    stored = xr.open_dataset(tmp_path / "land" / "landscape.nc", engine="scipy")
    np.testing.assert_allclose(stored["loss"].to_numpy(), result.grid.loss, rtol=1e-12)
    table = pd.read_parquet(tmp_path / "land" / "path.parquet")
    assert {"step", "alpha", "beta", "captured", "true_loss", "surface_loss"} <= set(table.columns)
    assert table["true_loss"].iloc[-1] == pytest.approx(table["surface_loss"].iloc[-1], rel=1e-5)
    assert table["step"].iloc[-1] == 3 * 5, "the last snapshot is the final weights"
    assert result.path.total_captured < 0.2, "random directions capture little of the path"
    for name in ("contour.png", "heatmap.png", "surface3d.png", "path_fidelity.png"):
        assert (tmp_path / "land" / "figures" / name).stat().st_size > 10_000
    report = (tmp_path / "land" / "report.html").read_text()
    assert "summary" in report and "path_captured" in report


def test_pca_directions_capture_most_of_the_path(trained_runs, tmp_path: Path) -> None:
    run, _ = trained_runs
    config = LandscapeConfig.build(run=str(run), directions="pca", grid=4, data="subset:100")
    result = run_landscape_study(config, tmp_path / "pca")
    ratios = result.directions.meta["explained_variance_ratio"]
    assert result.path.total_captured == pytest.approx(sum(ratios), rel=1e-6)
    assert result.path.total_captured > 0.8


def test_interpolation_runs_from_one_model_to_the_other(trained_runs, tmp_path: Path) -> None:
    sgd, adam = trained_runs
    config = LandscapeConfig.build(run=str(sgd), directions=f"interpolate:{adam}", data="test")
    result = run_landscape_study(config, tmp_path / "line")
    grid = result.grid
    assert grid.betas is None and len(grid.alphas) == 401 and grid.alphas[0] == -0.5
    a, b = load_trained(sgd), load_trained(adam)
    at = {float(alpha): i for i, alpha in enumerate(np.round(grid.alphas, 10))}
    x, y = a.data.x_test, a.data.y_test
    assert grid.loss[at[0.0]] == pytest.approx(_cross_entropy(a.model, x, y), rel=1e-5)
    assert grid.loss[at[1.0]] == pytest.approx(_cross_entropy(b.model, x, y), rel=1e-4)
    assert (tmp_path / "line" / "figures" / "landscape_curve.png").is_file()


def test_batch_data_is_the_trainers_first_batch(trained_runs) -> None:
    trained = load_trained(trained_runs[0])
    xb, yb = select_data(trained, "batch:64")
    generator = torch.Generator().manual_seed(trained.config.seed)
    first_x, first_y = next(batches(trained.data.x_train, trained.data.y_train, 64, generator=generator))
    assert torch.equal(xb, first_x) and torch.equal(yb, first_y)


def test_a_failed_evaluation_resumes_and_equals_an_uninterrupted_one(trained_runs, tmp_path: Path) -> None:
    run, _ = trained_runs
    config = LandscapeConfig.build(run=str(run), grid=8, data="subset:80")

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_landscape_study(config, tmp_path / "killed", progress=stop_after_three)
    units = sorted((tmp_path / "killed" / "units").glob("grid-*.npz"))
    assert len(units) == 3
    resumed = run_landscape_study(config, tmp_path / "killed")
    manifest = json.loads((tmp_path / "killed" / "manifest.json").read_text())
    assert manifest["reused_units"] == [unit.stem for unit in units], "finished chunks are not recomputed"
    assert not (tmp_path / "killed" / "units").exists(), "a complete run keeps no unit caches"
    clean = run_landscape_study(config, tmp_path / "clean")
    np.testing.assert_array_equal(resumed.grid.loss, clean.grid.loss)
    assert json.loads((tmp_path / "killed" / "manifest.json").read_text())["status"] == "complete"


def test_cli_landscape_writes_its_run_and_refuses_bad_input(trained_runs, tmp_path: Path) -> None:
    run, _ = trained_runs
    out = tmp_path / "cli"
    result = runner.invoke(
        app, ["landscape", str(run), "--grid", "4", "--data", "subset:60", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "captures" in result.stdout and (out / "landscape.nc").is_file()
    for args, needle in (
        (["--directions", "sideways"], "directions"),
        (["--data", "batch:zero"], "data"),
        (["--grid", "1"], "grid"),
    ):
        bad = runner.invoke(app, ["landscape", str(run), "--out", str(tmp_path / "bad"), *args])
        assert bad.exit_code == 2 and needle in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    missing = runner.invoke(app, ["landscape", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "not an optiscope run directory" in missing.stderr


def test_panels_per_batch_and_per_run_and_a_cached_rerun(trained_runs, tmp_path: Path) -> None:
    """Seed 000 fig. 1 (batches side by side) and fig. 3 (one panel per optimizer's run)."""
    sgd, adam = trained_runs
    args = ["landscape", str(sgd), "--data", "batch:1", "--data", "batch:64", "--grid", "4"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "fig1")])
    assert result.exit_code == 0, result.output
    summary = pd.read_parquet(tmp_path / "fig1" / "summary.parquet")
    assert summary["cell"].tolist() == ["batch:1", "batch:64"] and (summary["samples"] == [1, 64]).all()
    assert (tmp_path / "fig1" / "figures" / "panels.png").stat().st_size > 10_000
    runs = runner.invoke(app, ["landscape", str(sgd), str(adam), "--grid", "4", "--data", "subset:50",
                               "--out", str(tmp_path / "fig3")])  # fmt: skip
    assert runs.exit_code == 0 and "adam:" in runs.stdout and "sgd:" in runs.stdout
    grid_file = tmp_path / "fig1" / "00-batch_1" / "landscape.nc"
    before = grid_file.stat().st_mtime_ns
    again = runner.invoke(
        app, ["landscape", str(sgd), "--data", "batch:1", "--grid", "4", "--out", str(grid_file.parent)]
    )
    assert again.exit_code == 0 and "cached" in again.stdout, again.output
    assert grid_file.stat().st_mtime_ns == before
