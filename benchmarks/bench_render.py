"""Rendering the demo's figures and reports from stored results (target: under 30 s on 2 cores).

Runs the full demo once (or reuses DIR), then times redrawing every paths study's figures and
report from its stored tables, the teaching study's report and the demo's top-level report. No
path is recomputed. Beside it, the same contour figures drawn the naive way: pyplot with a fresh
interpreter-global figure per call and `plt.savefig` to a file, as the seeds do.

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

from optiscope.experiments.demo import run_demo
from optiscope.experiments.paths_render import write_report
from optiscope.experiments.paths_study import load_paths, rerender_paths_study
from optiscope.store import load_run


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="demo directory to (re)use")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp()) / "demo"
    began = time.perf_counter()
    run_demo(out)
    print(f"demo computed (or reused) in {time.perf_counter() - began:.1f} s at {out}")

    print("| study | figures | seconds |")
    print("|---|---|---|")
    total, paths_runs = 0.0, []
    for run in sorted(path for path in out.iterdir() if (path / "manifest.json").is_file()):
        began = time.perf_counter()
        stored = load_run(run)
        if stored.manifest["kind"] == "paths":
            count = len(rerender_paths_study(stored))
            paths_runs.append(run)
        else:
            write_report(stored)
            count = 0
        seconds = time.perf_counter() - began
        total += seconds
        print(f"| {run.name} | {count} | {seconds:.2f} |")
    began = time.perf_counter()
    write_report(load_run(out))
    seconds = time.perf_counter() - began
    total += seconds
    print(f"| demo report | - | {seconds:.2f} |")
    print(f"| **total** | | **{total:.1f}** |")
    with tempfile.TemporaryDirectory() as scratch:
        ours = 0.0
        for run in paths_runs:
            stored, began = load_run(run), time.perf_counter()
            rerender_paths_study(stored)
            ours += time.perf_counter() - began
        naive = naive_contours(paths_runs, Path(scratch))
    print(
        f"contour only, naive pyplot: {naive:.1f} s for {len(paths_runs)} figures "
        f"(ours draws {len(paths_runs)} studies' full figure sets + reports in {ours:.1f} s)"
    )


if __name__ == "__main__":
    main()
