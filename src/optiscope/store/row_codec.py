"""Lossless packing of a slowly changing float32 matrix (a weight path) for compressed storage.

Consecutive snapshots of a training path differ little, so their bit patterns agree in the sign,
the exponent and the leading mantissa bits. Each row is XOR-ed with the row before it (the first
row is kept as it is), and the bytes are regrouped by significance (all first bytes, then all
second bytes, ...: the "shuffle" filter of HDF5 and Blosc). The high bytes are then mostly zero and
a general compressor (the zip deflate of ``.npz``) shrinks them several times; the low bytes stay
as they are. Decoding reverses both steps exactly: the round trip is bit for bit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pack_rows", "unpack_rows"]


def pack_rows(matrix: np.ndarray) -> np.ndarray:
    """``(k, n)`` float32 -> ``(4, k * n)`` uint8: row-XOR deltas, bytes grouped by significance."""
    values = np.ascontiguousarray(matrix, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"pack_rows takes a (k, n) matrix, got shape {values.shape}")
    bits = values.view(np.uint32)
    deltas = bits.copy()
    deltas[1:] ^= bits[:-1]
    return np.ascontiguousarray(deltas.reshape(-1).view(np.uint8).reshape(-1, 4).T)


def unpack_rows(packed: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The inverse of :func:`pack_rows`: the ``(k, n)`` float32 matrix, bit for bit."""
    rows, columns = shape
    bytes_ = np.ascontiguousarray(np.asarray(packed, dtype=np.uint8).T).reshape(-1)
    if bytes_.size != 4 * rows * columns:
        raise ValueError(f"{bytes_.size} packed bytes do not hold a {rows} x {columns} float32 matrix")
    deltas = bytes_.view(np.uint32).reshape(rows, columns)
    bits = np.bitwise_xor.accumulate(deltas, axis=0)
    return bits.view(np.float32)
