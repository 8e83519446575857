"""The weight-path codec: bit-for-bit round trip, and it compresses a smooth path better."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from optiscope.store.row_codec import pack_rows, unpack_rows


@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
        elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
    )
)
def test_round_trip_is_bit_for_bit(matrix: np.ndarray) -> None:
    back = unpack_rows(pack_rows(matrix), matrix.shape)
    np.testing.assert_array_equal(back.view(np.uint32), matrix.view(np.uint32))


def _deflated(array: np.ndarray) -> int:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=array)
    return len(buffer.getvalue())


def test_a_smooth_path_compresses_better_packed() -> None:
    rng = np.random.default_rng(0)
    start = rng.normal(size=4000).astype(np.float32)
    steps = np.cumsum(1e-3 * rng.normal(size=(80, 4000)), axis=0).astype(np.float32)
    path = start + steps
    assert _deflated(pack_rows(path)) < 0.8 * _deflated(path)


def test_a_wrong_shape_is_refused() -> None:
    packed = pack_rows(np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="do not hold a 4 x 5"):
        unpack_rows(packed, (4, 5))
    with pytest.raises(ValueError, match=r"\(k, n\) matrix"):
        pack_rows(np.zeros(5, dtype=np.float32))
