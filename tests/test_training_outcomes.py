"""How a training run ends, pinned at the boundaries: divergence (non-finite or blown-up loss) and
seed 000's patience rule, each against a rule written out here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optiscope.nets.trainer import TrainConfig, divergence, patience_exhausted, train


def _stops_at(losses: list[float], patience: int) -> int | None:
    """The first epoch (1-based) after which no epoch among the last ``patience`` beat the best
    before them; written out as a loop over epochs, independent of the trainer's slicing."""
    for epoch in range(1, len(losses) + 1):
        if epoch <= patience:
            continue
        best_before = min(losses[: epoch - patience])
        recent = losses[epoch - patience : epoch]
        if all(loss >= best_before for loss in recent):
            return epoch
    return None


def test_patience_stops_at_exactly_the_epoch_the_rule_names() -> None:
    # best 0.9 at epoch 2; epochs 3-6 do not improve on it: with patience 4 the run stops after epoch 6.
    losses = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.5]
    stops = [patience_exhausted(losses[:epoch], 4) for epoch in range(1, len(losses) + 1)]
    assert stops == [False, False, False, False, False, True, False]
    # A tie with the best is not an improvement; one better epoch in the window is.
    assert patience_exhausted([1.0, 0.9, 0.9, 0.9], 2) is True
    assert patience_exhausted([1.0, 0.9, 0.95, 0.89], 2) is False


@given(
    losses=st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=1, max_size=30),
    patience=st.integers(1, 8),
)
def test_patience_matches_the_written_out_rule(losses: list[float], patience: int) -> None:
    expected = _stops_at(losses, patience)
    first = next(
        (epoch for epoch in range(1, len(losses) + 1) if patience_exhausted(losses[:epoch], patience)), None
    )
    assert first == expected


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
def test_a_non_finite_loss_is_divergence(loss: float) -> None:
    assert divergence(loss, 2.3, 1000.0) == f"the training loss is {loss}"


@given(first=st.floats(1e-3, 1e3), factor=st.floats(1.5, 1e6))
def test_a_loss_past_factor_times_the_first_is_divergence_and_not_before(first: float, factor: float) -> None:
    limit = factor * first
    assert divergence(limit, first, factor) is None, "exactly at the limit is still a run"
    assert divergence(math.nextafter(limit, math.inf), first, factor) is not None
    assert divergence(first, first, factor) is None


def test_a_blown_up_training_run_ends_diverged_with_its_step(tmp_path: Path) -> None:
    # Seed 000's Table II at lr 2 took the loss from 2.3 to 1e14..1e22 and was listed "complete";
    # plain SGD at lr 50 on digits blows up within a few steps.
    config = TrainConfig.build(optimizer="sgd:lr=50", batch_size=64, epochs=3, limit=400, record=False)
    run = train(config, tmp_path / "run")
    assert run.status == "diverged"
    assert run.stop_reason is not None and run.stop_reason.endswith(f"at step {run.steps}")
    assert run.steps < 3 * 7, "it stopped at the step it diverged, not at the end of its budget"
    assert run.summary() == {"status": "diverged", "steps": run.steps, "stopped": run.stop_reason}
