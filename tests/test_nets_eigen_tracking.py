"""Eigenvalue tracking during training (seed 001 fig. 3): right values, no effect on training, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from optiscope.curvature import top_eigen
from optiscope.nets import load_dataset
from optiscope.nets.eigen_tracking import _SEED_OFFSET
from optiscope.nets.trainer import TrainConfig, train

_BASE = {"epochs": 2, "limit": 256, "patience": None, "record": False}


def test_tracking_covers_the_last_steps_and_matches_a_cold_solve() -> None:
    run = train(TrainConfig.build(**_BASE, track_eigs=3, track_batch=50))
    total = 2 * 4
    assert run.eigs["step"].tolist() == [total - 2, total - 1, total]
    assert run.eigs["warm"].tolist() == [False, True, True]
    assert (run.eigs["ratio"] == run.eigs["lambda1"] / run.eigs["lambda2"]).all()
    # The last tracked batch, drawn again: the third draw of the tracker's own generator.
    data = load_dataset("digits", seed=0, limit=256)
    generator = torch.Generator().manual_seed(0 + _SEED_OFFSET)
    for _ in range(3):
        index = torch.randperm(len(data.x_train), generator=generator)[:50]
    batch = (data.x_train[index], data.y_train[index])
    cold = top_eigen(run.model, nn.CrossEntropyLoss(), batch, k=2, tol=1e-10, dtype=torch.float64)
    np.testing.assert_allclose(run.eigs[["lambda1", "lambda2"]].iloc[-1], cold.values, rtol=1e-3)


def test_tracking_does_not_change_the_training_run() -> None:
    plain = train(TrainConfig.build(**_BASE))
    tracked = train(TrainConfig.build(**_BASE, track_eigs=4))
    pd.testing.assert_frame_equal(
        plain.metrics.drop(columns=["seconds"]), tracked.metrics.drop(columns=["seconds"]), check_exact=True
    )


def test_a_stopped_tracked_run_resumes_to_the_same_eigenvalues(tmp_path: Path) -> None:
    config = TrainConfig.build(**{**_BASE, "epochs": 3}, track_eigs=6)

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "stopped", progress=stop_after_two)
    resumed = train(config, tmp_path / "stopped")
    clean = train(config, tmp_path / "clean")
    pd.testing.assert_frame_equal(
        resumed.eigs.drop(columns=["seconds"]), clean.eigs.drop(columns=["seconds"])
    )
    stored = pd.read_parquet(tmp_path / "clean" / "eigs.parquet")
    assert len(stored) == 6 and (tmp_path / "clean" / "metrics.parquet").is_file()
