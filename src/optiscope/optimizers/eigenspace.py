"""Seed 001's eq. (1): weight the gradient inside the top Hessian eigenspace by ``lam``.

    v~ = lam V g + (1 - lam)(I - V) g,        p <- p - lr v~   (optionally with momentum)

``V = Q Q^T`` projects on the span of the top-``k`` eigenvectors (largest magnitude) of the
mini-batch Hessian. ``Q`` is refreshed every ``refresh_every`` steps by ``power_iters`` steps of
block power iteration (seed 001 names the power method) followed by a Rayleigh-Ritz rotation,
warm-started from the previous ``Q``; each iteration costs ``k`` Hessian-vector products, taken
through the gradient's graph, so the loss must be differentiated with ``create_graph=True``
(the registry declares it, and the trainer and the path engine honour it). The parameters of
one group form one flat vector, so the eigenspace couples all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["EigenspaceSGD"]


def _hessian_block(
    grads: list[torch.Tensor], params: list[torch.Tensor], basis: torch.Tensor
) -> torch.Tensor:
    """``H Q`` for the columns of ``basis`` (n, k), by differentiating the gradient again."""
    sizes = [p.numel() for p in params]
    columns = []
    for column in basis.T:
        pieces = [piece.view_as(p) for piece, p in zip(torch.split(column, sizes), params, strict=True)]
        products = torch.autograd.grad(
            grads, params, grad_outputs=pieces, retain_graph=True, allow_unused=True
        )
        columns.append(torch.cat([(z if z is not None else torch.zeros_like(p)).reshape(-1)
                                  for z, p in zip(products, params, strict=True)]))  # fmt: skip
    return torch.stack(columns, dim=1)


class EigenspaceSGD(torch.optim.Optimizer):
    """SGD on seed 001's eq. (1) direction, with the top-``k`` Hessian eigenspace kept up to date.

    Args:
        params: parameters (or groups) to optimise.
        lr: step size.
        lam: weight of the gradient's part inside the eigenspace (``1 - lam`` outside);
            ``lam = 0.5`` is plain SGD at half the step.
        k: dimension of the eigenspace.
        refresh_every: steps between eigenspace refreshes (1 = every step).
        power_iters: block power iterations per refresh (each ``k`` Hessian-vector products).
        momentum: heavy-ball momentum on ``v~`` (0 = none).
        seed: seed of the random start of the first power iteration.

    State (per group, on its first parameter): ``basis`` (n, k), ``eigenvalues`` (k,),
    ``step`` and ``hvps`` (Hessian-vector products spent so far: the method's extra cost).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        lam: float = 0.9,
        k: int = 1,
        refresh_every: int = 10,
        power_iters: int = 4,
        momentum: float = 0.0,
        seed: int = 0,
    ) -> None:
        if lr < 0 or not 0.0 <= lam <= 1.0 or k < 1 or refresh_every < 1 or power_iters < 1 or momentum < 0:
            raise ValueError("need lr >= 0, 0 <= lam <= 1, k >= 1, refresh_every >= 1, power_iters >= 1")
        defaults = {"lr": lr, "lam": lam, "k": k, "refresh_every": refresh_every,
                    "power_iters": power_iters, "momentum": momentum, "seed": seed}  # fmt: skip
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One step along ``v~`` (refreshing the eigenspace first when it is due)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._step_group(group, params)
        return loss

    def _step_group(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        state = self.state[params[0]]
        step = int(state.get("step", 0))
        grads = [p.grad for p in params]
        flat = torch.cat([g.detach().reshape(-1) for g in grads])
        if step % group["refresh_every"] == 0:
            self._refresh(group, state, params, grads, flat)
        basis = state["basis"]
        inside = basis @ (basis.T @ flat)
        direction = group["lam"] * inside + (1.0 - group["lam"]) * (flat - inside)
        if group["momentum"]:
            buffer = state.get("momentum_buffer")
            buffer = direction.clone() if buffer is None else buffer.mul_(group["momentum"]).add_(direction)
            state["momentum_buffer"] = buffer
            direction = buffer
        with torch.no_grad():
            offset = 0
            for p in params:
                p.add_(direction[offset : offset + p.numel()].view_as(p), alpha=-group["lr"])
                offset += p.numel()
        state["step"] = step + 1

    def _refresh(
        self,
        group: dict[str, Any],
        state: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        flat: torch.Tensor,
    ) -> None:
        if not any(g.requires_grad for g in grads):
            raise RuntimeError(  # as AdaHessian and SophiaH do for the same misuse
                "eigenspace_sgd needs Hessian-vector products: differentiate the loss with "
                "loss.backward(create_graph=True) (the trainer does this for it)"
            )
        k = min(group["k"], flat.numel())
        basis = state.get("basis")
        if basis is None or basis.shape != (flat.numel(), k):
            generator = torch.Generator().manual_seed(group["seed"])
            basis = torch.randn(flat.numel(), k, generator=generator, dtype=torch.float64).to(flat)
        with torch.enable_grad():
            for _ in range(group["power_iters"]):
                basis, _ = torch.linalg.qr(_hessian_block(grads, params, basis.detach()))
            block = _hessian_block(grads, params, basis)
        values, rotation = torch.linalg.eigh(0.5 * (basis.T @ block + block.T @ basis).detach())
        order = torch.argsort(values.abs(), descending=True)
        state["basis"] = (basis.detach() @ rotation[:, order]).contiguous()
        state["eigenvalues"] = values[order]
        state["hvps"] = int(state.get("hvps", 0)) + k * (group["power_iters"] + 1)
