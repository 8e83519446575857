"""A step with nothing to compute (every run it reads diverged): its notes, as a finished run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from optiscope.experiments.protocol import RunContext, StudyKind, Style
from optiscope.store import RunDir

__all__ = ["NOTE", "NoteConfig"]


class NoteConfig(BaseModel):
    """What the step has to say instead of a result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notes: tuple[str, ...] = Field(min_length=1)


def _run(config: NoteConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    run_dir.write_text("findings.md", "".join(f"- {note}\n" for note in config.notes))
    return {"notes": len(config.notes)}


def _render(run_dir: RunDir, style: Style) -> None:
    """Notes only: the report shows ``findings.md``."""


NOTE: StudyKind[NoteConfig] = StudyKind(name="note", config=NoteConfig, run=_run, render=_render)
