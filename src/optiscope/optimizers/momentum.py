"""Momentum in the seeds' exponential-moving-average form (registry name ``momentum``).

    v_t = b v_{t-1} + (1 - b) g_t,   v_0 = 0
    p_t = p_{t-1} - lr v_t

with ``g_t = grad + weight_decay * p_{t-1}`` (L2 added to the gradient).

torch's ``SGD(momentum=b, dampening=b)`` is the same recursion except that torch sets the
buffer to ``g_1`` on the first step instead of ``(1 - b) g_1``, so its first step is ``1/(1-b)``
times longer and the two paths differ from then on. torch's default ``dampening=0`` is the
classical (heavy-ball) form, offered as ``classical_momentum``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["EMAMomentum"]


class EMAMomentum(torch.optim.Optimizer):
    """SGD with exponential-moving-average momentum, exactly as the seed notebooks write it.

    Args:
        params: tensors or parameter groups to optimise.
        lr: step size (default 0.1, chosen by optiscope for 2-D surfaces).
        momentum: the EMA coefficient ``b`` in ``[0, 1)``.
        weight_decay: L2 coefficient added to the gradient.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0:
            raise ValueError(f"invalid learning rate: {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"invalid momentum (want 0 <= momentum < 1): {momentum}")
        if weight_decay < 0:
            raise ValueError(f"invalid weight_decay: {weight_decay}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(p)
                velocity = state["velocity"]
                velocity.mul_(beta).add_(grad, alpha=1.0 - beta)
                p.add_(velocity, alpha=-group["lr"])
        return loss
