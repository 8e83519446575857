"""``report.html``: one self-contained page per run directory, rebuilt from stored files only.

The page holds the spec, the runs table, every stored figure (PNG/SVG inline as data URIs,
GIF animations, MP4 video) and every stored interactive figure (plotly JSON, drawn by one
inline copy of plotly.js), with a table of contents. A run directory that holds other run
directories (the demo) gets one section per child. Nothing is recomputed: it reads files.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ReportSection", "collect_sections", "render_report"]

_IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}
_VIDEO_TYPES = {".mp4": "video/mp4"}
_PLOTLY_SUFFIX = ".plotly.json"
_RUN_COLUMNS = ["run", "optimizer", "spec", "start_x", "start_y", "status", "steps", "final_loss"]
_MAX_TABLE_ROWS = 200
_OPEN_TABLE_ROWS = 30

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
nav ul { columns: 2; } table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
td, th { border: 1px solid #ddd; padding: .2rem .5rem; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
figure { margin: 1rem 0; } figure img, figure video { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; } pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; }
.plot { width: 100%; height: 620px; } .status-diverged { color: #b00; }
"""


@dataclass
class ReportSection:
    """What one run directory contributes to a report."""

    title: str
    anchor: str
    manifest: dict[str, Any]
    runs: pd.DataFrame | None
    metrics: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    interactive: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# Tables shown as they are, when a run directory holds them (landscape, curvature, sweep runs,
# a seed's table beside ours, timings).
_EXTRA_TABLES = ("comparison", "summary", "results", "spectrum", "trace", "timing")
# Short Markdown texts a run directory may hold: a study's opening, a step's findings.
_NOTE_FILES = ("about.md", "findings.md")
# Run directories whose children are whole studies, shown as sections of the same report.
_CONTAINER_KINDS = ("demo", "experiment")


def _read_manifest(run: Path) -> dict[str, Any]:
    return json.loads((run / "manifest.json").read_text())


def _section(run: Path, title: str, anchor: str) -> ReportSection:
    manifest = _read_manifest(run)
    table = run / "runs.parquet"
    figures_dir = run / "figures"
    files = sorted(figures_dir.iterdir()) if figures_dir.is_dir() else []
    return ReportSection(
        title=title,
        anchor=anchor,
        manifest=manifest,
        runs=pd.read_parquet(table) if table.exists() else None,
        metrics=pd.read_parquet(run / "metrics.parquet") if (run / "metrics.parquet").exists() else None,
        tables={
            name: pd.read_parquet(run / f"{name}.parquet")
            for name in _EXTRA_TABLES
            if (run / f"{name}.parquet").exists()
        },
        figures=[path for path in files if path.suffix in _IMAGE_TYPES or path.suffix in _VIDEO_TYPES],
        interactive=[path for path in files if path.name.endswith(_PLOTLY_SUFFIX)],
        notes=[(run / name).read_text() for name in _NOTE_FILES if (run / name).is_file()],
    )


def collect_sections(run: Path, *, _prefix: str = "") -> list[ReportSection]:
    """The run's own section, then one per child run directory (sorted by name).

    The children of a container (a demo, an experiment) that are containers themselves are
    expanded too, so a demo that holds a study shows the study's steps.
    """
    title = f"{_prefix}{run.name or run}"
    anchor = "run" if not _prefix else "run-" + title.replace("/", "-")
    sections = [_section(run, title, anchor)]
    titles = sections[0].manifest.get("summary", {}).get("titles", {})
    for child in sorted(path for path in run.iterdir() if (path / "manifest.json").is_file()):
        if titles and child.name not in titles:
            continue  # a folder an earlier version of the study left behind
        if _read_manifest(child).get("kind") in _CONTAINER_KINDS:
            sections.extend(collect_sections(child, _prefix=f"{_prefix}{child.name}/"))
        else:
            name = f"{_prefix}{child.name}"
            heading = f"{name}: {titles[child.name]}" if child.name in titles else name
            sections.append(_section(child, heading, "run-" + name.replace("/", "-")))
    return sections


def _markdown_html(text: str) -> str:
    """The little Markdown our notes use: ``#`` headings, ``-`` bullets, ``**bold**``, paragraphs."""
    parts, items = [], []
    for line in text.splitlines():
        if line.startswith("- "):
            items.append(f"<li>{_inline(line[2:])}</li>")
            continue
        if items:
            parts.append(f"<ul>{''.join(items)}</ul>")
            items = []
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 2, 6)
            parts.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            parts.append(f"<p>{_inline(line)}</p>")
    if items:
        parts.append(f"<ul>{''.join(items)}</ul>")
    return "".join(parts)


def _inline(text: str) -> str:
    escaped = html.escape(text)
    pieces = escaped.split("**")
    return "".join(f"<b>{piece}</b>" if index % 2 else piece for index, piece in enumerate(pieces))


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per optimizer config: how its runs ended."""
    grouped = runs.groupby("spec", sort=False)
    summary = pd.DataFrame(
        {
            "runs": grouped.size(),
            "converged": grouped["status"].apply(lambda s: int((s == "converged").sum())),
            "diverged": grouped["status"].apply(lambda s: int((s == "diverged").sum())),
            "median_final_loss": grouped["final_loss"].median(),
            "median_steps": grouped["steps"].median(),
        }
    )
    if "steps_to_tolerance" in runs.columns:
        summary["median_steps_to_tolerance"] = grouped["steps_to_tolerance"].median()
    return summary.reset_index()


def _runs_table(runs: pd.DataFrame) -> str:
    per_run = _table(runs, [c for c in [*_RUN_COLUMNS, "steps_to_tolerance"] if c in runs.columns])
    summary = _summary(runs)
    overview = _table(summary, list(summary.columns))
    if len(runs) <= _OPEN_TABLE_ROWS:
        return overview + per_run
    return f"{overview}<details><summary>every run ({len(runs)})</summary>{per_run}</details>"


def _table(runs: pd.DataFrame, columns: list[str]) -> str:
    shown = runs[columns].head(_MAX_TABLE_ROWS)
    head = "".join(
        f'<th class="{"text" if c in ("optimizer", "spec", "status") else ""}">{c}</th>' for c in columns
    )
    rows = []
    for _, row in shown.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            text = f"{value:.4g}" if isinstance(value, float) and not pd.isna(value) else str(value)
            css = "text" if column in ("optimizer", "spec", "status") else ""
            if column == "status":
                css += f" status-{value}"
            cells.append(f'<td class="{css.strip()}">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f"<p>Showing {_MAX_TABLE_ROWS} of {len(runs)} runs (all are in runs.parquet).</p>"
        if len(runs) > _MAX_TABLE_ROWS
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _figure_html(path: Path) -> str:
    caption = html.escape(path.name)
    if path.suffix in _VIDEO_TYPES:
        source = _data_uri(path, _VIDEO_TYPES[path.suffix])
        return (
            f'<figure><video controls loop src="{source}"></video><figcaption>{caption}</figcaption></figure>'
        )
    source = _data_uri(path, _IMAGE_TYPES[path.suffix])
    return f'<figure><img alt="{caption}" src="{source}"><figcaption>{caption}</figcaption></figure>'


def _interactive_html(path: Path, element_id: str) -> str:
    figure = path.read_text()
    json.loads(figure)  # refuse to embed a broken figure silently
    payload = figure.replace("</", "<\\/")
    return (
        f'<figure><div class="plot" id="{element_id}"></div>'
        f"<figcaption>{html.escape(path.name)} (drag to rotate or pan, play to animate)</figcaption></figure>"
        f'<script type="application/json" id="{element_id}-data">{payload}</script>'
    )


def _section_html(section: ReportSection) -> str:
    manifest = section.manifest
    spec = html.escape(json.dumps(manifest.get("spec", {}), indent=2, default=str))
    status = html.escape(str(manifest.get("status", "?")))
    parts = [
        f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>',
        f"<p>kind <b>{html.escape(str(manifest.get('kind', '?')))}</b>, status <b>{status}</b>, "
        f"spec hash <code>{html.escape(str(manifest.get('spec_hash', '')))}</code></p>",
        f"<details><summary>spec</summary><pre>{spec}</pre></details>",
    ]
    parts.extend(f'<div class="notes">{_markdown_html(note)}</div>' for note in section.notes)
    if section.runs is not None:
        parts.append(_runs_table(section.runs))
    if section.metrics is not None:
        columns = [
            column for column in section.metrics.columns if not column.startswith("test_accuracy_class_")
        ]
        parts.append("<h3>metrics per epoch</h3>" + _table(section.metrics, columns))
    for name, frame in section.tables.items():
        parts.append(f"<h3>{html.escape(name)}</h3>" + _table(frame, list(frame.columns)))
    parts.extend(_figure_html(path) for path in section.figures)
    parts.extend(
        _interactive_html(path, f"{section.anchor}-plot-{index}")
        for index, path in enumerate(section.interactive)
    )
    parts.append("</section>")
    return "\n".join(parts)


_DRAW_SCRIPT = """
document.querySelectorAll('script[type="application/json"][id$="-data"]').forEach(function (node) {
  var figure = JSON.parse(node.textContent);
  var target = document.getElementById(node.id.slice(0, -5));
  Plotly.newPlot(target, figure.data, figure.layout || {}, {responsive: true}).then(function () {
    if (figure.frames) { Plotly.addFrames(target, figure.frames); }
  });
});
"""


def render_report(run: str | Path, *, plotly_js: str | None = None) -> str:
    """Build the report's HTML for the run directory ``run`` (and its child runs).

    Args:
        run: a run directory (it must hold ``manifest.json``).
        plotly_js: the plotly.js source to inline; read from the installed plotly when needed.
    """
    root = Path(run)
    sections = collect_sections(root)
    needs_plotly = any(section.interactive for section in sections)
    if needs_plotly and plotly_js is None:
        from plotly.offline import get_plotlyjs

        plotly_js = get_plotlyjs()
    toc = "".join(
        f'<li><a href="#{section.anchor}">{html.escape(section.title)}</a></li>' for section in sections
    )
    body = "\n".join(_section_html(section) for section in sections)
    scripts = f"<script>{plotly_js}</script><script>{_DRAW_SCRIPT}</script>" if needs_plotly else ""
    title = html.escape(f"optiscope report: {root.resolve().name}")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
        f"<nav><h2>Contents</h2><ul>{toc}</ul></nav>{body}{scripts}</body></html>"
    )
