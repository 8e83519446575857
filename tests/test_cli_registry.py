"""The registry commands: optimizers list (filters) and show, surfaces list (grep) and show."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.optimizers import list_entries
from optiscope.surfaces import list_surfaces


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_optimizer_filters_keep_exactly_the_matching_entries() -> None:
    code, out = invoke("optimizers", "list", "--json", "--source", "pytorch_optimizer", "--tag", "sign")
    assert code == 0
    expected = sorted(e.name for e in list_entries() if e.source == "pytorch_optimizer" and "sign" in e.tags)
    assert sorted(entry["name"] for entry in json.loads(out)) == expected and "lion" in expected
    code, out = invoke("optimizers", "list", "--json", "--grep", "KERAS")
    names = {entry["name"] for entry in json.loads(out)}
    assert {"rmsprop_keras", "adagrad_keras", "ftrl_keras", "lamb_keras"} <= names
    assert "sgd" not in names


def test_optimizer_show_gives_defaults_notes_and_the_source_librarys_page() -> None:
    code, out = invoke("optimizers", "show", "adam", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["defaults"]["lr"] == 0.001
    assert shown["documentation"] == "https://pytorch.org/docs/stable/generated/torch.optim.Adam.html"
    code, out = invoke("optimizers", "show", "lion", "--json")
    assert json.loads(out)["documentation"].endswith("#pytorch_optimizer.Lion")
    code, out = invoke("optimizers", "show", "lamb_keras")
    assert code == 0 and "trust ratio" in out and "documentation: optiscope's own" in out


def test_surface_show_and_grep() -> None:
    code, out = invoke("surfaces", "show", "rosenbrock", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["minima"] == [[1.0, 1.0]] and shown["minimum_value"] == 0.0
    code, out = invoke("surfaces", "list", "--json", "--grep", "camel")
    expected = sorted(
        s.name for s in list_surfaces() if "camel" in f"{s.name} {s.formula} {s.description}".lower()
    )
    assert (
        sorted(entry["name"] for entry in json.loads(out))
        == expected
        == ["six_hump_camel", "three_hump_camel"]
    )


def test_unknown_names_and_sources_are_one_line_and_exit_2() -> None:
    for args in (("optimizers", "list", "--source", "keras"), ("optimizers", "show", "adamm"),
                 ("surfaces", "show", "rosenbrok")):  # fmt: skip
        code, out = invoke(*args)
        assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert "did you mean 'adam'" in invoke("optimizers", "show", "adamm")[1]


def test_help_text_shows_bracketed_words_instead_of_swallowing_them_as_markup() -> None:
    for command, shown in ((("paths", "--help"), "optiscope[video]"), (("sweep", "--help"), "[values]")):
        code, out = invoke(*command)
        assert code == 0 and shown in " ".join(out.split()), out


def test_without_a_terminal_progress_is_a_steady_flushed_line_and_short_work_is_quiet(capsys) -> None:
    from optiscope.cli_app import progress_bar

    now = [0.0]
    with progress_bar("sweep (cells)", every=10.0, clock=lambda: now[0]) as update:
        for done, at in ((1, 3.0), (2, 11.0), (3, 15.0), (4, 22.0), (5, 23.0)):
            now[0] = at
            update(done, 5)
        update(5, 5)  # a repeated final report prints nothing more
    assert capsys.readouterr().err.splitlines() == [
        "sweep (cells): 2 of 5 (40%)",
        "sweep (cells): 4 of 5 (80%)",
        "sweep (cells): 5 of 5 (100%)",
    ]
    with progress_bar("quick", every=10.0, clock=lambda: 1.0) as update:
        update(1, 1)
    assert capsys.readouterr().err == ""


def test_a_resumed_run_says_what_it_found_stored() -> None:
    from types import SimpleNamespace

    from optiscope.experiments.execute import Execution
    from optiscope.experiments.protocol import Style

    def described(units: tuple[str, ...], summary: dict | None = None) -> str:
        run_dir = SimpleNamespace(resumed=True, units_at_open=units, manifest={"summary": summary}, path="R")
        return Execution(run_dir, Style(), cached=False, rendered=True).describe()  # type: ignore[arg-type]

    assert described(("epoch-00045", "epoch-00046")) == "resumed after epoch 46 and finished: R"
    assert (
        described(("chunk-0", "chunk-1", "chunk-2")) == "resumed (3 stored work units reused) and finished: R"
    )
    assert described((), {"cells": 12, "cells_reused": 7}) == "resumed and finished; 7 of 12 cells reused: R"


def test_an_option_given_twice_where_one_is_meant_is_refused(tmp_path) -> None:
    code, out = invoke("curvature", str(tmp_path / "run"), "--data", "batch:64", "--data", "train")
    assert code == 2 and out.strip() == "error: --data takes one value here, got 2: batch:64, train"


def test_yaml_configs_report_file_line_field_and_problem(tmp_path) -> None:
    """Sweeps and training configs, like studies, say FILE:LINE: field: problem, with close names."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("base:\n  model: mlp\n  optimizr: sgd\ngrid:\n  lr: [0.1]\n")
    code, out = invoke("sweep", str(sweep), "--out", str(tmp_path / "s"))
    assert code == 2 and out.startswith(f"error: {sweep}:3: optimizr: Extra inputs are not permitted")
    assert "did you mean 'optimizer'?" in out and "Value error" not in out
    train = tmp_path / "train.yaml"
    train.write_text("model: mlp\nepochs: -3\n")
    code, out = invoke("train", str(train), "--out", str(tmp_path / "t"))
    assert code == 2 and out.strip() == f"error: {train}:2: epochs: Input should be greater than 0"
    # a flag that overrides the file is not blamed on a line of it
    code, out = invoke("train", str(train), "--epochs", "0", "--out", str(tmp_path / "t"))
    assert code == 2 and out.strip() == f"error: {train}: epochs: Input should be greater than 0"
    assert not (tmp_path / "s").exists() and not (tmp_path / "t").exists()


def test_a_run_whose_drawing_failed_for_a_missing_extra_does_not_lock_its_folder(
    tmp_path, monkeypatch
) -> None:
    """--mp4 without imageio-ffmpeg: one line, exit 2; the same command without it then works
    (figure options are not part of the run, so the folder holds the same run)."""
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)  # as if not installed
    common = ["paths", "booth", "--opt", "sgd:lr=0.05", "--steps", "5", "--out", str(tmp_path / "r")]
    code, out = invoke(*common, "--animate", "--mp4")
    assert code == 2 and out.strip() == "error: mp4 needs imageio-ffmpeg: pip install 'optiscope[video]'"
    code, out = invoke(*common)
    assert code == 0 and "already holds this run" in out
