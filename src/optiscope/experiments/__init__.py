"""Studies, all of one shape: a frozen config, ``run`` (compute + store) and ``render`` (draw).

Every kind is registered in :mod:`optiscope.experiments.registry`; YAML experiments and the
presets (the seed studies and the demo) run their steps through the same kinds.
"""

from __future__ import annotations

from optiscope.experiments.curvature_study import CurvatureConfig, CurvatureResult, run_curvature_study
from optiscope.experiments.execute import Execution, execute
from optiscope.experiments.experiment_spec import Experiment, load_experiment, resolve
from optiscope.experiments.experiment_study import ExperimentResult, run_experiment
from optiscope.experiments.landscape_study import LandscapeConfig, LandscapeResult, run_landscape_study
from optiscope.experiments.paths_study import PathsConfig, StudyResult, load_paths, run_paths_study
from optiscope.experiments.presets import load_source, preset_names
from optiscope.experiments.protocol import RunContext, StudyKind, Style
from optiscope.experiments.registry import STUDY_KINDS, redraw, study_kind
from optiscope.experiments.sweep_study import SweepConfig, run_sweep
from optiscope.experiments.train_study import run_train_study

__all__ = [
    "STUDY_KINDS",
    "CurvatureConfig",
    "CurvatureResult",
    "Execution",
    "Experiment",
    "ExperimentResult",
    "LandscapeConfig",
    "LandscapeResult",
    "PathsConfig",
    "RunContext",
    "StudyKind",
    "StudyResult",
    "Style",
    "SweepConfig",
    "execute",
    "load_experiment",
    "load_paths",
    "load_source",
    "preset_names",
    "redraw",
    "resolve",
    "run_curvature_study",
    "run_experiment",
    "run_landscape_study",
    "run_paths_study",
    "run_sweep",
    "run_train_study",
    "study_kind",
]
