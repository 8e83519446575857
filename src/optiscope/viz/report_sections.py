"""What a report shows, read from a run directory's files: its own section and its child runs.

Nothing is recomputed and nothing is embedded: figures are linked by relative, URL-quoted
paths; interactive figures by their ``.plotly.js`` script (legacy ``.plotly.json`` inline).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from markupsafe import Markup

from optiscope.errors import StoreError
from optiscope.store.manifest import read_manifest
from optiscope.viz.markdown import markdown_html
from optiscope.viz.plotly_files import FIGURE_SUFFIX, LEGACY_SUFFIX
from optiscope.viz.report_tables import RunsTables, Table, runs_tables, table
from optiscope.viz.report_tree import child_runs

__all__ = [
    "EXTRA_TABLES",
    "NOTE_FILES",
    "ChildCard",
    "FigureFile",
    "InteractiveFigure",
    "RunSection",
    "child_cards",
    "read_section",
]

_IMAGES = (".png", ".svg", ".gif")
_VIDEOS = (".mp4", ".webm")
# Tables shown as they are when a run directory holds them (landscape, curvature, sweep runs,
# a seed's table beside ours, timings).
EXTRA_TABLES = ("comparison", "summary", "results", "spectrum", "trace", "timing", "settings")
# Short Markdown texts a run directory may hold: a study's opening, a step's findings.
NOTE_FILES = ("about.md", "findings.md")
_PER_CLASS_PREFIX = "test_accuracy_class_"
_MAX_KEY_NUMBERS = 6
_MAX_TEXT = 40
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class FigureFile:
    """A stored image or video, linked by ``src`` (relative to the report)."""

    anchor: str
    src: str
    caption: str
    video: bool


@dataclass(frozen=True)
class InteractiveFigure:
    """A plotly figure drawn into ``<div id=anchor>``: from a script file, or legacy inline JSON."""

    anchor: str
    name: str
    caption: str
    script: str | None = None
    inline_json: Markup | None = None


@dataclass(frozen=True)
class RunSection:
    """A run directory's own part of its report."""

    kind: str
    status: str
    spec_hash: str
    spec_json: str
    error: str | None
    notes: list[Markup]
    runs: RunsTables | None
    metrics: Table | None
    tables: list[tuple[str, Table]]
    figures: list[FigureFile]
    interactive: list[InteractiveFigure]


@dataclass(frozen=True)
class ChildCard:
    """A child run as its parent lists it: a link to its report, key numbers, a thumbnail."""

    name: str
    title: str
    anchor: str
    kind: str
    status: str
    numbers: list[tuple[str, str]]
    report: str | None
    thumbnail: str | None


def _html_id(text: str) -> str:
    """``text`` as an element id (letters, digits, ``-`` and ``_``)."""
    return _NOT_ID.sub("-", text).strip("-") or "x"


def _read_table(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def _interactive(path: Path, anchor: str) -> InteractiveFigure:
    source = f"figures/{path.name}"
    if path.name.endswith(FIGURE_SUFFIX):
        name = path.name[: -len(FIGURE_SUFFIX)]
        caption = f"{name} (drag to rotate or pan, play to animate)"
        return InteractiveFigure(anchor, name, caption, script=quote(source))
    text = path.read_text(encoding="utf-8")
    try:
        json.loads(text)
    except ValueError as exc:  # refuse to embed a broken figure silently
        raise StoreError(f"{path} is not a plotly figure: {exc}") from exc
    name = path.name[: -len(LEGACY_SUFFIX)]
    caption = f"{name} (drag to rotate or pan, play to animate)"
    # "</" would end the <script> that holds it; "<\/" is the same string to JSON.
    return InteractiveFigure(anchor, name, caption, inline_json=Markup(text.replace("</", "<\\/")))


def _figures(run: Path) -> tuple[list[FigureFile], list[InteractiveFigure]]:
    folder = run / "figures"
    files = sorted(path for path in folder.iterdir() if path.is_file()) if folder.is_dir() else []
    media = [path for path in files if path.suffix.lower() in (*_IMAGES, *_VIDEOS)]
    figures = [
        FigureFile(
            f"figure-{index}", quote(f"figures/{path.name}"), path.name, path.suffix.lower() in _VIDEOS
        )
        for index, path in enumerate(media)
    ]
    plots = [path for path in files if path.name.endswith((FIGURE_SUFFIX, LEGACY_SUFFIX))]
    return figures, [_interactive(path, f"plot-{index}") for index, path in enumerate(plots)]


def read_section(run: Path, manifest: Mapping[str, Any]) -> RunSection:
    """The run's own section: spec, notes, runs and other tables, figures, interactive figures."""
    runs = _read_table(run / "runs.parquet")
    metrics = _read_table(run / "metrics.parquet")
    if metrics is not None:
        metrics = metrics[[c for c in metrics.columns if not str(c).startswith(_PER_CLASS_PREFIX)]]
    tables = [(name, _read_table(run / f"{name}.parquet")) for name in EXTRA_TABLES]
    figures, interactive = _figures(run)
    return RunSection(
        kind=str(manifest.get("kind", "?")),
        status=str(manifest.get("status", "?")),
        spec_hash=str(manifest.get("spec_hash", "")),
        spec_json=json.dumps(manifest.get("spec", {}), indent=2, default=str),
        error=str(manifest["error"]) if manifest.get("error") else None,
        notes=[
            markdown_html((run / name).read_text(encoding="utf-8"))
            for name in NOTE_FILES
            if (run / name).is_file()
        ],
        runs=runs_tables(runs) if runs is not None else None,
        metrics=table(metrics) if metrics is not None else None,
        tables=[(name, table(frame)) for name, frame in tables if frame is not None],
        figures=figures,
        interactive=interactive,
    )


def _short(value: Any) -> str | None:
    """A summary value in a few characters, or None for one that does not fit on a card."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"
    if isinstance(value, list) and all(isinstance(item, (str, int, float)) for item in value):
        joined = ", ".join(str(item) for item in value)
        return joined if len(joined) <= _MAX_TEXT else f"{len(value)} entries"
    if isinstance(value, Mapping) and all(isinstance(item, int) for item in value.values()):
        joined = ", ".join(f"{item} {key}" for key, item in value.items())  # e.g. statuses: "7 left_domain"
        return joined if len(joined) <= _MAX_TEXT else f"{len(value)} kinds"
    return None


def _key_numbers(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The first few short entries of a manifest ``summary`` (``titles`` and nested tables left out)."""
    entries = [(str(key), _short(value)) for key, value in summary.items() if key != "titles"]
    return [(key, text) for key, text in entries if text is not None][:_MAX_KEY_NUMBERS]


def _thumbnail(child: Path, name: str) -> str | None:
    folder = child / "figures"
    pngs = sorted(path.name for path in folder.glob("*.png") if path.is_file()) if folder.is_dir() else []
    return quote(f"{name}/figures/{pngs[0]}") if pngs else None


def _card(name: str, child: Path, title: str) -> ChildCard:
    try:
        manifest = read_manifest(child)
    except StoreError:
        manifest = {"kind": "?", "status": "unreadable manifest"}
    summary = manifest.get("summary")
    return ChildCard(
        name=name,
        title=title,
        anchor=f"child-{_html_id(name)}",
        kind=str(manifest.get("kind", "?")),
        status=str(manifest.get("status", "?")),
        numbers=_key_numbers(summary) if isinstance(summary, Mapping) else [],
        report=quote(f"{name}/report.html") if (child / "report.html").is_file() else None,
        thumbnail=_thumbnail(child, name),
    )


def child_cards(run: Path, titles: Mapping[str, str]) -> list[ChildCard]:
    """One card per child run; with ``titles`` (the parent's ``summary.titles``) only those named.

    A child is named by its folder (``02-adam``) or its path (``cells/000-lr=0.1``).
    """
    cards = []
    for name, child in child_runs(run):
        title = titles.get(name, titles.get(child.name)) if titles else name
        if title is None:
            continue  # a folder an earlier version of the study left behind
        cards.append(_card(name, child, str(title)))
    return cards
