"""Surfaces typed as formulas, e.g. ``"x**2 + 10*sin(y)"``, parsed safely.

The text is parsed with :func:`ast.parse` and walked node by node against a whitelist;
a torch function is built from the tree as closures. Nothing is ever passed to ``eval``,
``exec`` or ``compile``. Allowed: numbers, the variables ``x``, ``y`` (aliases ``w1``, ``w2``),
the constants ``pi`` and ``e``, the operators ``+ - * / **`` and unary ``+ -``, and the
functions in :data:`UNARY_FUNCTIONS` and :data:`BINARY_FUNCTIONS`. Subtrees without variables
are folded to constants, which is how exponents are bounded (``2**10**10`` is refused).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from optiscope.errors import ExpressionError
from optiscope.surfaces._validation import as_domain, as_point, default_start
from optiscope.surfaces.base import Domain, Point, Surface

__all__ = [
    "BINARY_FUNCTIONS",
    "CONSTANTS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "UNARY_FUNCTIONS",
    "VARIABLES",
    "ExpressionFunction",
    "from_expression",
]

MAX_LENGTH = 500
MAX_DEPTH = 40
MAX_EXPONENT = 100.0

VARIABLES = {"x": 0, "y": 1, "w1": 0, "w2": 1}
CONSTANTS = {"pi": math.pi, "e": math.e}
UNARY_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "arctan": torch.atan,
    "atan": torch.atan,
}
BINARY_FUNCTIONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "min": torch.minimum,
    "max": torch.maximum,
}
_BINARY_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda left, right: left + right,
    ast.Sub: lambda left, right: left - right,
    ast.Mult: lambda left, right: left * right,
    ast.Div: lambda left, right: left / right,
    ast.Pow: lambda left, right: left**right,
}
_UNARY_OPERATORS: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: lambda operand: -operand,
    ast.UAdd: lambda operand: operand,
}

Evaluator = Callable[[Tensor, Tensor], "Tensor | float"]


@dataclass(frozen=True)
class _Node:
    """A compiled subtree: ``evaluate(x, y)``, or ``constant`` when it holds no variable."""

    evaluate: Evaluator
    constant: float | None = None


def _constant(value: float) -> _Node:
    return _Node(evaluate=lambda x, y: value, constant=value)


def _fold(function: Callable[..., Any], *values: float) -> float:
    """Evaluate ``function`` on float64 scalars, as the torch code would at run time."""
    result = function(*(torch.tensor(value, dtype=torch.float64) for value in values))
    return float(result)


class _Compiler:
    """Walks an expression AST against the whitelist and builds closures."""

    def __init__(self, text: str) -> None:
        self.text = text

    def piece(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def fail(self, node: ast.AST, reason: str) -> ExpressionError:
        return ExpressionError(f"{reason}: {self.piece(node)!r} in expression {self.text!r}")

    def compile(self, node: ast.AST, depth: int = 0) -> _Node:
        if depth > MAX_DEPTH:
            raise self.fail(node, f"expression nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.fail(node, f"{_describe(node)} is not allowed")

    def number(self, node: ast.Constant) -> _Node:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node, f"only numbers are allowed as constants, not {type(value).__name__}")
        try:
            number = float(value)
        except OverflowError:
            raise self.fail(node, "number too large") from None
        return _constant(number)

    def name(self, node: ast.Name) -> _Node:
        if node.id in VARIABLES:
            index = VARIABLES[node.id]
            return _Node(evaluate=(lambda x, y: x) if index == 0 else (lambda x, y: y))
        if node.id in CONSTANTS:
            return _constant(CONSTANTS[node.id])
        allowed = ", ".join([*VARIABLES, *CONSTANTS])
        raise self.fail(node, f"unknown name (allowed: {allowed})")

    def binary(self, node: ast.BinOp, depth: int) -> _Node:
        operator = _BINARY_OPERATORS.get(type(node.op))
        if operator is None:
            hint = "; use ** for powers" if isinstance(node.op, ast.BitXor) else ""
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed{hint}")
        left = self.compile(node.left, depth + 1)
        right = self.compile(node.right, depth + 1)
        exponent = right.constant if isinstance(node.op, ast.Pow) else None
        if exponent is not None and not abs(exponent) <= MAX_EXPONENT:
            raise self.fail(node, f"exponent {exponent:g} exceeds {MAX_EXPONENT:g}")
        if left.constant is not None and right.constant is not None:
            return _constant(_fold(operator, left.constant, right.constant))
        left_eval, right_eval = left.evaluate, right.evaluate
        return _Node(evaluate=lambda x, y: operator(left_eval(x, y), right_eval(x, y)))

    def unary(self, node: ast.UnaryOp, depth: int) -> _Node:
        operator = _UNARY_OPERATORS.get(type(node.op))
        if operator is None:
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        operand = self.compile(node.operand, depth + 1)
        if operand.constant is not None:
            return _constant(operator(operand.constant))
        operand_eval = operand.evaluate
        return _Node(evaluate=lambda x, y: operator(operand_eval(x, y)))

    def call(self, node: ast.Call, depth: int) -> _Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only calls of whitelisted functions by name are allowed")
        name = node.func.id
        if node.keywords:
            raise self.fail(node, f"function {name!r} takes no keyword arguments")
        if name in UNARY_FUNCTIONS:
            function: Callable[..., Tensor] = UNARY_FUNCTIONS[name]
            arity = 1
        elif name in BINARY_FUNCTIONS:
            function, arity = BINARY_FUNCTIONS[name], 2
        else:
            allowed = ", ".join([*UNARY_FUNCTIONS, *BINARY_FUNCTIONS])
            raise self.fail(node, f"function {name!r} is not allowed (allowed: {allowed})")
        if len(node.args) != arity or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail(node, f"function {name!r} takes exactly {arity} argument(s)")
        arguments = [self.compile(arg, depth + 1) for arg in node.args]
        if all(argument.constant is not None for argument in arguments):
            return _constant(_fold(function, *(argument.constant for argument in arguments)))
        evaluators = [argument.evaluate for argument in arguments]
        return _Node(evaluate=lambda x, y: function(*_as_tensors(x, [e(x, y) for e in evaluators])))


def _as_tensors(like: Tensor, values: list[Tensor | float]) -> list[Tensor]:
    """Turn folded constants into tensors of ``like``'s dtype and device (for torch functions)."""
    return [
        value if isinstance(value, Tensor) else torch.as_tensor(value, dtype=like.dtype, device=like.device)
        for value in values
    ]


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.Lambda: "a lambda",
        ast.Compare: "a comparison",
        ast.BoolOp: "a boolean operator",
        ast.IfExp: "a conditional expression",
        ast.NamedExpr: "an assignment expression",
    }
    return names.get(type(node), f"a {type(node).__name__} node")


def parse_expression(text: str) -> tuple[str, _Node]:
    """Parse ``text`` into its canonical form (no spaces) and its compiled tree.

    Raises:
        ExpressionError: too long, not an expression, or outside the whitelist.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected an expression string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is {len(text)} characters long; at most {MAX_LENGTH}")
    stripped = text.strip()
    if not stripped:
        raise ExpressionError("empty expression")
    try:
        tree = ast.parse(stripped, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise ExpressionError(f"cannot parse expression {stripped!r}: {error}") from None
    try:
        node = _Compiler(stripped).compile(tree.body)
    except RecursionError:
        raise ExpressionError(f"expression {stripped!r} is nested too deeply") from None
    return ast.unparse(tree).replace(" ", ""), node


class ExpressionFunction:
    """The torch function of one expression, ``(..., 2) -> (...)``; pickles as its text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.canonical, self._node = parse_expression(text)

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (ExpressionFunction, (self.text,))

    def __call__(self, points: Tensor) -> Tensor:
        x, y = points[..., 0], points[..., 1]
        value = self._node.evaluate(x, y)
        if isinstance(value, Tensor):
            return value
        # A constant expression: tie it to the points so it has shape (...) and autograd sees
        # a (zero) dependency on them.
        return x * 0 + value


def from_expression(
    text: str, domain: Domain = ((-5.0, 5.0), (-5.0, 5.0)), start: Point | None = None
) -> Surface:
    """A surface from a formula in ``x`` and ``y``, e.g. ``"x**2 + 10*sin(y)"``.

    Args:
        text: the formula (at most :data:`MAX_LENGTH` characters; see the module docstring).
        domain: ``((x_min, x_max), (y_min, y_max))``.
        start: the start point; by default 80% of the way from the centre to the upper-right
            corner of the domain.

    Raises:
        ExpressionError: the formula is outside the whitelist or does not parse.
        SpecError: a malformed domain or start.
    """
    function = ExpressionFunction(text)
    domain = as_domain(domain)
    start = default_start(domain) if start is None else as_point(start)
    return Surface(
        name=f"expr:{function.canonical}",
        function=function,
        domain=domain,
        start=start,
        formula=function.canonical,
        description="A user-defined expression surface.",
        options={
            "expression": function.canonical,
            "domain": [list(domain[0]), list(domain[1])],
            "start": list(start),
        },
    )
