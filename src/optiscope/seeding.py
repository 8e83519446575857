"""One seed for every global random stream an optimizer may draw from.

``torch.manual_seed`` alone does not make third-party optimizers reproducible: pytorch-optimizer's
Kron, for one, decides when to rebalance its preconditioner with ``np.random.random()``. Seeding
torch, NumPy's global generator and Python's ``random`` together makes two runs with the same seed
take the same path, whichever of them the optimizer uses.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_global_streams(seed: int) -> None:
    """Seed torch (CPU and CUDA), NumPy's global generator and Python's ``random`` with ``seed``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
