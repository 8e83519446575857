"""Per-layer Hessian blocks: eigenvalues and trace vs a dense Hessian, the stored table and figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.func import functional_call
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.curvature import LayerCurvature, layer_curvature, layer_groups
from optiscope.experiments.curvature_study import CurvatureConfig
from optiscope.nets.trained import load_trained
from optiscope.nets.trainer import TrainConfig, train
from optiscope.viz.curvature_figures import layers_figure

runner = CliRunner()


def _tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A 4-3-2 tanh MLP with biases (layers "0": 15 parameters, "2": 8) on 7 samples, float64."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    x = torch.randn(7, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    return model, x, y


def _dense_blocks(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """Each layer's block of the full Hessian (torch.autograd.functional.hessian on the flat
    parameters), cut out by index ranges written here, independent of the library."""
    named = dict(model.named_parameters())
    shapes = {name: p.shape for name, p in named.items()}
    flat = torch.cat([p.detach().reshape(-1) for p in named.values()])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            params[name] = theta[offset : offset + size].view(shape)
            offset += size
        return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)

    hessian = torch.autograd.functional.hessian(loss, flat).numpy()
    # "0" holds 0.weight (3x4) and 0.bias (3): indices 0..14; "2" holds 2.weight (2x3), 2.bias (2).
    return {"0": hessian[:15, :15], "2": hessian[15:, 15:]}


def test_layer_groups_put_weight_and_bias_together() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    assert layer_groups(model) == {"0": ["0.weight", "0.bias"], "2": ["2.weight", "2.bias"]}


def test_small_blocks_are_formed_exactly_and_match_the_dense_hessian() -> None:
    model, x, y = _tiny()
    found = layer_curvature(model, nn.functional.cross_entropy, (x, y), k=2, trace_samples=150)
    frame = found.to_frame()
    assert list(frame["layer"]) == ["0", "2"] and list(frame["n_params"]) == [15, 8]
    assert frame["exact"].all() and (frame["trace_stderr"] == 0).all()
    assert list(frame["products"]) == [15, 8]  # one product per column of each block
    for row, (name, block) in zip(frame.itertuples(), _dense_blocks(model, x, y).items(), strict=True):
        top = np.sort(np.linalg.eigvalsh(block))[::-1][:2]
        np.testing.assert_allclose([row.lambda1, row.lambda2], top, rtol=1e-9, atol=1e-12, err_msg=name)
        assert row.trace == pytest.approx(np.trace(block), rel=1e-9, abs=1e-12), name


def test_larger_blocks_use_the_solver_and_trace_estimate_within_their_stderr() -> None:
    model, x, y = _tiny()
    found = layer_curvature(model, nn.functional.cross_entropy, (x, y), k=2, tol=1e-10,
                            trace_method="hutchinson", trace_samples=6, seed=3)  # fmt: skip
    frame = found.to_frame()
    assert not frame["exact"].any()
    for row, (name, block) in zip(frame.itertuples(), _dense_blocks(model, x, y).items(), strict=True):
        top = np.sort(np.linalg.eigvalsh(block))[::-1][:2]
        np.testing.assert_allclose([row.lambda1, row.lambda2], top, rtol=1e-6, atol=1e-10, err_msg=name)
        gap = abs(row.trace - np.trace(block))
        assert row.trace_stderr > 0 and gap <= 4 * row.trace_stderr, f"{name}: |{row.trace} - dense| = {gap}"


def test_the_result_round_trips_through_its_unit_arrays() -> None:
    model, x, y = _tiny()
    found = layer_curvature(model, nn.functional.cross_entropy, (x, y), k=3)
    back = LayerCurvature.from_arrays(*found.to_arrays())
    pd.testing.assert_frame_equal(back.to_frame(), found.to_frame())


def test_the_spec_has_no_layers_key_unless_asked() -> None:
    assert "layers" not in CurvatureConfig.build(run="r").model_dump()
    assert CurvatureConfig.build(run="r", layers=True).model_dump()["layers"] is True


def test_the_figure_uses_a_log_axis_only_when_values_span_a_decade() -> None:
    frame = pd.DataFrame({"layer": ["fc1", "fc2", "fc3"], "n_params": [100, 50, 10],
                          "lambda1": [50.0, 2.0, 0.5], "trace": [3.0, 2.0, 1.0],
                          "trace_stderr": [0.1, 0.0, 0.2]})  # fmt: skip
    figure = layers_figure(frame)
    left, right = figure.axes
    assert left.get_xscale() == "log" and right.get_xscale() == "linear"
    assert len(left.patches) == len(right.patches) == 3
    assert [t.get_text() for t in left.get_yticklabels()] == ["fc1 (100)", "fc2 (50)", "fc3 (10)"]
    assert left.get_ylim()[0] > left.get_ylim()[1]  # first layer on top


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("layers") / "run"
    train(TrainConfig.build(epochs=1, limit=100, patience=None, record=False), path)
    return path


def test_cli_curvature_layers_writes_the_table_and_figure(small_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "curv"
    result = runner.invoke(app, ["curvature", str(small_run), "--data", "subset:30", "--no-along",
                                 "--top-k", "1", "--layers", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "layers.parquet")
    model = load_trained(small_run).model
    assert list(table["layer"]) == list(layer_groups(model))
    assert table["n_params"].sum() == sum(p.numel() for p in model.parameters())
    assert (table["lambda1"] > 0).all() and "lambda2" not in table.columns
    assert set(table.columns) >= {"layer", "n_params", "lambda1", "trace", "trace_stderr", "products"}
    assert all(f"layer {name} (" in result.stdout for name in table["layer"])
    assert (out / "figures" / "layers.png").stat().st_size > 5_000
