"""``TeachingOptimizer``: write one function, get a real ``torch.optim.Optimizer``.

In the spirit of the seeds' ``OptimizerTemplate``: a learner sets hyperparameters in
``__init__`` and writes only ``update_param(p)``. Because it is a genuine
:class:`torch.optim.Optimizer`, it has ``state_dict``/``load_state_dict``, parameter groups
and ``zero_grad``, and it runs in the same trajectory engine as every library optimizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["TeachingOptimizer"]


class TeachingOptimizer(torch.optim.Optimizer):
    """Base class for hand-written optimizers: implement :meth:`update_param` only.

    Hyperparameters passed to ``super().__init__`` become both attributes (``self.lr``) and
    the optimizer's ``defaults``, so they are saved in ``state_dict``. Per-parameter state
    lives in ``self.state[p]`` (a dict, empty before the first step).

    Example::

        class MomentumFromScratch(TeachingOptimizer):
            def __init__(self, params, lr=0.1, momentum=0.9):
                super().__init__(params, lr=lr, momentum=momentum)

            def update_param(self, p):
                state = self.state[p]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(p)
                v = state["velocity"]
                v.mul_(self.momentum).add_(p.grad, alpha=1 - self.momentum)
                p.add_(v, alpha=-self.lr)

    Register it with ``optiscope.optimizers.register("mine", MomentumFromScratch,
    elementwise=True)`` or pass ``my_pkg.my_mod:MomentumFromScratch`` on the command line.
    """

    def __init__(
        self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], **hyperparameters: Any
    ) -> None:
        super().__init__(params, hyperparameters)
        for name, value in hyperparameters.items():
            setattr(self, name, value)

    def update_param(self, p: torch.Tensor) -> None:
        """Update ``p`` in place from ``p.grad`` (and ``self.state[p]``); runs under no_grad."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_param(p)")

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Call :meth:`update_param` for every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update_param(p)
        return loss
