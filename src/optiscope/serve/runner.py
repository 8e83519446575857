"""Admission and scheduling of the playground's runs.

The engine seeds the process-wide random streams (torch, NumPy, ``random``) at the start of every
block, as the CLI does, so two runs computing at once in one process could change each other's
stochastic optimizers. Runs therefore compute one at a time, first come first served, on one
engine thread per app (the event loop keeps serving the page and the listings meanwhile), under
a process-wide lock (for the rare process that holds several apps, such as a test session).

At most ``max_runs`` requests are admitted at once, computing or queued; more are answered 429.
A queued request that waited longer than ``queue_timeout_s`` for its turn is answered 503 without
computing.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from optiscope.serve.compute import Watch
from optiscope.serve.limits import ServeLimits, ServerBusy

__all__ = ["ENGINE_LOCK", "EngineRunner"]

T = TypeVar("T")
ENGINE_LOCK = threading.Lock()
"""Held while a run computes: the random streams it guards are process-wide."""
_END = object()


class EngineRunner:
    """Runs jobs on the engine: admitted up to ``limits.max_runs``, computed one at a time in order."""

    def __init__(self, limits: ServeLimits) -> None:
        self.limits = limits
        self._admitted = 0
        self._count_lock = threading.Lock()
        self._engine_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="optiscope-engine")

    @property
    def admitted(self) -> int:
        """Requests computing or queued right now."""
        return self._admitted

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Count one request in while the context is open.

        Raises:
            ServerBusy: ``max_runs`` requests are in already (status 429).
        """
        with self._count_lock:
            if self._admitted >= self.limits.max_runs:
                raise ServerBusy(
                    f"{self._admitted} runs are computing or queued (max_runs = {self.limits.max_runs}); "
                    "try again shortly",
                    status=429,
                )
            self._admitted += 1
        try:
            yield
        finally:
            with self._count_lock:
                self._admitted -= 1

    def _on_engine(self, job: Callable[[Watch], T], cancelled: threading.Event | None = None) -> Future[T]:
        """Submitted now, this runs ``job`` on the engine thread in its turn (or refuses a late one)."""
        queued = time.monotonic()

        def turn() -> T:
            remaining = self.limits.queue_timeout_s - (time.monotonic() - queued)
            if remaining <= 0 or not ENGINE_LOCK.acquire(timeout=remaining):
                raise ServerBusy(
                    f"waited {self.limits.queue_timeout_s:g} s for the engine; the server is busy, try again",
                    status=503,
                )
            try:
                return job(Watch(self.limits.time_limit_s, cancelled))
            finally:
                ENGINE_LOCK.release()

        return self._engine_thread.submit(turn)

    async def run(self, job: Callable[[Watch], T]) -> T:
        """``job(watch)`` on the engine thread, once admitted and in its turn.

        Raises:
            ServerBusy: too many runs admitted, or the queue was too long.
            TimeLimitExceeded: the job computed past the time limit.
        """
        with self.admit():
            return await asyncio.wrap_future(self._on_engine(job))

    def stream(self, job: Callable[[Watch], Iterator[T]]) -> AsyncIterator[T | BaseException]:
        """The items ``job(watch)`` yields on the engine thread, as they come.

        Admission is decided now, so a refused stream is a plain 429 before any event; the
        iterator must then be consumed (a streaming response always is), which frees the slot.
        An exception the job raises is yielded as the last item rather than raised, so the stream
        can end with an error event. When the reader stops early (it went away), the job is
        cancelled at its next surface evaluation.

        Raises:
            ServerBusy: too many runs admitted.
        """
        admission = self.admit()
        admission.__enter__()
        return self._events(job, admission)

    async def _events(
        self, job: Callable[[Watch], Iterator[T]], admission: AbstractContextManager[None]
    ) -> AsyncIterator[T | BaseException]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        gone = threading.Event()

        def put(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work(watch: Watch) -> None:
            for item in job(watch):
                put(item)

        future = self._on_engine(work, gone)

        def finished(done: Future[None]) -> None:
            error = done.exception()
            if error is not None:
                put(error)
            put(_END)

        future.add_done_callback(finished)
        try:
            while (item := await queue.get()) is not _END:
                yield item
        finally:
            gone.set()
            try:
                with contextlib.suppress(Exception):  # an error was handed to the reader as an event
                    await asyncio.wrap_future(future)
            finally:
                admission.__exit__(None, None, None)
