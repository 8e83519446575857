"""A batch of trials as one row-wise lane equals the registry's optimizer run trial by trial (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from optiscope.paths import EngineOptions
from optiscope.surfaces import get as get_surface
from optiscope.tuning import ROWWISE, rowwise_builder, run_configs, search_space, seed_starts


def _random_configs(name: str, count: int, seed: int) -> list[dict]:
    """``count`` points drawn uniformly (log-uniformly on log dimensions) from the search space."""
    space = search_space(name)
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(count):
        values = {
            d.key: float(np.exp(rng.uniform(np.log(d.low), np.log(d.high))))
            if d.log
            else float(rng.uniform(d.low, d.high))
            for d in space.dimensions
        }
        configs.append(space.hparams(values))
    return configs


@pytest.mark.parametrize("name", sorted(ROWWISE))
def test_rowwise_lane_equals_the_registry_optimizer_per_trial_bit_for_bit(name: str) -> None:
    """Six random trials x three seeds, 120 steps with gradient noise: one row-wise lane against one
    engine block per trial with the registry's own optimizer. Rosenbrock at large learning rates is
    chaotic, so any rounding difference would grow; the paths must be equal, not close."""
    surface = get_surface("rosenbrock")
    options = EngineOptions(steps=120, grad_noise=0.3, seed=4)
    starts = seed_starts(surface, range(3), spread=0.2, seed=0)
    configs = _random_configs(name, 6, seed=len(name))
    common = {"seed_ids": [0, 1, 2], "total_seeds": 5, "objective": "auc", "minimum": 0.0, "tolerance": 1e-3}
    batched = run_configs(surface, name, configs, starts, options, rowwise=True, **common)
    reference = run_configs(surface, name, configs, starts, options, rowwise=False, **common)
    assert batched.rowwise and not reference.rowwise
    for key in ("points", "losses", "n_steps", "status"):
        np.testing.assert_array_equal(batched.block[key], reference.block[key], err_msg=f"{name}: {key}")
    np.testing.assert_array_equal(batched.objective, reference.objective)


def test_settings_without_a_rowwise_rule_run_trial_by_trial() -> None:
    assert rowwise_builder("adam", [{"lr": 0.1, "amsgrad": True}], 2) is None
    assert rowwise_builder("adam", [{"lr": 0.1}, {"lr": 0.2, "maximize": True}], 2) is None
    assert (
        rowwise_builder("rmsprop", [{"centered": True}, {"centered": False}], 2) is None
    )  # one switch per lane
    assert rowwise_builder("lamb", [{"lr": 0.1}], 2) is None
    assert rowwise_builder("adamw", [{"lr": 0.1}], 2) is not None
