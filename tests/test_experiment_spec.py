"""Experiment YAML: presets validate, broken documents get one line naming file:line, step, field."""

from __future__ import annotations

import re
import textwrap

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from optiscope.errors import SpecError, UnknownNameError
from optiscope.experiments.experiment_spec import load_experiment, parse_reference, resolve
from optiscope.experiments.presets import load_source, preset_names, preset_summaries, preset_text

SEED_PRESETS = [
    "seed000-visual-analysis",
    "seed001-second-order",
    "seed002-from-scratch",
    "seed003-regression",
    "seed004-surfaces",
]

VALID = textwrap.dedent(
    """\
    name: mine
    title: My study
    steps:
      - kind: train
        name: a
        optimizer: "sgd:lr=0.1"
        epochs: 2
      - kind: landscape
        name: l
        runs: [a]
        grid: 5
    """
)


def _error(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        load_experiment("study.yaml", text=text)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_the_five_seed_presets_and_the_demo_ship_and_validate() -> None:
    assert preset_names() == sorted([*SEED_PRESETS, "demo"])
    for name in [*SEED_PRESETS, "demo"]:
        experiment = load_source(f"preset:{name}")
        assert experiment.name == name
        quick = resolve(experiment, quick=True)
        assert quick.quick and not experiment.quick
        # The YAML is a readable example: it says what it reproduces and how to run it.
        assert "optiscope run preset:" + name in preset_text(name)
    summaries = {row["name"]: row for row in preset_summaries()}
    assert summaries["seed000-visual-analysis"]["kinds"] == [
        "compare",
        "landscape",
        "sweep",
        "table",
        "train",
        "tune",
    ]
    # Seed 000's limitation answered: its MLP tuned, with the seed's settings as the baselines.
    tuned = resolve(load_source("preset:seed000-visual-analysis")).step("tuned").config()
    assert tuned.net is not None and tuned.net.dataset == "proxy-cifar10" and tuned.net.batch_size == 64
    assert tuned.baselines == {"classical_momentum": "classical_momentum:lr=0.002,momentum=0.9",
                               "adam": "adam:lr=0.0005"}  # fmt: skip


def test_seed000_preset_holds_the_seeds_tables_and_settings() -> None:
    experiment = load_source("preset:seed000-visual-analysis")
    table1 = experiment.step("table1")
    assert {row.label: row.published["test_accuracy"] for row in table1.rows} == {
        "GD": 0.3833,
        "SGD": 0.4816,
        "Adam": 0.4765,
    }
    table2 = experiment.step("table2-vs-seed")
    assert len(table2.rows) == 18  # 3 learning rates x 3 batch sizes x 2 momenta
    sweep = experiment.step("table2")
    assert sweep.grid == {"lr": [2, 0.002, 0.00001], "batch_size": [1, 64, 256], "momentum": [0, 0.9]}
    assert sweep.budget.epochs == 20 and sweep.budget.patience == 4
    assert experiment.step("gd").budget.steps == 1000 and experiment.step("gd").batch_size == 0
    assert experiment.step("adam").optimizer == "adam:lr=0.0005"


def test_unknown_preset_names_close_matches() -> None:
    with pytest.raises(UnknownNameError, match="did you mean seed004-surfaces"):
        load_source("preset:seed004-surface")


@pytest.mark.parametrize(
    ("change", "line", "expected"),
    [
        (
            ("grid: 5", "grid: 5000"),
            11,
            r"steps\[1\] \(landscape 'l'\): grid: Input should be less than or equal to 1001",
        ),
        (
            ("grid: 5", "gird: 5"),
            11,
            r"gird: Extra inputs are not permitted \(did you mean 'grid'\?\); allowed: .*grid",
        ),
        (("runs: [a]", "runs: [b]"), 8, r"steps\[1\] \(l\): 'b' names no earlier step; earlier steps: a"),
        (("kind: landscape", "kind: landscap"), 8, r"does not match any of the expected tags: .*'landscape'"),
        (
            ("sgd:lr=0.1", "sgdd:lr=0.1"),
            4,
            r"steps\[0\] \(train 'a'\): unknown optimizer 'sgdd'; did you mean 'sgd'",
        ),
        (("epochs: 2", "epochs: -2"), 7, r"steps\[0\] \(train 'a'\): epochs: Input should be greater than 0"),
        (
            ("title: My study", "title: My study\ncolour: red"),
            3,
            r"colour: Extra inputs .*allowed: about, data_dir",
        ),
        (("name: l\n", "name: a\n"), 8, r"steps\[1\]: step name 'a' is used twice"),
    ],
)
def test_a_broken_yaml_names_the_line_the_step_and_the_field(
    change: tuple[str, str], line: int, expected: str
) -> None:
    message = _error(VALID.replace(*change, 1))
    assert message.startswith(f"study.yaml:{line}: "), message
    assert re.search(expected, message), message


def test_a_step_reading_the_wrong_kind_of_step_says_what_it_reads() -> None:
    text = VALID.replace("kind: train\n    name: a\n    optimizer: \"sgd:lr=0.1\"\n    epochs: 2",
                         "kind: paths\n    name: a\n    surface: booth\n    optimizers: [sgd]")  # fmt: skip
    assert "'a' is a paths step; a landscape step reads sweep or train steps" in _error(text)


def test_not_yaml_and_not_a_mapping_are_one_line_each() -> None:
    assert re.match(r"study\.yaml:2: not valid YAML", _error("name: x\n  - : [\n"))
    assert "an experiment is a YAML mapping" in _error("- just\n- a list\n")


def test_quick_applies_kind_defaults_then_the_steps_own_overrides() -> None:
    text = (
        VALID
        + "    quick: {grid: 3}\nquick_defaults:\n  train: {epochs: 1, limit: 50}\n  landscape: {grid: 4}\n"
    )
    experiment = load_experiment("study.yaml", text=text)
    quick = resolve(experiment, quick=True)
    assert (quick.step("a").epochs, quick.step("a").limit, quick.step("l").grid) == (1, 50, 3)
    full = resolve(experiment)
    assert (full.step("a").epochs, full.step("a").limit, full.step("l").grid) == (2, None, 5)


def test_dataset_goes_to_every_training_step_and_the_cli_override_wins() -> None:
    text = VALID.replace("    epochs: 2\n", "    epochs: 2\n    dataset: synthetic:40,8,3\n")
    text += "  - kind: sweep\n    name: s\n    grid: {lr: [0.1, 0.2]}\n"
    experiment = load_experiment("study.yaml", text=text)
    plain = resolve(experiment)
    assert plain.step("a").dataset == "synthetic:40,8,3"  # the step's own choice stands
    assert plain.step("s").base["dataset"] == "digits"  # the experiment's default
    forced = resolve(experiment, dataset="mnist", data_dir="/data/mnist")
    assert forced.step("a").dataset == "mnist" and forced.step("a").data_dir == "/data/mnist"
    assert forced.step("s").base == {"dataset": "mnist", "data_dir": "/data/mnist"}


def test_a_quick_override_that_breaks_a_step_is_reported() -> None:
    text = VALID + "    quick: {grid: 1}\n"
    with pytest.raises(SpecError, match=r"steps\[1\] \(landscape 'l'\): grid: Input should be greater"):
        resolve(load_experiment("study.yaml", text=text), quick=True)


@given(grid=st.integers(min_value=-5, max_value=3000))
@settings(max_examples=40, deadline=None)
def test_grid_is_accepted_exactly_in_its_range_and_otherwise_named(grid: int) -> None:
    text = VALID.replace("grid: 5", f"grid: {grid}")
    if 2 <= grid <= 1001:
        assert load_experiment("study.yaml", text=text).step("l").grid == grid
    else:
        message = _error(text)
        assert message.startswith("study.yaml:11: steps[1] (landscape 'l'): grid: "), message


@given(key=st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True))
@settings(max_examples=40, deadline=None)
def test_any_unknown_field_of_a_step_is_refused_and_the_allowed_ones_listed(key: str) -> None:
    allowed = {"about", "data", "directions", "engine", "grid", "ignore", "kind", "labels", "name",
               "quick", "runs", "seed", "span", "title",
               # figure options, which every step may carry (its style, not its cache key)
               "animate", "dpi", "fps", "frames", "grid_resolution", "interactive", "three_d",
               "video"}  # fmt: skip
    text = VALID + f"    {key}: 1\n"
    if key in allowed:
        return
    message = _error(text)
    assert (
        f"{key}: Extra inputs are not permitted" in message
        and "allowed: about, animate, centre, convexity, data, directions" in message
    )


@given(
    step=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True),
    selector=st.none()
    | st.from_regex(r"[a-z_]{1,6}=[0-9.]{1,5}(,[a-z_]{1,6}=[0-9.]{1,5}){0,2}", fullmatch=True),
)
def test_references_round_trip(step: str, selector: str | None) -> None:
    text = step if selector is None else f"{step}[{selector}]"
    assert parse_reference(text) == (step, selector)


def test_a_malformed_reference_is_refused() -> None:
    for text in ("", "Upper", "a[", "a b"):
        with pytest.raises(SpecError, match="is not a step reference"):
            parse_reference(text)


def test_presets_yaml_is_plain_yaml() -> None:
    # Readable examples: every preset loads with a plain YAML reader into name/title/steps.
    for name in SEED_PRESETS:
        document = yaml.safe_load(preset_text(name))
        assert {"name", "title", "steps"} <= set(document)


SWEEP_AND_PATHS = """\
name: refs
title: References
steps:
  - {kind: sweep, name: s, grid: {lr: [0.1, 0.2], batch_size: [8, 16]}}
  - {kind: paths, name: p, surface: booth, optimizers: ["sgd:lr=0.1", "adam:lr=0.1"]}
  - kind: table
    name: t
    source: test
    metrics: [final_loss]
    rows: [{label: X, run: "REF"}]
"""


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("s[lr=0.3]", r"\[lr=0.3\] matches 0 cells of sweep 's'; name exactly one"),
        ("s[lr=0.1]", r"\[lr=0.1\] matches 2 cells of sweep 's'"),
        ("s", r"name one cell of sweep 's' as s\[key=value,...\]"),
        ("p[nag:lr=0.1]", r"name one optimizer of 'p': sgd:lr=0.1, adam:lr=0.1"),
        ("p", r"name one optimizer of 'p'"),
    ],
)
def test_references_into_sweeps_and_paths_are_checked_when_the_yaml_loads(
    reference: str, expected: str
) -> None:
    message = _error(SWEEP_AND_PATHS.replace("REF", reference))
    assert message.startswith("study.yaml:6: steps[2] (t): "), message
    assert re.search(expected, message), message


def test_a_reference_selects_the_named_cell_with_numbers_compared_as_numbers() -> None:
    from optiscope.experiments.experiment_spec import sweep_cell

    experiment = load_experiment("study.yaml", text=SWEEP_AND_PATHS.replace("REF", "s[lr=0.2,batch_size=8]"))
    assert sweep_cell(experiment.step("s"), "batch_size=16.0,lr=2e-1") == (3, {"lr": 0.2, "batch_size": 16})
    assert (
        load_experiment("study.yaml", text=SWEEP_AND_PATHS.replace("REF", "p[adam:lr=1e-1]")).name == "refs"
    )
