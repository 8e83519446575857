"""Every package lists its public names in ``__all__``, and every listed name exists."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "optiscope",
    "optiscope.errors",
    "optiscope.spec_syntax",
    "optiscope.validated",
    "optiscope.optimizers",
    "optiscope.surfaces",
    "optiscope.paths",
    "optiscope.store",
    "optiscope.viz",
    "optiscope.viz.interactive",
    "optiscope.experiments",
    "optiscope.nets",
    "optiscope.tuning",
    "optiscope.nets.data",
    "optiscope.nets.models",
    "optiscope.nets.recorder",
    "optiscope.nets.trainer",
    "optiscope.landscape",
    "optiscope.curvature",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_import(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, f"{name} lists no public names"
    missing = [public for public in module.__all__ if not hasattr(module, public)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
    assert len(set(module.__all__)) == len(module.__all__), f"{name}.__all__ repeats a name"


def test_every_error_is_an_optiscope_error() -> None:
    from optiscope import errors

    for public in errors.__all__:
        assert issubclass(getattr(errors, public), errors.OptiscopeError)
