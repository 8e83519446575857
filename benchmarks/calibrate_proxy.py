"""Calibrate an offline proxy: train a preset's runs on it, at the seed's budget, beside the seed's table.

Each train step of the preset is built as the preset builds it (its TrainConfig fields, the
proxy as data set, the seed's budget met in optimizer steps by ``with_budget``) and trained with
``optiscope.nets.trainer.train``; the table prints each run's test accuracy next to the seed's
published one, with the steps it ran, how it ended and its wall time.

    python benchmarks/calibrate_proxy.py                                  # seed 000 on proxy-cifar10
    python benchmarks/calibrate_proxy.py --preset seed001-second-order --dataset proxy-mnist --runs sgd,adam
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from optiscope.experiments.experiment_spec import resolve
from optiscope.experiments.presets import PRESET_PREFIX, load_source
from optiscope.experiments.sweep_study import with_budget
from optiscope.nets.budget import describe_dataset
from optiscope.nets.data import load_dataset
from optiscope.nets.trainer import TrainConfig, train


def published_accuracies(steps: list[Any]) -> dict[str, tuple[str, float | None]]:
    """Run name -> (row label, the seed's test accuracy) from the preset's first table step."""
    for step in steps:
        if step.kind == "table":
            return {row.run: (row.label, row.published.get("test_accuracy")) for row in step.rows}
    return {}


def train_configs(preset: str, dataset: str, runs: list[str] | None) -> list[tuple[str, TrainConfig]]:
    """The preset's train steps as the experiment runner would build them, on ``dataset``."""
    experiment = resolve(load_source(PRESET_PREFIX + preset), dataset=dataset)
    configs = []
    for step in experiment.steps:
        if step.kind != "train" or (runs is not None and step.name not in runs):
            continue
        config = TrainConfig.build(**step.fields_of(TrainConfig))
        configs.append((step.name, config if step.budget is None else with_budget(config, step.budget)))
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="seed000-visual-analysis")
    parser.add_argument("--dataset", default="proxy-cifar10")
    parser.add_argument("--runs", default=None, help="comma-separated train steps (default: all)")
    parser.add_argument("--seed", type=int, default=None, help="override every run's seed (data and init)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = args.runs.split(",") if args.runs else None
    data_seed = args.seed if args.seed is not None else TrainConfig().seed
    began = time.perf_counter()
    load_dataset(args.dataset, seed=data_seed)
    print(describe_dataset(args.dataset, seed=data_seed))
    print(f"generated in {time.perf_counter() - began:.1f} s ({args.threads} torch thread(s))\n")
    configs = train_configs(args.preset, args.dataset, runs)
    if args.seed is not None:
        configs = [(name, config.model_copy(update={"seed": args.seed})) for name, config in configs]
    published = published_accuracies(load_source(PRESET_PREFIX + args.preset).steps)
    print("| run | optimizer | batch | steps | status | test acc | seed's test acc | train acc | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, config in configs:
        began = time.perf_counter()
        run = train(config)
        wall = time.perf_counter() - began
        last = run.metrics.iloc[-1]
        label, seed_value = published.get(name, (name, None))
        seed_text = f"{seed_value:.4f}" if seed_value is not None else "-"
        batch = config.batch_size or "full"
        print(
            f"| {label} | {config.optimizer} | {batch} | {run.steps:,} | {run.status} | "
            f"{last['test_accuracy']:.4f} | {seed_text} | {last['train_accuracy']:.4f} | {wall:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
