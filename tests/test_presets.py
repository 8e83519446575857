"""Every seed preset runs end to end at --quick sizes; its report holds the seed's tables beside ours.

The demo runs the seed-000 preset at quick sizes, so one demo run serves both the demo's test
and seed 000's (which reruns the preset into the demo's folder: every step is a cache hit).
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from optiscope.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_picture(path: Path, min_side: int = 250) -> None:
    image = imread(path)
    assert min(image.shape[:2]) >= min_side, f"{path} is {image.shape}"
    assert float(image[..., :3].std()) > 0.03, f"{path} looks blank"


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def report_links(folder: Path) -> dict[str, str]:
    """A parent report's links to its children's reports: href -> the child's title."""
    page = (folder / "report.html").read_text()
    return dict(re.findall(r'<h3><a href="([^"]+/report\.html)">(.*?)</a></h3>', page))


def run_quick(name: str, out: Path, *options: str) -> str:
    code, stdout, stderr = invoke("run", f"preset:{name}", "--quick", "--out", str(out), *options)
    assert code == 0, stderr
    assert manifest(out)["status"] == "complete"
    assert_report_holds_every_step(out)
    return stdout


def assert_report_holds_every_step(out: Path) -> None:
    """The study's report links every step's report, titled; each table step's report shows its
    comparison and findings; every report is light."""
    steps = manifest(out)["spec"]["steps"]
    links = report_links(out)
    text = (out / "report.html").read_text()
    for index, step in enumerate(steps):
        folder = f"{index + 1:02d}-{step['name']}"
        assert f"{folder}/report.html" in links, (folder, links)
        assert html.unescape(links[f"{folder}/report.html"]) == (step.get("title") or step["name"])
        page = (out / folder / "report.html").read_text()
        assert len(page.encode()) < 2_000_000, f"{folder}/report.html is over 2 MB"
        if step["kind"] == "table":
            assert 'id="table-comparison"' in page and "Published: " in page, folder
    assert "QUICK RUN (--quick)" in text


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "demo"
    code, stdout, stderr = invoke("demo", "--quick", "--out", str(out))
    assert code == 0, stderr
    return out, stdout


DEMO_STEPS = ["01-seed002-pathological", "02-seed004-f0", "03-seed004-f1", "04-seed004-f2", "05-seed004-f3",
              "06-seed004-f4", "07-seed004-f5", "08-seed004-sgd-lr-sweep", "09-seed004-observations",
              "10-seed003-regression-mse", "11-rosenbrock", "12-basins-himmelblau", "13-teaching",
              "14-seed000-study"]  # fmt: skip
DEMO_PATHS = [step for step in DEMO_STEPS[:12] if not step.endswith("observations")]


@pytest.mark.xdist_group("demo")
def test_the_demo_is_a_preset_the_surface_tour_plus_a_seed000_study(demo: tuple[Path, str]) -> None:
    out, stdout = demo
    assert f"demo written to: {out.resolve()}" in stdout
    assert f"report: {(out / 'report.html').resolve()}" in stdout
    assert manifest(out)["status"] == "complete" and manifest(out)["spec"]["name"] == "demo"
    for study in DEMO_PATHS:
        assert manifest(out / study)["status"] == "complete"
        assert_picture(out / study / "figures" / "contour.png")
    # Animations where the seeds have them: seed 004's rolling ball, seed 003's parameter paths.
    for animation in ("06-seed004-f4/figures/surface3d.gif", "10-seed003-regression-mse/figures/contour.gif"):
        assert (out / animation).stat().st_size > 10_000, animation
    verdicts = pd.read_parquet(out / "09-seed004-observations" / "comparison.parquet")["verdict"]
    assert set(verdicts) <= {"holds", "does not hold", "not measurable"} and len(verdicts) == 9
    # Seed 002's story: Adam reaches the valley of the pathological curvature, plain SGD does not.
    runs = pd.read_parquet(out / "01-seed002-pathological" / "runs.parquet").set_index("optimizer")
    assert runs.loc["adam", "final_loss"] < runs.loc["sgd", "final_loss"]
    # One report that links the tour's steps, and the study's report linking its own steps.
    assert_report_holds_every_step(out)
    study = out / "14-seed000-study"
    assert (
        html.unescape(report_links(study)["04-table1/report.html"])
        == "Table I: test accuracy of GD, SGD and Adam"
    )
    assert "This is a digits proxy, not cifar10" in (study / "report.html").read_text()
    # Light: no report over 2 MB, one plotly.js for the whole tree, and no unit caches left.
    assert len(list(out.rglob("assets/plotly-*.min.js"))) <= 1
    assert not list(out.rglob("units")), "a complete run keeps no unit caches"
    code, again, _ = invoke("demo", "--quick", "--out", str(out))
    assert code == 0 and again.count(": reused -> ") == len(DEMO_STEPS)


@pytest.mark.xdist_group("demo")
def test_run_preset_demo_is_the_demo(demo: tuple[Path, str]) -> None:
    out = demo[0]
    before = (manifest(out)["spec_hash"], (out / "report.html").read_text())
    code, stdout, stderr = invoke("run", "preset:demo", "--quick", "--out", str(out))
    assert code == 0, stderr
    assert stdout.count(": reused -> ") == len(DEMO_STEPS), "the same study: every step is a cache hit"
    assert (manifest(out)["spec_hash"], (out / "report.html").read_text()) == before


@pytest.mark.xdist_group("demo")
def test_seed000_quick_tables_figures_and_findings(demo: tuple[Path, str]) -> None:
    out = demo[0] / "14-seed000-study"
    # The demo ran exactly this preset, on digits (the preset's default is the CIFAR-10 proxy).
    stdout = run_quick("seed000-visual-analysis", out, "--dataset", "digits")
    assert stdout.count(": reused -> ") == 17, stdout
    table1 = pd.read_parquet(out / "04-table1" / "comparison.parquet").set_index("row")
    assert list(table1["test_accuracy (seed)"]) == ["0.3833", "0.4816", "0.4765"]
    for label, step in (("GD", "01-gd"), ("SGD", "02-sgd"), ("Adam", "03-adam")):
        last = pd.read_parquet(out / step / "metrics.parquet").iloc[-1]
        assert table1.loc[label, "test_accuracy (ours)"] == pytest.approx(float(last["test_accuracy"]))
        assert int(last["steps"]) == 60  # quick: 60 optimizer steps each, the seed's budget shape
    table2 = pd.read_parquet(out / "07-table2-vs-seed" / "comparison.parquet")
    assert len(table2) == 18 and set(table2["status"]) <= {"complete", "diverged"}
    findings = (out / "07-table2-vs-seed" / "findings.md").read_text()
    assert "Published: seed 000, Table II: CIFAR-10" in findings
    assert "Ours: digits: 1,347 train / 450 test" in findings and "Spearman rho" in findings
    for figure in ("05-training/figures/training.png", "05-training/figures/per_class.png",
                   "06-table2/figures/sweep.png", "08-fig1-2-batches/figures/panels.png",
                   "08-fig1-2-batches/figures/panels3d.png", "09-fig3-optimizers/figures/panels.png",
                   "10-fig4-learning-rates/figures/panels.png", "12-fig5-batch-sizes/figures/panels.png",
                   "14-fig6-momentum/figures/panels.png", "15-fig6-losses/figures/training.png"):  # fmt: skip
        assert_picture(out / figure)
    # Every panel a heading names is there in quick mode too (figs. 1-2, 4, 5); a run that diverged
    # has no landscape, and the step says so instead of drawing it.
    fig12 = pd.read_parquet(out / "08-fig1-2-batches" / "summary.parquet")
    assert list(fig12["cell"]) == ["sgd, batch:1", "sgd, batch:64", "sgd, batch:256", "sgd, train"]
    fig5 = pd.read_parquet(out / "12-fig5-batch-sizes" / "summary.parquet")
    assert list(fig5["cell"]) == ["batch 1", "batch 64", "batch 256"]
    fig4 = out / "10-fig4-learning-rates"
    drawn = set(pd.read_parquet(fig4 / "summary.parquet")["cell"])
    noted = (fig4 / "findings.md").read_text() if (fig4 / "findings.md").is_file() else ""
    for label in ("lr 2", "lr 2e-3", "lr 1e-5"):
        assert label in drawn or f"{label}: the run diverged" in noted, label
    # The paths drawn on PCA planes: the planes capture most of each path.
    summary = pd.read_parquet(out / "09-fig3-optimizers" / "summary.parquet")
    assert len(summary) == 3 and (summary["path_captured"] > 0.9).all(), summary
    # The seed's limitation answered: each optimizer tuned with the same budget, the seed's own
    # setting as its baseline on the same held-out seeds (quick: 4 trials of 30 steps).
    best = pd.read_parquet(out / "16-tuned" / "best.parquet").set_index("optimizer")
    assert sorted(best.index) == ["adam", "classical_momentum"]
    trials = pd.read_parquet(out / "16-tuned" / "trials.parquet")
    assert trials.groupby("optimizer").size().to_dict() == {"adam": 4, "classical_momentum": 4}
    assert (trials["steps"] == 2 * 30).all()  # two tuning seeds of 30 steps each
    assert (best["tuning_objective"] <= best["default_tuning_objective"]).all()
    runs = pd.read_parquet(out / "16-tuned" / "evaluations.parquet")
    baseline = runs[(runs["phase"] == "heldout_default") & (runs["optimizer"] == "adam")]
    assert len(baseline) == 10 and best.loc["adam", "default_objective"] == pytest.approx(
        baseline["objective"].mean()
    )
    gd = pd.read_parquet(out / "17-tuned-gd" / "best.parquet")
    assert list(gd["surface"]) == ["net:mlp/digits/b0/test_error"]
    # One optimizer has no one to be profiled against: no profile figure, the leaderboard drawn.
    assert sorted(path.name for path in (out / "17-tuned-gd" / "figures").iterdir()) == ["leaderboard.png"]


def test_seed001_quick_curvature_and_the_eq1_optimizer(tmp_path: Path) -> None:
    out = tmp_path / "s1"
    run_quick("seed001-second-order", out, "--dataset", "digits")  # the mechanics; the proxy: below
    table = pd.read_parquet(out / "06-table1" / "comparison.parquet").set_index("row")
    assert list(table.index) == ["SGD", "AdaGrad", "Adam", "AdaHessian", "eq. (1)"]
    assert table.loc["AdaHessian", "test_accuracy (seed)"] == "0.9910"  # at the column's stated precision
    spectrum = pd.read_parquet(out / "08-hessian" / "spectrum.parquet")
    assert len(spectrum) == 5 and (spectrum["lambda1"] >= spectrum["lambda2"]).all()
    for step in ("01-sgd", "04-adahessian", "05-eigenspace"):
        eigs = pd.read_parquet(out / step / "eigs.parquet")
        assert len(eigs) == 3 and (eigs["ratio"] == eigs["lambda1"] / eigs["lambda2"]).all()
    for figure in ("07-training/figures/training.png", "07-training/figures/eigen_ratio.png",
                   "08-hessian/figures/along_top1.png", "08-hessian/01-SGD/figures/along_top2_heatmap.png",
                   "08-hessian/04-AdaHessian/figures/along_top2_3d.png"):  # fmt: skip
        assert_picture(out / figure)
    assert "MNIST (60,000 train / 10,000 test), LeNet-5" in (out / "06-table1" / "findings.md").read_text()


def test_seed002_and_seed003_quick(tmp_path: Path) -> None:
    run_quick("seed002-from-scratch", tmp_path / "s2")
    table = pd.read_parquet(tmp_path / "s2" / "03-observations" / "comparison.parquet").set_index("row")
    assert table.loc["Adam", "final_loss (ours)"] < table.loc["SGD", "final_loss (ours)"]
    assert (tmp_path / "s2" / "02-steps-1000" / "figures" / "contour.gif").stat().st_size > 10_000
    run_quick("seed003-regression", tmp_path / "s3")
    runs = pd.read_parquet(tmp_path / "s3" / "03-mse-lr1" / "runs.parquet")
    assert set(runs["optimizer"]) == {"sgd", "classical_momentum", "adam", "lamb", "lamb_keras"}
    assert_picture(tmp_path / "s3" / "01-surfaces" / "figures" / "regression-surfaces.png")
    assert not (tmp_path / "s3" / "01-surfaces" / "figures" / "adagrad-full-vs-diagonal.png").exists()
    # The seed's "LAMB converges smoothly at lr 1" is decided from our runs, for both LAMBs.
    table = pd.read_parquet(tmp_path / "s3" / "06-observations" / "comparison.parquet").set_index("row")
    lamb = [row for row in table.index if row.startswith("LAMB")]
    assert len(lamb) == 2 and set(table.loc[lamb, "verdict"]) == {"does not hold"}
    assert "does not reproduce" in (tmp_path / "s3" / "06-observations" / "findings.md").read_text()


def test_seed004_quick_surfaces_sweeps_and_the_adagrad_timing(tmp_path: Path) -> None:
    out = tmp_path / "s4"
    run_quick("seed004-surfaces", out)
    folders = sorted(path.name for path in out.iterdir() if (path / "manifest.json").exists())
    assert len(folders) == 29 and folders[2] == "03-f0-all" and folders[-1] == "29-adagrad-timing"
    runs = pd.read_parquet(out / "07-f4-all" / "runs.parquet")
    assert len(runs) == 10 and set(zip(runs["start_x"], runs["start_y"], strict=True)) == {(-7.5, -1.0)}
    assert (out / "03-f0-all" / "figures" / "surface3d.gif").exists()
    # The seed ran Keras' optimizers: the preset runs the Keras variants, and lists both settings.
    keras = {"rmsprop_keras", "lamb_keras", "ftrl_keras", "adagrad_keras"}
    assert keras <= set(runs["optimizer"].astype(str))
    settings = pd.read_parquet(out / "01-settings" / "settings.parquet").set_index("optimizer")
    assert "rho=0.9" in settings.loc["RMSprop", "as the seed ran it"]
    assert "alpha=0.99" in settings.loc["RMSprop", "library default"]
    library = pd.read_parquet(out / "02-f0-library-defaults" / "runs.parquet")
    assert "lamb" in set(library["optimizer"].astype(str))
    timing = pd.read_parquet(out / "29-adagrad-timing" / "timing.parquet").set_index("method")
    full, diagonal = timing["seconds"].iloc[0], timing["seconds"].iloc[-1]
    assert full > diagonal  # the full matrix costs more, as the seed found (27.4 s vs 619 us there)
    assert "published_seconds" in timing.columns
    # The seed's observations, each with a verdict computed from the runs; the teaching step
    # shows seed 004's figures only.
    observations = pd.read_parquet(out / "27-observations" / "comparison.parquet")
    assert set(observations["verdict"]) <= {"holds", "does not hold", "not measurable"}
    assert len(observations) >= 20 and observations["measured here"].str.len().min() > 0
    figures = {path.name for path in (out / "28-adagrad-full-vs-diagonal" / "figures").iterdir()}
    assert "adagrad-full-vs-diagonal.png" in figures and "regression-surfaces.png" not in figures


def _kill_after_first_step(out: Path) -> None:
    command = [sys.executable, "-m", "optiscope.cli", "run", "preset:seed002-from-scratch", "--quick",
               "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "01-steps-50" / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if first.exists() and json.loads(first.read_text())["status"] == "complete":
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_a_killed_study_restarts_where_it_stopped(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    _kill_after_first_step(killed)
    assert manifest(killed)["status"] != "complete"
    stdout = run_quick("seed002-from-scratch", killed)
    assert "steps-50: reused" in stdout
    run_quick("seed002-from-scratch", clean)
    for step in ("01-steps-50", "02-steps-1000"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(killed / step / "paths.parquet"), pd.read_parquet(clean / step / "paths.parquet")
        )


STUDY = """\
name: edit-me
title: Edited study
steps:
  - {kind: paths, name: a, surface: booth, optimizers: ["sgd:lr=0.05"], steps: 20}
  - {kind: paths, name: b, surface: booth, optimizers: ["adam:lr=0.1"], steps: 20}
  - kind: table
    name: t
    source: nowhere
    metrics: [final_loss]
    rows: [{label: A, run: "a[sgd:lr=0.05]"}, {label: B, run: "b[adam:lr=0.1]"}]
"""


def test_an_edited_study_reruns_only_the_changed_step_and_what_reads_it(tmp_path: Path) -> None:
    path, out = tmp_path / "study.yaml", tmp_path / "out"
    path.write_text(STUDY)
    code, stdout, stderr = invoke("run", str(path), "--out", str(out))
    assert code == 0, stderr
    before = pd.read_parquet(out / "03-t" / "comparison.parquet")
    path.write_text(STUDY.replace("steps: 20}\n  - kind: table", "steps: 5}\n  - kind: table"))
    code, stdout, stderr = invoke("run", str(path), "--out", str(out))
    assert code == 0, stderr
    assert "a: reused" in stdout and "b: done" in stdout and "t: done" in stdout, stdout
    after = pd.read_parquet(out / "03-t" / "comparison.parquet")
    assert after.loc[0, "final_loss (ours)"] == before.loc[0, "final_loss (ours)"]
    assert after.loc[1, "steps"] == 5 and before.loc[1, "steps"] == 20
    # A renamed step gets a new folder; the old one stays on disk but leaves the report.
    path.write_text(STUDY.replace("name: b,", "name: c,").replace('run: "b[', 'run: "c['))
    code, stdout, stderr = invoke("run", str(path), "--out", str(out))
    assert code == 0 and "c: done" in stdout, stderr
    links = report_links(out)
    assert "02-c/report.html" in links and "02-b/report.html" not in links


def test_a_broken_study_is_one_line_exit_2_and_keeps_finished_steps(tmp_path: Path) -> None:
    path, out = tmp_path / "study.yaml", tmp_path / "out"
    path.write_text(STUDY.replace("metrics: [final_loss]", "metrics: [test_accuracy]"))
    code, _, stderr = invoke("run", str(path), "--out", str(out))
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert "has no ['test_accuracy']" in stderr
    assert manifest(out / "01-a")["status"] == "complete" and manifest(out / "02-b")["status"] == "complete"
    path.write_text(STUDY)  # fixed: the finished steps are reused, the table is made
    code, stdout, _ = invoke("run", str(path), "--out", str(out))
    assert code == 0 and "a: reused" in stdout and "b: reused" in stdout and "t: done" in stdout, stdout
    path.write_text(STUDY.replace("surface: booth", "surface: nowhere", 1))
    code, _, stderr = invoke("run", str(path), "--out", str(out))
    assert code == 2 and "unknown surface 'nowhere'" in stderr and "study.yaml:4" in stderr, stderr


def test_presets_list_and_show(tmp_path: Path) -> None:
    code, stdout, _ = invoke("presets", "list", "--json")
    rows = {row["name"]: row for row in json.loads(stdout)}
    assert code == 0 and len(rows) == 6 and rows["seed004-surfaces"]["steps"] == 29
    assert rows["demo"]["steps"] == 14 and "experiment" in rows["demo"]["kinds"]
    code, stdout, _ = invoke("presets", "show", "seed002-from-scratch")
    assert code == 0 and stdout.startswith("# Seed 002")
    code, _, stderr = invoke("presets", "show", "seed999")
    assert code == 2 and "unknown preset 'seed999'" in stderr


CIFAR_STUDY = """\
name: on-cifar
title: The seed's own data set
seed_dataset: cifar10
steps:
  - kind: train
    name: sgd
    optimizer: "sgd:lr=0.01"
    budget: {dataset: cifar10, steps: 5}
    record: false
  - kind: table
    name: t
    source: "a seed, CIFAR-10"
    metrics: [test_accuracy]
    rows: [{label: SGD, run: sgd, published: {test_accuracy: 0.5}}]
"""


def test_dataset_override_runs_the_seeds_own_data_from_its_files(tmp_path: Path, cifar_dir) -> None:
    data_dir = cifar_dir[0]  # tiny CIFAR-10 files in the real python-batch format
    path, out = tmp_path / "study.yaml", tmp_path / "out"
    path.write_text(CIFAR_STUDY)
    args = ("run", str(path), "--dataset", "cifar10", "--data-dir", str(data_dir), "--out", str(out))
    code, _, stderr = invoke(*args)
    assert code == 0, stderr
    spec = manifest(out / "01-sgd")["spec"]
    assert (spec["dataset"], spec["data_dir"], spec["max_steps"]) == ("cifar10", str(data_dir), 5)
    findings = (out / "02-t" / "findings.md").read_text()
    assert "Ours: cifar10: 20 train / 6 test, 3x32x32, 10 classes." in findings
    assert "proxy" not in findings  # the seed's own data: nothing to warn about
    code, _, stderr = invoke("run", str(path), "--dataset", "cifar10", "--data-dir", str(tmp_path / "no"),
                             "--out", str(tmp_path / "out2"))  # fmt: skip
    assert code == 2 and "CIFAR-10" in stderr and len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize(
    ("preset", "proxy", "shape"),
    [
        ("seed000-visual-analysis", "proxy-cifar10", "3x32x32"),
        ("seed001-second-order", "proxy-mnist", "1x28x28"),
    ],
)
def test_the_seed_presets_default_to_the_calibrated_proxy_and_say_so(
    preset: str, proxy: str, shape: str
) -> None:
    """Without --dataset every training step of seeds 000/001 runs the offline proxy with the
    seed's input shape, and the tables' context names it a proxy and gives its calibration."""
    from optiscope.experiments.experiment_spec import resolve
    from optiscope.experiments.experiment_study import _data_context
    from optiscope.experiments.presets import load_source

    experiment = resolve(load_source(f"preset:{preset}"))
    training = [step for step in experiment.steps if step.kind in ("train", "sweep")]
    assert training and all(
        (step.dataset if step.kind == "train" else step.base["dataset"]) == proxy for step in training
    )
    context = " ".join(_data_context(experiment))
    assert f"{proxy}: " in context and shape in context
    assert f"an offline proxy of {experiment.seed_dataset}" in context and "calibrated with" in context
    digits = " ".join(_data_context(resolve(load_source(f"preset:{preset}"), dataset="digits")))
    assert "This is a digits proxy" in digits and "calibrated" not in digits
