"""GGN, Fisher and empirical Fisher operators against dense float64 matrices of tiny nets.

The oracles are built independently of the operators: the dense Jacobian of the outputs by
``torch.autograd.functional.jacobian``, the output Hessian from its closed form (itself checked
against autograd), per-sample gradients in a plain loop of ``torch.autograd.grad``, and the dense
Hessian by ``torch.func.hessian``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.func import functional_call
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.curvature import (
    GGN_MODES,
    CurvatureError,
    EmpiricalFisherOperator,
    FisherOperator,
    GGNOperator,
    HessianOperator,
    curvature_operator,
    density_of,
    hutch_plus_plus,
    hutchinson,
    top_eigen_of,
)
from optiscope.experiments.curvature_study import CurvatureConfig
from optiscope.nets.trainer import TrainConfig, train
from test_curvature_fixtures import digits, mlp, tiny_cnn

LOSSES = {"cross_entropy": nn.CrossEntropyLoss(), "mse": nn.MSELoss()}


pytestmark = pytest.mark.usefixtures("one_thread")


def _flat_fn(model: nn.Module, call: object) -> tuple[torch.Tensor, object]:
    """``theta`` and ``flat -> call(params)`` over the model's parameters, in named order."""
    named = {k: v.detach() for k, v in model.named_parameters()}
    shapes = [p.shape for p in named.values()]
    sizes = [p.numel() for p in named.values()]
    theta = torch.cat([p.reshape(-1) for p in named.values()])

    def of_flat(flat: torch.Tensor) -> torch.Tensor:
        pieces = (p.view(s) for p, s in zip(flat.split(sizes), shapes, strict=True))
        return call(dict(zip(named, pieces, strict=True)))  # type: ignore[operator]

    return theta, of_flat


def _targets(loss: str, y: torch.Tensor) -> torch.Tensor:
    """Class labels for cross-entropy; seeded Gaussian targets ``(N, 10)`` for MSE."""
    if loss == "cross_entropy":
        return y
    return torch.randn(len(y), 10, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def output_hessian(loss: str, z: torch.Tensor) -> np.ndarray:
    """The closed-form Hessian of the mean loss in the outputs ``z`` ``(B, C)``, ``(BC, BC)``."""
    batch, classes = z.shape
    if loss == "mse":
        return 2.0 / (batch * classes) * np.eye(batch * classes)
    p = torch.softmax(z, dim=1).numpy()
    blocks = [np.diag(row) - np.outer(row, row) for row in p]
    out = np.zeros((batch * classes, batch * classes))
    for i, block in enumerate(blocks):
        out[i * classes : (i + 1) * classes, i * classes : (i + 1) * classes] = block / batch
    return out


@functools.cache
def dense_problem(net: str, loss: str, samples: int | None = None) -> dict[str, np.ndarray]:
    """Model, data and the dense Hessian, GGN and empirical Fisher of one tiny problem (60 samples
    for the MLP, 24 for the CNN unless ``samples`` says)."""
    model = mlp() if net == "mlp" else tiny_cnn()
    samples = samples or (60 if net == "mlp" else 24)
    x, labels = digits(samples)
    y = _targets(loss, labels)
    loss_fn = LOSSES[loss]
    theta, outputs = _flat_fn(model, lambda params: functional_call(model, params, (x,)))
    z = outputs(theta).detach()
    jacobian = torch.autograd.functional.jacobian(outputs, theta, vectorize=True).reshape(z.numel(), -1)
    ggn = jacobian.numpy().T @ output_hessian(loss, z) @ jacobian.numpy()
    hessian = torch.func.hessian(lambda flat: loss_fn(outputs(flat), y))(theta).numpy()
    gradients = []
    for i in range(samples):  # the plain per-sample loop
        model.zero_grad()
        loss_fn(model(x[i : i + 1]), y[i : i + 1]).backward()
        gradients.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).numpy())
    model.zero_grad()
    g = np.stack(gradients)
    return {"model": model, "x": x, "y": y, "z": z, "hessian": hessian, "ggn": ggn, "ef": g.T @ g / samples}


def _probes(n: int, m: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _max_error(operator: HessianOperator, dense: np.ndarray) -> float:
    """Largest |M v - dense v| over a matvec and a 3-column matmat, relative to max |dense v|."""
    vs = _probes(operator.n)
    expected = dense @ vs.numpy()
    got = np.concatenate([operator.matvec(vs[:, 0]).numpy()[:, None], operator.matmat(vs).numpy()], 1)
    want = np.concatenate([expected[:, :1], expected], axis=1)
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_the_closed_form_output_hessian_is_autograds(loss: str) -> None:
    problem = dense_problem("mlp", loss)
    z, y = problem["z"][:12], problem["y"][:12]
    auto = torch.func.hessian(lambda out: LOSSES[loss](out.view(z.shape), y))(z.reshape(-1))
    error = np.abs(auto.numpy() - output_hessian(loss, z)).max()
    assert error < 1e-14, f"{loss}: closed-form H_z vs autograd, max abs error {error:.1e}"


@pytest.mark.parametrize("mode", GGN_MODES)
@pytest.mark.parametrize(
    ("net", "loss"), [("mlp", "cross_entropy"), ("mlp", "mse"), ("cnn", "cross_entropy")]
)
@pytest.mark.parametrize("kind", ["ggn", "fisher"])
def test_ggn_and_fisher_products_equal_the_dense_ggn(kind: str, net: str, loss: str, mode: str) -> None:
    problem = dense_problem(net, loss)
    operator = curvature_operator(
        problem["model"], LOSSES[loss], (problem["x"], problem["y"]), kind, mode=mode
    )
    error = _max_error(operator, problem["ggn"])
    assert operator.mode == mode and operator.calls == 4
    assert error < 1e-12, f"{kind} {net}/{loss}/{mode}: relative error vs J^T H_z J v {error:.1e}"


@pytest.mark.parametrize("mode", GGN_MODES)
@pytest.mark.parametrize(
    ("net", "loss"), [("mlp", "cross_entropy"), ("mlp", "mse"), ("cnn", "cross_entropy")]
)
def test_empirical_fisher_products_equal_the_sum_of_outer_products(net: str, loss: str, mode: str) -> None:
    problem = dense_problem(net, loss)
    x, y = problem["x"], problem["y"]
    # Unequal batches and a chunk that does not divide them: the weighting and chunking are exact.
    batches = [(x[:11], y[:11]), (x[11:], y[11:])]
    operator = EmpiricalFisherOperator(problem["model"], LOSSES[loss], batches, mode=mode, chunk_size=7)
    error = _max_error(operator, problem["ef"])
    assert error < 1e-12, f"empirical Fisher {net}/{loss}/{mode}: relative error vs dense {error:.1e}"


def test_ggn_over_batches_is_the_sample_weighted_mean() -> None:
    problem = dense_problem("mlp", "cross_entropy")
    x, y = problem["x"], problem["y"]
    operator = GGNOperator(problem["model"], LOSSES["cross_entropy"], [(x[:7], y[:7]), (x[7:], y[7:])])
    error = _max_error(operator, problem["ggn"])
    assert error < 1e-12, f"GGN over batches of 7 and 53: relative error vs whole-set dense {error:.1e}"


@pytest.mark.parametrize("kind", ["hessian", "ggn", "empirical-fisher"])
def test_solvers_on_each_operator_find_the_dense_top_eigenvalues(kind: str) -> None:
    problem = dense_problem("mlp", "cross_entropy")
    dense = {"hessian": problem["hessian"], "ggn": problem["ggn"], "empirical-fisher": problem["ef"]}[kind]
    truth = np.linalg.eigvalsh(dense)[::-1]
    operator = curvature_operator(
        problem["model"], LOSSES["cross_entropy"], (problem["x"], problem["y"]), kind
    )
    spectrum = top_eigen_of(operator, k=2, tol=1e-10)
    np.testing.assert_allclose(spectrum.values, truth[:2], rtol=1e-8, err_msg=f"{kind}: top-2 vs eigvalsh")
    ritz = top_eigen_of(operator, k=2, tol=1e-9, method="ritz")
    np.testing.assert_allclose(ritz.values, truth[:2], rtol=1e-8, err_msg=f"{kind}: ritz top-2 vs eigvalsh")
    spread = density_of(operator, steps=40, probes=1)  # Ritz values lie inside the spectrum
    assert truth[-1] - 1e-9 <= spread.nodes.min() and spread.nodes.max() <= truth[0] + 1e-9


@pytest.mark.parametrize("kind", ["ggn", "fisher", "empirical-fisher"])
def test_hutch_plus_plus_is_exact_on_the_low_rank_operators(kind: str) -> None:
    """20 samples: rank(GGN) <= 20 * 9 = 180 and rank(EF) <= 20, under the 200-column sketch."""
    problem = dense_problem("mlp", "cross_entropy", samples=20)
    dense = problem["ef"] if kind == "empirical-fisher" else problem["ggn"]
    operator = curvature_operator(
        problem["model"], LOSSES["cross_entropy"], (problem["x"], problem["y"]), kind
    )
    exact = hutch_plus_plus(operator, samples=600)
    truth = float(np.trace(dense))
    assert exact.value == pytest.approx(truth, rel=1e-10), f"{kind}: hutch++ {exact.value} vs tr {truth}"
    rough = hutchinson(operator, samples=200, seed=3)
    gap = abs(rough.value - truth)
    assert gap < 4 * rough.stderr, f"{kind}: hutchinson {rough.value:.4g} is {gap / rough.stderr:.1f} SE off"


def test_the_ggn_is_psd_while_the_hessian_of_an_untrained_net_is_not() -> None:
    problem = dense_problem("mlp", "cross_entropy")
    ggn_values = np.linalg.eigvalsh(problem["ggn"])
    hessian_values = np.linalg.eigvalsh(problem["hessian"])
    assert ggn_values.min() > -1e-12 * ggn_values.max(), f"dense GGN min eigenvalue {ggn_values.min():.2e}"
    assert hessian_values.min() < -1e-3 * hessian_values.max(), "the untrained net's Hessian is PSD?"
    data = (problem["x"], problem["y"])
    ggn = GGNOperator(problem["model"], LOSSES["cross_entropy"], data)
    probes = _probes(ggn.n, m=100, seed=5)
    forms = (probes * ggn.matmat(probes)).sum(dim=0)  # v^T G v over 100 Gaussian probes
    assert forms.min() > 0, f"a quadratic form of the GGN is {forms.min():.2e}"
    ritz = density_of(ggn, steps=80).nodes  # Ritz values of a Krylov space: inside [min, max]
    assert ritz.min() > -1e-10 * ggn_values.max(), f"a GGN Ritz value is {ritz.min():.2e}"
    hessian = HessianOperator(problem["model"], LOSSES["cross_entropy"], data)
    negative = top_eigen_of(hessian, k=1, tol=1e-8, which="SA").values[0]
    assert negative == pytest.approx(hessian_values.min(), rel=1e-6), "lanczos SA vs eigvalsh min"


def test_the_ggn_is_the_hessian_for_a_linear_model_with_mse_and_not_for_the_mlp() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).double()
    x, labels = digits(60)
    y = _targets("mse", labels)
    theta, loss_of = _flat_fn(model, lambda params: LOSSES["mse"](functional_call(model, params, (x,)), y))
    hessian = torch.func.hessian(loss_of)(theta).numpy()
    error = _max_error(GGNOperator(model, LOSSES["mse"], (x, y)), hessian)
    assert error < 1e-12, f"linear model, MSE: GGN vs dense Hessian, relative error {error:.1e}"
    problem = dense_problem("mlp", "mse")  # the residual term is there for a nonlinear net
    gap = np.abs(problem["hessian"] - problem["ggn"]).max() / np.abs(problem["hessian"]).max()
    assert gap > 1e-2, f"MLP, MSE: |H - G| / |H| is only {gap:.1e}"


@pytest.mark.parametrize(
    ("loss_fn", "message"),
    [(nn.L1Loss(), "Fisher is formed"), (nn.CrossEntropyLoss(label_smoothing=0.1), "label smoothing")],
)
def test_the_fisher_refuses_losses_it_does_not_cover(loss_fn: nn.Module, message: str) -> None:
    problem = dense_problem("mlp", "cross_entropy")
    with pytest.raises(CurvatureError, match=message):
        FisherOperator(problem["model"], loss_fn, (problem["x"], problem["y"]))
    with pytest.raises(CurvatureError, match="unknown curvature operator 'gauss'"):
        curvature_operator(problem["model"], loss_fn, (problem["x"], problem["y"]), "gauss")
    with pytest.raises(CurvatureError, match="unknown mode 'double-backward'"):
        GGNOperator(problem["model"], loss_fn, (problem["x"], problem["y"]), mode="double-backward")


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_products_equal_curvlinops(loss: str) -> None:
    curvlinops = pytest.importorskip("curvlinops")
    problem = dense_problem("mlp", loss)
    model, data = problem["model"], [(problem["x"], problem["y"])]
    params = [p for p in model.parameters() if p.requires_grad]
    vs = _probes(sum(p.numel() for p in params))
    peers = {
        "ggn": curvlinops.GGNLinearOperator(model, LOSSES[loss], params, data),
        "empirical-fisher": curvlinops.EFLinearOperator(model, LOSSES[loss], params, data),
    }
    # curvlinops' per-sample MSE loss sums the C = 10 outputs (its mean factor is 1 / (N C)); ours
    # is the per-sample mean, so its empirical Fisher is C times ours. The GGNs agree as they are.
    scale = {"ggn": 1.0, "empirical-fisher": 10.0 if loss == "mse" else 1.0}
    for kind, peer in peers.items():
        ours = curvature_operator(model, LOSSES[loss], data, kind).matmat(vs)
        error = float((scale[kind] * ours - peer @ vs).abs().max() / (scale[kind] * ours).abs().max())
        assert error < 1e-12, f"{kind}, {loss}: relative difference from curvlinops {error:.1e}"


runner = CliRunner()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short digits run of seed 000's MLP (10,730 parameters)."""
    path = tmp_path_factory.mktemp("ggn") / "run"
    train(TrainConfig.build(epochs=2, limit=200, patience=None, record=False), path)
    return path


def test_cli_curvature_all_operators_stores_and_prints_the_comparison(
    digits_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "all"
    result = runner.invoke(app, ["curvature", str(digits_run), "--operator", "all", "--data", "subset:40",
                                 "--no-along", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "comparison.parquet")
    assert list(table["operator"]) == ["hessian", "ggn", "fisher", "empirical-fisher"]
    rows = table.set_index("operator")
    top2 = ["lambda1", "lambda2"]
    np.testing.assert_allclose(rows.loc["fisher", top2], rows.loc["ggn", top2], rtol=1e-8,
                               err_msg="the Fisher of cross-entropy is its GGN")  # fmt: skip
    assert (rows["lambda1"] >= rows["lambda2"]).all() and (rows["max_relative_residual"] < 1e-3).all()
    assert (rows.loc[["ggn", "empirical-fisher"], "trace"] > 0).all() and (rows["products"] > 150).all()
    assert all(f"{name}: top eigenvalues" in result.stdout for name in rows.index)
    assert "comparison" in (out / "report.html").read_text()
    single = runner.invoke(app, ["curvature", str(digits_run), "--operator", "ggn", "--data", "subset:40",
                                 "--no-along", "--out", str(tmp_path / "ggn")])  # fmt: skip
    assert single.exit_code == 0 and "ggn products" in single.stdout, single.output
    stored = pd.read_parquet(tmp_path / "ggn" / "spectrum.parquet")["eigenvalue"]
    np.testing.assert_allclose(stored, rows.loc["ggn", top2], rtol=1e-6, err_msg="--operator ggn's spectrum")
    bad = runner.invoke(
        app, ["curvature", str(digits_run), "--operator", "newton", "--out", str(tmp_path / "b")]
    )
    assert bad.exit_code == 2 and "operator" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_the_default_operator_keeps_the_cache_keys_of_earlier_studies() -> None:
    assert "operator" not in CurvatureConfig.build(run="r").model_dump()
    assert CurvatureConfig.build(run="r", operator="ggn").model_dump()["operator"] == "ggn"
