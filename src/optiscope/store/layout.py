"""The run directory on disk: creating it, sweeping temp files, clearing an earlier run."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from optiscope.errors import StoreError
from optiscope.store.atomic import TEMP_SUFFIX
from optiscope.store.manifest import MANIFEST_NAME
from optiscope.store.units import check_relpath

__all__ = [
    "DATA_DIR",
    "FIGURES_DIR",
    "OWNED_FOLDERS",
    "SHARED_ASSETS_DIR",
    "UNITS_DIR",
    "os_reason",
    "prepare_directory",
    "remove_previous_run",
    "sweep_temp_files",
]

UNITS_DIR = "units"
FIGURES_DIR = "figures"
SHARED_ASSETS_DIR = "assets"  # files every report of a run tree links to (written once, at the root)
DATA_DIR = "data"  # units that are results (kept after completion), e.g. a teaching study's traces
# Folders that belong to optiscope as a whole: ``--force`` removes them with everything inside.
OWNED_FOLDERS = (UNITS_DIR, FIGURES_DIR, DATA_DIR, "checkpoints")


def os_reason(exc: OSError) -> str:
    """The OS's own words for an error, e.g. ``Permission denied``."""
    return exc.strerror or str(exc)


def prepare_directory(path: Path) -> None:
    """Create ``path`` (parents too) or fail with one line naming it and the OS reason."""
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create run directory {path}: {os_reason(exc)}") from exc


def sweep_temp_files(root: Path) -> None:
    """Remove temp files left by writers that were killed mid-write."""
    for temp in list(root.rglob(f"*{TEMP_SUFFIX}")):
        temp.unlink(missing_ok=True)


def _inside_nested_run(root: Path, target: Path) -> bool:
    """Whether ``target`` lies in a sub-folder of ``root`` that holds its own manifest."""
    folder = target.parent
    while folder != root and folder.is_relative_to(root):
        if (folder / MANIFEST_NAME).is_file():
            return True
        folder = folder.parent
    return False


def _remove_listed_file(root: Path, relpath: Any) -> None:
    """Remove one file a manifest lists, and the folders it leaves empty; skip odd paths."""
    try:
        target = root / check_relpath(relpath)
    except StoreError:
        return  # never follow a path the store would not have written
    if relpath.startswith(f"{SHARED_ASSETS_DIR}/"):
        return  # shared by every report in the tree (plotly.js); a later report rewrites it if gone
    if not target.is_file() or not target.resolve().is_relative_to(root.resolve()):
        return
    if _inside_nested_run(root, target):
        return  # a nested run (a step of a study) is cleared by its own open, if ever
    target.unlink()
    parent = target.parent
    while parent != root and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def remove_previous_run(root: Path, manifest: Mapping[str, Any]) -> None:
    """Delete what an earlier run wrote: its listed files, the owned folders, the manifest.

    Files the manifest does not list (outside the owned folders) are left alone.

    Raises:
        StoreError: something could not be removed.
    """
    try:
        for entry in manifest.get("files", []):
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                _remove_listed_file(root, entry["path"])
        for folder in OWNED_FOLDERS:
            if (root / folder).is_dir():
                shutil.rmtree(root / folder)
        sweep_temp_files(root)
        (root / MANIFEST_NAME).unlink(missing_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot clear the earlier run in {root}: {os_reason(exc)}") from exc
