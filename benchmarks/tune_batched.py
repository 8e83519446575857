"""Equal-budget tuning, batched lanes vs the usual optuna loop, measured side by side.

10 optimizers x 100 trials x 10 seeds x 200 steps on Rosenbrock, float64, TPE (seeded) for both:

* batched: optiscope's tuning unit (:class:`optiscope.tuning.BatchTask`): TPE asked for a batch of
  trials, the whole batch (trials x seeds rows, each with its own hyperparameters) run as one lane
  of the path engine;
* loop: the usual way, ``study.optimize`` one trial at a time, each trial a torch loop (one
  optimizer over the 10 seeds' points stacked in one parameter);
* per-seed loop: as ``loop``, but each seed its own torch loop (how most tuning scripts run seeds);
  measured on the first ``--per-seed-trials`` trials of each optimizer and scaled to all trials.

Same results: the loops' trials (their params) are run again through the batched engine and their
objectives compared (the row-wise updates round as torch does, so they agree bit for bit). Each
side runs in its own process, so its peak memory is its own.

    python benchmarks/tune_batched.py [--trials 100] [--seeds 10] [--steps 200] [--batch 25]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optiscope.optimizers import OptimizerSpec, build_optimizer
from optiscope.paths import RUN_STATUSES, EngineOptions
from optiscope.surfaces import get as get_surface
from optiscope.tuning import (
    STARTUP_TRIALS,
    BatchTask,
    Problem,
    batch_seed,
    gap_curves,
    import_optuna,
    run_configs,
    run_task,
    score,
    search_space,
    seed_starts,
)

OPTIMIZERS = (
    "sgd", "momentum", "classical_momentum", "nag", "adam",
    "adamw", "rmsprop", "adagrad", "adamax", "adadelta",
)  # fmt: skip
SURFACE = "rosenbrock"
TOLERANCE = 1e-3


def _problem(args: argparse.Namespace) -> Problem:
    """No early stops (tol 0, escape far away), so a plain loop and the engine run the same steps."""
    surface = get_surface(SURFACE)
    starts = seed_starts(surface, range(args.seeds), spread=0.1, seed=0)
    options = EngineOptions(steps=args.steps, tol=0.0, escape=1e6)
    return Problem(SURFACE, float(surface.minimum_value or 0.0), starts, options, "final", TOLERANCE)


def batched_side(args: argparse.Namespace) -> dict[str, Any]:
    problem, seed_ids = _problem(args), tuple(range(args.seeds))
    found: dict[str, Any] = {"sampling": 0.0, "evaluation": 0.0, "trials": {}}
    began = time.perf_counter()
    for name in OPTIMIZERS[: args.optimizers]:
        space, history = search_space(name), ()
        for number, first in enumerate(range(0, args.trials, args.batch)):
            count = min(args.batch, args.trials - first)
            seed = batch_seed(0, SURFACE, name, number)
            arrays = run_task(BatchTask(problem, space, history, count, first, seed, seed_ids))
            found["sampling"] += float(arrays["sampling_seconds"])
            found["evaluation"] += float(arrays["seconds"])
            objectives = arrays["objective"].mean(axis=1)
            history += tuple(
                (dict(zip(space.keys, map(float, row), strict=True)), float(value))
                for row, value in zip(arrays["values"], objectives, strict=True)
            )
        found["trials"][name] = [[values, objective] for values, objective in history]
    found["total"] = time.perf_counter() - began
    return found


def _loop_objective(problem: Problem, name: str, hparams: dict[str, Any], per_seed: bool) -> float:
    """One trial the usual way: a torch loop (or one per seed), scored as the engine scores runs."""
    surface = get_surface(problem.surface)
    groups = [problem.starts[[i]] for i in range(len(problem.starts))] if per_seed else [problem.starts]
    curves = []
    for starts in groups:
        point = torch.nn.Parameter(torch.tensor(starts, dtype=torch.float64))
        optimizer = build_optimizer(OptimizerSpec(name, hparams), [point])
        losses = []
        for step in range(problem.options.steps + 1):
            loss = surface(point)
            losses.append(loss.detach().clone())
            if step < problem.options.steps:
                optimizer.zero_grad()
                loss.sum().backward()
                optimizer.step()
        curves.append(torch.stack(losses, dim=1).numpy())
    losses = np.concatenate(curves)
    finite = np.isfinite(losses)
    n_steps = np.where(finite.all(axis=1), problem.options.steps, finite.argmin(axis=1))
    status = np.where(finite.all(axis=1), RUN_STATUSES.index("max_steps"), RUN_STATUSES.index("diverged"))
    return float(score("final", gap_curves(losses, n_steps, status, problem.minimum), TOLERANCE).mean())


def loop_side(args: argparse.Namespace, per_seed: bool) -> dict[str, Any]:
    optuna = import_optuna()
    problem = _problem(args)
    trials = args.per_seed_trials if per_seed else args.trials
    found: dict[str, Any] = {"evaluation": 0.0, "trials": {}}
    began = time.perf_counter()
    for name in OPTIMIZERS[: args.optimizers]:
        space, seen = search_space(name), []

        def objective(trial: Any, space: Any = space, name: str = name, seen: list = seen) -> float:
            values = {d.key: trial.suggest_float(d.key, d.low, d.high, log=d.log) for d in space.dimensions}
            started = time.perf_counter()
            value = _loop_objective(problem, name, space.hparams(values), per_seed)
            found["evaluation"] += time.perf_counter() - started
            seen.append([values, value])
            return value

        sampler = optuna.samplers.TPESampler(
            seed=batch_seed(0, SURFACE, name), n_startup_trials=STARTUP_TRIALS, multivariate=True
        )
        optuna.create_study(direction="minimize", sampler=sampler).optimize(objective, n_trials=trials)
        found["trials"][name] = seen
    found["total"] = time.perf_counter() - began
    found["sampling"] = found["total"] - found["evaluation"]
    return found


def same_results(args: argparse.Namespace, side: dict[str, Any]) -> str:
    """How a side's objectives compare with the batched engine's on the same params."""
    problem, gaps = _problem(args), []
    for name, trials in side["trials"].items():
        space = search_space(name)
        configs = [space.hparams(values) for values, _ in trials]
        scored = run_configs(
            get_surface(SURFACE), name, configs, problem.starts, problem.options, seed_ids=range(args.seeds),
            total_seeds=args.seeds, objective="final", minimum=problem.minimum, tolerance=TOLERANCE,
        )  # fmt: skip
        engine = scored.objective.reshape(len(configs), -1).mean(axis=1)
        loop = np.array([value for _, value in trials])
        gaps.append(np.abs(engine - loop) / np.maximum(np.abs(loop), 1e-300))
    every = np.concatenate(gaps)
    return (
        f"{(every == 0).sum()} of {every.size} trials bit-identical, "
        f"largest relative difference {every.max():.1e}"
    )


def _run_side(side: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    out = folder / f"{side}.json"
    command = [sys.executable, __file__, "--side", side, "--out", str(out)]
    for key in ("optimizers", "trials", "seeds", "steps", "batch", "per_seed_trials", "threads"):
        command += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizers", type=int, default=len(OPTIMIZERS))
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--per-seed-trials", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--side", choices=("batched", "loop", "per-seed"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.side is not None:
        sides = {
            "batched": batched_side,
            "loop": lambda a: loop_side(a, False),
            "per-seed": lambda a: loop_side(a, True),
        }
        found = sides[args.side](args)
        found["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        args.out.write_text(json.dumps(found))
        return
    print(f"{platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} thread(s), "
          f"float64, {SURFACE}: {args.optimizers} optimizers x {args.trials} trials x {args.seeds} seeds x "
          f"{args.steps} steps, TPE (batches of {args.batch} for the batched side)")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        results = {side: _run_side(side, args, Path(folder)) for side in ("batched", "loop", "per-seed")}
    batched, loop, per_seed = results["batched"], results["loop"], results["per-seed"]
    scale = args.trials / args.per_seed_trials
    # The per-seed loop samples as the loop does (the same TPE on the same kind of trials): its
    # sampling is the loop's; its evaluation, measured on the first trials, scales with the trials.
    per_seed_total = loop["sampling"] + per_seed["evaluation"] * scale
    header = "| way | total s | sampling s | evaluation s | peak RSS MB | speed-up (total) | (evaluation) |"
    print(header + "\n|---|---|---|---|---|---|---|")
    label = f"optuna loop, per-seed torch loops (x{scale:g} of {args.per_seed_trials} trials)"
    rows = [
        ("batched lanes", batched, batched["total"], batched["evaluation"]),
        ("optuna loop, per-trial torch loop", loop, loop["total"], loop["evaluation"]),
        (label, {**per_seed, "sampling": loop["sampling"]}, per_seed_total, per_seed["evaluation"] * scale),
    ]
    for name, side, total, evaluation in rows:
        print(
            f"| {name} | {total:.1f} | {side['sampling']:.1f} | {evaluation:.1f} | {side['peak_rss_mb']:.0f} "
            f"| {total / batched['total']:.1f}x | {evaluation / batched['evaluation']:.1f}x |"
        )
    print(f"same results, optuna loop re-run batched: {same_results(args, loop)}")
    print(f"same results, per-seed loop re-run batched: {same_results(args, per_seed)}")
    print("best objective per optimizer (batched TPE | sequential TPE):")
    for name in batched["trials"]:
        best_batched = min(value for _, value in batched["trials"][name])
        best_loop = min(value for _, value in loop["trials"][name])
        print(f"  {name:<20} {best_batched:.4g} | {best_loop:.4g}")


if __name__ == "__main__":
    main()
