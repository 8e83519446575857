"""One training epoch: optiscope's batching vs a plain TensorDataset + DataLoader loop.

Seed 000's MLP (3072-64-64-32-10) on CIFAR-shaped random data (50,000 x 3,072), batch 64, SGD.
Both loops do the same optimizer steps on the same preloaded tensors; the plain one draws its
batches through DataLoader (per-sample indexing and collation), ours by slicing one permutation.

    python benchmarks/bench_trainer.py [--samples 50000] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from optiscope.nets.data import batches, make_synthetic
from optiscope.nets.models import build_model, count_parameters
from optiscope.nets.recorder import PathRecorder, snapshot_interval

BUDGET_BYTES = 64 * 2**20  # the trainer's default record_budget_mb


def epoch_ours(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=2e-3, momentum=0.9)
    generator = torch.Generator(device=x.device).manual_seed(0)
    began = time.perf_counter()
    for xb, yb in batches(x, y, batch, generator=generator):
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - began


def epoch_recorded(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int
) -> tuple[float, PathRecorder]:
    """Our loop with the weight-path recorder at the trainer's default budget."""
    steps = -(-len(x) // batch)
    every = snapshot_interval(count_parameters(model), steps, BUDGET_BYTES)
    recorder = PathRecorder(model, every=every, total_steps=steps, budget_bytes=BUDGET_BYTES)
    optimizer = torch.optim.SGD(model.parameters(), lr=2e-3, momentum=0.9)
    generator = torch.Generator(device=x.device).manual_seed(0)
    began = time.perf_counter()
    recorder.start()
    for xb, yb in batches(x, y, batch, generator=generator):
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()
        recorder.step()
    recorder.finish()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - began, recorder


def epoch_dataloader(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=2e-3, momentum=0.9)
    loader = DataLoader(TensorDataset(x.cpu(), y.cpu()), batch_size=batch, shuffle=True,
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    began = time.perf_counter()
    for xb, yb in loader:
        xb, yb = xb.to(x.device), yb.to(x.device)
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    data = make_synthetic(n_train=args.samples, n_test=10, input_shape=(3, 32, 32), num_classes=10, seed=0)
    x = data.x_train.reshape(len(data.x_train), -1).to(args.device)
    y = data.y_train.to(args.device)
    torch.manual_seed(0)
    model = build_model("mlp", (3072,), 10).to(args.device)
    epoch_ours(model, x[:2048], y[:2048], args.batch)  # warm-up
    ours = epoch_ours(model, x, y, args.batch)
    plain = epoch_dataloader(model, x, y, args.batch)
    recorded, recorder = epoch_recorded(model, x, y, args.batch)
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.samples} x 3072, batch {args.batch}, one epoch")  # fmt: skip
    print("| loop | seconds | speed-up |")
    print("|---|---|---|")
    print(f"| TensorDataset + DataLoader | {plain:.2f} | 1.0x |")
    print(f"| optiscope batches (index permutation) | {ours:.2f} | {plain / ours:.1f}x |")
    print(f"| optiscope batches + path recorder | {recorded:.2f} | {plain / recorded:.1f}x |")
    held = recorder.snapshots.nbytes
    print(
        f"\nrecorder: {recorder.count} snapshots every {recorder.every} steps of {recorder.n_params} "
        f"parameters = {held / 2**20:.1f} MiB held, budget {BUDGET_BYTES / 2**20:.0f} MiB "
        f"({'within' if held <= BUDGET_BYTES else 'OVER'} budget)"
    )


if __name__ == "__main__":
    main()
