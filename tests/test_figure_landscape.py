"""Landscape, curvature, comparison and training figures tell the truth, checked on their drawn
properties: colour-bar labels that never repeat, per-panel scales when one scale would flatten a
panel, blank (not flattened) 3-D cells, log axes floored under far outliers, titles inside the
figure, the centre snapshot left out of the captured share, whole-number epoch ticks, and a
diverged run marked where it stopped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure

from optiscope.landscape.directions_base import Directions
from optiscope.landscape.grid import LandscapeGrid
from optiscope.landscape.projection import project_path
from optiscope.viz.compare_figures import eigen_ratio_figure, training_comparison_figure
from optiscope.viz.curvature_figures import ratio_figure
from optiscope.viz.landscape_figures import (
    landscape_contour,
    landscape_heatmap,
    landscape_panels,
    landscape_surface3d,
    path_fidelity_figure,
)
from optiscope.viz.levels import distinct_ticks, log_floor
from optiscope.viz.sweep_figures import sweep_heatmap
from optiscope.viz.training_figures import training_curves

ALPHAS, BETAS = np.linspace(-1.0, 1.0, 11), np.linspace(-0.5, 0.5, 7)
LONG_TITLE = (
    "lenet on digits, adahessian:lr=0.15,hessian_power=1,weight_decay=0.0005, batch 64: "
    "lambda1 / lambda2 over the last 100 tracked steps of training"
)


def plane(loss: np.ndarray) -> LandscapeGrid:
    return LandscapeGrid(ALPHAS, BETAS, loss, np.full_like(loss, 0.5), {"directions_kind": "filter"})


def tilted(low: float = 2.3095, rise: float = 0.004) -> np.ndarray:
    """A plane rising by ``rise`` across the grid from ``low``: the flat 2.31 landscape of fig. 4."""
    mesh_a, mesh_b = np.meshgrid(ALPHAS, BETAS, indexing="ij")
    return low + rise * ((mesh_a + 1.0) / 2.0 * 0.8 + (mesh_b + 0.5) * 0.2)


def drawn(figure: Figure) -> Figure:
    """``figure`` after a draw (tick labels and extents are final), at a low dpi to keep it quick."""
    figure.set_dpi(40)
    FigureCanvasAgg(figure).draw()
    return figure


def colour_bar_labels(figure: Figure) -> list[list[str]]:
    bars = [axes for axes in figure.axes if axes.get_label() == "<colorbar>"]
    return [[text.get_text() for text in bar.get_yticklabels() if text.get_text()] for bar in bars]


def filled_levels(axes) -> np.ndarray:
    (filled,) = [item for item in axes.collections if isinstance(item, QuadContourSet) and item.filled]
    return filled.levels


def by_gid(figure: Figure, gid: str) -> list:
    return figure.findobj(lambda artist: artist.get_gid() == gid)


def test_distinct_ticks_use_enough_digits():
    ticks = np.linspace(2.3095, 2.3135, 9)  # 5e-4 apart: 3 digits would print "2.31" nine times
    kept, labels = distinct_ticks(ticks)
    np.testing.assert_array_equal(kept, ticks)
    assert len(set(labels)) == len(labels) == 9, labels
    assert labels[0] == "2.3095" and labels[-1] == "2.3135", labels


@pytest.mark.parametrize("draw", [landscape_contour, landscape_heatmap])
def test_colour_bar_labels_never_repeat(draw):
    figure = drawn(draw(plane(tilted())))
    (labels,) = colour_bar_labels(figure)
    assert len(labels) >= 4, f"too few labelled ticks: {labels}"
    assert len(set(labels)) == len(labels), f"repeated colour-bar labels: {labels}"


def test_panels_get_own_scales_when_spans_differ_by_over_1e3():
    readable = tilted()  # spans 0.004
    diverged = tilted(rise=1.0)
    diverged[-3:, -3:] = 1e14  # one run's grid reaches 1e14: a shared scale would span 2.3 to 1e14
    figure = drawn(landscape_panels([plane(readable), plane(diverged)], ["lr 2e-3", "lr 2"]))
    panels = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]
    labels = colour_bar_labels(figure)
    assert len(labels) == 2, f"expected one colour bar per panel, got {len(labels)}"
    for axes, loss in zip(panels, (readable, diverged), strict=True):
        levels = filled_levels(axes)
        data = f"{loss.min():.6g}..{loss.max():.6g}"
        assert levels[0] == pytest.approx(loss.min()) and levels[-1] == pytest.approx(loss.max()), (
            f"{axes.get_title()}: levels {levels[0]:.6g}..{levels[-1]:.6g} vs data {data}"
        )
    for bar in labels:
        assert len(set(bar)) == len(bar), f"repeated colour-bar labels: {bar}"
    assert "own colour scale" in figure.get_suptitle(), figure.get_suptitle()
    alike = landscape_panels([plane(readable), plane(tilted(rise=0.008))], ["a", "b"])
    assert len(colour_bar_labels(drawn(alike))) == 1, "spans within 100x of each other share one colour bar"


def test_empty_and_diverged_panels_say_what_happened():
    nothing = np.full((ALPHAS.size, BETAS.size), np.nan)
    grids = [plane(tilted()), plane(nothing)]
    for kind in ("contour", "surface"):
        figure = drawn(
            landscape_panels(
                grids, ["lr 2e-3", "lr 2"], kind=kind, panel_notes=[None, "run diverged at step 12"]
            )
        )
        (note,) = by_gid(figure, "panel-note")
        assert "all grid points non-finite" in note.get_text()
        assert "run diverged at step 12" in note.axes.get_title(), note.axes.get_title()


def test_3d_leaves_non_finite_and_capped_cells_blank():
    loss = tilted(rise=1.0)
    loss[4, 3] = np.nan  # an interior hole: the 4 cells around it go
    loss[-2:, :] = 1e14  # a diverged edge: capped, its cells left blank
    figure = drawn(landscape_surface3d(plane(loss)))
    (surface,) = by_gid(figure, "surface")
    corners = np.stack([loss[:-1, :-1], loss[1:, :-1], loss[1:, 1:], loss[:-1, 1:]])
    kept = (np.isfinite(corners) & (corners < 1e3)).all(axis=0)
    facets = len(surface.get_facecolor())
    assert facets == int(kept.sum()), (
        f"{facets} facets drawn; {int(kept.sum())} cells have 4 finite corners < 1e3"
    )
    top = figure.axes[0].get_zlim()[1]
    assert top < 3.5, f"z axis runs to {top:.3g}: the 1e14 edge flattens the surface"
    assert "capped at" in figure.axes[0].get_title()
    steep, gentle = tilted(rise=1.0), tilted(rise=0.05)  # one shared z-range; no outlier within a panel
    panels = landscape_panels([plane(steep), plane(gentle)], ["steep", "gentle"], kind="surface")
    tops = [axes.get_zlim()[1] for axes in panels.axes]
    assert tops == pytest.approx([steep.max()] * 2), f"shared z tops {tops}, steep max {steep.max():.4g}"
    assert not any("capped" in axes.get_title() for axes in panels.axes)


def test_log_floor_cuts_only_values_far_under_the_bulk():
    bulk = np.geomspace(1e-3, 10.0, 99)
    assert log_floor(np.concatenate([[1e-28], bulk])) == pytest.approx(1e-4), (
        "a decade under the bulk's bottom"
    )
    many = np.concatenate([np.full(20, 1e-28), bulk])  # a run sitting at 1e-28 for 20 of 119 points
    assert log_floor(many) == pytest.approx(1e-4)
    smooth = np.geomspace(1e-16, 1.0, 50)  # exponential convergence: no empty span, the tail is kept
    assert log_floor(smooth) == pytest.approx(1e-16)
    diverging = np.array([5.5, 5.5, 4.3e7, 4.5e7])  # two epochs of a diverging run: half is no outlier
    assert log_floor(diverging) == pytest.approx(5.5)


def test_far_outlier_floors_log_axes_and_says_so():
    true = np.concatenate([np.geomspace(10.0, 1e-3, 9), [1e-28]])  # Lion reaching Rosenbrock's minimum
    path = path_on_a_plane()
    figure = drawn(path_fidelity_figure(path, true_path_loss=true, surface_path_loss=true * 1.01))
    loss = figure.axes[1]
    floor = log_floor(true)
    assert loss.get_yscale() == "log" and loss.get_ylim()[0] >= floor * (1 - 1e-9), loss.get_ylim()
    (note,) = by_gid(figure, "log-floor-note")
    assert "floored" in note.get_text() and "2 of 20" in note.get_text(), note.get_text()  # true and slice
    metrics = {"Lion": epoch_frame(3, loss=[1.0, 1e-2, 1e-28]), "Adam": epoch_frame(3)}
    loss = drawn(training_comparison_figure(metrics, title="t", x="epoch")).axes[0]
    everything = np.concatenate([frame["train_loss"].to_numpy() for frame in metrics.values()])
    assert loss.get_ylim()[0] >= log_floor(everything) * (1 - 1e-9), loss.get_ylim()


def test_eigen_ratio_titles_fit_inside_the_figure():
    frame = pd.DataFrame({"step": [28, 29, 30], "lambda1": [6.0, 5.0, 7.0], "lambda2": [1.0, 1.1, 0.9]})
    frame["ratio"] = frame["lambda1"] / frame["lambda2"]
    single = drawn(ratio_figure(frame, title=LONG_TITLE))
    compared = drawn(eigen_ratio_figure({"sgd": frame, "adam": frame}, title=LONG_TITLE * 2))
    for figure, title in ((single, single.axes[0].title), (compared, compared._suptitle)):
        box, page = title.get_window_extent(), figure.bbox
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, f"title {box} outside {page}"
    for axes in single.axes + compared.axes:
        assert_integer_ticks(axes)


def path_on_a_plane() -> object:
    """A real projection: 10 snapshots closing in on the centre, the last one the centre itself."""
    generator = torch.Generator().manual_seed(0)
    first, second = torch.eye(6, dtype=torch.float64)[:2]
    directions = Directions.from_flat([first, second], [("w", (6,))])
    centre = torch.randn(6, generator=generator, dtype=torch.float64)
    shrink = torch.linspace(1.0, 0.0, 10, dtype=torch.float64)[:, None]
    wander = torch.randn(10, 6, generator=generator, dtype=torch.float64)
    return project_path(centre + shrink * wander, centre, directions, steps=np.arange(10) * 3)


def test_fidelity_leaves_the_centre_snapshot_out_and_marks_it():
    path = path_on_a_plane()
    assert path.captured[-1] == 1.0 and path.residual_norms[-1] == 0.0, "the last snapshot is the centre"
    figure = drawn(path_fidelity_figure(path))
    (captured,) = by_gid(figure, "captured")
    np.testing.assert_array_equal(
        captured.get_xdata(), path.steps[:-1], err_msg="steps drawn vs all but the centre"
    )
    np.testing.assert_allclose(captured.get_ydata(), path.captured[:-1])
    (marker,) = by_gid(figure, "centre-snapshot")
    assert np.all(np.asarray(marker.get_xdata()) == path.steps[-1])
    assert "centre" in figure.axes[0].get_title()


def epoch_frame(epochs: int, loss: list[float] | None = None) -> pd.DataFrame:
    epoch = np.arange(1, epochs + 1)
    columns = {"epoch": epoch, "steps": epoch * 7, "train_loss": loss or list(np.geomspace(2.3, 0.5, epochs))}
    columns |= {
        "test_loss": columns["train_loss"],
        "train_accuracy": 0.5,
        "test_accuracy": 0.5,
        "grad_norm": 0.2,
    }
    columns |= {f"test_accuracy_class_{k}": 0.5 for k in range(3)}
    return pd.DataFrame(columns)


def assert_integer_ticks(axes) -> None:
    low, high = axes.get_xlim()
    ticks = [tick for tick in axes.get_xticks() if low <= tick <= high]
    assert ticks and all(float(tick).is_integer() for tick in ticks), f"{axes.get_title()}: x ticks {ticks}"


@pytest.mark.parametrize("epochs", [1, 2, 5])
def test_epoch_axes_have_whole_number_ticks(epochs):
    figure = drawn(training_curves(epoch_frame(epochs), title="mlp on digits"))
    for axes in figure.axes[:3]:
        assert_integer_ticks(axes)


def test_diverged_run_is_marked_where_it_stopped():
    frame = epoch_frame(3, loss=[2.3, 40.0, 7e5])
    reason = "the training loss 7e+05 exceeds 1000 x the first step's 2.3 at step 21"
    figure = training_curves(frame, title="sgd lr=2", diverged=reason)
    (note,) = by_gid(figure, "diverged")
    assert note.get_text().startswith("diverged at epoch 3"), note.get_text()
    assert note.xy == (3.0, 7e5), f"the note points at {note.xy}, not the last epoch's loss"
    metrics = {"lr 2e-3": epoch_frame(3), "lr 2": frame}
    compared = training_comparison_figure(metrics, title="t", diverged={"lr 2": "diverged at step 21"})
    (note,) = by_gid(compared, "diverged")
    assert note.get_text() == "lr 2: diverged at step 21" and note.xy == (21.0, 7e5), (
        note.get_text(),
        note.xy,
    )


def test_contour_plane_honours_given_limits():
    figure = landscape_contour(plane(tilted()), limits=((-0.5, 0.25), None))
    axes = figure.axes[0]
    assert axes.get_xlim() == (-0.5, 0.25) and axes.get_ylim() == (BETAS[0], BETAS[-1])


def test_sweep_cells_of_diverged_runs_say_so():
    results = pd.DataFrame(
        {
            "lr": [2.0, 2.0, 0.1, 0.1],
            "batch_size": [1, 64, 1, 64],
            "status": ["diverged", "complete", "complete", "complete"],
            "test_accuracy": [0.1, 0.2, 0.9, 0.8],
        }
    )
    figure = sweep_heatmap(results, ["lr", "batch_size"])
    cells = sorted(text.get_text() for text in figure.axes[0].texts)
    assert cells == ["0.10\ndiverged", "0.20", "0.80", "0.90"], cells
