"""A seed's training budget, met in optimizer steps on whatever data set is at hand.

The seeds train for a number of *epochs* on CIFAR-10 (50,000 samples) or MNIST (60,000). On the
offline digits set (1,347 training samples) an epoch is ~37x fewer steps, so "20 epochs" would
be a different experiment. A :class:`SeedBudget` says what the seed ran (its data set, epochs
or steps, and its patience in its own epochs); :func:`budget_fields` turns that into this run's
``epochs``, ``max_steps`` and ``patience`` so the optimizer takes the seed's number of steps
and early stopping waits the seed's number of steps.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from optiscope.nets.data import load_dataset
from optiscope.nets.proxy_data import PROXY_ABOUT

__all__ = [
    "SEED_TRAIN_SIZES",
    "SeedBudget",
    "budget_fields",
    "dataset_classes",
    "describe_dataset",
    "steps_per_epoch",
    "train_size",
]

# Training-set sizes of the data sets the seeds used.
SEED_TRAIN_SIZES: dict[str, int] = {"cifar10": 50_000, "mnist": 60_000}


class SeedBudget(BaseModel):
    """What the seed trained: ``epochs`` (or ``steps``) on ``dataset``, early stop after ``patience``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Literal["cifar10", "mnist"] = Field(description="the data set the seed trained on")
    epochs: int | None = Field(default=None, gt=0, le=10_000, description="the seed's epochs")
    steps: int | None = Field(default=None, gt=0, le=100_000_000, description="the seed's optimizer steps")
    patience: int | None = Field(
        default=None, ge=1, description="the seed's early stop: epochs (of its data) without improvement"
    )

    @model_validator(mode="after")
    def _epochs_or_steps(self) -> SeedBudget:
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("give exactly one of epochs or steps")
        return self


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimizer steps in one epoch (the last batch may be short; 0 means full batch)."""
    return math.ceil(n_train / (batch_size or n_train))


def budget_fields(budget: SeedBudget, batch_size: int, n_train: int) -> dict[str, int | None]:
    """``epochs``, ``max_steps`` and ``patience`` that give the seed's steps on ``n_train`` samples.

    Full batch (``batch_size`` 0) is one step per epoch on any data set, so it keeps its epochs.
    """
    seed_batch = batch_size or SEED_TRAIN_SIZES[budget.dataset]
    seed_per_epoch = steps_per_epoch(SEED_TRAIN_SIZES[budget.dataset], seed_batch)
    ours_per_epoch = steps_per_epoch(n_train, batch_size)
    total = budget.steps if budget.steps is not None else budget.epochs * seed_per_epoch
    patience = None
    if budget.patience is not None:
        patience = math.ceil(budget.patience * seed_per_epoch / ours_per_epoch)
    return {"epochs": math.ceil(total / ours_per_epoch), "max_steps": total, "patience": patience}


@functools.lru_cache(maxsize=8)
def _sizes(dataset: str, data_dir: str | None, limit: int | None, seed: int, download: bool) -> tuple:
    data = load_dataset(dataset, data_dir=data_dir, limit=limit, seed=seed, download=download)
    return len(data.x_train), len(data.x_test), tuple(data.input_shape), data.num_classes


def train_size(dataset: str, data_dir: str | None, limit: int | None, seed: int, download: bool) -> int:
    """Training samples of a data set as the trainer would load it (files are read once, cached)."""
    return _sizes(dataset, data_dir, limit, seed, download)[0]


def dataset_classes(dataset: str, data_dir: str | None = None) -> int:
    """Number of classes of a data set (as loaded with the default split)."""
    return _sizes(dataset, data_dir, None, 0, False)[3]


def describe_dataset(
    dataset: str, data_dir: str | None = None, limit: int | None = None, seed: int = 0, download: bool = False
) -> str:
    """``digits: 1,347 train / 450 test, 1x8x8, 10 classes``: what a report must name.

    An offline proxy also says what it stands for (``...; offline proxy of CIFAR-10: ...``).
    """
    n_train, n_test, shape, classes = _sizes(dataset, data_dir, limit, seed, download)
    sizes = f"{dataset}: {n_train:,} train / {n_test:,} test, {'x'.join(map(str, shape))}, {classes} classes"
    about = PROXY_ABOUT.get(dataset.strip().lower())
    return f"{sizes}; {about}" if about else sizes
