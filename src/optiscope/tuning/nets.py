"""Tuning on a real network: a trial is a training run, scored by a test metric after the budget.

A :class:`NetProblem` plays the part a surface plays in :class:`~optiscope.tuning.tasks.Problem`:
it runs configurations of one optimizer from seed ids and scores each run. The data split is the
problem's (loaded once, the same for every seed and configuration); seed id ``i`` picks the
initialisation and the batch order (run seed ``1000 * study seed + i``), so every configuration
meets the same seeds, as on a surface. Every trial gets the same budget, ``steps`` optimizer
steps, with no early stopping; the test metric is evaluated before training and after every
epoch (and after the last, partial one), and that curve is the run's *gap* curve (the metric's
floor, 0, is its minimum): ``final`` scores the metric after the budget, ``auc`` its mean over
the evaluations, ``target`` the optimizer steps until it first falls to ``tolerance``. A run
that diverges is carried at its start value from there, as on a surface.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from optiscope.errors import SpecError
from optiscope.nets.data import DATASET_NAMES, Dataset, load_dataset
from optiscope.nets.models import MODEL_NAMES, build_model
from optiscope.nets.trainer import TrainConfig, evaluate, train
from optiscope.nets.user_data import DATA_SUFFIXES, is_data_source, load_data
from optiscope.nets.user_model import build_user_model, check_data_fits
from optiscope.optimizers import OptimizerSpec, parse_spec
from optiscope.paths import RUN_STATUSES
from optiscope.seeding import seed_global_streams
from optiscope.tuning.evaluate import Scored
from optiscope.tuning.objectives import Objective, reached_steps, score
from optiscope.user_imports import is_import_path
from optiscope.validated import validated

__all__ = ["NET_PREFIX", "NetProblem", "NetTarget"]

NET_PREFIX = "net:"
USER_TEST_SHARE = 0.25  # of a user's own data, held out as the test set
Metric = Literal["test_loss", "test_error"]
# What a training run's status is called in the tuning tables (the engine's statuses).
_STATUS = {"complete": RUN_STATUSES.index("max_steps"), "diverged": RUN_STATUSES.index("diverged")}


class NetTarget(BaseModel):
    """The network problem a study tunes on: the net, the data and the batch size.

    The budget is the study's ``steps`` and the optimizer its ``--opt``; a training YAML given as
    the target contributes the rest (its optimizer, epochs and early stopping do not apply).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = "mlp"
    dataset: str = "digits"
    data_dir: str | None = None
    batch_size: int = Field(default=64, ge=0, description="0 means full batch (GD)")
    limit: int | None = Field(default=None, gt=0, description="keep only the first samples")
    data_seed: int = Field(default=0, ge=0, description="seed of the data split (the same for every trial)")
    metric: Metric = Field(default="test_loss", description="test_loss, or test_error (1 - accuracy)")
    device: str = "cpu"
    model_factory: str | None = Field(
        default=None, description="pkg.mod:make_model: the user's own model, built afresh for every seed"
    )
    data_source: str | None = Field(
        default=None,
        description="pkg.mod:loader or a tensor file of (x, y class indices): the user's data, split "
        f"{1 - USER_TEST_SHARE:.0%} / {USER_TEST_SHARE:.0%} into train and test by data_seed",
    )

    @field_validator("model_factory")
    @classmethod
    def _factory_path(cls, path: str | None) -> str | None:
        if path is not None and not is_import_path(path):
            raise ValueError("must be an import path 'package.module:make_model'")
        return path

    @field_validator("data_source")
    @classmethod
    def _data_source(cls, source: str | None) -> str | None:
        if source is not None and not is_data_source(source):
            raise ValueError(f"must be pkg.mod:loader or a {'/'.join(DATA_SUFFIXES)} file holding x and y")
        return source

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str) -> str:
        if model.strip().lower() not in MODEL_NAMES:
            raise ValueError(f"unknown model {model!r} (known: {', '.join(MODEL_NAMES)})")
        return model

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, dataset: str) -> str:
        if dataset.strip().lower().partition(":")[0] not in DATASET_NAMES:
            raise ValueError(f"unknown dataset {dataset!r} (known: {', '.join(DATASET_NAMES)})")
        return dataset

    @classmethod
    def build(cls, **fields: Any) -> NetTarget:
        """Validate ``fields`` (one :class:`SpecError` line on a bad value)."""
        return validated(cls, fields)

    @classmethod
    def from_training(cls, fields: Mapping[str, Any], metric: Metric = "test_loss") -> NetTarget:
        """The problem of a training config (``optiscope train``'s YAML fields), validated as one."""
        config = TrainConfig.build(**fields)
        return cls.build(
            model=config.model, dataset=config.dataset, data_dir=config.data_dir,
            batch_size=config.batch_size, limit=config.limit, data_seed=config.seed, metric=metric,
            device=config.device,
        )  # fmt: skip

    @property
    def name(self) -> str:
        """``net:MODEL/DATASET/bBATCH[/test_error]`` (``b0``: full batch): the problem's name in a
        target, a suite and the tables (:meth:`parse` reads it back, less ``limit`` and the rest)."""
        metric = "" if self.metric == "test_loss" else f"/{self.metric}"
        model = self.model_factory or self.model  # a user's own model and data: a label, not parsed
        dataset = (
            Path(self.data_source).name
            if self.data_source and not is_import_path(self.data_source)
            else (self.data_source or self.dataset)
        )
        return f"{NET_PREFIX}{model}/{dataset}/b{self.batch_size}{metric}"

    @classmethod
    def parse(cls, name: str) -> NetTarget:
        """The problem ``name`` describes (see :attr:`name`).

        Raises:
            SpecError: not ``net:MODEL/DATASET/bBATCH[/METRIC]``, or a bad part.
        """
        parts = name[len(NET_PREFIX) :].split("/") if name.startswith(NET_PREFIX) else []
        batch = parts[2] if len(parts) in (3, 4) else ""
        if not (batch.startswith("b") and batch[1:].isdigit()):
            raise SpecError(f"net problem {name!r}: expected net:MODEL/DATASET/bBATCH"
                            "[/test_loss|test_error], e.g. net:mlp/digits/b64")  # fmt: skip
        metric = parts[3] if len(parts) == 4 else "test_loss"
        return cls.build(model=parts[0], dataset=parts[1], batch_size=int(batch[1:]), metric=metric)


@functools.lru_cache(maxsize=2)
def _dataset(target: NetTarget) -> Dataset:
    if target.data_source is None:
        data = load_dataset(
            target.dataset, data_dir=target.data_dir, seed=target.data_seed, limit=target.limit
        )
    else:
        data = user_split(*load_data(target.data_source), target.data_seed, target.data_source)
    return data.to(target.device)


def user_split(x: torch.Tensor, y: torch.Tensor, seed: int, source: str) -> Dataset:
    """The user's ``(x, y)`` as a train/test split: a permutation drawn from ``seed``, the last
    :data:`USER_TEST_SHARE` of it the test set (tuning trains with cross-entropy, so ``y`` holds
    class indices).

    Raises:
        SpecError: labels that are not class indices, or too few samples to split.
    """
    if y.dtype.is_floating_point or y.ndim != 1:
        raise SpecError(f"{source}: tuning trains with cross-entropy, so y must be a 1-D tensor of class "
                        f"indices, got {tuple(y.shape)} {y.dtype}")  # fmt: skip
    if len(x) < 4:
        raise SpecError(f"{source}: {len(x)} samples are too few to split into train and test")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = len(x) - max(1, round(USER_TEST_SHARE * len(x)))
    train, test = order[:cut], order[cut:]
    classes = int(y.max()) + 1
    return Dataset(source, x[train], y[train].long(), x[test], y[test].long(), classes, tuple(x.shape[1:]),
                   tuple(str(k) for k in range(classes)))  # fmt: skip


@dataclass(frozen=True)
class NetProblem:
    """Configurations of an optimizer trained on ``target`` for ``steps`` steps from seed ids.

    Attributes:
        target: the net, data and batch size.
        steps: optimizer steps per run (the equal budget).
        seed: the study's seed (run seed ``1000 * seed + seed id``).
        objective, tolerance: how a run's metric curve is scored (see the module).
        seeds: how many seed ids the study has (tuning and held out).
    """

    target: NetTarget
    steps: int
    seed: int
    objective: Objective
    tolerance: float
    seeds: int

    minimum = 0.0  # every metric's floor: the gap is the metric itself

    @property
    def surface(self) -> str:
        return self.target.name

    @property
    def starts(self) -> np.ndarray:
        """A net has no start point: NaN, so the tables' start columns say so."""
        return np.full((self.seeds, 2), np.nan)

    def run(self, optimizer: str, configs: Sequence[Mapping[str, Any]], seed_ids: Sequence[int]) -> Scored:
        """Train every configuration from every seed (config-major rows) and score each run."""
        data = _dataset(self.target)
        batch = self.target.batch_size or len(data.x_train)
        per_epoch = math.ceil(len(data.x_train) / batch)
        epochs = math.ceil(self.steps / per_epoch)
        curves = np.full((len(configs) * len(seed_ids), epochs + 1), np.nan)
        steps_at = np.zeros_like(curves)
        status = np.zeros(len(curves), dtype=np.int64)
        taken = np.zeros(len(curves), dtype=np.int64)
        row = 0
        for config in configs:
            spec = parse_spec(OptimizerSpec(optimizer, dict(config))).to_string()
            for seed_id in seed_ids:
                curve, at, code, steps = self._train(spec, 1000 * self.seed + int(seed_id), epochs, data)
                curves[row, : len(curve)], steps_at[row, : len(at)] = curve, at
                status[row], taken[row] = code, steps
                row += 1
        gaps = _carried(curves, status)
        reached = reached_steps(gaps, self.tolerance)
        objective = score(self.objective, gaps, self.tolerance)
        if self.objective == "target":  # evaluations -> the optimizer steps taken by then
            hit = reached >= 0
            objective = np.where(hit, steps_at[np.arange(len(gaps)), np.maximum(reached, 0)], objective)
            objective = np.where(hit, objective, self.steps + 1 + (objective - (gaps.shape[1] - 1) - 1))
        reached_step = np.where(reached >= 0, steps_at[np.arange(len(gaps)), np.maximum(reached, 0)], -1)
        block = {"status": status, "n_steps": taken, "metric": curves}
        return Scored(block=block, gaps=gaps, objective=objective, reached=reached_step.astype(np.int64),
                      rowwise=False)  # fmt: skip

    def _train(
        self, spec: str, seed: int, epochs: int, data: Dataset
    ) -> tuple[list[float], list[int], int, int]:
        """One run: the metric before training and after each epoch, the steps at each, its status
        code and the steps it took."""
        target = self.target
        config = TrainConfig.build(
            model=target.model, dataset=target.dataset, optimizer=spec, batch_size=target.batch_size,
            epochs=epochs, max_steps=self.steps, patience=None, seed=seed, record=False, device=target.device,
        )  # fmt: skip
        seed_global_streams(seed)
        model = (
            build_user_model(target.model_factory)
            if target.model_factory
            else build_model(target.model, data.input_shape, data.num_classes)
        ).to(target.device)
        if target.model_factory:
            pair = (data.x_train[:2], data.y_train[:2])
            check_data_fits(model, nn.CrossEntropyLoss(), pair, target.data_source or target.dataset)
        start = evaluate(model, data.x_test, data.y_test, data.num_classes)
        run = train(config, model=model, data=data, test_only=True)
        column = "test_loss" if target.metric == "test_loss" else "test_accuracy"
        values = run.metrics[column].to_numpy(dtype=np.float64)
        initial = start["loss"] if target.metric == "test_loss" else start["accuracy"]
        curve = np.concatenate([[initial], values])
        if target.metric == "test_error":
            curve = 1.0 - curve
        at = [0, *run.metrics["steps"].astype(int).tolist()]
        return curve.tolist(), at, _STATUS.get(run.status, _STATUS["complete"]), int(run.steps)


def _carried(curves: np.ndarray, status: np.ndarray) -> np.ndarray:
    """Each curve carried to the last evaluation: a finished run keeps its last value, a diverged
    one (or a non-finite value) counts as its start value from the evaluation it failed at."""
    gaps = curves.copy()
    diverged = status == RUN_STATUSES.index("diverged")
    for row, curve in enumerate(gaps):
        finite = np.isfinite(curve)
        last = int(np.flatnonzero(finite).max()) if finite.any() else 0
        first_nonfinite = int(np.argmin(finite)) if not finite.all() else len(curve)
        # A diverged run is evaluated once more, after the epoch it diverged in: that value fails.
        failed_at = min(last, first_nonfinite) if diverged[row] else first_nonfinite
        if failed_at <= last:
            curve[failed_at:] = curve[0]
        else:
            curve[last + 1 :] = curve[last]
    return np.where(np.isfinite(gaps), gaps, gaps[:, :1])
