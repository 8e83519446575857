"""The surface registry: names to factories, and ``get`` for names, specs and expressions.

``get("f4:noise=lookup,noise_seed=3")`` looks the name up case-insensitively (``-`` and spaces
read as ``_``), checks the options against the factory's signature, builds the surface and
applies the noise options that every surface accepts. Text that is not a registered name but
looks like a formula (operators, brackets, the variables ``x``/``y``) becomes an expression
surface; ``"expr:..."`` forces that reading.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

from optiscope.errors import ExpressionError, SpecError, UnknownNameError
from optiscope.spec_syntax import parse_named_args
from optiscope.surfaces import classic, regression, rugged, seed_surfaces, shapes
from optiscope.surfaces.base import Surface
from optiscope.surfaces.expression import from_expression
from optiscope.surfaces.noise import with_noise

__all__ = ["NOISE_OPTIONS", "get", "list_surfaces", "names", "register"]

SurfaceFactory = Callable[..., Surface]

NOISE_OPTIONS = {"noise": "none", "noise_seed": 0, "noise_scale": 1.0}
"""Options every surface accepts, with their defaults (see :func:`with_noise`)."""

_EXPRESSION_PREFIX = "expr:"
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.]*$")
_LOOKS_LIKE_EXPRESSION = re.compile(r"[-+*/()^]|\b(?:x|y|w1|w2)\b|^\s*[\d.]")

_BUILTIN_FACTORIES: tuple[SurfaceFactory, ...] = (
    seed_surfaces.f0,
    seed_surfaces.f1,
    seed_surfaces.f2,
    seed_surfaces.f3,
    seed_surfaces.f4,
    seed_surfaces.f5,
    seed_surfaces.pathological,
    regression.regression_mse,
    regression.regression_rmse,
    regression.regression_mae,
    classic.rosenbrock,
    rugged.rastrigin,
    classic.beale,
    classic.booth,
    classic.himmelblau,
    classic.three_hump_camel,
    classic.six_hump_camel,
    classic.goldstein_price,
    classic.branin,
    rugged.ackley,
    classic.styblinski_tang,
    classic.mccormick,
    rugged.easom,
    rugged.bukin6,
    shapes.saddle,
    shapes.monkey_saddle,
    shapes.ill_conditioned,
)
_REGISTRY: dict[str, SurfaceFactory] = {factory.__name__: factory for factory in _BUILTIN_FACTORIES}


def _normalise(name: str) -> str:
    return re.sub(r"[-\s]+", "_", name.strip().lower())


def names() -> list[str]:
    """Registered surface names, built-ins first in catalogue order, then user ones."""
    return list(_REGISTRY)


def register(name: str, factory: SurfaceFactory, *, overwrite: bool = False) -> None:
    """Register a user surface: ``factory(**options)`` must return a :class:`Surface`.

    The factory's keyword parameters become the surface's options in specs; the noise options
    (:data:`NOISE_OPTIONS`) are added to every surface automatically.

    Raises:
        SpecError: an invalid name, a name already taken (unless ``overwrite``), or a factory
            that is not callable.
    """
    key = _normalise(name) if isinstance(name, str) else ""
    if not _NAME_PATTERN.match(key):
        raise SpecError(f"invalid surface name {name!r}: use letters, digits, '_' and '.'")
    if key in _REGISTRY and not overwrite:
        raise SpecError(f"surface {key!r} is already registered; pass overwrite=True to replace it")
    if not callable(factory):
        raise SpecError(f"factory for surface {key!r} is not callable")
    _REGISTRY[key] = factory


def list_surfaces() -> list[Surface]:
    """Every registered surface with its default options."""
    return [get(name) for name in names()]


def get(name_or_spec: str, **options: Any) -> Surface:
    """Build a surface from a name, a spec string or an expression.

    Args:
        name_or_spec: ``"rosenbrock"``, ``"ill_conditioned:condition=100,angle=30"``,
            ``"f4:noise=lookup,noise_seed=3"``, ``"x**2 + 10*sin(y)"`` or ``"expr:x*y"``.
        **options: more options; they override options of the same name in the spec.

    Raises:
        UnknownNameError: neither a registered name nor an expression (the message lists close
            matches).
        SpecError: an unknown option (the message lists the allowed ones) or a bad value.
        ExpressionError: text that reads as an expression but is outside the whitelist.
    """
    if not isinstance(name_or_spec, str):
        raise SpecError(f"expected a surface name or spec string, got {type(name_or_spec).__name__}")
    name, spec_options = _split_spec(name_or_spec)
    merged = {**spec_options, **options}
    noise = {key: merged.pop(key, default) for key, default in NOISE_OPTIONS.items()}
    surface = _build(name, merged)
    return with_noise(surface, noise["noise"], noise["noise_seed"], noise["noise_scale"])


def _split_spec(text: str) -> tuple[str, dict[str, Any]]:
    try:
        return parse_named_args(text)
    except SpecError:
        if _LOOKS_LIKE_EXPRESSION.search(text):
            return text.strip(), {}
        raise


def _build(name: str, options: dict[str, Any]) -> Surface:
    key = _normalise(name)
    if key in _REGISTRY:
        return _call_factory(key, _REGISTRY[key], options)
    if name.lower().startswith(_EXPRESSION_PREFIX):
        text = name[len(_EXPRESSION_PREFIX) :]
        return _call_factory("expr", functools.partial(from_expression, text), options)
    close = difflib.get_close_matches(key, names(), n=3, cutoff=0.6)
    if _LOOKS_LIKE_EXPRESSION.search(name):
        try:
            return _call_factory("expr", functools.partial(from_expression, name), options)
        except ExpressionError as error:
            if not close:
                raise
            raise UnknownNameError(
                f"unknown surface {name!r}; did you mean {' or '.join(close)}? "
                f"(read as an expression it fails: {error})"
            ) from None
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise UnknownNameError(
        f"unknown surface {name!r}; {hint}known surfaces: {', '.join(names())}; "
        "or give a formula in x and y such as 'x**2 + 10*sin(y)'"
    )


def _call_factory(name: str, factory: SurfaceFactory, options: dict[str, Any]) -> Surface:
    """Call ``factory`` with ``options`` after checking them against its signature."""
    parameters = inspect.signature(factory).parameters.values()
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    allowed = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    unknown = sorted(set(options) - set(allowed))
    if unknown and not accepts_any:
        listed = ", ".join([*allowed, *NOISE_OPTIONS])
        raise SpecError(f"surface {name!r} has no option {', '.join(unknown)}; allowed: {listed}")
    surface = factory(**options)
    if not isinstance(surface, Surface):
        raise SpecError(f"factory of surface {name!r} returned {type(surface).__name__}")
    return surface
