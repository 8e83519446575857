"""The landscape grid engines against the per-point loop oracle, closed forms and round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from optiscope.landscape.directions_base import Directions, LandscapeError
from optiscope.landscape.evaluate import evaluate, evaluate_points
from optiscope.landscape.first_layer import first_layer_plan
from optiscope.landscape.grid import DEFAULT_POINTS, LandscapeGrid, grid_axes
from optiscope.landscape.reference import evaluate_points_loop
from optiscope.nets import build_model

RTOL = {torch.float32: 1e-5, torch.float64: 1e-10}
SHAPE, CLASSES = (1, 8, 8), 4


pytestmark = pytest.mark.usefixtures("one_thread")


def random_directions(model: nn.Module, dims: int, seed: int = 0, scale: float = 0.2) -> Directions:
    generator = torch.Generator().manual_seed(seed)
    vectors = tuple(
        {
            name: scale * torch.randn(p.shape, generator=generator, dtype=p.dtype)
            for name, p in model.named_parameters()
        }
        for _ in range(dims)
    )
    return Directions(vectors, kind="custom", meta={"seed": seed})


def unequal_batches(
    dtype: torch.dtype, samples: int = 21, seed: int = 1
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, *SHAPE, generator=generator, dtype=dtype)
    y = torch.randint(0, CLASSES, (samples,), generator=generator)
    return [(x[:8], y[:8]), (x[8:11], y[8:11]), (x[11:], y[11:])]


def make_model(name: str, dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, SHAPE, CLASSES).to(dtype)


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, what: str) -> None:
    worst = np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), 1e-30))
    assert worst <= rtol, f"{what}: max relative difference {worst:.3g} > {rtol:g}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["mlp", "cnn", "lenet"])
@pytest.mark.parametrize("engine", ["first_layer", "vmap"])
def test_engine_equals_loop_oracle_on_a_plane(engine: str, name: str, dtype: torch.dtype) -> None:
    model, data = make_model(name, dtype), unequal_batches(dtype)
    directions = random_directions(model, 2)
    alphas, betas = np.linspace(-1, 1, 3), np.linspace(-0.5, 1.0, 4)  # non-square
    grid = evaluate(model, nn.CrossEntropyLoss(), data, directions, alphas, betas, engine=engine)
    coords = np.stack(np.meshgrid(alphas, betas, indexing="ij"), axis=-1).reshape(-1, 2)
    loss, accuracy = evaluate_points_loop(model, nn.CrossEntropyLoss(), data, directions, coords)
    assert grid.loss.shape == (3, 4) and grid.attrs["engine"] == engine
    assert_close(grid.loss.ravel(), loss, RTOL[dtype], f"{engine} vs loop loss ({name}, {dtype})")
    np.testing.assert_array_equal(grid.accuracy.ravel(), accuracy, err_msg=f"{engine} vs loop accuracy")
    assert grid.attrs["samples"] == 21


@pytest.mark.parametrize("engine", ["first_layer", "vmap"])
@pytest.mark.parametrize("name", ["mlp", "lenet"])
def test_engine_equals_loop_on_a_line_with_tiny_budget(engine: str, name: str) -> None:
    """A budget far below one batch forces slices of samples and one point per chunk."""
    model, data = make_model(name, torch.float64), unequal_batches(torch.float64)
    directions = random_directions(model, 1)
    alphas = np.linspace(-0.5, 1.5, 3)
    grid = evaluate(
        model, F.cross_entropy, data, directions, alphas, engine=engine, memory_budget_bytes=20_000
    )
    loss, _ = evaluate_points_loop(model, F.cross_entropy, data, directions, alphas[:, None])
    assert grid.betas is None and grid.loss.shape == (3,)
    assert_close(grid.loss, loss, 1e-10, f"{engine} 1-D vs loop")


def test_centre_is_the_models_own_mean_loss() -> None:
    model, data = make_model("cnn", torch.float64), unequal_batches(torch.float64)
    grid = evaluate(
        model, nn.CrossEntropyLoss(), data, random_directions(model, 2), grid_axes(1.0, 5), grid_axes(1.0, 3)
    )
    with torch.no_grad():
        x, y = torch.cat([b[0] for b in data]), torch.cat([b[1] for b in data])
        own = float(F.cross_entropy(model.eval()(x), y))
    assert grid.center_index() == (2, 1)
    assert abs(grid.loss[2, 1] - own) <= 1e-12 * own, f"centre {grid.loss[2, 1]} vs model's loss {own}"


@pytest.mark.parametrize("engine", ["auto", "first_layer", "vmap", "loop"])
def test_quadratic_loss_matches_closed_form(engine: str) -> None:
    """L(w) = mean((X w - y)^2) for a bias-free Linear: a quadratic in (a, b), written out."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(30, 5, generator=generator, dtype=torch.float64)
    y = torch.randn(30, 1, generator=generator, dtype=torch.float64)
    model = nn.Linear(5, 1, bias=False).double()
    directions = random_directions(model, 2, seed=4, scale=1.0)
    alphas, betas = np.linspace(-1, 1, 4), np.linspace(-2, 2, 3)
    grid = evaluate(
        model, nn.MSELoss(), [(x[:13], y[:13]), (x[13:], y[13:])], directions, alphas, betas, engine=engine
    )
    w, u, v = (
        t.reshape(-1).numpy() for t in (model.weight.detach(), *(d["weight"] for d in directions.vectors))
    )
    xn, yn = x.numpy(), y.numpy().ravel()
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    r0, ru, rv = xn @ w - yn, xn @ u, xn @ v
    closed = (np.mean(r0**2) + 2 * a * np.mean(r0 * ru) + 2 * b * np.mean(r0 * rv)
              + a**2 * np.mean(ru**2) + 2 * a * b * np.mean(ru * rv) + b**2 * np.mean(rv**2))  # fmt: skip
    assert_close(grid.loss, closed, 1e-10, f"{engine} vs closed-form quadratic")
    assert np.all(np.isnan(grid.accuracy)), "float targets must give NaN accuracy"


@pytest.mark.parametrize("engine", ["auto", "first_layer", "vmap", "loop"])
def test_weights_and_modes_are_restored(engine: str) -> None:
    model = make_model("mlp", torch.float32)
    model.train()
    model[2].eval()  # a mixed mode must come back as it was
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    evaluate(model, nn.CrossEntropyLoss(), unequal_batches(torch.float32), random_directions(model, 2),
             [-1.0, 1.0], [0.5], engine=engine)  # fmt: skip
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), f"{engine} changed {name}"
    assert model.training and not model[2].training and model[1].training


def test_loop_restores_weights_on_error() -> None:
    model = make_model("mlp", torch.float32)
    before = [p.detach().clone() for p in model.parameters()]

    def failing_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        evaluate_points_loop(
            model, failing_loss, unequal_batches(torch.float32), random_directions(model, 1), [[1.0]]
        )
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))


class Residual(nn.Module):
    """Not a Sequential: the input is used twice, so first_layer cannot apply."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(64, 64)
        self.head = nn.Linear(64, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return self.head(x + torch.tanh(self.inner(x)))


def test_custom_module_runs_through_vmap_with_loop_numbers() -> None:
    torch.manual_seed(0)
    model = Residual().double()
    data, directions = unequal_batches(torch.float64), random_directions(model, 2)
    grid = evaluate(model, nn.CrossEntropyLoss(), data, directions, [-1.0, 0.0, 2.0], [0.0, 1.0])
    assert grid.attrs["engine"] == "vmap" and "first_layer does not apply" in grid.attrs["engine_reason"]
    coords = [[a, b] for a in (-1.0, 0.0, 2.0) for b in (0.0, 1.0)]
    loss, accuracy = evaluate_points_loop(model, nn.CrossEntropyLoss(), data, directions, coords)
    assert_close(grid.loss.ravel(), loss, 1e-10, "vmap vs loop on a residual block")
    np.testing.assert_array_equal(grid.accuracy.ravel(), accuracy)


def test_auto_engine_choice_is_recorded() -> None:
    model = make_model("lenet", torch.float32)
    grid = evaluate(
        model, nn.CrossEntropyLoss(), unequal_batches(torch.float32), random_directions(model, 1), [0.0]
    )
    assert grid.attrs["engine"] == "first_layer" and "conv1" in grid.attrs["engine_reason"]
    assert first_layer_plan(Residual())[0] is None
    torch.manual_seed(0)
    bn = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, CLASSES))
    bn.eval()(torch.randn(4, *SHAPE))
    buffers = tuple({"2.running_mean": torch.full((8,), s)} for s in (0.1, -0.2))
    moving = Directions(random_directions(bn, 2).vectors, buffers=buffers)
    grid = evaluate(bn, nn.CrossEntropyLoss(), unequal_batches(torch.float32), moving, [0.0, 1.0], [1.0])
    assert grid.attrs["engine"] == "vmap" and "buffers" in grid.attrs["engine_reason"]
    loss, _ = evaluate_points_loop(
        bn, nn.CrossEntropyLoss(), unequal_batches(torch.float32), moving, [[0, 1], [1, 1]]
    )
    assert_close(grid.loss.ravel(), loss, 1e-5, "vmap with moving buffers vs loop")


def test_loss_that_cannot_run_under_vmap_falls_back_to_loop() -> None:
    model = make_model("mlp", torch.float64)

    def item_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tensor(F.cross_entropy(logits, y).item(), dtype=logits.dtype)  # no .item() under vmap

    data, directions = unequal_batches(torch.float64), random_directions(model, 1)
    grid = evaluate(model, item_loss, data, directions, [0.0, 1.0])
    assert grid.attrs["engine"] == "loop" and "ran the loop instead" in grid.attrs["engine_reason"]
    expected, _ = evaluate_points_loop(model, F.cross_entropy, data, directions, [[0.0], [1.0]])
    assert_close(grid.loss, expected, 1e-12, "fallback loop")
    with pytest.raises(RuntimeError):
        evaluate(model, item_loss, data, directions, [0.0], engine="vmap")


def test_non_finite_losses_are_results() -> None:
    model = make_model("mlp", torch.float32)
    directions = random_directions(model, 1, scale=1.0)
    grid = evaluate(model, nn.CrossEntropyLoss(), unequal_batches(torch.float32), directions, [0.0, 1e38])
    assert np.isfinite(grid.loss[0]) and not np.isfinite(grid.loss[1])


def test_bad_requests_raise_landscape_error() -> None:
    model = make_model("mlp", torch.float32)
    data, line, plane = (
        unequal_batches(torch.float32),
        random_directions(model, 1),
        random_directions(model, 2),
    )
    for call in (
        lambda: evaluate(model, F.cross_entropy, data, plane, [0.0]),  # plane without betas
        lambda: evaluate(model, F.cross_entropy, data, line, [0.0], [1.0]),  # line with betas
        lambda: evaluate(model, F.cross_entropy, data, line, [np.nan]),
        lambda: evaluate(model, F.cross_entropy, data, line, []),
        lambda: evaluate(model, F.cross_entropy, data, line, [0.0], engine="fast"),
        lambda: evaluate_points(model, F.cross_entropy, data, plane, [[0.0]]),
        lambda: evaluate(
            Residual(), F.cross_entropy, data, random_directions(Residual(), 1), [0.0], engine="first_layer"
        ),
        lambda: evaluate(make_model("cnn", torch.float32), F.cross_entropy, data, line, [0.0]),
        lambda: grid_axes(points=0),
        lambda: grid_axes(span=-1.0),
    ):
        with pytest.raises(LandscapeError):
            call()


def test_data_as_tensor_pair_and_dtype_argument() -> None:
    model, batches = make_model("cnn", torch.float32), unequal_batches(torch.float32)
    pair = (torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
    directions = random_directions(model, 2)
    grid = evaluate(model, nn.CrossEntropyLoss(), pair, directions, [0.0, 0.5], [-1.0], dtype=torch.float64)
    loss, _ = evaluate_points_loop(
        model.double(), nn.CrossEntropyLoss(), batches, directions, [[0.0, -1.0], [0.5, -1.0]]
    )
    assert grid.attrs["dtype"] == "float64" and "X(21, 1, 8, 8)" in grid.attrs["data"]
    assert_close(grid.loss.ravel(), loss, 1e-10, "float64 copy vs float64 loop")


def test_netcdf_bytes_round_trip_is_equal() -> None:
    model = make_model("mlp", torch.float32)
    grid = evaluate(model, nn.CrossEntropyLoss(), unequal_batches(torch.float32), random_directions(model, 2),
                    grid_axes(1.0, 3), grid_axes(0.5, 2))  # fmt: skip
    back = LandscapeGrid.from_netcdf_bytes(grid.to_netcdf_bytes())
    assert back == grid and back.attrs["directions_meta"] == {"seed": 0}
    line = LandscapeGrid(np.arange(3.0), None, np.array([1.0, np.inf, np.nan]), np.full(3, np.nan), {"n": 3})
    assert LandscapeGrid.from_netcdf_bytes(line.to_netcdf_bytes()) == line
    assert line.to_xarray()["loss"].dims == ("alpha",)


def test_grid_axes_defaults_follow_li_et_al() -> None:
    axis = grid_axes()
    assert axis.shape == (DEFAULT_POINTS,) and axis[0] == -1.0 and axis[-1] == 1.0 and axis[25] == 0.0
    np.testing.assert_allclose(grid_axes(0.5, 3, center=1.0), [0.5, 1.0, 1.5])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_engines_equal_the_cpu_loop() -> None:
    model, data = make_model("cnn", torch.float64), unequal_batches(torch.float64)
    directions = random_directions(model, 2)
    coords = [[a, b] for a in (-1.0, 0.5) for b in (0.0, 1.0, 2.0)]
    expected, _ = evaluate_points_loop(model, nn.CrossEntropyLoss(), data, directions, coords)
    for engine in ("first_layer", "vmap", "loop"):
        info: dict = {}
        loss, _ = evaluate_points(
            model, nn.CrossEntropyLoss(), data, directions, coords, engine=engine, device="cuda", info=info
        )
        assert info["device"].startswith("cuda")
        assert_close(loss, expected, 1e-9, f"{engine} on CUDA vs CPU loop")
    assert next(model.parameters()).device.type == "cpu"
