"""A teaching study: what happens *inside* an optimizer, step by step, and the seeds' teaching figures.

config (``TeachingStudy``) -> run (one state trace per optimizer; AdaGrad demo updates) -> store
(``data/*.npz``, the results the figures read) -> render. ``views`` picks what is computed and
drawn: ``state`` (the state arrows of each optimizer), ``adagrad`` (seed 004's full-matrix vs
diagonal AdaGrad, fig. 13) and ``regression`` (seed 003's three regression loss surfaces), so a
seed's step shows only that seed's figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from optiscope.experiments.execute import execute
from optiscope.experiments.protocol import RunContext, StudyKind, Style
from optiscope.optimizers import parse_spec
from optiscope.paths import StateTrace, adagrad_demo_gradients, adagrad_demo_updates, trace_state
from optiscope.store import RunDir
from optiscope.surfaces import get as get_surface
from optiscope.surfaces.regression import make_data
from optiscope.viz.teaching import (
    adagrad_full_vs_diagonal_figure,
    regression_surfaces_figure,
    state_arrows_figure,
)

__all__ = ["TEACHING", "TeachingStudy", "run_teaching_study"]

_REGRESSION = ("regression_mse", "regression_rmse", "regression_mae")
View = Literal["state", "adagrad", "regression"]


class TeachingStudy(BaseModel):
    """Which optimizers to open up, on which surface, and which steps to draw."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    surface: str = "ill_conditioned:condition=10,angle=30"
    optimizers: tuple[str, ...] = ("momentum:lr=0.05,momentum=0.9", "rmsprop:lr=0.05", "adam:lr=0.2")
    start: tuple[float, float] | None = None
    steps: int = Field(default=40, gt=1, le=10_000)
    show: tuple[int, ...] = (0, 3, 8, 16)
    adagrad_steps: int = Field(default=8, ge=1, le=64)
    views: tuple[View, ...] = Field(
        default=("state",),
        min_length=1,
        description="what to draw: state (each optimizer's internals), adagrad (seed 004 fig. 13), "
        "regression (seed 003's loss surfaces)",
    )


def _trace_arrays(trace: StateTrace) -> dict[str, np.ndarray]:
    arrays = {name: getattr(trace, name) for name in ("positions", "losses", "gradients", "updates", "lrs")}
    arrays.update({f"state.{name}": value for name, value in trace.state.items()})
    arrays.update({f"scalar.{name}": value for name, value in trace.scalars.items()})
    return arrays


def _trace_from(arrays: dict[str, np.ndarray], meta: dict) -> StateTrace:
    return StateTrace(
        surface=meta["surface"],
        formula=meta["formula"],
        spec=meta["spec"],
        label=meta["label"],
        hparams=meta["hparams"],
        positions=arrays["positions"],
        losses=arrays["losses"],
        gradients=arrays["gradients"],
        updates=arrays["updates"],
        lrs=arrays["lrs"],
        state={key[6:]: value for key, value in arrays.items() if key.startswith("state.")},
        scalars={key[7:]: value for key, value in arrays.items() if key.startswith("scalar.")},
    )


def _trace_unit(
    surface: Any, spec: str, study: TeachingStudy
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    trace = trace_state(surface, parse_spec(spec), study.start, study.steps)
    meta = {name: getattr(trace, name) for name in ("surface", "formula", "spec", "label")}
    meta["hparams"] = json.loads(json.dumps(trace.hparams, default=list))
    return _trace_arrays(trace), meta


def _adagrad_unit(study: TeachingStudy) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    grads = adagrad_demo_gradients(study.adagrad_steps)
    full, diagonal = adagrad_demo_updates(grads)
    return {"grads": grads, "full": full, "diagonal": diagonal}, {}


def _grid(name: str, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A surface on a grid, for drawing (the surface is a formula: evaluating it computes no result)."""
    xs, ys, zs = get_surface(name).grid(resolution)
    return xs.numpy(), ys.numpy(), zs.numpy()


def _compute(study: TeachingStudy, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    """The traces and the AdaGrad updates its views need: kept units (``data/``) the figures read."""
    if "state" in study.views:
        surface = get_surface(study.surface)
        for index, spec in enumerate(study.optimizers):
            run_dir.unit(f"trace{index:02d}", lambda spec=spec: _trace_unit(surface, spec, study), keep=True)
    if "adagrad" in study.views:
        run_dir.unit("adagrad", lambda: _adagrad_unit(study), keep=True)
    return {
        "optimizers": list(study.optimizers) if "state" in study.views else [],
        "views": list(study.views),
    }


def _render(run_dir: RunDir, style: Style) -> None:
    study = TeachingStudy(**run_dir.spec)
    dpi = style.save_options()
    if "state" in study.views:
        _draw_states(run_dir, study, style)
    if "adagrad" in study.views:
        adagrad, _ = run_dir.load_kept("adagrad")
        figure = adagrad_full_vs_diagonal_figure(adagrad["grads"], adagrad["full"], adagrad["diagonal"])
        run_dir.save_figure(figure, "adagrad-full-vs-diagonal.png", **dpi)
    if "regression" in study.views:
        _draw_regression(run_dir, style)


def _draw_states(run_dir: RunDir, study: TeachingStudy, style: Style) -> None:
    xs, ys, zs = _grid(study.surface, style.grid_resolution)
    for index in range(len(study.optimizers)):
        trace = _trace_from(*run_dir.load_kept(f"trace{index:02d}"))
        show = [step for step in study.show if step < trace.steps]
        title = f"inside {trace.label} on {trace.surface}: {trace.formula}"
        figure = state_arrows_figure(xs, ys, zs, trace, steps_to_show=show, title=title, colour_index=index)
        run_dir.save_figure(
            figure, f"state-{index:02d}-{parse_spec(trace.spec).name}.png", **style.save_options()
        )


def _draw_regression(run_dir: RunDir, style: Style) -> None:
    """Seed 003's MSE, RMSE and MAE surfaces of one data set, with each loss's minimum marked."""
    surfaces = {}
    for name in _REGRESSION:
        surface = get_surface(name)
        surfaces[f"{surface.name}: {surface.formula}"] = _grid(name, style.grid_resolution)
    mse = get_surface("regression_mse")
    options = mse.options
    data_x, data_y = make_data(options["n_samples"], options["data_seed"], options["noise_std"])
    fits = {f"{name.split('_')[1].upper()} minimum": get_surface(name).minima[0] for name in _REGRESSION}
    figure = regression_surfaces_figure(surfaces, data_x.numpy(), data_y.numpy(), fits)
    run_dir.save_figure(figure, "regression-surfaces.png", **style.save_options())


TEACHING: StudyKind[TeachingStudy] = StudyKind(
    name="teaching", config=TeachingStudy, run=_compute, render=_render
)


def run_teaching_study(study: TeachingStudy, out: str | Path, *, force: bool = False) -> RunDir:
    """Run (or resume, or fetch from cache) a teaching study into the run directory ``out``."""
    return execute(TEACHING, study, out, force=force).run_dir
