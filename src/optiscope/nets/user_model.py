"""A researcher's own model, rebuilt from its factory's import path, and checked against data.

A recording (or ``--model pkg.mod:make_model``) names a *factory*: an ``nn.Module`` subclass or
a function, importable from a module, that builds the untrained model with no arguments. The
module named is the only one imported (:func:`optiscope.user_imports.import_named`). Data is
checked against the model and the loss once, on two samples, so that a mismatch is one clear
line instead of a traceback from deep inside an evaluation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from optiscope.errors import SpecError
from optiscope.user_imports import import_named, is_import_path

__all__ = ["LOSSES", "build_user_model", "check_data_fits", "factory_path", "loss_function"]

LOSSES: tuple[str, ...] = ("cross_entropy", "mse")


def factory_path(factory: str | Callable[[], nn.Module]) -> str:
    """The import path ``module:qualname`` of a model factory, checked for form and import.

    Args:
        factory: an import path, or the factory itself (a class or a module-level function).

    Raises:
        SpecError: the path is malformed, the factory lives in ``__main__`` or inside a function
            (no one could import it later), or the module does not import.
    """
    if isinstance(factory, str):
        path = factory
    elif callable(factory):
        module, name = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
        if module in (None, "__main__") or "<locals>" in name:
            raise SpecError(
                f"the model factory {name or factory!r} must live in an importable module "
                "(not in __main__ or inside a function); move it to a module, or pass its import path"
            )
        path = f"{module}:{name}"
    else:
        raise SpecError(f"factory must be an import path 'pkg.mod:make_model' or a callable, got {factory!r}")
    target = import_named(path, "model factory")
    if not callable(target):
        raise SpecError(f"model factory {path!r} is not callable")
    return path


def build_user_model(path: str, what: str = "--model") -> nn.Module:
    """Import the factory named by ``path`` (``pkg.mod:make_model``) and build the model.

    Args:
        path: the factory's import path.
        what: where the path came from, for the messages (``--model``, a recording).

    Raises:
        SpecError: not an import path, the module does not import (it must be importable, e.g.
            on PYTHONPATH), or the factory fails or returns something other than an ``nn.Module``.
    """
    if not is_import_path(path):
        raise SpecError(f"{what} {path!r} is not an import path: expected 'package.module:make_model'")
    factory = import_named(path, what)
    if not callable(factory):
        raise SpecError(f"{what} {path!r} is not callable")
    try:
        model = factory()
    except Exception as error:  # the user's factory failed; say where, in one line
        raise SpecError(f"{what} {path!r} failed: {type(error).__name__}: {_first_line(error)}") from None
    if not isinstance(model, nn.Module):
        kind = "class" if inspect.isclass(factory) else "factory"
        raise SpecError(f"{what} {path!r}: the {kind} returned {type(model).__name__}, not an nn.Module")
    return model


def loss_function(name: str) -> nn.Module:
    """The batch-mean loss named ``name``: ``cross_entropy`` (class labels) or ``mse``.

    Raises:
        SpecError: an unknown name.
    """
    if name == "cross_entropy":
        return nn.CrossEntropyLoss()
    if name == "mse":
        return nn.MSELoss()
    raise SpecError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def check_data_fits(
    model: nn.Module, loss_fn: nn.Module, data: tuple[torch.Tensor, torch.Tensor], source: str
) -> None:
    """Run the model and the loss on two samples of ``data``; a mismatch is one :class:`SpecError`.

    MSE targets must have exactly the outputs' shape: broadcasting would silently average the
    wrong differences.

    Args:
        model: the network (its train/eval mode is restored).
        loss_fn: the batch-mean loss.
        data: ``(x, y)`` with one row per sample.
        source: how the data was named, for the message.

    Raises:
        SpecError: no samples, unequal row counts, inputs the model cannot take, or targets the
            loss cannot take.
    """
    x, y = data
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y) or len(x) == 0:
        raise SpecError(
            f"data {source}: x and y need one row per sample (at least one); got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    name = type(model).__name__
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                outputs = model(x[:2])
            except Exception as error:  # any failure of the user's forward on these inputs
                raise SpecError(
                    f"data {source}: inputs x of shape {tuple(x.shape)} do not fit the model {name}: "
                    f"{_first_line(error)}"
                ) from None
            _check_targets(loss_fn, outputs, y[:2], source, tuple(y.shape))
    finally:
        model.train(was_training)


def _check_targets(
    loss_fn: nn.Module, outputs: Any, y: torch.Tensor, source: str, shape: tuple[int, ...]
) -> None:
    if not isinstance(outputs, torch.Tensor):
        raise SpecError(f"data {source}: the model returned {type(outputs).__name__}, not a tensor")
    if isinstance(loss_fn, nn.MSELoss) and outputs.shape != y.shape:
        raise SpecError(
            f"data {source}: mse targets y of shape {shape} do not match the model's outputs "
            f"(per sample {tuple(outputs.shape[1:])})"
        )
    try:
        value = loss_fn(outputs, y)
    except Exception as error:  # any failure of the loss on these targets
        raise SpecError(
            f"data {source}: targets y of shape {shape} ({str(y.dtype).replace('torch.', '')}) do not fit "
            f"the loss {type(loss_fn).__name__} for outputs of shape {tuple(outputs.shape)}: "
            f"{_first_line(error)}"
        ) from None
    if value.ndim != 0:
        raise SpecError(f"data {source}: the loss must return one number per batch, got {tuple(value.shape)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
