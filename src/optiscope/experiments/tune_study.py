"""A tuning study: which optimizer is better here, with equal budgets, and how sure we are.

config (``TuneConfig``) -> run (units: each optimizer's default spec, then its trial batches in
rounds, then its winner on held-out seeds and a learning-rate sweep) -> store (``trials``,
``best``, ``evaluations``, ``sensitivity``, ``profile`` and ``tuned_paths`` tables; the
findings) -> render (:mod:`optiscope.experiments.tune_render`).

Equal budgets: every optimizer gets ``trials`` trials, each run from the same ``seeds`` seeds
(start point and noise stream) for ``steps`` optimizer steps; the default spec is run from the
same seeds too, outside the budget, and stays a candidate. The winner of each optimizer (the
lowest mean objective over the tuning seeds) and its default are re-run on ``heldout`` further
seeds, which the search never saw; the table reports that mean with a bootstrap interval, the
success rate with a Wilson interval and the spread, and which optimizers cannot be told apart.

Units go through the executor in rounds (round ``k`` holds batch ``k`` of every optimizer on
every surface, which are independent); each is stored as it finishes, so a killed study resumes
without redoing one, on either executor.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from optiscope.errors import SpecError
from optiscope.experiments.execute import Execution, execute
from optiscope.experiments.paths_study import tolerance_reference
from optiscope.experiments.protocol import ProgressCallback, RunContext, StudyKind, Style
from optiscope.experiments.tune_render import render_tune
from optiscope.experiments.tune_tables import TuneTables, write_tables
from optiscope.optimizers import parse_spec
from optiscope.paths import EngineOptions
from optiscope.store import RunDir
from optiscope.surfaces import get as get_surface
from optiscope.tuning import (
    BatchTask,
    ConfigsTask,
    Problem,
    RangeOverride,
    SearchSpace,
    batch_seed,
    current_executor,
    executor_scope,
    make_executor,
    run_task,
    search_space,
    seed_starts,
    suite_surfaces,
)
from optiscope.tuning.nets import NET_PREFIX, NetProblem, NetTarget
from optiscope.validated import validated

__all__ = ["TUNE", "TuneConfig", "TuneResult", "compute_tune", "tune"]

Arrays = dict[str, np.ndarray]


class TuneConfig(BaseModel):
    """What a tuning study computes (only what changes the numbers): frozen, the cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str = Field(
        description="a surface spec ('rosenbrock'), a suite ('suite:classics'), or a net problem "
        "('net:mlp/digits/b64', set from `net`)"
    )
    net: NetTarget | None = Field(default=None, description="the network problem (a trial is a training run)")
    optimizers: tuple[str, ...] = Field(
        min_length=1, description="registry names; a spec's given hyperparameters stay fixed"
    )
    trials: int = Field(default=30, ge=1, le=100_000, description="trials per optimizer (and surface)")
    seeds: int = Field(default=5, ge=1, le=10_000, description="tuning seeds each trial runs from")
    heldout: int = Field(default=10, ge=10, le=10_000, description="held-out seeds the winners re-run from")
    steps: int = Field(default=200, gt=0, le=1_000_000, description="optimizer steps per run")
    objective: Literal["final", "target", "auc"] = "final"
    tolerance: float = Field(default=1e-3, gt=0, description="the gap to the minimum that counts as success")
    batch: int = Field(default=10, ge=1, le=100_000, description="trials asked of TPE at once")
    seed: int = Field(default=0, ge=0, description="seeds the sampler, the start points and the noise")
    grad_noise: float = Field(default=0.0, ge=0, description="std of Gaussian noise added to gradients")
    start_spread: float = Field(
        default=0.1, ge=0, le=1, description="seeds start within this fraction of the domain around its start"
    )
    space: dict[str, dict[str, RangeOverride]] = Field(
        default_factory=dict, description="per optimizer, dimension key -> (low, high[, 'log']) or a value"
    )
    sensitivity: int = Field(default=25, ge=0, le=1000, description="learning rates in the sensitivity sweep")
    keep_paths: int = Field(default=3, ge=0, le=100, description="held-out seeds whose paths are drawn")
    dtype: Literal["float32", "float64"] = "float64"
    baselines: dict[str, str] = Field(
        default_factory=dict,
        description="per optimizer, a spec run as its baseline candidate (e.g. a seed's setting), "
        "beside the entry's defaults",
    )

    @model_serializer(mode="wrap")
    def _spec(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields = handler(self)
        for key in ("net", "baselines"):  # studies that predate them keep their cache keys
            if not fields.get(key):
                fields.pop(key, None)
        return fields

    @model_validator(mode="before")
    @classmethod
    def _net_target(cls, fields: Any) -> Any:
        if isinstance(fields, dict) and fields.get("net") is not None:
            net = fields["net"]
            net = net if isinstance(net, NetTarget) else NetTarget.build(**net)
            fields = {**fields, "net": net, "target": net.name}
        return fields

    @field_validator("optimizers")
    @classmethod
    def _canonical(cls, specs: tuple[str, ...]) -> tuple[str, ...]:
        canonical = tuple(parse_spec(spec).to_string() for spec in specs)
        names = [parse_spec(spec).name for spec in canonical]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"optimizer given twice: {', '.join(repeated)} (one spec per optimizer)")
        return canonical

    @model_validator(mode="after")
    def _known_target(self) -> TuneConfig:
        if self.net is not None:  # the target is the net's own name (a user's model is not parsed)
            return self
        for name in suite_surfaces(self.target):
            NetTarget.parse(name) if name.startswith(NET_PREFIX) else get_surface(name)
        return self

    @model_validator(mode="after")
    def _spaces(self) -> TuneConfig:
        names = {parse_spec(spec).name for spec in self.optimizers}
        unknown = sorted(set(self.space) - names)
        if unknown:
            raise ValueError(f"space names optimizers not tuned here: {', '.join(unknown)}")
        spaces = {parse_spec(spec).name: search_space(spec, self.space.get(parse_spec(spec).name))
                  for spec in self.optimizers}  # fmt: skip
        unknown = sorted(set(self.baselines) - set(spaces))
        if unknown:
            raise ValueError(f"baselines name optimizers not tuned here: {', '.join(unknown)}")
        for name, spec in self.baselines.items():
            spaces[name].values_of(spec)
        return self

    @classmethod
    def build(cls, **fields: Any) -> TuneConfig:
        """Validate ``fields`` into a study (one :class:`SpecError` line on a bad value)."""
        return validated(cls, fields)


@dataclass(frozen=True)
class _Plan:
    """What every unit of a study shares, derived once from its config."""

    config: TuneConfig
    surfaces: tuple[str, ...]
    problems: tuple[Problem | NetProblem, ...]
    references: tuple[str, ...]
    spaces: tuple[SearchSpace, ...]

    @classmethod
    def of(cls, config: TuneConfig) -> _Plan:
        spaces = tuple(
            search_space(spec, config.space.get(parse_spec(spec).name)) for spec in config.optimizers
        )
        surfaces = (config.target,) if config.net is not None else suite_surfaces(config.target)
        options = EngineOptions(
            steps=config.steps, grad_noise=config.grad_noise, seed=config.seed, dtype=config.dtype
        )
        problems: list[Problem | NetProblem] = []
        references = []
        for name in surfaces:
            if name.startswith(NET_PREFIX):
                net = config.net if config.net is not None else NetTarget.parse(name)
                problems.append(NetProblem(net, config.steps, config.seed, config.objective, config.tolerance,
                                           config.seeds + config.heldout))  # fmt: skip
                references.append(f"0 (the {net.metric.replace('_', ' ')} is the gap)")
                continue
            surface = get_surface(name)
            minimum, reference = tolerance_reference(surface)
            if minimum is None:
                raise SpecError(f"surface {name!r} has no finite value to measure a gap from")
            starts = seed_starts(
                surface, range(config.seeds + config.heldout), config.start_spread, config.seed
            )
            problems.append(Problem(name, minimum, starts, options, config.objective, config.tolerance))
            references.append(reference)
        return cls(config, surfaces, tuple(problems), tuple(references), spaces)

    def defaults(self, optimizer: int) -> tuple[dict[str, float], ...]:
        """The candidates outside the budget: the optimizer's baseline spec where the study gives
        one, then the entry's own defaults (always evaluated)."""
        space = self.spaces[optimizer]
        given = self.config.baselines.get(space.optimizer)
        return (
            (space.default_values(),) if given is None else (space.values_of(given), space.default_values())
        )

    @property
    def tuning_ids(self) -> tuple[int, ...]:
        return tuple(range(self.config.seeds))

    @property
    def heldout_ids(self) -> tuple[int, ...]:
        return tuple(range(self.config.seeds, self.config.seeds + self.config.heldout))

    @property
    def batches(self) -> list[range]:
        size, total = self.config.batch, self.config.trials
        return [range(lo, min(lo + size, total)) for lo in range(0, total, size)]

    def pairs(self) -> list[tuple[int, int]]:
        """Every (surface, optimizer) index pair, surface-major."""
        return [(p, o) for p in range(len(self.problems)) for o in range(len(self.spaces))]


def _unit_id(problem: int, optimizer: int, what: str) -> str:
    return f"s{problem:02d}-o{optimizer:02d}-{what}"


class _Rounds:
    """Runs rounds of independent units on the executor, storing each as it finishes and reading
    back the ones a killed run already stored."""

    def __init__(self, run_dir: RunDir, ctx: RunContext, total: int) -> None:
        self.run_dir, self.ctx, self.total = run_dir, ctx, total
        self.results: dict[str, Arrays] = {}

    def run(self, tasks: Mapping[str, BatchTask | ConfigsTask]) -> None:
        pending = {}
        for unit_id, task in tasks.items():
            if self.run_dir.has_unit(unit_id):
                self.results[unit_id], _ = self.run_dir.reuse_unit(unit_id)
                self.ctx.report(len(self.results), self.total)
            else:
                pending[unit_id] = task
        ids = list(pending)
        for index, arrays in current_executor().run(run_task, [pending[unit_id] for unit_id in ids]):
            self.run_dir.save_unit(ids[index], arrays, {"kind": type(pending[ids[index]]).__name__})
            self.results[ids[index]] = arrays
            self.ctx.report(len(self.results), self.total)


def _history(
    rounds: _Rounds, plan: _Plan, pair: tuple[int, int], upto: int
) -> tuple[tuple[dict, float], ...]:
    """``(values, objective)`` of the trials of ``pair`` in the batches before ``upto``."""
    keys = plan.spaces[pair[1]].keys
    found = []
    for number in range(upto):
        arrays = rounds.results[_unit_id(*pair, f"batch{number:04d}")]
        objectives = arrays["objective"].mean(axis=1)
        for row, objective in zip(arrays["values"], objectives, strict=True):
            found.append((dict(zip(keys, (float(v) for v in row), strict=True)), float(objective)))
    return tuple(found)


def _winner(rounds: _Rounds, plan: _Plan, pair: tuple[int, int]) -> tuple[int, dict[str, float]]:
    """The best candidate over the tuning seeds: ``(trial, values)``, trial -1 for the default
    (or baseline; listed first, so it wins a tie), -2 for the entry's defaults beside a baseline."""
    defaults = rounds.results[_unit_id(*pair, "default")]["objective"].mean(axis=1)
    candidates = [
        (-1 - index, values, float(objective))
        for index, (values, objective) in enumerate(zip(plan.defaults(pair[1]), defaults, strict=True))
    ]
    for trial, (values, objective) in enumerate(_history(rounds, plan, pair, len(plan.batches))):
        candidates.append((trial, values, objective))
    best = min(candidates, key=lambda candidate: candidate[2] if np.isfinite(candidate[2]) else np.inf)
    return best[0], best[1]


def _sweep(space: SearchSpace, values: dict[str, float], count: int) -> tuple[dict[str, float], ...]:
    """``values`` with the learning rate moved over its range (``count`` points), if it is searched."""
    dimension = space.dimension("lr")
    if dimension is None or count == 0:
        return ()
    return tuple({**values, "lr": lr} for lr in dimension.grid(count))


def compute_tune(config: TuneConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    """Run the study unit by unit (see the module) and store its tables and findings."""
    plan = _Plan.of(config)
    pairs = plan.pairs()
    total = len(pairs) * (len(plan.batches) + 2 + (config.sensitivity > 0))
    rounds = _Rounds(run_dir, ctx, total)
    began = time.perf_counter()
    defaults = {
        _unit_id(*pair, "default"): ConfigsTask(
            plan.problems[pair[0]], plan.spaces[pair[1]], plan.defaults(pair[1]), plan.tuning_ids
        )
        for pair in pairs
    }
    rounds.run(defaults)
    for number, trials in enumerate(plan.batches):
        rounds.run({
            _unit_id(*pair, f"batch{number:04d}"): BatchTask(
                problem=plan.problems[pair[0]],
                space=plan.spaces[pair[1]],
                history=_history(rounds, plan, pair, number),
                count=len(trials),
                first_trial=trials.start,
                seed=batch_seed(config.seed, plan.surfaces[pair[0]], plan.spaces[pair[1]].optimizer, number),
                seed_ids=plan.tuning_ids,
            )
            for pair in pairs
        })  # fmt: skip
    winners = {pair: _winner(rounds, plan, pair) for pair in pairs}
    final: dict[str, BatchTask | ConfigsTask] = {}
    for pair, (_, values) in winners.items():
        problem, space = plan.problems[pair[0]], plan.spaces[pair[1]]
        final[_unit_id(*pair, "heldout")] = ConfigsTask(
            problem, space, (values, *plan.defaults(pair[1])), plan.heldout_ids, keep_paths=config.keep_paths
        )
        sweep = _sweep(space, values, config.sensitivity)
        if sweep:
            final[_unit_id(*pair, "sensitivity")] = ConfigsTask(problem, space, sweep, plan.heldout_ids)
    rounds.run(final)
    run_dir.record_timing("compute", time.perf_counter() - began)
    tables = TuneTables(config, plan.surfaces, plan.problems, plan.references, plan.spaces, plan.batches)
    return write_tables(run_dir, tables, rounds.results, winners, _unit_id)


TUNE: StudyKind[TuneConfig] = StudyKind(
    name="tune",
    config=TuneConfig,
    run=compute_tune,
    render=render_tune,
    seeds=lambda config: {"sampler": config.seed, "starts": config.seed, "noise": config.seed},
)


@dataclass
class TuneResult:
    """A finished tuning study: its two main tables, where it is stored, what this call did."""

    trials: pd.DataFrame
    best: pd.DataFrame
    run_dir: RunDir
    execution: Execution


def tune(
    target: str,
    optimizers: list[str] | tuple[str, ...],
    *,
    out: str | Path,
    executor: str | None = None,
    ray_address: str | None = None,
    style: Mapping[str, Any] | Style | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    **fields: Any,
) -> TuneResult:
    """Tune ``optimizers`` on ``target`` with equal budgets, and rank them with intervals.

    Args:
        target: a surface spec or ``suite:NAME``.
        optimizers: registry names (or specs whose hyperparameters stay fixed).
        out: the run directory (a finished study there is a cache hit; a killed one resumes).
        executor: ``local`` (default) or ``ray``; ``ray_address`` joins a running cluster.
        style, force, progress: as for every study (:func:`optiscope.experiments.execute.execute`).
        **fields: further :class:`TuneConfig` fields (``trials``, ``seeds``, ``steps``,
            ``objective``, ``batch``, ``space``, ...).

    Returns:
        ``trials`` (one row per trial) and ``best`` (one row per optimizer and surface).
    """
    config = TuneConfig.build(target=target, optimizers=tuple(optimizers), **fields)
    with executor_scope(make_executor(executor, ray_address)):
        execution = execute(TUNE, config, out, style=style, force=force, progress=progress)
    run_dir = execution.run_dir
    return TuneResult(run_dir.read_table("trials"), run_dir.read_table("best"), run_dir, execution)
