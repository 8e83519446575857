"""Seed 004's AdaGrad timing table, re-measured here: full-matrix vs diagonal AdaGrad.

Seed 004 times ``N = 8`` steps of ``F = 1024`` random gradients (``rand(F) * lognormal
scales``) with ``%timeit``: 27.4 s for full-matrix AdaGrad (Duchi, Hazan and Singer, 2011)
computed as ``inv(sqrtm(G_t) + eps I) g_t`` with scipy every step, against 619 µs for the
diagonal version ``g_t / (sqrt(sum g^2) + eps)``. This study times the seed's recipe,
optiscope's exact thin-SVD :func:`~optiscope.optimizers.full_adagrad.full_matrix_adagrad_updates`
and a vectorised diagonal AdaGrad on the same gradients, checks the full methods agree, and
puts the published figures next to the new ones.

config (``AdagradTimingConfig``) -> run (:func:`adagrad_timing`, a table) -> store
(``timing.parquet``) -> render (``figures/timing.png``, drawn by :mod:`optiscope.viz.timing_figures`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy import linalg

from optiscope.experiments.execute import execute
from optiscope.experiments.protocol import RunContext, StudyKind, Style
from optiscope.optimizers.full_adagrad import full_matrix_adagrad_updates
from optiscope.store import RunDir
from optiscope.validated import validated
from optiscope.viz.timing_figures import adagrad_timing_figure

__all__ = [
    "ADAGRAD_TIMING",
    "EPS",
    "METHODS",
    "PUBLISHED_SECONDS",
    "PUBLISHED_SETTING",
    "AdagradTimingConfig",
    "adagrad_timing",
    "diagonal_adagrad_updates",
    "eigh_reference_updates",
    "run_adagrad_timing",
    "seed_method_updates",
    "timing_gradients",
]

EPS = 1e-5
"""The seed's eps, added to ``sqrt(G_t)`` before dividing (both versions)."""

METHODS = {
    "seed_sqrtm_inv": "seed 004: scipy sqrtm + inv per step",
    "optiscope_full": "optiscope full_matrix_adagrad_updates (thin SVD)",
    "diagonal": "diagonal AdaGrad (torch, vectorised)",
}
"""Method id -> what it is, in the order the table lists them."""

PUBLISHED_SECONDS = {"seed_sqrtm_inv": 27.4, "diagonal": 619e-6}
"""Seed 004's ``%timeit`` means (the whole ``N = 8`` loop); optiscope's method was not there."""

PUBLISHED_SETTING = "F=1024, N=8, seed 004's machine"


class AdagradTimingConfig(BaseModel):
    """How many features and steps to time, how often, and on which seeded gradients."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: int = Field(default=1024, ge=2, le=4096)
    steps: int = Field(default=8, ge=1, le=64)
    repeats: int = Field(default=3, ge=1, le=20)
    seed: int = 32
    include_seed_method: bool = True
    """The scipy recipe costs ``O(N F^3)``: tens of seconds at ``F = 1024``."""

    @classmethod
    def build(cls, **fields: Any) -> AdagradTimingConfig:
        """Validate ``fields`` into a config; SpecError names the first bad field."""
        return validated(cls, fields)


def timing_gradients(config: AdagradTimingConfig) -> np.ndarray:
    """The ``(steps, features)`` float64 gradients ``rand(F) * scales``, one row per step.

    Rows come from ``RandomState(seed)`` in the seed's order (one ``rand(F)`` per step). The
    seed drew its log-normal scales from the unseeded global generator; here they come from
    ``RandomState(seed + 1)`` so the table can be reproduced.
    """
    scales = np.random.RandomState(config.seed + 1).lognormal(size=config.features)
    return np.random.RandomState(config.seed).rand(config.steps, config.features) * scales


def seed_method_updates(grads: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Seed 004's ``adagrad_w_full_gt``: ``v_t = inv(sqrtm(G_t) + eps I) g_t``, dense, per step.

    ``G_t`` has rank ``t < F``, so scipy warns that it is singular and may return a complex
    root with a round-off imaginary part; the real part is kept (as the benchmark does).

    Args:
        grads: ``(N, F)`` float64 gradients in order.
        eps: added to the square root before inverting.

    Returns:
        ``(N, F)`` updates.
    """
    features = grads.shape[1]
    gram = np.zeros((features, features))
    updates = np.empty_like(grads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        for step, gradient in enumerate(grads):
            gram += np.outer(gradient, gradient)
            root = np.real(linalg.sqrtm(gram))
            updates[step] = linalg.inv(root + np.eye(features) * eps) @ gradient
    return updates


def eigh_reference_updates(grads: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Dense float64 reference ``V diag(1 / (sqrt(max(w, 0)) + eps)) V^T g_t``, ``G_t = V w V^T``."""
    gram = np.zeros((grads.shape[1], grads.shape[1]))
    updates = np.empty_like(grads)
    for step, gradient in enumerate(grads):
        gram += np.outer(gradient, gradient)
        eigenvalues, eigenvectors = np.linalg.eigh(gram)
        scale = np.sqrt(np.clip(eigenvalues, 0.0, None)) + eps
        updates[step] = eigenvectors @ ((eigenvectors.T @ gradient) / scale)
    return updates


def diagonal_adagrad_updates(grads: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Diagonal AdaGrad for all steps at once: ``v_t = g_t / (sqrt(sum_{tau<=t} g_tau^2) + eps)``.

    Args:
        grads: ``(N, F)`` gradients in order.
        eps: added to the square root.

    Returns:
        ``(N, F)`` updates, same dtype as ``grads``.
    """
    return grads / (torch.cumsum(grads.square(), dim=0).sqrt() + eps)


def _best_of(compute: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """The fastest of ``repeats`` wall-clock runs of ``compute`` and its (last) result."""
    best = math.inf
    result = np.empty(0)
    for _ in range(repeats):
        began = time.perf_counter()
        result = compute()
        best = min(best, time.perf_counter() - began)
    return best, result


def _max_relative_difference(updates: np.ndarray, reference: np.ndarray) -> float:
    """``max_t |v_t - r_t| / |r_t|`` over the steps (2-norms)."""
    errors = np.linalg.norm(updates - reference, axis=1) / np.linalg.norm(reference, axis=1)
    return float(errors.max())


def _timed_methods(config: AdagradTimingConfig, grads: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    """Each method as a no-argument call on the prepared gradients, in :data:`METHODS` order."""
    tensor = torch.from_numpy(grads)
    methods = {
        "seed_sqrtm_inv": lambda: seed_method_updates(grads),
        "optiscope_full": lambda: full_matrix_adagrad_updates(tensor, eps=EPS).numpy(),
        "diagonal": lambda: diagonal_adagrad_updates(tensor).numpy(),
    }
    if not config.include_seed_method:
        del methods["seed_sqrtm_inv"]
    return methods


def adagrad_timing(config: AdagradTimingConfig) -> pd.DataFrame:
    """Time every method (best of ``repeats``) on the config's gradients; no files written.

    Returns:
        One row per method: ``method``, ``description``, ``seconds`` (whole ``N``-step loop),
        ``seconds_per_step``, ``relative_to_diagonal``, ``max_relative_difference`` (full
        methods vs the seed's recipe, or vs :func:`eigh_reference_updates` when it is skipped;
        NaN for diagonal), ``reference``, ``mean_update_norm``, ``setting``, ``threads``,
        ``published_seconds`` (NaN where seed 004 has no figure) and ``published_setting``.
    """
    grads = timing_gradients(config)
    timed = {
        name: _best_of(compute, config.repeats) for name, compute in _timed_methods(config, grads).items()
    }
    if "seed_sqrtm_inv" in timed:
        reference, reference_name = timed["seed_sqrtm_inv"][1], "seed_sqrtm_inv"
    else:
        reference, reference_name = eigh_reference_updates(grads), "float64 eigh"
    diagonal_seconds = timed["diagonal"][0]
    setting = f"F={config.features}, N={config.steps}, best of {config.repeats}"
    rows = []
    for name, (seconds, updates) in timed.items():
        full = name != "diagonal"
        rows.append(
            {
                "method": name,
                "description": METHODS[name],
                "seconds": seconds,
                "seconds_per_step": seconds / config.steps,
                "relative_to_diagonal": seconds / diagonal_seconds,
                "max_relative_difference": _max_relative_difference(updates, reference) if full else math.nan,
                "reference": reference_name if full else "",
                "mean_update_norm": float(np.linalg.norm(updates, axis=1).mean()),
                "setting": setting,
                "threads": torch.get_num_threads(),
                "published_seconds": PUBLISHED_SECONDS.get(name, math.nan),
                "published_setting": PUBLISHED_SETTING,
            }
        )
    return pd.DataFrame(rows)


def _compute(config: AdagradTimingConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    frame = adagrad_timing(config)
    run_dir.write_table("timing", frame)
    for method, seconds in zip(frame["method"], frame["seconds"], strict=True):
        run_dir.record_timing(method, float(seconds))
    return {"methods": frame["method"].tolist()}


def _render(run_dir: RunDir, style: Style) -> None:
    figure = adagrad_timing_figure(run_dir.read_table("timing"), PUBLISHED_SETTING)
    run_dir.save_figure(figure, "timing.png", **style.save_options())


ADAGRAD_TIMING: StudyKind[AdagradTimingConfig] = StudyKind(
    name="adagrad-timing", config=AdagradTimingConfig, run=_compute, render=_render
)


def run_adagrad_timing(config: AdagradTimingConfig, out: str | Path, *, force: bool = False) -> pd.DataFrame:
    """Measure (or fetch from cache) the timing table into the run directory ``out``.

    Stores ``timing.parquet``, ``figures/timing.png``, each method's seconds as a manifest
    timing, and ``report.html``.

    Raises:
        StoreError: ``out`` holds a different run (without ``force``) or cannot be used.
    """
    return execute(ADAGRAD_TIMING, config, out, force=force).run_dir.read_table("timing")
