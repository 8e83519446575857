"""Validate a frozen pydantic spec once, at the boundary, into one readable error line."""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from optiscope.errors import SpecError

__all__ = ["field_suggestion", "pydantic_message", "validated"]

M = TypeVar("M", bound=BaseModel)


def pydantic_message(error: dict[str, Any]) -> str:
    """Pydantic's message for one error, without its ``Value error, `` / ``Assertion failed, `` prefix."""
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def field_suggestion(name: str, known: list[str]) -> str:
    """``; did you mean 'lr'? allowed: a, b`` for a field ``name`` that is not one of ``known``."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}? allowed" if close else "; allowed"
    return f"{hint}: {', '.join(known)}"


def validated(model: type[M], fields: dict[str, Any]) -> M:
    """``model(**fields)``, with pydantic's report turned into one :class:`SpecError` line that
    names the field, where it is, what is wrong and, for an unknown field, the close names."""
    try:
        return model(**fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or model.__name__
        message = pydantic_message(first)
        if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
            message += field_suggestion(str(first["loc"][0]), list(model.model_fields))
        problem = SpecError(f"{where}: {message}")
        problem.loc = tuple(first["loc"])  # type: ignore[attr-defined]  # where, for a YAML's line
        raise problem from None
