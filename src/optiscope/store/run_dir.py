"""Run directories: one place that owns every byte a run writes, with resume and caching.

Layout: ``manifest.json``, ``units/<id>.npz`` (completed work units), ``<name>.parquet``
(tables), ``figures/`` and any other relative path written through :class:`RunDir`.
"""

from __future__ import annotations

import copy
import io
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from optiscope.errors import StoreError
from optiscope.store.atomic import atomic_write_bytes, is_temp_file, to_json_text
from optiscope.store.hashing import canonicalize, spec_hash
from optiscope.store.layout import (
    DATA_DIR,
    FIGURES_DIR,
    UNITS_DIR,
    os_reason,
    prepare_directory,
    remove_previous_run,
    sweep_temp_files,
)
from optiscope.store.manifest import (
    MANAGED_FIELDS,
    MANIFEST_NAME,
    file_entry,
    merge_file_entry,
    new_manifest,
    read_manifest,
    scan_files,
    write_manifest,
)
from optiscope.store.png import palette_png
from optiscope.store.table_writer import TableWriter, parquet_table_writer
from optiscope.store.units import ArrayRecord, check_name, check_relpath, decode_unit, encode_unit

__all__ = ["RunDir", "load_run"]

R = TypeVar("R", bound=ArrayRecord)
Arrays = dict[str, np.ndarray]


def _holds_foreign_files(root: Path) -> bool:
    """Whether a directory without a manifest holds anything but temp files of ours."""
    try:
        return any(not is_temp_file(entry.name) for entry in root.iterdir())
    except OSError as exc:
        raise StoreError(f"cannot list {root}: {os_reason(exc)}") from exc


class RunDir:
    """A run directory; make one with :meth:`RunDir.open` or :func:`load_run`.

    Attributes:
        cached: the directory already held this run, complete; nothing was touched.
        resumed: the directory held this run unfinished (killed or failed); completed units kept.
    """

    def __init__(self, path: Path, manifest: dict[str, Any], *, cached: bool, resumed: bool):
        self._path = path
        self._manifest = manifest
        self.cached = cached
        self.resumed = resumed
        self.units_at_open: tuple[str, ...] = ()  # the finished units a resumed run found stored
        self._started = time.monotonic()

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        kind: str,
        spec: Mapping[str, Any],
        seeds: Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> RunDir:
        """Open ``path`` for a ``kind`` run of ``spec``: fresh, cached, resumed, or refused.

        Raises:
            StoreError: the path cannot be used, holds a different run (without ``force``), or
                holds files that optiscope did not write (even with ``force``).
        """
        root = Path(path).expanduser()
        canonical_spec = canonicalize(spec)
        canonical_seeds = canonicalize(seeds, "seeds") if seeds is not None else None
        digest = spec_hash(canonical_spec)
        prepare_directory(root)
        if (root / MANIFEST_NAME).exists():
            previous = read_manifest(root)
            same = previous["spec_hash"] == digest and previous["kind"] == kind
            if same and not force:
                if previous["status"] == "complete":
                    return cls(root, previous, cached=True, resumed=False)
                return cls._resume(root, previous, canonical_seeds)
            if not same and not force:
                raise StoreError(
                    f"{root} already holds a different {previous['kind']} run "
                    f"(spec {previous['spec_hash']}); choose another --out or pass --force"
                )
            remove_previous_run(root, previous)
        elif _holds_foreign_files(root):
            raise StoreError(f"{root} is not empty and is not an optiscope run directory")
        sweep_temp_files(root)
        run = cls(
            root,
            new_manifest(kind, canonical_spec, digest, canonical_seeds),
            cached=False,
            resumed=False,
        )
        run._save()
        return run

    @classmethod
    def _resume(cls, root: Path, manifest: dict[str, Any], seeds: Any) -> RunDir:
        sweep_temp_files(root)
        manifest["status"] = "running"
        manifest.pop("error", None)
        if seeds is not None:
            manifest["seeds"] = seeds
        run = cls(root, manifest, cached=False, resumed=True)
        manifest["units"] = sorted(run.completed_units())
        run.units_at_open = tuple(manifest["units"])
        run._save()
        return run

    # -- properties -------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def spec(self) -> dict[str, Any]:
        """The canonical spec (tuples turned into lists), a copy."""
        return copy.deepcopy(self._manifest["spec"])

    @property
    def spec_hash(self) -> str:
        return self._manifest["spec_hash"]

    @property
    def status(self) -> str:
        return self._manifest["status"]

    @property
    def manifest(self) -> dict[str, Any]:
        return copy.deepcopy(self._manifest)

    @property
    def device(self) -> str:
        return self._manifest.get("device", "cpu")

    @device.setter
    def device(self, value: str) -> None:
        self._manifest["device"] = str(value)
        self._save()

    # -- units ------------------------------------------------------------------------------

    def _unit_path(self, unit_id: str) -> Path:
        return self._path / UNITS_DIR / f"{check_name(unit_id)}.npz"

    def completed_units(self) -> set[str]:
        """Ids of the units on disk; each was written atomically, so each is complete."""
        return {p.stem for p in (self._path / UNITS_DIR).glob("*.npz")}

    def has_unit(self, unit_id: str) -> bool:
        return self._unit_path(unit_id).is_file()

    def save_unit(
        self,
        unit_id: str,
        arrays: Mapping[str, np.ndarray],
        meta: Mapping[str, Any] | None = None,
    ) -> Path:
        """Store a completed unit (arrays + JSON meta in one ``.npz``) and record it."""
        relpath = f"{UNITS_DIR}/{check_name(unit_id)}.npz"
        self._write_file(relpath, encode_unit(arrays, meta), save=False)
        self._manifest["units"] = sorted(set(self._manifest["units"]) | {unit_id})
        self._save()
        return self._path / relpath

    def load_unit(self, unit_id: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The ``(arrays, meta)`` of a completed unit; StoreError if it is missing or unreadable."""
        return decode_unit(self._unit_path(unit_id))

    def unit(
        self,
        unit_id: str,
        compute: Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, Any]]],
        *,
        keep: bool = False,
    ) -> tuple[Arrays, dict[str, Any]]:
        """The unit ``unit_id``: read back when a finished one is on disk, else computed and saved.

        This is the one has / load / compute / save step every resumable study goes through.
        A ``keep`` unit is a result the figures read: it is stored as ``data/<unit_id>.npz`` and
        survives the pruning of the caches.
        """
        if keep:
            relpath = f"{DATA_DIR}/{check_name(unit_id)}.npz"
            if not (self._path / relpath).is_file():
                arrays, meta = compute()
                self._write_file(relpath, encode_unit(arrays, meta))
            return decode_unit(self._path / relpath)
        if self.has_unit(unit_id):
            return self.reuse_unit(unit_id)
        arrays, meta = compute()
        self.save_unit(unit_id, arrays, meta)
        return self.load_unit(unit_id)

    def reuse_unit(self, unit_id: str) -> tuple[Arrays, dict[str, Any]]:
        """A unit a killed run stored, read back and recorded as reused (studies whose units an
        executor computes check :meth:`has_unit` first, then save what it returns)."""
        if unit_id not in self._manifest.setdefault("reused_units", []):
            self._manifest["reused_units"] = sorted([*self._manifest["reused_units"], unit_id])
            self._save()
        return self.load_unit(unit_id)

    def load_kept(self, unit_id: str) -> tuple[Arrays, dict[str, Any]]:
        """The ``(arrays, meta)`` of a unit stored with ``keep=True``."""
        return decode_unit(self._path / DATA_DIR / f"{check_name(unit_id)}.npz")

    def record_unit(self, unit_id: str, kind: type[R], compute: Callable[[], R]) -> R:
        """:meth:`unit` for a result type that carries its own ``to_arrays`` / ``from_arrays``."""
        arrays, meta = self.unit(unit_id, lambda: compute().to_arrays())
        return kind.from_arrays(arrays, meta)

    def prune_units(self) -> int:
        """Remove the unit caches of a complete run (its tables hold the results); the count.

        A run that is still running or failed keeps its units, so it can resume.
        """
        if self.status != "complete":
            raise StoreError(f"{self._path} is {self.status}: only a complete run's units are pruned")
        units = self._path / UNITS_DIR
        count = len(self.completed_units())
        if units.is_dir():
            try:
                shutil.rmtree(units)
            except OSError as exc:
                raise StoreError(f"cannot remove {units}: {os_reason(exc)}") from exc
        if count:
            self._manifest["units_pruned"] = int(self._manifest.get("units_pruned", 0)) + count
        self._manifest["units"] = []
        self._manifest["files"] = scan_files(self._path)
        self._save()
        return count

    # -- tables, json, bytes, figures -------------------------------------------------------

    def _table_relpath(self, name: str) -> str:
        relpath = check_relpath(name)
        return relpath if relpath.endswith(".parquet") else f"{relpath}.parquet"

    def write_table(self, name: str, frame: pd.DataFrame) -> Path:
        """Store ``frame`` as ``<name>.parquet`` (atomic)."""
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        return self._write_file(self._table_relpath(name), buffer.getvalue())

    def read_table(self, name: str) -> pd.DataFrame:
        path = self._path / self._table_relpath(name)
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read table {path}: {exc}") from exc

    def table_writer(self, name: str, schema: pa.Schema) -> AbstractContextManager[TableWriter]:
        """Write ``<name>.parquet`` piece by piece (one row group per ``write``), for tables too large
        to hold in memory; the file appears atomically, and is recorded, when the ``with`` ends.

        See :func:`optiscope.store.table_writer.parquet_table_writer`.
        """
        relpath = self._table_relpath(name)

        def record() -> None:
            entry = file_entry(self._path, relpath)
            self._manifest["files"] = merge_file_entry(self._manifest["files"], entry)
            self._save()

        return parquet_table_writer(self._path / relpath, schema, on_written=record)

    def write_bytes(self, relpath: str, data: bytes) -> Path:
        return self._write_file(check_relpath(relpath), bytes(data))

    def write_text(self, relpath: str, text: str) -> Path:
        return self._write_file(check_relpath(relpath), text.encode("utf-8"))

    def write_json(self, relpath: str, obj: Any) -> Path:
        """Store ``obj`` as strict JSON (numpy scalars/arrays converted; NaN/inf refused)."""
        return self._write_file(check_relpath(relpath), to_json_text(obj).encode("utf-8"))

    def read_json(self, relpath: str) -> Any:
        path = self._path / check_relpath(relpath)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read JSON {path}: {exc}") from exc

    def save_figure(
        self,
        fig: Any,
        name: str,
        *,
        size: tuple[float | None, float | None] | None = None,
        **savefig_kwargs: Any,
    ) -> Path:
        """Save a matplotlib Figure to ``figures/<name>``; the suffix picks the format.

        ``size`` (inches, width and height; None keeps the figure's own) re-sizes the figure
        first. The figure is left open: closing it is the caller's choice.
        """
        if size is not None and any(side is not None for side in size):
            width, height = fig.get_size_inches()
            fig.set_size_inches(size[0] or width, size[1] or height)
        relpath = check_relpath(f"{FIGURES_DIR}/{name}")
        suffix = Path(relpath).suffix.lstrip(".").lower()
        if suffix not in fig.canvas.get_supported_filetypes():
            raise StoreError(f"figure name {name!r} needs a suffix such as .png, .svg or .pdf")
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix, **savefig_kwargs)
        data = palette_png(buffer.getvalue()) if suffix == "png" else buffer.getvalue()
        return self._write_file(relpath, data)

    def clear_figures(self) -> None:
        """Remove ``figures/`` (before a re-draw, so the folder holds only what the style asks for)."""
        folder = self._path / FIGURES_DIR
        if folder.is_dir():
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                raise StoreError(f"cannot clear {folder}: {os_reason(exc)}") from exc
        prefix = f"{FIGURES_DIR}/"
        self._manifest["files"] = [
            entry for entry in self._manifest["files"] if not entry["path"].startswith(prefix)
        ]
        self._save()

    def _write_file(self, relpath: str, data: bytes, *, save: bool = True) -> Path:
        """Write one file atomically and record it in the manifest's file list."""
        if relpath == MANIFEST_NAME:
            raise StoreError(f"{MANIFEST_NAME} is written by the store itself")
        target = self._path / relpath
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {target.parent}: {os_reason(exc)}") from exc
        atomic_write_bytes(target, data)
        self._manifest["files"] = merge_file_entry(self._manifest["files"], file_entry(self._path, relpath))
        if save:
            self._save()
        return target

    # -- bookkeeping ------------------------------------------------------------------------

    def record_timing(self, name: str, seconds: float) -> None:
        if not math.isfinite(seconds):
            raise StoreError(f"timing {name!r} is {seconds}; record finite seconds")
        self._manifest["timings"][str(name)] = float(seconds)
        self._save()

    def set_info(self, **fields: Any) -> None:
        """Add free fields to the manifest (e.g. ``n_params=...``); ``device`` may be set too."""
        clashes = sorted(set(fields) & (MANAGED_FIELDS - {"device"}))
        if clashes:
            raise StoreError(f"manifest fields {clashes} are managed by the store")
        self._manifest.update(canonicalize(fields, "info"))
        self._save()

    def complete(self, *, prune: bool = True, **summary: Any) -> None:
        """Mark the run complete, with an optional JSON ``summary`` and the total wall time.

        Its unit caches are then removed (``prune``): what they held is in the run's tables.
        """
        if summary:
            self._manifest["summary"] = canonicalize(summary, "summary")
        self._finish("complete")
        if prune:
            self.prune_units()

    def fail(self, message: str) -> None:
        """Mark the run failed with ``message``; opening it again resumes it."""
        self._manifest["error"] = str(message)
        self._finish("failed")

    def _finish(self, status: str) -> None:
        self._manifest["status"] = status
        self._manifest["timings"]["total"] = time.monotonic() - self._started
        self._manifest["files"] = scan_files(self._path)
        self._manifest["units"] = sorted(self.completed_units())
        self._save()

    def _save(self) -> None:
        write_manifest(self._path, self._manifest)

    def __enter__(self) -> RunDir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """On an exception inside ``with``, mark a running run failed; never swallow it."""
        if exc is not None and self.status == "running":
            self.fail(f"{exc_type.__name__}: {exc}" if exc_type else str(exc))

    def __repr__(self) -> str:
        return f"RunDir({str(self._path)!r}, kind={self._manifest['kind']!r}, status={self.status!r})"


def load_run(path: str | Path) -> RunDir:
    """Open an existing run directory as it is (to re-render a report); changes nothing.

    Raises:
        StoreError: ``path`` has no ``manifest.json`` or the manifest is corrupt.
    """
    root = Path(path).expanduser()
    if not (root / MANIFEST_NAME).is_file():
        raise StoreError(f"{root} is not an optiscope run directory (no {MANIFEST_NAME})")
    return RunDir(root, read_manifest(root), cached=False, resumed=False)
