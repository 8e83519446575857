"""Executors: where a study's work units run. In this process by default, or as Ray tasks.

An executor runs a function over independent tasks and yields each result as it finishes; the
study stores each as it arrives, so a killed study loses only the units still running. Units are
pure functions of their task, so the same unit gives the same numbers on either executor.

The study reads the executor from :func:`current_executor`, set for a block of code with
:func:`executor_scope`: the executor says where the work runs, not what it computes, so it is
not part of a study's config (nor of its cache key).

Ray is an optional extra (``pip install 'optiscope[ray]'``), imported when a Ray executor starts.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from optiscope.errors import SpecError

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "current_executor",
    "executor_scope",
    "make_executor",
]

T = TypeVar("T")
R = TypeVar("R")
EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Runs ``function`` on every task; yields ``(task index, result)`` as each finishes."""

    name: str

    def run(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]: ...


class LocalExecutor:
    """Every unit in this process, one after another (the default)."""

    name = "local"

    def run(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        for index, task in enumerate(tasks):
            yield index, function(task)


class RayExecutor:
    """Every unit as a Ray task: on a Ray this executor starts on the loopback interface (the
    default, stopped again by :meth:`close`), or on the cluster at ``address``.

    A cluster's workers must have optiscope installed (the same version, so units compute the
    same numbers).

    Args:
        address: a running cluster (``ray://host:10001`` or ``host:6379``); None starts one here.
        num_cpus: CPUs a local Ray may use (default: all).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._ray: Any = None
        self._started = False

    def start(self) -> None:
        """Connect to the cluster, or start a local Ray on 127.0.0.1 (no usage reports sent)."""
        if self._ray is not None:
            return
        try:
            import ray
        except ImportError as error:
            raise SpecError(
                "--executor ray needs Ray: pip install 'optiscope[ray]' (or pip install ray)"
            ) from error
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network at run time
        if not ray.is_initialized():
            if self.address is not None:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=self.num_cpus,
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    log_to_driver=False,
                )
                self._started = True
        self._ray = ray

    def close(self) -> None:
        """Stop the Ray this executor started (a cluster it joined is only disconnected from)."""
        if self._ray is not None and self._ray.is_initialized():
            self._ray.shutdown()
        self._ray, self._started = None, False

    def run(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        self.start()
        ray = self._ray
        remote = ray.remote(function)
        pending = {remote.remote(task): index for index, task in enumerate(tasks)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            yield pending.pop(done[0]), ray.get(done[0])


_CURRENT: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("optiscope_executor", default=None)


def current_executor() -> Executor:
    """The executor set by the innermost :func:`executor_scope`, else a :class:`LocalExecutor`."""
    return _CURRENT.get() or LocalExecutor()


@contextlib.contextmanager
def executor_scope(executor: Executor) -> Iterator[Executor]:
    """Run the studies inside the block on ``executor``; a Ray executor is closed at the end."""
    token = _CURRENT.set(executor)
    try:
        yield executor
    finally:
        _CURRENT.reset(token)
        if isinstance(executor, RayExecutor):
            executor.close()


def make_executor(name: str | None = None, address: str | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``); with no name, ``ray`` when an
    ``address`` is given, else ``local``.

    Raises:
        SpecError: an unknown name, or an address given to the local executor.
    """
    name = name or ("ray" if address is not None else "local")
    if name == "local":
        if address is not None:
            raise SpecError("--ray-address needs --executor ray")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address=address)
    raise SpecError(f"--executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
