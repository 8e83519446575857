"""The expression parser: random whitelisted formulas vs NumPy, and refused inputs."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optiscope import surfaces
from optiscope.errors import ExpressionError, SpecError, UnknownNameError
from optiscope.surfaces import from_expression

# Each generated expression is a pair (text, numpy function of x, y), built side by side.
Leaf = tuple[str, object]

_LEAVES = [
    ("x", lambda x, y: x),
    ("y", lambda x, y: y),
    ("w1", lambda x, y: x),
    ("w2", lambda x, y: y),
    ("pi", lambda x, y: np.pi + 0 * x),
    ("e", lambda x, y: np.e + 0 * x),
]
# Functions wrapped so that their arguments stay inside the domain and values stay moderate.
_UNARY = [
    ("sin({})", np.sin),
    ("cos({})", np.cos),
    ("tanh({})", np.tanh),
    ("sigmoid({})", lambda v: 1 / (1 + np.exp(-v))),
    ("atan({})", np.arctan),
    ("arctan({})", np.arctan),
    ("abs({})", np.abs),
    ("exp(sin({}))", lambda v: np.exp(np.sin(v))),
    ("log(1 + ({})**2)", lambda v: np.log(1 + v**2)),
    ("sqrt(abs({}))", lambda v: np.sqrt(np.abs(v))),
    ("sinh(tanh({}))", lambda v: np.sinh(np.tanh(v))),
    ("cosh(tanh({}))", lambda v: np.cosh(np.tanh(v))),
    ("tan(atan({}) / 2)", lambda v: np.tan(np.arctan(v) / 2)),
    ("-({})", lambda v: -v),
    ("({})**2", lambda v: v**2),
]
_BINARY = [
    ("({}) + ({})", np.add),
    ("({}) - ({})", np.subtract),
    ("({}) * ({})", np.multiply),
    ("({}) / (1 + ({})**2)", lambda a, b: a / (1 + b**2)),
    ("min({}, {})", np.minimum),
    ("max({}, {})", np.maximum),
]


def _number_leaf(value: float) -> Leaf:
    rounded = round(value, 3)
    return (repr(rounded), lambda x, y: rounded + 0 * x)


def _numbers() -> st.SearchStrategy:
    return st.floats(0.1, 5.0, allow_nan=False).map(_number_leaf)


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    unary = st.tuples(st.sampled_from(_UNARY), children).map(
        lambda pair: (pair[0][0].format(pair[1][0]), lambda x, y, p=pair: p[0][1](p[1][1](x, y)))
    )
    binary = st.tuples(st.sampled_from(_BINARY), children, children).map(
        lambda t: (
            t[0][0].format(t[1][0], t[2][0]),
            lambda x, y, t=t: t[0][1](t[1][1](x, y), t[2][1](x, y)),
        )
    )
    return unary | binary


EXPRESSIONS = st.recursive(st.sampled_from(_LEAVES) | _numbers(), _extend, max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(EXPRESSIONS)
def test_random_expressions_match_numpy(expression) -> None:
    text, reference = expression
    rng = np.random.default_rng(len(text))
    points = rng.uniform(-3, 3, size=(16, 2))
    with np.errstate(all="ignore"):
        expected = reference(points[:, 0], points[:, 1])
    surface = from_expression(text)
    actual = surface(torch.tensor(points)).numpy()
    finite = np.isfinite(expected) & (np.abs(expected) < 1e12)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=1e-9, atol=1e-9, err_msg=text)
    # The canonical name is itself a valid expression with the same values.
    again = surfaces.get(surface.name)(torch.tensor(points)).numpy()
    np.testing.assert_allclose(again, actual, rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("__import__('os')", "__import__"),
        ("x.real", "x.real"),
        ("open", "open"),
        ("open('f')", "open"),
        ("lambda: 1", "lambda"),
        ("x[0]", "x[0]"),
        ("'a'", "'a'"),
        ("2**10**10", "exponent"),
        ("x**101", "exponent"),
        ("x if y else 1", "conditional"),
        ("x < y", "comparison"),
        ("x % 2", "Mod"),
        ("x ^ 2", "use **"),
        ("sin(x, y)", "exactly 1"),
        ("max(x)", "exactly 2"),
        ("sin(x=1)", "keyword"),
        ("(x)(y)", "function 'x'"),
        ("math.sin(x)", "by name"),
        ("1j * x", "complex"),
        ("True + x", "bool"),
        ("x +", "cannot parse"),
        ("", "empty"),
        ("z + 1", "unknown name"),
        ("-" * 60 + "x", "nested deeper"),
        ("sin(" * 45 + "x" + ")" * 45, "nested deeper"),
        ("x + " * 130 + "x", "at most 500"),
        ("(" * 240 + "x" + ")" * 240, ""),
    ],
)
def test_forbidden_inputs_raise_expression_error(text: str, piece: str) -> None:
    with pytest.raises(ExpressionError, match=None) as error:
        from_expression(text)
    assert piece in str(error.value)
    assert isinstance(error.value, SpecError)


def test_get_reads_expressions() -> None:
    surface = surfaces.get("x**2 + 10*sin(y)")
    assert float(surface(torch.tensor([1.0, 2.0], dtype=torch.float64))) == pytest.approx(
        1 + 10 * math.sin(2.0), rel=1e-15
    )
    assert surface.name == "expr:x**2+10*sin(y)"
    assert surface.domain == ((-5.0, 5.0), (-5.0, 5.0)) and surface.start == (4.0, 4.0)
    explicit = surfaces.get("expr:x*y:domain=((-1,1),(-2,2)),start=(0.5,0.5)", noise="lookup")
    assert explicit.domain == ((-1.0, 1.0), (-2.0, 2.0)) and explicit.start == (0.5, 0.5)
    assert explicit.options["noise"] == "lookup" and explicit.options["expression"] == "x*y"
    with pytest.raises(SpecError, match="allowed: domain, start"):
        surfaces.get("x*y", condition=3)
    with pytest.raises(ExpressionError, match="sinn"):
        surfaces.get("sinn(x)")


def test_names_win_over_expressions_and_typos_get_suggestions() -> None:
    assert surfaces.get("six-hump-camel").name == "six_hump_camel"
    with pytest.raises(UnknownNameError, match="rosenbrock"):
        surfaces.get("rosenbrok")
    with pytest.raises(UnknownNameError, match="three_hump_camel"):
        surfaces.get("three-hump-camal")


def test_expression_gradients_and_constants() -> None:
    surface = from_expression("w1**2 * exp(w2) + pi")
    point = torch.tensor([1.5, -0.5], dtype=torch.float64, requires_grad=True)
    value = surface(point)
    value.backward()
    assert value.item() == pytest.approx(2.25 * math.exp(-0.5) + math.pi, rel=1e-15)
    expected = [2 * 1.5 * math.exp(-0.5), 2.25 * math.exp(-0.5)]
    np.testing.assert_allclose(point.grad.numpy(), expected, rtol=1e-14)
    constant = from_expression("3 * e")
    points = torch.zeros(3, 4, 2, requires_grad=True)
    values = constant(points)
    assert values.shape == (3, 4) and torch.allclose(values, torch.tensor(3 * math.e))
    values.sum().backward()
    assert torch.equal(points.grad, torch.zeros_like(points))
    assert from_expression("x**100")(torch.tensor([1.0, 0.0])) == 1.0


def test_expression_surface_pickles_and_validates_domain() -> None:
    surface = from_expression("sigmoid(x) - y", domain=((0, 1), (0, 2)))
    restored = pickle.loads(pickle.dumps(surface))
    points = torch.rand(5, 2, dtype=torch.float64)
    assert torch.equal(restored(points), surface(points))
    with pytest.raises(SpecError, match="min < max"):
        from_expression("x", domain=((1, 0), (0, 1)))
