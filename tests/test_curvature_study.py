"""The curvature study end to end: spectrum vs a dense Hessian, stored tables, figures, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy.sparse.linalg import LinearOperator, eigsh
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.experiments.curvature_study import CurvatureConfig, run_curvature_study
from optiscope.nets.trained import load_trained
from optiscope.nets.trainer import TrainConfig, train

runner = CliRunner()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short digits run of seed 000's MLP (10,730 parameters)."""
    path = tmp_path_factory.mktemp("curv") / "run"
    train(TrainConfig.build(epochs=2, limit=200, patience=None, record=False), path)
    return path


def _reference_top2(run: Path, samples: int) -> np.ndarray:
    """Top-2 eigenvalues by ARPACK at tol 0 on double-backward (reverse-over-reverse) products,
    independent of the library's forward-over-reverse operator and its solver settings."""
    trained = load_trained(run)
    model = trained.model.double()
    x, y = trained.data.x_train[:samples].double(), trained.data.y_train[:samples]
    params = list(model.parameters())
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])

    def matvec(vector: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.ascontiguousarray(vector).reshape(-1))
        products = torch.autograd.grad(flat_grad @ v, params, retain_graph=True)
        return torch.cat([p.reshape(-1) for p in products]).numpy()

    n = flat_grad.numel()
    values = eigsh(LinearOperator((n, n), matvec=matvec, dtype=np.float64), k=2, which="LA", tol=0)[0]
    return np.sort(values)[::-1]


def test_the_study_matches_an_independent_eigen_reference_and_stores_everything(
    small_run, tmp_path: Path
) -> None:
    config = CurvatureConfig.build(run=str(small_run), data="subset:60", trace=True, along_points=21,
                                   plane_points=5, trace_samples=30)  # fmt: skip
    result = run_curvature_study(config, tmp_path / "curv")
    np.testing.assert_allclose(result.spectrum.values, _reference_top2(small_run, 60), rtol=1e-6)
    table = pd.read_parquet(tmp_path / "curv" / "spectrum.parquet")
    assert (table["relative_residual"] < 1e-3).all()
    trace_row = pd.read_parquet(tmp_path / "curv" / "trace.parquet").iloc[0]
    assert trace_row["method"] == "hutch++" and trace_row["products"] == 30 and trace_row["stderr"] > 0
    assert trace_row["random_probes"] == 30 - 2 * (30 // 3)  # Hutch++: a third sketch, a third exact
    line = pd.read_parquet(tmp_path / "curv" / "along_top1.parquet")
    middle = len(line) // 2
    assert line["loss"].iloc[middle] == pytest.approx(line["quadratic"].iloc[middle], rel=1e-9)
    near = line.iloc[middle - 1 : middle + 2]
    np.testing.assert_allclose(near["loss"], near["quadratic"], rtol=1e-2)
    for name in ("along_top1.png", "along_top2_heatmap.png", "along_top2_3d.png"):
        with Image.open(tmp_path / "curv" / "figures" / name) as image:  # a picture, not a blank one
            assert min(image.size) > 300 and len(image.convert("RGB").getcolors(1 << 16) or []) > 20, name


def test_cli_curvature_prints_the_ratio_and_refuses_bad_input(small_run, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = runner.invoke(app, ["curvature", str(small_run), "--data", "subset:40", "--no-along",
                                 "--density", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "lambda1 / lambda2" in result.stdout and (out / "figures" / "density.png").is_file()
    bad = runner.invoke(app, ["curvature", str(small_run), "--method", "guess", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "method" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
