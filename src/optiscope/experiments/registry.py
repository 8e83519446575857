"""Every study kind, registered once; looked up by the name a run's manifest records.

The CLI, the YAML experiment runner and the demo reach a kind through this table (or through
the module that defines it); ``optiscope report`` re-draws any stored run through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from optiscope.errors import StoreError
from optiscope.experiments.adagrad_timing_study import ADAGRAD_TIMING
from optiscope.experiments.compare_study import COMPARE, CURVATURE_PANELS
from optiscope.experiments.connect_study import CONNECT
from optiscope.experiments.curvature_study import CURVATURE
from optiscope.experiments.execute import draw, stored_style
from optiscope.experiments.experiment_study import EXPERIMENT
from optiscope.experiments.landscape_panels_study import LANDSCAPE_PANELS
from optiscope.experiments.landscape_study import LANDSCAPE
from optiscope.experiments.note_study import NOTE
from optiscope.experiments.paths_study import PATHS
from optiscope.experiments.protocol import StudyKind, Style
from optiscope.experiments.settings_study import SETTINGS
from optiscope.experiments.sweep_study import SWEEP
from optiscope.experiments.table_study import TABLE
from optiscope.experiments.teaching_study import TEACHING
from optiscope.experiments.train_study import TRAIN
from optiscope.experiments.tune_study import TUNE
from optiscope.store import RunDir, load_run
from optiscope.viz.report_tree import child_runs

__all__ = ["STUDY_KINDS", "redraw", "study_kind"]

STUDY_KINDS: dict[str, StudyKind[Any]] = {
    kind.name: kind
    for kind in (
        PATHS, TRAIN, SWEEP, LANDSCAPE, LANDSCAPE_PANELS, CURVATURE, CURVATURE_PANELS, COMPARE, TABLE,
        TEACHING, ADAGRAD_TIMING, NOTE, SETTINGS, EXPERIMENT, CONNECT, TUNE,
    )
}  # fmt: skip


def study_kind(name: str) -> StudyKind[Any]:
    """The kind called ``name``.

    Raises:
        StoreError: no such kind (a run of another tool, or of a newer optiscope).
    """
    if name not in STUDY_KINDS:
        raise StoreError(f"no study kind {name!r}; kinds: {', '.join(sorted(STUDY_KINDS))}")
    return STUDY_KINDS[name]


def redraw(path: str | Path, options: Mapping[str, Any] | None = None) -> RunDir:
    """Re-draw a finished run (and the runs inside it) with its stored style updated by ``options``.

    Nothing is recomputed: every figure comes from the run's stored files.

    Raises:
        StoreError: ``path`` is not a finished run directory of a known kind.
    """
    run_dir = load_run(path)
    kind = study_kind(str(run_dir.manifest.get("kind")))
    if run_dir.status != "complete":
        raise StoreError(f"{run_dir.path} is {run_dir.status}; run its command again to finish it first")
    if kind.nested:
        for _, child in child_runs(run_dir.path):
            child_run = load_run(child)
            if child_run.status == "complete" and child_run.manifest.get("kind") in STUDY_KINDS:
                redraw(child, options)
    style: Style = stored_style(run_dir, kind.default_style).updated(options)
    draw(run_dir, kind, style)
    return run_dir
