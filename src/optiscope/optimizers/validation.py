"""Check user-given hyperparameters against an optimizer factory's signature, once, at the boundary.

The valid keys are the factory's named parameters after the first (``params``). A factory that
also takes ``**kwargs`` (many pytorch-optimizer classes do, and ignore what they do not know)
is still held to its named parameters, so a typo is an error instead of a silent no-op; only a
factory with no named hyperparameters at all accepts any key.

Types are checked against the default value: a number default wants a real number (not a
bool), a bool default a bool, a tuple default a tuple of the same length, a string default a
string. Every number must be finite, and ``lr`` must be a non-negative number.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import torch

from optiscope.errors import HyperparameterError

__all__ = ["hyperparameter_names", "signature_defaults", "validate_hparams"]

_NUMBER_KEYS = frozenset({"lr", "max_lr"})
_TUPLE_ANNOTATION = re.compile(r"tuple\[([^\[\]]*)\]", re.IGNORECASE)


def _named_parameters(factory: Callable[..., Any]) -> tuple[list[inspect.Parameter], bool]:
    """The factory's hyperparameters (all but the first) and whether it takes ``**kwargs``."""
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return [], True
    named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)]
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in parameters)
    if parameters and named and named[0] is parameters[0]:
        named = named[1:]
    return named, takes_kwargs


def hyperparameter_names(factory: Callable[..., Any]) -> tuple[str, ...] | None:
    """The keys ``factory`` accepts, or ``None`` when it accepts any key."""
    named, takes_kwargs = _named_parameters(factory)
    if not named and takes_kwargs:
        return None
    return tuple(p.name for p in named)


def signature_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """The factory's hyperparameter defaults (parameters without a default are left out)."""
    named, _ = _named_parameters(factory)
    return {p.name: p.default for p in named if p.default is not inspect.Parameter.empty}


def _tuple_lengths(factory: Callable[..., Any]) -> dict[str, set[int]]:
    """Tuple lengths each parameter's annotation allows (``tuple[float, float] | ...``)."""
    named, _ = _named_parameters(factory)
    lengths: dict[str, set[int]] = {}
    for parameter in named:
        if parameter.annotation is inspect.Parameter.empty:
            continue
        found = {
            len(inner.split(","))
            for inner in _TUPLE_ANNOTATION.findall(str(parameter.annotation))
            if "..." not in inner and "[" not in inner
        }
        if found:
            lengths[parameter.name] = found
    return lengths


def validate_hparams(
    name: str,
    factory: Callable[..., Any],
    hparams: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return ``hparams`` (lists turned into tuples) after checking keys, types and ranges.

    Args:
        name: the optimizer's name, for messages.
        factory: the callable whose signature defines the valid keys.
        hparams: the user-given hyperparameters.
        defaults: effective defaults that override the signature's (their types are the
            reference for type checks).

    Raises:
        HyperparameterError: unknown key (with close matches), wrong type, a non-finite
            number, or a negative learning rate.
    """
    valid = hyperparameter_names(factory)
    reference = signature_defaults(factory)
    reference.update(defaults or {})
    lengths = _tuple_lengths(factory)
    checked: dict[str, Any] = {}
    for key, value in hparams.items():
        if valid is not None and key not in valid:
            close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise HyperparameterError(
                f"optimizer {name!r} has no hyperparameter {key!r}{hint} "
                f"(valid: {', '.join(valid) or 'none'})"
            )
        value = _freeze(value)
        default = reference.get(key, inspect.Parameter.empty)
        _check_value(name, key, value, default, lengths.get(key))
        checked[key] = value
    return checked


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_finite(name: str, key: str, value: Any) -> None:
    if _is_number(value) and not math.isfinite(value):
        raise HyperparameterError(f"{name}: {key}={value!r} is not a finite number")
    if isinstance(value, tuple):
        for item in value:
            _check_finite(name, key, item)


def _check_value(name: str, key: str, value: Any, default: Any, tuple_lengths: set[int] | None) -> None:
    _check_finite(name, key, value)
    wanted = _wanted_type(key, default)
    if wanted == "number" and not _is_number(value):
        raise HyperparameterError(f"{name}: {key} must be a number, got {value!r} ({type(value).__name__})")
    if wanted == "bool" and not isinstance(value, bool):
        raise HyperparameterError(f"{name}: {key} must be true or false, got {value!r}")
    if wanted == "str" and not isinstance(value, str):
        raise HyperparameterError(f"{name}: {key} must be a string, got {value!r}")
    if wanted == "tuple":
        _check_tuple(name, key, value, default, tuple_lengths or {len(default)})
    if key in _NUMBER_KEYS and _is_number(value) and value < 0:
        raise HyperparameterError(f"{name}: {key} must be >= 0, got {value!r}")


def _wanted_type(key: str, default: Any) -> str | None:
    if key in _NUMBER_KEYS:
        return "number"
    if isinstance(default, bool):
        return "bool"
    if _is_number(default) or (isinstance(default, torch.Tensor) and default.numel() == 1):
        return "number"
    if isinstance(default, str):
        return "str"
    if isinstance(default, tuple) and all(_is_number(item) for item in default):
        return "tuple"
    return None


def _check_tuple(name: str, key: str, value: Any, default: tuple[Any, ...], lengths: set[int]) -> None:
    if not isinstance(value, tuple) or len(value) not in lengths:
        sizes = " or ".join(str(size) for size in sorted(lengths))
        raise HyperparameterError(
            f"{name}: {key} must be a tuple of {sizes} numbers like {default!r}, got {value!r}"
        )
    if not all(_is_number(item) for item in value):
        raise HyperparameterError(f"{name}: {key} must hold numbers only, got {value!r}")
