"""Figures apart from compute: ``optiscope report`` re-draws any run kind with new figure options and
recomputes nothing; the same compute command with other figure options is a cache hit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from optiscope.cli import app

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, f"{args}: {result.stderr or result.stdout}"
    return result.stdout


def _numbers(run: Path) -> tuple[str, dict, dict, dict[str, int]]:
    """What re-drawing must not touch: spec hash, timings, summary, and the stored tables' mtimes."""
    manifest = json.loads((run / "manifest.json").read_text())
    tables = {path.name: path.stat().st_mtime_ns for path in run.glob("*.parquet")}
    tables |= {path.name: path.stat().st_mtime_ns for path in run.glob("*.nc")}
    return manifest["spec_hash"], manifest["timings"], manifest.get("summary", {}), tables


def _figures(run: Path) -> set[str]:
    return {path.name for path in (run / "figures").iterdir()}


def test_paths_report_adds_3d_and_animation_then_the_same_command_is_a_cache_hit(tmp_path: Path) -> None:
    out = tmp_path / "R"
    _invoke("paths", "rosenbrock", "--opt", "adam:lr=0.1", "--steps", "50", "--out", out)
    assert _figures(out) == {"contour.png", "loss.png", "loss_linear.png"}
    before = _numbers(out)
    stdout = _invoke("report", out, "--3d", "--animate", "--frames", "6")
    assert "nothing recomputed" in stdout
    assert {"surface3d.png", "surface3d.gif", "contour.gif", "loss.gif"} <= _figures(out)
    assert _numbers(out) == before, "a re-draw changed the numbers, the spec hash or the timings"
    assert json.loads((out / "style.json").read_text())["three_d"] is True
    assert "surface3d.gif" in (out / "report.html").read_text()

    stdout = _invoke("paths", "rosenbrock", "--opt", "adam:lr=0.1", "--steps", "50", "--3d", "--out", out)
    assert stdout.startswith("cached: ") and "nothing recomputed" in stdout
    assert _numbers(out) == before
    stdout = _invoke(
        "paths", "rosenbrock", "--opt", "adam:lr=0.1", "--steps", "50", "--no-animate", "--out", out
    )
    assert stdout.startswith("cached: ") and "figures re-drawn" in stdout
    assert not {name for name in _figures(out) if name.endswith(".gif")}, "the old animations are gone"
    assert _numbers(out) == before


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("redraw") / "train"
    _invoke("train", "--opt", "adam:lr=0.01", "--epochs", "2", "--limit", "300", "--record-every", "4",
            "--out", out)  # fmt: skip
    return out


def test_a_training_run_is_redrawn_at_another_dpi_without_retraining(trained: Path) -> None:
    before = _numbers(trained)
    width = Image.open(trained / "figures" / "training.png").size[0]
    dpi = json.loads((trained / "style.json").read_text())["dpi"]
    _invoke("report", trained, "--dpi", "200")
    assert Image.open(trained / "figures" / "training.png").size[0] == pytest.approx(
        width * 200 / dpi, rel=0.02
    )
    assert _numbers(trained) == before
    assert not (trained / "units").exists() and (trained / "checkpoints" / "final.pt").is_file()
    stdout = _invoke("train", "--opt", "adam:lr=0.01", "--epochs", "2", "--limit", "300",
                     "--record-every", "4", "--dpi", "200", "--out", trained)  # fmt: skip
    assert stdout.startswith("cached: ") and "nothing recomputed" in stdout


def test_a_landscape_and_a_curvature_study_are_redrawn_without_evaluating(trained: Path) -> None:
    landscape = trained / "landscape"
    _invoke("landscape", trained, "--grid", "5", "--data", "subset:60")
    assert "surface3d.plotly.js" in _figures(landscape), "landscapes are interactive by default"
    before = _numbers(landscape)
    _invoke("report", landscape, "--no-interactive")
    assert "surface3d.plotly.js" not in _figures(landscape) and "contour.png" in _figures(landscape)
    assert _numbers(landscape) == before

    curvature = trained / "curvature"
    _invoke("curvature", trained, "--data", "subset:40", "--density")
    before = _numbers(curvature)
    png = Image.open(curvature / "figures" / "density.png").size
    dpi = json.loads((curvature / "style.json").read_text())["dpi"]
    _invoke("report", curvature, "--dpi", "45")
    assert Image.open(curvature / "figures" / "density.png").size[0] == pytest.approx(
        png[0] * 45 / dpi, rel=0.02
    )
    assert _numbers(curvature) == before
    # The training run's report links its landscape and curvature studies.
    page = (trained / "report.html").read_text()
    assert 'href="landscape/report.html"' in page and 'href="curvature/report.html"' in page


def test_report_refuses_a_run_that_has_not_finished(tmp_path: Path) -> None:
    from optiscope.store import RunDir

    RunDir.open(tmp_path / "half", kind="paths", spec={"x": 1})
    result = runner.invoke(app, ["report", str(tmp_path / "half")])
    assert result.exit_code == 2 and "running" in result.stderr and len(result.stderr.splitlines()) == 1


def test_stored_style_sets_the_figure_size_in_inches(tmp_path: Path) -> None:
    """--width/--height re-size every PNG: the width in pixels is width x dpi."""

    from optiscope.experiments.protocol import Style

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["paths", "booth", "--opt", "sgd:lr=0.1", "--steps", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["report", str(out), "--width", "4", "--height", "3", "--dpi", "50",
                                      "--x-limits", "-1,1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out / "figures" / "contour.png") as image:
        assert image.size == (200, 150)
    stored = Style.model_validate_json((out / "style.json").read_text())
    assert stored.x_limits == (-1.0, 1.0) and stored.width == 4.0
    bad = CliRunner().invoke(app, ["report", str(out), "--x-limits", "1,-1"])
    assert bad.exit_code == 2 and "low < high" in bad.output
