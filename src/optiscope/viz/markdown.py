"""Markdown both ways: tables written as pipe tables, notes read into HTML for the report."""

from __future__ import annotations

import functools
import math

import pandas as pd
from markdown_it import MarkdownIt
from markupsafe import Markup

__all__ = ["markdown_html", "markdown_table"]

# A note's "# heading" sits under the report's own h1 and h2.
_HEADING_SHIFT = 2


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, *, digits: int = 4) -> str:
    """``frame`` as a GitHub pipe table; floats to ``digits`` significant digits, NaN blank."""
    columns = [str(column) for column in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(value, digits) for value in row) + " |")
    return "\n".join(lines) + "\n"


@functools.cache
def _parser() -> MarkdownIt:
    # CommonMark with raw HTML off: a note's "<script>" is shown as text, never run.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_html(text: str) -> Markup:
    """``text`` (CommonMark plus pipe tables) as HTML; raw HTML is escaped, headings start at h3."""
    parser = _parser()
    tokens = parser.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1:]) + _HEADING_SHIFT, 6)}"
    return Markup(parser.renderer.render(tokens, parser.options, {}))
