"""Your own model, loop and data, first-class: record in a plain loop, then the landscape and the
curvature from the CLI and from Python give the same numbers; bad input is one line and exit 2.

The researcher's code is ``tests/own_work_nets.py``, reached only by its import path, as a package
on PYTHONPATH would be.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
import xarray as xr
from torch import nn
from typer.testing import CliRunner

import optiscope.curvature
import optiscope.landscape
from optiscope.cli import app
from optiscope.errors import SpecError
from optiscope.nets import PathRecorder, flatten_parameters, load_run, record
from optiscope.nets.user_data import load_data
from optiscope.store.units import decode_unit

HERE = Path(__file__).resolve().parent
FACTORY, LOADER = "own_work_nets:make_model", "own_work_nets:load_data"
STEPS = 30
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def user_code() -> Iterator[None]:
    """The user's module importable by name, as if on PYTHONPATH."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(HERE))
        yield
    sys.modules.pop("own_work_nets", None)


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rec: PathRecorder, lr: float = 0.3) -> None:
    """A plain full-batch training loop, as a researcher writes it."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.5)
    for _ in range(STEPS):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        rec.step()


def _record(out: Path, **stored: str) -> tuple[nn.Module, PathRecorder]:
    from own_work_nets import load_data as user_data
    from own_work_nets import make_model

    torch.manual_seed(0)
    model = make_model()
    x, y = user_data()
    with record(model, every=2, out=out, **stored) as rec:
        _train(model, x, y, rec)
    return model, rec


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording made without saying how to rebuild the model or the data."""
    out = tmp_path_factory.mktemp("own") / "mine"
    _record(out)
    return out


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from own_work_nets import load_data as user_data

    path = tmp_path_factory.mktemp("data") / "data.pt"
    x, y = user_data()
    torch.save({"x": x, "y": y}, path)
    return path


def _one_line_exit_2(result: object) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_the_recorder_keeps_its_path_as_array_properties() -> None:
    model = nn.Linear(2, 2)
    with record(model, every=2) as rec:
        for step in range(1, 6):
            with torch.no_grad():
                model.weight += 0.1
            rec.step(step)
    assert rec.steps.tolist() == [0, 2, 4, 5] and rec.steps.dtype == np.int64
    assert rec.snapshots.shape == (4, 6) and rec.snapshots.dtype == np.float32
    np.testing.assert_array_equal(rec.snapshots[-1], flatten_parameters(model).numpy())
    assert not rec.snapshots.flags.writeable, "the recorded path is read-only"


def test_a_recording_is_a_run_with_its_path_metadata_and_model(tmp_path: Path) -> None:
    model, rec = _record(tmp_path / "rec", factory=FACTORY, data=LOADER)
    run = load_run(tmp_path / "rec")
    assert run.kind == "recording" and run.status == "complete"
    np.testing.assert_array_equal(run.snapshots, rec.snapshots)
    np.testing.assert_array_equal(run.steps, np.r_[0 : STEPS + 1 : 2])
    assert run.meta["factory"] == FACTORY and run.meta["data"] == LOADER and run.meta["every"] == 2
    assert type(run.model).__name__ == "TwoLayerNet" and not run.model.training
    for (name, stored), (_, trained) in zip(
        run.model.state_dict().items(), model.state_dict().items(), strict=True
    ):
        assert torch.equal(stored, trained), f"{name} differs from the trained weights"
    weights = safetensors.torch.load_file(tmp_path / "rec" / "checkpoints" / "final.safetensors")
    assert set(weights) == {"encoder.weight", "encoder.bias", "head.weight", "head.bias"}


def test_a_factory_in_main_or_a_function_is_refused_at_record_time(tmp_path: Path) -> None:
    def local_factory() -> nn.Module:
        return nn.Linear(2, 2)

    with (
        pytest.raises(SpecError, match="importable module"),
        record(nn.Linear(2, 2), out=tmp_path / "r", factory=local_factory),
    ):
        pass
    assert not (tmp_path / "r").exists(), "nothing is written for a factory that cannot be stored"


def test_cli_landscape_of_a_recording_equals_the_python_api(
    recording: Path, data_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "land"
    args = ["landscape", str(recording), "--model", FACTORY, "--data", str(data_file), "--directions", "pca"]
    result = runner.invoke(app, [*args, "--grid", "7", "--no-interactive", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with xr.open_dataset(out / "landscape.nc", engine="scipy") as stored:
        cli_loss, cli_alpha = stored["loss"].to_numpy(), stored["alpha"].to_numpy()

    run = load_run(recording, model=FACTORY)
    x, y = load_data(str(data_file))
    grid, projection, figure = optiscope.landscape.plot(
        run.model, nn.CrossEntropyLoss(), (x, y), path=run, directions="pca", points=7
    )
    np.testing.assert_array_equal(cli_alpha, grid.alphas)
    np.testing.assert_allclose(cli_loss, grid.loss, rtol=1e-6, err_msg="CLI grid vs landscape.plot")
    table = pd.read_parquet(out / "path.parquet")
    np.testing.assert_allclose(table[["alpha", "beta"]].to_numpy(), projection.coords, rtol=1e-9, atol=1e-12)
    # The span is chosen from the path: its furthest coordinate sits at 1/1.2 of the half-width.
    assert np.abs(projection.coords).max() * 1.2 == pytest.approx(grid.alphas[-1], rel=1e-12)
    assert projection.total_captured > 0.8, "PCA axes of the path capture most of it"
    (drawn,) = [line for line in figure.axes[0].lines if line.get_gid() == "path"]
    np.testing.assert_allclose(drawn.get_xydata(), projection.coords)
    with torch.no_grad():
        centre = float(nn.functional.cross_entropy(run.model(x), y))
    assert grid.loss[3, 3] == pytest.approx(centre, rel=1e-6), "the grid's centre is the final loss"


def test_cli_curvature_of_a_recording_equals_the_python_api_and_the_dense_hessian(
    recording: Path, data_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "curv"
    args = ["curvature", str(recording), "--model", FACTORY, "--data", str(data_file), "--top-k", "2"]
    result = runner.invoke(
        app, [*args, "--trace", "--density", "--no-along", "--no-interactive", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    cli_values = pd.read_parquet(out / "spectrum.parquet")["eigenvalue"].to_numpy()
    cli_trace = float(pd.read_parquet(out / "trace.parquet")["value"].iloc[0])
    cli_density, _ = decode_unit(out / "density.npz")

    run = load_run(recording, model=FACTORY)
    x, y = load_data(str(data_file))
    numbers = optiscope.curvature.summary(run.model, nn.CrossEntropyLoss(), (x, y), k=2)
    np.testing.assert_allclose(
        cli_values, numbers.eigenvalues, rtol=1e-9, err_msg="CLI vs summary eigenvalues"
    )
    assert cli_trace == pytest.approx(numbers.trace.value, rel=1e-9)
    np.testing.assert_allclose(cli_density["density"], numbers.density.density, rtol=1e-9)

    params = {name: p.detach().double() for name, p in run.model.named_parameters()}
    model64 = run.model.double()

    def loss_of(*flat: torch.Tensor) -> torch.Tensor:
        named = dict(zip(params, flat, strict=True))
        return nn.functional.cross_entropy(torch.func.functional_call(model64, named, (x.double(),)), y)

    blocks = torch.autograd.functional.hessian(loss_of, tuple(params.values()))
    sizes = [p.numel() for p in params.values()]
    dense = torch.cat([torch.cat([b.reshape(r, c) for b, c in zip(row, sizes, strict=True)], 1)
                       for row, r in zip(blocks, sizes, strict=True)])  # fmt: skip
    truth = torch.linalg.eigvalsh(dense).numpy()[::-1]
    np.testing.assert_allclose(numbers.eigenvalues, truth[:2], rtol=1e-6, err_msg="Lanczos vs dense Hessian")
    error = abs(numbers.trace.value - float(dense.trace()))
    assert error <= 5 * numbers.trace.stderr + 1e-8 * abs(float(dense.trace())), (error, numbers.trace.stderr)


def test_a_recording_that_stored_its_factory_and_data_needs_no_flags(tmp_path: Path) -> None:
    _record(tmp_path / "rec", factory=FACTORY, data=LOADER)
    out = tmp_path / "land"
    args = ["landscape", str(tmp_path / "rec"), "--grid", "3", "--span", "0.5", "--no-interactive"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = load_run(tmp_path / "rec")
    x, y = load_data(LOADER)
    with torch.no_grad():
        centre = float(nn.functional.cross_entropy(run.model(x), y))
    with xr.open_dataset(out / "landscape.nc", engine="scipy") as stored:
        assert float(stored["loss"][1, 1]) == pytest.approx(centre, rel=1e-6)


def test_mse_on_a_regression_recording_equals_the_python_api(tmp_path: Path) -> None:
    from own_work_nets import make_regressor

    x, _ = load_data(LOADER)
    target = (x[:, :1] ** 2 - x[:, 1:2]).contiguous()
    np.savez(tmp_path / "regression.npz", x=x.numpy(), y=target.numpy())
    torch.manual_seed(0)
    model = make_regressor()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    with record(model, every=1, out=tmp_path / "reg", factory=make_regressor) as rec:
        for _ in range(STEPS):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(x), target).backward()
            optimizer.step()
            rec.step()
    out = tmp_path / "land"
    args = ["landscape", str(tmp_path / "reg"), "--data", str(tmp_path / "regression.npz"), "--loss", "mse"]
    result = runner.invoke(app, [*args, "--grid", "5", "--no-interactive", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with xr.open_dataset(out / "landscape.nc", engine="scipy") as stored:
        cli_loss = stored["loss"].to_numpy()
    grid, _, _ = optiscope.landscape.plot(model, nn.MSELoss(), (x, target), path=rec, points=5)
    np.testing.assert_allclose(cli_loss, grid.loss, rtol=1e-6, err_msg="CLI mse grid vs landscape.plot")
    table = pd.read_parquet(out / "path.parquet")
    assert table["true_loss"].iloc[-1] == pytest.approx(table["surface_loss"].iloc[-1], rel=1e-5)
    assert np.isnan(grid.accuracy).all(), "no accuracy for float targets"


def test_every_data_file_format_and_a_batch_loader_give_the_same_tensors(tmp_path: Path) -> None:
    x, y = load_data(LOADER)
    torch.save((x, y), tmp_path / "pair.pt")
    torch.save({"x": x, "y": y}, tmp_path / "dict.pth")
    safetensors.torch.save_file({"x": x, "y": y}, tmp_path / "data.safetensors")
    np.savez(tmp_path / "data.npz", x=x.numpy(), y=y.numpy())
    sources = ["pair.pt", "dict.pth", "data.safetensors", "data.npz"]
    for source in [str(tmp_path / name) for name in sources] + ["own_work_nets:load_batches"]:
        got_x, got_y = load_data(source)
        assert torch.equal(got_x, x) and torch.equal(got_y, y), source


def test_bad_own_work_input_is_one_line_and_exit_2(recording: Path, data_file: Path, tmp_path: Path) -> None:
    base = [str(recording), "--data", str(data_file), "--out", str(tmp_path / "never")]
    missing = runner.invoke(app, ["landscape", *base, "--model", "no_such_package_xyz.nets:make_model"])
    line = _one_line_exit_2(missing)
    assert "no_such_package_xyz.nets" in line and "importable" in line and "PYTHONPATH" in line
    broken = runner.invoke(app, ["curvature", *base, "--model", "own_work_nets:broken_factory"])
    assert "no weights for you" in _one_line_exit_2(broken)

    x, y = load_data(LOADER)
    np.savez(tmp_path / "wide.npz", x=np.ones((len(x), 5), dtype=np.float32), y=y.numpy())
    wide = [
        str(recording),
        "--model",
        FACTORY,
        "--data",
        str(tmp_path / "wide.npz"),
        "--out",
        str(tmp_path / "never"),
    ]
    for command in ("landscape", "curvature"):
        line = _one_line_exit_2(runner.invoke(app, [command, *wide]))
        assert "(48, 5)" in line and "do not fit the model TwoLayerNet" in line, line
    np.savez(tmp_path / "short.npz", x=x.numpy(), y=y.numpy()[:10])
    short = runner.invoke(
        app, ["landscape", *wide[:4], str(tmp_path / "short.npz"), "--out", str(tmp_path / "never")]
    )
    assert "one row per sample" in _one_line_exit_2(short)
    no_model = runner.invoke(
        app, ["landscape", str(recording), "--data", str(data_file), "--out", str(tmp_path / "never")]
    )
    assert "--model" in _one_line_exit_2(no_model)
    assert not (tmp_path / "never").exists(), "bad input writes no run folder"


def test_a_training_run_of_your_own_model_loads_with_its_factory(tmp_path: Path) -> None:
    from optiscope.nets import TrainConfig, train

    config = TrainConfig.build(dataset="synthetic:40,3,3", epochs=2, batch_size=10, patience=None)
    torch.manual_seed(0)
    from own_work_nets import make_model

    trained = train(config, tmp_path / "train", model=make_model())
    with pytest.raises(SpecError, match="--model"):
        load_run(tmp_path / "train")
    run = load_run(tmp_path / "train", model=FACTORY)
    assert run.kind == "train" and len(run.steps) == len(trained.snapshot_steps)
    np.testing.assert_array_equal(run.snapshots[-1], flatten_parameters(run.model).numpy())


def test_connect_takes_two_recordings_and_its_barrier_is_a_loop_over_the_line(
    recording: Path, data_file: Path, tmp_path: Path
) -> None:
    """Two of the user's own runs (different seeds) connected from the CLI: the loss along the
    straight line equals a loop written here over (1 - t) a + t b, and so does the barrier."""
    from own_work_nets import load_data as user_data
    from own_work_nets import make_model

    torch.manual_seed(1)
    other_model = make_model()
    x, y = user_data()
    with record(other_model, every=2, out=tmp_path / "other") as rec:
        _train(other_model, x, y, rec)
    result = runner.invoke(app, ["connect", str(recording), str(tmp_path / "other"), "--curve", "linear",
                                 "--points", "5", "--model", FACTORY, "--data", str(data_file),
                                 "--out", str(tmp_path / "c")])  # fmt: skip
    assert result.exit_code == 0, result.output
    line = pd.read_parquet(tmp_path / "c" / "curves.parquet")
    line = line[line["curve"] == "linear"] if "curve" in line else line
    ends = [
        flatten_parameters(load_run(path, model=FACTORY).model) for path in (recording, tmp_path / "other")
    ]
    probe = make_model()
    expected = []
    for t in np.linspace(0.0, 1.0, 5):
        torch.nn.utils.vector_to_parameters(
            ((1 - t) * ends[0] + t * ends[1]).to(torch.float32), probe.parameters()
        )
        with torch.no_grad():
            expected.append(float(nn.functional.cross_entropy(probe(x), y)))
    np.testing.assert_allclose(line["loss"].to_numpy(), expected, rtol=1e-5)
    barrier = max(expected) - (expected[0] + expected[-1]) / 2
    summary = pd.read_parquet(tmp_path / "c" / "summary.parquet").iloc[0]
    assert summary["barrier"] == pytest.approx(barrier, rel=1e-5)
