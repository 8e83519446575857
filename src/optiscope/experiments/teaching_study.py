"""A teaching study: what happens *inside* an optimizer, step by step, and seed 004's AdaGrad figure.

spec (``TeachingStudy``) -> compute (one state trace per optimizer; AdaGrad demo updates;
regression loss grids) -> store (units) -> render (state arrows, AdaGrad full vs diagonal,
seed 003's regression surfaces) -> report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from optiscope.experiments.paths_render import write_report
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

__all__ = ["TeachingStudy", "run_teaching_study"]

_REGRESSION = ("regression_mse", "regression_rmse", "regression_mae")


class TeachingStudy(BaseModel):
    """Which optimizers to open up, on which surface, and which steps to draw."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    surface: str = "ill_conditioned:condition=10,angle=30"
    optimizers: tuple[str, ...] = ("momentum:lr=0.05,momentum=0.9", "rmsprop:lr=0.05", "adam:lr=0.2")
    start: tuple[float, float] | None = None
    steps: int = Field(default=40, gt=1, le=10_000)
    show: tuple[int, ...] = (0, 3, 8, 16)
    adagrad_steps: int = Field(default=8, ge=1, le=64)
    grid_resolution: int = Field(default=120, ge=10, le=1000)


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


def _compute(run_dir: RunDir, study: TeachingStudy) -> None:
    surface = get_surface(study.surface)
    for index, spec in enumerate(study.optimizers):
        unit = f"trace{index:02d}"
        if not run_dir.has_unit(unit):
            trace = trace_state(surface, parse_spec(spec), study.start, study.steps)
            meta = {name: getattr(trace, name) for name in ("surface", "formula", "spec", "label")}
            meta["hparams"] = json.loads(json.dumps(trace.hparams, default=list))
            run_dir.save_unit(unit, _trace_arrays(trace), meta)
    if not run_dir.has_unit("adagrad"):
        grads = adagrad_demo_gradients(study.adagrad_steps)
        full, diagonal = adagrad_demo_updates(grads)
        run_dir.save_unit("adagrad", {"grads": grads, "full": full, "diagonal": diagonal})
    if not run_dir.has_unit("grids"):
        arrays: dict[str, np.ndarray] = {}
        for name in (study.surface, *_REGRESSION):
            xs, ys, zs = get_surface(name).grid(study.grid_resolution)
            key = name.split(":")[0]
            arrays.update({f"{key}.xs": xs.numpy(), f"{key}.ys": ys.numpy(), f"{key}.zs": zs.numpy()})
        run_dir.save_unit("grids", arrays)


def _render(run_dir: RunDir, study: TeachingStudy) -> None:
    grids, _ = run_dir.load_unit("grids")
    key = study.surface.split(":")[0]
    xs, ys, zs = grids[f"{key}.xs"], grids[f"{key}.ys"], grids[f"{key}.zs"]
    for index in range(len(study.optimizers)):
        trace = _trace_from(*run_dir.load_unit(f"trace{index:02d}"))
        show = [step for step in study.show if step < trace.steps]
        title = f"inside {trace.label} on {trace.surface}: {trace.formula}"
        figure = state_arrows_figure(xs, ys, zs, trace, steps_to_show=show, title=title, colour_index=index)
        run_dir.save_figure(figure, f"state-{index:02d}-{parse_spec(trace.spec).name}.png")
    adagrad, _ = run_dir.load_unit("adagrad")
    figure = adagrad_full_vs_diagonal_figure(adagrad["grads"], adagrad["full"], adagrad["diagonal"])
    run_dir.save_figure(figure, "adagrad-full-vs-diagonal.png")
    surfaces = {}
    for name in _REGRESSION:
        surface = get_surface(name)
        surfaces[f"{surface.name}: {surface.formula}"] = (
            grids[f"{name}.xs"],
            grids[f"{name}.ys"],
            grids[f"{name}.zs"],
        )
    mse = get_surface("regression_mse")
    options = mse.options
    data_x, data_y = make_data(options["n_samples"], options["data_seed"], options["noise_std"])
    fits = {f"{name.split('_')[1].upper()} minimum": get_surface(name).minima[0] for name in _REGRESSION}
    figure = regression_surfaces_figure(surfaces, data_x.numpy(), data_y.numpy(), fits)
    run_dir.save_figure(figure, "regression-surfaces.png")


def run_teaching_study(study: TeachingStudy, out: str | Path, *, force: bool = False) -> RunDir:
    """Run (or resume, or fetch from cache) a teaching study into the run directory ``out``."""
    run_dir = RunDir.open(out, kind="teaching", spec=study.model_dump(mode="json"), force=force)
    if run_dir.cached:
        return run_dir
    with run_dir:
        _compute(run_dir, study)
        _render(run_dir, study)
        run_dir.complete(optimizers=list(study.optimizers))
    write_report(run_dir)
    return run_dir
