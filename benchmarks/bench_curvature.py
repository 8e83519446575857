"""Top-2 Hessian eigenvalues: optiscope (Lanczos, LOBPCG, block Krylov) vs PyHessian vs curvlinops.

Seed 000's MLP (3072-64-64-32-10, 203,242 parameters), briefly trained with SGD, on CIFAR-shaped
random data; the Hessian of the mean cross-entropy on one batch of 1,000 and one of 10,000.
Every solver runs in float32 on the same model and batch; optiscope in two HVP modes, the
default forward-over-reverse ``jvp`` and ``double-backward`` (one retained gradient graph per
batch, as PyHessian does; its setup is in the time). The reference is ARPACK at tol 1e-10 on
optiscope's operator in float64. PyHessian runs with its defaults (power
iteration, tol 1e-3, maxIter 100) and once more at tol 1e-6 for an equal-accuracy comparison;
curvlinops' ``HessianLinearOperator`` (``check_deterministic=False``) runs through SciPy
``eigsh`` at the same tolerance as ours. HVPs are counted by wrapping each library's product.
Then the eigen-tracker's per-step cost, warm-started vs a cold Lanczos solve, along SGD steps:
on seed 001's fresh stochastic batch of 100 each step, and on one fixed batch of 1,000.

    python benchmarks/bench_curvature.py [--sizes 1000 10000] [--tol 1e-3] [--threads 1]

Needs the peers: ``pip install --no-deps pyhessian curvlinops-for-pytorch``.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import eigsh
from torch import nn

from optiscope.curvature import EigenTracker, HessianOperator, top_eigen_of
from optiscope.nets.data import make_synthetic
from optiscope.nets.models import build_model

Row = dict[str, object]


def trained_model(x: torch.Tensor, y: torch.Tensor, steps: int) -> nn.Module:
    torch.manual_seed(0)
    model = build_model("mlp", (3, 32, 32), 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(0, len(y), (64,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()
    model.zero_grad(set_to_none=True)
    return model


def timed(fn: Callable[[], tuple[np.ndarray, int | None]]) -> tuple[np.ndarray, int | None, float]:
    began = time.perf_counter()
    values, hvps = fn()
    return np.sort(np.asarray(values, dtype=np.float64))[::-1][:2], hvps, time.perf_counter() - began


def run_optiscope(
    model: nn.Module, batch: tuple, method: str, tol: float, mode: str
) -> tuple[np.ndarray, int]:
    operator = HessianOperator(model, nn.CrossEntropyLoss(), batch, mode=mode)
    spectrum = top_eigen_of(operator, k=2, tol=tol, method=method)
    return spectrum.values, spectrum.hvps


def run_pyhessian(model: nn.Module, batch: tuple, tol: float = 1e-3) -> tuple[np.ndarray, int]:
    # ``pyhessian.hessian`` is shadowed by the class of that name; fetch the module itself.
    pyhessian_module = importlib.import_module("pyhessian.hessian")

    calls = [0]
    original = pyhessian_module.hessian_vector_product

    def counting(*args: object) -> object:
        calls[0] += 1
        return original(*args)

    pyhessian_module.hessian_vector_product = counting
    try:
        torch.manual_seed(0)
        computer = pyhessian_module.hessian(model, nn.CrossEntropyLoss(), data=batch, cuda=False)
        values, _ = computer.eigenvalues(top_n=2, tol=tol)
    finally:
        pyhessian_module.hessian_vector_product = original
        model.zero_grad(set_to_none=True)
    return np.asarray(values), calls[0]


def run_curvlinops(model: nn.Module, batch: tuple, tol: float) -> tuple[np.ndarray, int]:
    from curvlinops import HessianLinearOperator

    params = [p for p in model.parameters() if p.requires_grad]
    operator = HessianLinearOperator(model, nn.CrossEntropyLoss(), params, [batch], check_deterministic=False)
    scipy_op = operator.to_scipy(dtype=np.float32)
    calls = [0]
    original = scipy_op._matvec

    def counting(v: np.ndarray) -> np.ndarray:
        calls[0] += 1
        return original(v)

    scipy_op._matvec = counting
    v0 = np.random.default_rng(0).standard_normal(scipy_op.shape[0]).astype(np.float32)
    values = eigsh(scipy_op, k=2, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
    return values, calls[0]


def reference(model: nn.Module, batch: tuple) -> tuple[np.ndarray, float]:
    began = time.perf_counter()
    operator = HessianOperator(
        model, nn.CrossEntropyLoss(), batch, dtype=torch.float64, mode="double-backward"
    )
    spectrum = top_eigen_of(operator, k=2, tol=1e-10, method="lanczos")
    return spectrum.values, time.perf_counter() - began


def eigen_table(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, sizes: list[int], tol: float
) -> list[Row]:
    rows: list[Row] = []
    for size in sizes:
        batch = (x[:size], y[:size])
        truth, seconds = reference(model, batch)
        print(
            f"  batch {size}: reference lambda = {truth[0]:.6g}, {truth[1]:.6g} ({seconds:.1f} s)", flush=True
        )
        runs = {
            "pyhessian (power, tol 1e-3)": lambda b=batch: run_pyhessian(model, b),
            "pyhessian (power, tol 1e-6)": lambda b=batch: run_pyhessian(model, b, tol=1e-6),
            f"optiscope lanczos, double-backward (tol {tol:g})": lambda b=batch: run_optiscope(
                model, b, "lanczos", tol, "double-backward"
            ),
            f"optiscope lanczos, jvp (tol {tol:g})": lambda b=batch: run_optiscope(
                model, b, "lanczos", tol, "jvp"
            ),
            f"optiscope lobpcg, double-backward (tol {tol:g})": lambda b=batch: run_optiscope(
                model, b, "lobpcg", tol, "double-backward"
            ),
            f"optiscope krylov, double-backward (tol {tol:g})": lambda b=batch: run_optiscope(
                model, b, "krylov", tol, "double-backward"
            ),
            f"curvlinops + eigsh (tol {tol:g})": lambda b=batch: run_curvlinops(model, b, tol),
        }
        base = None
        for name, fn in runs.items():
            values, hvps, seconds = timed(fn)
            base = seconds if base is None else base
            error = float(np.max(np.abs(values - truth) / np.abs(truth)))
            rows.append(
                {
                    "batch": size,
                    "method": name,
                    "lambda1": values[0],
                    "lambda2": values[1],
                    "rel_err": error,
                    "hvps": hvps,
                    "seconds": seconds,
                    "speedup": base / seconds,
                }
            )
            print(f"    {name}: {seconds:.2f} s", flush=True)
    return rows


def tracker_table(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, steps: int, tol: float, fixed: bool
) -> Row:
    """Per-step cost along SGD steps: a fresh batch each step (seed 001) or one fixed batch."""
    model = copy.deepcopy(model)
    tracker = EigenTracker(model, nn.CrossEntropyLoss(), k=2, tol=tol, mode="double-backward")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(1)
    index = torch.randint(0, len(y), (batch,), generator=generator)
    warm_hvps, warm_seconds, cold_hvps, cold_seconds, worst = [], [], [], [], 0.0
    for step in range(steps + 1):
        if not fixed:
            index = torch.randint(0, len(y), (batch,), generator=generator)
        xb, yb = x[index], y[index]
        began = time.perf_counter()
        values, hvps = tracker.update((xb, yb))
        seconds = time.perf_counter() - began
        if step > 0:  # the first step is itself a cold solve
            began = time.perf_counter()
            operator = HessianOperator(model, nn.CrossEntropyLoss(), (xb, yb), mode="double-backward")
            cold = top_eigen_of(operator, k=2, tol=tol)
            cold_seconds.append(time.perf_counter() - began)
            worst = max(worst, float(np.max(np.abs(values - cold.values) / np.abs(cold.values))))
            warm_hvps.append(hvps)
            warm_seconds.append(seconds)
            cold_hvps.append(cold.hvps)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    return {
        "batch": f"{batch} ({'fixed' if fixed else 'fresh each step'})",
        "steps": steps,
        "warm_hvps": np.mean(warm_hvps),
        "cold_hvps": np.mean(cold_hvps),
        "warm_s": np.mean(warm_seconds),
        "cold_s": np.mean(cold_seconds),
        "max_rel_diff": worst,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--tol", type=float, default=1e-3, help="tolerance of optiscope and curvlinops")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--tracker-batch", type=int, default=100)
    parser.add_argument("--tracker-steps", type=int, default=10)
    parser.add_argument("--tracker-tol", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_synthetic(n_train=max(args.sizes), n_test=10, input_shape=(3, 32, 32), num_classes=10, seed=0)
    x, y = data.x_train, data.y_train
    model = trained_model(x, y, args.train_steps)
    print(
        f"MLP 3072-64-64-32-10, {sum(p.numel() for p in model.parameters())} parameters, "
        f"{args.threads} thread(s), torch {torch.__version__}",
        flush=True,
    )
    rows = eigen_table(model, x, y, args.sizes, args.tol)
    tracks = [
        tracker_table(model, x, y, args.tracker_batch, args.tracker_steps, args.tracker_tol, fixed=False),
        tracker_table(model, x, y, 1000, args.tracker_steps, args.tracker_tol, fixed=True),
    ]
    print()
    print(
        "| batch | method | lambda1 | lambda2 | rel. error top-2 | HVPs | seconds | speed-up vs PyHessian |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['batch']} | {r['method']} | {r['lambda1']:.6g} | {r['lambda2']:.6g} | {r['rel_err']:.1e} "
            f"| {r['hvps']} | {r['seconds']:.2f} | {r['speedup']:.1f}x |"
        )
    print()
    print(
        "| tracker batch | steps | warm HVPs/step | cold HVPs/step | warm s/step | cold s/step | "
        "HVP ratio | time ratio | max rel. diff warm vs cold |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in tracks:
        print(
            f"| {t['batch']} | {t['steps']} | {t['warm_hvps']:.1f} | {t['cold_hvps']:.1f} "
            f"| {t['warm_s']:.3f} | {t['cold_s']:.3f} | {t['cold_hvps'] / t['warm_hvps']:.1f}x "
            f"| {t['cold_s'] / t['warm_s']:.1f}x | {t['max_rel_diff']:.1e} |"
        )


if __name__ == "__main__":
    main()
