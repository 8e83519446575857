"""Load a user's own optimizer named by import path: ``my_pkg.my_mod:MyOpt``.

The import itself is :func:`optiscope.user_imports.import_named`, for this explicit
``module:attribute`` form only, which the user typed to ask for exactly that. The
attribute must be a :class:`torch.optim.Optimizer` subclass or a callable factory; nothing is
evaluated.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from optiscope.errors import SpecError
from optiscope.user_imports import import_named, is_import_path

__all__ = ["is_import_path", "load_user_factory"]


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
    target = import_named(path, "optimizer")
    if inspect.isclass(target):
        if not issubclass(target, torch.optim.Optimizer):
            raise SpecError(f"{path!r} is a class but not a torch.optim.Optimizer subclass")
        return target
    if not callable(target):
        raise SpecError(f"{path!r} is neither an Optimizer subclass nor a callable factory")
    return target
