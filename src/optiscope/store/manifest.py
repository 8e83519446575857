"""The manifest: ``DIR/manifest.json``, the record of what a run directory holds."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import optiscope
from optiscope.errors import StoreError
from optiscope.store.atomic import atomic_write_json, is_temp_file

__all__ = [
    "MANAGED_FIELDS",
    "MANIFEST_NAME",
    "STATUSES",
    "environment_versions",
    "file_entry",
    "merge_file_entry",
    "new_manifest",
    "read_manifest",
    "scan_files",
    "utc_now",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
STATUSES = ("running", "complete", "failed")
_REQUIRED_KEYS = ("kind", "spec", "spec_hash", "status", "units")
# Fields the store manages; ``set_info`` may set ``device`` but none of the others.
MANAGED_FIELDS = frozenset(
    [
        "optiscope_version",
        "kind",
        "spec",
        "spec_hash",
        "status",
        "created",
        "updated",
        "versions",
        "seeds",
        "timings",
        "files",
        "units",
        "error",
        "summary",
        "units_pruned",
        "reused_units",
    ]
)


def utc_now() -> str:
    """The current time as ISO 8601 UTC with seconds, e.g. ``2025-01-31T12:00:00Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _package_version(name: str) -> str | None:
    """Installed version of a distribution, read from metadata (importing torch takes seconds)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment_versions() -> dict[str, str | None]:
    """Versions that decide whether a result can be reproduced."""
    return {
        "python": platform.python_version(),
        "torch": _package_version("torch"),
        "numpy": _package_version("numpy"),
        "optiscope": optiscope.__version__,
        "platform": platform.platform(),
    }


def new_manifest(
    kind: str, spec: dict[str, Any], spec_hash: str, seeds: dict[str, Any] | None
) -> dict[str, Any]:
    """A fresh manifest for a run that starts now (``spec`` and ``seeds`` already canonical)."""
    now = utc_now()
    return {
        "optiscope_version": optiscope.__version__,
        "kind": kind,
        "spec": spec,
        "spec_hash": spec_hash,
        "status": "running",
        "created": now,
        "updated": now,
        "versions": environment_versions(),
        "device": "cpu",
        "seeds": seeds if seeds is not None else {},
        "timings": {},
        "files": [],
        "units": [],
    }


def read_manifest(directory: Path) -> dict[str, Any]:
    """Load and sanity-check ``directory/manifest.json``.

    Raises:
        StoreError: the manifest cannot be read, is not JSON, or lacks the fields of a run.
    """
    path = directory / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path} is corrupt: {exc}") from exc
    if not isinstance(manifest, dict) or any(key not in manifest for key in _REQUIRED_KEYS):
        raise StoreError(f"{path} is corrupt: it lacks the fields of an optiscope run")
    if manifest["status"] not in STATUSES or not isinstance(manifest["units"], list):
        raise StoreError(f"{path} is corrupt: bad status or unit list")
    return manifest


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Stamp ``updated`` and write the manifest atomically."""
    manifest["updated"] = utc_now()
    atomic_write_json(directory / MANIFEST_NAME, manifest)


def scan_files(root: Path) -> list[dict[str, Any]]:
    """Every file under ``root`` except temp files and the manifest: sorted ``{path, size}``."""
    entries = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            full = Path(dirpath) / name
            relpath = full.relative_to(root).as_posix()
            if relpath == MANIFEST_NAME or is_temp_file(name):
                continue
            entries.append({"path": relpath, "size": full.lstat().st_size})
    return sorted(entries, key=lambda entry: entry["path"])


def file_entry(root: Path, relpath: str) -> dict[str, Any]:
    """The ``{path, size}`` entry of one file, as :func:`scan_files` lists it."""
    return {"path": relpath, "size": (root / relpath).stat().st_size}


def merge_file_entry(files: list[Mapping[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """``files`` with ``entry`` added or replaced, kept sorted by path."""
    kept = [dict(item) for item in files if item.get("path") != entry["path"]]
    return sorted([*kept, entry], key=lambda item: item["path"])
