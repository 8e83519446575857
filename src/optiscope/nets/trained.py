"""Read a finished training run back: its config, the trained model, its data and weight path.

:func:`optiscope.nets.load_run` reads a training run through this, the one place that knows
how the trainer stored it (``checkpoints/final.pt``, loaded with
``weights_only=True``, and the weight path ``path.npz``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from optiscope.errors import SpecError, StoreError
from optiscope.nets.data import Dataset, load_dataset
from optiscope.nets.models import build_model
from optiscope.nets.recorder import load_path
from optiscope.nets.trainer import FINAL_CHECKPOINT, TrainConfig
from optiscope.seeding import seed_global_streams
from optiscope.store import RunDir, load_run

__all__ = ["TrainedRun", "load_trained"]


@dataclass
class TrainedRun:
    """A stored training run, loaded: the model holds the final weights, in eval mode."""

    config: TrainConfig
    model: nn.Module
    data: Dataset
    run_dir: RunDir
    snapshots: np.ndarray | None
    snapshot_steps: np.ndarray | None
    status: str


def _final_checkpoint(run_dir: RunDir) -> bytes:
    """The bytes of the run's final state: ``checkpoints/final.pt``, or (runs stored before it)
    the checkpoint in the last epoch unit."""
    final = run_dir.path / FINAL_CHECKPOINT
    if final.is_file():
        return final.read_bytes()
    epochs = sorted(unit for unit in run_dir.completed_units() if unit.startswith("epoch-"))
    if not epochs:
        raise StoreError(f"{run_dir.path} holds no checkpoint (no {FINAL_CHECKPOINT})")
    arrays, _ = run_dir.load_unit(epochs[-1])
    return arrays["checkpoint"].tobytes()


def load_trained(
    path: str | Path, *, device: str | None = None, model: nn.Module | None = None
) -> TrainedRun:
    """Load the training run stored in ``path`` (a ``optiscope train`` run directory).

    Args:
        path: the run directory.
        device: where to put the model and data (default: the run's own device).
        model: a fresh model of the run's architecture, into which the final weights are loaded
            (needed for a run that trained the user's own model; default: the built-in one).

    Raises:
        StoreError: ``path`` is not a finished training run, or its files are missing.
        SpecError: a run of the user's own model and no ``model``, or one that does not fit.
    """
    run_dir = load_run(path)
    if run_dir.manifest.get("kind") != "train":
        raise StoreError(f"{path} holds a {run_dir.manifest.get('kind')!r} run, not a training run")
    if run_dir.status not in ("complete",):
        raise StoreError(f"{path} is a training run that has not finished (status {run_dir.status})")
    spec = dict(run_dir.spec)
    spec.pop("user_layout", None)
    config = TrainConfig.build(**spec)
    checkpoint = _final_checkpoint(run_dir)
    target = device or config.device
    data = load_dataset(config.dataset, data_dir=config.data_dir, seed=config.seed, limit=config.limit)
    if model is None:
        if config.model.startswith("user:"):
            raise SpecError(
                f"{path} trained your own model {config.model[5:]}; say how to build it: "
                "--model pkg.mod:make_model (in Python: model=)"
            )
        seed_global_streams(config.seed)
        model = build_model(config.model, data.input_shape, data.num_classes)
    state = torch.load(io.BytesIO(checkpoint), weights_only=True, map_location="cpu")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        reason = " ".join(line.strip() for line in str(error).splitlines())[:300]
        raise SpecError(f"the model given for {path} does not fit its trained weights: {reason}") from None
    model.to(target).eval()
    stored_path = load_path(run_dir)
    snapshots, steps = (None, None) if stored_path is None else stored_path[:2]
    return TrainedRun(
        config,
        model,
        data.to(target),
        run_dir,
        snapshots,
        steps,
        str(run_dir.manifest.get("summary", {}).get("status", run_dir.status)),
    )
