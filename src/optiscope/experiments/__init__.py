"""Declarative studies: a spec in, a finished run directory out."""

from __future__ import annotations

from optiscope.experiments.demo import DemoResult, demo_studies, run_demo
from optiscope.experiments.paths_study import PathsStudy, StudyResult, load_paths, run_paths_study

__all__ = [
    "DemoResult",
    "PathsStudy",
    "StudyResult",
    "demo_studies",
    "load_paths",
    "run_demo",
    "run_paths_study",
]
