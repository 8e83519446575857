"""A tuning study's tables and findings, built from its stored units.

* ``trials.parquet``: one row per trial: surface, optimizer, trial, params (JSON), spec, seed
  (the TPE seed of its batch), batch, objective (mean over the tuning seeds), status (the worst
  outcome of its runs), steps (optimizer steps its runs took), seconds (its share of the batch's
  wall time: sampling and running).
* ``best.parquet``: one row per optimizer and surface: the winner re-run on the held-out seeds
  (mean objective with a bootstrap interval, success rate with a Wilson interval, spread) beside
  its default spec on the same seeds, its rank, and the optimizers it cannot be told from.
* ``evaluations.parquet``: every run (default, trials, held-out winner and default).
* ``sensitivity.parquet``: the winner with its learning rate swept, on the held-out seeds.
* ``profile.parquet``: the Dolan-More performance profile over (surface, held-out seed).
* ``tuned_paths.parquet``: full paths of the winner and the default from a few held-out seeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optiscope.paths import RUN_STATUSES
from optiscope.store import RunDir
from optiscope.tuning import (
    Problem,
    SearchSpace,
    batch_seed,
    bootstrap_mean_ci,
    performance_profile,
    performance_ratios,
    spread,
    tie_groups,
    wilson_interval,
)
from optiscope.tuning.nets import NetProblem
from optiscope.viz.markdown import markdown_table

__all__ = ["TuneTables", "write_tables"]

Arrays = dict[str, np.ndarray]
UnitId = Callable[[int, int, str], str]
# The worst outcome names a trial: one diverged run makes it a diverged trial.
_SEVERITY = ("converged", "max_steps", "left_domain", "diverged")


@dataclass(frozen=True)
class TuneTables:
    """What the tables need of the study besides its units (its config and plan)."""

    config: Any
    surfaces: tuple[str, ...]
    problems: tuple[Problem | NetProblem, ...]
    references: tuple[str, ...]
    spaces: tuple[SearchSpace, ...]
    batches: list[range]


def _params_json(space: SearchSpace, values: Mapping[str, float]) -> str:
    hparams = space.hparams(values)
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in hparams.items()}, sort_keys=True)


def _worst(status_codes: np.ndarray) -> str:
    names = [RUN_STATUSES[int(code)] for code in status_codes]
    return max(names, key=_SEVERITY.index)


def _trial_rows(tables: TuneTables, results: Mapping[str, Arrays], unit_id: UnitId) -> list[dict]:
    rows = []
    for p, surface in enumerate(tables.surfaces):
        for o, space in enumerate(tables.spaces):
            for number, trials in enumerate(tables.batches):
                arrays = results[unit_id(p, o, f"batch{number:04d}")]
                share = (float(arrays["seconds"]) + float(arrays["sampling_seconds"])) / len(trials)
                seed = batch_seed(tables.config.seed, surface, space.optimizer, number)
                for row, trial in enumerate(trials):
                    values = dict(zip(space.keys, (float(v) for v in arrays["values"][row]), strict=True))
                    rows.append({
                        "surface": surface, "optimizer": space.optimizer, "trial": trial,
                        "params": _params_json(space, values), "spec": space.spec_text(values),
                        "seed": seed, "batch": number, "objective": float(arrays["objective"][row].mean()),
                        "status": _worst(arrays["status"][row]), "steps": int(arrays["n_steps"][row].sum()),
                        "seconds": share,
                    })  # fmt: skip
    return rows


def _run_rows(
    surface: str, optimizer: str, phase: str, trials: Sequence[int], problem: Problem,
    seed_ids: Sequence[int], arrays: Arrays,
) -> list[dict]:  # fmt: skip
    rows = []
    for index, trial in enumerate(trials):
        for column, seed in enumerate(seed_ids):
            rows.append({
                "surface": surface, "optimizer": optimizer, "phase": phase, "trial": int(trial),
                "seed": int(seed), "start_x": float(problem.starts[seed, 0]),
                "start_y": float(problem.starts[seed, 1]),
                "objective": float(arrays["objective"][index, column]),
                "final_gap": float(arrays["final_gap"][index, column]),
                "reached_step": int(arrays["reached"][index, column]),
                "status": RUN_STATUSES[int(arrays["status"][index, column])],
                "steps": int(arrays["n_steps"][index, column]),
            })  # fmt: skip
    return rows


def _best_row(
    tables: TuneTables,
    pair: tuple[int, int],
    winner: tuple[int, dict[str, float]],
    results: Mapping[str, Arrays],
    unit_id: UnitId,
) -> dict:
    config, space = tables.config, tables.spaces[pair[1]]
    held = results[unit_id(*pair, "heldout")]
    tuned, default = held["objective"][0], held["objective"][1]
    successes, default_successes = int((held["reached"][0] >= 0).sum()), int((held["reached"][1] >= 0).sum())
    low, high = bootstrap_mean_ci(tuned, seed=config.seed)
    default_low, default_high = bootstrap_mean_ci(default, seed=config.seed)
    success_low, success_high = wilson_interval(successes, len(tuned))
    trial, values = winner
    defaults = results[unit_id(*pair, "default")]["objective"].mean(axis=1)
    tuning = defaults[-1 - trial] if trial < 0 else np.nan
    if trial >= 0:
        number = next(k for k, trials in enumerate(tables.batches) if trial in trials)
        batch = results[unit_id(*pair, f"batch{number:04d}")]
        tuning = batch["objective"][trial - tables.batches[number].start].mean()
    return {
        "surface": tables.surfaces[pair[0]], "optimizer": space.optimizer, "trial": trial,
        "spec": space.spec_text(values), "params": _params_json(space, values),
        "objective_mean": float(tuned.mean()), "ci_low": low, "ci_high": high,
        "success_rate": successes / len(tuned), "success_low": success_low, "success_high": success_high,
        "spread": spread(tuned).std, "default_objective": float(default.mean()),
        "default_ci_low": default_low, "default_ci_high": default_high,
        "default_success_rate": default_successes / len(default),
        "tuning_objective": float(tuning),
        "default_tuning_objective": float(defaults[0]),
        **_entry_default_columns(held, config.seed),
    }  # fmt: skip


def _entry_default_columns(held: Arrays, seed: int) -> dict[str, float]:
    """The entry's own defaults on the held-out seeds, beside a baseline (NaN without one)."""
    if len(held["objective"]) < 3:
        return {"entry_default_objective": np.nan, "entry_default_ci_low": np.nan,
                "entry_default_ci_high": np.nan, "entry_default_success_rate": np.nan}  # fmt: skip
    objective = held["objective"][2]
    low, high = bootstrap_mean_ci(objective, seed=seed)
    return {"entry_default_objective": float(objective.mean()), "entry_default_ci_low": low,
            "entry_default_ci_high": high,
            "entry_default_success_rate": float((held["reached"][2] >= 0).mean())}  # fmt: skip


def _ranked(best: pd.DataFrame) -> pd.DataFrame:
    """``best`` with each surface's rank (1 = lowest mean) and who each is indistinguishable from."""
    parts = []
    for _, group in best.groupby("surface", sort=False):
        group = group.sort_values(["objective_mean", "optimizer"], kind="stable").reset_index(drop=True)
        ties = tie_groups(list(zip(group["ci_low"], group["ci_high"], strict=True)))
        group["rank"] = np.arange(1, len(group) + 1)
        group["indistinguishable_from"] = [", ".join(group["optimizer"].iloc[j] for j in tie) for tie in ties]
        parts.append(group)
    return pd.concat(parts, ignore_index=True)


def _profile(tables: TuneTables, results: Mapping[str, Arrays], unit_id: UnitId) -> pd.DataFrame:
    """Dolan-More profile over the problems (surface, held-out seed); cost: the held-out score (a
    run that never reaches the target fails under the ``target`` objective), floored at the
    tolerance (steps: at 1), so every run within the target ties for best."""
    target = tables.config.objective == "target"
    columns = []
    for o in range(len(tables.spaces)):
        costs = []
        for p in range(len(tables.surfaces)):
            held = results[unit_id(p, o, "heldout")]
            costs.append(
                np.where(held["reached"][0] >= 0, held["objective"][0], np.inf)
                if target
                else held["objective"][0]
            )
        columns.append(np.concatenate(costs))
    costs = np.stack(columns, axis=1)
    floor = 1.0 if target else tables.config.tolerance
    ratios = performance_ratios(costs, floor=floor)
    finite = ratios[np.isfinite(ratios)]
    top = float(finite.max()) if finite.size else 1.0
    taus = np.unique(np.concatenate([[1.0], finite, [max(2.0, 2 * top)]]))
    fractions = performance_profile(costs, taus, floor=floor)
    return pd.DataFrame([
        {"optimizer": space.optimizer, "tau": float(tau), "fraction": float(fractions[o, k])}
        for o, space in enumerate(tables.spaces) for k, tau in enumerate(taus)
    ])  # fmt: skip


def _path_rows(
    tables: TuneTables, results: Mapping[str, Arrays], unit_id: UnitId, heldout: Sequence[int]
) -> list[dict]:
    rows = []
    for p, surface in enumerate(tables.surfaces):
        for o, space in enumerate(tables.spaces):
            held = results[unit_id(p, o, "heldout")]
            if "points" not in held:  # a net problem has no path in the plane
                continue
            for version, config in (("tuned", 0), ("default", 1)):
                for k in range(held["points"].shape[1]):
                    points, losses = held["points"][config, k], held["losses"][config, k]
                    for step in np.flatnonzero(np.isfinite(losses)):
                        rows.append({
                            "surface": surface, "optimizer": space.optimizer, "version": version,
                            "seed": int(heldout[k]), "step": int(step), "x": float(points[step, 0]),
                            "y": float(points[step, 1]), "loss": float(losses[step]),
                        })  # fmt: skip
    return rows


def _sensitivity_rows(
    tables: TuneTables, results: Mapping[str, Arrays], unit_id: UnitId, heldout: Sequence[int]
) -> list[dict]:
    rows = []
    for p, surface in enumerate(tables.surfaces):
        for o, space in enumerate(tables.spaces):
            if unit_id(p, o, "sensitivity") not in results:
                continue
            arrays = results[unit_id(p, o, "sensitivity")]
            lrs = space.dimension("lr").grid(arrays["objective"].shape[0])  # type: ignore[union-attr]
            for index, lr in enumerate(lrs):
                for column, seed in enumerate(heldout):
                    rows.append({
                        "surface": surface, "optimizer": space.optimizer, "lr": lr, "seed": int(seed),
                        "objective": float(arrays["objective"][index, column]),
                        "reached_step": int(arrays["reached"][index, column]),
                    })  # fmt: skip
    return rows


def _evaluation_rows(
    tables: TuneTables,
    results: Mapping[str, Arrays],
    unit_id: UnitId,
    winners: Mapping[tuple[int, int], tuple[int, dict]],
) -> list[dict]:
    seeds = tables.config.seeds
    tuning_ids, heldout = list(range(seeds)), list(range(seeds, seeds + tables.config.heldout))
    rows = []
    for (p, o), (trial, _) in winners.items():
        surface, optimizer, problem = tables.surfaces[p], tables.spaces[o].optimizer, tables.problems[p]
        rows += _run_rows(
            surface, optimizer, "default", [-1], problem, tuning_ids, results[unit_id(p, o, "default")]
        )
        for number, trials in enumerate(tables.batches):
            arrays = results[unit_id(p, o, f"batch{number:04d}")]
            rows += _run_rows(surface, optimizer, "tuning", list(trials), problem, tuning_ids, arrays)
        held = results[unit_id(p, o, "heldout")]
        rows += _run_rows(surface, optimizer, "heldout", [trial], problem, heldout, held)
        keys = ("objective", "final_gap", "reached", "status", "n_steps")
        rows += _run_rows(surface, optimizer, "heldout_default", [-1], problem, heldout,
                          {key: held[key][1:2] for key in keys})  # fmt: skip
        if len(held["objective"]) > 2:  # the entry's own defaults, beside a baseline
            defaults = results[unit_id(p, o, "default")]
            rows += _run_rows(surface, optimizer, "entry_default", [-2], problem, tuning_ids,
                              {key: defaults[key][1:] for key in keys})  # fmt: skip
            rows += _run_rows(surface, optimizer, "heldout_entry_default", [-2], problem, heldout,
                              {key: held[key][2:] for key in keys})  # fmt: skip
    return rows


def _budget_sentence(config: Any, rowwise: bool, problems: Sequence[Problem | NetProblem]) -> str:
    """How the runs were made and scored, in the study's own terms (surface or net)."""
    default = (
        "baseline spec (`baselines`) and the entry's own defaults (`entry_default_objective`)"
        if config.baselines
        else "default spec"
    )
    candidate = "candidates" if config.baselines else "a candidate"
    engine = (
        "Every batch ran as one engine call." if rowwise else "Some optimizers ran one trial per engine call."
    )
    nets = [problem.target for problem in problems if isinstance(problem, NetProblem)]
    if nets and len(nets) < len(problems):  # a mixed suite: the surface sentence, and how nets differ
        return (
            _budget_sentence(config, rowwise, [p for p in problems if not isinstance(p, NetProblem)])
            + f" On the net problems ({', '.join(net.name for net in nets)}) a run is a training run of "
            f"{config.steps} optimizer steps without early stopping from the same seeds (initialisation and "
            "batch order; one data split), and its gap is the test metric after each epoch."
        )
    if nets:
        net, metric = nets[0], nets[0].metric.replace("_", " ")
        return (
            f"Equal budgets: every optimizer had {config.trials} trials (TPE, batches of {config.batch}), "
            f"each a training run of {net.model} on {net.dataset} (batch size "
            f"{net.batch_size or 'full'}) for {config.steps} optimizer steps without early stopping, "
            f"from the same {config.seeds} seeds (initialisation and batch order; one data split); "
            f"its {default} ran from the same seeds as {candidate} outside the budget. Objective: "
            f"`{config.objective}` of the {metric} (lower is better); success: a {metric} of at most "
            f"{config.tolerance:g}. Winners and defaults were re-run on {config.heldout} held-out seeds; "
            "intervals are 95% (bootstrap for the mean, Wilson for the success rate)."
        )
    return (
        f"Equal budgets: every optimizer had {config.trials} trials (TPE, batches of {config.batch}), "
        f"each run from the same {config.seeds} seeds for {config.steps} steps; its {default} ran "
        f"from the same seeds as {candidate} outside the budget. Objective: `{config.objective}` "
        f"(lower is better); success: a gap to the minimum of at most {config.tolerance:g}. Winners "
        f"and defaults were re-run on {config.heldout} held-out seeds; intervals are 95% (bootstrap "
        f"for the mean, Wilson for the success rate). {engine}"
    )


def _sweep_beats_search(best: pd.DataFrame, sensitivity: pd.DataFrame | None) -> list[str]:
    """A line for each winner whose own learning-rate sweep (other hyperparameters at the winner's
    values, the same held-out seeds) found a mean below the winner's interval: the search missed it."""
    if sensitivity is None:
        return []
    lines = []
    for row in best.itertuples():
        here = sensitivity[
            (sensitivity["surface"] == row.surface) & (sensitivity["optimizer"] == row.optimizer)
        ]
        if here.empty:
            continue
        means = here.groupby("lr")["objective"].mean()
        if means.min() < row.ci_low:  # below the winner's interval, not a rounding-level tie
            lines.append(
                f"- {row.optimizer}: the learning-rate sweep found lr {means.idxmin():.3g} with a held-out "
                f"mean of {means.min():.4g}, below the tuned winner's {row.objective_mean:.4g} and its 95% "
                "interval: the search's trials did not reach it, so this winner understates the optimizer."
            )
    return lines


def _findings(
    tables: TuneTables, best: pd.DataFrame, rowwise: bool, sensitivity: pd.DataFrame | None = None
) -> str:
    config = tables.config
    lines = [_budget_sentence(config, rowwise, tables.problems), ""]
    for surface, reference in zip(tables.surfaces, tables.references, strict=True):
        group = best[best["surface"] == surface]
        columns = ["rank", "optimizer", "objective_mean", "ci_low", "ci_high", "success_rate",
                   "default_objective", "default_success_rate", "spec"]  # fmt: skip
        baselines = bool(group["entry_default_objective"].notna().any())  # the entry's beside them
        if baselines:
            columns[-1:-1] = ["entry_default_objective"]
        # With baselines, the table's "default" columns hold the baseline: the headers say so.
        shown = {"default_objective": "baseline_objective", "default_success_rate": "baseline_success_rate"}
        table = group[columns].rename(columns=shown if baselines else {})
        lines += [f"### {surface}", "", f"Gap measured from {reference}.", "", markdown_table(table), ""]
        for row in group.itertuples():
            if row.indistinguishable_from:
                lines.append(f"- {row.optimizer} cannot be told apart from {row.indistinguishable_from} "
                             "(their intervals overlap).")  # fmt: skip
        worse = group[group["tuning_objective"] > group["default_tuning_objective"]]
        default = "baseline" if baselines else "default"
        verdict = (
            f"no worse than its {default} on the tuning seeds" if worse.empty else f"worse than its {default}"
        )
        won = ("the baseline won where `trial` is -1, the entry's own defaults where it is -2" if baselines
               else "the default won where `trial` is -1")  # fmt: skip
        lines += [f"- Every tuned optimizer is {verdict}; {won}."]
        lines += [*_sweep_beats_search(group, sensitivity), ""]
    return "\n".join(lines) + "\n"


def write_tables(
    run_dir: RunDir,
    tables: TuneTables,
    results: Mapping[str, Arrays],
    winners: Mapping[tuple[int, int], tuple[int, dict[str, float]]],
    unit_id: UnitId,
) -> dict[str, Any]:
    """Store every table and the findings; the summary for the manifest."""
    heldout = list(range(tables.config.seeds, tables.config.seeds + tables.config.heldout))
    trials = pd.DataFrame(_trial_rows(tables, results, unit_id))
    best = _ranked(
        pd.DataFrame([_best_row(tables, pair, winner, results, unit_id) for pair, winner in winners.items()])
    )
    run_dir.write_table("trials", trials)
    run_dir.write_table("best", best)
    run_dir.write_table("evaluations", pd.DataFrame(_evaluation_rows(tables, results, unit_id, winners)))
    run_dir.write_table("profile", _profile(tables, results, unit_id))
    paths = _path_rows(tables, results, unit_id, heldout)
    if paths:
        run_dir.write_table("tuned_paths", pd.DataFrame(paths))
    sensitivity = pd.DataFrame(_sensitivity_rows(tables, results, unit_id, heldout))
    if not sensitivity.empty:
        run_dir.write_table("sensitivity", sensitivity)
    rowwise = all(bool(arrays["rowwise"]) for arrays in results.values())
    run_dir.write_text(
        "findings.md", _findings(tables, best, rowwise, None if sensitivity.empty else sensitivity)
    )
    sampling = sum(float(a["sampling_seconds"]) for a in results.values() if "sampling_seconds" in a)
    run_dir.record_timing("sampling", sampling)
    run_dir.record_timing("evaluation", sum(float(a["seconds"]) for a in results.values()))
    run_dir.set_info(
        references=list(tables.references),
        spaces=[space.describe() for space in tables.spaces],
        budget={"trials": tables.config.trials, "seeds": tables.config.seeds, "steps": tables.config.steps},
    )
    leaders = best[best["rank"] == 1]
    summary = {
        "problems": len(tables.surfaces),  # surfaces and nets
        "optimizers": len(tables.spaces),
        "trials": len(trials),
        "leader": ", ".join(leaders["optimizer"])
        if len(tables.surfaces) == 1
        else f"{len(leaders)} problems",
    }
    if not all(isinstance(problem, NetProblem) for problem in tables.problems):
        summary["rowwise"] = rowwise  # one engine lane per batch: a surface's question only
    return summary
