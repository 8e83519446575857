"""Render a stored paths study: static figures, animations, interactive figures, report.

Everything here reads what the study stored (its PathSet, surface grid and basin maps) and hands
the result to the run directory to write; nothing recomputes a path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optiscope.paths import BasinMap, PathSet
from optiscope.store import RunDir
from optiscope.surfaces import Surface
from optiscope.viz import interactive
from optiscope.viz.animation import animate_contour, animate_loss, animate_surface_3d
from optiscope.viz.path_figures import basin_figure, contour_with_paths, loss_curves
from optiscope.viz.report import render_report
from optiscope.viz.surface3d import surface_3d_with_paths
from optiscope.viz.teaching import lr_sweep_figure

__all__ = ["GRID_FILE", "FigureOptions", "render_paths_figures", "select_configs", "write_report"]

GRID_FILE = "surface_grid.npz"


@dataclass(frozen=True)
class FigureOptions:
    """Which extras to draw (the static contour and loss figures are always drawn)."""

    three_d: bool = False
    animate: bool = False
    interactive: bool = False
    frames: int = 60
    fps: int = 15
    video: str = "gif"


def _title(surface: Surface) -> str:
    return f"{surface.name}: {surface.formula}" if surface.formula else surface.name


def _grid(run_dir: RunDir) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.load(io.BytesIO((run_dir.path / GRID_FILE).read_bytes())) as grid:
        return grid["xs"], grid["ys"], grid["zs"]


def render_paths_figures(
    run_dir: RunDir, paths: PathSet, surface: Surface, maps: list[BasinMap], options: FigureOptions
) -> list[Path]:
    """Draw the study's figures from its stored arrays and store them under ``figures/``."""
    xs, ys, zs = _grid(run_dir)
    title = _title(surface)
    saved = [
        run_dir.save_figure(
            contour_with_paths(xs, ys, zs, paths, title=title, minima=surface.minima), "contour.png"
        ),
        run_dir.save_figure(loss_curves(paths, title=f"{surface.name}: loss per step (log)"), "loss.png"),
        run_dir.save_figure(
            loss_curves(paths, title=f"{surface.name}: loss per step (linear)", log=False), "loss_linear.png"
        ),
    ]
    if maps:
        saved.append(run_dir.save_figure(basin_figure(maps, title=surface.name), "basins.png"))
    for name, configs in _sweeps(paths).items():
        sweep = select_configs(paths, configs)
        figure = lr_sweep_figure(xs, ys, zs, sweep, title=f"{name} on {title}", minima=surface.minima)
        saved.append(run_dir.save_figure(figure, f"sweep-{name}.png"))
    if options.three_d:
        figure = surface_3d_with_paths(xs, ys, zs, paths, title=title, view=surface.view, zlim=surface.zlim)
        saved.append(run_dir.save_figure(figure, "surface3d.png"))
    if options.animate:
        saved.extend(_animations(run_dir, xs, ys, zs, paths, surface, options))
    if options.interactive:
        saved.extend(_interactive(run_dir, xs, ys, zs, paths, surface, maps, options))
    return saved


def _sweeps(paths: PathSet) -> dict[str, list[int]]:
    """Optimizers that appear in two or more configs (a learning-rate or setting sweep)."""
    groups: dict[str, list[int]] = {}
    for config, name in enumerate(paths.optimizers):
        groups.setdefault(name, []).append(config)
    return {name: configs for name, configs in groups.items() if len(configs) > 1}


def select_configs(paths: PathSet, configs: list[int]) -> PathSet:
    """The runs of some configs only, as a PathSet of their own (no recomputation)."""
    runs = np.concatenate([np.arange(c * paths.n_starts, (c + 1) * paths.n_starts) for c in configs])
    return PathSet(
        surface=paths.surface,
        specs=[paths.specs[c] for c in configs],
        labels=[paths.labels[c] for c in configs],
        optimizers=[paths.optimizers[c] for c in configs],
        starts=paths.starts,
        points=paths.points[runs],
        losses=paths.losses[runs],
        grad_norms=paths.grad_norms[runs],
        n_steps=paths.n_steps[runs],
        status=[paths.status[r] for r in runs],
        info=dict(paths.info),
    )


def _animations(
    run_dir: RunDir,
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    surface: Surface,
    options: FigureOptions,
) -> list[Path]:
    title, suffix = _title(surface), options.video
    timing = {"frames": options.frames, "fps": options.fps, "fmt": suffix}
    contour = animate_contour(xs, ys, zs, paths, title=title, **timing)
    loss = animate_loss(paths, title=f"{surface.name}: loss", **timing)
    saved = [
        run_dir.write_bytes(f"figures/contour.{suffix}", contour),
        run_dir.write_bytes(f"figures/loss.{suffix}", loss),
    ]
    if options.three_d:
        rolling = animate_surface_3d(
            xs, ys, zs, paths, title=title, view=surface.view, zlim=surface.zlim, **timing
        )
        saved.append(run_dir.write_bytes(f"figures/surface3d.{suffix}", rolling))
    return saved


def _interactive(
    run_dir: RunDir,
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    surface: Surface,
    maps: list[BasinMap],
    options: FigureOptions,
) -> list[Path]:
    title = _title(surface)
    contour = interactive.contour_figure(
        xs, ys, zs, paths, title=title, minima=surface.minima, frames=options.frames
    )
    saved = [run_dir.write_text("figures/contour.plotly.json", contour.to_json())]
    if options.three_d:
        figure = interactive.surface_3d_figure(
            xs, ys, zs, paths, title=title, zlim=surface.zlim, view=surface.view, frames=options.frames
        )
        saved.append(run_dir.write_text("figures/surface3d.plotly.json", figure.to_json()))
    if maps:
        basins = interactive.basin_figure(maps, title=surface.name)
        saved.append(run_dir.write_text("figures/basins.plotly.json", basins.to_json()))
    return saved


def write_report(run_dir: RunDir) -> Path:
    """(Re)write ``report.html`` from what the run directory holds."""
    return run_dir.write_text("report.html", render_report(run_dir.path))
