"""Path engine vs the plain loop (one torch optimizer per run), measured side by side.

10 optimizers x 100 start points x 500 steps on Rosenbrock, float64. The plain loop is how the
seeds and most tools do it: one parameter, one optimizer, zero_grad/backward/step per run.

    python benchmarks/bench_paths_engine.py [--starts 100] [--steps 500] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from optiscope.optimizers import build_optimizer, get_entry
from optiscope.paths import run
from optiscope.surfaces import get as get_surface

ELEMENTWISE_TEN = (
    "sgd:lr=0.001",
    "momentum:lr=0.001,momentum=0.9",
    "nag:lr=0.001,momentum=0.9",
    "rmsprop:lr=0.005",
    "adagrad:lr=0.5",
    "adam:lr=0.05",
    "adamax:lr=0.05",
    "nadam:lr=0.05",
    "lion:lr=0.005",
    "adadelta:lr=1",
)
SEED004_TEN = (
    "sgd:lr=0.001",
    "nag:lr=0.001,momentum=0.9",
    "rmsprop:lr=0.005",
    "adagrad:lr=0.5",
    "adam:lr=0.05",
    "adamax:lr=0.05",
    "nadam:lr=0.05",
    "lion:lr=0.005",
    "lamb:lr=0.05",
    "ftrl:lr=0.05",
)


def plain_loop(specs: tuple[str, ...], starts: np.ndarray, steps: int, device: str) -> np.ndarray:
    surface = get_surface("rosenbrock")
    tracks = []
    for spec in specs:
        for start in starts:
            weights = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64, device=device))
            optimizer = build_optimizer(spec, [weights])
            track = [weights.detach().clone()]
            for _ in range(steps):
                optimizer.zero_grad()
                surface(weights).backward()
                optimizer.step()
                track.append(weights.detach().clone())
            tracks.append(torch.stack(track).cpu().numpy())
    return np.stack(tracks)


def measure(label: str, specs: tuple[str, ...], starts: np.ndarray, steps: int, device: str) -> None:
    surface = get_surface("rosenbrock")
    began = time.perf_counter()
    paths = run(surface, specs, starts, steps=steps, tol=0.0, escape=1e6, device=device)
    engine = time.perf_counter() - began
    began = time.perf_counter()
    reference = plain_loop(specs, starts, steps, device)
    loop = time.perf_counter() - began
    # The engine stops a run where it diverges; the plain loop carries on, so compare up to the stop.
    recorded = np.arange(steps + 1)[None, :] <= paths.n_steps[:, None]
    agree = np.allclose(paths.points[recorded], reference[recorded], rtol=1e-9, atol=1e-12, equal_nan=True)
    batched = sum(get_entry(spec.split(":")[0]).elementwise for spec in specs)
    print(
        f"| {label} | {len(specs)} ({batched} batched) | {len(starts)} | {steps} "
        f"| {engine:.2f} | {loop:.2f} | "
        f"{loop / engine:.1f}x | {'yes' if agree else 'NO'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    starts = np.column_stack([rng.uniform(-2, 2, args.starts), rng.uniform(-1, 3, args.starts)])
    torch.set_num_threads(1)
    # Warm up (the registry's catalog loads on first use, torch kernels on first call) so both
    # sides are timed in steady state.
    run(get_surface("rosenbrock"), list(SEED004_TEN), starts[:2], steps=3)
    plain_loop(SEED004_TEN, starts[:1], 3, args.device)
    print(f"device {args.device}, torch {torch.__version__}, float64, Rosenbrock, 1 thread")
    print("| line-up | optimizers | starts | steps | engine s | plain loop s | speed-up | same paths |")
    print("|---|---|---|---|---|---|---|---|")
    measure("element-wise ten", ELEMENTWISE_TEN, starts, args.steps, args.device)
    measure("seed 004 ten", SEED004_TEN, starts, args.steps, args.device)


if __name__ == "__main__":
    main()
