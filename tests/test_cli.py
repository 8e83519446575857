"""The CLI contract: exit codes, one-line errors, files written, cache hits, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from optiscope.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_picture(path: Path, min_side: int = 300) -> None:
    image = imread(path)
    assert image.shape[0] >= min_side and image.shape[1] >= min_side, f"{path} is {image.shape}"
    assert float(image[..., :3].std()) > 0.05, f"{path} looks blank"


def test_optimizers_list_json_holds_the_seed_names() -> None:
    code, out, _ = invoke("optimizers", "list", "--json")
    assert code == 0
    entries = {entry["name"]: entry for entry in json.loads(out)}
    assert len(entries) > 120
    for name in ("sgd", "momentum", "classical_momentum", "nag", "rmsprop", "adagrad", "adadelta", "adam"):
        assert name in entries
    for name in ("adamw", "adamax", "nadam", "lion", "lars", "lamb", "ftrl", "adahessian", "adagrad_full"):
        assert name in entries
    assert "gd" in entries["sgd"]["aliases"] and "nesterov" in entries["nag"]["aliases"]
    assert entries["lion"]["source"] == "pytorch_optimizer" and entries["adam"]["source"] == "torch"
    assert entries["momentum"]["source"] == "optiscope" and entries["momentum"]["elementwise"] is True
    assert entries["lamb"]["elementwise"] is False and entries["adahessian"]["needs_create_graph"] is True
    assert entries["adam"]["notes"], "formula notes must reach `optimizers list`"


def test_surfaces_list_json_holds_seed_and_classic_surfaces() -> None:
    code, out, _ = invoke("surfaces", "list", "--json")
    assert code == 0
    surfaces = {surface["name"]: surface for surface in json.loads(out)}
    for name in (
        "f0",
        "f1",
        "f2",
        "f3",
        "f4",
        "f5",
        "pathological",
        "regression_mse",
        "rosenbrock",
        "himmelblau",
    ):
        assert name in surfaces
    assert surfaces["pathological"]["start"] == [7.0, 7.0]
    assert len(surfaces["himmelblau"]["minima"]) == 4


def test_paths_writes_tables_figures_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = invoke(
        "paths", "rosenbrock", "--opt", "adam:lr=0.05", "--opt", "sgd:lr=0.001", "--start", "-1.5,2",
        "--start", "0.5,-0.5", "--steps", "60", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert f"run directory: {out}" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["kind"] == "paths"
    assert manifest["spec"]["optimizers"] == ["adam:lr=0.05", "sgd:lr=0.001"]
    assert {"python", "torch", "numpy", "optiscope"} <= set(manifest["versions"])
    listed = {entry["path"] for entry in manifest["files"]}
    assert {"paths.parquet", "runs.parquet", "figures/contour.png", "figures/loss.png"} <= listed

    paths = pd.read_parquet(out / "paths.parquet")
    assert list(paths.columns) == [
        "run", "optimizer", "spec", "start_x", "start_y", "step", "x", "y", "loss", "grad_norm",
    ]  # fmt: skip
    x, y = paths["x"].to_numpy(), paths["y"].to_numpy()
    np.testing.assert_allclose(paths["loss"], (1 - x) ** 2 + 100 * (y - x**2) ** 2, rtol=1e-12)
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs.columns) == [
        "run", "optimizer", "spec", "start_x", "start_y", "status", "steps",
        "final_loss", "final_x", "final_y", "steps_to_tolerance", "rule", "outcome_step",
    ]  # fmt: skip
    assert len(runs) == 4 and set(runs["status"]) <= {"converged", "diverged", "max_steps", "left_domain"}
    assert runs.loc[runs["run"] == 0, ["start_x", "start_y"]].to_numpy().tolist() == [[-1.5, 2.0]]
    assert_picture(out / "figures" / "contour.png")
    assert_picture(out / "figures" / "loss.png")
    assert (out / "report.html").exists() and "report.html" in {
        entry["path"] for entry in json.loads((out / "manifest.json").read_text())["files"]
    }
    # Rosenbrock's minimum is 0: steps_to_tolerance is the first step with loss <= 1e-3.
    for run, reached in runs[["run", "steps_to_tolerance"]].itertuples(index=False):
        losses = paths.loc[paths["run"] == run, "loss"].to_numpy()
        hits = (losses <= 1e-3).nonzero()[0]
        assert (pd.isna(reached) and hits.size == 0) or reached == hits[0]


def test_a_second_identical_run_is_a_cache_hit_and_force_recomputes(tmp_path: Path) -> None:
    args = ("paths", "booth", "--opt", "sgd:lr=0.05", "--steps", "20", "--out", str(tmp_path / "r"))
    assert invoke(*args)[0] == 0
    table = tmp_path / "r" / "paths.parquet"
    first = table.stat().st_mtime_ns
    code, out, _ = invoke(*args)
    assert code == 0 and out.startswith("cached:")
    assert table.stat().st_mtime_ns == first
    code, out, _ = invoke(*args, "--force")
    assert code == 0 and "cached" not in out and table.stat().st_mtime_ns != first


def test_a_start_grid_draws_basin_maps(tmp_path: Path) -> None:
    out = tmp_path / "grid"
    code, _, stderr = invoke("paths", "himmelblau", "--opt", "sgd:lr=0.01", "--starts", "6x6",
                             "--steps", "200",
                             "--out", str(out))  # fmt: skip
    assert code == 0, stderr
    assert len(pd.read_parquet(out / "runs.parquet")) == 36
    basins = pd.read_parquet(out / "basins.parquet")
    assert len(basins) == 36 and set(basins["basin"]) <= {-2, -1, 0, 1, 2, 3}
    reached = basins[basins["basin"] >= 0]
    runs = pd.read_parquet(out / "runs.parquet").set_index(["start_x", "start_y"])
    ends = runs.loc[list(zip(reached["start_x"], reached["start_y"], strict=True)), ["final_x", "final_y"]]
    distance = np.hypot(ends["final_x"].to_numpy() - reached["minimum_x"].to_numpy(),
                        ends["final_y"].to_numpy() - reached["minimum_y"].to_numpy())  # fmt: skip
    assert (distance < 0.3).all(), "each start must be labelled with the minimum it actually reached"
    assert_picture(out / "figures" / "basins.png", min_side=200)


def test_expression_surface_from_the_command_line(tmp_path: Path) -> None:
    code, _, stderr = invoke("paths", "x**2 + 3*y**2", "--opt", "sgd:lr=0.1", "--start", "1,1",
                             "--steps", "200",
                             "--tol", "1e-9", "--out", str(tmp_path / "e"))  # fmt: skip
    assert code == 0, stderr
    runs = pd.read_parquet(tmp_path / "e" / "runs.parquet")
    assert runs["status"].tolist() == ["converged"]
    np.testing.assert_allclose(runs[["final_x", "final_y"]].to_numpy(), [[0.0, 0.0]], atol=1e-8)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("paths", "rosenbrok", "--opt", "sgd"), "rosenbrock"),
        (("paths", "booth", "--opt", "adamm"), "adam"),
        (("paths", "booth", "--opt", "adam:lr="), "lr"),
        (("paths", "booth", "--opt", "adam:lr0.1"), "key=value"),
        (("paths", "booth", "--opt", "adam:lr=abc"), "lr"),
        (("paths", "booth", "--opt", "adam:lr=nan"), "lr"),
        (("paths", "booth", "--opt", "adam:betas=(0.9,)"), "betas"),
        (("paths", "booth", "--opt", "adam:lrr=0.1"), "lr"),
        (("paths", "booth", "--opt", "sgd", "--start", "1"), "X,Y"),
        (("paths", "booth", "--opt", "sgd", "--start", "1,nan"), "finite"),
        (("paths", "booth", "--opt", "sgd", "--starts", "5x4"), "grid"),
        (("paths", "booth", "--opt", "sgd", "--steps", "0"), "steps"),
        (("paths", "booth", "--opt", "sgd", "--steps", "-5"), "steps"),
        (("paths", "__import__('os').system('true')", "--opt", "sgd"), "__import__"),
        (("paths", "x.real + y", "--opt", "sgd"), "real"),
        (("paths", "booth", "--opt", "muon"), "muon"),
        (("paths", "booth", "--opt", "sgd", "--noise", "loud"), "noise"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    out = tmp_path / "bad"
    code, _, stderr = invoke(*args, "--out", str(out))
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert needle.lower() in lines[0].lower()
    manifest = out / "manifest.json"
    assert not manifest.exists() or json.loads(manifest.read_text())["status"] != "complete"


def test_unwritable_out_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, stderr = invoke("paths", "booth", "--opt", "sgd", "--out", str(blocker / "run"))
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert str(blocker) in stderr


KILL_ARGS = [
    "paths", "rastrigin", "--starts", "40x40", "--steps", "150", "--out",
]  # fmt: skip
KILL_OPTS = ["sgd:lr=0.001", "adam:lr=0.01", "rmsprop:lr=0.01", "adagrad:lr=0.1", "nadam:lr=0.01",
             "momentum:lr=0.001"]  # fmt: skip


def _cli(out: Path) -> list[str]:
    command = [sys.executable, "-m", "optiscope.cli", *KILL_ARGS, str(out)]
    for spec in KILL_OPTS:
        command += ["--opt", spec]
    return command


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_resumes_and_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    process = subprocess.Popen(_cli(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((killed / "units").glob("*.npz")):
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = sorted(path.name for path in (killed / "units").glob("*.npz"))
    assert 1 <= len(finished) < len(KILL_OPTS), f"kill landed too late or too early: {finished}"
    assert json.loads((killed / "manifest.json").read_text())["status"] == "running"
    assert not (killed / "paths.parquet").exists()

    rerun = subprocess.run(_cli(killed), check=True, capture_output=True, text=True)
    subprocess.run(_cli(clean), check=True, capture_output=True)
    units = f"{len(finished)} stored work unit{'s' if len(finished) != 1 else ''}"
    assert f"resumed ({units} reused) and finished: {killed}" in rerun.stdout, rerun.stdout
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    # The resumed run read the finished units back instead of recomputing them, then pruned them.
    assert manifest["reused_units"] == [name.removesuffix(".npz") for name in finished], "redone units"
    assert not (killed / "units").exists() and manifest["units_pruned"] == len(KILL_OPTS)
    assert not [path for path in killed.rglob("*") if "tmp" in path.name]
    pd.testing.assert_frame_equal(
        pd.read_parquet(killed / "paths.parquet"), pd.read_parquet(clean / "paths.parquet")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(killed / "runs.parquet"), pd.read_parquet(clean / "runs.parquet")
    )


def test_users_own_optimizer_by_import_path_races_the_library(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "my_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "my_mod.py").write_text(
        "from optiscope.optimizers import TeachingOptimizer\n\n"
        "class HalfStep(TeachingOptimizer):\n"
        "    def __init__(self, params, lr=0.1):\n"
        "        super().__init__(params, lr=lr)\n\n"
        "    def update_param(self, p):\n"
        "        p.add_(p.grad, alpha=-self.lr / 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "race"
    code, _, stderr = invoke("paths", "booth", "--opt", "my_pkg.my_mod:HalfStep:lr=0.02",
                             "--opt", "sgd:lr=0.01", "--steps", "30", "--out", str(out))  # fmt: skip
    assert code == 0, stderr
    paths = pd.read_parquet(out / "paths.parquet")
    mine, sgd = (paths[paths["run"] == run][["x", "y"]].to_numpy() for run in (0, 1))
    np.testing.assert_allclose(mine, sgd, rtol=1e-13)  # lr/2 at 0.02 is SGD at 0.01
    code, _, stderr = invoke("paths", "booth", "--opt", "my_pkg.my_mod:Missing", "--out", str(tmp_path / "x"))
    assert code == 2 and "Missing" in stderr


def test_an_internal_error_exits_1_with_one_line(tmp_path: Path, monkeypatch) -> None:
    import optiscope.experiments.paths_study as study

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(study, "run_paths_study", broken)
    code, _, stderr = invoke("paths", "booth", "--opt", "sgd", "--out", str(tmp_path / "r"))
    assert code == 1
    assert stderr.strip().splitlines() == [
        "internal error (RuntimeError): simulated bug. Set OPTISCOPE_DEBUG=1 for the traceback."
    ]


def test_mp4_animations_from_the_command_line(tmp_path: Path) -> None:
    pytest.importorskip("imageio_ffmpeg", reason="MP4 needs the optional imageio-ffmpeg (optiscope[video])")
    out = tmp_path / "video"
    code, _, stderr = invoke("paths", "booth", "--opt", "sgd:lr=0.05", "--steps", "30", "--animate", "--mp4",
                             "--frames", "10", "--fps", "5", "--out", str(out))  # fmt: skip
    assert code == 0, stderr
    for name in ("contour.mp4", "loss.mp4"):
        head = (out / "figures" / name).read_bytes()[:12]
        assert head[4:8] == b"ftyp", f"{name} is not an MP4 file"
    assert (out / "report.html").read_text().count("<video") == 2


def test_train_writes_metrics_figure_report_and_is_cached(tmp_path: Path) -> None:
    out = tmp_path / "train"
    args = ("train", "--opt", "sgd:lr=0.05,momentum=0.9", "--epochs", "3", "--limit", "400",
            "--record-every", "5", "--out", str(out))  # fmt: skip
    code, stdout, stderr = invoke(*args)
    assert code == 0, stderr
    assert stdout.startswith("computed: ") and "status complete after" in stdout
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert metrics["epoch"].tolist() == [1, 2, 3] and metrics["test_accuracy"].iloc[-1] > 0.25  # chance: 0.1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["spec"]["optimizer"] == "sgd:lr=0.05,momentum=0.9"
    assert_picture(out / "figures" / "training.png")
    assert "metrics per epoch" in (out / "report.html").read_text()
    with np.load(out / "path.npz") as path:
        assert path["steps"][0] == 0 and path["steps"][-1] == metrics["steps"].iloc[-1]
    code, stdout, _ = invoke(*args)
    assert code == 0 and stdout.startswith("cached:")


def test_train_reads_a_yaml_config_and_flags_override(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("model: mlp\ndataset: digits\noptimizer: 'adam:lr=0.001'\nepochs: 5\nlimit: 300\n")
    code, _, stderr = invoke("train", str(config), "--epochs", "2", "--out", str(tmp_path / "r"))
    assert code == 0, stderr
    spec = json.loads((tmp_path / "r" / "manifest.json").read_text())["spec"]
    assert spec["optimizer"] == "adam:lr=0.001" and spec["epochs"] == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"), "train-images-idx3-ubyte"),
        (("train", "--dataset", "imagenet"), "imagenet"),
        (("train", "--model", "resnet"), "resnet"),
        (("train", "--opt", "adam:lr=-1"), "lr"),
        (("train", "--epochs", "0"), "epochs"),
    ],
)
def test_train_bad_input_gets_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    code, _, stderr = invoke(*args, "--out", str(tmp_path / "bad"))
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and needle in stderr


def test_train_yaml_with_an_unknown_field_names_it(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("model: mlp\nlearning_rate: 0.1\n")
    code, _, stderr = invoke("train", str(config), "--out", str(tmp_path / "r"))
    assert code == 2 and "learning_rate" in stderr
