"""Seed 004's optimizers as Keras 3 runs them (registry names ``*_keras``).

Seed 004 ran ``tf.optimizers.X`` at Keras defaults; where Keras' rule or defaults differ from
the torch / pytorch-optimizer entry of the same name, the seed's paths do not reproduce with
that entry. Each class here is written from the update formula of the Keras 3 class it names
(``keras.optimizers.RMSprop``, ``Adagrad``, ``Adadelta``, ``Adam``, ``AdamW``, ``Adamax``,
``Nadam``, ``Lamb``, ``Ftrl``: the reference), with Keras' defaults.

Common to all, as in Keras' base optimizer: ``weight_decay`` (``wd``) is decoupled and applied
first, ``p <- p - lr wd p``, then the update uses the gradient taken before the decay. ``lr``
is Keras' ``learning_rate``; the other hyperparameters keep their Keras names. State is per
parameter tensor; ``step`` counts that tensor's updates (Keras' ``iterations + 1``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "KerasAdadelta",
    "KerasAdagrad",
    "KerasAdam",
    "KerasAdamW",
    "KerasAdamax",
    "KerasFtrl",
    "KerasLamb",
    "KerasNadam",
    "KerasRMSprop",
]

Params = Iterable[Tensor] | Iterable[dict[str, Any]]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class _KerasOptimizer(torch.optim.Optimizer):
    """One step of a Keras optimizer: count, decoupled weight decay, then ``_update``.

    Subclasses fill in ``_init_state(p, state, group)`` (the state before step 1) and
    ``_update(p, grad, state, group)`` (move ``p`` in place; ``state["step"]`` is already ``t``).
    """

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        _require(defaults["lr"] >= 0, f"invalid learning rate: {defaults['lr']}")
        _require(defaults["weight_decay"] >= 0, f"invalid weight_decay: {defaults['weight_decay']}")
        _require(defaults.get("epsilon", 0.0) >= 0, f"invalid epsilon: {defaults.get('epsilon')}")
        for name in ("rho", "beta_1", "beta_2"):
            if name in defaults:
                _require(0.0 <= defaults[name] < 1.0, f"invalid {name} (want 0 <= {name} < 1)")
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    self._init_state(p, state, group)
                state["step"] += 1
                if group["weight_decay"] != 0:
                    p.sub_(p * (group["weight_decay"] * group["lr"]))
                self._update(p, grad, state, group)
        return loss


class KerasRMSprop(_KerasOptimizer):
    """RMSprop as ``keras.optimizers.RMSprop`` (Hinton 2012; Keras 3 is the reference)::

        v = rho v + (1 - rho) g^2                    v_0 = 0
        a = rho a + (1 - rho) g                      (centered only)
        d = v + eps      (centered: v - a^2 + eps)   eps inside the root
        inc = lr g / sqrt(d)
        p -= inc         (momentum > 0: b = momentum b + inc; p -= b)

    Against torch's RMSprop: rho 0.9 (torch alpha 0.99) and eps inside the root.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        _require(momentum >= 0, f"invalid momentum: {momentum}")
        defaults = {"lr": lr, "rho": rho, "momentum": momentum, "epsilon": epsilon, "centered": centered}
        super().__init__(params, {**defaults, "weight_decay": weight_decay})

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["velocity"] = torch.zeros_like(p)
        if group["momentum"] > 0:
            state["momentum"] = torch.zeros_like(p)
        if group["centered"]:
            state["average_gradient"] = torch.zeros_like(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        rho = group["rho"]
        velocity = state["velocity"].mul_(rho).add_(grad.square() * (1 - rho))
        if group["centered"]:
            average = state["average_gradient"].mul_(rho).add_(grad * (1 - rho))
            velocity = velocity - average.square()
        denominator = velocity + group["epsilon"]
        increment = grad * group["lr"] / denominator.sqrt()
        if group["momentum"] > 0:
            buffer = state["momentum"].mul_(group["momentum"]).add_(increment)
            p.sub_(buffer)
        else:
            p.sub_(increment)


class KerasAdagrad(_KerasOptimizer):
    """AdaGrad as ``keras.optimizers.Adagrad`` (Duchi et al. 2011; Keras 3 is the reference)::

        G = G + g^2                  G_0 = initial_accumulator_value (0.1)
        p -= lr g / sqrt(G + eps)    eps inside the root

    Against torch's Adagrad: the accumulator starts at 0.1 (torch 0) and eps is inside the root.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        _require(initial_accumulator_value >= 0, "initial_accumulator_value must be >= 0")
        defaults = {"lr": lr, "initial_accumulator_value": initial_accumulator_value, "epsilon": epsilon}
        super().__init__(params, {**defaults, "weight_decay": weight_decay})

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["accumulator"] = torch.full_like(p, group["initial_accumulator_value"])

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        accumulator = state["accumulator"].add_(grad.square())
        p.sub_(grad * group["lr"] / (accumulator + group["epsilon"]).sqrt())


class KerasAdadelta(_KerasOptimizer):
    """AdaDelta as ``keras.optimizers.Adadelta`` (Zeiler 2012; Keras 3 is the reference)::

        A = rho A + (1 - rho) g^2                          A_0 = 0
        d = -sqrt(D + eps) / sqrt(A + eps) g               D_0 = 0
        D = rho D + (1 - rho) d^2
        p += lr d

    torch's Adadelta has the same rule; Keras' defaults are lr 0.001, rho 0.95, eps 1e-7.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "epsilon": epsilon, "weight_decay": weight_decay})

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["accumulated_grad"] = torch.zeros_like(p)
        state["accumulated_delta"] = torch.zeros_like(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        rho, eps = group["rho"], group["epsilon"]
        squares = state["accumulated_grad"].mul_(rho).add_(grad.square() * (1 - rho))
        deltas = state["accumulated_delta"]
        delta = -(deltas + eps).sqrt() * grad / (squares + eps).sqrt()
        deltas.mul_(rho).add_(delta.square() * (1 - rho))
        p.add_(delta * group["lr"])


class KerasAdam(_KerasOptimizer):
    """Adam as ``keras.optimizers.Adam`` (Kingma & Ba 2015; Keras 3 is the reference)::

        m = m + (g - m)(1 - b1),  v = v + (g^2 - v)(1 - b2)      m_0 = v_0 = 0
        v_max = max(v_max, v), used for v                       (amsgrad only)
        alpha = lr sqrt(1 - b2^t) / (1 - b1^t)
        p -= alpha m / (sqrt(v) + eps)

    eps is Kingma & Ba's "epsilon hat": added to the root of the *uncorrected* v, i.e.
    ``m_hat / (sqrt(v_hat) + eps / sqrt(1 - b2^t))`` in bias-corrected terms.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon, "amsgrad": amsgrad}
        super().__init__(params, {**defaults, "weight_decay": weight_decay})

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["momentum"] = torch.zeros_like(p)
        state["velocity"] = torch.zeros_like(p)
        if group["amsgrad"]:
            state["velocity_hat"] = torch.zeros_like(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        t, b1, b2 = state["step"], group["beta_1"], group["beta_2"]
        alpha = group["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
        m = state["momentum"].add_((grad - state["momentum"]) * (1 - b1))
        v = state["velocity"].add_((grad.square() - state["velocity"]) * (1 - b2))
        if group["amsgrad"]:
            v = torch.maximum(state["velocity_hat"], v, out=state["velocity_hat"])
        p.sub_(m * alpha / (v.sqrt() + group["epsilon"]))


class KerasAdamW(KerasAdam):
    """AdamW as ``keras.optimizers.AdamW``: :class:`KerasAdam` with ``weight_decay=0.004``
    (Loshchilov & Hutter 2019; Keras 3 is the reference), decayed as ``p <- p - lr wd p``."""

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, beta_1, beta_2, epsilon, amsgrad, weight_decay)


class KerasAdamax(_KerasOptimizer):
    """AdaMax as ``keras.optimizers.Adamax`` (Kingma & Ba 2015, sec. 7.1; Keras 3 is the reference)::

        m = m + (g - m)(1 - b1)          m_0 = 0
        u = max(b2 u, |g|)               u_0 = 0
        p -= lr m / ((1 - b1^t)(u + eps))    eps added to u, outside the max

    Against torch's Adamax: torch puts eps inside the max, ``max(b2 u, |g| + eps)``.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon}
        super().__init__(params, {**defaults, "weight_decay": weight_decay})

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["momentum"] = torch.zeros_like(p)
        state["norm"] = torch.zeros_like(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        t, b1 = state["step"], group["beta_1"]
        m = state["momentum"].add_((grad - state["momentum"]) * (1 - b1))
        u = torch.maximum(state["norm"] * group["beta_2"], grad.abs(), out=state["norm"])
        p.sub_(m * group["lr"] / ((1 - b1**t) * (u + group["epsilon"])))


class KerasNadam(_KerasOptimizer):
    """NAdam as ``keras.optimizers.Nadam`` (Dozat 2016; Keras 3 is the reference)::

        mu_t = b1 (1 - 0.5 * 0.96^t),  P_t = mu_1 ... mu_t
        m = m + (g - m)(1 - b1),  v = v + (g^2 - v)(1 - b2)      m_0 = v_0 = 0
        m_hat = mu_{t+1} m / (1 - P_t mu_{t+1}) + (1 - mu_t) g / (1 - P_t)
        p -= lr m_hat / (sqrt(v / (1 - b2^t)) + eps)

    The schedule's exponent is ``t`` itself: torch's NAdam uses ``0.96^(0.004 t)``.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon}
        super().__init__(params, {**defaults, "weight_decay": weight_decay})

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["momentum"] = torch.zeros_like(p)
        state["velocity"] = torch.zeros_like(p)
        state["mu_product"] = 1.0

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        t, b1, b2 = state["step"], group["beta_1"], group["beta_2"]
        mu = b1 * (1 - 0.5 * 0.96**t)
        mu_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        state["mu_product"] *= mu
        product = state["mu_product"]
        m = state["momentum"].add_((grad - state["momentum"]) * (1 - b1))
        v = state["velocity"].add_((grad.square() - state["velocity"]) * (1 - b2))
        m_hat = m * (mu_next / (1 - product * mu_next)) + grad * ((1 - mu) / (1 - product))
        p.sub_(m_hat * group["lr"] / ((v / (1 - b2**t)).sqrt() + group["epsilon"]))


class KerasLamb(_KerasOptimizer):
    """LAMB as ``keras.optimizers.Lamb`` (You et al. 2020; Keras 3 is the reference)::

        m = m + (g - m)(1 - b1),  v = v + (g^2 - v)(1 - b2)      m_0 = v_0 = 0
        r = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
        ratio = |p| / |r|   (1 if either norm is 0; norms over the whole tensor)
        p -= lr ratio r

    No weight decay inside ``r`` and no clamp of ``|p|``; ``|p|`` is taken after the decoupled
    decay. The trust ratio couples every entry of a tensor, so a stack of start points in one
    tensor is not element-wise: the engine runs one ``(1, 2)`` point per optimizer.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon}
        super().__init__(params, {**defaults, "weight_decay": weight_decay})

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["momentum"] = torch.zeros_like(p)
        state["velocity"] = torch.zeros_like(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        t, b1, b2 = state["step"], group["beta_1"], group["beta_2"]
        m = state["momentum"].add_((grad - state["momentum"]) * (1 - b1))
        v = state["velocity"].add_((grad.square() - state["velocity"]) * (1 - b2))
        update = (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + group["epsilon"])
        weight_norm, update_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(update)
        one = torch.ones_like(weight_norm)
        ratio = torch.where((weight_norm > 0) & (update_norm > 0), weight_norm / update_norm, one)
        state["trust_ratio"] = ratio
        p.sub_(update * (ratio * group["lr"]))


class KerasFtrl(_KerasOptimizer):
    """FTRL-Proximal as ``keras.optimizers.Ftrl`` (McMahan et al. 2013; Keras 3 is the reference)::

        n_new = n + g^2                                   n_0 = initial_accumulator_value (0.1)
        z = z + g + 2 l2s p - (n_new^(-k) - n^(-k)) / lr * p     z_0 = 0, k = learning_rate_power
        q = n_new^(-k) / lr + 2 (l2 + beta / (2 lr))
        p = (clip(z, -l1, l1) - z) / q      (0 where |z| <= l1)
        n = n_new

    with l1, l2, l2s the l1, l2 and l2-shrinkage regularization strengths. Because ``z`` starts at
    0 while ``n`` starts above 0, step 1 lands on ``p (1 - sqrt(n_0 / n_1)) - lr g / sqrt(n_1)``
    (k = -0.5): the start is kept only in the fraction ``1 - sqrt(n_0 / n_1)``.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        _require(lr > 0, f"invalid learning rate (FTRL divides by it): {lr}")
        _require(learning_rate_power <= 0, "learning_rate_power must be <= 0")
        _require(initial_accumulator_value >= 0, "initial_accumulator_value must be >= 0")
        strengths = (
            l1_regularization_strength,
            l2_regularization_strength,
            l2_shrinkage_regularization_strength,
        )
        _require(min(strengths) >= 0 and beta >= 0, "regularization strengths and beta must be >= 0")
        defaults = {
            "lr": lr,
            "learning_rate_power": learning_rate_power,
            "initial_accumulator_value": initial_accumulator_value,
            "l1_regularization_strength": l1_regularization_strength,
            "l2_regularization_strength": l2_regularization_strength,
            "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength,
            "beta": beta,
        }
        super().__init__(params, {**defaults, "weight_decay": weight_decay})

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["accumulator"] = torch.full_like(p, group["initial_accumulator_value"])
        state["linear"] = torch.zeros_like(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, power, l1 = group["lr"], -group["learning_rate_power"], group["l1_regularization_strength"]
        l2 = group["l2_regularization_strength"] + group["beta"] / (2 * lr)
        accumulator = state["accumulator"]
        new_accumulator = accumulator + grad.square()
        shrunk = grad + p * (2 * group["l2_shrinkage_regularization_strength"])
        sigma = (new_accumulator.pow(power) - accumulator.pow(power)) / lr
        linear = state["linear"].add_(shrunk - sigma * p)
        quadratic = new_accumulator.pow(power) / lr + 2 * l2
        p.copy_((linear.clamp(-l1, l1) - linear) / quadratic)
        accumulator.copy_(new_accumulator)
