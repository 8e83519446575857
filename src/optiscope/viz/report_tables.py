"""Tables of the report: pandas renders (and escapes) them; at most 200 rows each."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from markupsafe import Markup

from optiscope.paths.summary import runs_summary

__all__ = [
    "MAX_TABLE_ROWS",
    "OPEN_TABLE_ROWS",
    "RUN_COLUMNS",
    "RunsTables",
    "Table",
    "runs_tables",
    "table",
]

MAX_TABLE_ROWS = 200
# A runs table longer than this is folded into a <details> under the per-config summary.
OPEN_TABLE_ROWS = 30
RUN_COLUMNS = ("run", "optimizer", "spec", "start_x", "start_y", "status", "steps", "final_loss")
_SUMMARY_NEEDS = {"spec", "status", "final_loss", "steps"}
_TD = re.compile(r"<td>")
_NOT_CSS = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Table:
    """One rendered table: its HTML (already escaped), the rows it has and the rows shown."""

    html: Markup
    rows: int
    shown: int


@dataclass(frozen=True)
class RunsTables:
    """A runs table: one summary row per optimizer config, then every run (folded when long)."""

    summary: Table | None
    every: Table
    folded: bool


MISSING = "—"


def _format_float(value: float) -> str:
    return f"{value:.4g}"


def _cell(value: object) -> str:
    """One value of a nullable numeric column as text: a dash when missing."""
    if pd.isna(value):
        return MISSING
    return _format_float(value) if isinstance(value, float) else str(value)


# A claim's verdict (see experiments.seed_claims) is coloured as the run status it reads like.
_VERDICT_STATUS = {"holds": "complete", "does not hold": "failed"}


def _status_class(value: str) -> str:
    return f"status-{_NOT_CSS.sub('-', value)}"


def _verdict_class(value: str) -> str:
    shown = _VERDICT_STATUS.get(value)
    return f"verdict-{_NOT_CSS.sub('-', value)}" + (f" status-{shown}" if shown else "")


def _tag_cells(page: str, frame: pd.DataFrame, classes: dict[str, Callable[[str], str]]) -> str:
    """Give each cell of each column ``name`` in ``classes`` the css class ``classes[name](value)``.

    ``to_html`` escapes every cell and, without an index, writes one bare ``<td>`` per column
    in order, so the n-th ``<td>`` is in column ``n % width`` (one pass: a tagged cell is no
    longer bare).
    """
    columns = {
        frame.columns.get_loc(name): (css, iter(frame[name].astype(str))) for name, css in classes.items()
    }
    positions = itertools.count()

    def tag(match: re.Match[str]) -> str:
        column = next(positions) % frame.shape[1]
        if column not in columns:
            return match.group(0)
        css, values = columns[column]
        return f'<td class="{css(next(values))}">'

    return _TD.sub(tag, page)


def table(frame: pd.DataFrame, columns: list[str] | None = None) -> Table:
    """``frame`` (its first 200 rows, ``columns`` only if given) as an escaped HTML table.

    Floats show 4 significant digits, missing values a dash; status and verdict cells carry a css
    class (a verdict also the class of the run status it reads like: holds green, fails red).
    """
    shown = frame.head(MAX_TABLE_ROWS)  # before picking columns: a paths study has 100,000s of runs
    shown = (shown[columns] if columns is not None else shown).reset_index(drop=True)
    # Nullable numeric columns (steps_to_tolerance) print pd.NA as "<NA>" whatever na_rep says.
    for name, dtype in shown.dtypes.items():
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(dtype):
            shown[name] = [
                MISSING
                if pd.isna(value)
                else _format_float(value)
                if isinstance(value, float)
                else str(value)
                for value in shown[name]
            ]
    page = shown.to_html(
        escape=True,
        index=False,
        border=0,
        classes="data",
        na_rep=MISSING,
        float_format=_format_float,
        justify="left",
    )
    if shown.columns.nlevels == 1 and shown.columns.is_unique:
        tagged = {"status": _status_class, "verdict": _verdict_class}
        page = _tag_cells(page, shown, {name: css for name, css in tagged.items() if name in shown.columns})
    return Table(html=Markup(page), rows=len(frame), shown=len(shown))


def runs_tables(runs: pd.DataFrame) -> RunsTables:
    """The runs table of a paths study: the per-config summary, then every run."""
    shown = (*RUN_COLUMNS, "steps_to_tolerance", "rule", "outcome_step")
    columns = [column for column in shown if column in runs.columns]
    summary = table(runs_summary(runs)) if set(runs.columns) >= _SUMMARY_NEEDS else None
    return RunsTables(summary=summary, every=table(runs, columns), folded=len(runs) > OPEN_TABLE_ROWS)
