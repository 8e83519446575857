"""HessianOperator against the dense float64 Hessian of small nets."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from torch import nn

from optiscope.curvature import HVP_MODES, CurvatureError, HessianOperator, select_parameters
from optiscope.errors import SpecError
from test_curvature_fixtures import LOSS, dense_hessian, digits, mlp, mlp_problem, tiny_cnn


def _probe(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("mode", ["auto", *HVP_MODES])
def test_hvp_equals_dense_hessian_times_vector_mlp(mode: str) -> None:
    model, x, y, hessian = mlp_problem()
    operator = HessianOperator(model, LOSS, (x, y), mode=mode)
    v = _probe(operator.n)
    error = np.abs(operator.matvec(v).numpy() - hessian @ v.numpy()).max()
    assert operator.n == 610 and operator.calls == 1
    assert error < 1e-10, f"HVP vs dense H v: max abs error {error:.2e}"


@pytest.mark.parametrize("mode", HVP_MODES)
def test_hvp_equals_dense_hessian_times_vector_cnn(mode: str) -> None:
    model = tiny_cnn()
    x, y = digits(60)
    hessian = dense_hessian(model, x, y)
    operator = HessianOperator(model, LOSS, (x, y), mode=mode)
    v = _probe(operator.n, seed=1)
    error = np.abs(operator.matvec(v).numpy() - hessian @ v.numpy()).max()
    assert error < 1e-10, f"CNN HVP vs dense H v: max abs error {error:.2e}"


@pytest.mark.parametrize("params", ["3", ["1.weight", "3.bias"]])
def test_hvp_on_a_parameter_subset_is_the_dense_sub_block(params: str | list[str]) -> None:
    model, x, y, _ = mlp_problem()
    names = select_parameters(model, params)
    hessian = dense_hessian(model, x, y, names)
    operator = HessianOperator(model, LOSS, (x, y), params=params)
    assert operator.names == names and operator.n == hessian.shape[0]
    v = _probe(operator.n, seed=2)
    error = np.abs(operator.matvec(v).numpy() - hessian @ v.numpy()).max()
    assert error < 1e-10, f"subset {params}: max abs error {error:.2e}"


def test_select_parameters_keeps_model_order_and_rejects_unknown_names() -> None:
    model = mlp()
    assert select_parameters(model, ["3.bias", "1"]) == ["1.weight", "1.bias", "3.bias"]
    with pytest.raises(CurvatureError, match="match no parameter"):
        select_parameters(model, "9")
    assert issubclass(CurvatureError, SpecError)


def test_batches_give_the_sample_weighted_mean_with_an_unequal_last_batch() -> None:
    model, x, y, _ = mlp_problem()
    whole = HessianOperator(model, LOSS, (x, y))
    batched = HessianOperator(model, LOSS, [(x[:50], y[:50]), (x[50:100], y[50:100]), (x[100:], y[100:])])
    v = _probe(whole.n, seed=3)
    error = (whole.matvec(v) - batched.matvec(v)).abs().max().item()
    assert error < 1e-12, f"3 batches vs whole set: max abs HVP difference {error:.2e}"
    grad_error = (whole.gradient() - batched.gradient()).abs().max().item()
    assert grad_error < 1e-12, f"3 batches vs whole set: gradient difference {grad_error:.2e}"
    assert abs(whole.loss() - batched.loss()) < 1e-12


def test_matmat_and_scipy_view_equal_matvec_columns() -> None:
    model, x, y, _ = mlp_problem()
    operator = HessianOperator(model, LOSS, (x, y))
    block = torch.stack([_probe(operator.n, seed=s) for s in range(3)], dim=1)
    columns = torch.stack([operator.matvec(c) for c in block.T], dim=1)
    assert (operator.matmat(block) - columns).abs().max().item() < 1e-12
    assert operator.vectorized is True and operator.calls == 6
    scipy_op = operator.to_scipy()
    assert scipy_op.shape == (operator.n, operator.n) and scipy_op.dtype == np.float64
    assert np.abs(scipy_op.matmat(block.numpy()) - columns.numpy()).max() < 1e-12
    assert np.abs(scipy_op.matvec(block[:, 0].numpy()) - columns[:, 0].numpy()).max() < 1e-12


def test_gradient_matches_autograd() -> None:
    model, x, y, _ = mlp_problem()
    grads = torch.autograd.grad(LOSS(model(x), y), list(model.parameters()))
    expected = torch.cat([g.reshape(-1) for g in grads])
    error = (HessianOperator(model, LOSS, (x, y)).gradient() - expected).abs().max().item()
    assert error < 1e-14, f"gradient vs autograd: {error:.2e}"


@pytest.mark.parametrize("mode", ["jvp", "double-backward"])
def test_repeated_hvps_leak_no_graph_and_no_tensors(mode: str) -> None:
    model, x, y, _ = mlp_problem()
    operator = HessianOperator(model, LOSS, (x, y), mode=mode)
    v = _probe(operator.n)

    def live_tensors() -> int:
        gc.collect()
        return sum(1 for obj in gc.get_objects() if isinstance(obj, torch.Tensor))

    out = operator.matvec(v)
    before = live_tensors()
    for _ in range(20):
        out = operator.matvec(v)
    after = live_tensors()
    assert not out.requires_grad and out.grad_fn is None
    assert after <= before, f"{mode}: live tensors grew from {before} to {after} over 20 HVPs"
    assert all(p.grad is None for p in model.parameters()), "HVPs wrote .grad on the model"


def test_model_runs_in_eval_mode_and_its_mode_is_restored() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 10)
    ).double()
    x, y = digits(40)
    operator = HessianOperator(model, LOSS, (x, y))
    v = _probe(operator.n)
    assert torch.equal(operator.matvec(v), operator.matvec(v)), "dropout was active during HVPs"
    assert model.training, "the model's training mode was not restored"


def test_float32_model_with_a_float64_operator_casts_parameters_and_inputs() -> None:
    _, x, y, hessian = mlp_problem()
    model32 = mlp().float()
    operator = HessianOperator(model32, LOSS, (x.float(), y), dtype=torch.float64)
    v = _probe(operator.n)
    assert operator.dtype == torch.float64
    expected = hessian @ v.numpy()
    error = np.linalg.norm(operator.matvec(v).numpy() - expected) / np.linalg.norm(expected)
    # Parameters and inputs were rounded to float32, so agreement is to float32 precision only.
    assert error < 1e-5, f"float32-rounded model vs float64 dense: relative error {error:.2e}"


def test_bad_inputs_raise_curvature_error() -> None:
    model, x, y, _ = mlp_problem()
    operator = HessianOperator(model, LOSS, (x, y))
    with pytest.raises(CurvatureError, match="shape"):
        operator.matvec(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(CurvatureError, match="no batches"):
        HessianOperator(model, LOSS, [])
    with pytest.raises(CurvatureError, match="pair"):
        HessianOperator(model, LOSS, [x])
    with pytest.raises(CurvatureError, match="targets"):
        HessianOperator(model, LOSS, (x, y[:3]))


@pytest.mark.parametrize("mode", ["linearize", "double-backward"])
def test_cached_modes_equal_plain_products(mode: str) -> None:
    model, x, y, hessian = mlp_problem()
    batches = [(x[:70], y[:70]), (x[70:], y[70:])]
    plain = HessianOperator(model, LOSS, batches, mode="jvp")
    assert HessianOperator(model, LOSS, batches).mode == "double-backward", "auto keeps the graph when small"
    cached = HessianOperator(model, LOSS, batches, mode=mode)
    block = torch.stack([_probe(plain.n, seed=s) for s in range(2)], dim=1)
    error = (cached.matmat(block) - plain.matmat(block)).abs().max().item()
    assert error < 1e-12, f"{mode} vs jvp matmat: {error:.2e}"
    dense_error = np.abs(cached.matvec(block[:, 0]).numpy() - hessian @ block[:, 0].numpy()).max()
    assert dense_error < 1e-10, f"{mode} HVP vs dense: {dense_error:.2e}"
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(CurvatureError, match="unknown HVP mode"):
        HessianOperator(model, LOSS, batches, mode="finite-difference")
