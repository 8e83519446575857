"""The playground's answers, computed by the library: paths, basins, traces, surface grids.

Every function here is plain synchronous code, run in a worker thread by
:mod:`optiscope.serve.runner`. Paths come from :func:`optiscope.paths.run` (or, when streamed,
from the same :func:`optiscope.paths.run_block` calls it makes, config by config), so the page
shows exactly what ``optiscope paths`` and the Python API compute for the same inputs.

A :class:`Watch` stops a run at its time limit, or when the page that asked went away: it wraps
the surface so that every evaluation (one per step and lane) first checks the clock. The values
the surface returns are untouched.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optiscope.errors import OptiscopeError
from optiscope.optimizers import build_optimizer, check_compatible, get_entry
from optiscope.paths import PathSet, StateTrace, assemble, basin_maps, run, run_block, trace_state
from optiscope.serve.limits import TimeLimitExceeded
from optiscope.serve.requests import PathsJob, TraceJob, checked_optimizer
from optiscope.surfaces import Surface

__all__ = [
    "RunCancelled",
    "Watch",
    "basins_payload",
    "check_payload",
    "json_numbers",
    "paths_payload",
    "run_record",
    "stream_paths",
    "surface_payload",
    "trace_payload",
]


class RunCancelled(OptiscopeError):
    """The reader of a streamed run went away; the run stops at its next step."""


class Watch:
    """A run's deadline and cancel flag, checked at every surface evaluation."""

    def __init__(self, limit_s: float, cancelled: threading.Event | None = None) -> None:
        self.limit_s = limit_s
        self.started = time.monotonic()
        self.cancelled = cancelled if cancelled is not None else threading.Event()

    def check(self) -> None:
        """Raise when the run must stop.

        Raises:
            RunCancelled: :attr:`cancelled` is set.
            TimeLimitExceeded: the run has computed for longer than :attr:`limit_s`.
        """
        if self.cancelled.is_set():
            raise RunCancelled("the reader went away")
        elapsed = time.monotonic() - self.started
        if elapsed > self.limit_s:
            raise TimeLimitExceeded(
                f"the run was stopped at the time limit of {self.limit_s:g} s; ask for fewer steps, "
                "starts or optimizers (element-wise optimizers such as sgd or adam move every start "
                "at once; others run one start at a time), or run it with the optiscope CLI"
            )

    def surface(self, surface: Surface) -> Surface:
        """``surface`` with the same values, checking this watch before each evaluation."""
        function = surface.function

        def watched(points: Tensor) -> Tensor:
            self.check()
            return function(points)

        return surface.with_options(function=watched)


def json_numbers(values: np.ndarray) -> list[Any]:
    """``values`` as nested lists of floats, with NaN and infinities as ``None`` (JSON has neither)."""
    array = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(array), array, None).tolist()


def _json_value(value: Any) -> Any:
    """A number, bool or tuple of numbers as JSON: tuples as lists, infinities and NaN as ``None``
    (D-Adaptation's ``growth_rate`` defaults to infinity)."""
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_record(paths: PathSet, run_index: int, *, number: int | None = None) -> dict[str, Any]:
    """One run of ``paths`` as the API's JSON: its recorded steps only (none after it stopped).

    Args:
        paths: the engine's result.
        run_index: the run within ``paths``.
        number: the run's index in the whole answer, when ``paths`` is one config of several.
    """
    config, last = paths.config_of(run_index), int(paths.n_steps[run_index])
    return {
        "run": run_index if number is None else number,
        "optimizer": paths.optimizers[config],
        "spec": paths.specs[config],
        "label": paths.labels[config],
        "start": paths.starts[paths.start_of(run_index)].tolist(),
        "points": json_numbers(paths.points[run_index, : last + 1]),
        "losses": json_numbers(paths.losses[run_index, : last + 1]),
        "status": paths.status[run_index],
        "rule": None if paths.rules is None else paths.rules[run_index],
        "steps": last,
    }


def _engine_options(job: PathsJob) -> dict[str, Any]:
    options = asdict(job.options)
    options.pop("steps")
    return options


def paths_payload(job: PathsJob, watch: Watch) -> dict[str, Any]:
    """``POST /api/paths``: every run, from :func:`optiscope.paths.run`."""
    paths = run(watch.surface(job.surface), job.specs, job.starts, job.options.steps, **_engine_options(job))
    return {
        "surface": job.surface.describe(),
        "steps": job.options.steps,
        "runs": [run_record(paths, index) for index in range(paths.n_runs)],
    }


def stream_paths(job: PathsJob, watch: Watch, batch_steps: int = 50) -> Iterator[tuple[str, dict[str, Any]]]:
    """``POST /api/paths/stream``: the same runs as :func:`paths_payload`, as events.

    The configs are run one after another with the arguments :func:`optiscope.paths.run` gives
    each (run ids and noise streams included), so the results are the same. Each run's steps are
    sent while it computes, every ``batch_steps`` steps (the engine reports each step to a
    worker thread's observer), so the page draws the paths growing even for one long run; the
    rest follow when the config is done, then the run's record.

    Yields:
        ``(event, data)``: ``meta`` once, then per run ``steps`` batches (``run``, ``first``,
        ``points``, ``losses``; together each step of the run exactly once, in order) and a
        ``run`` event (the run without its points), then ``done``.
    """
    surface, n = watch.surface(job.surface), len(job.starts)
    yield "meta", {
        "surface": job.surface.describe(),
        "steps": job.options.steps,
        "runs": [
            {"run": index * n + row, "spec": spec.to_string(), "label": spec.label, "optimizer": spec.name,
             "start": job.starts[row].tolist()}
            for index, spec in enumerate(job.specs)
            for row in range(n)
        ],
    }  # fmt: skip
    for index, spec in enumerate(job.specs):
        yield from _config_events(job, surface, spec, index, batch_steps)
    yield "done", {"elapsed_s": round(time.monotonic() - watch.started, 3)}


def _config_events(
    job: PathsJob, surface: Surface, spec: Any, index: int, batch_steps: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One config's events: steps while the engine computes it (on a worker thread that reports
    every step), the remaining steps once it is done, then each run's record."""
    n = len(job.starts)
    sent = np.full(n, -1)  # the last step of each run already sent
    events: queue.Queue[Any] = queue.Queue()

    def observe(step: int, points: Tensor, losses: Tensor, n_steps: Tensor) -> None:
        if (step + 1) % batch_steps:
            return
        start = int(sent.min()) + 1  # copy only the steps some run has not sent yet
        new_points, new_losses = (
            points[start : step + 1].cpu().numpy(),
            losses[start : step + 1].cpu().numpy(),
        )
        for row in range(n):
            upto = min(step, int(n_steps[row]))
            if upto > sent[row]:
                first = int(sent[row]) + 1
                rows = slice(first - start, upto + 1 - start)
                events.put(_steps_event(index * n + row, first, new_points[rows, row], new_losses[rows, row]))
                sent[row] = upto

    def compute() -> None:
        try:
            block = run_block(
                surface, spec, job.starts, job.options,
                run_ids=np.arange(n) + index * n, total_runs=len(job.specs) * n, on_step=observe,
            )  # fmt: skip
            events.put(("block", block))
        except BaseException as error:  # handed to the reader's thread and raised there
            events.put(("error", error))

    worker = threading.Thread(target=compute, name="optiscope-paths-stream", daemon=True)
    worker.start()
    while True:
        event, data = events.get()
        if event == "error":
            worker.join()
            raise data
        if event == "block":
            break
        yield event, data
    worker.join()
    paths = assemble(job.surface.name, [spec], job.starts, [data], job.options)
    for row in range(n):
        record = run_record(paths, row, number=index * n + row)
        points, losses = record.pop("points"), record.pop("losses")
        for first in range(int(sent[row]) + 1, len(points), batch_steps):
            data = {
                "run": record["run"],
                "first": first,
                "points": points[first : first + batch_steps],
                "losses": losses[first : first + batch_steps],
            }
            yield "steps", data
        yield "run", record


def _steps_event(run: int, first: int, points: np.ndarray, losses: np.ndarray) -> tuple[str, dict[str, Any]]:
    """A ``steps`` event: one run's steps from ``first`` on, as copied from the engine's buffers."""
    return "steps", {
        "run": run,
        "first": first,
        "points": json_numbers(points),
        "losses": json_numbers(losses),
    }


def basins_payload(job: PathsJob, watch: Watch) -> dict[str, Any]:
    """``POST /api/basins``: the basin each start of the grid ends in, per optimizer config.

    Labels follow :func:`optiscope.paths.basin_map`: the index into ``minima`` of the minimum a
    run ended within ``radius`` of, ``-1`` for none, ``-2`` for a run that diverged. Lists are in
    the order of ``starts`` (row-major over ``(y, x)``: start ``i * len(xs) + j`` is
    ``(xs[j], ys[i])``).
    """
    assert job.grid_axes is not None, "a basin job has a start grid"
    xs, ys = job.grid_axes
    paths = run(watch.surface(job.surface), job.specs, job.starts, job.options.steps, **_engine_options(job))
    maps = basin_maps(paths, job.surface, xs, ys)
    runs = np.arange(paths.n_runs).reshape(len(job.specs), -1)
    return {
        "surface": job.surface.describe(),
        "grid": job.grid,
        "xs": xs.tolist(),
        "ys": ys.tolist(),
        "starts": job.starts.tolist(),
        "minima": maps[0].minima.tolist(),
        "radius": maps[0].radius,
        "maps": [
            {
                "optimizer": paths.optimizers[index],
                "spec": paths.specs[index],
                "label": basin.label,
                "basin": basin.basin.ravel().tolist(),
                "steps": basin.steps.ravel().tolist(),
                "status": [paths.status[number] for number in runs[index]],
                "fractions": basin.fractions(),
            }
            for index, basin in enumerate(maps)
        ],
    }


def trace_payload(job: TraceJob, watch: Watch) -> dict[str, Any]:
    """``POST /api/trace``: :func:`optiscope.paths.trace_state` for the teaching overlays."""
    trace: StateTrace = trace_state(watch.surface(job.surface), job.spec, job.start, job.steps)
    return {
        "spec": trace.spec,
        "label": trace.label,
        "hparams": {key: _json_value(value) for key, value in trace.hparams.items()},
        "positions": json_numbers(trace.positions),
        "losses": json_numbers(trace.losses),
        "gradients": json_numbers(trace.gradients),
        "updates": json_numbers(trace.updates),
        "state": {name: json_numbers(values) for name, values in trace.state.items()},
    }


def surface_payload(surface: Surface, resolution: int) -> dict[str, Any]:
    """``GET /api/surface``: the surface's metadata and its values on a grid over its domain
    (``z[i][j]`` at ``(x[j], y[i])``)."""
    xs, ys, zs = surface.grid(resolution)
    return {
        "surface": surface.describe(),
        "x": xs.tolist(),
        "y": ys.tolist(),
        "z": json_numbers(zs.numpy()),
    }


def check_payload(spec_text: str) -> dict[str, Any]:
    """``POST /api/check``: the spec parsed and the optimizer built on one 2-D point, so values
    its constructor refuses (``betas=(1.5, 0.9)``) are reported before a run.

    Raises:
        SpecError, IncompatibleOptimizerError: the spec is refused (the message says why).
    """
    spec = checked_optimizer(spec_text)
    entry = get_entry(spec.name)
    check_compatible(entry, (1, 2))
    build_optimizer(spec, [torch.nn.Parameter(torch.zeros(1, 2, dtype=torch.float64))])
    return {"spec": spec.to_string(), "label": spec.label, "optimizer": spec.name}
