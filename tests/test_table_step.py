"""A seed's table beside ours: values read from stored runs, differences and findings from numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optiscope.errors import SpecError
from optiscope.experiments.table_study import (
    OurRow,
    TableSource,
    comparison_frame,
    findings,
    read_ours,
    run_table,
)


def _fake_train_run(folder: Path, accuracy: float, status: str = "complete") -> Path:
    folder.mkdir(parents=True)
    metrics = pd.DataFrame({"epoch": [1, 2], "steps": [5, 10], "test_accuracy": [0.05, accuracy]})
    metrics.to_parquet(folder / "metrics.parquet")
    (folder / "manifest.json").write_text(json.dumps({"summary": {"status": status, "steps": 10}}))
    return folder


def _sources(tmp_path: Path, ours: list[float], published: list[float]) -> list[TableSource]:
    return [
        TableSource(f"row{i}", _fake_train_run(tmp_path / f"r{i}", mine), {"test_accuracy": seed})
        for i, (mine, seed) in enumerate(zip(ours, published, strict=True))
    ]


def test_ours_is_the_last_epoch_and_the_difference_is_ours_minus_the_seeds(tmp_path: Path) -> None:
    sources = _sources(tmp_path, [0.9, 0.5, 0.7], [0.48, 0.10, 0.35])
    ours = [read_ours(source, ["test_accuracy"]) for source in sources]
    assert [row.values["test_accuracy"] for row in ours] == [0.9, 0.5, 0.7]
    frame = comparison_frame(sources, ours, ["test_accuracy"])
    np.testing.assert_allclose(frame["test_accuracy (ours - seed)"], [0.42, 0.40, 0.35])
    # The seed wrote two decimals (0.48, 0.35), so its 0.1 is 0.10.
    assert list(frame["test_accuracy (seed)"]) == ["0.48", "0.10", "0.35"]
    assert list(frame["status"]) == ["complete"] * 3 and list(frame["steps"]) == [10] * 3


def test_findings_state_the_mean_gap_the_rank_agreement_and_the_best_rows(tmp_path: Path) -> None:
    seed, mine = [0.48, 0.10, 0.35], [0.9, 0.5, 0.7]
    sources = _sources(tmp_path, mine, seed)
    ours = [OurRow({"test_accuracy": value}, "complete", 10) for value in mine]
    lines = findings(sources, ours, ["test_accuracy"], classes=10, context=["Ours: digits."])
    assert lines[0] == "Ours: digits."
    mean = np.mean(np.subtract(mine, seed))  # +0.39, largest gap 0.42 on row0, at 2 decimals
    assert f"higher than the seed's by {mean:+.2f} on average at the seed's 2 decimals" in lines[1]
    assert "(largest gap 0.42, row row0)" in lines[1]
    # Same order on both sides (row0 > row2 > row1): Spearman's rho is exactly 1.
    assert (
        "the orderings agree (Spearman rho = 1.00); the seed's best row is row0 (0.48), the same row (0.9)"
        in lines[2]
    )
    # 0.10 <= 1.2 / 10 is at chance in the seed; none of ours is.
    assert "seed 1 rows, ours 0" in lines[3] and "only the seed: row1" in lines[3]


def test_reversed_orderings_give_rho_minus_one_and_name_both_best_rows(tmp_path: Path) -> None:
    seed, mine = [0.2, 0.3, 0.4], [0.9, 0.8, 0.7]
    sources = _sources(tmp_path, mine, seed)
    ours = [OurRow({"test_accuracy": value}, "complete", 10) for value in mine]
    text = " ".join(findings(sources, ours, ["test_accuracy"], classes=None))
    assert "the orderings disagree (Spearman rho = -1.00)" in text
    assert "the seed's best row is row2 (0.4), row0 here (0.9)" in text
    assert "at chance" not in text  # no class count, no chance statement


def test_diverged_rows_are_results_and_text_claims_are_quoted(tmp_path: Path) -> None:
    sources = [
        TableSource(
            "sgd", _fake_train_run(tmp_path / "a", 0.1, "diverged"), {"test_accuracy": "it struggles"}
        ),
    ]
    ours = [read_ours(source, ["test_accuracy"]) for source in sources]
    lines = findings(sources, ours, ["test_accuracy"], classes=10)
    assert lines == [
        'sgd: the seed says "it struggles"; our test_accuracy is 0.1 '
        "(not tested: the table gives this statement no test).",
        "Diverged here (recorded, not a failure): sgd.",
    ]


def test_a_paths_row_reads_its_optimizers_run(tmp_path: Path) -> None:
    folder = tmp_path / "paths"
    folder.mkdir()
    runs = pd.DataFrame(
        {
            "spec": ["sgd:lr=1", "adam:lr=1"],
            "status": ["max_steps", "converged"],
            "steps": [100, 37],
            "final_loss": [0.5, 1e-9],
        }
    )
    runs.to_parquet(folder / "runs.parquet")
    row = read_ours(TableSource("Adam", folder, {}, spec="adam:lr=1"), ["final_loss"])
    assert row == OurRow({"final_loss": 1e-9}, "converged", 37)
    with pytest.raises(SpecError, match="no run with optimizer 'nag:lr=1'"):
        read_ours(TableSource("NAG", folder, {}, spec="nag:lr=1"), ["final_loss"])
    with pytest.raises(SpecError, match=r"has no \['test_accuracy'\]"):
        read_ours(TableSource("Adam", folder, {}, spec="adam:lr=1"), ["test_accuracy"])


def test_run_table_stores_the_table_the_findings_and_is_cached(tmp_path: Path) -> None:
    sources = _sources(tmp_path, [0.9, 0.5], [0.48, 0.10])
    frame = run_table(sources, ["test_accuracy"], tmp_path / "table", classes=10)
    out = tmp_path / "table"
    pd.testing.assert_frame_equal(pd.read_parquet(out / "comparison.parquet"), frame)
    markdown = (out / "comparison.md").read_text()
    assert markdown.splitlines()[0].startswith("| row | test_accuracy (seed) | test_accuracy (ours) |")
    assert "| row0 | 0.48 | 0.9 | 0.42 | complete | 10 |" in markdown
    assert (out / "findings.md").read_text().startswith("- test_accuracy: ours is higher")
    (tmp_path / "r0" / "metrics.parquet").unlink()  # a cache hit reads nothing of the sources
    again = run_table(sources, ["test_accuracy"], out, classes=10)
    pd.testing.assert_frame_equal(again, frame)
