"""Optimizers whose every row has its own hyperparameters: a batch of trials as one lane.

torch.optim takes one value per hyperparameter per parameter group, so a hundred trials of Adam
would be a hundred optimizers stepping one after another. Here a lane's parameter holds one row
per (trial, seed) point, shape ``(rows, 2)``, and each hyperparameter is a column ``(rows, 1)``:
one update moves every trial at once. The update rules are those of the registry entries named
in :data:`ROWWISE` (torch's SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, Adadelta and optiscope's
EMA momentum), not new algorithms, and they are written to round as torch does: each fused
torch op is replaced by the per-row op that gives the same bits (``x.add(y, alpha=s)`` by
``addcmul(x, y, s)``, ``x.addcmul(y, z, value=s)`` by ``addcmul(x, s * y, z)``,
``x.addcdiv(y, z, value=-s)`` by ``x - s * y / z``), and what torch computes in Python floats
(bias corrections, their square roots) is computed in Python floats per trial. The registry's own
optimizer, run on each trial alone, is the reference: ``tests/test_tune_rowwise.py`` checks every
rule against it bit for bit in float64. An entry or a setting not covered here (``amsgrad=True``,
``maximize=True``, any other optimizer) runs one trial per engine block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from optiscope.optimizers import get_entry

__all__ = ["ROWWISE", "RowwiseOptimizer", "rowwise_builder"]


def _add_scaled(x: Tensor, y: Tensor, scale: Tensor) -> Tensor:
    """``x + scale * y`` rounded as torch's ``x.add(y, alpha=scale)``."""
    return torch.addcmul(x, y, scale)


def _add_scaled_product(x: Tensor, y: Tensor, z: Tensor, scale: Tensor) -> Tensor:
    """``x + scale * y * z`` rounded as torch's ``x.addcmul(y, z, value=scale)``."""
    return torch.addcmul(x, scale * y, z)


def _sub_scaled_quotient(x: Tensor, y: Tensor, z: Tensor, scale: Tensor) -> Tensor:
    """``x - scale * y / z`` rounded as torch's ``x.addcdiv(y, z, value=-scale)``."""
    return x - (scale * y) / z


class RowwiseOptimizer(torch.optim.Optimizer):
    """Moves one parameter of shape ``(rows, 2)``: ``configs`` trials of ``repeats`` rows each
    (config-major). Hyperparameter ``name`` is the column ``self.column[name]`` ``(rows, 1)`` and
    the per-trial Python floats ``self.values[name]``; a switch ``self.switch[name]`` is shared.

    Subclasses set :attr:`columns` (per-trial numbers), :attr:`switches` (booleans every row
    shares) and :attr:`requires` (settings the rule implements only at one value), and write
    :meth:`update`.
    """

    columns: ClassVar[tuple[str, ...]] = ()
    switches: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __init__(
        self,
        param: torch.nn.Parameter,
        values: Mapping[str, Sequence[float]],
        switch: Mapping[str, bool],
        repeats: int,
    ) -> None:
        super().__init__([param], {})
        self.param, self.repeats = param, repeats
        self.values = {name: [float(value) for value in column] for name, column in values.items()}
        self.switch = dict(switch)
        self.column = {name: self.expand(column) for name, column in self.values.items()}

    def expand(self, per_trial: Sequence[float]) -> Tensor:
        """A column ``(rows, 1)`` holding each trial's value on its rows."""
        values = torch.tensor(per_trial, dtype=self.param.dtype, device=self.param.device)
        return values.repeat_interleave(self.repeats).reshape(-1, 1)

    def per_trial(self, function: Callable[..., float], *names: str) -> Tensor:
        """``function`` of each trial's Python-float hyperparameters ``names``, as a column."""
        return self.expand(
            [function(*row) for row in zip(*(self.values[name] for name in names), strict=True)]
        )

    def one_minus(self, name: str) -> Tensor:
        """The column ``1 - value`` of hyperparameter ``name``, computed once per trial in Python."""
        key = f"1-{name}"
        if key not in self.column:
            self.column[key] = self.per_trial(lambda value: 1 - value, name)
        return self.column[key]

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """One update of every row from the gradient in ``param.grad``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.param.grad is not None:
            self.update(self.param, self.param.grad, self.state[self.param])
        return loss

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def count_step(self, state: dict[str, Any]) -> float:
        """The shared step counter, advanced by one (every row steps together), as torch's float."""
        state["step"] = state.get("step", 0.0) + 1.0
        return state["step"]


class RowwiseSGD(RowwiseOptimizer):
    """torch SGD: ``b = m b + (1 - dampening) g`` (``b = g`` on the first step), ``p -= lr b``
    (``g + m b`` with Nesterov); a trial with ``momentum = 0`` takes the plain gradient step."""

    columns = ("lr", "momentum", "dampening", "weight_decay")
    switches = ("nesterov",)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        c = self.column
        grad = _add_scaled(grad, param, c["weight_decay"])
        if "buffer" not in state:
            state["buffer"] = grad.clone()
        else:
            state["buffer"] = _add_scaled(state["buffer"] * c["momentum"], grad, self.one_minus("dampening"))
        buffer = state["buffer"]
        direction = _add_scaled(grad, buffer, c["momentum"]) if self.switch["nesterov"] else buffer
        direction = torch.where(c["momentum"] != 0, direction, grad)
        param.copy_(_add_scaled(param, direction, -c["lr"]))


class RowwiseEMAMomentum(RowwiseOptimizer):
    """optiscope's ``momentum``: ``v = b v + (1 - b) g`` from ``v = 0``, ``p -= lr v``."""

    columns = ("lr", "momentum", "weight_decay")

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        c = self.column
        grad = _add_scaled(grad, param, c["weight_decay"])
        velocity = state.get("velocity", torch.zeros_like(param))
        state["velocity"] = _add_scaled(velocity * c["momentum"], grad, self.one_minus("momentum"))
        param.copy_(_add_scaled(param, state["velocity"], -c["lr"]))


class RowwiseAdam(RowwiseOptimizer):
    """torch Adam (L2 weight decay) and AdamW (decoupled), without AMSGrad (Kingma & Ba, 2015;
    Loshchilov & Hutter, 2019)."""

    columns = ("lr", "betas.0", "betas.1", "eps", "weight_decay")
    switches = ("decoupled_weight_decay",)
    requires: ClassVar[dict[str, tuple[Any, ...]]] = {"amsgrad": (False,)}

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        c = self.column
        if self.switch["decoupled_weight_decay"]:
            if "decay" not in self.column:
                self.column["decay"] = self.per_trial(lambda lr, wd: 1 - lr * wd, "lr", "weight_decay")
            param.mul_(self.column["decay"])
        else:
            grad = _add_scaled(grad, param, c["weight_decay"])
        step = self.count_step(state)
        mean = state.setdefault("exp_avg", torch.zeros_like(param))
        square = state.setdefault("exp_avg_sq", torch.zeros_like(param))
        mean.lerp_(grad, self.one_minus("betas.0"))
        square.copy_(_add_scaled_product(square * c["betas.1"], grad, grad, self.one_minus("betas.1")))
        step_size = self.per_trial(lambda lr, b: lr / (1 - b**step), "lr", "betas.0")
        correction = self.per_trial(lambda b: (1 - b**step) ** 0.5, "betas.1")  # torch: a Python power
        denominator = square.sqrt() / correction + c["eps"]
        param.copy_(_sub_scaled_quotient(param, mean, denominator, step_size))


class RowwiseRMSprop(RowwiseOptimizer):
    """torch RMSprop (Hinton's lecture 6e; Graves 2013 for the centred form), with momentum."""

    columns = ("lr", "alpha", "eps", "weight_decay", "momentum")
    switches = ("centered",)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        c = self.column
        grad = _add_scaled(grad, param, c["weight_decay"])
        square = state.setdefault("square_avg", torch.zeros_like(param))
        square.copy_(_add_scaled_product(square * c["alpha"], grad, grad, self.one_minus("alpha")))
        if self.switch["centered"]:
            mean = state.setdefault("grad_avg", torch.zeros_like(param))
            mean.lerp_(grad, self.one_minus("alpha"))
            average = torch.addcmul(square, -mean, mean).sqrt() + c["eps"]
        else:
            average = square.sqrt() + c["eps"]
        buffer = state.get("momentum_buffer", torch.zeros_like(param)) * c["momentum"] + grad / average
        state["momentum_buffer"] = buffer
        with_momentum = _add_scaled(param, buffer, -c["lr"])
        param.copy_(
            torch.where(c["momentum"] > 0, with_momentum, _sub_scaled_quotient(param, grad, average, c["lr"]))
        )


class RowwiseAdagrad(RowwiseOptimizer):
    """torch Adagrad (Duchi et al., 2011): ``s += g^2``, ``p -= lr_t g / (sqrt(s) + eps)`` with
    ``lr_t = lr / (1 + (t - 1) lr_decay)``."""

    columns = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        c = self.column
        if "sum" not in state:
            state["sum"] = torch.zeros_like(param) + c["initial_accumulator_value"]
        step = self.count_step(state)
        grad = _add_scaled(grad, param, c["weight_decay"])
        rate = self.per_trial(lambda lr, decay: lr / (1 + (step - 1) * decay), "lr", "lr_decay")
        state["sum"] = torch.addcmul(state["sum"], grad, grad)
        param.copy_(_sub_scaled_quotient(param, grad, state["sum"].sqrt() + c["eps"], rate))


class RowwiseAdamax(RowwiseOptimizer):
    """torch Adamax (Kingma & Ba, 2015, sec. 7.1): ``u = max(b2 u, |g| + eps)``."""

    columns = ("lr", "betas.0", "betas.1", "eps", "weight_decay")

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        c = self.column
        step = self.count_step(state)
        grad = _add_scaled(grad, param, c["weight_decay"])
        mean = state.setdefault("exp_avg", torch.zeros_like(param))
        infinity = state.setdefault("exp_inf", torch.zeros_like(param))
        mean.lerp_(grad, self.one_minus("betas.0"))
        torch.maximum(infinity * c["betas.1"], grad.abs() + c["eps"], out=infinity)
        rate = self.per_trial(lambda lr, b: lr / (1 - b**step), "lr", "betas.0")
        param.copy_(_sub_scaled_quotient(param, mean, infinity, rate))


class RowwiseAdadelta(RowwiseOptimizer):
    """torch Adadelta (Zeiler, 2012)."""

    columns = ("lr", "rho", "eps", "weight_decay")

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        c = self.column
        one_minus_rho = self.one_minus("rho")
        grad = _add_scaled(grad, param, c["weight_decay"])
        square = state.get("square_avg", torch.zeros_like(param))
        accumulated = state.get("acc_delta", torch.zeros_like(param))
        square = _add_scaled_product(square * c["rho"], grad, grad, one_minus_rho)
        delta = (accumulated + c["eps"]).sqrt() / (square + c["eps"]).sqrt() * grad
        state["square_avg"] = square
        state["acc_delta"] = _add_scaled_product(accumulated * c["rho"], delta, delta, one_minus_rho)
        param.copy_(_add_scaled(param, delta, -c["lr"]))


ROWWISE: dict[str, tuple[type[RowwiseOptimizer], dict[str, Any]]] = {
    "sgd": (RowwiseSGD, {}),
    "classical_momentum": (RowwiseSGD, {}),
    "nag": (RowwiseSGD, {}),
    "momentum": (RowwiseEMAMomentum, {}),
    "adam": (RowwiseAdam, {}),
    "adamw": (RowwiseAdam, {"decoupled_weight_decay": True}),  # torch's AdamW, Adam's subclass
    "rmsprop": (RowwiseRMSprop, {}),
    "adagrad": (RowwiseAdagrad, {}),
    "adamax": (RowwiseAdamax, {}),
    "adadelta": (RowwiseAdadelta, {}),
}
"""Registry entries with a row-wise rule: the rule, and settings the entry fixes without naming them."""

# Settings every rule needs at these values (their other values change the update).
_COMMON_REQUIRES = {"maximize": (False,), "differentiable": (False,), "fused": (None, False)}


def _flat(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters with tuple items as their own keys (``betas.0``), beside the tuples."""
    flat = dict(hparams)
    for name, value in hparams.items():
        if isinstance(value, tuple | list):
            flat.update({f"{name}.{index}": item for index, item in enumerate(value)})
    return flat


def rowwise_builder(
    optimizer: str, configs: Sequence[Mapping[str, Any]], repeats: int
) -> Callable[[torch.nn.Parameter], torch.optim.Optimizer] | None:
    """A lane optimizer for ``configs`` of ``optimizer``, each repeated over ``repeats`` rows
    (config-major), or None when no row-wise rule covers them all (they then run one by one).

    Args:
        optimizer: the registry name.
        configs: each config's hyperparameters as given (the entry's defaults fill the rest).
        repeats: rows per config (its seeds).
    """
    if optimizer not in ROWWISE or not configs:
        return None
    rule, implied = ROWWISE[optimizer]
    defaults = {**get_entry(optimizer).defaults, **implied}
    full = [_flat({**defaults, **config}) for config in configs]
    requires = {**_COMMON_REQUIRES, **rule.requires}
    for config in full:
        if any(name in config and config[name] not in allowed for name, allowed in requires.items()):
            return None
        if any(name not in config for name in (*rule.columns, *rule.switches)):
            return None
    switches = {name: bool(full[0][name]) for name in rule.switches}
    if any(bool(config[name]) != value for config in full for name, value in switches.items()):
        return None
    values = {name: [float(config[name]) for config in full] for name in rule.columns}

    def build(param: torch.nn.Parameter) -> torch.optim.Optimizer:
        return rule(param, values, switches, repeats)

    return build
