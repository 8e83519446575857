"""A researcher's own data: a loader named by import path, or a tensor file.

A data source is ``pkg.mod:load_data`` (a function of no arguments returning ``(x, y)``, a
mapping with ``x`` and ``y``, or an iterable of ``(x, y)`` batches such as a ``DataLoader``,
whose batches are concatenated) or a file: ``.pt``/``.pth`` read with
``torch.load(weights_only=True)`` holding ``{"x": ..., "y": ...}`` or a pair, ``.safetensors``
with tensors ``x`` and ``y``, or ``.npz`` with arrays ``x`` and ``y`` (no pickles).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from optiscope.errors import SpecError
from optiscope.user_imports import import_named, is_import_path

__all__ = ["DATA_SUFFIXES", "is_data_source", "load_data", "match_model"]

DATA_SUFFIXES: tuple[str, ...] = (".pt", ".pth", ".safetensors", ".npz")


def is_data_source(text: str) -> bool:
    """Whether ``text`` names a loader (``pkg.mod:name``) or a tensor file (by its suffix)."""
    return is_import_path(text) or Path(text).suffix.lower() in DATA_SUFFIXES


def load_data(source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(x, y)`` tensors (CPU) of a loader or a tensor file; see the module docstring.

    Raises:
        SpecError: the file is missing or unreadable, the loader does not import or fails, or
            what they hold is not ``x`` and ``y``.
    """
    if is_import_path(source):
        loader = import_named(source, "--data")
        if not callable(loader):
            raise SpecError(f"--data {source!r} is not callable")
        try:
            loaded = loader()
        except Exception as error:  # the user's loader failed; one line
            raise SpecError(f"--data {source!r} failed: {type(error).__name__}: {error}") from None
        return _pair(loaded, source)
    path = Path(source).expanduser()
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise SpecError(f"--data {source!r}: expected pkg.mod:loader or a {', '.join(DATA_SUFFIXES)} file")
    if not path.is_file():
        raise SpecError(f"--data {source!r}: no such file")
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                loaded: Any = {name: arrays[name] for name in arrays.files}
        elif suffix == ".safetensors":
            loaded = safetensors.torch.load_file(path)
        else:
            loaded = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # unreadable or unsafe content: one line, never a pickle
        raise SpecError(f"--data {source!r} cannot be read: {type(error).__name__}: {error}") from None
    return _pair(loaded, source)


def _pair(loaded: Any, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` tensors from a mapping with x and y, a pair, or an iterable of batch pairs."""
    if isinstance(loaded, Mapping):
        missing = [key for key in ("x", "y") if key not in loaded]
        if missing:
            raise SpecError(f"--data {source!r} holds {sorted(map(str, loaded))}, not 'x' and 'y'")
        parts = (loaded["x"], loaded["y"])
    elif isinstance(loaded, tuple | list) and len(loaded) == 2 and not _is_batch_list(loaded):
        parts = (loaded[0], loaded[1])
    elif isinstance(loaded, Iterable) and not isinstance(loaded, str | bytes | torch.Tensor | np.ndarray):
        batches = [_pair(batch, source) for batch in loaded]
        if not batches:
            raise SpecError(f"--data {source!r} yielded no batches")
        return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])
    else:
        raise SpecError(
            f"--data {source!r} must give (x, y), a mapping with 'x' and 'y' or (x, y) batches; "
            f"got {type(loaded).__name__}"
        )
    x, y = (_tensor(part, source, name) for part, name in zip(parts, "xy", strict=True))
    return x, y


def _is_batch_list(loaded: tuple | list) -> bool:
    """Two batches ``[(x1, y1), (x2, y2)]`` rather than one pair ``(x, y)``."""
    return all(isinstance(item, tuple | list) and len(item) == 2 for item in loaded)


def _tensor(value: Any, source: str, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray) and value.dtype != object:
        return torch.from_numpy(np.ascontiguousarray(value))
    raise SpecError(
        f"--data {source!r}: {name} must be a tensor or a numeric array, got {type(value).__name__}"
    )


def match_model(
    data: tuple[torch.Tensor, torch.Tensor], reference: torch.Tensor, loss: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` on the model's device; float inputs in its dtype, targets as the loss wants.

    Cross-entropy takes integer class labels as int64 (float targets, class probabilities, in
    the model's dtype); MSE takes float targets in the model's dtype. Integer inputs (token ids)
    are kept as they are.

    Args:
        data: the ``(x, y)`` tensors.
        reference: a parameter of the model (its device and dtype).
        loss: ``cross_entropy`` or ``mse``.
    """
    x, y = data
    device, dtype = reference.device, reference.dtype
    x = x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)
    if loss == "mse" or y.is_floating_point():
        y = y.to(device=device, dtype=dtype)
    else:
        y = y.to(device=device, dtype=torch.int64)
    return x, y
