"""A tuning study's work units: pure functions of their task, picklable, free of global state.

Two kinds of unit, each run by :func:`run_task` wherever an executor sends it:

* :class:`BatchTask`: draw the next batch of trials of one optimizer on one problem with TPE
  (given the trials finished before it) and run the whole batch from the tuning seeds in one
  engine call;
* :class:`ConfigsTask`: run given configurations from given seeds (the default spec, the winner
  on held-out seeds, a learning-rate sweep), optionally keeping their full paths.

A unit returns arrays only; the study stores them (one unit file each), which is what lets a
killed study resume, on either executor, without redoing a finished unit.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope.paths import EngineOptions
from optiscope.surfaces import get as get_surface
from optiscope.tuning.evaluate import Scored, run_configs
from optiscope.tuning.nets import NetProblem
from optiscope.tuning.objectives import Objective
from optiscope.tuning.sampler import ask_batch
from optiscope.tuning.space import SearchSpace

__all__ = ["BatchTask", "ConfigsTask", "Problem", "run_task"]

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Problem:
    """One surface and how runs on it are scored.

    Attributes:
        surface: the surface spec (rebuilt by name wherever the unit runs).
        minimum: the loss the gap is measured from (the known minimum, or the best grid value).
        starts: ``(seeds, 2)`` start point of every seed id of the study (tuning, then held out).
        options: engine options (the step budget, gradient noise, precision).
        objective: what a run is scored by.
        tolerance: the gap that counts as reaching the target.
    """

    surface: str
    minimum: float
    starts: np.ndarray
    options: EngineOptions
    objective: Objective
    tolerance: float

    def run(self, optimizer: str, configs: Sequence[Mapping[str, Any]], seed_ids: Sequence[int]) -> Scored:
        """Every configuration from every seed in ``seed_ids``, in one engine call where possible."""
        return run_configs(
            get_surface(self.surface),
            optimizer,
            configs,
            self.starts[np.asarray(seed_ids, dtype=np.int64)],
            self.options,
            seed_ids=seed_ids,
            total_seeds=len(self.starts),
            objective=self.objective,
            minimum=self.minimum,
            tolerance=self.tolerance,
        )


@dataclass(frozen=True)
class ConfigsTask:
    """Run ``configs`` of ``space.optimizer`` from ``seed_ids``; keep the full paths of the first
    ``keep_paths`` seeds."""

    problem: Problem | NetProblem
    space: SearchSpace
    configs: tuple[dict[str, float], ...]
    seed_ids: tuple[int, ...]
    keep_paths: int = 0


@dataclass(frozen=True)
class BatchTask:
    """Draw ``count`` trials (numbered from ``first_trial``) after ``history`` and run them.

    Attributes:
        history: ``(values, objective)`` of every earlier trial of this optimizer and problem.
        seed: the batch's TPE seed.
    """

    problem: Problem | NetProblem
    space: SearchSpace
    history: tuple[tuple[dict[str, float], float], ...]
    count: int
    first_trial: int
    seed: int
    seed_ids: tuple[int, ...]


def _outcomes(scored: Scored, configs: int, seconds: float) -> Arrays:
    shape = (configs, -1)
    return {
        "objective": scored.objective.reshape(shape),
        "final_gap": scored.gaps[:, -1].reshape(shape),
        "reached": scored.reached.reshape(shape),
        "status": np.asarray(scored.block["status"]).reshape(shape),
        "n_steps": np.asarray(scored.block["n_steps"]).reshape(shape),
        "seconds": np.asarray(seconds),
        "rowwise": np.asarray(scored.rowwise),
    }


def _run_configs(task: ConfigsTask) -> Arrays:
    began = time.perf_counter()
    hparams = [task.space.hparams(values) for values in task.configs]
    scored = task.problem.run(task.space.optimizer, hparams, task.seed_ids)
    arrays = _outcomes(scored, len(hparams), time.perf_counter() - began)
    if "points" not in scored.block:  # a net problem: no path in the plane to keep
        return arrays
    keep = min(task.keep_paths, len(task.seed_ids))
    seeds = len(task.seed_ids)
    rows = (np.arange(len(hparams))[:, None] * seeds + np.arange(keep)[None, :]).reshape(-1)
    steps = scored.block["points"].shape[1]
    arrays["points"] = scored.block["points"][rows].reshape(len(hparams), keep, steps, 2)
    arrays["losses"] = scored.block["losses"][rows].reshape(len(hparams), keep, steps)
    return arrays


def _run_batch(task: BatchTask) -> Arrays:
    began = time.perf_counter()
    drawn = ask_batch(task.space, task.history, task.count, task.seed)
    sampled = time.perf_counter()
    hparams = [task.space.hparams(values) for values in drawn]
    scored = task.problem.run(task.space.optimizer, hparams, task.seed_ids)
    arrays = _outcomes(scored, len(hparams), time.perf_counter() - sampled)
    arrays["values"] = np.asarray(
        [[values[key] for key in task.space.keys] for values in drawn], dtype=np.float64
    ).reshape(len(drawn), len(task.space.keys))
    arrays["sampling_seconds"] = np.asarray(sampled - began)
    return arrays


def run_task(task: BatchTask | ConfigsTask) -> Arrays:
    """Run one unit (the function an executor ships; it reads and writes no file)."""
    if isinstance(task, BatchTask):
        return _run_batch(task)
    return _run_configs(task)
