"""Parquet tables written piece by piece: memory bounded by one piece, the file replaced atomically.

A study that produces more rows than fit in memory writes each piece (a work unit's rows) as one
row group as soon as it is ready. The rows go to a hidden temp file beside the target (swept by
the run directory if the writer is killed); only a writer that finishes renames it over the
target, so a reader sees the old table or the whole new one, never a part.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from optiscope.errors import StoreError
from optiscope.store.atomic import TEMP_SUFFIX, _file_mode, _fsync_directory
from optiscope.store.layout import os_reason

__all__ = ["TableWriter", "frame_schema", "parquet_table_writer"]

DICTIONARY_INDEX = pa.int32()
"""Index type of every dictionary column, so each row group's columns have one type."""


def frame_schema(prototype: pd.DataFrame) -> pa.Schema:
    """The Arrow schema of ``prototype``'s columns (its rows are ignored), for a :class:`TableWriter`.

    Categorical columns become ``dictionary<int32, string>``; the pandas metadata is kept, so a
    reader gets the same dtypes back (nullable ``Int64``, ``category``, ``float32``).
    """
    schema = pa.Schema.from_pandas(prototype.iloc[:0], preserve_index=False)
    for index, field in enumerate(schema):
        if pa.types.is_dictionary(field.type):
            schema = schema.set(index, pa.field(field.name, pa.dictionary(DICTIONARY_INDEX, pa.string())))
    return schema


class TableWriter:
    """Appends row groups to an open parquet file; see :func:`parquet_table_writer`."""

    def __init__(self, writer: pq.ParquetWriter, schema: pa.Schema) -> None:
        self._writer = writer
        self.schema = schema
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (columns and dtypes of the schema) as one row group; empty frames add none.

        Raises:
            StoreError: the frame does not fit the schema.
        """
        if frame.empty:
            return
        try:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        except (pa.ArrowException, KeyError, ValueError, TypeError) as exc:
            raise StoreError(f"rows do not fit the table's columns {self.schema.names}: {exc}") from exc
        self._writer.write_table(table, row_group_size=table.num_rows)
        self.rows += table.num_rows


def _temp_beside(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
        os.close(handle)
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {os_reason(exc)}") from exc
    return Path(name)


def _replace(temp: Path, target: Path) -> None:
    """Persist the finished temp file and rename it over ``target`` (as an atomic write does)."""
    try:
        with temp.open("rb+") as written:
            if hasattr(os, "fchmod"):
                os.fchmod(written.fileno(), _file_mode())  # mkstemp made it 0o600
            os.fsync(written.fileno())
        os.replace(temp, target)
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {os_reason(exc)}") from exc
    _fsync_directory(target.parent)


@contextmanager
def parquet_table_writer(
    target: Path, schema: pa.Schema, *, on_written: Callable[[], None] | None = None
) -> Iterator[TableWriter]:
    """Write the parquet file ``target`` row group by row group.

    The rows go to a temp file in ``target``'s folder; when the ``with`` block ends normally the
    file is closed, fsync'ed and renamed over ``target``, then ``on_written`` is called (the run
    directory records the file there). When the block raises, the temp file is removed and
    ``target`` is left as it was.

    Raises:
        StoreError: the file cannot be created or written.
    """
    temp = _temp_beside(target)
    try:
        try:
            writer = pq.ParquetWriter(temp, schema)
        except OSError as exc:
            raise StoreError(f"cannot write {target}: {os_reason(exc)}") from exc
        with writer:
            yield TableWriter(writer, schema)
        _replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    if on_written is not None:
        on_written()
