"""Atomic file writes: a reader, or a process killed at any instant, sees the old or the new file.

Each write goes to a temp file in the target's directory, is flushed and fsync'ed, then renamed
over the target with :func:`os.replace` (atomic on POSIX and Windows), and finally the directory
itself is fsync'ed so the rename survives a power loss. A killed writer can leave a temp file
behind; temp files are hidden (leading dot), end in :data:`TEMP_SUFFIX`, and are ignored and
swept by the run directory.
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from optiscope.errors import StoreError

__all__ = [
    "TEMP_SUFFIX",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "is_temp_file",
    "to_json_text",
]

TEMP_SUFFIX = ".optiscope-tmp"


def is_temp_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a temp file left by an (interrupted) atomic write."""
    return os.fspath(path).endswith(TEMP_SUFFIX)


@functools.cache
def _file_mode() -> int:
    """Mode for new files: 0o666 minus the umask, as :func:`open` gives (mkstemp gives 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_directory(directory: Path) -> None:
    """Persist a rename in ``directory``; best effort where directories cannot be opened."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (e.g. certain network mounts) refuse fsync on a directory
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; the parent directory must exist.

    Returns:
        The target path.

    Raises:
        StoreError: the file cannot be written (the message names the path and the OS reason).
    """
    target = Path(path)
    directory = target.parent
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), _file_mode())
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
    _fsync_directory(directory)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    """Encode the non-JSON types results commonly hold: numpy scalars/arrays and paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _find_non_finite(obj: Any, where: str = "$") -> str | None:
    """Locate the first NaN/inf in a JSON-like value, for an error message that points at it."""
    if isinstance(obj, (float, np.floating)) and not math.isfinite(obj):
        return where
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            found = _find_non_finite(value, f"{where}.{key}")
            if found:
                return found
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            found = _find_non_finite(value, f"{where}[{index}]")
            if found:
                return found
    return None


def to_json_text(obj: Any) -> str:
    """Strict, human-readable JSON (sorted keys, indent 2, no NaN/inf) with a final newline.

    Raises:
        StoreError: ``obj`` holds a non-finite float or a value JSON cannot represent.
    """
    try:
        return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, default=_json_default) + "\n"
    except (TypeError, ValueError) as exc:
        where = _find_non_finite(obj)
        reason = f"non-finite number at {where}" if where else str(exc)
        raise StoreError(f"cannot store value as JSON: {reason}") from exc


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as strict JSON to ``path`` atomically (see :func:`to_json_text`)."""
    return atomic_write_text(path, to_json_text(obj))
