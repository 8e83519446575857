"""Full-matrix AdaGrad, F=1024 features, N=8 steps: ours vs seed 004's scipy sqrtm + inv.

Seed 004 reports 27.4 s for its method (scipy.linalg.sqrtm of G_t, then inv, every step).

    python benchmarks/bench_full_adagrad.py [--features 1024] [--steps 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import linalg

from optiscope.optimizers.full_adagrad import full_matrix_adagrad_updates


def seed_method(grads: np.ndarray, eps: float) -> np.ndarray:
    """Seed 004's recipe: v_t = inv(sqrtm(G_t) + eps I) g_t."""
    gram = np.zeros((grads.shape[1], grads.shape[1]))
    updates = []
    for gradient in grads:
        gram += np.outer(gradient, gradient)
        inverse_root = linalg.inv(np.real(linalg.sqrtm(gram)) + np.eye(len(gram)) * eps)
        updates.append(inverse_root @ gradient)
    return np.stack(updates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    rng = np.random.RandomState(32)
    scales = np.random.RandomState(0).lognormal(size=args.features)
    grads = rng.rand(args.steps, args.features) * scales

    began = time.perf_counter()
    ours = full_matrix_adagrad_updates(torch.from_numpy(grads), eps=1e-5).numpy()
    ours_s = time.perf_counter() - began
    began = time.perf_counter()
    reference = seed_method(grads, eps=1e-5)
    seed_s = time.perf_counter() - began
    # Both compute inv(sqrtm(G) + eps I) g (Duchi et al.); compare the updates themselves.
    cosine = np.sum(ours * reference, 1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1))
    print(f"F={args.features}, N={args.steps}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| method | seconds | speed-up |")
    print("|---|---|---|")
    print(f"| seed 004: scipy sqrtm + inv per step | {seed_s:.3f} | 1.0x |")
    print(f"| optiscope full_matrix_adagrad_updates | {ours_s:.4f} | {seed_s / ours_s:.0f}x |")
    print(f"min cosine between the two methods' updates: {cosine.min():.6f}")


if __name__ == "__main__":
    main()
