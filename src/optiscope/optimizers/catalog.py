"""The built-in catalog: every torch.optim optimizer, every pytorch-optimizer one, and ours.

Naming rule:

- a torch.optim class is registered under its lower-case class name (``SGD`` -> ``sgd``);
- a pytorch-optimizer optimizer under its own registry name
  (:func:`pytorch_optimizer.get_supported_optimizers`); when that name loads the very class
  torch ships (``adam``, ``sgd``, ``lbfgs``...), the torch entry is the entry;
- when a pytorch-optimizer name collides with a torch name but is a different class
  (``adadelta``, ``adafactor``, ``adamax``, ``asgd``, ``muon``, ``radam``), torch keeps the
  bare name and the other is registered as ``po_<name>`` (``po_adamax``);
- optiscope's presets and own optimizers (``momentum``, ``classical_momentum``, ``nag``,
  ``adagrad_full``, seed 004's Keras rules ``rmsprop_keras``... from
  :mod:`optiscope.optimizers.keras_entries`) and the seeds' spellings (``gd``,
  ``nesterov``...) come from :mod:`optiscope.optimizers.metadata`, which also declares every
  entry's flags.

The flags are declared data, not computed at import; ``tests/test_optimizer_conformance.py``
re-checks them on every entry.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytorch_optimizer
import torch

from optiscope.optimizers import metadata
from optiscope.optimizers.entry import OptimizerEntry
from optiscope.optimizers.formula_notes import FORMULA_NOTES
from optiscope.optimizers.validation import signature_defaults

__all__ = ["COLLISION_PREFIX", "build_catalog", "pytorch_optimizer_classes", "torch_classes"]

COLLISION_PREFIX = "po_"


def torch_classes() -> dict[str, type[torch.optim.Optimizer]]:
    """Every optimizer class torch.optim exports, by lower-case class name."""
    found: dict[str, type[torch.optim.Optimizer]] = {}
    for attribute in dir(torch.optim):
        value = getattr(torch.optim, attribute)
        if (
            inspect.isclass(value)
            and issubclass(value, torch.optim.Optimizer)
            and value is not torch.optim.Optimizer
        ):
            found[value.__name__.lower()] = value
    return dict(sorted(found.items()))


def pytorch_optimizer_classes() -> dict[str, type[torch.optim.Optimizer]]:
    """pytorch-optimizer's optimizers by registry name, minus the classes torch itself ships,
    with names that collide with torch's prefixed by :data:`COLLISION_PREFIX`."""
    torch_found = torch_classes()
    torch_set = set(torch_found.values())
    found: dict[str, type[torch.optim.Optimizer]] = {}
    for name in pytorch_optimizer.get_supported_optimizers():
        value = pytorch_optimizer.load_optimizer(name)
        if value in torch_set:
            continue
        key = f"{COLLISION_PREFIX}{name}" if name in torch_found else name
        found[key] = value
    return dict(sorted(found.items()))


def _entry(
    name: str,
    source: str,
    factory: Callable[..., torch.optim.Optimizer],
    preset: dict[str, Any],
    notes: list[str],
) -> OptimizerEntry:
    if preset:
        factory = functools.partial(factory, **preset)
    note_text = " ".join(part for part in [FORMULA_NOTES.get(name, ""), *notes] if part)
    return OptimizerEntry(
        name=name,
        aliases=metadata.ALIASES.get(name, ()),
        source=source,
        factory=factory,
        defaults={**signature_defaults(factory), **preset},
        elementwise=name in metadata.ELEMENTWISE,
        needs_create_graph=name in metadata.NEEDS_CREATE_GRAPH,
        needs_closure=name in metadata.NEEDS_CLOSURE,
        needs_matrix=name in metadata.NEEDS_MATRIX,
        conformance_exception=metadata.conformance_exception(name),
        notes=note_text,
        tags=metadata.tags_of(name),
    )


def build_catalog() -> list[OptimizerEntry]:
    """Every built-in entry, sorted by name."""
    entries: list[OptimizerEntry] = []
    for name, cls in torch_classes().items():
        entries.append(_library_entry(name, "torch", cls))
    for name, cls in pytorch_optimizer_classes().items():
        entries.append(_library_entry(name, "pytorch_optimizer", cls))
    library = {entry.name: entry for entry in entries}
    for name, (base, preset, note) in metadata.PRESETS.items():
        base_entry = library[base]
        base_factory = getattr(base_entry.factory, "func", base_entry.factory)
        entries.append(_entry(name, base_entry.source, base_factory, dict(preset), [note]))
    for name, (factory, note) in metadata.own_optimizers().items():
        entries.append(_entry(name, "optiscope", factory, {}, [note]))
    return sorted(entries, key=lambda entry: entry.name)


def _library_entry(name: str, source: str, cls: type[torch.optim.Optimizer]) -> OptimizerEntry:
    notes: list[str] = []
    if name.startswith(COLLISION_PREFIX):
        bare = name[len(COLLISION_PREFIX) :]
        notes.append(
            f"pytorch-optimizer's {cls.__name__}, registered as {name!r} because torch.optim "
            f"already has {bare!r}."
        )
    factory: Callable[..., torch.optim.Optimizer] = metadata.WRAPPERS.get(name, cls)
    preset, preset_note = metadata.DEFAULT_OVERRIDES.get(name, ({}, ""))
    if preset_note:
        notes.append(preset_note)
    return _entry(name, source, factory, dict(preset), notes)
