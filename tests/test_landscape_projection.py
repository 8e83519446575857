"""A path and a gradient on the plot's plane, against numpy least squares and dense autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from optiscope.landscape.data_batches import iter_batches
from optiscope.landscape.directions import directions_from_vectors, random_directions
from optiscope.landscape.directions_base import LandscapeError
from optiscope.landscape.projection import PathProjection, gradient_on_plane, project_path
from optiscope.nets.recorder import flatten_parameters


def _flat_directions(matrix: np.ndarray):
    return directions_from_vectors(torch.from_numpy(matrix), [("w", (matrix.shape[1],))])


def _lstsq_reference(matrix: np.ndarray, displacements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and projections from numpy's least squares, one displacement at a time."""
    coords = np.array([np.linalg.lstsq(matrix.T, d, rcond=None)[0] for d in displacements])
    return coords, coords @ matrix


def test_non_orthogonal_directions_recover_known_coordinates() -> None:
    rng = np.random.default_rng(0)
    u = rng.normal(size=200)
    matrix = np.stack([u, 0.8 * u + 0.3 * rng.normal(size=200)])  # cosine about 0.94
    centre, known = rng.normal(size=200), rng.normal(size=(6, 2))
    path = centre + known @ matrix
    projection = project_path(path, centre, _flat_directions(matrix), steps=np.arange(0, 60, 10))
    np.testing.assert_allclose(projection.coords, known, rtol=0, atol=1e-10)
    np.testing.assert_allclose(projection.captured, 1.0, atol=1e-12)
    np.testing.assert_allclose(projection.residual_norms, 0.0, atol=1e-10)
    assert projection.coords.dtype == np.float64 and projection.steps.dtype == np.int64


def test_random_plane_captures_little_of_a_high_dimensional_path() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    matrix = rng.normal(size=(2, n))
    matrix[1] += 0.5 * matrix[0]
    centre = rng.normal(size=n)
    path = (centre + rng.normal(size=(5, n))).astype(np.float32)
    displacements = path.astype(np.float64) - centre
    projection = project_path(path, centre, _flat_directions(matrix))
    coords, projected = _lstsq_reference(matrix, displacements)
    np.testing.assert_allclose(projection.coords, coords, rtol=1e-8, atol=1e-12)
    shown, total = (projected**2).sum(axis=1), (displacements**2).sum(axis=1)
    np.testing.assert_allclose(projection.captured, shown / total, rtol=1e-8)
    np.testing.assert_allclose(projection.residual_norms, np.linalg.norm(displacements - projected, axis=1))
    assert projection.total_captured == pytest.approx(shown.sum() / total.sum(), rel=1e-8)
    assert projection.total_captured < 10 * 2 / n, "a random plane should show about 2/n of the path"


def test_zero_displacement_counts_as_captured_and_frame_columns() -> None:
    matrix = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    path = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, 1.0]])
    projection = project_path(path, np.zeros(3), _flat_directions(matrix), steps=[0, 5])
    np.testing.assert_allclose(projection.captured, [1.0, 5 / 6])
    assert projection.total_captured == pytest.approx(5 / 6)
    frame = projection.to_frame()
    assert list(frame.columns) == ["step", "alpha", "beta", "captured", "residual_norm"]
    np.testing.assert_allclose(frame[["alpha", "beta"]].to_numpy(), [[0.0, 0.0], [1.0, 1.0]], atol=1e-12)
    assert frame["step"].tolist() == [0, 5]
    line = project_path(path, np.zeros(3), _flat_directions(matrix[:1]))
    assert list(line.to_frame().columns) == ["step", "alpha", "captured", "residual_norm"]
    assert line.to_frame()["step"].tolist() == [0, 1] and line.steps is None


def test_path_projection_has_exactly_the_documented_fields() -> None:
    fields = list(PathProjection.__dataclass_fields__)
    assert fields == ["coords", "steps", "captured", "total_captured", "residual_norms"]


def test_project_path_rejects_bad_inputs() -> None:
    directions = _flat_directions(np.eye(2, 4))
    with pytest.raises(LandscapeError, match="snapshots must be"):
        project_path(np.zeros((3, 5)), np.zeros(5), directions)
    with pytest.raises(LandscapeError, match="center must"):
        project_path(np.zeros((3, 4)), np.zeros(5), directions)
    with pytest.raises(LandscapeError, match="steps must"):
        project_path(np.zeros((3, 4)), np.zeros(4), directions, steps=[0, 1])
    with pytest.raises(LandscapeError, match="parallel"):
        project_path(np.zeros((3, 4)), np.zeros(4), _flat_directions(np.ones((2, 4))))
    with pytest.raises(LandscapeError, match="NaN"):
        project_path(np.full((3, 4), np.nan), np.zeros(4), directions)


def _net_and_data() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    return model, torch.randn(20, 5), torch.randint(0, 3, (20,))


def _dense_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    model.eval()
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return torch.cat([g.reshape(-1) for g in grads]).double().numpy()


def test_gradient_on_plane_matches_a_dense_projected_gradient() -> None:
    model, x, y = _net_and_data()
    directions = random_directions(model, seed=3)
    model.train()
    plane = gradient_on_plane(model, nn.CrossEntropyLoss(), (x, y), directions)
    assert model.training, "the model's mode should be restored"
    assert all(p.grad is None for p in model.parameters()), ".grad should be left untouched"
    gradient = _dense_gradient(model, x, y)
    matrix = directions.matrix().double().numpy()
    coords = np.linalg.lstsq(matrix.T, gradient, rcond=None)[0]
    np.testing.assert_allclose(plane.coords, coords, rtol=1e-5, atol=1e-9)
    captured = np.sum((coords @ matrix) ** 2) / np.sum(gradient**2)
    assert plane.captured == pytest.approx(captured, rel=1e-5)
    assert plane.norm == pytest.approx(np.linalg.norm(gradient), rel=1e-6)


def test_batches_give_the_whole_pair_gradient() -> None:
    model, x, y = _net_and_data()
    directions = random_directions(model, normalization="layer", dims=1)
    whole = gradient_on_plane(model, nn.CrossEntropyLoss(), (x, y), directions)
    batches = list(iter_batches((x, y), batch_size=7))
    assert [len(batch_x) for batch_x, _ in batches] == [7, 7, 6]
    batched = gradient_on_plane(model, nn.CrossEntropyLoss(), batches, directions)
    np.testing.assert_allclose(batched.coords, whole.coords, rtol=1e-5)
    assert batched.norm == pytest.approx(whole.norm, rel=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gradient_on_plane_of_a_cuda_model_equals_the_cpu_one() -> None:
    model, x, y = _net_and_data()
    directions = random_directions(model, seed=4)
    expected = gradient_on_plane(model, nn.CrossEntropyLoss(), (x, y), directions)
    on_device = gradient_on_plane(model.cuda(), nn.CrossEntropyLoss(), (x, y), directions)
    np.testing.assert_allclose(on_device.coords, expected.coords, rtol=1e-4, atol=1e-7)


def test_project_path_takes_a_model_as_centre() -> None:
    model, _, _ = _net_and_data()
    directions = random_directions(model, seed=2)
    centre = flatten_parameters(model)
    path = torch.stack([centre + 0.5 * directions.flat(0) - 2.0 * directions.flat(1), centre])
    projection = project_path(path, model, directions)
    np.testing.assert_allclose(projection.coords, [[0.5, -2.0], [0.0, 0.0]], atol=1e-5)


def test_gradient_on_plane_rejects_bad_inputs() -> None:
    model, x, y = _net_and_data()
    other = random_directions(nn.Linear(5, 3))
    with pytest.raises(LandscapeError, match="do not fit"):
        gradient_on_plane(model, nn.CrossEntropyLoss(), (x, y), other)
    with pytest.raises(LandscapeError, match="no examples"):
        gradient_on_plane(model, nn.CrossEntropyLoss(), [], random_directions(model))


def test_iter_batches_forms_and_errors() -> None:
    x, y = torch.arange(10.0).reshape(5, 2), torch.arange(5)
    (whole_x, whole_y), *rest = list(iter_batches((x, y)))
    assert not rest and whole_x is x and whole_y is y
    assert [len(b[1]) for b in iter_batches([(x, y), [x[:2], y[:2]]])] == [5, 2]
    assert torch.equal(torch.cat([b[1] for b in iter_batches((x, y), batch_size=2)]), y)
    for bad in ([x], (x, y[:3]), [(x,)], 3):
        with pytest.raises(LandscapeError):
            list(iter_batches(bad))
    with pytest.raises(LandscapeError, match="batch_size"):
        list(iter_batches((x, y), batch_size=0))
