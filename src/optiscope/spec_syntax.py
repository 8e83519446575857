"""The ``name:key=value,key=value`` syntax shared by optimizer and surface specs.

Values are read with :func:`ast.literal_eval` (numbers, strings, tuples, lists, booleans,
``None``) and never evaluated as code; a bare word such as ``true`` or ``lookup`` is taken as
a string (``true``/``false``/``none`` in any case become ``True``/``False``/``None``).
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from optiscope.errors import SpecError

__all__ = ["format_named_args", "parse_named_args", "parse_value", "split_top_level"]

_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")
_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_WORDS = {"true": True, "false": False, "none": None, "null": None}


def split_top_level(text: str, separator: str) -> list[str]:
    """Split ``text`` on ``separator`` outside brackets and quotes.

    Raises:
        SpecError: unbalanced brackets or an unterminated quote.
    """
    parts: list[str] = []
    stack: list[str] = []
    quote: str | None = None
    current: list[str] = []
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif char in _OPENERS:
            stack.append(_OPENERS[char])
        elif char in ")]}":
            if not stack or stack.pop() != char:
                raise SpecError(f"unbalanced {char!r} in {text!r}")
        elif char == separator and not stack:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote:
        raise SpecError(f"unterminated quote in {text!r}")
    if stack:
        raise SpecError(f"missing {stack[-1]!r} in {text!r}")
    parts.append("".join(current))
    return parts


def parse_value(text: str) -> Any:
    """Read one value safely: a Python literal, or a bare word taken as a string.

    Raises:
        SpecError: the text is neither a literal nor a bare word.
    """
    stripped = text.strip()
    if not stripped:
        raise SpecError("empty value")
    lowered = stripped.lower()
    if lowered in _WORDS:
        return _WORDS[lowered]
    if lowered in {"nan", "+nan", "-nan"}:
        return math.nan
    if lowered in {"inf", "+inf", "infinity"}:
        return math.inf
    if lowered in {"-inf", "-infinity"}:
        return -math.inf
    try:
        return _literal(ast.parse(stripped, mode="eval").body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        if _BARE_WORD.match(stripped):
            return stripped
        raise SpecError(f"cannot read value {stripped!r}: not a number, string or tuple") from None


_SPECIAL_FLOATS = {"inf": math.inf, "infinity": math.inf, "nan": math.nan}


def _literal(node: ast.AST) -> Any:
    """A literal from its syntax tree, as ``ast.literal_eval`` reads it, plus ``inf`` and ``nan``
    inside tuples and lists (which :func:`format_named_args` writes). Nothing is evaluated."""
    if isinstance(node, ast.Name) and node.id.lower() in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[node.id.lower()]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _literal(node.operand)
        if isinstance(operand, int | float) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
        raise ValueError("a sign needs a number")
    if isinstance(node, ast.Tuple):
        return tuple(_literal(item) for item in node.elts)
    if isinstance(node, ast.List):
        return [_literal(item) for item in node.elts]
    return ast.literal_eval(node)


def _split_name(text: str) -> tuple[str, str]:
    """Split at the first top-level ``:`` after which keyword arguments (or nothing) follow."""
    for index, char in enumerate(text):
        if char != ":":
            continue
        rest = text[index + 1 :]
        if not rest.strip() or _KEY.match(rest):
            return text[:index], rest
    return text, ""


def parse_named_args(text: str) -> tuple[str, dict[str, Any]]:
    """Parse ``"adam:lr=0.1,betas=(0.9,0.99)"`` into ``("adam", {"lr": 0.1, ...})``.

    The name may itself hold colons (``my_pkg.mod:MyOpt:lr=0.1`` gives ``my_pkg.mod:MyOpt``).

    Raises:
        SpecError: empty name, an argument without ``=``, a repeated key, or an unreadable value.
    """
    if not isinstance(text, str):
        raise SpecError(f"expected a spec string, got {type(text).__name__}")
    name, rest = _split_name(text.strip())
    name = name.strip()
    if not name:
        raise SpecError(f"spec {text!r} has no name before ':'")
    args: dict[str, Any] = {}
    if not rest.strip():
        return name, args
    for item in split_top_level(rest, ","):
        if not item.strip():
            raise SpecError(f"empty argument in {text!r}")
        match = _KEY.match(item)
        if not match:
            raise SpecError(f"argument {item.strip()!r} in {text!r} is not of the form key=value")
        key = match.group(1)
        if key in args:
            raise SpecError(f"argument {key!r} given twice in {text!r}")
        try:
            args[key] = parse_value(item[match.end() :])
        except SpecError as error:
            raise SpecError(f"argument {key!r} in {text!r}: {error}") from None
    return name, args


def format_named_args(name: str, args: dict[str, Any]) -> str:
    """Inverse of :func:`parse_named_args` for literal values: ``name:k=v,...``."""
    if not args:
        return name
    return name + ":" + ",".join(f"{key}={_format_value(value)}" for key, value in args.items())


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if isinstance(value, tuple):
        inner = ",".join(_format_value(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ",".join(_format_value(item) for item in value) + "]"
    return repr(value)
