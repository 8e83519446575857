"""A seed's optimizer settings beside the library's: what each optimizer computed where it ran
(e.g. seed 004's Keras optimizers with Keras defaults) and what our library default would.

No optimizer runs here: the table is built from the registry's metadata (defaults, notes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from optiscope.experiments.protocol import RunContext, StudyKind, Style
from optiscope.optimizers import get_entry, parse_spec
from optiscope.store import RunDir
from optiscope.viz.markdown import markdown_table

__all__ = ["SETTINGS", "SettingsConfig", "SettingsRow", "settings_frame"]

# torch's switches of how an update is computed, not what it computes: left out of the table.
_IMPLEMENTATION_FLAGS = frozenset({"foreach", "maximize", "differentiable", "capturable", "fused"})


class SettingsRow(BaseModel):
    """One optimizer: the spec as the seed ran it, and the library spec of the same algorithm."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    seed: str = Field(description="the optimizer spec as the seed ran it, e.g. 'rmsprop_keras:lr=1'")
    library: str = Field(description="the library's entry at the same learning rate, e.g. 'rmsprop:lr=1'")


class SettingsConfig(BaseModel):
    """The rows of the settings table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: tuple[SettingsRow, ...] = Field(min_length=1)


def _settings(spec: str) -> str:
    parsed = parse_spec(spec)
    entry = get_entry(parsed.name)
    merged = {**entry.defaults, **parsed.hparams}
    shown = {key: value for key, value in merged.items() if key not in _IMPLEMENTATION_FLAGS}
    return f"{parsed.name}: " + ", ".join(f"{key}={value}" for key, value in shown.items())


def settings_frame(config: SettingsConfig) -> pd.DataFrame:
    """One row per optimizer: the seed's full settings, the library's, and the seed entry's note."""
    return pd.DataFrame(
        [
            {
                "optimizer": row.label,
                "as the seed ran it": _settings(row.seed),
                "library default": _settings(row.library),
                "what differs": get_entry(parse_spec(row.seed).name).notes or "the same formula",
            }
            for row in config.rows
        ]
    )


def _run(config: SettingsConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    frame = settings_frame(config)
    run_dir.write_table("settings", frame)
    run_dir.write_text("settings.md", markdown_table(frame))
    return {"rows": len(frame)}


def _render(run_dir: RunDir, style: Style) -> None:
    """No figures: the report shows the ``settings`` table."""


SETTINGS: StudyKind[SettingsConfig] = StudyKind(
    name="settings", config=SettingsConfig, run=_run, render=_render
)
