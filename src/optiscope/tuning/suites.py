"""Suites: named sets of problems a study tunes on together (``suite:NAME``), for profiles.

A performance profile needs many problems; a suite names them once. Every surface in a suite
has a known minimum value or a grid reference (seed 004's f1-f3), so every run gets a gap; a net
problem (``net:MODEL/DATASET/bBATCH``, see :mod:`optiscope.tuning.nets`) is scored by its test
metric. A target may also list problems joined by ``+`` (``booth+net:mlp/digits/b64``).
"""

from __future__ import annotations

from optiscope.errors import UnknownNameError

__all__ = ["SUITES", "SUITE_PREFIX", "suite_surfaces"]

SUITE_PREFIX = "suite:"

_SEED004 = ("f0", "f1", "f2", "f3", "f4", "f5")
_CLASSICS = (
    "rosenbrock",
    "beale",
    "booth",
    "himmelblau",
    "three_hump_camel",
    "six_hump_camel",
    "goldstein_price",
    "branin",
    "mccormick",
    "ill_conditioned",
)
_RUGGED = ("rastrigin", "ackley", "styblinski_tang", "easom", "bukin6")

SUITES: dict[str, tuple[str, ...]] = {
    "classics": _CLASSICS,
    "seed004": _SEED004,
    "rugged": _RUGGED,
    "all": _SEED004 + _CLASSICS + _RUGGED,
    "smooth": ("booth", "three_hump_camel", "ill_conditioned"),
    # Every seed surface and classic, and the seed nets on their offline proxies (seed 000's MLP
    # on proxy CIFAR-10, seed 001's LeNet on proxy MNIST), for one profile over all of them.
    "profile": _SEED004 + _CLASSICS + ("net:mlp/proxy-cifar10/b64", "net:lenet/proxy-mnist/b64"),
}
"""Suite name -> problems (surface specs and net problems)."""


def suite_surfaces(target: str) -> tuple[str, ...]:
    """The problems ``target`` names: a suite's (``suite:classics``), those joined by ``+``, or
    ``target`` alone.

    Raises:
        UnknownNameError: ``suite:NAME`` with no such suite.
    """
    if not target.startswith(SUITE_PREFIX):
        return tuple(part.strip() for part in target.split("+"))
    name = target[len(SUITE_PREFIX) :].strip().lower()
    if name not in SUITES:
        raise UnknownNameError(f"no suite {name!r}; suites: {', '.join(sorted(SUITES))}")
    return SUITES[name]
