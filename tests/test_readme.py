"""The README promises commands and code: check that they are what CI runs, and that they run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

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
