"""Shared fixtures: tiny data sets written in the real on-disk formats; one compute thread."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits


def _cifar_batch(path: Path, rng: np.random.Generator, n: int) -> dict[bytes, object]:
    batch = {
        b"batch_label": f"batch {path.name}".encode(),
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    with path.open("wb") as handle:
        pickle.dump(batch, handle)
    return batch


@pytest.fixture
def cifar_dir(tmp_path: Path) -> tuple[Path, list[dict], dict]:
    """Tiny CIFAR-10 in the extracted-archive layout ``root/cifar-10-batches-py``."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    train = [_cifar_batch(folder / f"data_batch_{i}", rng, 4) for i in range(1, 6)]
    test = _cifar_batch(folder / "test_batch", rng, 6)
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    with (folder / "batches.meta").open("wb") as handle:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": 4, b"num_vis": 3072}, handle)
    return tmp_path, train, test


@pytest.fixture
def one_thread() -> object:
    """Tiny tensors: one torch and one BLAS thread (for SciPy's solvers) avoid waiting on busy
    cores of a shared machine (threadpoolctl comes with scikit-learn). A module opts in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)
