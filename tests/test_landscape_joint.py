"""``optiscope landscape A B --directions pca-joint``: several runs' paths on one shared PCA plane."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.experiments.landscape_render import joint_contour, load_landscape
from optiscope.experiments.landscape_study import LandscapeConfig
from optiscope.nets.runs import load_run
from optiscope.store import load_run as open_run
from optiscope.viz.palette import line_style_for

runner = CliRunner()


def _train(out: Path, *flags: str) -> Path:
    result = runner.invoke(
        app, ["train", "--out", str(out), "--epochs", "2", "--limit", "200", "--patience", "100", *flags]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny digits MLP runs (SGD, Adam) and one CNN run, every step's weights recorded."""
    root = tmp_path_factory.mktemp("joint")
    return {
        "sgd": _train(root / "sgd"),
        "adam": _train(root / "adam", "--opt", "adam:lr=0.005", "--seed", "1"),
        "cnn": _train(root / "cnn", "--model", "cnn"),
    }


def _dense_shares(paths: list[np.ndarray], centre: np.ndarray) -> np.ndarray:
    """Each run's share ``||P d||^2 / ||d||^2`` on the top-2 right-singular plane of all displacements."""
    stacked = np.concatenate([path.astype(np.float64) - centre for path in paths])
    plane = np.linalg.svd(stacked, full_matrices=False)[2][:2]
    moves = [path.astype(np.float64) - centre for path in paths]
    return np.array([np.sum((move @ plane.T) ** 2) / np.sum(move**2) for move in moves])


@pytest.mark.parametrize("centre", ["0", "mean"])
def test_two_runs_share_one_plane_and_each_share_matches_a_dense_svd(
    runs, tmp_path: Path, centre: str
) -> None:
    out = tmp_path / "joint"
    args = ["landscape", str(runs["sgd"]), str(runs["adam"]), "--directions", "pca-joint", "--centre", centre,
            "--grid", "5", "--data", "subset:100", "--out", str(out), "--no-interactive"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    grids = list(out.rglob("landscape.nc"))
    assert grids == [out / "landscape.nc"], f"one grid for both runs, found {grids}"
    assert xr.open_dataset(grids[0], engine="scipy")["loss"].shape == (5, 5)
    paths = [np.asarray(load_run(runs[name]).snapshots) for name in ("sgd", "adam")]
    point = paths[0][-1].astype(np.float64) if centre == "0" else np.mean([p[-1] for p in paths], axis=0)
    expected = _dense_shares(paths, point)
    table = pd.read_parquet(out / "path.parquet")
    assert list(table["run"].unique()) == ["sgd", "adam"]
    summary = pd.read_parquet(out / "summary.parquet").iloc[0]
    shares = np.array([summary["captured_sgd"], summary["captured_adam"]])
    np.testing.assert_allclose(shares, expected, rtol=1e-4, err_msg="captured share per run vs dense SVD")
    loaded = load_landscape(open_run(out))
    assert [name for name, _ in loaded.runs] == ["sgd", "adam"]
    sizes = [len(table[table["run"] == name]) for name in ("sgd", "adam")]
    assert sizes == [min(len(p), 200) for p in paths], "every run's path is stored"
    # the study's centre: the surface loss at run 0's final weights equals the true loss there
    if centre == "0":
        last = table[table["run"] == "sgd"].iloc[-1]
        assert last["alpha"] == pytest.approx(0.0, abs=1e-6) and last["beta"] == pytest.approx(0.0, abs=1e-6)
        assert last["surface_loss"] == pytest.approx(last["true_loss"], rel=1e-5)
    findings = (out / "findings.md").read_text()
    words = "run 0's final weights (sgd)" if centre == "0" else "the mean of the runs' final weights"
    assert words in findings and f"{100 * expected[1]:.1f}% of adam's" in findings
    assert (out / "figures" / "contour.png").stat().st_size > 10_000


def test_the_joint_contour_gives_each_run_its_own_colour_inside_the_axes(runs, tmp_path: Path) -> None:
    out = tmp_path / "fig"
    args = ["landscape", str(runs["sgd"]), str(runs["adam"]), "--directions", "pca-joint", "--grid", "4",
            "--data", "subset:60", "--out", str(out), "--no-interactive"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    result = load_landscape(open_run(out))
    figure = joint_contour(result.grid, result.runs)
    axes = figure.axes[0]
    lines = {line.get_gid(): line for line in axes.get_lines() if (line.get_gid() or "").startswith("path-")}
    assert [lines[f"path-{i}"].get_color() for i in range(2)] == [line_style_for(i)[0] for i in range(2)]
    low, high = axes.get_xlim(), axes.get_ylim()
    for _, path in result.runs:
        end = path.coords[-1]
        assert low[0] <= end[0] <= low[1] and high[0] <= end[1] <= high[1], f"path end {end} outside the axes"
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert any(label.startswith("sgd (plane captures") for label in labels)
    assert any(label.startswith("adam (plane captures") for label in labels)


def test_one_run_and_runs_of_two_architectures_are_refused(runs, tmp_path: Path) -> None:
    single = runner.invoke(app, ["landscape", str(runs["sgd"]), "--directions", "pca-joint"])
    assert single.exit_code == 2 and "at least two runs" in single.output
    mixed = runner.invoke(
        app,
        [
            "landscape",
            str(runs["sgd"]),
            str(runs["cnn"]),
            "--directions",
            "pca-joint",
            "--out",
            str(tmp_path),
        ],
    )
    assert mixed.exit_code == 2 and "one architecture" in mixed.output, mixed.output
    assert not (tmp_path / "landscape.nc").exists()


def test_the_joint_fields_stay_out_of_an_ordinary_spec_and_belong_to_pca_joint() -> None:
    spec = LandscapeConfig.build(run="r").model_dump(mode="json")
    assert "joint" not in spec and "centre" not in spec
    with pytest.raises(Exception, match="pca-joint"):
        LandscapeConfig.build(run="r", joint=("b",))
    with pytest.raises(Exception, match="centre must be"):
        LandscapeConfig.build(run="r", directions="pca-joint", joint=("b",), centre="2")
