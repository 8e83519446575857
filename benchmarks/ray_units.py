"""Work units on Ray vs in this process: a sweep's cells and a landscape's chunks, side by side.

* sweep: a grid of ``--lrs`` x 2 momenta digits MLP runs (``--epochs`` epochs, batch 32), one
  cell per unit (each cell trains, stores its run and draws its curves);
* landscape: a ``--grid`` x ``--grid`` filter-normalised plane around a trained digits MLP, on the
  training set, in 8 chunks of alpha rows (one unit each).

Each way runs in its own process: ``local`` (the units one after another here) or ``ray`` (a local
Ray with ``--ray-cpus`` CPUs on loopback; its start-up is timed apart), each with torch at 2 and
at 1 thread(s). A Ray task runs with its driver's thread count and reserves that many CPUs, so at 2
threads on 2 CPUs the cells run one at a time, at 1 thread two at a time. Peak memory is the
largest sum of resident memory over the way's process tree (the driver and, for Ray, its GCS,
raylet and workers), sampled every 0.1 s from /proc (Linux). Same results: each Ray way's sweep
table and grid are compared with the local way's at the same thread count.

    python benchmarks/ray_units.py [--lrs 4] [--epochs 8] [--grid 61] [--ray-cpus 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optiscope.experiments.landscape_study import LandscapeConfig, run_landscape_study
from optiscope.experiments.sweep_study import SweepConfig, run_sweep
from optiscope.nets.trainer import TrainConfig, train
from optiscope.tuning import RayExecutor

NUMBERS = ["epochs", "steps", "train_accuracy", "test_accuracy", "test_loss"]
QUICK_FIGURES = {"interactive": False}
WAYS = (("local", 2), ("ray", 2), ("local", 1), ("ray", 1))


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        kb = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0")
        rss[int(entry.name)] = int(kb) / 1024
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


class _PeakMemory:
    """Samples the process tree's resident memory in a thread; ``peak`` is the largest sum seen."""

    def __init__(self) -> None:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, _tree_rss_mb(os.getpid()))

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _sweep(args: argparse.Namespace) -> SweepConfig:
    lrs = [round(0.02 * 2**k, 4) for k in range(args.lrs)]
    base = {"model": "mlp", "dataset": "digits", "epochs": args.epochs, "batch_size": 32,
            "patience": None, "optimizer": "sgd"}  # fmt: skip
    return SweepConfig.build(base=base, grid={"lr": lrs, "momentum": [0, 0.9]})


def run_way(args: argparse.Namespace) -> dict[str, Any]:
    """One way (executor, threads) in this process: the sweep, then the landscape."""
    torch.set_num_threads(args.threads)
    folder, found = Path(args.folder), {"startup": 0.0}
    executor = RayExecutor(num_cpus=args.ray_cpus) if args.executor == "ray" else None
    with _PeakMemory() as memory:
        if executor is not None:
            began = time.perf_counter()
            executor.start()  # the studies' own Ray executors join this one
            found["startup"] = time.perf_counter() - began
        began = time.perf_counter()
        results = run_sweep(_sweep(args), folder / "sweep", executor=args.executor)
        found["sweep"] = time.perf_counter() - began
        config = LandscapeConfig.build(run=str(args.trained), grid=args.grid, data="train")
        began = time.perf_counter()
        grid = run_landscape_study(
            config, folder / "landscape", executor=args.executor, style=QUICK_FIGURES
        ).grid
        found["landscape"] = time.perf_counter() - began
        if executor is not None:
            executor.close()
    found["peak_mb"] = memory.peak
    np.savez(folder / "numbers.npz", sweep=results[NUMBERS].to_numpy(dtype=float), loss=grid.loss)
    found["cells"], found["points"] = len(results), int(grid.loss.size)
    return found


def _run(way: tuple[str, int], args: argparse.Namespace, root: Path) -> dict[str, Any]:
    folder = root / f"{way[0]}-{way[1]}"
    folder.mkdir()
    options = {
        "executor": way[0], "threads": way[1], "folder": folder, "trained": args.trained,
        "lrs": args.lrs, "epochs": args.epochs, "grid": args.grid, "ray-cpus": args.ray_cpus,
    }  # fmt: skip
    command = [sys.executable, __file__]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    found = json.loads((folder / "way.json").read_text())
    with np.load(folder / "numbers.npz") as numbers:
        found["numbers"] = {name: numbers[name] for name in numbers.files}
    return found


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> str:
    same = [name for name in a if np.array_equal(a[name], b[name], equal_nan=True)]
    if len(same) == len(a):
        return "identical"
    gaps = {name: float(np.nanmax(np.abs(a[name] - b[name]))) for name in a if name not in same}
    return "differ: " + ", ".join(f"{name} max |diff| {gap:.1e}" for name, gap in gaps.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", type=int, default=4, help="learning rates (x 2 momenta = cells)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--grid", type=int, default=61)
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--executor", choices=("local", "ray"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--trained", type=Path)
    args = parser.parse_args()
    if args.executor is not None:
        (args.folder / "way.json").write_text(json.dumps(run_way(args)))
        return
    cells = 2 * args.lrs
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}; sweep: {cells} cells "
          f"(digits MLP, {args.epochs} epochs, batch 32); landscape: {args.grid}x{args.grid} points in 8 "
          f"chunks (digits MLP, training set); Ray: local, {args.ray_cpus} CPUs")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        args.trained = root / "trained"
        train(TrainConfig.build(epochs=5, patience=None), args.trained)
        found = {way: _run(way, args, root) for way in WAYS}
    print("| executor | torch threads | Ray start s | sweep s | cells | landscape s | points | peak MB "
          "| sweep vs local | landscape vs local | same numbers as local |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (executor, threads), way in found.items():
        local = found[("local", threads)]
        print(f"| {executor} | {threads} | {way['startup']:.1f} | {way['sweep']:.1f} | {way['cells']} "
              f"| {way['landscape']:.1f} | {way['points']} | {way['peak_mb']:.0f} "
              f"| {way['sweep'] / local['sweep']:.2f}x | {way['landscape'] / local['landscape']:.2f}x "
              f"| {_same(way['numbers'], local['numbers'])} |")  # fmt: skip
    one, two = found[("local", 1)]["numbers"], found[("local", 2)]["numbers"]
    print(
        f"local at 1 thread vs 2 threads: {_same(one, two)} (why a Ray task takes its driver's thread count)"
    )


if __name__ == "__main__":
    main()
