"""A paths study's runs table in words: the per-config summary and one line per run's outcome.

The CLI prints them and the report shows them; both take them from here.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["outcome_lines", "outcomes_text", "runs_summary"]


def runs_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per optimizer config (``spec``): how many runs, how they ended, median loss and steps.

    Vectorised over the whole table (one pass per column, no Python call per group), so a study's
    hundreds of thousands of runs summarise in milliseconds; a categorical ``spec`` (as a paths
    study stores it) is grouped by the configs that have runs, in their order.
    """
    counted = runs.assign(
        converged=runs["status"] == "converged",
        left_domain=runs["status"] == "left_domain",
        diverged=runs["status"] == "diverged",
    )
    grouped = counted.groupby("spec", sort=False, observed=True)
    summary = pd.DataFrame(
        {
            "runs": grouped.size(),
            "converged": grouped["converged"].sum().astype(int),
            "left_domain": grouped["left_domain"].sum().astype(int),
            "diverged": grouped["diverged"].sum().astype(int),
            "median_final_loss": grouped["final_loss"].median(),
            "median_steps": grouped["steps"].median(),
        }
    )
    if "steps_to_tolerance" in runs.columns:
        summary["median_steps_to_tolerance"] = grouped["steps_to_tolerance"].median()
    return summary.reset_index()


def _describe(row: pd.Series) -> str:
    status, step = str(row["status"]), row.get("outcome_step")
    if "rule" not in row.index or pd.isna(row.get("rule")):
        return status
    rule = str(row["rule"])
    return {
        "budget": f"max_steps: used all {row['steps']} steps",
        "gradient": f"converged at step {step} (gradient <= tol from there)",
        "at_minimum": f"converged: at the known minimum from step {step}",
        "rolled_off": f"left_domain at step {step} (rolled off downhill; stopped at step {row['steps']})",
        "ended_outside": f"left_domain at step {step} (outside the domain after {row['steps']} steps)",
        "non_finite": f"diverged at step {step} (loss or position not finite)",
        "thrown_out": f"diverged at step {step} (thrown out of the domain uphill)",
        "arithmetic": f"diverged at step {step} (the optimizer's arithmetic failed)",
    }.get(rule, status)


def outcome_lines(runs: pd.DataFrame) -> list[str]:
    """One line per run: ``adam:lr=1 from (9, 9): left_domain at step 10 (...)``."""
    return [
        f"{row['spec']} from ({row['start_x']:.4g}, {row['start_y']:.4g}): {_describe(row)}"
        for _, row in runs.iterrows()
    ]


def outcomes_text(runs: pd.DataFrame, rules: dict[str, str], *, listed: int = 30) -> str:
    """Markdown for a report: the rules that decided the runs' statuses (with their counts) and,
    for a small study, every run's outcome in words."""
    lines = ["**How the runs ended** (each status names the rule behind it):", ""]
    if "rule" in runs.columns:
        counts = runs["rule"].astype(str).value_counts()
        lines += [
            f"- {rule} ({counts[rule]} run{'s' if counts[rule] != 1 else ''}): {rules[rule]}"
            for rule in rules
            if rule in counts
        ]
    if len(runs) <= listed:
        lines += ["", *[f"- {line}" for line in outcome_lines(runs)]]
    return "\n".join(lines) + "\n"
