"""Run a study of any kind: open its run directory, compute unless cached, then draw.

spec (the kind's frozen ``Config``) -> compute (``kind.run``, resumable units) -> store (the run
directory; unit caches pruned once complete) -> render (``kind.render`` with a :class:`Style`
stored as ``style.json``, then ``report.html``). The style is not part of the cache key, so the
same study asked for again with other figure options is a cache hit that only re-draws.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from optiscope.experiments.protocol import STYLE_FILE, ProgressCallback, RunContext, StudyKind, Style
from optiscope.store import RunDir, load_run
from optiscope.viz.report import write_report
from optiscope.viz.report_tree import parent_run

__all__ = ["Execution", "draw", "execute", "stored_style"]

C = TypeVar("C", bound=BaseModel)
StyleOverrides = Style | Mapping[str, Any] | None


@dataclass
class Execution:
    """Where a study was stored, and what this call did: computed, reused, re-drew."""

    run_dir: RunDir
    style: Style
    cached: bool
    rendered: bool

    @property
    def path(self) -> Path:
        return self.run_dir.path

    def resume_note(self) -> str:
        """What a resumed run found stored: ``resumed after epoch 46``, ``resumed (7 work units reused)``."""
        units = self.run_dir.units_at_open
        epochs = [int(unit.removeprefix("epoch-")) for unit in units if unit.startswith("epoch-")]
        if epochs and len(epochs) == len(units):
            return f"resumed after epoch {max(epochs)}"
        if not units:
            return "resumed"
        return f"resumed ({len(units)} stored work unit{'s' if len(units) != 1 else ''} reused)"

    def reuse_note(self) -> str:
        """``; 7 of 12 cells reused`` when the study's children were finished runs already."""
        summary = self.run_dir.manifest.get("summary") or {}
        if summary.get("cells_reused"):
            return f"; {summary['cells_reused']} of {summary['cells']} cells reused"
        return ""

    def describe(self) -> str:
        """One line for the CLI: what was reused, what was drawn."""
        if not self.cached:
            verb = f"{self.resume_note()} and finished" if self.run_dir.resumed else "computed"
            return f"{verb}{self.reuse_note()}: {self.path}"
        if self.rendered:
            return f"cached: {self.path} already holds this run; nothing recomputed, figures re-drawn"
        return f"cached: {self.path} already holds this run; nothing recomputed (--force recomputes)"


def stored_style(run_dir: RunDir, default: Style) -> Style:
    """The style the run was last drawn with (``default`` when it was never drawn)."""
    path = run_dir.path / STYLE_FILE
    if not path.is_file():
        return default
    try:
        return Style(**json.loads(path.read_text()))
    except (OSError, ValueError):
        return default


def _chosen_style(run_dir: RunDir, kind: StudyKind[Any], style: StyleOverrides) -> Style:
    if isinstance(style, Style):
        return style
    base = (
        stored_style(run_dir, kind.default_style) if run_dir.cached or run_dir.resumed else kind.default_style
    )
    return base.updated(style)


def draw(run_dir: RunDir, kind: StudyKind[Any], style: Style) -> None:
    """Draw a finished run's figures with ``style`` (replacing the old ones), store the style and
    write the report; the report of a finished parent run is rewritten so it links this one."""
    run_dir.clear_figures()
    kind.render(run_dir, style)
    run_dir.write_json(STYLE_FILE, style.model_dump(mode="json"))
    write_report(run_dir)
    parent = parent_run(run_dir.path)
    if parent is not None:
        holder = load_run(parent)
        if holder.status == "complete" and (parent / "report.html").is_file():
            write_report(holder)


def execute(
    kind: StudyKind[C],
    config: C,
    out: str | Path,
    *,
    style: StyleOverrides = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> Execution:
    """Run ``config`` as a ``kind`` study in ``out``: computed, resumed, or a cache hit; then drawn.

    Args:
        kind: the study kind.
        config: its frozen config (the cache key).
        out: the run directory.
        style: a whole :class:`Style`, or options that replace the stored (or default) ones.
        force: recompute even if ``out`` holds this run.
        progress: called as ``progress(done, total)`` as work units finish.

    Raises:
        OptiscopeError: bad input, or ``out`` holds another run; finished units stay on disk.
    """
    seeds = dict(kind.seeds(config)) if kind.seeds is not None else None
    run_dir = RunDir.open(out, kind=kind.name, spec=kind.spec(config), seeds=seeds, force=force)
    chosen = _chosen_style(run_dir, kind, style)
    if run_dir.cached:
        unchanged = (
            chosen == stored_style(run_dir, kind.default_style) and (run_dir.path / STYLE_FILE).is_file()
        )
        if unchanged and (run_dir.path / "report.html").is_file():
            return Execution(run_dir, chosen, cached=True, rendered=False)
        draw(run_dir, kind, chosen)
        return Execution(run_dir, chosen, cached=True, rendered=True)
    with run_dir:
        summary = kind.run(config, run_dir, RunContext(force=force, progress=progress, style=chosen))
        run_dir.complete(**dict(summary))
    draw(run_dir, kind, chosen)
    return Execution(run_dir, chosen, cached=False, rendered=True)
