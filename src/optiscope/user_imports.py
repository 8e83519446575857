"""Import one object a user named by its import path, ``my_pkg.my_mod:make_thing``.

The only way optiscope imports a module named in a string: the explicit ``module:attribute``
form, for an optimizer, a model factory or a data loader the user asked for by that path. Only
the module named is imported; nothing is evaluated.
"""

from __future__ import annotations

import importlib
import re

from optiscope.errors import SpecError, UnknownNameError

__all__ = ["import_named", "is_import_path"]

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def is_import_path(name: str) -> bool:
    """Whether ``name`` has the ``module:attribute`` form (one colon, dotted identifiers)."""
    module, sep, attribute = name.partition(":")
    return bool(sep) and bool(_DOTTED.match(module)) and bool(_DOTTED.match(attribute))


def import_named(path: str, what: str) -> object:
    """``module.attribute`` from ``"module:attribute"``, importing ``module`` and nothing else.

    Args:
        path: the import path, ``pkg.mod:name`` (``name`` may be dotted: ``pkg.mod:Class.make``).
        what: what the object is for, e.g. ``"--model"``, named in the error messages.

    Raises:
        SpecError: ``path`` is not of the form ``module:attribute``.
        UnknownNameError: the module does not import (the message says it must be importable,
            e.g. on PYTHONPATH) or lacks the attribute.
    """
    if not is_import_path(path):
        raise SpecError(f"{what} {path!r} is not an import path: expected 'package.module:name'")
    module_name, _, attribute = path.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except Exception as error:  # the user's module failed to import, in whatever way
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UnknownNameError(
            f"{what} {path!r}: cannot import module {module_name!r} ({reason}); the module must be "
            "importable: on PYTHONPATH or installed"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise UnknownNameError(f"{what} {path!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    return target
