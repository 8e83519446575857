"""One loader for any run that holds a weight path: a recording of your own loop, or a training run.

:func:`load_run` returns the path (snapshots and their steps, as arrays), the run's metadata and,
where the run says how to build it (a recording's factory, a built-in model) or you do
(``model=``), the model at its final weights. Loading a recording that names a factory imports
that factory's module: open recordings you trust, or pass ``model=`` to choose the code yourself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from optiscope.errors import SpecError, StoreError
from optiscope.nets.data import Dataset
from optiscope.nets.recorder import load_final_weights, load_path, parameter_layout
from optiscope.nets.trained import load_trained
from optiscope.nets.trainer import TrainConfig
from optiscope.nets.user_model import build_user_model
from optiscope.store import RunDir
from optiscope.store import load_run as open_run_dir

__all__ = ["RUN_KINDS", "RecordedRun", "load_run"]

RUN_KINDS: tuple[str, ...] = ("recording", "train")

ModelSource = str | nn.Module | None


@dataclass
class RecordedRun:
    """A run with a weight path, loaded.

    Attributes:
        snapshots: ``(k, n_params)`` float32, the recorded weights in ``named_parameters()``
            order; ``(0, n_params)`` when the run recorded no path.
        steps: ``(k,)`` int64, the optimizer step of each snapshot, increasing from 0.
        meta: the run's spec: for a recording the model's class name, parameter ``layout``,
            ``every``, and ``factory`` and ``data`` where given; for a training run its
            :class:`~optiscope.nets.TrainConfig` fields.
        model: the model at the final weights, in eval mode; ``None`` when neither the run nor
            the caller says how to build it.
        run_dir: the run directory.
        kind: ``"recording"`` or ``"train"``.
        status: how the run ended (``complete``, ``failed``; a training run's own status).
        data: a training run's data set; ``None`` for a recording (its ``meta["data"]`` names a
            loader or file, if given).
        config: a training run's config; ``None`` for a recording.
    """

    snapshots: np.ndarray
    steps: np.ndarray
    meta: dict[str, Any]
    model: nn.Module | None
    run_dir: RunDir
    kind: str
    status: str
    data: Dataset | None = None
    config: TrainConfig | None = field(default=None)

    @property
    def factory(self) -> str | None:
        """The import path of the model's factory the recording stored, or None."""
        return self.meta.get("factory")


def load_run(path: str | Path, *, model: ModelSource = None, device: str | None = None) -> RecordedRun:
    """Load a recording (from :func:`~optiscope.nets.record`) or a training run (``optiscope train``).

    Args:
        path: the run directory.
        model: how to build the model: an import path ``"pkg.mod:make_model"`` (that module is
            imported, nothing else), or a fresh model of the same architecture, into which the
            final weights are loaded. ``None``: the factory the recording stored, the built-in
            model of a training run, or no model.
        device: where to put the model (and a training run's data); default: the CPU, or the
            training run's own device.

    Raises:
        StoreError: ``path`` holds no run, a run of another kind, or no recorded path.
        SpecError: the factory does not import or builds a model of another parameter layout.
    """
    run_dir = open_run_dir(path)
    kind = run_dir.manifest.get("kind")
    if kind == "train":
        return _training_run(path, run_dir, model, device)
    if kind != "recording":
        raise StoreError(f"{path} holds a {kind!r} run, not a recording or a training run")
    stored = load_path(run_dir)
    if stored is None:
        raise StoreError(f"{path} is a recording without a stored path (status {run_dir.status})")
    snapshots, steps, _ = stored
    meta = dict(run_dir.spec)
    built = _recorded_model(path, run_dir, meta, model, snapshots)
    if built is not None:
        built.to(device or "cpu").eval()
    return RecordedRun(snapshots, steps, meta, built, run_dir, "recording", run_dir.status)


def _training_run(path: str | Path, run_dir: RunDir, model: ModelSource, device: str | None) -> RecordedRun:
    given = build_user_model(model, "--model") if isinstance(model, str) else model
    trained = load_trained(path, device=device, model=given)
    n_params = sum(p.numel() for p in trained.model.parameters())
    snapshots = trained.snapshots
    if snapshots is None:
        snapshots = np.zeros((0, n_params), dtype=np.float32)
    steps = trained.snapshot_steps if trained.snapshot_steps is not None else np.zeros(0, dtype=np.int64)
    return RecordedRun(
        snapshots, steps, dict(run_dir.spec), trained.model, run_dir, "train", trained.status,
        trained.data, trained.config,
    )  # fmt: skip


def _recorded_model(
    path: str | Path, run_dir: RunDir, meta: dict[str, Any], model: ModelSource, snapshots: np.ndarray
) -> nn.Module | None:
    """The recording's model at its final weights (or None when nothing says how to build it)."""
    if isinstance(model, nn.Module):
        built = model
    elif isinstance(model, str):
        built = build_user_model(model, "--model")
    elif meta.get("factory"):
        built = build_user_model(str(meta["factory"]), f"the factory {path} recorded")
    else:
        return None
    layout = [[name, list(shape)] for name, shape in parameter_layout(built)]
    if layout != meta.get("layout"):
        raise SpecError(
            f"the model built for {path} ({type(built).__name__}, {_count(layout)} parameters) does not "
            f"have the recorded parameter layout ({meta.get('model')}, {_count(meta.get('layout', []))} "
            "parameters)"
        )
    state = load_final_weights(run_dir)
    if state is not None:
        built.load_state_dict(state)
    else:  # recordings made before the final weights were stored: the last snapshot
        pieces = torch.split(torch.from_numpy(snapshots[-1].copy()), [p.numel() for p in built.parameters()])
        with torch.no_grad():
            for parameter, piece in zip(built.parameters(), pieces, strict=True):
                parameter.copy_(piece.view_as(parameter))
    return built


def _count(layout: list[Any]) -> int:
    return sum(int(np.prod(shape, dtype=np.int64)) for _, shape in layout)
