"""The operator stage of a curvature study: the curvature operator it measures, and with
``operator="all"`` the Hessian, GGN, Fisher and empirical Fisher side by side.

The comparison measures each operator the same way (the study's eigen-solver for the top-k
eigenvalues, its trace method and budget), each in one cached unit (``operator-<name>``), and
stores one row per operator in ``comparison.parquet``, a table the report shows.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from optiscope.curvature import OPERATORS, HessianOperator, curvature_operator, top_eigen_of, trace_of
from optiscope.experiments.study_inputs import StudyInputs
from optiscope.store import RunDir

if TYPE_CHECKING:
    from optiscope.experiments.curvature_study import CurvatureConfig

__all__ = ["COMPARISON_TABLE", "compare_operators", "comparison_lines", "measured_operator", "study_operator"]

COMPARISON_TABLE = "comparison"


def measured_operator(config: CurvatureConfig) -> str:
    """The operator whose eigenpairs, trace and density the study stores (the Hessian for ``all``)."""
    return "hessian" if config.operator == "all" else config.operator


def study_operator(config: CurvatureConfig, inputs: StudyInputs, kind: str | None = None) -> HessianOperator:
    """The float64 operator ``kind``, by default :func:`measured_operator`."""
    kind = kind or measured_operator(config)
    return curvature_operator(inputs.model, inputs.loss_fn, inputs.data, kind, device=config.device,
                              dtype=torch.float64)  # fmt: skip


def _measure(config: CurvatureConfig, inputs: StudyInputs, kind: str) -> tuple[dict[str, np.ndarray], dict]:
    """Top-k eigenvalues and trace of one operator, with their products and seconds (a unit)."""
    operator = study_operator(config, inputs, kind)
    spectrum = top_eigen_of(operator, k=config.top_k, tol=config.tol, method=config.method, seed=config.seed)
    started = time.perf_counter()
    estimate = trace_of(operator, config.trace_method, config.trace_samples, config.seed)
    meta = {"eigen_products": spectrum.hvps, "eigen_seconds": spectrum.seconds, "trace": estimate.value,
            "trace_stderr": estimate.stderr, "trace_products": estimate.hvps,
            "trace_seconds": time.perf_counter() - started}  # fmt: skip
    return {"eigenvalues": spectrum.values, "residuals": spectrum.residuals}, meta


def compare_operators(run_dir: RunDir, config: CurvatureConfig, inputs: StudyInputs) -> pd.DataFrame:
    """One row per operator of :data:`~optiscope.curvature.OPERATORS`, stored as ``comparison``.

    Columns: ``operator``, ``lambda1 .. lambdaK`` (descending), ``max_relative_residual``,
    ``trace``, ``trace_stderr``, ``products`` (eigen-solve, its residual checks and trace) and
    ``seconds`` (the same work; the eigen-solve's include the operator's first-product setup:
    the Hessian's gradient graph, the GGN's forward graph, the empirical Fisher's per-sample
    gradients).
    """
    rows = []
    for kind in OPERATORS:
        arrays, meta = run_dir.unit(f"operator-{kind}", lambda kind=kind: _measure(config, inputs, kind))
        values = np.asarray(arrays["eigenvalues"])
        row: dict[str, Any] = {"operator": kind}
        row.update({f"lambda{j + 1}": float(value) for j, value in enumerate(values)})
        row.update(
            max_relative_residual=float(np.max(arrays["residuals"] / np.maximum(np.abs(values), 1e-300))),
            trace=float(meta["trace"]),
            trace_stderr=float(meta["trace_stderr"]),
            products=int(meta["eigen_products"]) + int(meta["trace_products"]),
            seconds=float(meta["eigen_seconds"]) + float(meta["trace_seconds"]),
        )
        rows.append(row)
    frame = pd.DataFrame(rows)
    run_dir.write_table(COMPARISON_TABLE, frame)
    return frame


def comparison_lines(frame: pd.DataFrame) -> list[str]:
    """One printable line per operator of a ``comparison`` table."""
    lines = []
    for row in frame.to_dict("records"):
        values = ", ".join(f"{row[c]:.6g}" for c in frame.columns if c.startswith("lambda"))
        trace = f"trace {row['trace']:.6g} +- {row['trace_stderr']:.2g}"
        lines.append(f"{row['operator']}: top eigenvalues {values}; {trace}; "
                     f"{row['products']} products, {row['seconds']:.2f} s")  # fmt: skip
    return lines
