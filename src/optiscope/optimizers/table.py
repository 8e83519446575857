"""The optimizer table: every registered entry by canonical name and alias.

The built-in catalog (:mod:`optiscope.optimizers.catalog`) is loaded on first use. Names are
case-insensitive; ``module:attribute`` names load a user's optimizer by import path (see
:mod:`optiscope.optimizers.user`) and are registered under that path on first use. Specs
(:mod:`optiscope.optimizers.spec`) validate against this table, and
:mod:`optiscope.optimizers.registry` builds optimizers from both.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

import torch

from optiscope.errors import SpecError, UnknownNameError
from optiscope.optimizers.catalog import build_catalog
from optiscope.optimizers.entry import OptimizerEntry
from optiscope.optimizers.user import is_import_path, load_user_factory
from optiscope.optimizers.validation import signature_defaults, validate_hparams

__all__ = ["get_entry", "list_entries", "register", "register_ad_hoc"]

_ENTRIES: dict[str, OptimizerEntry] = {}
_ALIASES: dict[str, str] = {}
_LOCK = threading.RLock()
_LOADED = False


def _ensure_catalog() -> None:
    global _LOADED
    if _LOADED:
        return
    with _LOCK:
        if _LOADED:
            return
        for entry in build_catalog():
            _add(entry)
        _LOADED = True


def _add(entry: OptimizerEntry) -> None:
    for key in (entry.name, *entry.aliases):
        if key in _ENTRIES or key in _ALIASES:
            raise SpecError(f"optimizer name {key!r} is already registered")
    _ENTRIES[entry.name] = entry
    for alias in entry.aliases:
        _ALIASES[alias] = entry.name


def _canonical(name: str) -> str | None:
    if name in _ENTRIES:
        return name
    lowered = name.strip().lower()
    if lowered in _ENTRIES:
        return lowered
    return _ALIASES.get(lowered)


def get_entry(name: str) -> OptimizerEntry:
    """The entry for ``name`` (case-insensitive; an alias or a ``module:attribute`` path).

    Raises:
        UnknownNameError: no such optimizer; the message lists close matches.
        SpecError: a malformed name.
    """
    _ensure_catalog()
    if not isinstance(name, str):
        raise SpecError(f"optimizer name must be a string, got {type(name).__name__}")
    canonical = _canonical(name)
    if canonical is not None:
        return _ENTRIES[canonical]
    if ":" in name:
        return _user_entry(name.strip())
    close = _close_names(name.strip().lower(), sorted([*_ENTRIES, *_ALIASES]))
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(
        f"unknown optimizer {name!r}{hint} (see `optiscope optimizers list`, or name your own "
        f"class as 'package.module:ClassName')"
    )


def _close_names(word: str, choices: list[str]) -> list[str]:
    """Up to three suggestions: swapped letters first (``adma`` -> ``adam``), then difflib's."""
    swapped = [choice for choice in choices if sorted(choice) == sorted(word)]
    similar = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    return list(dict.fromkeys([*swapped, *similar]))[:3]


def _user_entry(path: str) -> OptimizerEntry:
    head = path.partition(":")[0]
    if not is_import_path(path) and _canonical(head) is not None:
        raise SpecError(
            f"cannot read {path!r}: arguments after {head!r}: must be key=value, e.g. '{head}:lr=0.1'"
        )
    factory = load_user_factory(path)
    with _LOCK:
        if path in _ENTRIES:
            return _ENTRIES[path]
        entry = _make_user_entry(path, factory, notes=f"imported from {path}")
        _add(entry)
        return entry


def _make_user_entry(
    name: str,
    factory: Callable[..., torch.optim.Optimizer],
    *,
    aliases: Iterable[str] = (),
    elementwise: bool = False,
    needs_create_graph: bool = False,
    needs_closure: bool = False,
    needs_matrix: bool = False,
    defaults: dict[str, Any] | None = None,
    notes: str = "",
    tags: Iterable[str] = (),
) -> OptimizerEntry:
    if not callable(factory):
        raise SpecError(f"optimizer factory for {name!r} must be callable, got {factory!r}")
    if inspect.isclass(factory) and not issubclass(factory, torch.optim.Optimizer):
        raise SpecError(f"{factory!r} is a class but not a torch.optim.Optimizer subclass")
    preset = dict(defaults or {})
    if preset:
        preset = validate_hparams(name, factory, preset)
        factory = functools.partial(factory, **preset)
    return OptimizerEntry(
        name=name,
        aliases=tuple(alias.lower() for alias in aliases),
        source="user",
        factory=factory,
        defaults={**signature_defaults(factory), **preset},
        elementwise=elementwise,
        needs_create_graph=needs_create_graph,
        needs_closure=needs_closure,
        needs_matrix=needs_matrix,
        notes=notes,
        tags=tuple(tags),
    )


def list_entries() -> list[OptimizerEntry]:
    """Every registered entry, sorted by name."""
    _ensure_catalog()
    return [_ENTRIES[name] for name in sorted(_ENTRIES)]


def register(
    name: str,
    factory: Callable[..., torch.optim.Optimizer],
    *,
    aliases: Iterable[str] = (),
    elementwise: bool = False,
    needs_create_graph: bool = False,
    needs_closure: bool = False,
    needs_matrix: bool = False,
    defaults: dict[str, Any] | None = None,
    notes: str = "",
    tags: Iterable[str] = (),
) -> OptimizerEntry:
    """Register the user's own optimizer (an Optimizer subclass or a factory) under ``name``.

    Registering the same factory under the same name again returns the existing entry.
    ``defaults`` are presets applied to the factory (validated against its signature).
    Declare ``elementwise=True`` only when the update of each coordinate depends on that
    coordinate alone; the trajectory engine then runs many start points in one tensor.

    Raises:
        SpecError: the name (or an alias) is taken by another optimizer, or the factory is
            not callable.
        HyperparameterError: ``defaults`` do not fit the factory's signature.
    """
    _ensure_catalog()
    key = name.strip().lower()
    if not key:
        raise SpecError("an optimizer needs a non-empty name")
    with _LOCK:
        existing = _ENTRIES.get(key)
        if existing is not None and existing.source == "user":
            original = getattr(existing.factory, "func", existing.factory)
            if original is factory:
                return existing
        entry = _make_user_entry(
            key,
            factory,
            aliases=aliases,
            elementwise=elementwise,
            needs_create_graph=needs_create_graph,
            needs_closure=needs_closure,
            needs_matrix=needs_matrix,
            defaults=defaults,
            notes=notes,
            tags=tags,
        )
        _add(entry)
        return entry


def register_ad_hoc(factory: Callable[..., torch.optim.Optimizer]) -> str:
    """Register ``factory`` under a name derived from its module and qualified name; return the name.

    The derived name is ``user.<module>.<qualname>`` in lower case with characters other than
    letters, digits, ``_`` and ``.`` replaced by ``_``; a second, different factory with the
    same derived name gets ``_2``, ``_3``, ... appended. The same factory again gets its
    existing name back.
    """
    _ensure_catalog()
    module = getattr(factory, "__module__", None) or "anonymous"
    qualname = getattr(factory, "__qualname__", None) or type(factory).__name__
    base = re.sub(r"[^a-z0-9_.]", "_", f"user.{module}.{qualname}".lower())
    with _LOCK:
        for suffix in range(1, 10_000):
            name = base if suffix == 1 else f"{base}_{suffix}"
            existing = _ENTRIES.get(name)
            if existing is None:
                register(name, factory)
                break
            if getattr(existing.factory, "func", existing.factory) is factory:
                break
    return name
