"""A seed's budget met in optimizer steps: the formula, its invariants, and a real run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optiscope.errors import SpecError
from optiscope.experiments.sweep_study import SweepConfig, cell_configs, with_budget
from optiscope.nets.budget import SeedBudget, budget_fields, describe_dataset, train_size
from optiscope.nets.trainer import MAX_EPOCHS, TrainConfig, planned_steps, train
from optiscope.validated import validated


def test_seed000_sgd_on_digits_takes_cifars_steps_not_its_epochs() -> None:
    # 20 CIFAR-10 epochs at batch 64 are 20 * ceil(50000 / 64) = 20 * 782 = 15,640 steps. Digits
    # (1,347 training samples) has ceil(1347 / 64) = 22 batches an epoch: 711 epochs. Patience 4
    # CIFAR epochs = 4 * 782 = 3,128 steps = ceil(3128 / 22) = 143 digits epochs.
    budget = SeedBudget(dataset="cifar10", epochs=20, patience=4)
    assert train_size("digits", None, None, 0, False) == 1347
    assert budget_fields(budget, 64, 1347) == {"epochs": 711, "max_steps": 15_640, "patience": 143}
    # On CIFAR-10 itself nothing changes: the seed's exact setting.
    assert budget_fields(budget, 64, 50_000) == {"epochs": 20, "max_steps": 15_640, "patience": 4}


def test_full_batch_gd_keeps_its_steps_as_epochs() -> None:
    budget = SeedBudget(dataset="cifar10", steps=1000, patience=4)
    assert budget_fields(budget, 0, 1347) == {"epochs": 1000, "max_steps": 1000, "patience": 4}


def test_a_budget_needs_exactly_one_of_epochs_and_steps() -> None:
    for fields in ({"dataset": "mnist"}, {"dataset": "mnist", "epochs": 2, "steps": 3}):
        with pytest.raises(SpecError, match="exactly one of epochs or steps"):
            validated(SeedBudget, fields)
    with pytest.raises(SpecError, match="dataset"):
        validated(SeedBudget, {"dataset": "imagenet", "epochs": 1})


@given(
    batch=st.integers(min_value=0, max_value=600),
    n_train=st.integers(min_value=10, max_value=70_000),
    epochs=st.integers(min_value=1, max_value=30),
    dataset=st.sampled_from(["cifar10", "mnist"]),
)
def test_the_run_plans_exactly_the_seeds_steps(batch: int, n_train: int, epochs: int, dataset: str) -> None:
    seed_n = {"cifar10": 50_000, "mnist": 60_000}[dataset]
    seed_steps = epochs * math.ceil(seed_n / (batch or seed_n))
    fields = budget_fields(SeedBudget(dataset=dataset, epochs=epochs), batch, n_train)
    per_epoch = math.ceil(n_train / (batch or n_train))
    # ... and never more epochs than needed: one fewer would fall short of the seed's steps.
    assert (fields["epochs"] - 1) * per_epoch < seed_steps <= fields["epochs"] * per_epoch
    if fields["epochs"] > MAX_EPOCHS:  # e.g. batch 1 on 10 samples: 180,000 epochs of 10 steps
        with pytest.raises(SpecError, match="epochs"):
            validated(TrainConfig, {"batch_size": batch, **fields})
        return
    config = TrainConfig(batch_size=batch, epochs=fields["epochs"], max_steps=fields["max_steps"])
    assert planned_steps(config, n_train) == seed_steps


def test_a_budget_over_the_epoch_limit_is_refused_in_one_line() -> None:
    config = TrainConfig.build(dataset="digits", limit=20, batch_size=1, record=False)
    # 40 MNIST epochs at batch 1 are 2,400,000 steps: 120,000 epochs of the 20 samples kept.
    with pytest.raises(SpecError, match=r"2400000 steps take 120000 epochs .* over the 100000-epoch limit"):
        with_budget(config, SeedBudget(dataset="mnist", epochs=40))
    assert with_budget(config, SeedBudget(dataset="mnist", epochs=30)).epochs == 90_000


def test_a_budgeted_run_stops_at_the_seeds_step_count(tmp_path: Path) -> None:
    config = with_budget(
        TrainConfig.build(
            dataset="digits", optimizer="sgd:lr=0.05", batch_size=256, patience=None, record=False
        ),
        SeedBudget(dataset="cifar10", steps=13),
    )
    assert (config.epochs, config.max_steps) == (3, 13)  # ceil(13 / 6 batches an epoch)
    run = train(config, tmp_path / "run")
    assert run.steps == 13 and int(run.metrics["steps"].iloc[-1]) == 13


def test_a_sweep_meets_the_budget_cell_by_cell() -> None:
    sweep = SweepConfig.build(
        base={"dataset": "digits"},
        grid={"batch_size": [1, 64, 0]},
        budget={"dataset": "cifar10", "epochs": 2},
    )
    steps = {settings["batch_size"]: config.max_steps for settings, config in cell_configs(sweep)}
    assert steps == {1: 100_000, 64: 1_564, 0: 2}


def test_the_data_set_is_described_with_its_sizes() -> None:
    assert describe_dataset("digits") == "digits: 1,347 train / 450 test, 1x8x8, 10 classes"
    assert describe_dataset("synthetic:40,8,3") == "synthetic:40,8,3: 40 train / 10 test, 8, 3 classes"
