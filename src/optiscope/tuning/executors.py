"""Executors: where a study's work units run. In this process by default, or as Ray tasks.

An executor runs a function over independent tasks and yields each result as it finishes; the
study stores each as it arrives, so a killed study loses only the units still running. Units are
pure functions of their task, so the same unit gives the same numbers on either executor: torch
splits a float reduction by its number of threads, so a Ray task runs with the thread count of
the process that sent it (and reserves as many CPUs), as a local unit does.

The study reads the executor from :func:`current_executor`, set for a block of code with
:func:`executor_scope`: the executor says where the work runs, not what it computes, so it is
not part of a study's config (nor of its cache key).

Ray is an optional extra (``pip install 'optiscope[ray]'``), imported when a Ray executor starts.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import torch

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
S = TypeVar("S")
EXECUTORS = ("local", "ray")
_CONNECT_SECONDS = 5.0  # how long a --ray-address may take to answer before it is called unreachable
_CANCEL_SECONDS = 30.0  # how long a stopped study waits for its cancelled tasks to end


class Executor(Protocol):
    """Runs ``function`` on every task; yields ``(task index, result)`` as each finishes.

    :meth:`run_shared` is for units that read one large input (a model and its data): each unit is
    ``function(shared, task)``, and ``shared`` travels to the workers once, not with every task.
    """

    name: str

    def run(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]: ...

    def run_shared(
        self, function: Callable[[S, T], R], shared: S, tasks: Sequence[T]
    ) -> Iterator[tuple[int, R]]: ...


class LocalExecutor:
    """Every unit in this process, one after another (the default)."""

    name = "local"

    def run(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        for index, task in enumerate(tasks):
            yield index, function(task)

    def run_shared(
        self, function: Callable[[S, T], R], shared: S, tasks: Sequence[T]
    ) -> Iterator[tuple[int, R]]:
        for index, task in enumerate(tasks):
            yield index, function(shared, task)


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
        self._started = False  # this executor called ray.init, so close() shuts it down

    def start(self) -> None:
        """Connect to the cluster, or start a local Ray on 127.0.0.1 (no usage reports sent).

        A Ray already initialised in this process (by the caller) is used as it is.

        Raises:
            SpecError: Ray is not installed, or no cluster answers at ``address``.
        """
        if self._ray is not None:
            return
        ray = _import_ray()
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network at run time
        if not ray.is_initialized():
            if self.address is not None:
                _check_reachable(self.address)
                try:
                    ray.init(address=self.address, log_to_driver=False)
                except (ConnectionError, TimeoutError, ValueError, RuntimeError) as error:
                    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                    raise SpecError(
                        f"--ray-address {self.address}: cannot join a Ray cluster: {reason}"
                    ) from None
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
        """Stop the Ray this executor started (a cluster it joined is only disconnected from; a
        Ray the caller initialised is left running)."""
        if self._started and self._ray is not None and self._ray.is_initialized():
            self._ray.shutdown()
        self._ray, self._started = None, False

    def run(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        remote, threads = self._remote()
        pending = {remote.remote(threads, function, task): index for index, task in enumerate(tasks)}
        yield from self._gather(pending)

    def run_shared(
        self, function: Callable[[S, T], R], shared: S, tasks: Sequence[T]
    ) -> Iterator[tuple[int, R]]:
        remote, threads = self._remote()
        stored = self._ray.put(shared)  # once; every task reads it from the object store
        pending = {remote.remote(threads, function, stored, task): index for index, task in enumerate(tasks)}
        yield from self._gather(pending)

    def _remote(self) -> tuple[Any, int]:
        """The Ray task that runs a unit with this process's torch thread count, and that count.

        The task reserves as many CPUs (at most a node's), so tasks on one machine do not
        oversubscribe it.
        """
        self.start()
        threads = torch.get_num_threads()
        nodes = [node["Resources"].get("CPU", 0) for node in self._ray.nodes() if node["Alive"]]
        cpus = max(1, min(threads, int(max(nodes, default=1))))
        return self._ray.remote(_with_threads).options(num_cpus=cpus), threads

    def _gather(self, pending: dict[Any, int]) -> Iterator[tuple[int, Any]]:
        """Each result as its task finishes; a unit's error is raised as itself, not wrapped.

        When the study stops early (a unit failed, the study was interrupted), the tasks still
        out are cancelled, and have ended when this returns: none goes on writing behind it.
        """
        ray = self._ray
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(done[0])
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayTaskError as error:
                    cause = getattr(error, "cause", None)
                    if isinstance(cause, Exception):
                        raise cause from error  # the remote traceback stays in the chain
                    raise
                yield index, result
        finally:
            if pending and ray.is_initialized():
                for ref in pending:
                    ray.cancel(ref, force=True)
                ray.wait(list(pending), num_returns=len(pending), timeout=_CANCEL_SECONDS)


def _with_threads(threads: int, function: Callable[..., R], *args: Any) -> R:
    """``function(*args)`` with torch set to ``threads`` intra-op threads (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return function(*args)
    finally:
        torch.set_num_threads(before)


def _import_ray() -> Any:
    """The ray module, or a :class:`SpecError` naming the install that provides it."""
    try:
        import ray
    except ImportError as error:
        raise SpecError(
            "--executor ray needs Ray: pip install 'optiscope[ray]' (or pip install ray)"
        ) from error
    return ray


def _check_reachable(address: str) -> None:
    """Refuse, in one line, a ``host:port`` (or ``ray://host:port``) where nothing listens: Ray
    itself would retry for minutes. ``auto`` and other forms are left to Ray.

    Raises:
        SpecError: a malformed port, or no answer within a few seconds.
    """
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon:
        return
    if not port.isdigit() or not host:
        raise SpecError(f"--ray-address must be HOST:PORT or ray://HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_SECONDS):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise SpecError(
            f"--ray-address {address}: no Ray cluster answers there ({reason}); start one with "
            "'ray start --head', or leave --ray-address out to start a local Ray"
        ) from None


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
    ``address`` is given, else ``local``. A Ray executor starts (or joins) Ray when it first runs
    a unit, so a cached study starts none; what can be checked now is checked now.

    Raises:
        SpecError: an unknown name, an address given to the local executor, Ray not installed,
            or no cluster answering at ``address``.
    """
    name = name or ("ray" if address is not None else "local")
    if name == "local":
        if address is not None:
            raise SpecError("--ray-address needs --executor ray")
        return LocalExecutor()
    if name == "ray":
        _import_ray()
        if address is not None:
            _check_reachable(address)
        return RayExecutor(address=address)
    raise SpecError(f"--executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
