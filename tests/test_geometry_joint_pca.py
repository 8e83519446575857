"""Joint PCA of several runs' paths, checked against a dense SVD of the stacked displacements."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optiscope.landscape import LandscapeError, pca_directions, project_path
from optiscope.landscape.joint_pca import joint_centre
from optiscope.landscape.joint_plane import joint_plane, model_at

N = 300
LAYOUT = [("w", (20, 10)), ("b", (100,))]


def _path_in_plane(
    rng: np.random.Generator, end: np.ndarray, u: np.ndarray, v: np.ndarray, k: int
) -> np.ndarray:
    """A ``k``-snapshot path ``end + a_i u + b_i v`` that finishes at ``end``."""
    a, b = rng.normal(size=k), rng.normal(size=k)
    a[-1] = b[-1] = 0.0
    return end + a[:, None] * u + b[:, None] * v


def _dense_captured(
    paths: list[np.ndarray], centre: np.ndarray, dims: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """(top right-singular vectors (dims, n), each run's captured fraction) by numpy's SVD."""
    stacked = np.concatenate(paths) - centre
    _, _, right = np.linalg.svd(stacked, full_matrices=False)
    plane = right[:dims]
    fractions = []
    for path in paths:
        d = path - centre
        fractions.append(((d @ plane.T) ** 2).sum() / (d**2).sum())
    return plane, np.array(fractions)


def test_two_paths_in_one_plane_are_captured_whole() -> None:
    rng = np.random.default_rng(0)
    centre = rng.normal(size=N)
    u, v = rng.normal(size=N), rng.normal(size=N)
    # run a ends at the centre; run b ends elsewhere on the same plane (another minimum).
    path_a = _path_in_plane(rng, centre, u, v, 8)
    path_b = _path_in_plane(rng, centre + 0.7 * u - 1.3 * v, u, v, 11)
    directions = pca_directions([path_a, path_b], layout=LAYOUT)
    assert directions.kind == "pca-joint" and directions.meta["center"] == "final:0"
    assert directions.meta["n_snapshots_per_run"] == [8, 11] and directions.meta["runs"] == 2
    np.testing.assert_allclose(directions.meta["captured_per_run"], [1.0, 1.0], atol=1e-9)
    for path in (path_a, path_b):
        projection = project_path(path, centre, directions)
        assert projection.total_captured == pytest.approx(1.0, abs=1e-6)
        assert projection.residual_norms.max() < 1e-6 * np.abs(path - centre).max()
    plane, _ = _dense_captured([path_a, path_b], centre)
    axes = directions.matrix().double().numpy()
    # Same plane: the projector onto our axes equals the SVD's.
    np.testing.assert_allclose(axes.T @ axes, plane.T @ plane, atol=1e-9)


def test_paths_in_different_planes_report_each_runs_share_as_the_svd_does() -> None:
    rng = np.random.default_rng(1)
    start = rng.normal(size=N)
    path_a = _path_in_plane(rng, start + rng.normal(size=N), rng.normal(size=N), rng.normal(size=N), 10)
    path_b = _path_in_plane(rng, start + rng.normal(size=N), rng.normal(size=N), rng.normal(size=N), 6)
    path_c = _path_in_plane(rng, start + rng.normal(size=N), rng.normal(size=N), rng.normal(size=N), 7)
    for centre_choice in (1, "mean"):
        directions = pca_directions([path_a, path_b, path_c], layout=LAYOUT, centre=centre_choice)
        centre = joint_centre([path_a, path_b, path_c], centre_choice)
        plane, fractions = _dense_captured([path_a, path_b, path_c], centre)
        captured = np.array(directions.meta["captured_per_run"])
        np.testing.assert_allclose(captured, fractions, rtol=1e-8, err_msg=f"centre {centre_choice}")
        assert captured.min() < 0.9, f"different planes should not all be captured: {captured}"
        axes = directions.matrix().double().numpy()
        np.testing.assert_allclose(np.abs(np.sum(axes * plane, axis=1)), 1.0, atol=1e-8)
        for path, fraction in zip((path_a, path_b, path_c), fractions, strict=True):
            assert project_path(path, centre, directions).total_captured == pytest.approx(fraction, rel=1e-8)
    mean_centre = joint_centre([path_a, path_b, path_c], "mean")
    np.testing.assert_allclose(mean_centre, (path_a[-1] + path_b[-1] + path_c[-1]) / 3)
    assert directions.meta["center"] == "mean"


def test_one_run_in_a_list_is_the_single_path_pca() -> None:
    path = np.random.default_rng(2).normal(size=(9, N)).cumsum(axis=0)
    joint = pca_directions([torch.from_numpy(path)], layout=LAYOUT)
    single = pca_directions(path, layout=LAYOUT)
    np.testing.assert_allclose(joint.matrix().numpy(), single.matrix().numpy(), atol=1e-12)
    assert joint.meta["captured_per_run"][0] == pytest.approx(sum(single.meta["explained_variance_ratio"]))


def test_runs_of_different_architectures_are_refused() -> None:
    rng = np.random.default_rng(3)
    with pytest.raises(LandscapeError, match="run 1 has 200 parameters, run 0 has 300"):
        pca_directions([rng.normal(size=(5, N)), rng.normal(size=(5, 200))], layout=LAYOUT)
    paths = [rng.normal(size=(5, N)), rng.normal(size=(4, N))]
    with pytest.raises(LandscapeError, match="out of range"):
        pca_directions(paths, layout=LAYOUT, centre=2)
    with pytest.raises(LandscapeError, match="centre must be"):
        pca_directions(paths, layout=LAYOUT, centre="median")
    with pytest.raises(LandscapeError, match="centre="):
        pca_directions(paths, final=paths[0][-1], layout=LAYOUT)


def test_joint_plane_projects_every_run_and_moves_a_model_to_the_centre() -> None:
    rng = np.random.default_rng(5)
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    n = sum(p.numel() for p in model.parameters())
    start = rng.normal(size=n)
    paths = [start + rng.normal(size=(6, n)).cumsum(axis=0) * 0.1 for _ in range(2)]
    plane = joint_plane(paths, model, centre="mean", steps=[np.arange(6), np.arange(0, 12, 2)])
    np.testing.assert_allclose(plane.centre, (paths[0][-1] + paths[1][-1]) / 2)
    _, fractions = _dense_captured(paths, plane.centre)
    np.testing.assert_allclose([p.total_captured for p in plane.projections], fractions, rtol=1e-8)
    frame = plane.path_frame(["a", "b"])
    assert frame["run"].tolist() == ["a"] * 6 + ["b"] * 6 and frame["step"].iloc[-1] == 10
    moved = model_at(model, plane.centre)
    flat = torch.nn.utils.parameters_to_vector(moved.parameters()).detach().double().numpy()
    np.testing.assert_allclose(flat, plane.centre, rtol=1e-6)
