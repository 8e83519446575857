"""Run directories: the one place that writes to disk (atomic writes, manifest, units, cache).

Compute modules never write files; they hand arrays, tables and figures to a :class:`RunDir`.
"""

from __future__ import annotations

from optiscope.store.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from optiscope.store.hashing import canonical_json, spec_hash
from optiscope.store.run_dir import RunDir, load_run

__all__ = [
    "RunDir",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "canonical_json",
    "load_run",
    "spec_hash",
]
