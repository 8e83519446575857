"""``paths --domain``: the window a study runs and draws in; expressions widen theirs to hold the
starts; a start or known minimum outside the window is warned about; bad domains are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.experiments.paths_render import _title
from optiscope.experiments.paths_surface import outside_domain, study_surface
from optiscope.surfaces import get as get_surface


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_an_expression_widens_its_default_square_to_hold_the_starts_with_a_margin() -> None:
    surface = study_surface({"surface": "x**2 + y**2", "starts": [(8.0, 9.0)]})
    # default square [-5, 5]^2 grown to [-5, 8] x [-5, 9], then 10% of each span on both sides
    assert surface.domain == ((-5 - 1.3, 8 + 1.3), (-5 - 1.4, 9 + 1.4))
    assert get_surface("x**2 + y**2").domain == ((-5.0, 5.0), (-5.0, 5.0))
    # a registered surface keeps its own domain (the CLI warns instead)
    assert study_surface({"surface": "rosenbrock", "starts": [(5.0, 5.0)]}).domain == (
        (-2.0, 2.0),
        (-1.0, 3.0),
    )
    assert outside_domain(get_surface("rosenbrock"), [(5.0, 5.0), (1.0, 1.0)]) == [(5.0, 5.0)]


def test_domain_sets_the_window_that_decides_leaving_it(tmp_path: Path) -> None:
    common = ("paths", "rosenbrock", "--opt", "adam:lr=0.1", "--start", "5,5", "--steps", "20")
    code, _, stderr = invoke(*common, "--out", str(tmp_path / "own"))
    assert code == 0
    assert "warning: start (5, 5) lies outside the domain [-2, 2] x [-1, 3]" in stderr
    own = pd.read_parquet(tmp_path / "own" / "runs.parquet").iloc[0]
    assert (own["status"], int(own["outcome_step"])) == ("left_domain", 0)
    code, _, stderr = invoke(*common, "--domain=-6,6,-2,8", "--out", str(tmp_path / "wide"))
    assert code == 0 and "warning" not in stderr
    wide = pd.read_parquet(tmp_path / "wide" / "runs.parquet").iloc[0]
    assert wide["status"] != "left_domain"
    assert json.loads((tmp_path / "wide" / "manifest.json").read_text())["spec"]["domain"] == [-6, 6, -2, 8]
    # without --domain the spec (and cache key) holds no domain field, as before it existed
    assert "domain" not in json.loads((tmp_path / "own" / "manifest.json").read_text())["spec"]


def test_bad_domains_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for domain, message in (
        ("2,1,0,1", "XMIN < XMAX"),
        ("0,1,3,3", "YMIN < YMAX"),
        ("0,1,2", "four numbers"),
    ):
        result = CliRunner().invoke(
            app, ["paths", "booth", "--opt", "sgd:lr=0.1", f"--domain={domain}", "--out", str(tmp_path / "d")]
        )
        assert result.exit_code == 2 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_a_title_names_an_expression_by_its_formula_once() -> None:
    assert _title(get_surface("x**2 + 10*sin(y)")) == "x**2+10*sin(y)"  # not "expr:...: ..."
    assert _title(get_surface("rosenbrock")) == "rosenbrock: (1 - x)^2 + 100 (y - x^2)^2"
