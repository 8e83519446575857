"""How a run on a surface ended, and by which rule: every label says what happened to the run.

Statuses (``RUN_STATUSES``) and the rule behind each (``OUTCOME_RULES``), with the step it names:

* ``converged`` by ``gradient``: the gradient norm stayed at or below ``tol`` for ``window + 1``
  consecutive steps (one zero gradient passed through at speed is not convergence); the step is
  the first of that streak, and the run stops there.
* ``converged`` by ``at_minimum``: the run used its whole budget, and over its last
  ``window + 1`` steps its loss stayed within ``1e-8`` of the loss it had to lose (start loss minus
  the surface's known minimum value) above that minimum; the step is the first of that streak.
* ``left_domain`` by ``rolled_off``: the run went past ``escape`` times the domain (around its
  centre) downhill, its loss below its start loss, as on a surface with no minimum in the domain;
  it stops there; the step is when it last left the domain.
* ``left_domain`` by ``ended_outside``: the run used its budget and ended outside the domain;
  the step is when it last left the domain.
* ``diverged`` by ``non_finite`` (its position or loss is NaN or infinite), ``thrown_out`` (past
  ``escape`` times the domain with its loss above its start loss: a blow-up) or ``arithmetic``
  (the optimizer's own arithmetic failed); the step is where that happened, and the run stops.
* ``max_steps`` by ``budget``: none of the above; the step is the budget.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AT_MINIMUM_GAP",
    "OUTCOME_RULES",
    "RULE_TEXT",
    "RUN_STATUSES",
    "last_streak_start",
    "outcome_steps",
    "settle_after_budget",
]

Domain = tuple[tuple[float, float], tuple[float, float]]

RUN_STATUSES = ("converged", "diverged", "max_steps", "left_domain")
OUTCOME_RULES = (
    "budget",
    "gradient",
    "at_minimum",
    "rolled_off",
    "ended_outside",
    "non_finite",
    "thrown_out",
    "arithmetic",
)
RULE_TEXT = {
    "budget": "used its whole step budget without meeting any other rule",
    "gradient": "converged: the gradient norm stayed <= tol for window + 1 consecutive steps",
    "at_minimum": "converged: over its last window + 1 steps the loss stayed within 1e-8 of its "
    "start gap above the known minimum",
    "rolled_off": "left the domain downhill and went past the escape bound (loss below its start)",
    "ended_outside": "ended its budget outside the domain",
    "non_finite": "diverged: its position or loss became NaN or infinite",
    "thrown_out": "diverged: it went past the escape bound uphill (loss above its start)",
    "arithmetic": "diverged: the optimizer's own arithmetic failed",
}
AT_MINIMUM_GAP = 1e-8  # the share of a run's start gap above the minimum that counts as "at" it


def last_streak_start(flags: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Per row, the first step of the run of True values that ends at step ``last`` (``-1`` when
    ``flags[row, last]`` is False).

    Args:
        flags: ``(runs, steps + 1)`` booleans.
        last: ``(runs,)`` the last recorded step of each run.
    """
    runs, width = flags.shape
    steps = np.arange(width)[None, :]
    considered = steps <= last[:, None]
    breaks = np.where(considered & ~flags, steps, -1).max(axis=1)
    start = breaks + 1
    on = flags[np.arange(runs), last]
    return np.where(on, start, -1)


def _inside(points: np.ndarray, domain: Domain) -> np.ndarray:
    """``(runs, steps + 1)``: whether each recorded position lies in the domain (NaN: no)."""
    (x_min, x_max), (y_min, y_max) = domain
    x, y = points[..., 0], points[..., 1]
    return (x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)


def outcome_steps(
    points: np.ndarray, n_steps: np.ndarray, rule: np.ndarray, *, domain: Domain, window: int
) -> np.ndarray:
    """The step each run's rule names (see the module docstring): the stop step, except the first
    step of the calm streak of a gradient convergence and the last exit from the domain of a run
    that rolled off."""
    outcome = np.asarray(n_steps, dtype=np.int64).copy()
    by_gradient = rule == OUTCOME_RULES.index("gradient")
    outcome[by_gradient] = np.maximum(outcome[by_gradient] - window, 0)
    rolled = rule == OUTCOME_RULES.index("rolled_off")
    if rolled.any():
        left_at = last_streak_start(~_inside(points, domain), n_steps)
        outcome[rolled] = left_at[rolled]
    return outcome


def settle_after_budget(
    points: np.ndarray,
    losses: np.ndarray,
    n_steps: np.ndarray,
    status: np.ndarray,
    rule: np.ndarray,
    outcome_step: np.ndarray,
    *,
    domain: Domain,
    minimum_value: float | None,
    window: int,
) -> None:
    """Give the runs that used their whole budget (``max_steps``) their true outcome, in place:
    ``left_domain`` when they ended outside the domain, ``converged`` when they sat at the known
    minimum over their last ``window + 1`` steps.

    Args:
        points: ``(runs, steps + 1, 2)``; losses: ``(runs, steps + 1)`` (NaN after a run stopped).
        n_steps, status, rule, outcome_step: ``(runs,)`` as the engine left them (codes into
            ``RUN_STATUSES`` and ``OUTCOME_RULES``).
    """
    budget = status == RUN_STATUSES.index("max_steps")
    if not budget.any():
        return
    left_at = last_streak_start(~_inside(points, domain), n_steps)
    outside = budget & (left_at >= 0)
    status[outside] = RUN_STATUSES.index("left_domain")
    rule[outside] = OUTCOME_RULES.index("ended_outside")
    outcome_step[outside] = left_at[outside]
    if minimum_value is None:
        return
    start_gap = np.maximum(losses[:, 0] - minimum_value, 0.0)
    allowed = AT_MINIMUM_GAP * np.maximum(start_gap, np.finfo(np.float64).tiny)
    near = (losses - minimum_value) <= allowed[:, None]  # NaN compares False
    since = last_streak_start(near, n_steps)
    settled = budget & ~outside & (since >= 0) & (n_steps - since >= window)
    status[settled] = RUN_STATUSES.index("converged")
    rule[settled] = OUTCOME_RULES.index("at_minimum")
    outcome_step[settled] = since[settled]
