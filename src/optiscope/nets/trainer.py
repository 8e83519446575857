"""The trainer: any registry optimizer on a real network, epoch by epoch, resumable.

One epoch is one unit of work. After each epoch the run directory gets the metrics so far and a
checkpoint (model, optimizer, batch-order generator), so a run killed at any point resumes from
its last finished epoch and ends exactly as an uninterrupted run would (CPU, same seeds).
Seed 000's early stopping: a non-finite loss ends the run as ``diverged``; no improvement of
the test loss for ``patience`` epochs ends it as ``early_stopped``.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from torch import nn

from optiscope.errors import SpecError
from optiscope.nets.data import Dataset, batches, load_dataset
from optiscope.nets.eigen_tracking import TrainingEigenTracker
from optiscope.nets.models import build_model, count_parameters
from optiscope.nets.recorder import PathRecorder, load_path, snapshot_interval
from optiscope.nets.sharpness import SharpnessTracker
from optiscope.optimizers import build_optimizer, get_entry, parse_spec
from optiscope.seeding import global_streams_state, restore_global_streams, seed_global_streams
from optiscope.store import RunDir
from optiscope.validated import validated

__all__ = [
    "FINAL_CHECKPOINT",
    "TrainConfig",
    "TrainRun",
    "evaluate",
    "planned_steps",
    "train",
    "train_in_run",
]

FINAL_CHECKPOINT = "checkpoints/final.pt"  # the session state at the end (weights_only loadable)

_EVAL_CHUNK = 4096
_CREATE_GRAPH_WARNING = r"Using backward\(\) with create_graph=True will create a reference cycle"
_METRIC_COLUMNS = [
    "epoch",
    "steps",
    "last_batch_loss",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "grad_norm",
    "seconds",
]


MAX_EPOCHS = 100_000  # one checkpoint unit per epoch: bounds what one run writes


class TrainConfig(BaseModel):
    """What to train: frozen, validated once, hashed into the run's cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = "mlp"
    dataset: str = "digits"
    data_dir: str | None = None
    optimizer: str = "sgd:lr=0.05,momentum=0.9"
    batch_size: int = Field(default=64, ge=0, description="0 means full batch (GD)")
    epochs: int = Field(default=20, gt=0, le=MAX_EPOCHS)
    max_steps: int | None = Field(default=None, gt=0, description="stop after this many optimizer steps")
    patience: int | None = Field(default=4, ge=1, description="epochs without test-loss improvement")
    seed: int = 0
    limit: int | None = Field(default=None, gt=0, description="keep only the first samples (quick runs)")
    record: bool = Field(default=True, description="record the weight path (snapshots)")
    record_every: int | None = Field(
        default=None, gt=0, description="snapshot interval in steps; None: every step that fits the budget"
    )
    record_budget_mb: float = Field(default=64.0, gt=0, description="memory/disk budget of the snapshots")
    download: bool = Field(default=False, description="fetch MNIST/CIFAR-10 with torchvision if missing")
    track_eigs: int | None = Field(
        default=None, gt=0, description="track the top-2 Hessian eigenvalues over the last N steps (seed 001)"
    )
    track_batch: int = Field(default=100, gt=0, description="samples per stochastic Hessian when tracking")
    track_sharpness: int | None = Field(
        default=None,
        gt=0,
        description="every K steps: lambda_max of the Hessian (and, for adaptive optimizers, of the "
        "preconditioned Hessian) on a fixed batch of track_batch samples, beside the stability threshold",
    )
    divergence_factor: float = Field(
        default=1000.0, gt=1, description="diverged when a batch loss exceeds this times the first one"
    )
    device: str = "cpu"

    @model_serializer(mode="wrap")
    def _spec(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields = handler(self)
        if fields.get("track_sharpness") is None:  # runs that predate it keep their cache keys
            fields.pop("track_sharpness", None)
        return fields

    @classmethod
    def build(cls, **fields: Any) -> TrainConfig:
        """Validate ``fields``, turning pydantic's report into one :class:`SpecError` line."""
        config = validated(cls, fields)
        return config.model_copy(update={"optimizer": parse_spec(config.optimizer).to_string()})


@dataclass
class TrainRun:
    """A finished (or stopped) training run."""

    config: TrainConfig
    metrics: pd.DataFrame
    status: str
    model: nn.Module
    steps: int
    snapshots: np.ndarray | None = None
    snapshot_steps: np.ndarray | None = None
    run_dir: RunDir | None = None
    eigs: pd.DataFrame | None = None

    stop_reason: str | None = None
    sharpness: pd.DataFrame | None = None

    def summary(self) -> dict[str, Any]:
        """What the manifest records of the run: how it ended, why, and after how many steps."""
        return {"status": self.status, "steps": self.steps, "stopped": self.stop_reason}


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Mean loss, accuracy and per-class accuracy on ``(x, y)``, in eval mode, in chunks."""
    model.eval()
    total_loss, correct = 0.0, torch.zeros(num_classes)
    counts = torch.bincount(y.cpu(), minlength=num_classes).float()
    with torch.no_grad():
        for start in range(0, len(x), _EVAL_CHUNK):
            logits = model(x[start : start + _EVAL_CHUNK])
            target = y[start : start + _EVAL_CHUNK]
            total_loss += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
            hits = (logits.argmax(1) == target).cpu()
            correct += torch.bincount(target.cpu()[hits], minlength=num_classes).float()
    model.train()
    per_class = (correct / counts.clamp(min=1)).tolist()
    return {"loss": total_loss / len(x), "accuracy": float(correct.sum() / len(x)), "per_class": per_class}


def full_gradient_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Norm of the gradient of the mean training loss over the whole set (seed 001, fig. 1)."""
    model.zero_grad(set_to_none=True)
    for start in range(0, len(x), _EVAL_CHUNK):
        logits = model(x[start : start + _EVAL_CHUNK])
        loss = nn.functional.cross_entropy(logits, y[start : start + _EVAL_CHUNK], reduction="sum") / len(x)
        loss.backward()
    norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None))
    model.zero_grad(set_to_none=True)
    return norm


def _train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, entry: Any, xb: torch.Tensor, yb: torch.Tensor
) -> float:
    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(xb), yb)
        with warnings.catch_warnings():
            # torch warns that create_graph=True ties each parameter to its gradient (a reference
            # cycle that can leak); the cycle is broken below by zeroing the grads to None after
            # every step, so the warning would only alarm AdaHessian's users for nothing.
            warnings.filterwarnings("ignore", message=_CREATE_GRAPH_WARNING, category=UserWarning)
            loss.backward(create_graph=entry.needs_create_graph)
        return loss

    loss = closure()
    if entry.needs_closure:
        optimizer.step(closure)
    else:
        optimizer.step()
    if entry.needs_create_graph:  # break the parameter <-> gradient reference cycle
        optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


class _Session:
    """The mutable state of one training run (model, optimizer, batch order, metrics)."""

    def __init__(
        self, config: TrainConfig, data: Dataset, model: nn.Module | None = None, test_only: bool = False
    ) -> None:
        seed_global_streams(config.seed)
        self.config, self.data = config, data
        self.test_only = test_only  # evaluate the test set alone after each epoch (tuning trials)
        self.entry = get_entry(parse_spec(config.optimizer).name)
        if model is None:
            model = build_model(config.model, data.input_shape, data.num_classes)
        self.model = model.to(config.device)
        self.optimizer = build_optimizer(config.optimizer, list(self.model.parameters()))
        self.generator = torch.Generator().manual_seed(config.seed)
        self.rows: list[dict[str, Any]] = []
        self.steps, self.status = 0, "running"
        self.first_loss: float | None = None  # the first batch's loss: the yardstick of a blow-up
        self.stop_reason: str | None = None
        self.eigen_tracker: TrainingEigenTracker | None = None
        if config.track_eigs is not None:
            self.eigen_tracker = TrainingEigenTracker(
                self.model, data.x_train, data.y_train, config.track_eigs,
                planned_steps(config, len(data.x_train)), config.track_batch, config.seed,
            )  # fmt: skip
        self.sharpness_tracker: SharpnessTracker | None = None
        if config.track_sharpness is not None:
            self.sharpness_tracker = SharpnessTracker(
                self.model, self.optimizer, data.x_train, data.y_train, config.track_sharpness,
                config.track_batch, config.seed,
            )  # fmt: skip

    def state(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "global_streams": global_streams_state(),
                "steps": self.steps,
            },
            buffer,
        )
        return buffer.getvalue()

    def restore(self, blob: bytes) -> None:
        state = torch.load(io.BytesIO(blob), weights_only=True, map_location=self.config.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if "global_streams" in state:  # checkpoints before this field resume without it
            restore_global_streams(state["global_streams"])
        self.steps = int(state["steps"])

    def run_epoch(self, epoch: int, recorder: PathRecorder | None) -> dict[str, Any]:
        began = time.perf_counter()
        batch_size = self.config.batch_size or len(self.data.x_train)
        last_loss = math.nan
        for xb, yb in batches(self.data.x_train, self.data.y_train, batch_size, generator=self.generator):
            last_loss = _train_step(self.model, self.optimizer, self.entry, xb, yb)
            self.steps += 1
            if recorder is not None:
                recorder.step(self.steps)
            if self.first_loss is None:
                self.first_loss = last_loss
            reason = divergence(last_loss, self.first_loss, self.config.divergence_factor)
            if reason is not None:
                self.status, self.stop_reason = "diverged", f"{reason} at step {self.steps}"
                break
            if self.eigen_tracker is not None:
                self.eigen_tracker.after_step(self.steps)
            if self.sharpness_tracker is not None:
                self.sharpness_tracker.after_step(self.steps)
            if self.config.max_steps is not None and self.steps >= self.config.max_steps:
                break
        return self._metrics(epoch, last_loss, time.perf_counter() - began)

    def _metrics(self, epoch: int, last_loss: float, seconds: float) -> dict[str, Any]:
        data = self.data
        test = evaluate(self.model, data.x_test, data.y_test, data.num_classes)
        if self.test_only:  # the train-set pass and the full gradient are skipped, not guessed
            train, grad_norm = {"loss": math.nan, "accuracy": math.nan}, math.nan
        else:
            train = evaluate(self.model, data.x_train, data.y_train, data.num_classes)
            grad_norm = full_gradient_norm(self.model, data.x_train, data.y_train)
        row = {
            "epoch": epoch,
            "steps": self.steps,
            "last_batch_loss": last_loss,
            "train_loss": train["loss"],
            "train_accuracy": train["accuracy"],
            "test_loss": test["loss"],
            "test_accuracy": test["accuracy"],
            "grad_norm": grad_norm,
            "seconds": seconds,
        }
        row.update({f"test_accuracy_class_{k}": value for k, value in enumerate(test["per_class"])})
        checked = ("test_loss",) if self.test_only else ("train_loss", "test_loss")
        if self.status != "diverged" and not all(math.isfinite(row[key]) for key in checked):
            self.status = "diverged"
            self.stop_reason = f"the evaluated loss is not finite after epoch {epoch} (step {self.steps})"
        return row

    def should_stop(self) -> bool:
        if self.status == "diverged":
            return True
        if self.config.max_steps is not None and self.steps >= self.config.max_steps:
            self.status = "complete"
            return True
        patience = self.config.patience
        losses = [row["test_loss"] for row in self.rows]
        if patience is not None and patience_exhausted(losses, patience):
            self.status = "early_stopped"
            self.stop_reason = (
                f"no test-loss improvement for {patience} epochs after epoch "
                f"{len(losses) - patience} (stopped after epoch {len(losses)})"
            )
            return True
        return False


def divergence(loss: float, first_loss: float, factor: float) -> str | None:
    """Why a batch loss says the run diverged (None when it did not): it is not finite, or it
    grew past ``factor`` times the first batch's loss (seed 000's lr-2 runs went from 2.3 to 1e14)."""
    if not math.isfinite(loss):
        return f"the training loss is {loss}"
    if math.isfinite(first_loss) and first_loss > 0 and loss > factor * first_loss:
        return f"the training loss {loss:.3g} exceeds {factor:g} x the first step's {first_loss:.3g}"
    return None


def patience_exhausted(test_losses: list[float], patience: int) -> bool:
    """Seed 000's early stop: none of the last ``patience`` epochs improved on the best before them."""
    if len(test_losses) <= patience:
        return False
    return min(test_losses[-patience:]) >= min(test_losses[:-patience])


def train(
    config: TrainConfig,
    out: str | Path | None = None,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    model: nn.Module | None = None,
    data: Dataset | None = None,
    test_only: bool = False,
) -> TrainRun:
    """Train ``config.model`` (or the user's own ``model``) on ``config.dataset`` with ``config.optimizer``.

    A user ``model`` is trained in place (it must take the dataset's inputs and return logits);
    its class name and parameter layout enter the run's cache key, and a resumed run must be
    handed a model built the same way.

    With ``out``, every epoch is stored as it finishes (metrics + checkpoint), a killed run
    resumes from its last finished epoch, and a finished one is a cache hit. ``progress`` is
    called as ``progress(epochs done, epochs planned)`` after each epoch. ``data``, already
    loaded, replaces loading ``config.dataset`` (tuning trials share one split across seeds); it
    is allowed only without ``out``, whose cache key names the data by ``config`` alone; so is
    ``test_only`` (after each epoch the test set alone is evaluated: the train-set columns and
    ``grad_norm`` are NaN), which tuning trials use.
    """
    if (data is not None or test_only) and out:
        raise SpecError("train: pass data= or test_only= only for a run kept in memory (without out=)")
    spec = config.model_dump(mode="json")
    if model is not None:
        spec["model"] = f"user:{type(model).__qualname__}"
        spec["user_layout"] = [[name, list(p.shape)] for name, p in model.named_parameters()]
    if not out:
        return train_in_run(config, None, progress=progress, model=model, data=data, test_only=test_only)
    run_dir = RunDir.open(out, kind="train", spec=spec, force=force)
    with run_dir:
        run = train_in_run(config, run_dir, progress=progress, model=model)
        if not run_dir.cached:
            run_dir.complete(**run.summary())
    return run


def train_in_run(
    config: TrainConfig,
    run_dir: RunDir | None,
    *,
    progress: Callable[[int, int], None] | None = None,
    model: nn.Module | None = None,
    data: Dataset | None = None,
    test_only: bool = False,
) -> TrainRun:
    """Train into an open run directory (resuming its finished epochs); the caller completes it.

    What a finished run keeps: ``metrics.parquet``, ``eigs.parquet`` and ``sharpness.parquet``
    when tracked, the weight path (``path.npz``) and the final state (``checkpoints/final.pt``);
    the epoch units are only the resume cache.
    """
    if data is None:
        data = load_dataset(
            config.dataset, data_dir=config.data_dir, download=config.download, seed=config.seed,
            limit=config.limit,
        )  # fmt: skip
    data = data.to(_check_device(config.device))
    session = _Session(config, data, model, test_only=test_only)
    if run_dir is not None and run_dir.status == "complete" and (run_dir.path / FINAL_CHECKPOINT).is_file():
        return _stored_run(session, run_dir)
    recorder = _recorder(session, config)
    start_epoch = _resume(session, run_dir, recorder)
    # Snapshots already in stored epoch units (all of them after a resume, none on a fresh start,
    # where the step-0 snapshot is stored with epoch 1).
    stored = recorder.count if recorder is not None and start_epoch > 1 else 0
    for epoch in range(start_epoch, config.epochs + 1):
        if session.status != "running":
            break
        session.rows.append(session.run_epoch(epoch, recorder))
        if run_dir is not None:
            _store_epoch(run_dir, session, epoch, recorder, stored)
            stored = recorder.count if recorder is not None else 0
        if progress is not None:
            progress(epoch, config.epochs)
        if session.should_stop():
            break
    if session.status == "running":
        session.status = "complete"
    return _finish(session, recorder, run_dir)


def _stored_run(session: _Session, run_dir: RunDir) -> TrainRun:
    """A finished run read back from its files (final state, metrics, path): nothing is trained."""
    session.restore((run_dir.path / FINAL_CHECKPOINT).read_bytes())
    summary = run_dir.manifest.get("summary", {})
    stored_path = load_path(run_dir)
    snapshots, steps = (None, None) if stored_path is None else stored_path[:2]
    eigs = run_dir.read_table("eigs") if (run_dir.path / "eigs.parquet").is_file() else None
    sharpness = run_dir.read_table("sharpness") if (run_dir.path / "sharpness.parquet").is_file() else None
    return TrainRun(
        session.config, run_dir.read_table("metrics"), str(summary.get("status", "complete")), session.model,
        int(summary.get("steps", session.steps)), snapshots, steps, run_dir, eigs, summary.get("stopped"),
        sharpness,
    )  # fmt: skip


def _check_device(device: str) -> str:
    """``device`` itself, or a :class:`SpecError` naming what is wrong with it."""
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise SpecError(f"unknown device {device!r}; use cpu or cuda[:N]") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    return device


def planned_steps(config: TrainConfig, n_train: int) -> int:
    """The optimizer steps the run takes if nothing stops it early (epochs x batches, or max_steps)."""
    batch_size = config.batch_size or n_train
    total = config.epochs * -(-n_train // batch_size)
    return total if config.max_steps is None else min(total, config.max_steps)


def _recorder(session: _Session, config: TrainConfig) -> PathRecorder | None:
    """The weight-path recorder: every ``record_every`` steps, or the densest that fits the budget."""
    if not config.record:
        return None
    budget = int(config.record_budget_mb * 2**20)
    total = planned_steps(config, len(session.data.x_train))
    every = config.record_every
    if every is None:
        every = snapshot_interval(count_parameters(session.model), total, budget)
    return PathRecorder(session.model, every=every, total_steps=total, budget_bytes=budget)


def _resume(session: _Session, run_dir: RunDir | None, recorder: PathRecorder | None) -> int:
    """Restore the last finished epoch (and the weight path so far); the next epoch to run."""
    done = sorted(unit for unit in run_dir.completed_units() if unit.startswith("epoch-")) if run_dir else []
    if not done:
        if recorder is not None:
            recorder.start()
        return 1
    units = [run_dir.load_unit(unit) for unit in done]
    arrays, meta = units[-1]
    session.restore(arrays["checkpoint"].tobytes())
    # Each unit holds its own epoch's row (older runs stored every row so far in each unit).
    rows = meta["rows"] if "rows" in meta else [unit_meta["row"] for _, unit_meta in units]
    session.rows = [{key: math.nan if value is None else value for key, value in row.items()} for row in rows]
    session.status = meta["status"]
    session.first_loss = meta.get("first_loss")
    session.stop_reason = meta.get("stop_reason")
    if session.eigen_tracker is not None:
        session.eigen_tracker.restore(arrays, meta)
    if session.sharpness_tracker is not None:
        session.sharpness_tracker.restore(arrays, meta)
    if recorder is not None:
        recorder.resume(
            np.concatenate([unit[0]["snapshots"] for unit in units]),
            np.concatenate([unit[0]["snapshot_steps"] for unit in units]),
        )
    return len(done) + 1


def _store_epoch(
    run_dir: RunDir, session: _Session, epoch: int, recorder: PathRecorder | None, before: int
) -> None:
    """One epoch's unit: checkpoint, the epoch's metrics, and the weight snapshots it added."""
    arrays = {"checkpoint": np.frombuffer(session.state(), dtype=np.uint8)}
    if recorder is not None:
        arrays["snapshots"], arrays["snapshot_steps"] = recorder.new_since(before)
    row = {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
           for key, value in session.rows[-1].items()}  # fmt: skip
    meta: dict[str, Any] = {"row": row, "status": session.status, "stop_reason": session.stop_reason}
    if session.first_loss is not None and math.isfinite(session.first_loss):
        meta["first_loss"] = session.first_loss
    if session.eigen_tracker is not None:
        tracker_arrays, tracker_meta = session.eigen_tracker.state()
        arrays |= tracker_arrays
        meta |= tracker_meta
    if session.sharpness_tracker is not None:
        tracker_arrays, tracker_meta = session.sharpness_tracker.state()
        arrays |= tracker_arrays
        meta |= tracker_meta
    run_dir.save_unit(f"epoch-{epoch:05d}", arrays, meta)


def _finish(session: _Session, recorder: PathRecorder | None, run_dir: RunDir | None) -> TrainRun:
    metrics = pd.DataFrame(session.rows)
    classes = sorted(
        (c for c in metrics.columns if c.startswith("test_accuracy_class_")), key=lambda c: int(c[20:])
    )
    metrics = metrics[[*_METRIC_COLUMNS, *classes]] if len(metrics) else metrics
    snapshots = steps = None
    if recorder is not None:
        recorder.finish(session.steps)
        snapshots, steps = recorder.snapshots, recorder.steps
    eigs = None if session.eigen_tracker is None else session.eigen_tracker.frame()
    sharpness = None if session.sharpness_tracker is None else session.sharpness_tracker.frame()
    if run_dir is not None and not run_dir.cached:
        run_dir.write_table("metrics", metrics)
        if eigs is not None:
            run_dir.write_table("eigs", eigs)
        if sharpness is not None:
            run_dir.write_table("sharpness", sharpness)
        if recorder is not None:
            recorder.save(run_dir)
        run_dir.write_bytes(FINAL_CHECKPOINT, session.state())
    return TrainRun(
        session.config, metrics, session.status, session.model, session.steps, snapshots, steps, run_dir,
        eigs, session.stop_reason, sharpness,
    )  # fmt: skip
