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
