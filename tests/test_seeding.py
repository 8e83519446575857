"""seed_global_streams resets every global stream an optimizer may draw from; checkpoints keep them."""

from __future__ import annotations

import io
import random

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optiscope.nets.data import load_dataset
from optiscope.nets.trainer import TrainConfig, _Session
from optiscope.seeding import global_streams_state, restore_global_streams, seed_global_streams


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


def test_the_state_survives_a_weights_only_checkpoint_mid_gaussian_pair() -> None:
    """A state saved after an odd number of Gaussian draws (a cached second value) replays."""
    seed_global_streams(3)
    np.random.standard_normal(3)  # legacy Box-Muller leaves one Gaussian cached
    random.gauss(0.0, 1.0)  # so does Python's
    buffer = io.BytesIO()
    torch.save(global_streams_state(), buffer)
    expected = (
        np.random.standard_normal(4).tolist(),
        np.random.random(),
        random.gauss(0.0, 1.0),
        random.random(),
    )
    seed_global_streams(99)  # anything in between
    buffer.seek(0)
    restore_global_streams(torch.load(buffer, weights_only=True))
    assert (
        np.random.standard_normal(4).tolist(),
        np.random.random(),
        random.gauss(0.0, 1.0),
        random.random(),
    ) == expected


def test_a_trainer_checkpoint_restores_the_numpy_and_python_streams() -> None:
    """Kron's rebalancing draws from np.random: a resumed run must draw what the clean one would."""
    config = TrainConfig.build(epochs=1, limit=100, optimizer="kron:lr=0.01")
    session = _Session(config, load_dataset("digits", limit=100))
    np.random.random(5), random.random()
    blob = session.state()
    expected = (np.random.random(3).tolist(), random.random())
    seed_global_streams(12345)
    _Session(config, load_dataset("digits", limit=100)).restore(blob)
    assert (np.random.random(3).tolist(), random.random()) == expected
