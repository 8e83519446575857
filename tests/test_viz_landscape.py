"""Landscape figures show the grid they were given, the path where it is, and say how much of it
the plane holds: contour levels, path lines, captured-share notes, the descent arrow, twin axes,
shared panel levels, plotly surfaces, NaN grids, and non-blank PNGs."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field

import numpy as np
import pytest
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.text import Annotation, Text

from optiscope.errors import SpecError
from optiscope.viz.landscape_figures import (
    OFF_PLANE_THRESHOLD,
    capture_note,
    landscape_contour,
    landscape_curve,
    landscape_heatmap,
    landscape_panels,
    landscape_surface3d,
    path_fidelity_figure,
)
from optiscope.viz.landscape_interactive import landscape_contour_plotly, landscape_surface_plotly

DPI = 30


@dataclass(frozen=True)
class Grid:
    """Stand-in for ``LandscapeGrid``: arrays indexed ``[alpha, beta]``."""

    alphas: np.ndarray
    betas: np.ndarray | None
    loss: np.ndarray
    accuracy: np.ndarray
    attrs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Path:
    """Stand-in for ``PathProjection``."""

    coords: np.ndarray
    steps: np.ndarray | None
    captured: np.ndarray
    total_captured: float


@dataclass(frozen=True)
class Gradient:
    """Stand-in for ``PlaneGradient``."""

    coords: np.ndarray
    captured: float
    norm: float


def make_grid(scale: float = 1.0, decades: bool = False) -> Grid:
    """A tilted bowl on a non-square 13 x 9 grid (alpha is the long axis), accuracy falling with loss."""
    alphas, betas = np.linspace(-1.0, 1.0, 13), np.linspace(-0.5, 0.5, 9)
    mesh_a, mesh_b = np.meshgrid(alphas, betas, indexing="ij")
    loss = scale * (0.5 + (mesh_a - 0.3) ** 2 + 4.0 * mesh_b**2)
    if decades:
        loss = 1e-3 + 1e3 * ((mesh_a - 0.3) ** 2 + 4.0 * mesh_b**2) ** 2
    attrs = {"directions_kind": "filter", "data": "train", "samples": 64}
    return Grid(alphas, betas, loss, 1.0 / (1.0 + loss), attrs)


def make_path(total: float, k: int = 7) -> Path:
    t = np.linspace(0.0, 1.0, k)
    coords = np.column_stack([0.8 * (1.0 - t), 0.4 * (1.0 - t) ** 2])
    return Path(coords, np.arange(k) * 5, np.linspace(0.5, 0.05, k), total)


def render(figure: Figure) -> np.ndarray:
    """PNG pixels; fails when the image is blank."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    pixels = imread(buffer)
    spread = float(pixels[..., :3].std())
    assert spread > 0.05, f"figure looks blank: pixel std {spread:.3f} <= 0.05"
    return pixels


def texts(figure: Figure) -> list[str]:
    return [text.get_text() for text in figure.findobj(Text)]


def by_gid(figure: Figure, gid: str) -> list:
    return [artist for artist in figure.findobj(lambda artist: artist.get_gid() == gid)]


def contour_sets(axes) -> list[QuadContourSet]:
    return [item for item in axes.collections if isinstance(item, QuadContourSet) and item.filled]


@pytest.fixture(scope="module")
def grid() -> Grid:
    return make_grid()


def test_contour_levels_span_the_loss_and_the_path_is_drawn_where_it_is(grid):
    path = make_path(0.021)
    figure = landscape_contour(grid, path, title="mlp on digits")
    filled = contour_sets(figure.axes[0])[0]
    assert filled.levels[0] == pytest.approx(grid.loss.min()), "lowest level is not the loss minimum"
    assert filled.levels[-1] == pytest.approx(grid.loss.max()), "top level is not the loss maximum"
    (line,) = by_gid(figure, "path")
    np.testing.assert_allclose(np.column_stack(line.get_data()), path.coords, err_msg="path line vs coords")
    assert "mlp on digits" in figure.axes[0].get_title() and "filter directions" in figure.axes[0].get_title()
    render(figure)


@pytest.mark.parametrize(("total", "shown", "warned"), [(0.021, "2.1%", True), (0.87, "87.0%", False)])
def test_captured_share_is_stated_and_warned_about_below_the_threshold(grid, total, shown, warned):
    figure = landscape_contour(grid, make_path(total))
    (note,) = by_gid(figure, "capture-note")
    assert f"plane captures {shown} of the path's motion" in note.get_text(), note.get_text()
    assert bool(by_gid(figure, "off-plane-warning")) is warned, f"warning at {total} (threshold 10%)"
    assert (capture_note(make_path(total))[1] is not None) is (total < OFF_PLANE_THRESHOLD)


def test_path_outside_the_grid_is_counted():
    path = make_path(0.5)
    path = Path(path.coords * np.array([1.0, 3.0]), path.steps, path.captured, 0.5)  # betas span +-0.5
    (note,) = by_gid(landscape_contour(make_grid(), path), "capture-note")
    outside = int((np.abs(path.coords[:, 1]) > 0.5).sum())
    assert f"{outside} of 7 snapshots lie outside the grid" in note.get_text(), note.get_text()


@pytest.mark.parametrize(
    "gradient",
    [Gradient(np.array([2.0, -1.0]), 0.034, 12.5), (np.array([2.0, -1.0]), 0.034), np.array([2.0, -1.0])],
)
def test_gradient_arrow_points_downhill_along_minus_g(grid, gradient):
    figure = landscape_contour(grid, gradient=gradient)
    (arrow,) = by_gid(figure, "gradient")
    assert isinstance(arrow, Annotation)
    assert arrow.xyann == (0.0, 0.0), "arrow does not start at the centre"
    direction = np.asarray(arrow.xy) / np.linalg.norm(arrow.xy)
    expected = -np.array([2.0, -1.0]) / np.sqrt(5.0)
    np.testing.assert_allclose(direction, expected, atol=1e-12, err_msg="arrow direction vs -g/|g|")
    assert np.linalg.norm(arrow.xy) > 0.1 * 1.0, "arrow too short to see (plane's short side is 1.0)"
    label = next(text for text in texts(figure) if "descent -g" in text)
    size = "||g|| = 12.5" if isinstance(gradient, Gradient) else "|g on plane| = 2.24"
    assert size in label, label
    assert ("plane holds 3.4% of ||g||^2" in label) is not isinstance(gradient, np.ndarray), label


def test_log_levels_when_the_loss_spans_decades():
    grid = make_grid(decades=True)
    figure = landscape_contour(grid)
    levels = contour_sets(figure.axes[0])[0].levels
    assert "loss (levels log-spaced above the minimum)" in [axes.get_ylabel() for axes in figure.axes]
    gaps = np.diff(levels)
    assert gaps[-1] / gaps[1] > 100.0, f"levels look linear: gaps {gaps[1]:.3g} .. {gaps[-1]:.3g}"
    linear = contour_sets(landscape_contour(grid, log_levels=False).axes[0])[0].levels
    np.testing.assert_allclose(np.diff(linear), np.diff(linear)[0], err_msg="forced linear levels")


def diverged_grid() -> Grid:
    """The bowl with three NaN points and one inf point (4 of 117 non-finite)."""
    grid = make_grid()
    loss = grid.loss.copy()
    loss[0, :3], loss[-1, -1] = np.nan, np.inf
    return Grid(grid.alphas, grid.betas, loss, grid.accuracy)


def test_nan_grid_renders_masked_and_says_so():
    grid = diverged_grid()
    contour, heatmap = landscape_contour(grid, make_path(0.5)), landscape_heatmap(grid)
    for figure in (contour, heatmap):
        title = figure.axes[0].get_title()
        assert "4 of 117 grid points non-finite (diverged), left blank" in title, title
    filled = contour_sets(contour.axes[0])[0]
    assert filled.levels[-1] == pytest.approx(np.max(grid.loss[np.isfinite(grid.loss)]))
    mask = np.ma.getmaskarray(heatmap.axes[0].collections[0].get_array()).reshape(9, 13)
    np.testing.assert_array_equal(mask, ~np.isfinite(grid.loss.T), err_msg="masked cells vs non-finite")
    render(contour)


def test_nan_grid_in_3d_and_plotly():
    grid = diverged_grid()
    figure = landscape_surface3d(grid, make_path(0.5))
    assert "4 of 117 grid points non-finite" in figure.axes[0].get_title()
    render(figure)
    surface = landscape_surface_plotly(grid)
    z = np.asarray(surface.data[0].z, dtype=float)
    assert np.isnan(z[-1, -1]) and np.isnan(z[:3, 0]).all(), "non-finite points should be plotly gaps"
    stored = json.loads(surface.to_json())["data"][0]["z"]
    assert stored["dtype"] == "f8", stored["dtype"]
    decoded = np.frombuffer(base64.b64decode(stored["bdata"]), dtype="f8").reshape(z.shape)
    np.testing.assert_array_equal(decoded, z, err_msg="plotly JSON round trip of a NaN surface")


def test_one_dimensional_grid_is_refused_by_plane_figures(grid):
    line = Grid(grid.alphas, None, grid.loss[:, 4], grid.accuracy[:, 4])
    for draw in (landscape_contour, landscape_surface3d, landscape_heatmap, landscape_surface_plotly):
        with pytest.raises(SpecError, match="2-D landscape grid"):
            draw(line)
    with pytest.raises(SpecError, match="1-D line"):
        landscape_curve(grid)


def test_heatmap_holds_the_metric(grid):
    figure = landscape_heatmap(grid, "accuracy", path=make_path(0.3))
    mesh = figure.axes[0].collections[0]
    np.testing.assert_allclose(mesh.get_array().reshape(9, 13), grid.accuracy.T, err_msg="heat map vs acc.T")
    no_accuracy = Grid(grid.alphas, grid.betas, grid.loss, np.full_like(grid.loss, np.nan))
    with pytest.raises(SpecError, match="no finite accuracy"):
        landscape_heatmap(no_accuracy, "accuracy")
    render(figure)


def test_curve_has_accuracy_on_a_twin_axis_and_the_quadratic_dashed(grid):
    line = Grid(grid.alphas, None, grid.loss[:, 4], grid.accuracy[:, 4])
    quadratic = 0.5 + 0.9 * (grid.alphas - 0.3) ** 2
    figure = landscape_curve(line, title="top eigenvector", quadratic=quadratic)
    main, twin = figure.axes
    assert twin.get_shared_x_axes().joined(main, twin), "accuracy axis is not a twin of the loss axis"
    (accuracy,) = by_gid(figure, "accuracy")
    assert accuracy.axes is twin
    np.testing.assert_allclose(accuracy.get_ydata(), line.accuracy, err_msg="twin axis vs accuracy")
    (model,) = by_gid(figure, "quadratic")
    assert model.get_linestyle() == "--"
    np.testing.assert_allclose(model.get_ydata(), quadratic)
    render(figure)
    no_accuracy = Grid(line.alphas, None, line.loss, np.full_like(line.loss, np.nan))
    assert len(landscape_curve(no_accuracy).axes) == 1, "all-NaN accuracy should not get a twin axis"


def test_fidelity_figure_shows_captured_share_and_both_losses():
    path = make_path(0.2)
    true, sliced = np.linspace(2.0, 0.5, 7), np.linspace(2.0, 0.5, 7) + np.array([0, 0, 0.3, 0, 0, 0, 0])
    figure = path_fidelity_figure(path, true_path_loss=true, surface_path_loss=sliced)
    (captured,) = by_gid(figure, "captured")
    np.testing.assert_allclose(captured.get_xydata(), np.column_stack([path.steps, path.captured]))
    assert figure.axes[0].get_ylim() == (0.0, 1.02)
    np.testing.assert_allclose(by_gid(figure, "true-loss")[0].get_ydata(), true)
    np.testing.assert_allclose(by_gid(figure, "surface-loss")[0].get_ydata(), sliced)
    assert "largest gap |true - slice| = 0.3 at step 10" in figure.axes[1].get_title()
    render(figure)
    assert len(path_fidelity_figure(path).axes) == 1
    on_a_line = Path(path.coords[:, :1], None, path.captured, 0.2)  # a 1-D study's path, no steps
    (captured,) = by_gid(path_fidelity_figure(on_a_line, true), "captured")
    np.testing.assert_array_equal(captured.get_xdata(), np.arange(7))


@pytest.mark.parametrize("kind", ["contour", "heatmap"])
def test_panels_one_per_grid_with_shared_levels_and_own_notes(kind):
    grids = [make_grid(scale) for scale in (1.0, 2.0, 4.0, 8.0)]
    paths = [make_path(0.03), None, make_path(0.6), None]
    figure = landscape_panels(
        grids, ["batch 1", "batch 64", "batch 256", "whole set"], paths, kind=kind, panel_size=2.5
    )
    panels = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]
    assert [axes.get_title() for axes in panels] == ["batch 1", "batch 64", "batch 256", "whole set"]
    assert len(figure.axes) - len(panels) == 1, "shared levels should give one colour bar"
    if kind == "contour":
        levels = [contour_sets(axes)[0].levels for axes in panels]
        for other in levels[1:]:
            np.testing.assert_array_equal(other, levels[0], err_msg="panels do not share levels")
        assert levels[0][0] == pytest.approx(grids[0].loss.min()) and levels[0][-1] == pytest.approx(
            grids[-1].loss.max()
        )
    notes = [note.get_text() for note in by_gid(figure, "capture-note")]
    assert notes == ["plane captures 3.0% of the path's motion", "plane captures 60.0% of the path's motion"]
    assert len(by_gid(figure, "off-plane-warning")) == 1
    render(figure)


def test_panels_unshared_levels_and_3d_kind():
    grids = [make_grid(1.0), make_grid(10.0)]
    figure = landscape_panels(grids, ["sgd", "adam"], shared_levels=False)
    first, second = (contour_sets(axes)[0].levels for axes in figure.axes if axes.get_label() != "<colorbar>")
    assert first[-1] == pytest.approx(grids[0].loss.max()) and second[-1] == pytest.approx(
        grids[1].loss.max()
    )
    surfaces = landscape_panels(grids, ["sgd", "adam"], [make_path(0.5), None], kind="surface")
    assert [axes.name for axes in surfaces.axes] == ["3d", "3d"]
    with pytest.raises(SpecError, match="one label"):
        landscape_panels(grids, ["sgd"])


def test_surface3d_lifts_the_path_onto_the_surface(grid):
    path = make_path(0.5)
    figure = landscape_surface3d(grid, path)
    (line,) = by_gid(figure, "path")
    x, y, z = line.get_data_3d()
    np.testing.assert_allclose(np.column_stack([x, y]), path.coords)
    bowl = 0.5 + (path.coords[:, 0] - 0.3) ** 2 + 4.0 * path.coords[:, 1] ** 2
    assert np.all(np.abs(z - bowl) < 0.1), f"path heights off the surface by {np.abs(z - bowl).max():.3g}"
    render(figure)


def test_plotly_surface_holds_loss_transposed_and_the_path(grid):
    path = make_path(0.05)
    figure = landscape_surface_plotly(grid, path, title="adam")
    surface = figure.data[0]
    np.testing.assert_array_equal(np.asarray(surface.z), grid.loss.T, err_msg="plotly z vs loss.T")
    np.testing.assert_array_equal(surface.x, grid.alphas)
    assert "alpha" in surface.hovertemplate and "beta" in surface.hovertemplate
    (line,) = [trace for trace in figure.data if trace.meta and trace.meta.get("role") == "path"]
    np.testing.assert_allclose(np.column_stack([line.x, line.y]), path.coords)
    np.testing.assert_allclose(np.asarray(line.customdata)[:, 0], path.steps)
    assert "step" in line.hovertemplate
    notes = [note.text for note in figure.layout.annotations]
    assert "plane captures 5.0% of the path's motion" in notes, notes
    assert any("mostly off-plane" in note for note in notes)
    figure.to_json()


def test_plotly_contour_with_path_and_gradient(grid):
    figure = landscape_contour_plotly(grid, make_path(0.5), gradient=np.array([0.0, 3.0]))
    np.testing.assert_array_equal(np.asarray(figure.data[0].z), grid.loss.T)
    (arrow,) = [note for note in figure.layout.annotations if note.name == "gradient"]
    assert (arrow.ax, arrow.ay) == (0.0, 0.0) and arrow.x == pytest.approx(0.0) and arrow.y < 0, arrow
    assert not any("mostly off-plane" in (note.text or "") for note in figure.layout.annotations)
    assert len([trace for trace in figure.data if trace.meta and trace.meta.get("role") == "path"]) == 1
    figure.to_json()
