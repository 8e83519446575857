"""A paths study at scale: chunked tables and kept samples vs everything assembled in memory.

N x N starts on Himmelblau x 3 optimizers (sgd:lr=0.01, momentum:lr=0.01,momentum=0.9,
adam:lr=0.1) x 300 steps, tol 1e-6, float64. Two approaches, each size in a fresh process:

* chunked: ``run_paths_study`` as ``optiscope paths`` runs it (units of 2,500 starts, tables
  appended unit by unit, full paths kept for a sample of 64 starts, figures and report drawn);
* naive: ``optiscope.paths.run`` over all starts, then ``PathSet.to_frame()`` / ``runs_frame()``
  and the basin maps stored as parquet, as the study did before (no figures).

Peak memory is the process's high-water mark (VmHWM); one run per cell: memory needs no best-of,
and the times are single runs on a shared machine. The basins of both are compared where both ran.

    python benchmarks/bench_paths_scale.py [--sizes 100 200 300] [--quick] [--naive-up-to 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from optiscope.experiments.paths_study import PathsConfig, run_paths_study
from optiscope.paths import basin_maps, basins_frame, run, start_grid
from optiscope.store import RunDir
from optiscope.surfaces import get as get_surface

SURFACE = "himmelblau"
OPTIMIZERS = ("sgd:lr=0.01", "momentum:lr=0.01,momentum=0.9", "adam:lr=0.1")
STEPS, TOL = 300, 1e-6
RESULT = "RESULT "


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def chunked(size: int, out: Path) -> dict[str, Any]:
    config = PathsConfig.build(surface=SURFACE, optimizers=OPTIMIZERS, start_grid=size, steps=STEPS, tol=TOL)
    began = time.perf_counter()
    result = run_paths_study(config, out)
    wall = time.perf_counter() - began
    manifest = result.run_dir.manifest
    return {"wall": wall, "compute": manifest["timings"]["compute"], "keep": config.keep_paths}


def naive(size: int, out: Path) -> dict[str, Any]:
    began = time.perf_counter()
    surface = get_surface(SURFACE)
    xs, ys, starts = start_grid(surface, size)
    paths = run(surface, OPTIMIZERS, starts, steps=STEPS, tol=TOL)
    computed = time.perf_counter() - began
    run_dir = RunDir.open(out, kind="bench-naive", spec={"size": size})
    run_dir.write_table("paths", paths.to_frame())
    runs = paths.runs_frame()
    reached = paths.steps_to_reach(surface.minimum_value + 1e-3)
    runs["steps_to_tolerance"] = np.where(reached >= 0, reached, np.nan)
    run_dir.write_table("runs", runs)
    run_dir.write_table("basins", basins_frame(basin_maps(paths, surface, xs, ys)))
    run_dir.complete()
    return {"wall": time.perf_counter() - began, "compute": computed, "keep": "all"}


def child(approach: str, size: int, out: Path) -> None:
    measure = {"chunked": chunked, "naive": naive}[approach]
    result = measure(size, out)
    result.update(threads=torch.get_num_threads(), peak=peak_rss_bytes())
    print(RESULT + json.dumps(result), flush=True)


def spawn(approach: str, size: int, out: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", approach, str(size), str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in finished.stdout.splitlines() if line.startswith(RESULT)]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(
            f"{approach} {size}x{size} failed ({finished.returncode}):\n{finished.stderr[-3000:]}"
        )
    result = json.loads(lines[-1][len(RESULT) :])
    result["disk"] = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    return result


def same_basins(left: Path, right: Path) -> str:
    a = pd.read_parquet(left / "basins.parquet", columns=["basin"])["basin"].to_numpy()
    b = pd.read_parquet(right / "basins.parquet", columns=["basin"])["basin"].to_numpy()
    if a.shape != b.shape:
        return f"DIFFER (shapes {a.shape} vs {b.shape})"
    differ = int((a != b).sum())
    return "identical" if differ == 0 else f"DIFFER ({differ} of {a.size})"


def gigabytes(count: float) -> str:
    return f"{count / 2**30:.2f} GB"


def megabytes(count: float) -> str:
    return f"{count / 2**20:.1f} MB"


def row(size: int, approach: str, result: dict[str, Any], basins: str) -> str:
    return (
        f"| {size}x{size} | {3 * size * size:,} | {STEPS} | {result['threads']} "
        f"| {approach} ({result['keep']}) | {result['wall']:.1f} | {result['compute']:.1f} "
        f"| {gigabytes(result['peak'])} | {megabytes(result['disk'])} | {basins} |"
    )


def naive_estimate(measured: dict[int, int], size: int) -> float:
    """Peak memory extrapolated linearly in the number of runs from the naive sizes measured."""
    sizes = sorted(measured)
    if len(sizes) == 1:
        return measured[sizes[0]] * size**2 / sizes[0] ** 2
    (small, large) = sizes[-2:]
    slope = (measured[large] - measured[small]) / (large**2 - small**2)
    return measured[large] + slope * (size**2 - large**2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 300])
    parser.add_argument("--quick", action="store_true", help="sizes 60 and 120")
    parser.add_argument("--naive-up-to", type=int, default=200, help="largest N the naive one runs at")
    parser.add_argument("--child", nargs=3, metavar=("APPROACH", "N", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        approach, size, out = args.child
        child(approach, int(size), Path(out))
        return
    sizes = [60, 120] if args.quick else args.sizes
    root = Path(tempfile.mkdtemp(prefix="bench-paths-scale-"))
    print(f"{SURFACE}, {len(OPTIMIZERS)} optimizers ({', '.join(OPTIMIZERS)}), {STEPS} steps, tol {TOL}")
    print("each cell: one fresh process; peak = its VmHWM (one run: memory needs no best-of); wall = one run")
    print("chunked wall: compute + tables + figures + report; naive wall: compute + tables (no figures)")
    print("| starts | runs | steps | threads | approach (paths kept) | wall s | compute s | peak RSS | disk "
          "| basins |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    naive_peaks: dict[int, int] = {}
    try:
        for size in sizes:
            ours = spawn("chunked", size, root / f"chunked-{size}")
            if size > args.naive_up_to:
                estimate = gigabytes(naive_estimate(naive_peaks, size)) if naive_peaks else "?"
                print(row(size, "chunked", ours, "-"))
                print(f"| {size}x{size} | {3 * size * size:,} | {STEPS} | - | naive | skipped "
                      f"(would need ~{estimate}) | | | | |")  # fmt: skip
            else:
                theirs = spawn("naive", size, root / f"naive-{size}")
                naive_peaks[size] = theirs["peak"]
                verdict = same_basins(root / f"chunked-{size}", root / f"naive-{size}")
                print(row(size, "chunked", ours, verdict))
                print(row(size, "naive", theirs, verdict))
            sys.stdout.flush()
            for folder in root.glob(f"*-{size}"):
                shutil.rmtree(folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
