"""Interactive (plotly) figures: paths drawn as recorded, animation, hover, offline HTML, basins."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

import optiscope
from optiscope.errors import SpecError
from optiscope.paths import DIVERGED, basin_maps, start_grid
from optiscope.viz.interactive import (
    basin_figure,
    contour_figure,
    plotly_js,
    surface_3d_figure,
    to_div,
    to_html,
)
from optiscope.viz.interactive_frames import drawn_tracks, track_steps

SPECS = ["sgd:lr=0.01", "adam:lr=0.1", "sgd:lr=0.5"]  # the last one diverges from both starts
FRAMES = 12


@pytest.fixture(scope="module")
def surface():
    return optiscope.surfaces.get("himmelblau")


@pytest.fixture(scope="module")
def paths(surface):
    result = optiscope.paths.run(surface, SPECS, starts=[[0, 0], [1, 1]], steps=50)
    assert result.status[4:] == ["diverged", "diverged"], result.status
    return result


@pytest.fixture(scope="module")
def grid(surface):
    xs, ys, zs = surface.grid(60)
    return xs.numpy(), ys.numpy(), zs.numpy()


@pytest.fixture(scope="module", params=["3d", "contour"])
def figure(request, grid, paths, surface):
    title = f"himmelblau: {surface.formula}"
    if request.param == "3d":
        return surface_3d_figure(*grid, paths, title=title, frames=FRAMES)
    return contour_figure(*grid, paths, title=title, minima=surface.minima, frames=FRAMES)


def _role(figure, role: str) -> list:
    return [trace for trace in figure.data if trace.meta and trace.meta.get("role") == role]


def test_one_path_trace_per_run_with_the_recorded_points(figure, paths):
    lines = _role(figure, "path")
    assert [line.meta["run"] for line in lines] == list(range(paths.n_runs))
    for line in lines:
        run = line.meta["run"]
        recorded = paths.points[run, : paths.n_steps[run] + 1]
        np.testing.assert_allclose(np.asarray(line.x, float), recorded[:, 0], err_msg=f"x of run {run}")
        np.testing.assert_allclose(np.asarray(line.y, float), recorded[:, 1], err_msg=f"y of run {run}")
        np.testing.assert_array_equal(np.asarray(line.customdata)[:, 0], np.arange(paths.n_steps[run] + 1))


def test_legend_names_and_hover_carry_the_settings(figure, paths):
    assert "himmelblau" in figure.layout.title.text
    path_traces = [trace for trace in figure.data if trace.meta and "config" in trace.meta]
    exits = _role(figure, "exit")
    assert len(path_traces) == paths.n_runs + 2 * len(SPECS) + len(exits)
    for trace in path_traces:
        config = trace.meta["config"]
        assert paths.labels[config] in trace.name, trace.name
        for word in ("step", "loss", SPECS[config]):
            assert word in trace.hovertemplate, f"{word!r} missing from {trace.hovertemplate!r}"
    assert sum(bool(trace.showlegend) for trace in _role(figure, "path")) == len(SPECS)


def test_frames_and_slider_steps_match_the_request(figure, paths):
    assert len(figure.frames) == FRAMES
    slider = figure.layout.sliders[0]
    assert len(slider.steps) == FRAMES
    assert [step.args[0][0] for step in slider.steps] == [frame.name for frame in figure.frames]
    assert figure.frames[0].name == "0"
    assert figure.frames[-1].name == str(int(paths.n_steps.max()))
    assert [button.label for button in figure.layout.updatemenus[0].buttons] == ["play", "pause"]


def test_each_frame_puts_the_balls_at_that_step(figure, paths):
    animated = [figure.data[index].meta["role"] for index in figure.frames[0].traces]
    assert animated == ["trail", "ball"] * len(SPECS)
    frame = figure.frames[FRAMES // 2]
    step = int(frame.name)
    for config in range(len(SPECS)):
        balls = frame.data[2 * config + 1]
        runs = range(config * paths.n_starts, (config + 1) * paths.n_starts)
        expected = np.array([paths.points[run, min(step, paths.n_steps[run])] for run in runs])
        np.testing.assert_allclose(
            np.column_stack([balls.x, balls.y]), expected, rtol=1e-6, err_msg=f"config {config}"
        )
        trail = np.asarray(frame.data[2 * config].customdata, float)[:, 0]
        assert np.nanmax(trail) <= step, f"trail of config {config} runs past step {step}"


def test_frames_are_capped_by_the_steps_taken(grid, paths):
    figure = contour_figure(*grid, paths, title="t", frames=500)
    assert len(figure.frames) == int(paths.n_steps.max()) + 1
    with pytest.raises(SpecError):
        contour_figure(*grid, paths, title="t", frames=0)


def test_long_paths_are_subsampled_keeping_both_ends(paths):
    steps = track_steps(1999, 500)
    assert len(steps) <= 500 and steps[0] == 0 and steps[-1] == 1999
    assert np.all(np.diff(steps) > 0)
    for track in drawn_tracks(paths, max_runs_per_config=1, max_points=10):
        assert track.run % paths.n_starts == 0 and len(track.steps) <= 10
        np.testing.assert_allclose(track.points, paths.points[track.run, track.steps])


def test_surface_heights_are_clipped_to_zlim(grid, paths):
    figure = surface_3d_figure(*grid, paths, title="t", zlim=(0.0, 100.0), frames=3)
    assert float(np.max(figure.data[0].z)) == 100.0
    for line in _role(figure, "path"):
        assert float(np.nanmax(line.z)) <= 101.0 + 1e-9, f"run {line.meta['run']} leaves the z range"


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.bodies: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "script" and dict(attrs).get("src"):
            self.sources.append(dict(attrs)["src"])

    def handle_data(self, data: str) -> None:
        if self.lasttag == "script":
            self.bodies.append(data)


def _decode(value) -> np.ndarray:
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)


def test_html_is_offline_and_holds_the_figure(grid, paths):
    figure = contour_figure(*grid, paths, title="himmelblau", frames=4)
    page = to_html(figure)
    assert '<script src="http' not in page
    assert get_plotlyjs()[:2000] in page
    scripts = _Scripts()
    scripts.feed(page)
    assert scripts.sources == []
    call = next(body for body in scripts.bodies if "Plotly.newPlot(" in body)
    start = call.index("[", call.index("Plotly.newPlot("))
    data, _ = json.JSONDecoder().raw_decode(call[start:])
    lines = [trace for trace in data if trace.get("meta", {}).get("role") == "path"]
    assert len(lines) == paths.n_runs
    run = lines[1]["meta"]["run"]
    np.testing.assert_allclose(_decode(lines[1]["x"]), paths.points[run, : paths.n_steps[run] + 1, 0])
    assert "Plotly.addFrames" in call


def test_div_and_library_are_separate(grid, paths):
    figure = contour_figure(*grid, paths, title="t", frames=2)
    div = to_div(figure)
    assert div.startswith("<div") and "Plotly.newPlot(" in div
    assert get_plotlyjs()[:2000] not in div
    library = plotly_js()
    assert library.startswith("<script") and get_plotlyjs()[:2000] in library
    with pytest.raises(TypeError):
        to_html(figure, include_plotlyjs="cdn")


def test_basin_heatmaps_show_the_labels(surface):
    xs, ys, starts = start_grid(surface, 5)
    runs = optiscope.paths.run(surface, ["sgd:lr=0.01", "sgd:lr=0.5"], starts=starts, steps=30)
    maps = basin_maps(runs, surface, xs, ys)
    assert (maps[1].basin == DIVERGED).any()
    figure = basin_figure(maps, title=f"himmelblau: {surface.formula}")
    assert len(figure.data) == len(maps)
    for heatmap, basin_map in zip(figure.data, maps, strict=True):
        np.testing.assert_array_equal(np.asarray(heatmap.z), basin_map.basin)
        np.testing.assert_array_equal(np.asarray(heatmap.customdata), basin_map.steps)
        assert basin_map.label in heatmap.name and basin_map.label in heatmap.hovertemplate
        text = np.asarray(heatmap.text)
        assert np.all((text == "diverged") == (basin_map.basin == DIVERGED))
        reached = basin_map.basin >= 0
        assert all(cell.startswith("minimum ") for cell in text[reached])
    assert len(figure.layout.coloraxis.colorbar.ticktext) == len(surface.minima) + 2
    assert "<script" in to_html(figure)
