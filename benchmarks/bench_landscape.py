"""Loss-landscape grids: optiscope's auto engine vs the naive per-point loop vs ``loss_landscapes``.

Seed 000's MLP (3072-64-64-32-10) on CIFAR-shaped random data and LeNet-5 on MNIST-shaped data,
a 51 x 51 plane of filter-normalised directions (Li et al., 2018). optiscope evaluates the whole
grid; the loop and ``loss_landscapes.random_plane`` (PyPI, 3.x) are timed on a few evenly spaced
points and extrapolated per point, which the table says. The loop is optiscope's oracle, so the
"max rel diff" column compares optiscope with it on the points both computed.
``loss_landscapes`` draws its own (uniform) directions, so only its time is comparable.

    python benchmarks/bench_landscape.py [--samples 10000,50000] [--grid 51] [--device cpu] [--quick]
        [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from optiscope.landscape.directions import random_directions
from optiscope.landscape.evaluate import evaluate
from optiscope.landscape.grid import grid_axes
from optiscope.landscape.reference import evaluate_points_loop
from optiscope.nets import build_model
from optiscope.nets.data import make_synthetic

_PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak extra memory of a block: CUDA allocator peak, or resident set size polled on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak, self._stop = device, 0, threading.Event()

    def _rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE

    def _poll(self, start: int) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss() - start)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._thread = threading.Thread(target=self._poll, args=(self._rss(),), daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._start
        else:
            self._stop.set()
            self._thread.join()


def timed(device: torch.device, call: Callable[[], Any]) -> tuple[Any, float, PeakMemory]:
    """``call()``'s result, wall seconds and peak extra memory."""
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        result = call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return result, seconds, memory


def loss_landscapes_call(model: nn.Module, x: torch.Tensor, y: torch.Tensor, side: int) -> Callable[[], Any]:
    """``loss_landscapes.random_plane`` on ``side x side`` points, filter-normalised."""
    import loss_landscapes
    from loss_landscapes.metrics import Loss

    metric = Loss(nn.CrossEntropyLoss(), x, y)
    return lambda: loss_landscapes.random_plane(
        model, metric, distance=1, steps=side, normalization="filter", deepcopy_model=True
    )


def best_of(device: torch.device, calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple]:
    """Per method: the first result, the fastest of ``repeats`` interleaved runs, the peak MiB
    (the largest over the runs, compared in bytes).

    The methods take turns, so a slow spell of a shared machine falls on all of them, and the
    minimum is kept because noise only ever adds time (as ``timeit`` advises).
    """
    best: dict[str, tuple] = {}
    for _ in range(repeats):
        for name, call in calls.items():
            result, seconds, memory = timed(device, call)
            if name not in best:
                best[name] = (result, seconds, memory.peak)
            else:
                first, fastest, peak = best[name]
                best[name] = (first, min(fastest, seconds), max(peak, memory.peak))
    return {name: (result, seconds, f"{peak / 2**20:.0f}") for name, (result, seconds, peak) in best.items()}


def run_case(
    name: str,
    shape: tuple[int, ...],
    samples: int,
    points: int,
    subset: int,
    device: torch.device,
    repeats: int,
) -> list[str]:
    """The table rows of one model on ``samples`` random samples and a ``points``-square grid."""
    data = make_synthetic(n_train=samples, n_test=10, input_shape=shape, num_classes=10, seed=0)
    torch.manual_seed(0)
    model = build_model(name, shape, 10).to(device).eval()
    directions = random_directions(model.cpu(), seed=0)
    model.to(device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    axis = grid_axes(1.0, points)
    total = points * points
    picks = np.unique(np.linspace(0, total - 1, subset).round().astype(int))
    coords = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)[picks]
    side = max(2, round(len(picks) ** 0.5))
    loss = nn.CrossEntropyLoss()
    runs = best_of(
        device,
        {
            "optiscope": lambda: evaluate(model, loss, (x, y), directions, axis, axis),
            "loop": lambda: evaluate_points_loop(model, loss, (x, y), directions, coords),
            "loss_landscapes": loss_landscapes_call(model, x, y, side),
        },
        repeats,
    )
    grid, seconds, mib = runs["optiscope"]
    (loop_loss, _), loop_seconds, loop_mib = runs["loop"]
    _, ll_seconds, ll_mib = runs["loss_landscapes"]
    loop_total = loop_seconds / len(picks) * total
    ll_total = ll_seconds / side**2 * total
    diff = np.max(np.abs(grid.loss.ravel()[picks] - loop_loss) / np.abs(loop_loss))
    case = f"{name} {samples:,} x {points}x{points}"
    engine = grid.attrs["engine"]
    return [
        f"| {case} | optiscope ({engine}) | {total} (all) | {seconds:.1f} | 1.0x | {diff:.1e} | {mib} |",
        f"| {case} | naive loop | {len(picks)} -> {total} extrapolated | {loop_total:.0f} | "
        f"{loop_total / seconds:.1f}x | 0 (oracle) | {loop_mib} |",
        f"| {case} | loss_landscapes 3.0.6 | {side * side} -> {total} extrapolated | {ll_total:.0f} | "
        f"{ll_total / seconds:.1f}x | n/a (own directions) | {ll_mib} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="10000,50000", help="comma-separated MLP sample counts")
    parser.add_argument("--grid", type=int, default=51, help="points per axis")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--subset", type=int, default=26, help="grid points the slow methods are timed on")
    parser.add_argument("--lenet-samples", type=int, default=10000)
    parser.add_argument("--quick", action="store_true", help="LeNet on 2,000 samples and a 21x21 grid")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, the same for every method")
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved runs per method; the fastest counts"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cases = [("mlp", (3, 32, 32), int(n), args.grid) for n in args.samples.split(",")]
    cases.append(
        ("lenet", (1, 28, 28), 2000 if args.quick else args.lenet_samples, 21 if args.quick else args.grid)
    )
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, float32, "
          f"{os.cpu_count()} CPUs; slow methods timed on ~{args.subset} evenly spaced points; "
          f"best of {args.repeats} interleaved runs per method\n")  # fmt: skip
    print("| case | method | grid points timed | seconds (full grid) | slower than optiscope | "
          "max rel diff vs loop | peak extra MiB |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, shape, samples, points in cases:
        for row in run_case(name, shape, samples, points, args.subset, device, args.repeats):
            print(row, flush=True)


if __name__ == "__main__":
    main()
