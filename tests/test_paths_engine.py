"""The path engine against its oracles: the plain per-run loop, a hand-written loop, known minima."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from optiscope.errors import IncompatibleOptimizerError, SpecError
from optiscope.optimizers import build_optimizer, list_entries, spec_from_factory
from optiscope.paths import DIVERGED, PathSet, basin_maps, run, start_grid
from optiscope.surfaces import get as get_surface

STARTS = np.array([[-1.5, 2.0], [0.5, -0.5], [1.2, 1.1], [-0.3, 0.8]])
BATCHABLE = [
    entry.name
    for entry in list_entries()
    if entry.elementwise and not entry.needs_matrix and entry.conformance_exception is None
]


def assert_paths_equal(left: PathSet, right: PathSet, rtol: float = 1e-12) -> None:
    np.testing.assert_array_equal(left.n_steps, right.n_steps, err_msg="steps taken differ")
    assert left.status == right.status
    np.testing.assert_allclose(
        left.points,
        right.points,
        rtol=rtol,
        atol=1e-300,
        equal_nan=True,
        err_msg="positions differ between batched and looped runs",
    )
    np.testing.assert_allclose(left.losses, right.losses, rtol=rtol, atol=1e-300, equal_nan=True)


def test_batchable_list_is_substantial() -> None:
    assert len(BATCHABLE) >= 40, f"only {len(BATCHABLE)} element-wise entries: {BATCHABLE}"
    for name in ("sgd", "momentum", "nag", "adam", "rmsprop", "adagrad", "lion"):
        assert name in BATCHABLE


@pytest.mark.parametrize("name", BATCHABLE)
def test_batched_equals_looped_for_every_elementwise_optimizer(name: str) -> None:
    surface = get_surface("rosenbrock")
    batched = run(surface, [name], STARTS, steps=12, tol=0.0)
    looped = run(surface, [name], STARTS, steps=12, tol=0.0, batched=False)
    assert batched.info["batched"] == [True] and looped.info["batched"] == [False]
    assert_paths_equal(batched, looped)


def test_engine_equals_a_hand_written_loop() -> None:
    """The seed-002 way: one parameter, one optimizer, zero_grad/backward/step per run."""
    surface = get_surface("rosenbrock")
    specs = ["sgd:lr=0.001", "adam:lr=0.05", "nag:lr=0.001,momentum=0.9"]
    paths = run(surface, specs, STARTS, steps=40, tol=0.0)
    for config, spec in enumerate(specs):
        for index, start in enumerate(STARTS):
            weights = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
            optimizer = build_optimizer(spec, [weights])
            track = [weights.detach().clone()]
            for _ in range(40):
                optimizer.zero_grad()
                x, y = weights[0], weights[1]
                loss = (1 - x) ** 2 + 100 * (y - x**2) ** 2  # Rosenbrock written out
                loss.backward()
                optimizer.step()
                track.append(weights.detach().clone())
            expected = torch.stack(track).numpy()
            got = paths.points[config * len(STARTS) + index]
            np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=f"{spec} from {start}")


def test_a_divergence_stops_only_that_run() -> None:
    surface = get_surface("ill_conditioned:condition=10")
    # Plain GD on 0.5 p^T A p diverges when lr * lambda_max > 2; lambda_max = 10 here.
    starts = np.array([[1.0, 0.0], [0.0, 1.0]])
    paths = run(surface, ["sgd:lr=0.25"], starts, steps=400, tol=1e-10)
    statuses = dict(zip(map(tuple, starts), paths.status, strict=True))
    # Along the lambda=1 eigenvector the same lr converges (|1 - 0.25| < 1); along lambda=10 it
    # blows up (|1 - 2.5| > 1); the eigenvectors depend on the surface's rotation, so check both.
    assert sorted(statuses.values()) == ["converged", "diverged"]
    diverged = paths.status.index("diverged")
    last = paths.n_steps[diverged]
    assert last < 400 and np.isnan(paths.points[diverged, last + 1 :]).all()
    converged = paths.status.index("converged")
    np.testing.assert_allclose(paths.final_points[converged], [0.0, 0.0], atol=1e-9)


@pytest.mark.parametrize(
    ("surface_name", "spec"),
    [
        ("booth", "sgd:lr=0.05"),
        ("rosenbrock", "lbfgs:lr=1,tolerance_change=1e-20,tolerance_grad=1e-12"),
    ],
)
def test_runs_converge_to_the_known_minimum(surface_name: str, spec: str) -> None:
    surface = get_surface(surface_name)
    paths = run(surface, [spec], steps=3000, tol=1e-7)
    assert paths.status == ["converged"]
    np.testing.assert_allclose(paths.final_points[0], surface.minima[0], atol=1e-5)
    assert paths.grad_norms[0, paths.n_steps[0]] <= 1e-7


def test_gradient_noise_is_reproducible_and_independent_of_batching() -> None:
    surface = get_surface("booth")
    noisy = run(surface, ["sgd:lr=0.01"], STARTS, steps=30, grad_noise=0.5, seed=3)
    again = run(surface, ["sgd:lr=0.01"], STARTS, steps=30, grad_noise=0.5, seed=3, batched=False)
    other_seed = run(surface, ["sgd:lr=0.01"], STARTS, steps=30, grad_noise=0.5, seed=4)
    clean = run(surface, ["sgd:lr=0.01"], STARTS, steps=30)
    assert_paths_equal(noisy, again)
    assert not np.allclose(noisy.points, other_seed.points)
    # After one SGD step the noisy and clean paths differ by exactly lr * noise (std 0.005).
    drift = noisy.points[:, 1] - clean.points[:, 1]
    assert 0.001 < np.abs(drift).mean() < 0.05


def test_stochastic_surface_uses_minibatches_and_batches_exactly() -> None:
    surface = get_surface("regression_mse:batch_size=8")
    batched = run(surface, ["sgd:lr=0.1"], STARTS, steps=300)
    looped = run(surface, ["sgd:lr=0.1"], STARTS, steps=300, batched=False)
    assert_paths_equal(batched, looped)
    full = get_surface("regression_mse:batch_size=0")
    deterministic = run(full, ["sgd:lr=0.1"], STARTS, steps=300)
    assert not np.allclose(batched.points, deterministic.points), "mini-batches must change the path"
    # Both end near the least-squares fit; the mini-batch path jitters around it.
    np.testing.assert_allclose(deterministic.final_points, np.repeat([full.minima[0]], 4, 0), atol=0.05)
    assert np.abs(batched.final_points - np.array(full.minima[0])).max() < 0.5


def test_matrix_only_optimizer_is_refused() -> None:
    matrix_only = [entry.name for entry in list_entries() if entry.needs_matrix]
    assert "muon" in matrix_only
    with pytest.raises(IncompatibleOptimizerError, match="muon"):
        run(get_surface("booth"), ["muon"], steps=5)


def test_create_graph_optimizer_runs() -> None:
    paths = run(get_surface("booth"), ["adahessian:lr=0.5"], steps=60)
    assert paths.final_losses[0] < paths.losses[0, 0]


@pytest.mark.parametrize("steps", [0, -3])
def test_bad_steps_are_refused(steps: int) -> None:
    with pytest.raises(SpecError, match="steps"):
        run(get_surface("booth"), ["sgd"], steps=steps)


def test_bad_starts_are_refused() -> None:
    with pytest.raises(SpecError, match="start"):
        run(get_surface("booth"), ["sgd"], [[np.nan, 1.0]], steps=5)
    with pytest.raises(SpecError, match="shape"):
        run(get_surface("booth"), ["sgd"], [[1.0, 2.0, 3.0]], steps=5)


def test_frames_have_the_contract_columns_and_round_trip() -> None:
    paths = run(get_surface("booth"), ["sgd:lr=0.05", "adam:lr=0.3"], STARTS, steps=50, tol=1e-6)
    long = paths.to_frame()
    assert list(long.columns) == [
        "run",
        "optimizer",
        "spec",
        "start_x",
        "start_y",
        "step",
        "x",
        "y",
        "loss",
        "grad_norm",
    ]
    assert len(long) == int((paths.n_steps + 1).sum())
    runs = paths.runs_frame()
    assert list(runs.columns) == [
        "run",
        "optimizer",
        "spec",
        "start_x",
        "start_y",
        "status",
        "steps",
        "final_loss",
        "final_x",
        "final_y",
        "rule",  # why the run ended so (optiscope.paths.outcomes)
        "outcome_step",  # the step that rule names
    ]
    booth = long[["x", "y"]].to_numpy()
    np.testing.assert_allclose(
        long["loss"],
        (booth[:, 0] + 2 * booth[:, 1] - 7) ** 2 + (2 * booth[:, 0] + booth[:, 1] - 5) ** 2,
        rtol=1e-12,
    )
    back = PathSet.from_frames(long, runs, surface="booth", labels=paths.labels, steps=50)
    assert_paths_equal(back, paths, rtol=0)
    pd.testing.assert_frame_equal(back.runs_frame(), runs)


def test_basin_maps_label_the_minimum_each_start_reaches() -> None:
    surface = get_surface("himmelblau")
    xs, ys, starts = start_grid(surface, 9)
    paths = run(surface, ["sgd:lr=0.01"], starts, steps=400, tol=1e-8)
    (basins,) = basin_maps(paths, surface, xs, ys)
    assert basins.basin.shape == (9, 9)
    minima = np.asarray(surface.minima)
    finals = paths.final_points.reshape(9, 9, 2)
    for i in range(9):
        for j in range(9):
            label = basins.basin[i, j]
            if label >= 0:
                assert np.linalg.norm(finals[i, j] - minima[label]) <= basins.radius
    # Himmelblau has four global minima and plain GD from a 9x9 grid finds all of them.
    assert set(np.unique(basins.basin[basins.basin >= 0])) == {0, 1, 2, 3}
    assert basins.fractions()["diverged"] == pytest.approx((basins.basin == DIVERGED).mean())


class _BreaksAtStepThree(torch.optim.SGD):
    """SGD whose own arithmetic fails on its third step, as some library optimizers do."""

    def step(self, closure=None):  # type: ignore[override]
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 3:
            raise ZeroDivisionError("float division by zero")
        return super().step(closure)


def test_an_optimizer_that_breaks_down_is_recorded_as_diverged_not_a_crash() -> None:
    spec = spec_from_factory(_BreaksAtStepThree, lr=0.01)
    paths = run(get_surface("booth"), [spec, "sgd:lr=0.01"], STARTS[:2], steps=10, batched=False)
    assert paths.status == ["diverged", "diverged", "max_steps", "max_steps"]
    np.testing.assert_array_equal(paths.n_steps, [2, 2, 10, 10])
    assert np.isfinite(paths.points[:2, :3]).all() and np.isnan(paths.points[:2, 3:]).all()
