"""How a run on a surface ends, pinned at the exact steps each rule names (optiscope.paths.outcomes).

Each case is a surface whose path is known in closed form, so the expected step is derived here,
not read from the engine.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optiscope.paths import run
from optiscope.paths.outcomes import last_streak_start
from optiscope.surfaces import get as get_surface


def _one(surface: str, spec: str, start: list[float], steps: int, **options: object) -> dict:
    paths = run(get_surface(surface), [spec], [start], steps=steps, **options)
    return {
        "status": paths.status[0],
        "rule": paths.rules[0],
        "outcome_step": int(paths.outcome_steps[0]),
        "n_steps": int(paths.n_steps[0]),
        "paths": paths,
    }


def test_a_non_finite_loss_is_divergence_at_the_step_it_appears() -> None:
    # sqrt(x) + y^2 from (0.3, 1), lr 0.5: x_1 = 0.3 - 0.5 / (2 sqrt(0.3)) = -0.156 < 0, so the loss
    # at step 1 is sqrt of a negative number: NaN.
    assert 0.3 - 0.5 / (2 * math.sqrt(0.3)) < 0
    out = _one("sqrt(x) + y**2", "sgd:lr=0.5", [0.3, 1.0], steps=5)
    assert (out["status"], out["rule"], out["outcome_step"], out["n_steps"]) == (
        "diverged",
        "non_finite",
        1,
        1,
    )


def test_rolling_off_a_slope_leaves_the_domain_at_the_exact_step() -> None:
    # -x has no minimum: SGD with lr 1 moves x_k = k. The domain is [-5, 5]: x_6 = 6 is the first
    # step outside. The escape bound is 10 x the half-width around the centre, 50: x_51 passes it,
    # downhill of the start, so the run stops there as left_domain (not diverged).
    out = _one("-x", "sgd:lr=1", [0.0, 0.0], steps=200)
    assert (out["status"], out["rule"], out["outcome_step"], out["n_steps"]) == (
        "left_domain",
        "rolled_off",
        6,
        51,
    )


def test_a_run_that_ends_its_budget_outside_the_domain_left_it() -> None:
    out = _one("-x", "sgd:lr=1", [0.0, 0.0], steps=20)
    assert (out["status"], out["rule"], out["outcome_step"], out["n_steps"]) == (
        "left_domain",
        "ended_outside",
        6,
        20,
    )


def test_a_run_thrown_out_uphill_diverged() -> None:
    # x^2 with lr 1.5: x_k = (1 - 2 * 1.5)^k x_0 = (-2)^k: |x_6| = 64 passes the bound of 50, and its
    # loss is far above the start's: a blow-up, so diverged (thrown out) at step 6.
    out = _one("x**2 + y**2", "sgd:lr=1.5", [1.0, 0.0], steps=100)
    assert (out["status"], out["rule"], out["n_steps"]) == ("diverged", "thrown_out", 6)


def test_gradient_convergence_needs_the_whole_window() -> None:
    # On x^2 + y^2, SGD with lr 0.5 lands on the minimum at step 1 (x - 0.5 * 2x = 0); its gradient
    # is 0 from then on, and the run converges once that held for window + 1 steps.
    for window in (0, 3, 10):
        out = _one("x**2 + y**2", "sgd:lr=0.5", [2.0, -1.0], steps=50, window=window)
        assert (out["status"], out["rule"], out["outcome_step"], out["n_steps"]) == (
            "converged",
            "gradient",
            1,
            1 + window,
        )


def test_momentum_passing_through_a_flat_zero_gradient_stretch_does_not_stop_there() -> None:
    # Zero gradient for |x| < 1. Heavy-ball momentum arrives with speed and crosses the flat
    # stretch in fewer than window + 1 steps: a single zero gradient is not convergence.
    out = _one("max(abs(x) - 1, 0)**2 + y**2", "classical_momentum:lr=0.1,momentum=0.9", [3.0, 0.0], steps=60)
    paths = out["paths"]
    zero = np.flatnonzero(paths.grad_norms[0] == 0.0)
    assert zero.size and zero[0] < 20, "the run passes through an exact zero gradient early"
    assert out["n_steps"] > zero[0], "it did not stop at the first zero gradient"
    moved = paths.points[0, zero[0] + 1] - paths.points[0, zero[0]]
    assert np.abs(moved).max() > 0.05, "momentum carried it on"


def test_a_run_sitting_at_the_known_minimum_converged_though_its_gradient_is_above_tol() -> None:
    # Heavy-ball momentum on Himmelblau reaches a minimum to ~1e-12 in loss within 300 steps, with
    # a gradient still above tol 1e-12: converged by the at-minimum rule, not max_steps.
    out = _one("himmelblau", "momentum:lr=0.01,momentum=0.9", [0.5, 0.5], steps=300, tol=1e-12)
    paths = out["paths"]
    start_gap = paths.losses[0, 0] - 0.0
    assert (out["status"], out["rule"]) == ("converged", "at_minimum")
    since = out["outcome_step"]
    assert (paths.losses[0, since : out["n_steps"] + 1] <= 1e-8 * start_gap).all()
    assert paths.losses[0, since - 1] > 1e-8 * start_gap, "the streak starts exactly there"
    assert paths.grad_norms[0, out["n_steps"]] > 1e-12


@given(st.lists(st.booleans(), min_size=1, max_size=30), st.data())
def test_last_streak_start_matches_a_written_out_loop(flags: list[bool], data: st.DataObject) -> None:
    last = data.draw(st.integers(0, len(flags) - 1))
    expected = -1
    if flags[last]:
        expected = last
        while expected > 0 and flags[expected - 1]:
            expected -= 1
    got = last_streak_start(np.array([flags]), np.array([last]))
    assert int(got[0]) == expected


@pytest.mark.parametrize("batched", [True, False])
def test_the_batched_engine_and_the_loop_agree_on_every_outcome(batched: bool) -> None:
    starts = [[0.0, 0.0], [3.0, 0.0], [1.0, 0.5]]
    specs = ["sgd:lr=1", "classical_momentum:lr=0.1,momentum=0.9"]
    surface = get_surface("-x + max(abs(y) - 1, 0)**2")
    reference = run(surface, specs, starts, steps=80, batched=False)
    paths = run(surface, specs, starts, steps=80, batched=batched)
    assert paths.status == reference.status and paths.rules == reference.rules
    np.testing.assert_array_equal(paths.outcome_steps, reference.outcome_steps)
