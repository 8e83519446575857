"""Tables and seed claims that tell the truth: rank wording follows rho's sign, differences are at
the seed's precision, claims get verdicts computed from the runs, teaching draws only its views."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optiscope.experiments.seed_claims import SeedClaim
from optiscope.experiments.table_study import OurRow, TableSource, findings, run_table
from optiscope.experiments.teaching_study import TeachingStudy, run_teaching_study
from optiscope.viz.report_tables import table


def _train_run(folder: Path, accuracy: float) -> Path:
    folder.mkdir(parents=True)
    metrics = pd.DataFrame({"epoch": [1], "steps": [10], "test_accuracy": [accuracy]})
    metrics.to_parquet(folder / "metrics.parquet")
    (folder / "manifest.json").write_text(json.dumps({"summary": {"status": "complete", "steps": 10}}))
    return folder


def _rank_line(tmp_path: Path, seed: list[float], mine: list[float]) -> str:
    sources = [TableSource(f"row{i}", tmp_path, {"test_accuracy": value}) for i, value in enumerate(seed)]
    ours = [OurRow({"test_accuracy": value}, "complete", 10) for value in mine]
    lines = findings(sources, ours, ["test_accuracy"], classes=None)
    return next(line for line in lines[1:] if line.startswith("test_accuracy: "))


def test_a_negative_rho_is_disagreement_near_zero_no_relation_and_two_rows_no_test(tmp_path: Path) -> None:
    seed, mine = [0.1, 0.2, 0.3, 0.4, 0.5], [0.3, 0.5, 0.4, 0.1, 0.2]
    rho = stats.spearmanr(seed, mine).statistic
    assert rho == pytest.approx(-0.6)  # ranks (3, 5, 4, 1, 2) against (1, ..., 5): 1 - 6*32/120
    line = _rank_line(tmp_path, seed, mine)
    assert "the orderings disagree (Spearman rho = -0.60)" in line, line
    assert "orderings agree" not in line
    flat = [0.1, 0.4, 0.2, 0.5, 0.3]  # ranks (1, 4, 2, 5, 3): rho = 1 - 6*10/120 = 0.5, not "agree"
    assert "no clear relation between the orderings (Spearman rho = 0.50)" in _rank_line(tmp_path, seed, flat)
    two = _rank_line(tmp_path, [0.1, 0.2], [0.9, 0.8])
    assert two == "test_accuracy: with 2 rows a rank correlation is not meaningful.", two


def test_a_difference_within_the_seeds_precision_is_zero(tmp_path: Path) -> None:
    # float32 0.1 read back as a float is 0.10000000149...: 1.49e-09 above the seed's "10.00%".
    stored = float(np.float32(0.1))
    assert stored - 0.1 == pytest.approx(1.49e-09, rel=1e-2)
    sources = [
        TableSource("a", _train_run(tmp_path / "a", stored), {"test_accuracy": 0.1}),
        TableSource("b", _train_run(tmp_path / "b", 0.25), {"test_accuracy": 0.2704}),
        TableSource("c", _train_run(tmp_path / "c", 0.5), {"test_accuracy": "0.4000"}),
    ]
    frame = run_table(sources, ["test_accuracy"], tmp_path / "table", classes=None)
    # The seed wrote 4 decimals (0.2704): a differs by 0 there, b by 0.25 - 0.2704, c by 0.1.
    assert list(frame["test_accuracy (ours - seed)"]) == [0.0, -0.0204, 0.1]
    assert list(frame["test_accuracy (seed)"]) == ["0.1000", "0.2704", "0.4000"]
    markdown = (tmp_path / "table" / "comparison.md").read_text()
    assert "e-09" not in markdown and "| a | 0.1000 | 0.1 | 0 | complete | 10 |" in markdown, markdown


def _paths_step(folder: Path) -> Path:
    """A paths step with three runs on a bowl with its minimum at (0, 0), recorded step by step:
    ``fast`` walks straight in (within 0.5 from step 2), ``slow`` stops at (3, 0), ``lion`` reaches
    the minimum at step 3 and then jumps between x = +0.5 and x = -0.5."""
    fast = [(4.0, 0.0), (1.0, 0.0), (0.2, 0.0), (0.1, 0.0), (0.05, 0.0), (0.02, 0.0), (0.01, 0.0), (0.0, 0.0)]
    slow = [(4.0, 0.0), (3.8, 0.0), (3.6, 0.0), (3.4, 0.0), (3.2, 0.0), (3.1, 0.0), (3.05, 0.0), (3.0, 0.0)]
    lion = [(4.0, 0.0), (2.0, 0.0), (1.0, 0.0), (0.5, 0.0), (-0.5, 0.0), (0.5, 0.0), (-0.5, 0.0), (0.5, 0.0)]
    specs = {"adam:lr=1": fast, "sgd:lr=0.1": slow, "lion:lr=1": lion}
    folder.mkdir()
    runs, paths = [], []
    for run, (spec, points) in enumerate(specs.items()):
        end = points[-1]
        runs.append({"run": run, "spec": spec, "status": "max_steps", "steps": 7, "final_loss": end[0] ** 2,
                     "final_x": end[0], "final_y": end[1]})  # fmt: skip
        paths += [{"run": run, "step": step, "x": x, "y": y} for step, (x, y) in enumerate(points)]
    pd.DataFrame(runs).to_parquet(folder / "runs.parquet")
    pd.DataFrame(paths).to_parquet(folder / "paths.parquet")
    manifest = {"surface": {"minima": [[0.0, 0.0]], "minimum_value": 0.0}, "spec": {"loss_tolerance": 1e-3}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_seed_observation_verdicts_are_computed_from_a_runs_table(tmp_path: Path) -> None:
    step = _paths_step(tmp_path / "03-bowl")

    def row(label: str, spec: str, **claim: object) -> TableSource:
        return TableSource(label, step, {"final_loss": SeedClaim(says=label, **claim)}, spec=spec)

    sources = [
        row("reaches", "adam:lr=1", test="reaches"),  # ends at (0, 0)
        row("stuck", "sgd:lr=0.1", test="reaches", because="too small a step"),  # ends 3 away
        row("faster", "adam:lr=1", test="faster", than=("sgd:lr=0.1", "lion:lr=1")),  # step 2 vs never, 3
        row("slower", "lion:lr=1", test="faster", than=("adam:lr=1",)),  # step 3 vs 2
        row("twitch", "lion:lr=1", test="twitches"),  # last 4 moves all reverse
        row("calm", "adam:lr=1", test="twitches"),  # never turns back
        row("most", "adam:lr=1", test="reaches", share=0.5),  # adam and lion: 2 of 3
        row("all", "adam:lr=1", test="reaches", share=1.0),  # sgd does not: 2 of 3
        row("point", "sgd:lr=0.1", test="reaches", point=(3.2, 0.0)),  # 0.2 from (3.2, 0)
        row("stuck again", "sgd:lr=0.1", test="reaches", because="too small a step"),
    ]
    frame = run_table(sources, ["final_loss"], tmp_path / "04-table", classes=None).set_index("row")
    assert frame["verdict"].to_dict() == {
        "reaches": "holds",
        "stuck": "does not hold",
        "faster": "holds",
        "slower": "does not hold",
        "twitch": "holds",
        "calm": "does not hold",
        "most": "holds",
        "all": "does not hold",
        "point": "holds",
        "stuck again": "does not hold",
    }
    assert frame.loc["stuck", "measured here"] == "ends at (3, 0), 3 from (0, 0); final loss 9"
    assert frame.loc["faster", "measured here"] == (
        "within 0.5 of the minimum at step 2; sgd:lr=0.1 never in 7 steps, lion:lr=1 at step 3"
    )
    assert frame.loc["most", "measured here"].startswith("2 of 3 runs pass (2 needed)")
    notes = (tmp_path / "04-table" / "findings.md").read_text()
    assert '- stuck: the seed says "stuck"; does not reproduce (reaches): ends at (3, 0)' in notes
    assert notes.count("Why: too small a step") == 1 and "Why: as for stuck." in notes
    assert "decided from our runs: 5 hold, 5 do not hold; not reproduced: stuck; slower; calm; all;" in notes
    html = str(table(frame.reset_index()).html)
    assert 'class="verdict-holds status-complete">holds' in html
    assert 'class="verdict-does-not-hold status-failed">does not hold' in html


def test_a_claim_with_no_known_minimum_is_not_measurable(tmp_path: Path) -> None:
    step = _paths_step(tmp_path / "03-saddle")
    manifest = json.loads((step / "manifest.json").read_text())
    manifest["surface"] = {"minima": [], "minimum_value": None}
    (step / "manifest.json").write_text(json.dumps(manifest))
    claim = SeedClaim(says="it converges", test="reaches")
    source = TableSource("saddle", step, {"final_loss": claim}, spec="adam:lr=1")
    frame = run_table([source], ["final_loss"], tmp_path / "04-table", classes=None)
    assert list(frame["verdict"]) == ["not measurable"]
    assert list(frame["measured here"]) == ["the surface has no known minimum to measure from"]


def test_teaching_draws_only_the_views_it_is_given(tmp_path: Path) -> None:
    study = TeachingStudy(optimizers=("adam:lr=0.2",), steps=4, show=(0,), views=("state",))
    run = run_teaching_study(study, tmp_path / "teach")
    figures = sorted(path.name for path in (run.path / "figures").iterdir())
    assert figures == ["state-00-adam.png"], figures
    assert not list((run.path / "data").glob("adagrad*")), "no AdaGrad demo computed when not asked"
