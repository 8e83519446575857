"""seed_global_streams resets every global stream an optimizer may draw from."""

from __future__ import annotations

import random

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optiscope.seeding import seed_global_streams


def _draws() -> tuple[float, float, float]:
    return float(torch.rand(())), float(np.random.random()), random.random()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**40), burn=st.integers(0, 5))
def test_the_same_seed_replays_torch_numpy_and_python_draws(seed: int, burn: int) -> None:
    seed_global_streams(seed)
    first = _draws()
    for _ in range(burn):  # whatever ran in between must not matter
        _draws()
    seed_global_streams(seed)
    assert _draws() == first


def test_numpy_is_seeded_as_numpy_documents() -> None:
    seed_global_streams(7)
    expected = np.random.RandomState(7).random_sample()
    assert np.random.random() == expected
