"""Li et al.'s convexity map against dense eigenvalues of a tiny MLP's Hessian at grid points."""

from __future__ import annotations

import numpy as np
import torch

from optiscope.landscape import random_directions
from optiscope.landscape.convexity import convexity_map, snake_order
from optiscope.landscape.joint_plane import model_at
from test_curvature_fixtures import LOSS, dense_hessian, digits, mlp


def test_extreme_eigenvalues_on_the_grid_match_dense_hessians() -> None:
    model = mlp(seed=3)
    x, y = digits(60)
    directions = random_directions(model, seed=1)
    axis = np.array([-0.5, 0.0, 0.5])
    found = convexity_map(model, LOSS, (x, y), directions, axis, axis, tol=1e-8)
    centre = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    plane = directions.matrix().double()
    for i, j in [(0, 0), (1, 1), (2, 1)]:
        moved = model_at(model, centre + axis[i] * plane[0] + axis[j] * plane[1])
        w = np.linalg.eigvalsh(dense_hessian(moved, x, y))
        assert abs(found.lambda_max[i, j] - w[-1]) <= 1e-8 * abs(w[-1]), (
            f"({i}, {j}) max {found.lambda_max[i, j]} vs {w[-1]}"
        )
        assert abs(found.lambda_min[i, j] - w[0]) <= 1e-8 * abs(w[0]), (
            f"({i}, {j}) min {found.lambda_min[i, j]} vs {w[0]}"
        )
        assert found.ratio[i, j] == abs(w[0] / w[-1]) or np.isclose(
            found.ratio[i, j], abs(w[0] / w[-1]), rtol=1e-7
        )


def test_warm_starts_from_neighbours_save_products() -> None:
    model = mlp(seed=4)
    x, y = digits(60)
    directions = random_directions(model, seed=2)
    axis = np.array([-0.02, 0.02])
    warm = convexity_map(model, LOSS, (x, y), directions, axis, axis, tol=1e-4)
    cold = convexity_map(model, LOSS, (x, y), directions, axis, axis, tol=1e-4, warm=False)
    np.testing.assert_allclose(warm.lambda_max, cold.lambda_max, rtol=2e-4)
    assert warm.products.sum() < cold.products.sum(), (
        f"warm {warm.products.sum()} vs cold {cold.products.sum()}"
    )
    assert snake_order(2, 3) == [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)]
