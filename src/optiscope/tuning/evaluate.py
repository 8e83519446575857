"""Run many configurations of one optimizer from the same seeds: one engine call for a whole batch.

A *seed* is a start point and a noise stream: seed ``i`` starts at ``starts[i]`` and draws the
engine's gradient noise of run id ``i``, whichever configuration runs it and whatever else is in
the call, so every configuration meets the same seeds (common random numbers) and a batch gives
the numbers its trials would give one by one. Rows are config-major: row ``c * seeds + s`` is
configuration ``c`` from seed ``s``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope.optimizers import OptimizerSpec, parse_spec
from optiscope.paths import EngineOptions, run_block
from optiscope.surfaces import Surface
from optiscope.tuning.objectives import Objective, gap_curves, reached_steps, score
from optiscope.tuning.rowwise import rowwise_builder

__all__ = ["Scored", "run_configs", "seed_starts"]


def seed_starts(surface: Surface, seed_ids: Sequence[int], spread: float, seed: int) -> np.ndarray:
    """The start point of each seed: the surface's start moved uniformly within ``spread`` times
    the domain's half-size on each axis (clipped to the domain), drawn from ``(seed, seed id)``.

    Returns:
        ``(len(seed_ids), 2)`` float64.
    """
    (x_min, x_max), (y_min, y_max) = surface.domain
    half = np.array([(x_max - x_min) / 2, (y_max - y_min) / 2])
    starts = []
    for seed_id in seed_ids:
        rng = np.random.default_rng([int(seed), int(seed_id)])
        starts.append(np.asarray(surface.start) + spread * half * rng.uniform(-1.0, 1.0, 2))
    clipped = np.clip(np.asarray(starts, dtype=np.float64).reshape(-1, 2), [x_min, y_min], [x_max, y_max])
    return clipped


@dataclass(frozen=True)
class Scored:
    """A batch's runs, scored. Every array has one entry per row (config-major).

    Attributes:
        block: the engine's arrays (``points``, ``losses``, ``n_steps``, ``status``, ...).
        gaps: ``(rows, steps + 1)`` gap curves (:func:`~optiscope.tuning.objectives.gap_curves`).
        objective: each run's score.
        reached: first step within the tolerance, -1 where never.
        rowwise: whether one row-wise lane ran the batch (else one engine block per config).
    """

    block: dict[str, np.ndarray]
    gaps: np.ndarray
    objective: np.ndarray
    reached: np.ndarray
    rowwise: bool


def run_configs(
    surface: Surface,
    optimizer: str,
    configs: Sequence[Mapping[str, Any]],
    starts: np.ndarray,
    options: EngineOptions,
    *,
    seed_ids: Sequence[int],
    total_seeds: int,
    objective: Objective,
    minimum: float,
    tolerance: float,
    rowwise: bool = True,
) -> Scored:
    """Run every configuration from every seed and score each run.

    Args:
        surface: the loss.
        optimizer: the registry name.
        configs: hyperparameters of each configuration (the entry's defaults fill the rest).
        starts: ``(seeds, 2)`` start points, one per seed.
        options: engine options (the step budget, noise, precision).
        seed_ids: each seed's id: it picks the seed's gradient noise stream.
        total_seeds: how many seed ids the study has (the noise is drawn for all of them).
        objective, minimum, tolerance: how runs are scored (see :mod:`~optiscope.tuning.objectives`).
        rowwise: use a row-wise lane where one exists (``False``: one engine block per config,
            the reference the row-wise lane is checked against).

    Raises:
        HyperparameterError: a configuration the optimizer rejects.
    """
    seeds = len(starts)
    run_ids = np.tile(np.asarray(seed_ids, dtype=np.int64), len(configs))
    build = rowwise_builder(optimizer, configs, seeds) if rowwise else None
    if build is not None:
        block = run_block(
            surface,
            OptimizerSpec(optimizer),
            np.tile(starts, (len(configs), 1)),
            options,
            run_ids=run_ids,
            total_runs=total_seeds,
            lane_optimizer=build,
        )
    else:
        parts = [
            run_block(
                surface,
                parse_spec(OptimizerSpec(optimizer, dict(config))),
                starts,
                options,
                run_ids=np.asarray(seed_ids, dtype=np.int64),
                total_runs=total_seeds,
            )
            for config in configs
        ]
        block = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    gaps = gap_curves(block["losses"], block["n_steps"], block["status"], minimum)
    return Scored(
        block=block,
        gaps=gaps,
        objective=score(objective, gaps, tolerance),
        reached=reached_steps(gaps, tolerance),
        rowwise=build is not None,
    )
