"""The README promises commands and code: check that they are what CI runs, and that they run."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_quickstart_holds_two_commands_and_ci_runs_the_test_command_verbatim() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", _section("Quickstart"), re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    assert len(commands) == 2, commands
    demo, tests = commands
    assert demo.endswith("optiscope demo") and "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_python_api_example_runs_and_the_hand_written_optimizer_races_sgd() -> None:
    (code,) = re.findall(r"```python\n(.*?)```", _section("The Python API"), re.S)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # our own README, not user input
    result, race = namespace["result"], namespace["race"]
    assert result.points.shape == (4, 501, 2)
    # MySGD is plain SGD written by hand: it must trace exactly torch SGD's path.
    np.testing.assert_array_equal(race.points[0], race.points[1])


def test_landscape_api_example_runs_on_a_digits_mlp() -> None:
    """The landscape/curvature snippet, run on the first 200 digits with seed 000's MLP."""
    import torch

    from optiscope.nets import build_model, load_dataset

    (code,) = re.findall(
        r"```python\n(.*?)```", _section("Loss landscapes and curvature of a trained network"), re.S
    )
    data = load_dataset("digits", seed=0, limit=200)
    torch.manual_seed(0)
    namespace: dict[str, object] = {
        "model": build_model("mlp", data.input_shape, data.num_classes),
        "x": data.x_train,
        "y": data.y_train,
    }
    exec(compile(code, "README.md", "exec"), namespace)  # our own README, not user input
    grid, spectrum = namespace["grid"], namespace["spectrum"]
    assert grid.loss.shape == (51, 51) and grid.attrs["engine"] == "first_layer"
    with torch.no_grad():
        centre = float(torch.nn.functional.cross_entropy(namespace["model"](data.x_train), data.y_train))
    assert abs(grid.loss[25, 25] - centre) <= 1e-5 * centre
    assert spectrum.values[0] >= spectrum.values[1] and (spectrum.residuals < 1e-3 * spectrum.values[0]).all()


def _own_model_blocks() -> tuple[str, str, list[str]]:
    """The 'Bring your own model' section: mynets.py, the Python walkthrough, the commands."""
    section = _section("Bring your own model")
    module, walkthrough = re.findall(r"```python\n(.*?)```", section, re.S)
    (commands,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    return module, walkthrough, [line for line in commands.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def own_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, object]]]:
    """The walkthrough as a user runs it: mynets.py on PYTHONPATH, the code run in a fresh folder."""
    module, walkthrough, _ = _own_model_blocks()
    root = tmp_path_factory.mktemp("byom")
    (root / "mynets.py").write_text(module)
    namespace: dict[str, object] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))
        with pytest.MonkeyPatch.context() as folder:
            folder.chdir(root)
            exec(compile(walkthrough, "README.md", "exec"), namespace)  # our own README, not user input
        yield root, namespace
    sys.modules.pop("mynets", None)


def test_bring_your_own_model_walkthrough_records_draws_and_measures(own_model) -> None:
    import torch

    root, ns = own_model
    rec, grid, projection, numbers = ns["rec"], ns["grid"], ns["projection"], ns["numbers"]
    assert rec.steps.tolist() == list(range(0, 101, 2)) and rec.snapshots.shape == (51, 82)
    assert (root / "runs" / "sgd" / "checkpoints" / "final.safetensors").is_file()
    assert (root / "sgd-landscape.png").stat().st_size > 10_000
    assert grid.loss.shape == (51, 51) and projection.total_captured > 0.5
    assert np.abs(projection.coords).max() * 1.2 == pytest.approx(grid.alphas[-1], rel=1e-12)
    assert numbers.eigenvalues[0] >= numbers.eigenvalues[1] and numbers.trace.stderr >= 0
    between, adam = ns["between"], ns["adam"]
    x, y = ns["x"], ns["y"]
    with torch.no_grad():
        end = float(torch.nn.functional.cross_entropy(adam.model(x), y))
    (at_one,) = np.flatnonzero(np.isclose(between.alphas, 1.0))
    assert between.loss[at_one] == pytest.approx(end, rel=1e-5), "alpha 1 is the Adam run's weights"


_, _, _OWN_MODEL_COMMANDS = _own_model_blocks()


@pytest.mark.parametrize("line", _OWN_MODEL_COMMANDS)
def test_bring_your_own_model_commands_run_and_match_python(own_model, line: str, monkeypatch) -> None:
    from typer.testing import CliRunner

    from optiscope.cli import app

    root, ns = own_model
    monkeypatch.chdir(root)
    program, *args = shlex.split(line, comments=True)
    assert program == "optiscope"
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    if args[:2] == ["landscape", "runs/sgd"] and "--out" not in args:
        with xr.open_dataset(root / "runs/sgd/landscape/landscape.nc", engine="scipy") as stored:
            np.testing.assert_allclose(stored["loss"].to_numpy(), ns["grid"].loss, rtol=1e-6)
    if args[:2] == ["curvature", "runs/sgd"]:
        values = pd.read_parquet(root / "runs/sgd/curvature/spectrum.parquet")["eigenvalue"].to_numpy()
        np.testing.assert_allclose(values, ns["numbers"].eigenvalues, rtol=1e-8)
        stored_trace = pd.read_parquet(root / "runs/sgd/curvature/trace.parquet")["value"].iloc[0]
        assert stored_trace == pytest.approx(ns["numbers"].trace.value, rel=1e-8)
    if args[:2] == ["tune", "runs/sgd"]:
        best = pd.read_parquet(root / "runs/tuned/best.parquet")
        assert sorted(best["optimizer"]) == ["adam", "sgd"]
        assert set(best["surface"]) == {"net:mynets:make_model/mynets:load_data/b64"}
    if any(arg.startswith("interpolate:") for arg in args):
        with xr.open_dataset(root / "runs/sgd-to-adam/landscape.nc", engine="scipy") as stored:
            np.testing.assert_allclose(stored["loss"].to_numpy(), ns["between"].loss, rtol=1e-5)


def _at_test_size(args: list[str]) -> list[str]:
    """A README command with its budget shrunk (trials, seeds, steps), everything else as written."""
    small = {"--trials": "2", "--seeds": "2", "--steps": "4"}
    shrunk = [small.get(args[i - 1], arg) if i else arg for i, arg in enumerate(args)]
    return [*shrunk, "--sensitivity", "0", "--batch", "2"]


def test_tuning_on_a_network_commands_run_at_test_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from optiscope.cli import app

    pytest.importorskip("optuna", reason="tuning needs optuna")
    section = re.search(r"^### Tuning on a network\n(.*?)(?=^#)", README, re.S | re.M)
    assert section, "README has no '### Tuning on a network' section"
    (block,) = re.findall(r"```bash\n(.*?)```", section.group(1), re.S)
    lines = [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    assert len(lines) == 2, lines
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-training.yaml").write_text("model: mlp\ndataset: digits\nlimit: 200\nbatch_size: 32\n")
    for number, line in enumerate(lines):
        program, *args = shlex.split(line)
        assert program == "optiscope" and args[0] == "tune"
        args = [
            f"T{number}" if previous == "--out" else arg
            for previous, arg in zip(["", *args[:-1]], args, strict=True)
        ]
        result = CliRunner().invoke(app, _at_test_size(args))
        assert result.exit_code == 0, (line, result.output)
        best = pd.read_parquet(tmp_path / f"T{number}" / "best.parquet")
        assert len(best) == 2, best
