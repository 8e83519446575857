"""Re-drawing the demo from its stored results, and what the demo leaves on disk.

Runs the full demo once (``preset:demo``, or reuses DIR), prints its size on disk (target: under
40 MB) and its largest report (target: none over 2 MB), then times ``redraw`` of every paths
study and of the whole tree (``optiscope report DIR``): figures and reports from stored files,
nothing recomputed. Beside it, the contour figures drawn the naive way: pyplot with a fresh
interpreter-global figure per call and ``plt.savefig`` to a file, as the seeds do.

    python benchmarks/bench_render.py [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from optiscope.experiments.experiment_spec import resolve
from optiscope.experiments.experiment_study import run_experiment
from optiscope.experiments.paths_render import load_paths
from optiscope.experiments.presets import load_source
from optiscope.experiments.registry import redraw
from optiscope.store import load_run
from optiscope.viz.report_tree import child_runs


def naive_contours(runs: list[Path], scratch: Path) -> float:
    """The seeds' way: pyplot state, contourf + plot per path, savefig to a file."""
    began = time.perf_counter()
    for run in runs:
        with np.load(run / "surface_grid.npz") as grid:
            xs, ys, zs = grid["xs"], grid["ys"], grid["zs"]
        paths = load_paths(load_run(run))
        plt.figure(figsize=(9, 7.5))
        plt.contourf(xs, ys, zs, levels=30)
        for track in paths.points[:60]:
            plt.plot(track[:, 0], track[:, 1])
        plt.savefig(scratch / f"{run.name}.png")
        plt.close()
    return time.perf_counter() - began


def disk_usage(root: Path) -> tuple[int, int, Path | None, int]:
    """Bytes under ``root``, number of reports, the largest report and its bytes."""
    total = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
    reports = list(root.rglob("report.html"))
    largest = max(reports, key=lambda path: path.stat().st_size, default=None)
    return total, len(reports), largest, largest.stat().st_size if largest else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="demo directory to (re)use")
    parser.add_argument("--quick", action="store_true", help="the demo at its --quick sizes")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp()) / "demo"
    began = time.perf_counter()
    run_experiment(resolve(load_source("preset:demo"), quick=args.quick), out)
    print(f"demo computed (or reused) in {time.perf_counter() - began:.1f} s at {out}")
    total, reports, largest, largest_bytes = disk_usage(out)
    print(f"on disk: {total / 2**20:.1f} MiB in all (target < 40 MB); {reports} reports, the largest "
          f"{largest_bytes / 2**20:.2f} MiB ({largest}) (target < 2 MB)")  # fmt: skip

    print("| study | figures | seconds |")
    print("|---|---|---|")
    paths_runs = [path for _, path in child_runs(out) if load_run(path).manifest["kind"] == "paths"]
    ours = 0.0
    for run in paths_runs:
        began = time.perf_counter()
        redraw(run)
        seconds = time.perf_counter() - began
        ours += seconds
        print(f"| {run.name} | {len(list((run / 'figures').iterdir()))} | {seconds:.2f} |")
    began = time.perf_counter()
    redraw(out)
    whole = time.perf_counter() - began
    print(f"| **whole demo tree** (`optiscope report DIR`) | | **{whole:.1f}** |")
    with tempfile.TemporaryDirectory() as scratch:
        naive = naive_contours(paths_runs, Path(scratch))
    print(
        f"contour only, naive pyplot: {naive:.1f} s for {len(paths_runs)} figures "
        f"(ours draws {len(paths_runs)} studies' full figure sets + reports in {ours:.1f} s)"
    )


if __name__ == "__main__":
    main()
