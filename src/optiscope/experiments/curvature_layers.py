"""The per-layer stage of a curvature study: one cached unit, ``layers.parquet`` and ``layers.png``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from optiscope.curvature import LayerCurvature, layer_curvature
from optiscope.experiments.study_inputs import StudyInputs
from optiscope.store import RunDir
from optiscope.viz.curvature_figures import layers_figure

if TYPE_CHECKING:
    from optiscope.experiments.curvature_study import CurvatureConfig

__all__ = ["LAYERS_FIGURE", "LAYERS_TABLE", "measure_layers", "render_layers"]

LAYERS_TABLE = "layers"
LAYERS_FIGURE = "layers.png"


def measure_layers(run_dir: RunDir, config: CurvatureConfig, inputs: StudyInputs) -> pd.DataFrame:
    """Each layer's top eigenvalues and trace (the ``layers`` unit), stored as ``layers.parquet``.

    The eigen-solver and trace settings are the study's own (``top_k``, ``tol``, ``method``,
    ``trace_method``, ``trace_samples``), applied to each layer's block.
    """
    found = run_dir.record_unit(
        "layers",
        LayerCurvature,
        lambda: layer_curvature(inputs.model, inputs.loss_fn, inputs.data, k=config.top_k, tol=config.tol,
                                method=config.method, trace_method=config.trace_method,
                                trace_samples=config.trace_samples, seed=config.seed, device=config.device,
                                dtype=torch.float64),
    )  # fmt: skip
    frame = found.to_frame()
    run_dir.write_table(LAYERS_TABLE, frame)
    return frame


def render_layers(run_dir: RunDir, title: str, dpi: dict[str, Any]) -> None:
    """Draw ``layers.png`` when the study stored ``layers.parquet``."""
    if not (run_dir.path / f"{LAYERS_TABLE}.parquet").is_file():
        return
    frame = run_dir.read_table(LAYERS_TABLE)
    run_dir.save_figure(
        layers_figure(frame, title=f"{title}: Hessian blocks per layer"), LAYERS_FIGURE, **dpi
    )
