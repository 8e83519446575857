"""The training lab: data sets, models, the trainer, the weight-path recorder and the run loader."""

from __future__ import annotations

from optiscope.nets.data import Dataset, DatasetError, batches, load_dataset
from optiscope.nets.models import MLP, LeNet5, SmallCNN, build_model, count_parameters
from optiscope.nets.recorder import (
    PathRecorder,
    flatten_parameters,
    parameter_layout,
    record,
    snapshot_interval,
)
from optiscope.nets.runs import RecordedRun, load_run
from optiscope.nets.sharpness import SharpnessTracker, preconditioner_diagonal, stability_threshold
from optiscope.nets.trainer import TrainConfig, TrainRun, evaluate, train

__all__ = [
    "MLP",
    "Dataset",
    "DatasetError",
    "LeNet5",
    "PathRecorder",
    "RecordedRun",
    "SharpnessTracker",
    "SmallCNN",
    "TrainConfig",
    "TrainRun",
    "batches",
    "build_model",
    "count_parameters",
    "evaluate",
    "flatten_parameters",
    "load_dataset",
    "load_run",
    "parameter_layout",
    "preconditioner_diagonal",
    "record",
    "snapshot_interval",
    "stability_threshold",
    "train",
]
