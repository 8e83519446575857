"""One seed for every global random stream an optimizer may draw from.

``torch.manual_seed`` alone does not make third-party optimizers reproducible: pytorch-optimizer's
Kron, for one, decides when to rebalance its preconditioner with ``np.random.random()``. Seeding
torch, NumPy's global generator and Python's ``random`` together makes two runs with the same seed
take the same path, whichever of them the optimizer uses; a checkpoint carries the state of all
three, so a resumed run goes on drawing what the uninterrupted one would have drawn.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_global_streams(seed: int) -> None:
    """Seed torch (CPU and CUDA), NumPy's global generator and Python's ``random`` with ``seed``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def global_streams_state() -> dict[str, Any]:
    """The NumPy global and Python ``random`` states as tensors and numbers.

    Checkpoints load with ``weights_only=True``, which admits tensors and plain numbers but not
    NumPy arrays, so the Mersenne Twister keys travel as int64 tensors.
    """
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, python_keys, gauss_next = random.getstate()
    return {
        "numpy_kind": str(kind),
        "numpy_keys": torch.as_tensor(np.asarray(keys, dtype=np.int64)),
        "numpy_position": int(position),
        "numpy_has_gauss": int(has_gauss),
        "numpy_cached_gaussian": float(cached_gaussian),
        "python_version": int(version),
        "python_keys": torch.tensor(python_keys, dtype=torch.int64),
        "python_gauss_next": gauss_next,
    }


def restore_global_streams(state: dict[str, Any]) -> None:
    """Put back what :func:`global_streams_state` returned."""
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(
        (
            state["numpy_kind"],
            keys,
            state["numpy_position"],
            state["numpy_has_gauss"],
            state["numpy_cached_gaussian"],
        )
    )
    python_keys = tuple(int(key) for key in state["python_keys"].tolist())
    random.setstate((state["python_version"], python_keys, state["python_gauss_next"]))
