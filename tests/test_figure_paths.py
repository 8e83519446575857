"""The static path figures tell the truth: properties of the drawn figures, not "it ran".

Nothing leaves the frame silently (every path's end lies in the axes or is marked where it left),
the log loss figure is a log plot of ``loss - min`` with a floor, colours and colour-bar labels
stay apart, and the axes carry the surface's parameter names.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from optiscope.experiments import paths_render
from optiscope.experiments.paths_study import PathsConfig, run_paths_study
from optiscope.paths import PathSet
from optiscope.surfaces import get as get_surface
from optiscope.viz.loss_figures import loss_axis, loss_curves
from optiscope.viz.palette import PALETTE, line_style_for
from optiscope.viz.path_figures import contour_panels, contour_with_paths, legend_label, needs_panels
from optiscope.viz.path_window import clip_track, fit_window

DOMAIN = ((-1.0, 1.0), (-1.0, 1.0))
STEPS = 6


def synthetic_paths(
    tracks: list[np.ndarray],
    status: list[str],
    outcome_steps: list[int],
    losses: list[np.ndarray] | None = None,
) -> PathSet:
    """One start per config; each track ``(steps + 1, 2)``, NaN after the run stopped."""
    points = np.stack(tracks)
    last = np.zeros(len(tracks), dtype=np.int64)
    for row, track in enumerate(tracks):
        known = np.flatnonzero(~np.all(np.isnan(track), axis=1))
        last[row] = int(known[-1]) if known.size else 0
    if losses is None:
        losses = [np.sum(track**2, axis=1) for track in tracks]
    labels = [f"opt{k}" for k in range(len(tracks))]
    return PathSet(
        surface="bowl",
        specs=labels,
        labels=labels,
        optimizers=labels,
        starts=points[:1, 0].copy(),
        points=points,
        losses=np.stack(losses),
        grad_norms=np.ones(points.shape[:2]),
        n_steps=last,
        status=status,
        rules=["budget"] * len(tracks),
        outcome_steps=np.array(outcome_steps),
    )


def line(start: tuple[float, float], end: tuple[float, float], steps: int = STEPS) -> np.ndarray:
    return np.linspace(start, end, steps + 1)


def bowl_grid(window: tuple[tuple[float, float], tuple[float, float]]) -> tuple[np.ndarray, ...]:
    xs = np.linspace(*window[0], 40)
    ys = np.linspace(*window[1], 30)
    return xs, ys, xs[None, :] ** 2 + ys[:, None] ** 2


def artists(axes, prefix: str) -> dict[int, object]:
    """The lines of ``axes`` whose gid is ``prefix:<run>``, by run."""
    found = {}
    for artist in axes.lines:
        gid = artist.get_gid() or ""
        if gid.startswith(prefix + ":"):
            found[int(gid.split(":")[1])] = artist
    return found


def notes(axes) -> list[str]:
    return [text.get_text() for text in axes.texts]


@pytest.fixture
def runaway() -> PathSet:
    """Config 0 settles inside; 1 leaves the domain a little; 2 runs off to 1e6 at step 3;
    3 diverges at step 4 (NaN from there)."""
    escape = line((0.5, 0.5), (0.5, 0.5))
    escape[3:] = [[1e6, -1e6]] * (STEPS - 2)
    blowup = line((-0.5, 0.5), (-0.2, 0.2))
    blowup[4:] = np.nan
    tracks = [line((0.8, 0.8), (0.0, 0.0)), line((0.8, -0.8), (1.3, -0.9)), escape, blowup]
    return synthetic_paths(tracks, ["converged", "left_domain", "left_domain", "diverged"], [STEPS, 4, 3, 4])


# -- nothing leaves the frame silently -------------------------------------------------------------


def test_every_path_end_is_inside_the_axes_or_marked_where_it_left(runaway: PathSet) -> None:
    window = fit_window(DOMAIN, runaway.points)
    figure = contour_with_paths(*bowl_grid(window), runaway, title="bowl", domain=DOMAIN)
    axes = figure.axes[0]
    (x_low, x_high), (y_low, y_high) = axes.get_xlim(), axes.get_ylim()
    ends, exits, starts = artists(axes, "end"), artists(axes, "exit"), artists(axes, "start")
    assert set(starts) == {0, 1, 2, 3}, f"start markers drawn for runs {sorted(starts)}"
    for run in range(runaway.n_runs):
        assert (run in ends) != (run in exits), f"run {run}: end marker {run in ends}, exit {run in exits}"
        marker = ends.get(run) or exits[run]
        x, y = (float(v[0]) for v in marker.get_data())
        assert x_low <= x <= x_high and y_low <= y <= y_high, (
            f"run {run}'s marker at ({x}, {y}) is off the axes"
        )
    # Run 1 left the domain by 0.3: the window grew to hold it, so it ends inside.
    assert 1 in ends and x_high >= 1.3
    # Run 2 ran off to 1e6: the window grew at most 4x the domain; run 2 is cut at the border.
    assert x_high - x_low <= 4 * 2 + 1e-9 and y_high - y_low <= 4 * 2 + 1e-9
    x, y = (float(v[0]) for v in exits[2].get_data())
    assert x == pytest.approx(x_high) or y == pytest.approx(y_low), (
        f"exit of run 2 at ({x}, {y}), not on the border"
    )
    assert "left at step 3" in notes(axes), notes(axes)
    # Run 3 diverged: its end marker sits at its last finite point (step 3), with a note.
    assert np.allclose([float(v[0]) for v in ends[3].get_data()], runaway.points[3, 3])
    assert "diverged at step 4" in notes(axes)


def test_the_legend_says_where_a_run_went_not_a_final_loss(runaway: PathSet) -> None:
    assert legend_label(runaway, 1) == "opt1: left the domain at step 4"
    assert legend_label(runaway, 3) == "opt3: diverged at step 4"
    assert legend_label(runaway, 0).startswith("opt0: converged at step 6, loss 0")


def test_given_limits_fix_the_window_and_a_path_beyond_them_gets_an_exit_marker(runaway: PathSet) -> None:
    window = fit_window(DOMAIN, runaway.points, x_limits=(-0.6, 0.6), y_limits=(-0.9, 0.9))
    assert window == ((-0.6, 0.6), (-0.9, 0.9))
    figure = contour_with_paths(*bowl_grid(window), runaway, title="bowl", window=window, domain=DOMAIN)
    axes = figure.axes[0]
    assert axes.get_xlim() == (-0.6, 0.6)
    exits = artists(axes, "exit")
    # Run 1 goes from (0.8, -0.8), outside x <= 0.6 from its start; run 0 starts outside and ends inside.
    assert set(exits) == {1, 2}, sorted(exits)
    assert 0 in artists(axes, "end")


def test_a_clipped_track_is_cut_exactly_at_the_border() -> None:
    track = np.array([[0.0, 0.0], [0.5, 0.0], [3.0, 2.5], [5.0, 5.0]])
    clipped = clip_track(track, DOMAIN)
    # The segment (0.5, 0) -> (3, 2.5) has slope 1 and crosses y = 1 at x = 1.5 > 1, so x = 1 first.
    np.testing.assert_allclose(clipped.exit_point, [1.0, 0.5])
    assert clipped.exit_step == 2 and clipped.end is None
    np.testing.assert_allclose(clipped.line, [[0.0, 0.0], [0.5, 0.0], [1.0, 0.5]])
    huge = clip_track(np.array([[0.0, 0.0], [1e300, 1e300]]), DOMAIN)
    np.testing.assert_allclose(huge.exit_point, [1.0, 1.0])


# -- log plots that are log plots ------------------------------------------------------------------


def loss_axes(paths: PathSet, **minimum: float | None) -> object:
    figure = loss_curves(paths, title="loss", **minimum)
    figure.canvas.draw()
    return figure.axes[0]


def test_the_log_loss_figure_draws_the_gap_to_the_minimum_on_a_log_axis() -> None:
    # Noisy losses that dip below 0 (seed 004's grid noise): a log axis of the raw loss is empty.
    steps = np.arange(STEPS + 1)
    losses = [1.6 * 0.3**steps - 0.009, 1.6 * 0.5**steps - 0.004]
    tracks = [line((0.9, 0.9), (0.0, 0.0))] * 2
    paths = synthetic_paths(tracks, ["max_steps"] * 2, [STEPS] * 2, losses)
    axes = loss_axes(paths, minimum_value=None, grid_minimum=-0.0093)
    label = axes.get_ylabel()
    assert "log" in label and axes.get_yscale() == "log", (label, axes.get_yscale())
    assert "min = -0.0093 (best on the grid)" in label, label
    drawn = np.concatenate([artist.get_ydata() for artist in axes.lines if artist.get_gid() is None])
    np.testing.assert_allclose(drawn, np.concatenate(losses) + 0.0093, rtol=1e-12)


def test_one_tiny_loss_does_not_squash_the_log_axis() -> None:
    steps = np.arange(STEPS + 1)
    losses = [0.5**steps, 0.7**steps]
    losses[1][-1] = 1e-28  # one run lands exactly on the minimum
    paths = synthetic_paths([line((0.9, 0.9), (0.0, 0.0))] * 2, ["max_steps"] * 2, [STEPS] * 2, losses)
    axes = loss_axes(paths, minimum_value=0.0)
    bulk = 0.5**STEPS  # the smallest of the other values
    assert axes.get_yscale() == "log"
    assert axes.get_ylim()[0] >= bulk / 1e5, f"axis bottom {axes.get_ylim()[0]:.2g} vs bulk {bulk:.2g}"
    drawn = np.concatenate([artist.get_ydata() for artist in axes.lines if artist.get_gid() is None])
    assert drawn.min() >= axes.get_ylim()[0], "a value is drawn under the axis"
    assert any("1 of 14 values lie below" in text for text in notes(axes)), notes(axes)


def test_losses_under_a_known_minimum_switch_to_symlog_and_say_so() -> None:
    axis = loss_axis(np.array([1.0, 0.1, -0.5]), minimum_value=0.0)
    assert axis.scale == "symlog" and "symlog" in axis.label and axis.below == 1


def test_a_loss_figure_of_runs_without_finite_losses_says_what_happened() -> None:
    nothing = np.full((STEPS + 1, 2), np.nan)
    single = np.full((STEPS + 1, 2), np.nan)
    single[0] = [0.5, 0.5]
    paths = synthetic_paths([nothing, single], ["diverged", "diverged"], [0, 1])
    axes = loss_axes(paths, minimum_value=0.0)
    text = " ".join(notes(axes))
    assert "opt0: no finite loss (diverged at step 0)" in text, text
    # The run with one finite point is drawn as a marker, not left out.
    (drawn,) = [artist for artist in axes.lines if artist.get_gid() is None]
    assert drawn.get_marker() not in (None, "None", "") and len(drawn.get_ydata()) == 1

    only_nan = synthetic_paths([nothing], ["diverged"], [0])
    axes = loss_axes(only_nan, minimum_value=0.0)
    assert any(text.startswith("nothing to plot: opt0: no finite loss") for text in notes(axes)), notes(axes)


# -- colours, overlap, colour bars -----------------------------------------------------------------


def srgb_to_lab(colour: str) -> np.ndarray:
    """CIELAB (D65) of a ``#RRGGBB`` colour, from the sRGB and CIE 1976 definitions."""
    channels = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = to_xyz @ linear / np.array([0.95047, 1.0, 1.08883])
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_twelve_configs_differ_in_colour_marker_and_neighbours_in_line_style() -> None:
    assert len(PALETTE) >= 12
    labs = {colour: srgb_to_lab(colour) for colour in PALETTE[:12]}
    # The old palette's closest pair (#CC79A7 / #CC6677, pink and rose) was 21 apart and
    # indistinguishable on screen; demand half again as much.
    closest = min(
        (float(np.linalg.norm(labs[a] - labs[b])), a, b) for a, b in itertools.combinations(PALETTE[:12], 2)
    )
    assert closest[0] > 30, f"colours {closest[1]} and {closest[2]} are only {closest[0]:.1f} apart (CIE76)"
    styles = [line_style_for(k) for k in range(12)]
    assert len({colour for colour, _, _ in styles}) == 12 and len({marker for *_, marker in styles}) == 12
    assert all(styles[k][1] != styles[k + 1][1] for k in range(11))
    assert "o" not in {marker for *_, marker in styles}, "a circle would read as a start marker"


def test_overlapping_paths_get_one_panel_per_config() -> None:
    same = line((0.9, 0.9), (0.0, 0.0))
    nearby = same.copy()
    nearby[1:-1] += 0.001
    overlapping = synthetic_paths([same, nearby], ["max_steps"] * 2, [STEPS] * 2)
    apart = synthetic_paths([same, same * [1, -1]], ["max_steps"] * 2, [STEPS] * 2)
    assert needs_panels(overlapping, DOMAIN) and not needs_panels(apart, DOMAIN)
    figure = contour_panels(*bowl_grid(DOMAIN), overlapping, title="bowl", window=DOMAIN)
    titles = [axes.get_title() for axes in figure.axes if axes.get_visible() and axes.get_title()]
    assert titles == [f"opt{k}\nfinal loss 0 after {STEPS} steps" for k in range(2)], titles


def test_colour_bar_tick_labels_never_repeat() -> None:
    # Levels spaced logarithmically above a minimum of 5 crowd near 5: 3 digits print "5" for many.
    xs = np.linspace(-2, 2, 60)
    zs = 5 + (xs[None, :] ** 2 + xs[:, None] ** 2) ** 4 * 1e3
    paths = synthetic_paths([line((1.0, 1.0), (0.0, 0.0))], ["max_steps"], [STEPS])
    figure = contour_with_paths(xs, xs, zs, paths, title="steep")
    figure.canvas.draw()
    (colour_bar,) = [axes for axes in figure.axes if axes.get_label() == "<colorbar>"]
    labels = [tick.get_text() for tick in colour_bar.get_yticklabels() if tick.get_text()]
    assert len(labels) >= 4 and len(set(labels)) == len(labels), labels


# -- names, and the figures a paths study writes -------------------------------------------------------


def test_surfaces_name_their_parameters() -> None:
    assert get_surface("pathological").axis_names == ("w1", "w2")
    assert get_surface("regression_mse").axis_names == ("theta0", "theta1")
    assert get_surface("rosenbrock").axis_names == ("x", "y")


@pytest.mark.slow
def test_a_paths_study_draws_named_axes_panels_and_the_given_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: dict[str, Figure] = {}

    def keep(name: str, draw):
        def wrapper(*args, **kwargs) -> Figure:
            drawn[name] = draw(*args, **kwargs)
            return drawn[name]

        return wrapper

    monkeypatch.setattr(paths_render, "contour_with_paths", keep("contour", paths_render.contour_with_paths))
    monkeypatch.setattr(paths_render, "contour_panels", keep("panels", paths_render.contour_panels))
    config = PathsConfig.build(
        surface="pathological",
        optimizers=["sgd:lr=10", "momentum:lr=10,momentum=0.9", "adam:lr=1"],
        starts=[[7.0, 7.0]],
        steps=20,
    )
    style = {"x_limits": (-3.0, 3.0), "dpi": 30, "grid_resolution": 30}
    result = run_paths_study(config, tmp_path / "run", style=style)
    figures = {path.name for path in (result.run_dir.path / "figures").iterdir()}
    assert {"contour.png", "contour_panels.png", "loss.png", "loss_linear.png"} <= figures, figures
    axes = drawn["contour"].axes[0]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("w1", "w2")
    assert axes.get_xlim() == (-3.0, 3.0)
    assert set(artists(axes, "end")) | set(artists(axes, "exit")) == {0, 1, 2}
    panel_titles = [panel.get_title() for panel in drawn["panels"].axes if panel.get_title()]
    assert [title.split("\n")[0] for title in panel_titles] == result.paths.labels


@pytest.mark.slow
def test_every_figure_of_a_study_names_the_surfaces_parameters(tmp_path: Path) -> None:
    """The interactive contour and 3-D figures name their axes theta0 / theta1 on seed 003's
    regression surface, as the static contour does (not x / y); the render passes the names to
    every figure (the 3-D PNG and the animations too)."""
    from optiscope.experiments.registry import redraw

    config = PathsConfig.build(surface="regression_mse", optimizers=("sgd:lr=0.1",), steps=6)
    run_paths_study(config, tmp_path / "r")
    redraw(tmp_path / "r", {"three_d": True, "interactive": True})
    for name in ("contour", "surface3d"):
        text = (tmp_path / "r" / "figures" / f"{name}.plotly.js").read_text()
        assert '"text":"theta0"' in text and '"text":"theta1"' in text, name
        assert '"text":"x"' not in text, name
