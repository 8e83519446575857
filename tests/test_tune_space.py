"""Search spaces come from the registry entries; overrides replace or fix a dimension; TPE batches
are a pure function of (history, seed)."""

from __future__ import annotations

import pytest

from optiscope.errors import SpecError
from optiscope.tuning import ask_batch, parse_override, search_space

pytest.importorskip("optuna", reason="the sampler needs optuna: pip install 'optiscope[tune]'")


def test_adam_tunes_its_rate_betas_eps_and_weight_decay_with_the_declared_ranges() -> None:
    space = search_space("adam")
    assert space.keys == ("lr", "betas.0", "betas.1", "eps", "weight_decay")
    lr = space.dimension("lr")
    assert lr is not None and (lr.low, lr.high, lr.log, lr.default) == (1e-5, 1.0, True, 1e-3)
    assert space.dimension("eps").log and space.dimension("betas.1").default == 0.999  # type: ignore[union-attr]
    assert space.fixed == {}


def test_a_switch_the_default_leaves_off_is_not_turned_on() -> None:
    assert "momentum" not in search_space("sgd").keys  # plain SGD stays plain
    assert "momentum" not in search_space("rmsprop").keys
    assert "momentum" in search_space("classical_momentum").keys
    assert "momentum" in search_space("momentum").keys  # the seeds' EMA form
    assert search_space("nag").fixed == {}  # nesterov stays the entry's True, unsearched


def test_spec_values_are_fixed_and_overrides_replace_or_fix_dimensions() -> None:
    space = search_space(
        "adam:amsgrad=True,eps=1e-6", {"lr": (1e-3, 0.5), "betas.1": 0.99, "weight_decay": 0.0}
    )
    assert space.keys == ("lr", "betas.0")
    assert space.fixed == {"amsgrad": True, "eps": 1e-6, "betas": (0.9, 0.99), "weight_decay": 0.0}
    lr = space.dimension("lr")
    assert lr is not None and (lr.low, lr.high, lr.log) == (1e-3, 0.5, False)
    hparams = space.hparams({"lr": 0.1, "betas.0": 0.8})
    assert hparams["betas"] == (0.8, 0.99) and hparams["lr"] == 0.1
    assert space.spec_text({"lr": 0.1, "betas.0": 0.8}).startswith("adam:")


def test_default_values_rebuild_the_default_spec() -> None:
    space = search_space("rmsprop")
    assert space.hparams(space.default_values()) == {
        "lr": 0.01,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adam.lr=1e-4:1:log", ("adam", "lr", (1e-4, 1.0, "log"))),
        ("adam.betas.1=0.9:0.99", ("adam", "betas.1", (0.9, 0.99))),
        ("sgd.weight_decay=0", ("sgd", "weight_decay", 0.0)),
    ],
)
def test_command_line_overrides_parse(text: str, expected: tuple) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["adam.lr", "lr=1:2", "adam.lr=a:b", "adam.lr=1:2:cubic"])
def test_bad_overrides_are_one_line_errors(text: str) -> None:
    with pytest.raises(SpecError, match="--space"):
        parse_override(text)


def test_override_of_an_unknown_hyperparameter_or_bad_range_is_refused() -> None:
    with pytest.raises(SpecError, match="no hyperparameter 'gamma'"):
        search_space("adam", {"gamma": (0.1, 0.2)})
    with pytest.raises(SpecError, match="low < high"):
        search_space("adam", {"lr": (1.0, 0.1)})


def test_a_batch_is_a_pure_function_of_history_and_seed_and_stays_in_range() -> None:
    space = search_space("adam")
    history = tuple((space.default_values() | {"lr": 10.0 ** (-k / 3)}, float(k)) for k in range(1, 13))
    first = ask_batch(space, history, 5, seed=7)
    assert first == ask_batch(space, history, 5, seed=7)
    assert first != ask_batch(space, history, 5, seed=8)
    assert len({round(values["lr"], 12) for values in first}) == 5  # the constant liar spreads a batch
    for values in first:
        for dimension in space.dimensions:
            assert dimension.low <= values[dimension.key] <= dimension.high
