"""Load a user's own optimizer named by import path: ``my_pkg.my_mod:MyOpt``.

This is the only place optiscope imports a module named in a string, and it does so only for
this explicit ``module:attribute`` form, which the user typed to ask for exactly that. The
attribute must be a :class:`torch.optim.Optimizer` subclass or a callable factory; nothing is
evaluated.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable

import torch

from optiscope.errors import SpecError, UnknownNameError

__all__ = ["is_import_path", "load_user_factory"]

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def is_import_path(name: str) -> bool:
    """Whether ``name`` has the ``module:attribute`` form (a colon, valid identifiers)."""
    module, sep, attribute = name.partition(":")
    return bool(sep) and bool(_MODULE.match(module)) and bool(_ATTRIBUTE.match(attribute))


def load_user_factory(path: str) -> Callable[..., torch.optim.Optimizer]:
    """Import ``module`` and return ``module.attribute`` from ``"module:attribute"``.

    Raises:
        SpecError: the text is not of the form ``module:attribute``, or the attribute is
            neither an Optimizer subclass nor callable.
        UnknownNameError: the module cannot be imported or lacks the attribute.
    """
    if not is_import_path(path):
        raise SpecError(
            f"cannot read {path!r}: expected an optimizer name, 'name:key=value,...' or "
            f"'package.module:ClassName' (arguments must be key=value)"
        )
    module_name, _, attribute = path.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownNameError(f"cannot import module {module_name!r} for {path!r}: {error}") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise UnknownNameError(f"module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if inspect.isclass(target):
        if not issubclass(target, torch.optim.Optimizer):
            raise SpecError(f"{path!r} is a class but not a torch.optim.Optimizer subclass")
        return target
    if not callable(target):
        raise SpecError(f"{path!r} is neither an Optimizer subclass nor a callable factory")
    return target
