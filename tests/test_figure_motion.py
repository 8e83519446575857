"""Figure properties of the 3-D, animated, interactive and teaching figures (issue 16).

Each test checks what a reader would see: no facet over a NaN grid point, a path that leaves the
window marked where it left ("left at step k"), play controls only on figures that can play, no
fixed pixel size, colour bars without repeated labels, notes inside their axes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from optiscope import paths as engine
from optiscope import surfaces
from optiscope.paths import PathSet, basin_maps, start_grid
from optiscope.paths.state_trace import trace_state
from optiscope.viz import animation
from optiscope.viz.interactive import basin_figure, contour_figure, surface_3d_figure
from optiscope.viz.palette import line_style_for
from optiscope.viz.surface3d import surface_3d_with_paths
from optiscope.viz.teaching import lr_sweep_figure, regression_surfaces_figure, state_arrows_figure

SIDE = 21  # grid points per axis: 20 x 20 cells, fewer than the 60 facets a side drawn at most
HOLE = slice(8, 11)  # rows and columns 8..10 of the grid are NaN in the holed surface


@pytest.fixture(scope="module")
def f0_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, zs = surfaces.get("f0").grid(SIDE)
    return xs.numpy(), ys.numpy(), zs.numpy()


@pytest.fixture(scope="module")
def leaving() -> PathSet:
    """sgd with lr=300 on f0 overshoots further each step and leaves the [-10, 10]^2 grid."""
    return engine.run(surfaces.get("f0"), ["sgd:lr=300", "adam:lr=1"], starts=[[1.0, 1.0]], steps=20)


def first_step_outside(points: np.ndarray, low: float, high: float) -> int:
    """The first step whose position is outside ``[low, high]^2`` or not finite (None: never)."""
    with np.errstate(invalid="ignore"):
        outside = ~(
            np.isfinite(points).all(axis=1) & (points >= low).all(axis=1) & (points <= high).all(axis=1)
        )
    return int(np.argmax(outside)) if outside.any() else None


def drawn(figure: Figure) -> FigureCanvasAgg:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas


def texts_of(figure: Figure) -> list[str]:
    return [text.get_text() for text in figure.findobj(Text)]


# --- 3-D surface --------------------------------------------------------------------------------


def test_3d_surface_draws_no_facet_over_a_nan_or_infinite_point(f0_grid, leaving):
    xs, ys, zs = f0_grid
    holed = zs.copy()
    holed[HOLE, HOLE] = np.nan
    holed[0, 0] = np.inf
    figure = surface_3d_with_paths(xs, ys, holed, leaving, title="f0 with a hole")
    drawn(figure)
    (surface,) = [c for c in figure.axes[0].collections if isinstance(c, Poly3DCollection)]
    # A cell is blank when any of its four corners is: the 3 x 3 NaN block touches the 4 x 4 cells
    # of rows and columns 7..10, the infinite corner (0, 0) one more cell.
    expected = (SIDE - 1) ** 2 - 4 * 4 - 1
    assert len(surface.get_paths()) == expected, (
        f"{len(surface.get_paths())} facets drawn, {expected} expected with the blank cells left out"
    )
    assert np.isfinite(np.asarray(surface.get_array())).all()


def test_3d_surface_marks_where_a_path_leaves_the_grid(f0_grid, leaving):
    xs, ys, _ = f0_grid
    figure = surface_3d_with_paths(*f0_grid, leaving, title="f0", axis_names=("u", "v"))
    drawn(figure)
    axes = figure.axes[0]
    run = 0  # the sgd run
    step = first_step_outside(leaving.points[run, : leaving.n_steps[run] + 1], xs[0], xs[-1])
    assert step is not None, "the fixture's sgd run should leave the grid"
    assert f"left at step {step}" in texts_of(figure)
    exits = [line for line in axes.get_lines() if line.get_gid() == "exit"]
    assert len(exits) == 1
    x, y, _ = (np.ravel(values)[0] for values in exits[0].get_data_3d())
    assert min(abs(x - xs[0]), abs(x - xs[-1]), abs(y - ys[0]), abs(y - ys[-1])) < 1e-9, (
        f"the exit marker at ({x:.4g}, {y:.4g}) should lie on the grid's border"
    )
    starts = [line for line in axes.get_lines() if line.get_gid() == "start"]
    ends = [line for line in axes.get_lines() if line.get_gid() == "end"]
    assert len(starts) == 2 and len(ends) == 1, "each run has a start; the run that stays has an end"
    low, high = axes.get_zlim()
    for line in axes.get_lines():
        heights = np.asarray(line.get_data_3d()[2], dtype=float)
        heights = heights[np.isfinite(heights)]
        assert np.all((heights >= low - 1e-9) & (heights <= high + 1e-9)), f"{line.get_gid()} leaves the box"
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("u", "v")


# --- animations ---------------------------------------------------------------------------------


@pytest.fixture
def scenes(monkeypatch) -> list:
    """The scenes the animations draw (their figures end on the last frame)."""
    seen = []
    original = animation._draw_frames

    def keep(scene, steps):
        seen.append(scene)
        yield from original(scene, steps)

    monkeypatch.setattr(animation, "_draw_frames", keep)
    return seen


@pytest.mark.parametrize("kind", ["contour", "3d"])
def test_a_ball_leaving_the_window_stops_on_its_border_with_a_note(f0_grid, leaving, scenes, kind):
    xs, _, _ = f0_grid
    draw = animation.animate_contour if kind == "contour" else animation.animate_surface_3d
    draw(*f0_grid, leaving, title="f0", frames=4)
    figure = scenes[-1].figure
    step = first_step_outside(leaving.points[0, : leaving.n_steps[0] + 1], xs[0], xs[-1])
    notes = [text for text in figure.findobj(Text) if "left at step" in text.get_text()]
    assert [text.get_text() for text in notes] == [f"left at step {step}"]
    assert notes[0].get_visible()
    exit_markers = [line for line in figure.axes[0].get_lines() if line.get_gid() == "exit"]
    shown = [line for line in exit_markers if len(np.ravel(line.get_data()[0]))]
    assert len(shown) == 1, "the sgd run's ball should wait on the border as an exit marker"
    trails = [line for line in figure.axes[0].get_lines() if line.get_gid() == "trail"]
    styles = [(line.get_color(), line.get_linestyle()) for line in trails]
    expected = [
        (colour, Line2D([], [], linestyle=style).get_linestyle())
        for colour, style, _ in map(line_style_for, (0, 1))
    ]
    assert styles == expected, "trails keep the static figures' colours and line styles"
    renderer = FigureCanvasAgg(figure).get_renderer()
    (counter,) = [text for text in figure.findobj(Text) if text.get_text().startswith("step ")]
    assert counter.get_text().startswith(f"step {int(leaving.n_steps.max())} / ")
    box = counter.get_window_extent(renderer)
    assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1 and box.y1 <= figure.bbox.y1, (
        f"the frame counter {box} is clipped by the figure {figure.bbox}"
    )
    titles = [text for text in figure.findobj(Text) if text.get_text() == "f0"]
    assert titles and not any(box.overlaps(title.get_window_extent(renderer)) for title in titles)


# --- interactive (plotly) -----------------------------------------------------------------------


@pytest.mark.parametrize("frames", [1, 5])
def test_play_controls_only_when_the_figure_has_frames(f0_grid, leaving, frames):
    for figure in (
        contour_figure(*f0_grid, leaving, title="f0", frames=frames),
        surface_3d_figure(*f0_grid, leaving, title="f0", frames=frames),
    ):
        layout = json.loads(figure.to_json())
        has_frames = bool(layout.get("frames"))
        assert has_frames == (frames > 1), f"{frames} frame(s) asked, frames present: {has_frames}"
        assert bool(layout["layout"].get("updatemenus")) == has_frames
        assert bool(layout["layout"].get("sliders")) == has_frames


def test_interactive_figures_fill_their_container(f0_grid, leaving):
    surface = surfaces.get("himmelblau")
    xs, ys, starts = start_grid(surface, 3)
    runs = engine.run(surface, ["sgd:lr=0.01", "sgd:lr=0.02"], starts=starts, steps=5)
    figures = {
        "contour": contour_figure(*f0_grid, leaving, title="f0", frames=3),
        "3d": surface_3d_figure(*f0_grid, leaving, title="f0", frames=3),
        "basins": basin_figure(basin_maps(runs, surface, xs, ys), title="himmelblau"),
    }
    for name, figure in figures.items():
        layout = json.loads(figure.to_json())["layout"]
        assert "width" not in layout and "height" not in layout, f"{name} fixes its pixel size"
        assert layout.get("autosize") is True, f"{name} does not follow its container"


def test_interactive_surface_leaves_non_finite_points_blank(f0_grid, leaving):
    xs, ys, zs = f0_grid
    holed = zs.copy()
    holed[HOLE, HOLE] = np.inf
    figure = surface_3d_figure(xs, ys, holed, leaving, title="f0", frames=2)
    heights = np.asarray(figure.data[0].z, dtype=float)
    assert np.isnan(heights[HOLE, HOLE]).all(), "an infinite loss is drawn, not left blank"
    assert np.isfinite(np.delete(np.delete(heights, np.r_[HOLE], 0), np.r_[HOLE], 1)).all()


def test_interactive_figures_mark_where_a_path_left(f0_grid, leaving):
    xs, _, _ = f0_grid
    step = first_step_outside(leaving.points[0, : leaving.n_steps[0] + 1], xs[0], xs[-1])
    for figure in (
        contour_figure(*f0_grid, leaving, title="f0", frames=3),
        surface_3d_figure(*f0_grid, leaving, title="f0", frames=3),
    ):
        exits = [trace for trace in figure.data if trace.meta and trace.meta.get("role") == "exit"]
        assert [list(trace.text) for trace in exits] == [[f"left at step {step}"]]


# --- teaching figures ---------------------------------------------------------------------------


def tick_labels(figure: Figure) -> list[list[str]]:
    """The visible tick labels of every colour bar, after drawing."""
    drawn(figure)
    bars = [axes for axes in figure.axes if axes.get_label() == "<colorbar>"]
    assert bars, "the figure has no colour bar"
    return [[label.get_text() for label in bar.yaxis.get_ticklabels() if label.get_text()] for bar in bars]


def test_colour_bars_never_print_a_label_twice():
    # Values bunched just above 2.26 with a long tail: log-spaced levels whose lowest ticks all
    # round to "2.26" at three digits.
    axis = np.linspace(-1.0, 1.0, 41)
    mesh_x, mesh_y = np.meshgrid(axis, axis)
    zs = 2.26 + 30.0 * (mesh_x**2 + mesh_y**2) ** 4
    surfaces_by_name = {"bunched": (axis, axis, zs), "mse": (axis, axis, 1.0 + mesh_x**2 + mesh_y**2)}
    figure = regression_surfaces_figure(
        surfaces_by_name, np.array([0.0, 1.0]), np.array([0.0, 1.0]), {"fit": (0.0, 0.0)}, panel_size=2.5
    )
    for labels in tick_labels(figure):
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        assert not repeated, f"colour-bar labels {repeated} are printed more than once in {labels}"
        assert len(labels) >= 3


def test_lr_sweep_marks_paths_that_leave_and_keeps_distinct_colour_bar_labels(f0_grid, leaving):
    figure = lr_sweep_figure(*f0_grid, leaving, title="f0", axis_names=("θ0", "θ1"), panel_size=2.5)
    xs, _, _ = f0_grid
    step = first_step_outside(leaving.points[0, : leaving.n_steps[0] + 1], xs[0], xs[-1])
    assert f"left at step {step}" in [text.get_text() for text in figure.axes[0].texts]
    assert figure.axes[0].get_xlabel() == "θ0" and figure.axes[0].get_ylabel() == "θ1"
    for labels in tick_labels(figure):
        assert len(set(labels)) == len(labels), labels


def test_panels_without_data_say_why():
    axis = np.linspace(-1.0, 1.0, 11)
    nowhere = np.full((11, 11), np.nan)
    figure = regression_surfaces_figure(
        {"broken": (axis, axis, nowhere)}, np.array([0.0, 1.0]), np.array([0.0, 1.0]), {"fit": (0.0, 0.0)}
    )
    assert "the loss is nowhere finite on this grid" in [text.get_text() for text in figure.axes[0].texts]


def test_state_arrow_labels_stay_inside_their_axes():
    surface = surfaces.get("ill_conditioned")
    xs, ys, zs = (array.numpy() for array in surface.grid(31))
    trace = trace_state(surface, "rmsprop:lr=0.05", steps=20, start=(-4.0, 3.0))
    figure = state_arrows_figure(xs, ys, zs, trace, steps_to_show=[0, 3, 8], title="t", size=(9.0, 5.0))
    canvas = drawn(figure)
    axes = figure.axes[0]
    frame = axes.get_window_extent(canvas.get_renderer())
    for text in axes.texts:
        box = text.get_window_extent(canvas.get_renderer())
        inside = (
            frame.x0 - 1 <= box.x0
            and box.x1 <= frame.x1 + 1
            and frame.y0 - 1 <= box.y0
            and box.y1 <= frame.y1 + 1
        )
        assert inside, f"label {text.get_text()!r} at {box} spills out of its axes {frame}"
    assert [line.get_gid() for line in axes.get_lines()].count("end") == 1


def test_a_step_that_crosses_the_whole_window_is_drawn_as_in_the_static_figure() -> None:
    """From (5, 0) to (-5, 0) across [-1, 1]^2: both positions are outside, but the step crosses
    the window, so the animation draws (1, 0) -> (-1, 0) as the static contour does; the ball
    never was inside, so no exit is recorded."""
    from optiscope.viz.path_marks import window_track
    from optiscope.viz.path_window import clip_track

    track = np.array([[5.0, 0.0], [-5.0, 0.0]])
    window = ((-1.0, 1.0), (-1.0, 1.0))
    windowed = window_track(track, window)
    drawn_rows = windowed.rows[np.isfinite(windowed.rows).all(axis=1)]
    np.testing.assert_allclose(drawn_rows, [[1.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_allclose(windowed.times[np.isfinite(windowed.rows).all(axis=1)], [0.4, 0.6])
    assert windowed.exits == ()
    static = clip_track(track, window).line
    np.testing.assert_allclose(static[np.isfinite(static).all(axis=1)], drawn_rows)
