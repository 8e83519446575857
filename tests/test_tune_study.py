"""The tune study end to end: equal budgets, tables, figures, resume after a kill, CLI, Ray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import optiscope
from optiscope.cli import app
from optiscope.experiments import tune_study
from optiscope.experiments.tune_study import TuneConfig
from optiscope.viz.tune_figures import leaderboard_figure, profile_figure

pytest.importorskip("optuna", reason="tuning needs optuna: pip install 'optiscope[tune]'")

SMALL: dict[str, Any] = {"trials": 6, "seeds": 2, "steps": 40, "batch": 3, "sensitivity": 5, "keep_paths": 2}
OPTIMIZERS = ["sgd", "adam"]
runner = CliRunner()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tune_study.TuneResult:
    return optiscope.tune("booth", OPTIMIZERS, out=tmp_path_factory.mktemp("tune") / "T", **SMALL)


def test_every_optimizer_gets_the_same_trials_seeds_and_steps(study: tune_study.TuneResult) -> None:
    trials = study.trials
    assert trials.groupby("optimizer").size().to_dict() == {"adam": 6, "sgd": 6}
    assert sorted(trials["trial"].unique()) == list(range(6))
    runs = study.run_dir.read_table("evaluations")
    tuning = runs[runs["phase"] == "tuning"]
    assert tuning.groupby("optimizer").size().to_dict() == {"adam": 12, "sgd": 12}  # 6 trials x 2 seeds
    assert (tuning["steps"] <= 40).all() and set(tuning["seed"]) == {0, 1}
    # A trial's objective is the mean of its runs' scores over the tuning seeds.
    means = tuning.groupby(["optimizer", "trial"])["objective"].mean()
    merged = trials.set_index(["optimizer", "trial"])["objective"]
    np.testing.assert_allclose(merged.sort_index().to_numpy(), means.sort_index().to_numpy(), rtol=1e-12)
    assert {"optimizer", "trial", "params", "seed", "objective", "status", "steps", "seconds"} <= set(trials)
    assert all(set(json.loads(text)) >= {"lr"} for text in trials["params"])


def test_best_table_reports_held_out_statistics_beside_the_default(study: tune_study.TuneResult) -> None:
    best = study.best
    assert list(best["optimizer"]) == sorted(
        OPTIMIZERS, key=lambda n: best.set_index("optimizer").loc[n, "rank"]
    )
    assert (best["tuning_objective"] <= best["default_tuning_objective"]).all()
    assert ((best["ci_low"] <= best["objective_mean"]) & (best["objective_mean"] <= best["ci_high"])).all()
    assert best["success_rate"].between(0, 1).all() and (best["success_low"] <= best["success_rate"]).all()
    runs = study.run_dir.read_table("evaluations")
    held = runs[runs["phase"] == "heldout"]
    assert held.groupby("optimizer").size().to_dict() == {"adam": 10, "sgd": 10}
    assert set(held["seed"]) == set(range(2, 12))  # never seen by the search
    for row in best.itertuples():
        mine = held[held["optimizer"] == row.optimizer]
        assert row.objective_mean == pytest.approx(mine["objective"].mean(), rel=1e-12)
        assert row.success_rate == pytest.approx((mine["reached_step"] >= 0).mean())
    profile = study.run_dir.read_table("profile")
    assert profile.groupby("optimizer")["fraction"].max().eq(1.0).any()  # someone is best on each problem


def test_figures_and_findings_are_written(study: tune_study.TuneResult) -> None:
    figures = {path.name for path in (study.run_dir.path / "figures").iterdir()}
    assert figures == {"leaderboard.png", "paths.png", "profile.png", "sensitivity.png", "success_map.png"}
    findings = (study.run_dir.path / "findings.md").read_text()
    assert "Equal budgets: every optimizer had 6 trials" in findings and "| rank |" in findings
    paths = study.run_dir.read_table("tuned_paths")
    assert (
        set(paths["version"]) == {"tuned", "default"}
        and paths.groupby("optimizer")["seed"].nunique().eq(2).all()
    )


def test_a_killed_study_resumes_without_redoing_finished_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, study: tune_study.TuneResult
) -> None:
    real = tune_study.run_task
    computed: list[str] = []

    def dies_after_three(task: Any) -> Any:
        if len(computed) == 3:
            raise RuntimeError("killed")
        computed.append(type(task).__name__)
        return real(task)

    monkeypatch.setattr(tune_study, "run_task", dies_after_three)
    with pytest.raises(RuntimeError, match="killed"):
        optiscope.tune("booth", OPTIMIZERS, out=tmp_path / "T", **SMALL)
    assert len(list((tmp_path / "T" / "units").glob("*.npz"))) == 3

    def counts(task: Any) -> Any:
        computed.append(type(task).__name__)
        return real(task)

    monkeypatch.setattr(tune_study, "run_task", counts)
    resumed = optiscope.tune("booth", OPTIMIZERS, out=tmp_path / "T", **SMALL)
    total = 2 * (1 + 2 + 1 + 1)  # per optimizer: default, two batches, held-out, sensitivity
    assert len(computed) == total, f"{len(computed) - 3} units computed on resume, {total - 3} expected"
    reused = {"s00-o00-default", "s00-o01-default", "s00-o00-batch0000"}  # the first three units
    assert set(resumed.run_dir.manifest["reused_units"]) == reused
    pd.testing.assert_frame_equal(
        resumed.trials.drop(columns="seconds"), study.trials.drop(columns="seconds")
    )
    pd.testing.assert_frame_equal(resumed.best, study.best)


def test_cli_tune_exits_zero_and_prints_the_leaderboard(tmp_path: Path) -> None:
    out = tmp_path / "T"
    result = runner.invoke(
        app,
        ["tune", "booth", "--opt", "sgd", "--opt", "adam", "--trials", "4", "--seeds", "2", "--steps", "30",
         "--batch", "2", "--space", "adam.lr=1e-3:0.5:log", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "computed" in result.output and "1. " in result.output and "2. " in result.output
    trials = pd.read_parquet(out / "trials.parquet")
    assert trials.groupby("optimizer").size().to_dict() == {"adam": 4, "sgd": 4}
    adam = [json.loads(text)["lr"] for text in trials.loc[trials["optimizer"] == "adam", "params"]]
    assert all(1e-3 <= lr <= 0.5 for lr in adam)
    assert TuneConfig(**json.loads((out / "manifest.json").read_text())["spec"]).space == {
        "adam": {"lr": (1e-3, 0.5, "log")}
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--objective", "bogus"], "objective"),
        (["--executor", "local", "--ray-address", "127.0.0.1:6379"], "--ray-address needs --executor ray"),
        (["--heldout", "3"], "heldout"),
        (["--space", "adam.gamma=0.1:0.2"], "no hyperparameter 'gamma'"),
    ],
)
def test_cli_tune_bad_input_is_one_line_and_exit_two(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    base = ["tune", "booth", "--opt", "adam", "--trials", "2", "--out", str(tmp_path / "T")]
    result = runner.invoke(app, base + arguments)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_ray_executor_gives_the_local_results(tmp_path: Path) -> None:
    """A local Ray on loopback runs the units; the tables equal the in-process ones (the Ray start
    and its workers' imports take most of this test's time)."""
    pytest.importorskip("ray", reason="the Ray executor needs ray: pip install 'optiscope[ray]'")
    small = {**SMALL, "trials": 4, "batch": 4, "sensitivity": 0}
    local = optiscope.tune("booth", OPTIMIZERS, out=tmp_path / "local", **small)
    remote = optiscope.tune("booth", OPTIMIZERS, out=tmp_path / "ray", executor="ray", **small)
    pd.testing.assert_frame_equal(remote.trials.drop(columns="seconds"), local.trials.drop(columns="seconds"))
    pd.testing.assert_frame_equal(remote.best, local.best)


def test_figures_give_each_optimizer_its_own_colour_and_profiles_rise(study: tune_study.TuneResult) -> None:
    best, profile = study.best, study.run_dir.read_table("profile")
    figure = leaderboard_figure(best, OPTIMIZERS, title="booth", objective="final")
    axes = figure.axes[0]
    labels = dict(zip(axes.get_yticks(), (label.get_text() for label in axes.get_yticklabels()), strict=True))
    top_down = [labels[tick] for tick in sorted(labels, reverse=True)]  # rank 1 drawn on top
    assert top_down == [f"{row.rank}. {row.optimizer}" for row in best.sort_values("rank").itertuples()]
    colours = {line.get_color() for line in axes.lines if line.get_marker() == "o"}
    assert len(colours) == len(OPTIMIZERS)
    figure = profile_figure(profile, OPTIMIZERS, problems=10)
    lines = figure.axes[0].get_lines()
    assert len({line.get_color() for line in lines}) == len(OPTIMIZERS)
    for line in lines:
        fractions = np.asarray(line.get_ydata(), dtype=float)
        assert (np.diff(fractions) >= 0).all() and fractions.min() >= 0 and fractions.max() <= 1


def test_a_tune_step_in_a_study_yaml_runs_the_same_study_as_the_command(tmp_path: Path) -> None:
    study = tmp_path / "study.yaml"
    study.write_text(
        "name: tune-yaml\ntitle: a tune step\nsteps:\n"
        "  - {kind: tune, name: booth, target: booth, optimizers: [sgd, adam],\n"
        "     trials: 4, seeds: 2, steps: 30}\n"
    )
    result = runner.invoke(app, ["run", str(study), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    trials = pd.read_parquet(tmp_path / "s" / "01-booth" / "trials.parquet")
    assert trials.groupby("optimizer").size().to_dict() == {"adam": 4, "sgd": 4}
    config = TuneConfig.build(target="booth", optimizers=("sgd", "adam"), trials=4, seeds=2, steps=30)
    spec = json.loads((tmp_path / "s" / "01-booth" / "manifest.json").read_text())["spec"]
    assert spec == tune_study.TUNE.spec(config)
