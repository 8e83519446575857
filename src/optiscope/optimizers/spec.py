"""``OptimizerSpec``: which optimizer, with which user-given hyperparameters, as frozen data.

Text form: ``adam:lr=0.1,betas=(0.9,0.99)`` (see :mod:`optiscope.spec_syntax`). Names are
case-insensitive and aliases resolve to the canonical name. A user's own optimizer is named by
its import path, ``my_pkg.my_mod:MyOpt:lr=0.1``; that module is imported because the user
asked for it, and nothing else is ever imported or evaluated from a string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from optiscope.errors import SpecError
from optiscope.optimizers.table import get_entry
from optiscope.optimizers.validation import validate_hparams
from optiscope.spec_syntax import format_named_args, parse_named_args

__all__ = ["OptimizerSpec", "parse_spec"]


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer by canonical name plus only the hyperparameters the user gave.

    Build it with :func:`parse_spec` (or :meth:`from_dict`), which validates; constructing it
    directly only normalises (lists become tuples, so the spec is hashable).

    Attributes:
        name: canonical registry name, or ``module:attribute`` for a user import path.
        hparams: the user-given hyperparameters; defaults are not filled in.
    """

    name: str
    hparams: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hparams", {k: _freeze(v) for k, v in dict(self.hparams).items()})

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.hparams.items()))))

    @property
    def label(self) -> str:
        """Short human label, e.g. ``adam(lr=0.1)``; just the name without hyperparameters."""
        if not self.hparams:
            return self.name
        return f"{self.name}({self.to_string()[len(self.name) + 1 :]})"

    def to_string(self) -> str:
        """Text form that :func:`parse_spec` reads back to an equal spec."""
        return format_named_args(self.name, self.hparams)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"name": ..., "hparams": {...}}`` (tuples become lists)."""
        return {"name": self.name, "hparams": {k: _thaw(v) for k, v in self.hparams.items()}}

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), stable enough to hash into a run id."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizerSpec:
        """Read :meth:`to_dict` output (or a YAML mapping), validating name and values.

        Raises:
            SpecError: not a mapping with a ``name``; see :func:`parse_spec` for the rest.
        """
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise SpecError(f"an optimizer spec needs a 'name', got {data!r}")
        unknown = set(data) - {"name", "hparams"}
        if unknown:
            raise SpecError(f"unknown optimizer spec field(s): {', '.join(sorted(unknown))}")
        hparams = data.get("hparams") or {}
        if not isinstance(hparams, dict):
            raise SpecError(f"optimizer 'hparams' must be a mapping, got {hparams!r}")
        return _validated(data["name"], hparams)


def parse_spec(text: str) -> OptimizerSpec:
    """Parse ``"adam:lr=0.1,betas=(0.9,0.99)"`` (or ``"pkg.mod:MyOpt:lr=0.1"``) into a spec.

    Raises:
        UnknownNameError: no such optimizer (the message lists close matches).
        HyperparameterError: unknown key, wrong type, non-finite value or negative ``lr``.
        SpecError: malformed text.
    """
    if isinstance(text, OptimizerSpec):
        return _validated(text.name, text.hparams)
    name, hparams = parse_named_args(text)
    return _validated(name, hparams)


def _validated(name: str, hparams: dict[str, Any]) -> OptimizerSpec:
    entry = get_entry(name)
    checked = validate_hparams(entry.name, entry.factory, hparams, entry.defaults)
    return OptimizerSpec(entry.name, checked)
