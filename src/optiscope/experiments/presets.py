"""The seed studies as YAML presets shipped inside the package (readable examples of a study).

``preset:NAME`` names one; ``optiscope presets list`` shows them all.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

from optiscope.errors import UnknownNameError
from optiscope.experiments.experiment_spec import Experiment, load_experiment

__all__ = ["PRESET_PREFIX", "load_source", "preset_names", "preset_summaries", "preset_text"]

PRESET_PREFIX = "preset:"
_FOLDER = "presets"


def _files() -> Any:
    return resources.files("optiscope.experiments").joinpath(_FOLDER)


def preset_names() -> list[str]:
    """Every shipped preset, sorted."""
    return sorted(entry.name[:-5] for entry in _files().iterdir() if entry.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    """The YAML of preset ``name``.

    Raises:
        UnknownNameError: no such preset (the message lists close names).
    """
    names = preset_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"unknown preset {name!r}{hint} (presets: {', '.join(names)})")
    return _files().joinpath(f"{name}.yaml").read_text()


def load_source(source: str | Path) -> Experiment:
    """An experiment from ``preset:NAME`` or from a YAML file path."""
    text = str(source)
    if text.startswith(PRESET_PREFIX):
        name = text[len(PRESET_PREFIX) :]
        return load_experiment(f"{text}.yaml", text=preset_text(name))
    return load_experiment(source)


def preset_summaries() -> list[dict[str, Any]]:
    """``name``, ``title``, ``seed`` and step count of every preset (``presets list --json``)."""
    rows = []
    for name in preset_names():
        experiment = load_source(PRESET_PREFIX + name)
        kinds = sorted({step.kind for step in experiment.steps})
        rows.append(
            {
                "name": name,
                "title": experiment.title,
                "seed": experiment.seed,
                "steps": len(experiment.steps),
                "kinds": kinds,
            }
        )
    return rows
