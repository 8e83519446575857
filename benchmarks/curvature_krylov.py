"""Top-2 Hessian eigenvalues at a stated accuracy: optiscope ``ritz`` vs PyHessian vs ARPACK.

Seed 000's MLP (3072-64-64-32-10, 203,242 parameters), briefly trained with SGD on CIFAR-shaped
synthetic data (``bench_curvature.trained_model``); the Hessian of the mean cross-entropy on one
batch of 1,000 and one of 10,000, in float32. The truth is ARPACK at tol 1e-10 on optiscope's
float64 operator. Solvers, each timed from the model and batch (graph building included):

- PyHessian's power iteration at its defaults (tol 1e-3, maxIter 100) and at tol 1e-6;
- optiscope ``ritz`` (Lanczos, full reorthogonalisation, stopped on eigenvalue error bounds)
  at ``tol`` = the relative error PyHessian's defaults delivered on that batch ("at PyHessian's
  own accuracy"), and at ``tol`` = 1e-4;
- ARPACK (``scipy.sparse.linalg.eigsh``, optiscope's ``lanczos``, the implementation before
  ``ritz``) on the same operator at the same two tolerances.

Sides are interleaved (every solver once, then again) and the best of ``--repeats`` is kept,
because timings on a shared machine are noisy. Products are counted by wrapping each library's
product; "CPU s" is the process CPU time of the fastest repeat (less sensitive to other load
than wall time with one thread); "peak MiB" is each solver's peak resident-set growth over its
solve, measured once per solver in a fresh process (one thread) with the kernel's high-water
mark reset first.

    python benchmarks/curvature_krylov.py [--sizes 1000 10000] [--threads 1 2] [--repeats 3]

PyHessian is found when installed, or in ``--peers DIR`` (``pip install --no-deps --target DIR
pyhessian``); without it those rows are left out.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from optiscope.curvature import HessianOperator, top_eigen_of
from optiscope.nets.data import make_synthetic
from optiscope.nets.models import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_curvature import run_pyhessian, trained_model

Solve = Callable[[], tuple[np.ndarray, int]]


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith(field + ":"))
    return int(line.split()[1])


def measured(solve: Solve) -> tuple[np.ndarray, int, float, float]:
    """``(top-2 values, products, wall seconds, process CPU seconds)`` of one solve."""
    began, cpu_began = time.perf_counter(), time.process_time()
    values, products = solve()
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    top = np.sort(np.asarray(values, dtype=np.float64))[::-1][:2]
    return top, products, seconds, cpu


def peak_growth_mib(solve: Solve) -> float:
    """Peak resident-set growth of one solve in this (fresh) process: the kernel's high-water mark
    is reset first (``/proc/self/clear_refs``), so memory freed earlier cannot hide it."""
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    solve()
    return (_status_kib("VmHWM") - before) / 1024


def optiscope_solve(model: nn.Module, batch: tuple, method: str, tol: float) -> Solve:
    def solve() -> tuple[np.ndarray, int]:
        operator = HessianOperator(model, nn.CrossEntropyLoss(), batch, mode="double-backward")
        spectrum = top_eigen_of(operator, k=2, tol=tol, method=method)
        return spectrum.values, spectrum.hvps

    return solve


def truth_of(model: nn.Module, batch: tuple) -> np.ndarray:
    operator = HessianOperator(
        model, nn.CrossEntropyLoss(), batch, dtype=torch.float64, mode="double-backward"
    )
    return top_eigen_of(operator, k=2, tol=1e-10, method="lanczos").values


def relative_error(values: np.ndarray, truth: np.ndarray) -> float:
    return float(np.max(np.abs(values - truth) / np.abs(truth)))


def best_rows(
    solvers: dict[str, Solve], truth: np.ndarray, repeats: int, context: dict[str, object]
) -> list[dict[str, object]]:
    """Each solver ``repeats`` times, interleaved; the best time (and its run's numbers) per solver."""
    runs: dict[str, list[tuple]] = {name: [] for name in solvers}
    for _ in range(repeats):
        for name, solve in solvers.items():
            runs[name].append(measured(solve))
    rows = []
    for name, results in runs.items():
        values, products, seconds, _ = min(results, key=lambda r: r[2])
        rows.append({**context, "method": name, "products": products, "seconds": seconds,
                     "median_s": float(np.median([r[2] for r in results])),
                     "rel_err": relative_error(values, truth), "s_per_product": seconds / products,
                     "cpu_s": min(r[3] for r in results), "peak_mib": float("nan")})  # fmt: skip
    return rows


def pyhessian_available(peers: str | None) -> bool:
    if peers:
        sys.path.insert(0, peers)
    return importlib.util.find_spec("pyhessian") is not None


def solvers_for(model: nn.Module, batch: tuple, matched: float, has_pyhessian: bool) -> dict[str, Solve]:
    """The compared solvers by name; ``matched`` is the tolerance set to PyHessian's own error."""
    solvers: dict[str, Solve] = {}
    if has_pyhessian:
        solvers["pyhessian power, tol 1e-3 (defaults)"] = lambda: run_pyhessian(model, batch)
        solvers["pyhessian power, tol 1e-6"] = lambda: run_pyhessian(model, batch, tol=1e-6)
    solvers[f"optiscope ritz, tol {matched:.1e}"] = optiscope_solve(model, batch, "ritz", matched)
    solvers[f"ARPACK eigsh, tol {matched:.1e}"] = optiscope_solve(model, batch, "lanczos", matched)
    solvers["optiscope ritz, tol 1e-4"] = optiscope_solve(model, batch, "ritz", 1e-4)
    solvers["ARPACK eigsh, tol 1e-4"] = optiscope_solve(model, batch, "lanczos", 1e-4)
    return solvers


def table_for(
    model: nn.Module, batch: tuple, threads: int, repeats: int, has_pyhessian: bool
) -> tuple[list[dict[str, object]], float]:
    """The timed rows of one batch and thread count, and the matched tolerance."""
    torch.set_num_threads(threads)
    truth = truth_of(model, batch)
    context = {"batch": len(batch[1]), "threads": threads}
    matched = 1e-2
    if has_pyhessian:
        values, _ = run_pyhessian(model, batch)
        matched = relative_error(np.sort(values)[::-1], truth)
    print(f"batch {context['batch']}, {threads} thread(s): truth {truth[0]:.6g}, {truth[1]:.6g}; "
          f"PyHessian's default error {matched:.2e}", flush=True)  # fmt: skip
    solvers = solvers_for(model, batch, matched, has_pyhessian)
    return best_rows(solvers, truth, repeats, context), matched


def memory_of(args: argparse.Namespace, state: Path, size: int, matched: float) -> dict[str, float]:
    """Each solver's peak memory growth, one fresh process per solver (one thread)."""
    found = {}
    model, batch = _problem(args, size, state)
    for name in solvers_for(model, batch, matched, pyhessian_available(args.peers)):
        command = [sys.executable, __file__, "--memory-child", name, "--sizes", *map(str, args.sizes),
                   "--state", str(state), "--child-size", str(size), "--matched", repr(matched)]  # fmt: skip
        if args.peers:
            command += ["--peers", args.peers]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        found[name] = float(output.strip().splitlines()[-1])
    return found


def _problem(args: argparse.Namespace, size: int, state: Path) -> tuple[nn.Module, tuple]:
    data = make_synthetic(n_train=max(args.sizes), n_test=10, input_shape=(3, 32, 32), num_classes=10, seed=0)
    model = build_model("mlp", (3, 32, 32), 10)
    model.load_state_dict(torch.load(state, weights_only=True))
    return model, (data.x_train[:size], data.y_train[:size])


def print_table(rows: list[dict[str, object]]) -> None:
    print("\n| batch | threads | method | products | best s | median s | s/product | rel. error | "
          "CPU s (best) | peak MiB | PyHessian-default s / this |")  # fmt: skip
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        same = [r for r in rows if (r["batch"], r["threads"]) == (row["batch"], row["threads"])]
        base = next(
            (r["seconds"] for r in same if str(r["method"]).startswith("pyhessian power, tol 1e-3")), None
        )
        ratio = f"{base / row['seconds']:.2f}x" if base else "-"
        print(f"| {row['batch']} | {row['threads']} | {row['method']} | {row['products']} | "
              f"{row['seconds']:.3f} | {row['median_s']:.3f} | {row['s_per_product'] * 1e3:.1f} ms | "
              f"{row['rel_err']:.1e} | {row['cpu_s']:.3f} | {row['peak_mib']:.0f} | {ratio} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--peers", default=None, help="a folder holding pyhessian (pip install --target)")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--state", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-size", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--matched", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    has_pyhessian = pyhessian_available(args.peers)
    if args.memory_child is not None:
        torch.set_num_threads(1)
        model, batch = _problem(args, args.child_size, Path(args.state))
        print(peak_growth_mib(solvers_for(model, batch, args.matched, has_pyhessian)[args.memory_child]))
        return
    data = make_synthetic(n_train=max(args.sizes), n_test=10, input_shape=(3, 32, 32), num_classes=10, seed=0)
    model = trained_model(data.x_train, data.y_train, args.train_steps)
    found = "found" if has_pyhessian else "not installed"
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"MLP 3072-64-64-32-10, {n_params} parameters, torch {torch.__version__}, PyHessian {found}",
        flush=True,
    )
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "model.pt"
        torch.save(model.state_dict(), state)
        for size in args.sizes:
            batch = (data.x_train[:size], data.y_train[:size])
            for threads in args.threads:
                timed, matched = table_for(model, batch, threads, args.repeats, has_pyhessian)
                rows += timed
            memory = memory_of(args, state, size, matched)
            for row in rows:
                if row["batch"] == size:
                    row["peak_mib"] = memory.get(str(row["method"]), float("nan"))
            print_table(rows)


if __name__ == "__main__":
    main()
