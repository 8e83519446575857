"""Search spaces: which hyperparameters of an optimizer are tuned, over which ranges.

A space is declared from the registry entry itself: every hyperparameter the entry exposes that
:data:`RANGES` knows (learning rate, momentum, betas, eps, weight decay, RMSprop's ``alpha``,
Adadelta's ``rho``) becomes a dimension, with the range written there; every other
hyperparameter stays at the entry's default. A switch that the default leaves off (plain SGD's
``momentum=0``, RMSprop's ``momentum=0``) is not turned on by the search, since that would make
the optimizer another entry (``classical_momentum``); the entries that turn it on tune it.

Overrides replace a dimension's range (``(low, high)`` or ``(low, high, "log")``) or fix it at a
value; hyperparameters the user fixes in the optimizer spec (``adam:amsgrad=True``) are not
searched. The ranges are sized for 2-D surfaces and small nets; they are data, and a study's
spec records the overrides it used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from optiscope.errors import SpecError
from optiscope.optimizers import OptimizerSpec, get_entry, parse_spec

__all__ = [
    "RANGES",
    "Dimension",
    "RangeOverride",
    "Rule",
    "SearchSpace",
    "parse_override",
    "search_space",
]

RangeOverride = tuple[float, float] | tuple[float, float, Literal["log", "linear"]] | float
"""A dimension's new range, ``(low, high)`` or ``(low, high, "log")``, or a value to fix it at."""


@dataclass(frozen=True)
class Rule:
    """How one hyperparameter is searched when an entry exposes it.

    Attributes:
        low, high: the range (inclusive).
        log: sample ``log(value)`` uniformly (scale parameters: learning rate, eps).
        only_when_on: search it only when the entry's default is non-zero (a switch such as
            momentum: the search tunes it where the entry turns it on, never turns it on).
    """

    low: float
    high: float
    log: bool = False
    only_when_on: bool = False


RANGES: dict[str, Rule | tuple[Rule, ...]] = {
    "lr": Rule(1e-5, 1.0, log=True),
    "momentum": Rule(0.0, 0.99, only_when_on=True),
    "betas": (Rule(0.5, 0.999), Rule(0.9, 0.9999)),
    "eps": Rule(1e-10, 1e-2, log=True),
    "weight_decay": Rule(0.0, 0.1),
    "alpha": Rule(0.8, 0.999),
    "rho": Rule(0.8, 0.999),
}
"""The ranges searched, by hyperparameter name (a tuple hyperparameter has one rule per item)."""


@dataclass(frozen=True)
class Dimension:
    """One searched number: ``key`` is the hyperparameter, ``betas.0`` for an item of a tuple.

    Attributes:
        key: the name sampled and stored (``lr``, ``betas.1``).
        low, high: the range, inclusive.
        log: sampled log-uniformly.
        default: the entry's default value of this number (reported beside the tuned one).
    """

    key: str
    low: float
    high: float
    log: bool
    default: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise SpecError(
                f"range of {self.key} must be two finite numbers, low < high; got {self.low}, {self.high}"
            )
        if self.log and self.low <= 0:
            raise SpecError(f"a log range of {self.key} must start above 0, got {self.low}")

    def grid(self, count: int) -> list[float]:
        """``count`` values spread over the range (geometrically for a log dimension)."""
        if count == 1:
            return [self.default]
        if self.log:
            ratio = math.log(self.high / self.low)
            return [self.low * math.exp(ratio * i / (count - 1)) for i in range(count)]
        return [self.low + (self.high - self.low) * i / (count - 1) for i in range(count)]


@dataclass(frozen=True)
class SearchSpace:
    """What is tuned of one optimizer: its dimensions, and every hyperparameter held fixed.

    Attributes:
        optimizer: the registry name.
        dimensions: the searched numbers, in a stable order.
        fixed: hyperparameters given in the optimizer spec or fixed by an override (others keep the
            entry's defaults, which the optimizer applies itself).
    """

    optimizer: str
    dimensions: tuple[Dimension, ...]
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dimension.key for dimension in self.dimensions)

    def dimension(self, key: str) -> Dimension | None:
        return next((dimension for dimension in self.dimensions if dimension.key == key), None)

    def hparams(self, values: Mapping[str, float]) -> dict[str, Any]:
        """The optimizer's hyperparameters for sampled ``values`` (tuple items put back together),
        with the fixed ones; a tuple item not searched keeps the entry's default."""
        chosen: dict[str, Any] = dict(self.fixed)
        defaults = get_entry(self.optimizer).defaults
        for key, value in values.items():
            name, _, item = key.partition(".")
            if not item:
                chosen[name] = float(value)
                continue
            current = list(chosen.get(name, defaults[name]))
            current[int(item)] = float(value)
            chosen[name] = tuple(current)
        return chosen

    def default_values(self) -> dict[str, float]:
        """Each dimension at the entry's default (the default spec, as a point of the space)."""
        return {dimension.key: dimension.default for dimension in self.dimensions}

    def values_of(self, spec: str) -> dict[str, float]:
        """A given spec of this optimizer as a point of the space (a baseline, e.g. a seed's
        setting): each dimension at the spec's value (the entry's default where it names none).

        Raises:
            SpecError: the spec names another optimizer, or sets a fixed hyperparameter otherwise.
        """
        parsed = parse_spec(spec)
        if parsed.name != self.optimizer:
            raise SpecError(f"baseline {spec!r} is not a spec of {self.optimizer}")
        for name, value in self.fixed.items():
            if name in parsed.hparams and parsed.hparams[name] != value:
                raise SpecError(f"baseline {spec!r} sets {name}, which this study fixes at {value!r}")
        values = self.default_values()
        for key in values:
            name, _, item = key.partition(".")
            if name in parsed.hparams:
                given = parsed.hparams[name]
                values[key] = float(given[int(item)] if item else given)
        unknown = sorted(set(parsed.hparams) - {key.partition(".")[0] for key in values} - set(self.fixed))
        if unknown:
            raise SpecError(f"baseline {spec!r} sets {', '.join(unknown)}, which this study neither "
                            "searches nor fixes")  # fmt: skip
        return values

    def spec_text(self, values: Mapping[str, float]) -> str:
        """The optimizer spec of sampled ``values``, e.g. ``adam:lr=0.012,betas=(0.9,0.99)``."""
        return parse_spec(OptimizerSpec(self.optimizer, self.hparams(values))).to_string()

    def describe(self) -> dict[str, Any]:
        """JSON-ready: each dimension's range and scale, and the fixed hyperparameters."""
        return {
            "optimizer": self.optimizer,
            "dimensions": {
                d.key: {"low": d.low, "high": d.high, "log": d.log, "default": d.default}
                for d in self.dimensions
            },
            "fixed": {
                key: list(value) if isinstance(value, tuple) else value for key, value in self.fixed.items()
            },
        }


def _dimensions_of(name: str, value: Any, rule: Rule | tuple[Rule, ...]) -> list[Dimension]:
    """The dimensions an entry's default ``value`` of hyperparameter ``name`` gets under ``rule``."""
    if isinstance(rule, tuple):
        if not isinstance(value, tuple | list) or len(value) != len(rule):
            return []
        found = []
        for index, (item, item_rule) in enumerate(zip(value, rule, strict=True)):
            found.extend(_dimensions_of(f"{name}.{index}", item, item_rule))
        return found
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    if rule.only_when_on and value == 0:
        return []
    return [Dimension(name, rule.low, rule.high, rule.log, float(value))]


def parse_override(text: str) -> tuple[str, str, RangeOverride]:
    """Read a command-line override ``OPT.KEY=LOW:HIGH[:log]`` or ``OPT.KEY=VALUE``.

    Returns:
        ``(optimizer, key, override)``; ``key`` may name a tuple item (``adam.betas.1=0.9:0.99``).

    Raises:
        SpecError: not of that form, or the numbers do not parse.
    """
    target, sep, value = text.partition("=")
    optimizer, dot, key = target.strip().partition(".")
    if not sep or not dot or not optimizer or not key:
        raise SpecError(f"--space takes OPT.KEY=LOW:HIGH[:log] or OPT.KEY=VALUE, got {text!r}")
    parts = value.strip().split(":")
    try:
        if len(parts) == 1:
            return optimizer, key, float(parts[0])
        if len(parts) == 2 or (len(parts) == 3 and parts[2] in ("log", "linear")):
            low, high = float(parts[0]), float(parts[1])
            return optimizer, key, (low, high, parts[2]) if len(parts) == 3 else (low, high)  # type: ignore[return-value]
    except ValueError:
        pass
    raise SpecError(f"--space {text!r}: the value must be LOW:HIGH, LOW:HIGH:log or one number")


def search_space(optimizer: str, overrides: Mapping[str, RangeOverride] | None = None) -> SearchSpace:
    """The search space of ``optimizer`` (a name, or a spec whose given hyperparameters stay fixed).

    Args:
        optimizer: ``"adam"`` or ``"adam:amsgrad=True"``.
        overrides: by dimension key (``lr``, ``betas.0``): a new range or a value to fix it at;
            a key that is not a default dimension may be added with a range.

    Raises:
        SpecError: an override names no hyperparameter of the entry, or gives a bad range.
        UnknownNameError: no such optimizer.
    """
    spec = parse_spec(optimizer)
    entry = get_entry(spec.name)
    dimensions: dict[str, Dimension] = {}
    for name, value in entry.defaults.items():
        if name in RANGES and name not in spec.hparams:
            for dimension in _dimensions_of(name, value, RANGES[name]):
                dimensions[dimension.key] = dimension
    fixed = dict(spec.hparams)
    for key, override in (overrides or {}).items():
        name, _, item = key.partition(".")
        if name not in entry.defaults:
            raise SpecError(f"--space {spec.name}.{key}: {spec.name} has no hyperparameter {name!r}")
        default = entry.defaults[name]
        if item:
            if not isinstance(default, tuple | list) or not item.isdigit() or int(item) >= len(default):
                raise SpecError(f"--space {spec.name}.{key}: {name} has no item {item!r}")
            default = default[int(item)]
        if isinstance(override, int | float):
            dimensions.pop(key, None)
            fixed = _fixed_with(fixed, name, item, float(override), entry.defaults[name])
            continue
        low, high, *scale = override
        dimensions[key] = Dimension(
            key, float(low), float(high), bool(scale and scale[0] == "log"), float(default)
        )
    ordered = tuple(sorted(dimensions.values(), key=lambda d: (d.key != "lr", d.key)))
    return SearchSpace(spec.name, ordered, fixed)


def _fixed_with(fixed: dict[str, Any], name: str, item: str, value: float, default: Any) -> dict[str, Any]:
    """``fixed`` with hyperparameter ``name`` (or its item ``item``) set to ``value``."""
    if not item:
        return {**fixed, name: value}
    current = list(fixed.get(name, default))
    current[int(item)] = value
    return {**fixed, name: tuple(current)}
