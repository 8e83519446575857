"""The ``name:key=value`` parser: round trips (hypothesis) and its error messages."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optiscope.errors import SpecError
from optiscope.spec_syntax import format_named_args, parse_named_args, split_top_level

keys = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
scalars = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, width=64),
    st.booleans(),
    st.none(),
    st.text(alphabet="abcxyz_ ,:=()", max_size=8),
)
values = st.one_of(scalars, st.tuples(scalars, scalars), st.lists(scalars, max_size=3))


@given(
    name=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    args=st.dictionaries(keys, values, max_size=4),
)
def test_format_then_parse_is_the_identity(name: str, args: dict) -> None:
    parsed_name, parsed_args = parse_named_args(format_named_args(name, args))
    assert parsed_name == name
    assert parsed_args == args


def test_examples_from_the_docs() -> None:
    assert parse_named_args("adam:lr=0.1,betas=(0.9,0.99),weight_decay=0") == (
        "adam",
        {"lr": 0.1, "betas": (0.9, 0.99), "weight_decay": 0},
    )
    assert parse_named_args("my_pkg.my_mod:MyOpt:lr=0.1") == ("my_pkg.my_mod:MyOpt", {"lr": 0.1})
    assert parse_named_args("sgd:nesterov=true,mode=lookup") == ("sgd", {"nesterov": True, "mode": "lookup"})
    _, args = parse_named_args("x:a=nan,b=-inf")
    assert math.isnan(args["a"]) and args["b"] == -math.inf


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (":lr=1", "no name"),
        ("adam:lr=", "empty value"),
        ("adam:lr=1,lr=2", "twice"),
        ("adam:lr=1,,", "empty argument"),
        ("adam:betas=(0.9,0.99", "missing"),
        ("adam:betas=0.9)", "unbalanced"),
        ("adam:name='abc", "unterminated"),
        ("adam:lr=__import__('os')", "cannot read"),
    ],
)
def test_malformed_specs_raise_spec_error(text: str, needle: str) -> None:
    with pytest.raises(SpecError, match=needle):
        parse_named_args(text)


def test_text_after_a_colon_without_key_is_part_of_the_name() -> None:
    """``pkg.mod:Class`` names a user class; the optimizer registry then rejects ``adam:lr0.1``."""
    from optiscope.optimizers import parse_spec

    assert parse_named_args("adam:lr0.1") == ("adam:lr0.1", {})
    with pytest.raises(SpecError, match="key=value"):
        parse_spec("adam:lr0.1")


def test_split_respects_brackets_and_quotes() -> None:
    assert split_top_level("a=(1,2),b='x,y',c=[3,4]", ",") == ["a=(1,2)", "b='x,y'", "c=[3,4]"]


def test_inf_and_nan_inside_tuples_and_lists_read_back() -> None:
    """Hypothesis found '[inf]' unreadable: format writes bare inf/nan, so parse must read them."""

    name, args = parse_named_args("a:x=[inf],y=(1,-inf),z=[nan, 2]")
    assert name == "a" and args["x"] == [math.inf] and args["y"] == (1, -math.inf)
    assert math.isnan(args["z"][0]) and args["z"][1] == 2
    with pytest.raises(SpecError):
        parse_named_args("a:x=[-'s']")


@given(
    item=st.from_regex(r"[0-9.()=,\-+ ]{0,6}[0-9()][0-9.()\- ]{0,6}", fullmatch=True).filter(
        lambda t: "=" not in t
    )
)
def test_an_argument_without_a_key_is_refused_by_name(item: str) -> None:
    # After a first key=value, every further top-level argument must be key=value too; a bare value
    # (a positional argument) is named in the message, never dropped or read as something else.
    if "," in item or "(" in item or ")" in item:
        return  # commas and brackets change the top-level split: other branches' cases
    text = f"adam:lr=0.1,{item}"
    with pytest.raises(SpecError, match="is not of the form key=value") as caught:
        parse_named_args(text)
    assert repr(item.strip()) in str(caught.value)


def test_a_positional_argument_is_refused() -> None:
    with pytest.raises(
        SpecError, match=r"^argument '0\.9' in 'adam:lr=0\.1,0\.9' is not of the form key=value$"
    ):
        parse_named_args("adam:lr=0.1,0.9")


def test_a_spec_error_names_the_field_without_pydantics_prefix_and_suggests_close_names() -> None:
    from optiscope.experiments.protocol import Style

    with pytest.raises(SpecError) as bad_value:
        Style.build(x_limits=(2, 1))
    assert str(bad_value.value) == "x_limits: limits must be two finite numbers, low < high; got (2.0, 1.0)"
    with pytest.raises(SpecError) as misspelt:
        Style.build(dpii=3)
    assert str(misspelt.value).startswith(
        "dpii: Extra inputs are not permitted; did you mean 'dpi'? allowed: "
    )
