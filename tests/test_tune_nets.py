"""Tuning on a real network: a trial is a training run, scored by its test metric after the budget.

The references are the trainer itself, run by hand on the same split with the seed the module
documents (``1000 * study seed + seed id``), and curves written out in the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import optiscope
from optiscope.cli import app
from optiscope.errors import SpecError
from optiscope.experiments.tune_study import TuneConfig
from optiscope.nets.data import load_dataset
from optiscope.nets.trainer import TrainConfig, train
from optiscope.paths import RUN_STATUSES
from optiscope.tuning import search_space
from optiscope.tuning.nets import NetProblem, NetTarget, _carried

pytest.importorskip("optuna", reason="tuning needs optuna: pip install 'optiscope[tune]'")

NET: dict[str, Any] = {
    "model": "mlp",
    "dataset": "digits",
    "limit": 200,
    "batch_size": 32,
    "metric": "test_error",
}
SMALL: dict[str, Any] = {"trials": 2, "seeds": 2, "heldout": 10, "steps": 12, "batch": 2, "sensitivity": 0}
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")


def _by_hand(spec: str, seed: int, steps: int, metric: str = "test_error") -> tuple[list[float], list[int]]:
    """The trainer run directly: the metric after every epoch and the steps taken by then."""
    data = load_dataset("digits", limit=200, seed=0)
    fields = {"epochs": 10, "max_steps": steps, "patience": None, "seed": seed, "record": False}
    config = TrainConfig.build(
        model="mlp", dataset="digits", limit=200, optimizer=spec, batch_size=32, **fields
    )
    metrics = train(config, data=data).metrics
    values = metrics["test_loss"] if metric == "test_loss" else 1.0 - metrics["test_accuracy"]
    return values.tolist(), metrics["steps"].astype(int).tolist()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("tune-net") / "T"
    baselines = {"adam": "adam:lr=0.0005"}
    return optiscope.tune("ignored", ["sgd", "adam"], out=out, net=NET, baselines=baselines, **SMALL)


def test_a_held_out_run_scores_what_the_trainer_gives_by_hand(study: Any) -> None:
    runs = study.run_dir.read_table("evaluations")
    baseline = runs[(runs["phase"] == "heldout_default") & (runs["optimizer"] == "adam")]
    for row in baseline.itertuples():
        errors, _ = _by_hand("adam:lr=0.0005", 1000 * 0 + row.seed, 12)
        assert row.objective == pytest.approx(errors[-1], abs=1e-12), row.seed
        assert row.status == "max_steps" and row.steps == 12
    assert np.isnan(baseline["start_x"]).all()  # a net has no start point, and the table says so


def test_every_optimizer_has_the_same_budget_and_the_winner_is_no_worse(study: Any) -> None:
    trials, best = study.trials, study.best
    assert trials.groupby("optimizer").size().to_dict() == {"adam": 2, "sgd": 2}
    assert set(trials["surface"]) == {"net:mlp/digits/b32/test_error"}
    assert (trials["steps"] == 2 * 12).all()  # two tuning seeds of 12 steps each
    assert (best["tuning_objective"] <= best["default_tuning_objective"]).all()
    adam = best.set_index("optimizer").loc["adam"]
    if adam["trial"] == -1:
        assert adam["spec"].startswith("adam:lr=0.0005")
    # Beside a baseline, the entry's own defaults are evaluated too (on tuning and held-out seeds).
    runs = study.run_dir.read_table("evaluations")
    entry = runs[(runs["phase"] == "heldout_entry_default")]
    assert set(entry["optimizer"]) == {"adam"} and len(entry) == 10
    assert adam["entry_default_objective"] == pytest.approx(entry["objective"].mean())
    assert len(runs[runs["phase"] == "entry_default"]) == 2  # the two tuning seeds
    assert np.isnan(best.set_index("optimizer").loc["sgd", "entry_default_objective"])  # no baseline
    files = {path.name for path in (study.run_dir.path / "figures").iterdir()}
    assert {"leaderboard.png", "profile.png"} <= files and "paths.png" not in files
    findings = (study.run_dir.path / "findings.md").read_text()
    assert "training run of mlp on digits (batch size 32) for 12 optimizer steps" in findings
    assert "baseline spec" in findings


def test_the_target_objective_counts_optimizer_steps() -> None:
    target = NetTarget.build(**NET)
    problem = NetProblem(target, steps=14, seed=0, objective="target", tolerance=0.85, seeds=1)
    scored = problem.run("adam", [{"lr": 0.01}], [0])
    errors, steps = _by_hand("adam:lr=0.01", 0, 14)
    first = next((at for error, at in zip(errors, steps, strict=True) if error <= 0.85), None)
    if first is None:
        assert scored.objective[0] > 14 and scored.reached[0] == -1
    else:
        assert scored.objective[0] == first and scored.reached[0] == first


def test_a_diverged_curve_counts_as_its_start_from_the_evaluation_it_failed_at() -> None:
    diverged, done = RUN_STATUSES.index("diverged"), RUN_STATUSES.index("max_steps")
    curves = np.array([
        [2.0, 1.0, 0.5, np.nan],     # finished after two evaluations: the last value carries on
        [2.0, 1.0, 9e9, np.nan],     # diverged at the second evaluation: the start from there
        [2.0, np.nan, np.nan, np.nan],  # non-finite at the first evaluation
    ])  # fmt: skip
    expected = np.array([[2.0, 1.0, 0.5, 0.5], [2.0, 1.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(_carried(curves, np.array([done, diverged, diverged])), expected)


def test_a_baseline_is_a_point_of_the_space_or_refused() -> None:
    space = search_space("adam")
    values = space.values_of("adam:lr=0.0005,betas=(0.8,0.99)")
    assert values["lr"] == 0.0005 and values["betas.0"] == 0.8 and values["betas.1"] == 0.99
    assert values["eps"] == space.default_values()["eps"]
    with pytest.raises(SpecError, match="not a spec of adam"):
        space.values_of("sgd:lr=0.1")
    with pytest.raises(SpecError, match="fixes"):
        search_space("adam:amsgrad=True").values_of("adam:amsgrad=False")
    with pytest.raises(SpecError, match="baselines name optimizers not tuned"):
        TuneConfig.build(target="booth", optimizers=("adam",), baselines={"sgd": "sgd:lr=0.1"})


def test_surface_studies_keep_their_cache_keys() -> None:
    fields = TuneConfig.build(target="booth", optimizers=("adam",)).model_dump(mode="json")
    assert "net" not in fields and "baselines" not in fields


def test_cli_tunes_a_training_yaml_and_reports_bad_fields_with_their_line(tmp_path: Path) -> None:
    config = tmp_path / "net.yaml"
    config.write_text("model: mlp\ndataset: digits\nlimit: 200\nbatch_size: 32\noptimizer: sgd\n")
    out = tmp_path / "T"
    result = runner.invoke(app, [
        "tune", str(config), "--opt", "sgd", "--trials", "2", "--seeds", "2", "--steps", "8", "--batch", "2",
        "--sensitivity", "0", "--metric", "test_error", "--baseline", "sgd:lr=0.05", "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "net:mlp/digits/b32" in result.output and "baseline" in result.output
    trials = pd.read_parquet(out / "trials.parquet")
    assert sorted(trials["trial"]) == [0, 1] and (trials["steps"] == 2 * 8).all()

    config.write_text("model: mlp\nbatch_size: -3\n")
    result = runner.invoke(
        app, ["tune", str(config), "--opt", "sgd", "--trials", "2", "--out", str(tmp_path / "U")]
    )
    assert (
        result.exit_code == 2
        and f"{config}:2:" in result.output
        and len(result.output.strip().splitlines()) == 1
    )
    result = runner.invoke(app, ["tune", str(tmp_path / "missing.yaml"), "--opt", "sgd", "--trials", "2",
                                 "--out", str(tmp_path / "V")])  # fmt: skip
    assert result.exit_code == 2 and "no training YAML" in result.output


def test_a_suite_mixing_surfaces_and_nets_profiles_every_problem(tmp_path: Path) -> None:
    small = {"trials": 2, "seeds": 2, "steps": 10, "batch": 2, "sensitivity": 0, "tolerance": 0.05}
    result = optiscope.tune("booth+net:mlp/digits/b64", ["sgd", "adam"], out=tmp_path / "T", **small)
    assert set(result.best["surface"]) == {"booth", "net:mlp/digits/b64"}
    runs = result.run_dir.read_table("evaluations")
    held = runs[runs["phase"] == "heldout"]
    # The profile is over (problem, held-out seed): 2 problems x 10 seeds, each optimizer's fraction
    # at tau = 1 is the share of problems where its held-out objective is the best (or ties it,
    # floored at the tolerance), as written out here.
    costs = held.pivot_table(index=["surface", "seed"], columns="optimizer", values="objective")
    floored = np.maximum(costs.to_numpy(), 0.05)
    best_here = floored <= floored.min(axis=1, keepdims=True)
    profile = result.run_dir.read_table("profile")
    at_one = profile[profile["tau"] == 1.0].set_index("optimizer")["fraction"]
    for column, name in enumerate(costs.columns):
        assert at_one[name] == pytest.approx(best_here[:, column].mean()), name
    files = {path.name for path in (result.run_dir.path / "figures").iterdir()}
    assert "paths-booth.png" in files and not any(name.startswith("paths-net") for name in files)
    findings = (result.run_dir.path / "findings.md").read_text()
    assert "On the net problems (net:mlp/digits/b64)" in findings


def test_a_sweep_below_the_winner_s_interval_is_reported_and_a_tie_is_not() -> None:
    from optiscope.experiments.tune_tables import _sweep_beats_search

    best = pd.DataFrame([
        {"surface": "s", "optimizer": "adam", "objective_mean": 0.20, "ci_low": 0.18},
        {"surface": "s", "optimizer": "sgd", "objective_mean": 0.50, "ci_low": 0.45},
    ])  # fmt: skip
    sweep = pd.DataFrame([
        {"surface": "s", "optimizer": "adam", "lr": 0.01, "objective": value} for value in (0.09, 0.11)
    ] + [
        {"surface": "s", "optimizer": "sgd", "lr": 0.1, "objective": value} for value in (0.46, 0.47)
    ])  # fmt: skip
    (line,) = _sweep_beats_search(best, sweep)  # adam's sweep mean 0.1 < 0.18; sgd's 0.465 >= 0.45
    assert line.startswith("- adam: the learning-rate sweep found lr 0.01 with a held-out mean of 0.1,")
    assert _sweep_beats_search(best, None) == []


def test_a_recording_of_your_own_loop_is_tuned_on_its_model_and_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from torch import nn

    from optiscope.nets import record
    from optiscope.nets.data import Dataset

    (tmp_path / "tunemod.py").write_text(
        "from torch import nn\n\n\ndef make_model():\n"
        "    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(80, 4, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    from tunemod import make_model

    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with record(model, every=5, out="runs/mine", factory="tunemod:make_model", data="data.pt") as rec:
        for _ in range(20):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            rec.step()

    args = ["tune", "runs/mine", "--opt", "adam", "--trials", "2", "--seeds", "2", "--steps", "6",
            "--batch", "2", "--sensitivity", "0", "--batch-size", "16", "--baseline", "adam:lr=0.01",
            "--out", "T"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "net:tunemod:make_model/data.pt/b16" in result.output
    # One held-out run of the baseline, by hand: the split, a fresh model, the trainer.
    order = torch.randperm(80, generator=torch.Generator().manual_seed(0))
    train_rows, test_rows = order[:60], order[60:]
    data = Dataset("mine", x[train_rows], y[train_rows], x[test_rows], y[test_rows], 3, (4,), ("0", "1", "2"))
    runs = pd.read_parquet(tmp_path / "T" / "evaluations.parquet")
    row = runs[(runs["phase"] == "heldout_default") & (runs["seed"] == 2)].iloc[0]
    from optiscope.seeding import seed_global_streams

    seed_global_streams(2)  # the run seed (1000 * 0 + seed id 2) seeds the init, as the module says
    fields = {"epochs": 2, "max_steps": 6, "patience": None, "seed": 2, "record": False}
    config = TrainConfig.build(optimizer="adam:lr=0.01", batch_size=16, **fields)
    metrics = train(config, model=make_model(), data=data).metrics
    assert row["objective"] == pytest.approx(float(metrics["test_loss"].iloc[-1]), abs=1e-12)

    result = runner.invoke(app, ["tune", "runs/mine", "--opt", "adam", "--trials", "2", "--data", "nope.txt",
                                 "--out", "U"])  # fmt: skip
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    (tmp_path / "data.pt").unlink()
    torch.save({"x": x, "y": y.float()}, tmp_path / "float.pt")
    result = runner.invoke(app, ["tune", "runs/mine", "--opt", "adam", "--trials", "2", "--data", "float.pt",
                                 "--out", "V"])  # fmt: skip
    assert result.exit_code == 2 and "class indices" in result.output, result.output
    assert not (tmp_path / "V").exists(), "refused before any folder is written"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("net:mlp/digits", "expected net:MODEL/DATASET/bBATCH"),
        ("net:mlp/digits/64", "expected net:MODEL/DATASET/bBATCH"),
        ("net:resnet/digits/b64", "unknown model 'resnet'"),
        ("net:mlp/imagenet/b64", "unknown dataset 'imagenet'"),
        ("booth+net:mlp/digits/b64/accuracy", "metric"),
    ],
)
def test_a_malformed_net_target_is_one_line_and_exit_two(tmp_path: Path, target: str, message: str) -> None:
    result = runner.invoke(
        app, ["tune", target, "--opt", "sgd", "--trials", "2", "--out", str(tmp_path / "T")]
    )
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "T").exists()


def test_a_test_only_run_trains_the_same_and_evaluates_the_test_set_alone(tmp_path: Path) -> None:
    data = load_dataset("digits", limit=200, seed=0)
    fields = {"epochs": 2, "patience": None, "seed": 3, "record": False, "batch_size": 32}
    config = TrainConfig.build(model="mlp", dataset="digits", limit=200, optimizer="adam:lr=0.01", **fields)
    full, light = train(config, data=data), train(config, data=data, test_only=True)
    pd.testing.assert_series_equal(full.metrics["test_loss"], light.metrics["test_loss"])
    for left, right in zip(full.model.parameters(), light.model.parameters(), strict=True):
        assert torch.equal(left, right)  # the evaluations never touch the training
    assert light.metrics[["train_loss", "train_accuracy", "grad_norm"]].isna().all().all()
    with pytest.raises(SpecError, match="in memory"):
        train(config, tmp_path / "run", test_only=True)
