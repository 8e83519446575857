"""Principal axes of one or several training paths around one common centre.

Li et al. (2018, sec. 7) draw a path on the plane of its own principal axes; paths of several
optimizers then live on planes of their own and cannot be compared. Here all runs' displacements
``d = snapshot - centre`` from one common centre are stacked into one ``(K, n_params)`` matrix
``D`` (``K`` snapshots over all runs) and its top right-singular vectors span the shared plane.
They come from the eigenvectors ``u_j`` of the ``K x K`` Gram matrix ``D D^T`` (float64), as
``v_j = D^T u_j / sqrt(lambda_j)``, so millions of parameters cost ``K^2 n_params``. Since
``D v_j = sqrt(lambda_j) u_j``, each snapshot's square on the plane, and each run's captured
fraction, come from the Gram matrix with no second pass over the weights.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from optiscope.landscape.directions_base import DegeneratePathError, LandscapeError
from optiscope.landscape.projection import _BLOCK_ENTRIES, _as_path, _as_point

__all__ = ["CENTRES", "PrincipalAxes", "is_run_list", "joint_centre", "principal_axes"]

CENTRES = ("final", "mean")  # besides an integer run index or an explicit vector
# An eigenvalue of the displacements' Gram matrix below this fraction of the largest is rank lost.
_RANK_RTOL = 1e-10

Centre = int | str | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class PrincipalAxes:
    """The top principal axes of stacked displacements, and what each run keeps on them.

    Attributes:
        axes: ``(dims, n_params)`` float64 unit vectors, orthonormal.
        explained_variance_ratio: ``(dims,)`` share of ``||D||_F^2`` per axis.
        captured_per_run: ``(runs,)`` ``sum_i ||P d_i||^2 / sum_i ||d_i||^2`` over each run's
            snapshots (1.0 for a run that never leaves the centre).
        snapshots_per_run: ``(runs,)`` snapshot counts.
    """

    axes: torch.Tensor
    explained_variance_ratio: np.ndarray
    captured_per_run: np.ndarray
    snapshots_per_run: np.ndarray


def is_run_list(snapshots: object) -> bool:
    """Whether ``snapshots`` is a list or tuple of paths (each a 2-D array or tensor), not one path."""
    return (
        isinstance(snapshots, list | tuple)
        and len(snapshots) > 0
        and all(isinstance(p, np.ndarray | torch.Tensor) and p.ndim == 2 for p in snapshots)
    )


def _checked_runs(runs: Sequence[np.ndarray | torch.Tensor]) -> list[np.ndarray]:
    """Each run's path checked as ``(k_r, n_params)``; one parameter count for all of them."""
    if not is_run_list(runs):
        raise LandscapeError("give the runs' paths as a list of float arrays (k_r, n_params)")
    paths = [_as_path(run) for run in runs]
    counts = [path.shape[1] for path in paths]
    for index, count in enumerate(counts):
        if count != counts[0]:
            raise LandscapeError(
                f"run {index} has {count} parameters, run 0 has {counts[0]}: one plane needs runs of "
                "one architecture (the same parameter layout)"
            )
        if len(paths[index]) == 0:
            raise LandscapeError(f"run {index} holds no snapshots")
    return paths


def joint_centre(runs: Sequence[np.ndarray | torch.Tensor], centre: Centre = 0) -> np.ndarray:
    """The common centre ``(n_params,)`` float64 of several runs' paths.

    Args:
        runs: each run's path ``(k_r, n_params)``, its last row the run's final weights.
        centre: an integer ``r`` (run ``r``'s final weights), ``"final"`` (run 0's),
            ``"mean"`` (the mean of the runs' final weights), or an explicit vector.

    Raises:
        LandscapeError: runs of different parameter counts, a run index out of range, an unknown
            name, or a vector of the wrong size.
    """
    paths = _checked_runs(runs)
    n_params = paths[0].shape[1]
    if isinstance(centre, str):
        if centre not in CENTRES:
            raise LandscapeError(
                f"centre must be a run index, {' or '.join(CENTRES)}, or a vector; got {centre!r}"
            )
        if centre == "mean":
            return np.mean([path[-1].astype(np.float64) for path in paths], axis=0)
        centre = 0
    if isinstance(centre, int) and not isinstance(centre, bool):
        if not 0 <= centre < len(paths):
            raise LandscapeError(f"centre run {centre} is out of range: {len(paths)} runs given")
        return paths[centre][-1].astype(np.float64)
    return _as_point(centre, n_params, "centre")


def _stacked_blocks(paths: list[np.ndarray], centre: np.ndarray) -> Iterator[tuple[slice, torch.Tensor]]:
    """``(cols, D[:, cols])`` of the stacked displacements, in float64 blocks of bounded size."""
    total = sum(len(path) for path in paths)
    width = max(1, _BLOCK_ENTRIES // max(total, 1))
    for start in range(0, centre.shape[0], width):
        cols = slice(start, start + width)
        block = np.concatenate([path[:, cols].astype(np.float64) for path in paths]) - centre[cols]
        yield cols, torch.from_numpy(block)


def principal_axes(paths: list[np.ndarray], centre: np.ndarray, dims: int) -> PrincipalAxes:
    """The top ``dims`` right-singular vectors of all runs' displacements from ``centre``.

    Displacements are not mean-centred, so the plane passes through ``centre``. Each axis' sign
    makes its largest-magnitude entry of ``u_j`` positive, so the result is deterministic.

    Raises:
        DegeneratePathError: the displacements span fewer than ``dims`` dimensions.
    """
    sizes = np.array([len(path) for path in paths])
    gram = torch.zeros((int(sizes.sum()),) * 2, dtype=torch.float64)
    for _, block in _stacked_blocks(paths, centre):
        gram += block @ block.T
    gram_np = gram.numpy()
    eigenvalues, eigenvectors = np.linalg.eigh(gram_np)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = np.clip(eigenvalues[order], 0.0, None), eigenvectors[:, order]
    rank = int((eigenvalues > _RANK_RTOL * eigenvalues[0]).sum()) if eigenvalues[0] > 0 else 0
    if rank < dims:
        raise DegeneratePathError(f"the path's displacements span {rank} dimension(s); PCA needs {dims}")
    top = eigenvectors[:, :dims]
    top = top * np.sign(top[np.abs(top).argmax(axis=0), np.arange(dims)])
    coefficients = torch.from_numpy(top / np.sqrt(eigenvalues[:dims]))
    axes = torch.empty((dims, centre.shape[0]), dtype=torch.float64)
    for cols, block in _stacked_blocks(paths, centre):
        axes[:, cols] = coefficients.T @ block
    axes /= torch.linalg.vector_norm(axes, dim=1, keepdim=True)
    shown = (top**2 * eigenvalues[:dims]).sum(axis=1)  # ||P d_i||^2 = sum_j lambda_j u_ij^2
    squares = np.diag(gram_np)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    captured = np.array([
        shown[a:b].sum() / squares[a:b].sum() if squares[a:b].sum() > 0 else 1.0
        for a, b in itertools.pairwise(bounds)
    ])  # fmt: skip
    return PrincipalAxes(axes, eigenvalues[:dims] / eigenvalues.sum(), captured, sizes)
