"""3-D figure and animations: sizes, frame counts, subsampling, legend values, MP4, diverged runs."""

from __future__ import annotations

import importlib.util
import io
import itertools
import sys

import numpy as np
import pytest
from PIL import Image, ImageSequence

from optiscope import paths as engine
from optiscope import surfaces
from optiscope.errors import SpecError
from optiscope.paths import PathSet
from optiscope.viz.animation import (
    MAX_BYTES,
    animate_contour,
    animate_loss,
    animate_surface_3d,
    current_loss_labels,
    frame_steps,
)
from optiscope.viz.surface3d import auto_zlim, surface_3d_with_paths

HAS_FFMPEG = importlib.util.find_spec("imageio_ffmpeg") is not None


@pytest.fixture(scope="module")
def surface_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, zs = surfaces.get("f0").grid(40)
    return xs.numpy(), ys.numpy(), zs.numpy()


@pytest.fixture(scope="module")
def two_runs() -> PathSet:
    return engine.run(surfaces.get("f0"), ["sgd:lr=10", "adam:lr=1"], steps=40)


@pytest.fixture(scope="module")
def with_diverged() -> PathSet:
    """sgd with lr=300 on f0 multiplies x by -5 each step: it leaves the domain and stops early."""
    paths = engine.run(surfaces.get("f0"), ["sgd:lr=300", "adam:lr=1"], steps=30)
    assert paths.status[0] == "diverged" and paths.n_steps[0] < 30
    assert np.isnan(paths.points[0, -1]).all()
    return paths


def _gif_frames(data: bytes) -> list[np.ndarray]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "GIF"
    return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def test_static_3d_figure_has_expected_size_and_content(surface_grid, two_runs) -> None:
    figure = surface_3d_with_paths(*surface_grid, two_runs, title="f0", view=(50.0, -70.0))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=40)
    pixels = np.asarray(Image.open(buffer).convert("L"), dtype=float)
    assert pixels.shape == (300, 360), f"9 x 7.5 in at 40 dpi should be 360 x 300 px, got {pixels.shape}"
    assert pixels.std() > 20, f"figure looks blank: pixel std {pixels.std():.1f}"
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend[1].startswith("adam(lr=1): final loss")


def test_auto_zlim_ignores_a_far_tail() -> None:
    values = np.concatenate([np.linspace(0.0, 1.0, 990), np.full(10, 1e9), [np.nan]])
    low, high = auto_zlim(values)
    assert low == 0.0 and 0.9 < high < 1.1, f"zlim {(low, high)} should follow the bulk, not the 1e9 tail"


def test_gif_has_the_requested_frames_and_stays_small(surface_grid, two_runs) -> None:
    data = animate_contour(*surface_grid, two_runs, title="f0", frames=12, fps=10)
    frames = _gif_frames(data)
    assert len(frames) == 12
    assert len(data) < MAX_BYTES
    assert frames[0].shape == (400, 480, 3)
    moved = [np.abs(a.astype(int) - b).sum() for a, b in itertools.pairwise(frames)]
    assert min(moved) > 0, "every frame should differ from the one before"


def test_rolling_ball_3d_gif(surface_grid, two_runs) -> None:
    data = animate_surface_3d(
        *surface_grid, two_runs, title="f0", view=(50.0, -70.0), zlim=(0.0, 1.5), frames=8
    )
    frames = _gif_frames(data)
    assert len(frames) == 8
    assert frames[-1].std() > 20


def test_long_run_is_subsampled_to_the_frame_budget() -> None:
    long_run = engine.run(surfaces.get("f0"), ["sgd:lr=1"], steps=1000, tol=0.0)
    assert long_run.n_steps[0] == 1000
    steps = frame_steps(int(long_run.n_steps.max()), 30)
    assert len(steps) == 30 and steps[0] == 0 and steps[-1] == 1000 and np.all(np.diff(steps) > 0)
    assert len(_gif_frames(animate_loss(long_run, title="f0", frames=30))) == 30


def test_frame_steps_never_repeat_a_step() -> None:
    np.testing.assert_array_equal(frame_steps(5, 60), np.arange(6))


def test_frames_and_fps_are_clamped(two_runs) -> None:
    data = animate_loss(two_runs, title="f0", frames=1, fps=1000)
    image = Image.open(io.BytesIO(data))
    assert image.n_frames == 2
    assert image.info["duration"] <= 20, f"60 fps is ~17 ms a frame, got {image.info['duration']} ms"


def test_legend_holds_the_current_and_final_loss(two_runs) -> None:
    for step in (0, 7, int(two_runs.n_steps.max())):
        for config, text in enumerate(current_loss_labels(two_runs, step)):
            label, value = text.split(": ")
            assert label == two_runs.labels[config]
            expected = two_runs.losses[config, step]
            assert float(value) == pytest.approx(expected, rel=5e-3), f"step {step}: {text} vs {expected}"


def test_legend_of_a_stopped_run_keeps_its_last_loss(with_diverged) -> None:
    last = int(with_diverged.n_steps[0])
    sgd_text = current_loss_labels(with_diverged, 30)[0]
    assert sgd_text.endswith(" (diverged)")
    value = float(sgd_text.split(": ")[1].removesuffix(" (diverged)"))
    assert value == pytest.approx(with_diverged.losses[0, last], rel=5e-3)
    assert "diverged" not in current_loss_labels(with_diverged, last - 1)[0]


def test_several_starts_show_the_median() -> None:
    paths = engine.run(
        surfaces.get("f0"), ["adam:lr=1"], starts=[[9.0, 9.0], [-5.0, 2.0], [3.0, -8.0]], steps=5
    )
    text = current_loss_labels(paths, 5)[0]
    assert text.endswith("(median of 3)")
    assert float(text.split(": ")[1].split(" ")[0]) == pytest.approx(np.median(paths.losses[:, 5]), rel=5e-3)


def test_diverged_run_does_not_break_any_animation(surface_grid, with_diverged) -> None:
    animations = {
        "3d": animate_surface_3d(*surface_grid, with_diverged, title="f0", frames=6),
        "contour": animate_contour(*surface_grid, with_diverged, title="f0", frames=6),
        "loss": animate_loss(with_diverged, title="f0", frames=6),
    }
    for name, data in animations.items():
        assert len(_gif_frames(data)) == 6, name
    figure = surface_3d_with_paths(*surface_grid, with_diverged, title="f0")
    figure.savefig(io.BytesIO(), format="png", dpi=30)


def test_oversized_gif_is_redone_smaller(two_runs) -> None:
    full = animate_loss(two_runs, title="f0", frames=10)
    limit = len(full) // 2
    smaller = animate_loss(two_runs, title="f0", frames=10, max_bytes=limit)
    assert len(smaller) <= limit < len(full)
    with pytest.raises(SpecError, match="stays above 100 bytes"):
        animate_loss(two_runs, title="f0", frames=3, max_bytes=100)


def test_unknown_format_is_a_spec_error(two_runs) -> None:
    with pytest.raises(SpecError, match="format"):
        animate_loss(two_runs, title="f0", fmt="avi")


@pytest.mark.skipif(not HAS_FFMPEG, reason="imageio-ffmpeg is not installed (pip install 'optiscope[video]')")
def test_mp4_is_an_iso_media_file_and_leaves_no_files(two_runs, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    data = animate_loss(two_runs, title="f0", frames=8, fmt="mp4")
    assert data[4:8] == b"ftyp", f"an MP4 starts with an ftyp box, got {data[:12]!r}"
    assert len(data) < MAX_BYTES
    assert list(tmp_path.iterdir()) == []


def test_mp4_without_imageio_ffmpeg_says_what_to_install(two_runs, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(SpecError, match=r"optiscope\[video\]"):
        animate_loss(two_runs, title="f0", frames=3, fmt="mp4")
