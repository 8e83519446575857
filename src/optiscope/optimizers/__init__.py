"""Optimizer registry: name -> factory over torch.optim, pytorch-optimizer and our own.

Parse ``"adam:lr=0.1"`` with :func:`parse_spec`, build with :func:`build_optimizer`, inspect
metadata with :func:`get_entry` / :func:`list_entries`, add your own with :func:`register` or
:class:`TeachingOptimizer`. Naming rules are in :mod:`optiscope.optimizers.catalog`.
"""

from __future__ import annotations

from optiscope.optimizers.entry import OptimizerEntry, check_compatible
from optiscope.optimizers.full_adagrad import FullMatrixAdaGrad, full_matrix_adagrad_updates
from optiscope.optimizers.momentum import EMAMomentum
from optiscope.optimizers.registry import (
    build_optimizer,
    get_entry,
    list_entries,
    register,
    spec_from_factory,
)
from optiscope.optimizers.spec import OptimizerSpec, parse_spec
from optiscope.optimizers.teaching import TeachingOptimizer

__all__ = [
    "EMAMomentum",
    "FullMatrixAdaGrad",
    "OptimizerEntry",
    "OptimizerSpec",
    "TeachingOptimizer",
    "build_optimizer",
    "check_compatible",
    "full_matrix_adagrad_updates",
    "get_entry",
    "list_entries",
    "parse_spec",
    "register",
    "spec_from_factory",
]
