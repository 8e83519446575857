"""Seed 004's AdaGrad timing study: the methods agree, the table is honest, the run caches."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from optiscope.errors import SpecError
from optiscope.experiments import adagrad_timing_study as study
from optiscope.experiments.adagrad_timing_study import (
    EPS,
    AdagradTimingConfig,
    adagrad_timing,
    diagonal_adagrad_updates,
    eigh_reference_updates,
    run_adagrad_timing,
    seed_method_updates,
    timing_gradients,
)

SMALL = {"features": 32, "steps": 4, "repeats": 1}


def _numpy_diagonal(grads: np.ndarray) -> np.ndarray:
    """Diagonal AdaGrad as a plain loop, written out independently of the module."""
    accumulated, updates = np.zeros(grads.shape[1]), []
    for gradient in grads:
        accumulated = accumulated + gradient**2
        updates.append(gradient / (np.sqrt(accumulated) + 1e-5))
    return np.array(updates)


def test_gradients_follow_the_seed_stream() -> None:
    config = AdagradTimingConfig.build(features=16, steps=3, seed=7)
    grads = timing_gradients(config)
    stream = np.random.RandomState(7)
    scales = np.random.RandomState(8).lognormal(size=16)
    expected = np.stack([stream.rand(16) * scales for _ in range(3)])
    np.testing.assert_array_equal(grads, expected)
    np.testing.assert_array_equal(grads, timing_gradients(config))


def test_table_says_optiscope_matches_the_seed_method() -> None:
    frame = adagrad_timing(AdagradTimingConfig.build(**SMALL))
    assert frame["method"].tolist() == ["seed_sqrtm_inv", "optiscope_full", "diagonal"]
    rows = frame.set_index("method")
    ours = rows.loc["optiscope_full", "max_relative_difference"]
    assert ours < 1e-8, f"optiscope vs seed sqrtm+inv: max relative difference {ours:.3g}"
    assert rows.loc["seed_sqrtm_inv", "max_relative_difference"] == 0.0
    assert math.isnan(rows.loc["diagonal", "max_relative_difference"])
    assert (rows.loc[["seed_sqrtm_inv", "optiscope_full"], "reference"] == "seed_sqrtm_inv").all()
    assert (frame["seconds"] > 0).all()
    np.testing.assert_allclose(frame["seconds_per_step"], frame["seconds"] / 4, rtol=1e-12)
    assert rows.loc["diagonal", "relative_to_diagonal"] == 1.0
    assert rows.loc["seed_sqrtm_inv", "published_seconds"] == 27.4
    assert rows.loc["diagonal", "published_seconds"] == 619e-6
    assert math.isnan(rows.loc["optiscope_full", "published_seconds"])
    assert (frame["published_setting"] == "F=1024, N=8, seed 004's machine").all()


def test_seed_method_agrees_with_the_eigh_reference() -> None:
    grads = timing_gradients(AdagradTimingConfig.build(features=48, steps=4, seed=3))
    seed = seed_method_updates(grads)
    reference = eigh_reference_updates(grads)
    error = np.max(np.linalg.norm(seed - reference, axis=1) / np.linalg.norm(reference, axis=1))
    assert error < 1e-8, f"seed sqrtm+inv vs float64 eigh: max relative difference {error:.3g}"
    # The first full-matrix update is g / (|g| + eps): G_1 = g g^T has the one root |g|.
    first = np.linalg.norm(grads[0])
    np.testing.assert_allclose(np.linalg.norm(reference[0]), first / (first + EPS), rtol=1e-12)


def test_without_the_seed_method_the_eigh_reference_is_used() -> None:
    frame = adagrad_timing(AdagradTimingConfig.build(**SMALL, include_seed_method=False))
    assert frame["method"].tolist() == ["optiscope_full", "diagonal"]
    ours = frame.set_index("method").loc["optiscope_full"]
    assert ours["reference"] == "float64 eigh"
    assert ours["max_relative_difference"] < 1e-8, f"vs eigh: {ours['max_relative_difference']:.3g}"


def test_diagonal_method_in_the_table_is_cumulative_adagrad() -> None:
    config = AdagradTimingConfig.build(**SMALL)
    grads = timing_gradients(config)
    expected = _numpy_diagonal(grads)
    got = diagonal_adagrad_updates(torch.from_numpy(grads), eps=EPS).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    frame = adagrad_timing(config).set_index("method")
    table_norm = frame.loc["diagonal", "mean_update_norm"]
    expected_norm = np.linalg.norm(expected, axis=1).mean()
    assert table_norm == pytest.approx(expected_norm, rel=1e-12), (
        f"table's diagonal mean |v_t| {table_norm} vs numpy loop {expected_norm}"
    )
    # The first diagonal step sets every component to 1, up to eps / |g_i|.
    np.testing.assert_allclose(np.abs(expected[0]), 1.0, rtol=0, atol=EPS / np.abs(grads[0]).min())


@pytest.mark.parametrize(
    ("fields", "name"),
    [({"features": 1}, "features"), ({"steps": 0}, "steps"), ({"repeats": 21}, "repeats")],
)
def test_config_rejects_out_of_range_fields(fields: dict[str, int], name: str) -> None:
    with pytest.raises(SpecError, match=rf"^{name}: "):
        AdagradTimingConfig.build(**fields)


def test_config_rejects_unknown_fields() -> None:
    with pytest.raises(SpecError, match=r"^feature: "):
        AdagradTimingConfig.build(feature=16)


def test_run_stores_table_and_figure_then_hits_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = AdagradTimingConfig.build(features=16, steps=4, repeats=2)
    out = tmp_path / "timing"
    first = run_adagrad_timing(config, out)
    assert (out / "timing.parquet").is_file()
    assert (out / "figures" / "timing.png").stat().st_size > 5_000
    assert (out / "report.html").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["kind"] == "adagrad-timing"
    assert manifest["spec"] == config.model_dump(mode="json")
    for method, seconds in zip(first["method"], first["seconds"], strict=True):
        assert manifest["timings"][method] == seconds
    pd.testing.assert_frame_equal(pd.read_parquet(out / "timing.parquet"), first)

    def recompute(_: AdagradTimingConfig) -> pd.DataFrame:
        raise AssertionError("a cached run recomputed its table")

    monkeypatch.setattr(study, "adagrad_timing", recompute)
    again = run_adagrad_timing(config, out)
    pd.testing.assert_frame_equal(again, first)
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_a_failing_run_is_marked_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: AdagradTimingConfig) -> pd.DataFrame:
        raise RuntimeError("no clock")

    monkeypatch.setattr(study, "adagrad_timing", broken)
    with pytest.raises(RuntimeError, match="no clock"):
        run_adagrad_timing(AdagradTimingConfig.build(**SMALL), tmp_path / "broken")
    manifest = json.loads((tmp_path / "broken" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"] == "RuntimeError: no clock"
