"""What one request to the playground may ask for, and the errors a refused request gets.

The playground runs the real engine on the server's CPU for anyone who can reach the page, so
every request is bounded: steps, starts, optimizers, points sent back, and wall-clock time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from optiscope.errors import OptiscopeError, SpecError

__all__ = ["LimitExceeded", "ServeLimits", "ServerBusy", "TimeLimitExceeded"]


class LimitExceeded(SpecError):
    """A request asks for more than :class:`ServeLimits` allows (HTTP 422, naming the limit)."""


class TimeLimitExceeded(OptiscopeError):
    """A run went past the time limit and was stopped (HTTP 422: the request is too big)."""


class ServerBusy(OptiscopeError):
    """Too many runs are admitted or waiting already (HTTP 429 / 503: try again shortly)."""

    def __init__(self, message: str, status: int = 429) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServeLimits:
    """Per-request bounds of ``optiscope serve``.

    Attributes:
        max_steps: optimizer steps per run.
        max_starts: explicit start points of one ``/api/paths`` request.
        max_grid: points per axis of a basin map's start grid (``max_grid**2`` starts).
        max_optimizers: optimizer configs per request.
        max_points: positions one ``/api/paths`` answer may hold, ``configs * starts * (steps + 1)``
            (about 40 bytes of JSON each).
        max_trace_steps: steps of one teaching trace (``/api/trace``).
        max_resolution: points per axis of a surface grid (``/api/surface``).
        time_limit_s: wall-clock seconds one request may compute; a run past it is stopped.
        max_runs: requests that may be computing or queued for the engine at once; more are
            answered 429.
        queue_timeout_s: how long an admitted request waits for the engine before a 503.
    """

    max_steps: int = 2000
    max_starts: int = 32
    max_grid: int = 30
    max_optimizers: int = 8
    max_points: int = 200_000
    max_trace_steps: int = 500
    max_resolution: int = 200
    time_limit_s: float = 20.0
    max_runs: int = 64
    queue_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise SpecError(f"serve limit {name} must be a finite number, got {value!r}")
            if value <= 0:
                raise SpecError(f"serve limit {name} must be positive, got {value!r}")
        if self.max_grid < 2:
            raise SpecError(f"serve limit max_grid must be at least 2, got {self.max_grid}")

    def describe(self) -> dict[str, Any]:
        """The limits as JSON (``GET /api/limits``), so the page can bound its inputs."""
        return asdict(self)

    def check_count(self, what: str, count: int, limit_name: str) -> None:
        """Refuse ``count`` of ``what`` above the limit named ``limit_name``.

        Raises:
            LimitExceeded: naming the request field, the count, the limit and its name.
        """
        limit = getattr(self, limit_name)
        if count > limit:
            raise LimitExceeded(
                f"{what}: {count} is more than this server allows ({limit_name} = {limit}); "
                "run bigger studies with the optiscope CLI"
            )
