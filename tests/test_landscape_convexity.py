"""The landscape study's convexity map (Li et al. sec. 6): stored eigenvalues vs dense Hessians,
the spec without it, its figure and the CLI option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.errors import SpecError
from optiscope.experiments.landscape_convexity import load_convexity
from optiscope.experiments.landscape_study import LandscapeConfig, LandscapeResult, run_landscape_study
from optiscope.experiments.study_inputs import load_inputs
from optiscope.landscape.joint_plane import model_at
from optiscope.nets import build_model
from optiscope.nets.trainer import TrainConfig, train
from optiscope.viz.convexity_figures import RATIO_LABEL, convexity_figure
from test_curvature_fixtures import dense_hessian

FACTORY = "test_landscape_convexity:tiny_digits_mlp"
runner = CliRunner()


def tiny_digits_mlp() -> nn.Module:
    """A 64-8-10 digits MLP (610 parameters): small enough for a dense Hessian."""
    torch.manual_seed(0)
    return build_model("mlp", (64,), 10, hidden=(8,))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short digits run of the tiny MLP."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    train(TrainConfig.build(epochs=2, limit=200, patience=None), out, model=tiny_digits_mlp())
    return out


@pytest.fixture(scope="module")
def study(tiny_run: Path) -> LandscapeResult:
    """The tiny run's 5 x 5 landscape of 60 samples, with a 3 x 3 convexity map."""
    config = LandscapeConfig.build(run=str(tiny_run), grid=5, span=0.5, data="subset:60", model=FACTORY,
                                   convexity=3)  # fmt: skip
    return run_landscape_study(config, tiny_run.parent / "land")


def test_stored_extreme_eigenvalues_match_dense_hessians(tiny_run: Path, study: LandscapeResult) -> None:
    table = pd.read_parquet(study.run_dir.path / "convexity.parquet")
    assert list(table.columns[:5]) == ["alpha", "beta", "lambda_max", "lambda_min", "ratio"]
    assert len(table) == 9 and sorted(set(table["alpha"])) == pytest.approx([-0.5, 0.0, 0.5])
    inputs = load_inputs(str(tiny_run), "subset:60", model=FACTORY)
    x, y = inputs.data[0].double(), inputs.data[1]
    centre = torch.nn.utils.parameters_to_vector(inputs.model.parameters()).detach().double()
    plane = study.directions.matrix().double()
    for row in table.itertuples():
        moved = model_at(inputs.model, centre + row.alpha * plane[0] + row.beta * plane[1]).double()
        w = np.linalg.eigvalsh(dense_hessian(moved, x, y))
        for name, found, dense in (("max", row.lambda_max, w[-1]), ("min", row.lambda_min, w[0])):
            assert abs(found - dense) <= 1e-4 * abs(dense), (
                f"({row.alpha}, {row.beta}) lambda_{name}: stored {found} vs dense {dense}"
            )
        assert row.ratio == pytest.approx(abs(w[0] / w[-1]), rel=3e-4)


def test_the_spec_holds_convexity_only_when_asked(tiny_run: Path) -> None:
    plain = LandscapeConfig.build(run=str(tiny_run), grid=5)
    assert "convexity" not in plain.model_dump(mode="json")
    assert LandscapeConfig.build(run=str(tiny_run), grid=5, convexity=7).model_dump()["convexity"] == 7
    with pytest.raises(SpecError, match="plane"):
        LandscapeConfig.build(run=str(tiny_run), directions="interpolate:other", convexity=3)


def test_the_figure_sets_the_ratio_beside_the_loss_on_the_same_axes(study: LandscapeResult) -> None:
    assert (study.run_dir.path / "figures" / "convexity.png").stat().st_size > 10_000
    found = load_convexity(study.run_dir)
    assert found is not None and found.lambda_max.shape == (3, 3)
    figure = convexity_figure(study.grid, found)
    loss_axes, ratio_axes = figure.axes[:2]
    assert loss_axes.get_xlim() == ratio_axes.get_xlim() == pytest.approx((-0.5, 0.5))
    assert loss_axes.get_ylim() == ratio_axes.get_ylim() == pytest.approx((-0.5, 0.5))
    labels = [axes.get_ylabel() for axes in figure.axes]
    assert labels.count(RATIO_LABEL) == 1, labels
    notes = [text.get_text() for text in ratio_axes.texts if text.get_gid() == "hvp-note"]
    assert notes and f"{int(found.products.sum())} Hessian-vector products" in notes[0]


def test_cli_landscape_convexity_option(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["landscape", str(tiny_run), "--grid", "3", "--data", "subset:30", "--model", FACTORY,
            "--convexity", "2", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "convexity map: max |lambda_min/lambda_max|" in result.stdout
    assert (out / "convexity.parquet").is_file() and (out / "figures" / "convexity.png").is_file()
    refused = runner.invoke(app, [*args[:-2], "--convexity", "1", "--out", str(tmp_path / "never")])
    assert refused.exit_code == 2 and not (tmp_path / "never").exists()
