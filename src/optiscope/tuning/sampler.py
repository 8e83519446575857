"""The sampler: optuna's TPE, asked for a whole batch of trials at a time.

Each batch is drawn by a study rebuilt from the trials finished before it and a TPE sampler seeded
for that batch alone, so batch ``k`` is a pure function of (the earlier trials, its seed): a
study resumed after a kill, or run on another machine, asks for exactly what an uninterrupted one
asked for. Within a batch, optuna's *constant liar* treats the trials already asked as if they had
scored badly, which spreads the batch out instead of sampling one spot many times.

optuna is an optional extra (``pip install 'optiscope[tune]'``); it is imported when a batch is
drawn, and the error says which install fixes a missing one.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from typing import Any

from optiscope.errors import SpecError
from optiscope.tuning.space import SearchSpace

__all__ = ["STARTUP_TRIALS", "ask_batch", "batch_seed", "import_optuna"]

STARTUP_TRIALS = 10
"""Trials TPE draws at random (uniformly over the space) before it models the results."""


def import_optuna() -> Any:
    """The optuna module, or a :class:`SpecError` naming the install that provides it."""
    try:
        import optuna
    except ImportError as error:
        raise SpecError(
            "tuning needs optuna: pip install 'optiscope[tune]' (or pip install optuna)"
        ) from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial on stderr
    return optuna


def batch_seed(seed: int, *parts: object) -> int:
    """A stable 31-bit seed for one batch, from the study seed and what names the batch."""
    text = ":".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def _distributions(optuna: Any, space: SearchSpace) -> dict[str, Any]:
    return {d.key: optuna.distributions.FloatDistribution(d.low, d.high, log=d.log) for d in space.dimensions}


def ask_batch(
    space: SearchSpace,
    history: Sequence[tuple[dict[str, float], float]],
    count: int,
    seed: int,
) -> list[dict[str, float]]:
    """Draw ``count`` trials of ``space`` with TPE, given the finished ``history``.

    Args:
        space: the search space.
        history: ``(values, objective)`` of every finished trial, in trial order.
        count: trials to draw.
        seed: the batch's sampler seed (:func:`batch_seed`).

    Returns:
        The sampled values of each trial, by dimension key.
    """
    if not space.dimensions:
        return [{} for _ in range(count)]
    optuna = import_optuna()
    distributions = _distributions(optuna, space)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=STARTUP_TRIALS, multivariate=True, constant_liar=True
        )
        study = optuna.create_study(direction="minimize", sampler=sampler)
        study.add_trials(
            [
                optuna.trial.create_trial(
                    params=dict(values),
                    distributions=distributions,
                    value=objective if math.isfinite(objective) else None,
                    state=optuna.trial.TrialState.COMPLETE
                    if math.isfinite(objective)
                    else optuna.trial.TrialState.FAIL,
                )
                for values, objective in history
            ]
        )
        return [dict(study.ask(distributions).params) for _ in range(count)]
