"""Work-unit files and the names the store accepts.

A unit is stored as one ``.npz``: its arrays plus its metadata as a JSON string under
:data:`META_KEY`, so arrays and meta land on disk in a single atomic write.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar

import numpy as np

from optiscope.errors import StoreError
from optiscope.store.atomic import TEMP_SUFFIX, to_json_text

__all__ = ["META_KEY", "ArrayRecord", "check_name", "check_relpath", "decode_unit", "encode_unit"]

META_KEY = "__meta__"
R = TypeVar("R", bound="ArrayRecord")


class ArrayRecord(Protocol):
    """A result that turns itself into a unit's ``(arrays, meta)`` and back (Spectrum, ...)."""

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...

    @classmethod
    def from_arrays(cls: type[R], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> R: ...


_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_name(name: str, what: str = "unit id") -> str:
    """Validate a unit id or array name: ``[A-Za-z0-9_.-]+`` and not ``.``/``..``.

    Raises:
        StoreError: the name has other characters (a slash, a space, ...) or is empty.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise StoreError(f"invalid {what} {name!r}: use letters, digits, '_', '.' and '-' only")
    return name


def check_relpath(relpath: str | PurePosixPath) -> str:
    """Validate a path relative to a run directory and return it in POSIX form.

    Raises:
        StoreError: the path is empty, absolute, climbs out with ``..``, or names a temp file.
    """
    text = str(relpath).replace("\\", "/")
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or not parts or ".." in parts or text.endswith("/"):
        raise StoreError(f"invalid path {str(relpath)!r}: it must be relative and stay inside the run")
    if text.endswith(TEMP_SUFFIX):
        raise StoreError(f"invalid path {text!r}: the suffix {TEMP_SUFFIX} is reserved")
    return PurePosixPath(*parts).as_posix()


def encode_unit(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None) -> bytes:
    """The compressed ``.npz`` bytes of one unit (no pickles: object arrays are refused).

    Raises:
        StoreError: a bad array name, an object array, or meta that is not strict JSON.
    """
    payload = {}
    for name, array in arrays.items():
        check_name(name, "array name")
        if name == META_KEY:
            raise StoreError(f"array name {META_KEY!r} is reserved for the unit's meta")
        value = np.asarray(array)
        if value.dtype.hasobject:
            raise StoreError(f"array {name!r} has dtype object; store numeric or string arrays")
        payload[name] = value
    payload[META_KEY] = np.array(to_json_text(dict(meta or {})))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **payload)
    return buffer.getvalue()


def decode_unit(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a unit file back into ``(arrays, meta)``.

    Raises:
        StoreError: the file is missing or not a valid unit file.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise StoreError(f"cannot read unit file {path}: {exc}") from exc
    meta_text = arrays.pop(META_KEY, None)
    meta = json.loads(str(meta_text)) if meta_text is not None else {}
    return arrays, meta
