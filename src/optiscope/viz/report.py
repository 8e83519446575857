"""``report.html``: one light page per run directory, rebuilt from stored files only.

The page (Jinja2, ``templates/report.html.j2``, autoescaped) holds the spec, notes, the runs
table and other tables, the stored figures linked by relative path, and the interactive figures
(``figures/*.plotly.js`` scripts) drawn by the one plotly.js of the run tree
(``<tree root>/assets/``). A run directory that holds other runs lists them, each with a link to
its own report, its key numbers and a thumbnail; a child links back up to its parent's report.
Nothing is recomputed and nothing is embedded, so the page stays small and opens offline.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from optiscope.errors import StoreError
from optiscope.store import RunDir
from optiscope.store.manifest import read_manifest
from optiscope.viz.plotly_files import ASSETS_DIR, plotly_asset_name, write_plotly_asset
from optiscope.viz.report_sections import ChildCard, RunSection, child_cards, read_section
from optiscope.viz.report_tree import parent_run, tree_root

__all__ = ["ReportPage", "build_page", "render_report", "write_report"]

_TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class ReportPage:
    """Everything the template shows for one run directory.

    Attributes:
        name: the run directory's name.
        title: its title in the parent's ``summary.titles``, if any.
        up: the relative link to the parent's report, when the parent has one.
        section: the run's own content.
        children: the child runs it lists.
        plotly_src: the relative link to the tree's plotly.js; None without interactive figures.
    """

    name: str
    title: str | None
    up: str | None
    section: RunSection
    children: list[ChildCard]
    plotly_src: str | None


def _titles(manifest: Mapping[str, Any]) -> dict[str, str]:
    summary = manifest.get("summary")
    titles = summary.get("titles") if isinstance(summary, Mapping) else None
    return {str(key): str(value) for key, value in titles.items()} if isinstance(titles, Mapping) else {}


def _relative(target: Path, start: Path) -> str:
    return quote(Path(os.path.relpath(target, start)).as_posix())


def _up(run: Path) -> tuple[str | None, str | None]:
    """The link to the parent's report (if written) and this run's title there (if any)."""
    parent = parent_run(run)
    if parent is None:
        return None, None
    try:
        titles = _titles(read_manifest(parent))
    except StoreError:
        titles = {}  # an unreadable parent costs this page its title, not the page
    title = titles.get(run.relative_to(parent).as_posix(), titles.get(run.name))
    report = parent / "report.html"
    return (_relative(report, run) if report.is_file() else None), title


def build_page(run: str | Path) -> ReportPage:
    """Read what the report of ``run`` shows (its manifest, tables, figures, child runs).

    Raises:
        StoreError: ``run`` is not a run directory or its manifest is corrupt.
    """
    path = Path(run).resolve()
    manifest = read_manifest(path)
    section = read_section(path, manifest)
    up, title = _up(path)
    plotly_src = None
    if section.interactive:
        plotly_src = _relative(tree_root(path) / ASSETS_DIR / plotly_asset_name(), path)
    return ReportPage(
        name=path.name,
        title=title,
        up=up,
        section=section,
        children=child_cards(path, _titles(manifest)),
        plotly_src=plotly_src,
    )


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("optiscope.viz", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(page: ReportPage) -> str:
    return _environment().get_template(_TEMPLATE).render(page=page, run=page.section)


def render_report(run: str | Path) -> str:
    """The report's HTML for the run directory ``run``; writes nothing.

    Raises:
        StoreError: ``run`` is not a run directory or its manifest is corrupt.
    """
    return _render(build_page(run))


def write_report(run_dir: RunDir) -> Path:
    """(Re)write ``report.html`` of ``run_dir``, and the tree's plotly.js if the page needs it."""
    page = build_page(run_dir.path)
    if page.plotly_src is not None:
        write_plotly_asset(tree_root(run_dir.path))
    return run_dir.write_text("report.html", _render(page))
