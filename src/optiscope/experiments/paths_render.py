"""Draw a stored paths study: static figures, animations, interactive figures.

Everything here reads what the study stored (its tables and surface grid) and hands the figures
to the run directory to write; nothing recomputes a path. The path figures draw the runs whose
full paths were kept (every run, or the sample ``keep_paths`` chose); the basin maps come from
``basins.parquet``, which holds every start.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from optiscope.experiments.paths_surface import study_surface
from optiscope.experiments.protocol import Style
from optiscope.paths import BasinMap, PathSet, basin_maps_from_frame, start_grid
from optiscope.store import RunDir
from optiscope.surfaces import Surface
from optiscope.viz import interactive
from optiscope.viz.animation import animate_contour, animate_loss, animate_surface_3d
from optiscope.viz.path_figures import (
    basin_figure,
    contour_panels,
    contour_with_paths,
    drawn_runs,
    loss_curves,
    needs_panels,
)
from optiscope.viz.path_window import Window, fit_window
from optiscope.viz.plotly_files import save_plotly
from optiscope.viz.surface3d import surface_3d_with_paths
from optiscope.viz.teaching import lr_sweep_figure

__all__ = [
    "GRID_FILE",
    "GRID_RESOLUTION",
    "load_basins",
    "load_paths",
    "render_paths",
    "render_paths_figures",
    "select_configs",
]

GRID_FILE = "surface_grid.npz"
GRID_RESOLUTION = 200  # the stored surface grid; another resolution is evaluated when drawn


def load_paths(run_dir: RunDir) -> PathSet:
    """Read a stored study's kept runs back (no recomputation).

    Every run when the study kept every path; else the runs from the sampled starts, the same for
    every config, with ``info["start_indices"]`` naming them (``runs.parquet`` has every run).
    """
    spec = run_dir.spec
    manifest = run_dir.manifest
    return PathSet.from_frames(
        run_dir.read_table("paths"),
        run_dir.read_table("runs"),
        surface=manifest.get("surface", {}).get("name", spec["surface"]),
        labels=manifest.get("labels"),
        steps=int(spec["steps"]),
        info={"batched": manifest.get("batched")},
    )


def load_basins(run_dir: RunDir, surface: Surface) -> list[BasinMap]:
    """The basin maps of a start-grid study, one per config, from ``basins.parquet`` (every start);
    none for a study without a start grid."""
    grid = run_dir.spec.get("start_grid")
    if grid is None:
        return []
    xs, ys, _ = start_grid(surface, int(grid))
    return basin_maps_from_frame(run_dir.read_table("basins"), surface, xs, ys)


def render_paths(run_dir: RunDir, style: Style) -> None:
    """Draw a stored paths study with ``style`` (the paths kind's ``render``)."""
    surface = study_surface(run_dir.spec)
    render_paths_figures(run_dir, load_paths(run_dir), surface, load_basins(run_dir, surface), style)


def _title(surface: Surface) -> str:
    """``name: formula``; an expression is named by its formula alone (not said twice)."""
    if surface.name.startswith("expr:"):
        return surface.formula or surface.name.removeprefix("expr:")
    return f"{surface.name}: {surface.formula}" if surface.formula else surface.name


def _grid(run_dir: RunDir, surface: Surface, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface grid the figures draw: the stored one, or the surface evaluated at another
    resolution (drawing, not the study's numbers)."""
    stored = run_dir.path / GRID_FILE
    if resolution == GRID_RESOLUTION and stored.is_file():
        with np.load(io.BytesIO(stored.read_bytes())) as grid:
            return grid["xs"], grid["ys"], grid["zs"]
    xs, ys, zs = surface.grid(resolution)
    return xs.numpy(), ys.numpy(), zs.numpy()


def render_paths_figures(
    run_dir: RunDir, paths: PathSet, surface: Surface, maps: list[BasinMap], style: Style
) -> list[Path]:
    """Draw the study's figures from its stored arrays and store them under ``figures/``.

    A study that kept no paths (``keep_paths: none``) gets its basin maps only.
    """
    xs, ys, zs = _grid(run_dir, surface, style.grid_resolution)
    dpi = style.save_options()
    saved = _path_figures(run_dir, xs, ys, zs, paths, surface, style) if paths.n_runs else []
    if maps:
        figure = basin_figure(maps, title=surface.name, axis_names=surface.axis_names)
        saved.append(run_dir.save_figure(figure, "basins.png", **dpi))
        if style.interactive:
            figure = interactive.basin_figure(maps, title=surface.name)
            saved.append(save_plotly(run_dir, figure, "basins"))
    return saved


def _window_grid(
    run_dir: RunDir, surface: Surface, resolution: int, window: Window
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface over the window a figure shows: the drawn grid when the window is the domain,
    else the surface evaluated over the window (drawing, not the study's numbers), with up to
    twice the points so the domain keeps its detail in a window grown around it."""
    if window == surface.domain:
        return _grid(run_dir, surface, resolution)
    growth = max(
        (high - low) / (d_high - d_low)
        for (low, high), (d_low, d_high) in zip(window, surface.domain, strict=True)
    )
    points = int(resolution * min(max(growth, 1.0), 2.0))
    xs, ys, zs = surface.with_options(domain=window).grid(points)
    return xs.numpy(), ys.numpy(), zs.numpy()


def _path_figures(
    run_dir: RunDir,
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    surface: Surface,
    style: Style,
) -> list[Path]:
    """The plane figures (over a window fitted to the paths, or ``style``'s limits), the loss
    figures, and the sweeps, 3-D figures, animations and interactive figures ``style`` asks for."""
    title = _title(surface)
    dpi = style.save_options()
    window = fit_window(
        surface.domain, paths.points[drawn_runs(paths)], x_limits=style.x_limits, y_limits=style.y_limits
    )
    plane = {
        "title": title,
        "minima": surface.minima,
        "window": window,
        "domain": surface.domain,
        "axis_names": surface.axis_names,
    }
    window_grid = _window_grid(run_dir, surface, style.grid_resolution, window)
    finite = zs[np.isfinite(zs)]
    minimum = {
        "minimum_value": surface.minimum_value,
        "grid_minimum": float(finite.min()) if finite.size else None,
    }
    saved = [
        run_dir.save_figure(contour_with_paths(*window_grid, paths, **plane), "contour.png", **dpi),
        run_dir.save_figure(
            loss_curves(paths, title=f"{surface.name}: loss per step (log)", **minimum), "loss.png", **dpi
        ),
        run_dir.save_figure(
            loss_curves(paths, title=f"{surface.name}: loss per step (linear)", log=False),
            "loss_linear.png",
            **dpi,
        ),
    ]
    if needs_panels(paths, window):
        figure = contour_panels(*window_grid, paths, **plane)
        saved.append(run_dir.save_figure(figure, "contour_panels.png", **dpi))
    for name, configs in _sweeps(paths).items():
        sweep = select_configs(paths, configs)
        figure = lr_sweep_figure(
            xs,
            ys,
            zs,
            sweep,
            title=f"{name} on {title}",
            minima=surface.minima,
            axis_names=surface.axis_names,
        )
        saved.append(run_dir.save_figure(figure, f"sweep-{name}.png", **dpi))
    if style.three_d:
        figure = surface_3d_with_paths(
            xs,
            ys,
            zs,
            paths,
            title=title,
            view=surface.view,
            zlim=surface.zlim,
            axis_names=surface.axis_names,
        )
        saved.append(run_dir.save_figure(figure, "surface3d.png", **dpi))
    if style.animate:
        saved.extend(_animations(run_dir, xs, ys, zs, paths, surface, style))
    if style.interactive:
        saved.extend(_interactive(run_dir, xs, ys, zs, paths, surface, style))
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
        rules=None if paths.rules is None else [paths.rules[r] for r in runs],
        outcome_steps=None if paths.outcome_steps is None else paths.outcome_steps[runs],
    )


def _animations(
    run_dir: RunDir,
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    surface: Surface,
    style: Style,
) -> list[Path]:
    title, suffix = _title(surface), style.video
    timing = {"frames": style.frames, "fps": style.fps, "fmt": suffix}
    contour = animate_contour(xs, ys, zs, paths, title=title, axis_names=surface.axis_names, **timing)
    loss = animate_loss(paths, title=f"{surface.name}: loss", **timing)
    saved = [
        run_dir.write_bytes(f"figures/contour.{suffix}", contour),
        run_dir.write_bytes(f"figures/loss.{suffix}", loss),
    ]
    if style.three_d:
        rolling = animate_surface_3d(
            xs, ys, zs, paths, title=title, view=surface.view, zlim=surface.zlim,
            axis_names=surface.axis_names, **timing,
        )  # fmt: skip
        saved.append(run_dir.write_bytes(f"figures/surface3d.{suffix}", rolling))
    return saved


def _interactive(
    run_dir: RunDir,
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    surface: Surface,
    style: Style,
) -> list[Path]:
    title = _title(surface)
    contour = interactive.contour_figure(
        xs, ys, zs, paths, title=title, minima=surface.minima, frames=style.frames,
        axis_names=surface.axis_names,
    )  # fmt: skip
    saved = [save_plotly(run_dir, contour, "contour")]
    if style.three_d:
        figure = interactive.surface_3d_figure(
            xs, ys, zs, paths, title=title, zlim=surface.zlim, view=surface.view, frames=style.frames,
            axis_names=surface.axis_names,
        )  # fmt: skip
        saved.append(save_plotly(run_dir, figure, "surface3d"))
    return saved
