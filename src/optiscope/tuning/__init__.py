"""Fair optimizer comparison: search spaces, TPE in batches, objectives, statistics, executors.

Every optimizer gets the same number of trials and the same step budget; on 2-D surfaces a
batch of trials runs as one lane of the path engine with a hyperparameter column per row
(:mod:`optiscope.tuning.rowwise`). The study that stores and draws it is
:mod:`optiscope.experiments.tune_study`; ``optiscope.tune(...)`` runs one.
"""

from __future__ import annotations

from optiscope.tuning.evaluate import Scored, run_configs, seed_starts
from optiscope.tuning.executors import (
    EXECUTORS,
    Executor,
    LocalExecutor,
    RayExecutor,
    current_executor,
    executor_scope,
    make_executor,
)
from optiscope.tuning.objectives import OBJECTIVES, Objective, gap_curves, reached_steps, score
from optiscope.tuning.rowwise import ROWWISE, RowwiseOptimizer, rowwise_builder
from optiscope.tuning.sampler import STARTUP_TRIALS, ask_batch, batch_seed, import_optuna
from optiscope.tuning.space import (
    RANGES,
    Dimension,
    RangeOverride,
    Rule,
    SearchSpace,
    parse_override,
    search_space,
)
from optiscope.tuning.statistics import (
    Spread,
    bootstrap_mean_ci,
    performance_profile,
    performance_ratios,
    spread,
    tie_groups,
    wilson_interval,
)
from optiscope.tuning.suites import SUITE_PREFIX, SUITES, suite_surfaces
from optiscope.tuning.tasks import BatchTask, ConfigsTask, Problem, run_task

__all__ = [
    "EXECUTORS",
    "OBJECTIVES",
    "RANGES",
    "ROWWISE",
    "STARTUP_TRIALS",
    "SUITES",
    "SUITE_PREFIX",
    "BatchTask",
    "ConfigsTask",
    "Dimension",
    "Executor",
    "LocalExecutor",
    "Objective",
    "Problem",
    "RangeOverride",
    "RayExecutor",
    "RowwiseOptimizer",
    "Rule",
    "Scored",
    "SearchSpace",
    "Spread",
    "ask_batch",
    "batch_seed",
    "bootstrap_mean_ci",
    "current_executor",
    "executor_scope",
    "gap_curves",
    "import_optuna",
    "make_executor",
    "parse_override",
    "performance_profile",
    "performance_ratios",
    "reached_steps",
    "rowwise_builder",
    "run_configs",
    "run_task",
    "score",
    "search_space",
    "seed_starts",
    "spread",
    "suite_surfaces",
    "tie_groups",
    "wilson_interval",
]
