"""Stable run ids: the hash of a spec's canonical JSON form."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from optiscope.errors import StoreError

__all__ = ["canonical_json", "canonicalize", "spec_hash"]

SPEC_HASH_LENGTH = 16


def canonicalize(value: Any, where: str = "spec") -> Any:
    """Turn a spec into plain JSON data: dicts with str keys, lists, str, int, float, bool, None.

    Tuples become lists and numpy scalars become Python numbers, so equal specs written either
    way hash alike; ``1`` and ``1.0`` stay distinct (JSON keeps them apart).

    Raises:
        StoreError: a key is not a string, a float is NaN/inf, or a value has no JSON form.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StoreError(f"{where} is {value}; a spec must hold finite numbers only")
        return value
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise StoreError(f"{where} has a non-string key {key!r}")
            result[key] = canonicalize(item, f"{where}.{key}")
        return result
    if isinstance(value, (list, tuple)):
        return [canonicalize(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise StoreError(f"{where} has a value of type {type(value).__name__}, which has no JSON form")


def canonical_json(spec: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON of the canonical spec: the text that :func:`spec_hash` hashes."""
    return json.dumps(
        canonicalize(spec),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def spec_hash(spec: Mapping[str, Any]) -> str:
    """First 16 hex digits of the sha256 of the spec's canonical JSON; stable across processes.

    Raises:
        StoreError: the spec cannot be canonicalised (see :func:`canonicalize`).
    """
    digest = hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()
    return digest[:SPEC_HASH_LENGTH]
