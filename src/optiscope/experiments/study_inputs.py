"""What a landscape or curvature study measures: a run's model at its final weights, and data.

The run is a training run (``optiscope train``; its own data set, selected as ``train``,
``test``, ``batch:SIZE`` or ``subset:N``) or a recording of the user's own loop
(:func:`optiscope.nets.record`; its model rebuilt by the factory it stored or ``--model``, its
data from the loader or file it stored or ``--data``). Either takes ``--data pkg.mod:loader`` or
a tensor file. Data that does not fit the model or the loss is refused here in one line, which
the commands call before any folder is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from pydantic import AfterValidator, Field
from torch import nn

from optiscope.errors import SpecError
from optiscope.nets.runs import RecordedRun, load_run
from optiscope.nets.user_data import DATA_SUFFIXES, is_data_source, load_data, match_model
from optiscope.nets.user_model import check_data_fits, loss_function
from optiscope.user_imports import is_import_path

__all__ = [
    "DATA_HELP",
    "DataSpec",
    "LossName",
    "ModelPath",
    "StudyInputs",
    "check_data_spec",
    "check_model_path",
    "load_inputs",
    "select_data",
]

DATA_HELP = (
    "train, test, batch:SIZE (the trainer's first batch), subset:N, pkg.mod:loader, or a "
    f"{'/'.join(DATA_SUFFIXES)} file holding x and y"
)


def _is_selection(value: str) -> bool:
    kind, _, size = value.partition(":")
    return value in ("train", "test") or (kind in ("batch", "subset") and size.isdigit() and int(size) > 0)


def check_data_spec(value: str) -> str:
    """``value`` if it names the samples a net is probed on, else ``ValueError`` (for pydantic)."""
    if _is_selection(value) or is_data_source(value):
        return value
    raise ValueError(f"must be one of: {DATA_HELP} (SIZE, N positive integers)")


def check_model_path(value: str | None) -> str | None:
    """``value`` if it is None or an import path ``pkg.mod:factory``, else ``ValueError``."""
    if value is None or is_import_path(value):
        return value
    raise ValueError("must be an import path 'package.module:make_model'")


# The fields every study of a run shares (landscape, curvature, connect), checked the same way.
DataSpec = Annotated[str, AfterValidator(check_data_spec), Field(description=DATA_HELP)]
ModelPath = Annotated[
    str | None,
    AfterValidator(check_model_path),
    Field(description="pkg.mod:make_model (default: the factory the run stored, or its own model)"),
]
LossName = Annotated[Literal["cross_entropy", "mse"], Field(description="cross_entropy or mse")]


def select_data(run: Any, spec: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples a study is evaluated on (a training run's are on its device, others on the CPU).

    ``batch:SIZE`` is the first minibatch the trainer drew (the first ``SIZE`` indices of its
    epoch-1 permutation, seed 000 fig. 1); ``subset:N`` the first ``N`` training samples. A
    recording's ``train`` is the data it stored. A loader or file is read as it is.

    Args:
        run: a :class:`~optiscope.nets.RecordedRun` (or a ``TrainedRun``).
        spec: see :data:`DATA_HELP`.

    Raises:
        SpecError: more samples asked for than there are, or a selection the run cannot make.
    """
    if not _is_selection(spec):
        return load_data(spec)
    if run.data is None:
        return _recording_data(run, spec)
    data = run.data
    kind = spec.partition(":")[0]
    if kind == "test":
        return data.x_test, data.y_test
    if kind == "train":
        return data.x_train, data.y_train
    count = _count(spec, len(data.x_train))
    if kind == "subset":
        return data.x_train[:count], data.y_train[:count]
    order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(run.config.seed))
    index = order[:count].to(data.x_train.device)
    return data.x_train[index], data.y_train[index]


def _count(spec: str, available: int) -> int:
    count = int(spec.partition(":")[2])
    if count > available:
        raise SpecError(f"--data {spec} asks for {count} samples; the training set has {available}")
    return count


def _recording_data(run: RecordedRun, spec: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``train`` or ``subset:N`` of the data source a recording stored."""
    kind = spec.partition(":")[0]
    where = run.run_dir.path
    if kind not in ("train", "subset"):
        raise SpecError(
            f"--data {spec}: {where} is a recording, with no test set or trainer's batches; "
            "give train, subset:N, pkg.mod:loader or a tensor file"
        )
    source = run.meta.get("data")
    if source is None:
        raise SpecError(
            f"{where} is a recording that stored no data: pass --data pkg.mod:loader or a "
            f"{'/'.join(DATA_SUFFIXES)} file (or record(..., data=...))"
        )
    x, y = load_data(str(source))
    if kind == "subset":
        count = _count(spec, len(x))
        return x[:count], y[:count]
    return x, y


@dataclass(frozen=True)
class StudyInputs:
    """A study's subject: the loaded run, its model at the final weights, the data and the loss."""

    run: RecordedRun
    model: nn.Module
    data: tuple[torch.Tensor, torch.Tensor]
    loss_fn: nn.Module


def load_inputs(
    run: str, data: str, *, model: str | None = None, loss: str = "cross_entropy", device: str = "cpu"
) -> StudyInputs:
    """Load ``run``, build its model, select and check the data: everything a study measures.

    Args:
        run: a training run or recording directory.
        data: the samples (see :data:`DATA_HELP`).
        model: the factory's import path (default: the one the run stored, or its built-in model).
        loss: ``cross_entropy`` or ``mse``.
        device: where the model and the data go.

    Raises:
        SpecError: no way to build the model, data that does not fit it or the loss, a factory
            or loader that does not import.
        StoreError: ``run`` is not a finished run with a model.
    """
    loaded = load_run(run, model=model, device=device)
    if loaded.model is None:
        raise SpecError(
            f"{run} is a recording that does not say how to build its model ({loaded.meta.get('model')}): "
            "pass --model pkg.mod:make_model (or record(..., factory=...))"
        )
    loss_fn = loss_function(loss)
    reference = next(loaded.model.parameters(), None)
    if reference is None:
        raise SpecError(f"the model of {run} has no parameters to measure")
    pair = match_model(select_data(loaded, data), reference, loss)
    check_data_fits(loaded.model, loss_fn, pair, data)
    return StudyInputs(loaded, loaded.model, pair, loss_fn)
