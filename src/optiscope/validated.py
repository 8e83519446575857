"""Validate a frozen pydantic spec once, at the boundary, into one readable error line."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from optiscope.errors import SpecError

__all__ = ["validated"]

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], fields: dict[str, Any]) -> M:
    """``model(**fields)``, with pydantic's report turned into one :class:`SpecError` line that
    names the field, where it is, and what is wrong."""
    try:
        return model(**fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or model.__name__
        raise SpecError(f"{where}: {first['msg']}") from None
