"""Animations of optimizer paths, returned as encoded bytes (GIF, or MP4 with imageio-ffmpeg).

Seed 004's "rolling ball": every run is a ball rolling along its path on the 3-D surface, leaving a
trail, while the legend shows each config's current loss. The same scene is offered on the 2-D
filled contour, and as loss curves growing over time.

Every animation is one matplotlib ``Figure`` (Agg canvas, no pyplot state) drawn once per frame;
the frames are encoded in memory. A run longer than the frame budget is subsampled: frame ``k``
shows step ``frame_steps(...)[k]``, so the animation always ends at the last step any run took.
A run that stopped early (converged or diverged; NaN afterwards) rests at its last position; a run
that leaves the drawn window stops on its border as a diamond marked "left at step k". The frame
counter sits above the axes, inside the layout, with notes on what the drawing hides.

Size guard: frames are 6 x 5 in at 80 dpi (480 x 400 px). When the encoding is larger than
``max_bytes`` it is redone with a third fewer frames and a fifth less dpi, at most four times,
after which :class:`~optiscope.errors.SpecError` is raised.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from PIL import Image

from optiscope.errors import SpecError
from optiscope.paths import PathSet
from optiscope.viz.levels import contour_levels, label_colorbar
from optiscope.viz.palette import line_style_for
from optiscope.viz.path_figures import format_loss
from optiscope.viz.path_marks import (
    START_STYLE,
    WindowedTrack,
    config_handle,
    end_style,
    exit_slots,
    exit_style,
    grid_window,
    marker_handles,
    place_exit_note,
    window_track,
)
from optiscope.viz.path_window import Window
from optiscope.viz.surface3d import auto_zlim, draw_surface, drawn_runs, lift_path, path_zlim

__all__ = [
    "FORMATS",
    "animate_contour",
    "animate_loss",
    "animate_surface_3d",
    "current_loss_labels",
    "frame_steps",
]

FORMATS = ("gif", "mp4")
MAX_BYTES = 10_000_000
_FRAME_SIZE = (6.0, 5.0)
_DPI = 80
_RETRIES = 4
_HOLD_LAST_MS = 1000
_MAX_EXIT_NOTES = 12  # more exits than this are marked without their "left at step k" note


@dataclass
class _Scene:
    """A figure, ``update(step)`` that moves its artists to ``step``, and the artists that move."""

    figure: Figure
    update: Callable[[int], None]
    moving: list[Artist]


_Builder = Callable[[int], _Scene]  # dpi -> scene


def frame_steps(last_step: int, frames: int) -> np.ndarray:
    """Step shown by each frame: ``frames`` evenly spaced steps over ``0..last_step``, deduplicated.

    Fewer than ``frames`` come back when the runs have fewer than ``frames`` positions.
    """
    return np.unique(np.round(np.linspace(0, max(int(last_step), 0), int(frames))).astype(np.int64))


def current_loss_labels(paths: PathSet, step: int) -> list[str]:
    """Legend text per config at ``step``: ``"adam(lr=1): 0.0123"``.

    A run past its last step shows its last loss (tagged ``diverged`` when it diverged). With
    several starts per config the median over the starts that have not diverged is shown.
    """
    texts = []
    for config, label in enumerate(paths.labels):
        runs = np.arange(config * paths.n_starts, (config + 1) * paths.n_starts)
        at = np.minimum(max(int(step), 0), paths.n_steps[runs])
        losses = paths.losses[runs, at]
        diverged = np.array([paths.status[run] == "diverged" for run in runs]) & (at == paths.n_steps[runs])
        if paths.n_starts == 1:
            suffix = " (diverged)" if diverged[0] else ""
            texts.append(f"{label}: {format_loss(float(losses[0]))}{suffix}")
            continue
        median = float(np.median(losses[~diverged])) if (~diverged).any() else float("nan")
        extra = f", {int(diverged.sum())} diverged" if diverged.any() else ""
        texts.append(f"{label}: {format_loss(median)} (median of {paths.n_starts}{extra})")
    return texts


def _live_legend(figure: Figure, paths: PathSet, exited: bool) -> Legend:
    """One entry per config below the axes, in its colour, line style and marker (the ball), then
    the start and exit markers; the configs' texts are rewritten every frame."""
    handles = [
        config_handle(config, text) for config, text in enumerate(current_loss_labels(paths, 0))
    ] + marker_handles(exited)
    return figure.legend(
        handles=handles,
        loc="outside lower center",
        ncol=1 if len(handles) <= 5 else 2,
        fontsize=7,
        frameon=False,
    )


@dataclass
class _Mover:
    """One drawn run: its path cut to the window, and the artists that follow it."""

    run: int
    windowed: WindowedTrack
    trail: Line2D
    ball: Line2D
    exit: Line2D
    note: Text | None  # "left at step k"; None when too many runs would crowd the frame
    slot: int  # how many notes of earlier runs may sit at the same spot

    def artists(self) -> list[Artist]:
        return [self.trail, self.ball, self.exit, *([self.note] if self.note is not None else [])]


def _mover(axes: Axes, run: int, config: int, windowed: WindowedTrack, slot: int | None) -> _Mover:
    """Artists of one run: its start (drawn once), trail, ball (its config's marker), exit ring
    and, unless ``slot`` is None, the note that says when it left."""
    empty = ([], [], []) if axes.name == "3d" else ([], [])
    colour, linestyle, _ = line_style_for(config)
    if windowed.inside[0]:
        axes.plot(*windowed.track[0, :, None], linestyle="none", **START_STYLE, zorder=6, gid="start")
    (trail,) = axes.plot(*empty, color=colour, linestyle=linestyle, linewidth=1.6, zorder=5, gid="trail")
    (ball,) = axes.plot(*empty, linestyle="none", **end_style(config), zorder=7, gid="ball")
    (exit_marker,) = axes.plot(*empty, linestyle="none", **exit_style(config), zorder=7, gid="exit")
    note = None
    if slot is not None:
        position = (0.0, 0.0, 0.0) if axes.name == "3d" else (0.0, 0.0)
        note = axes.text(*position, "", fontsize=6, zorder=8, gid="exit-note")
        note.set_in_layout(False)
    return _Mover(run, windowed, trail, ball, exit_marker, note, slot or 0)


def _place(artist: Line2D, rows: np.ndarray) -> None:
    """Move a 2-D or 3-D line to ``rows`` (shape ``(k, 2 or 3)``)."""
    artist.set_data(rows[:, 0], rows[:, 1])
    if rows.shape[1] == 3:
        artist.set_3d_properties(rows[:, 2])


def _follow(mover: _Mover, step: int, window: Window) -> None:
    """Put ``mover``'s trail and ball at ``step``; a ball that left the window waits on its border
    as a ring, with "left at step k" next to it."""
    point, left_at = mover.windowed.position(step)
    _place(mover.trail, mover.windowed.upto(step))
    nowhere = np.empty((0, mover.windowed.track.shape[1]))
    here = nowhere if point is None else point[None, :]
    _place(mover.ball, here if left_at is None else nowhere)
    _place(mover.exit, here if left_at is not None else nowhere)
    if mover.note is not None:
        mover.note.set_visible(left_at is not None)
        if left_at is not None and point is not None:
            place_exit_note(mover.note, point, left_at, window, mover.slot)


def _scene(
    paths: PathSet,
    title: str,
    max_runs: int,
    background: Callable[[Figure], tuple[Axes, list[str]]],
    track_of: Callable[[int], np.ndarray],
    window: Window,
    dpi: int,
) -> _Scene:
    """One figure: ``background(figure)`` draws what stays and returns the axes and notes on what
    the drawing hides; then per drawn run a start marker, a trail and a ball, a legend with each
    config's current loss, and a step counter above the axes (it also keeps every frame distinct:
    GIF encoders merge identical frames).

    ``track_of(run)`` gives the run's positions ``0..n_steps`` as rows of 2 or 3 coordinates; they
    are cut to ``window`` (first two coordinates), and a run leaving it stops on the border.
    """
    figure = Figure(figsize=_FRAME_SIZE, dpi=dpi, layout="constrained")
    axes, notes = background(figure)
    figure.suptitle(title, fontsize=9)
    runs = drawn_runs(paths, max_runs)
    windowed = [window_track(track_of(run), window) for run, _ in runs]
    slots = exit_slots(windowed, window)
    exits = sum(slot is not None for slot in slots)
    movers = [
        _mover(axes, run, config, track, slot if exits <= _MAX_EXIT_NOTES else None)
        for (run, config), track, slot in zip(runs, windowed, slots, strict=True)
    ]
    legend = _live_legend(figure, paths, exited=exits > 0)
    texts = legend.get_texts()[: len(paths.labels)]
    last_step = int(paths.n_steps.max())
    # A text above the axes, not their title: a hidden title is moved off the figure when the
    # background is drawn for blitting.
    write = axes.text2D if axes.name == "3d" else axes.text
    counter = write(
        0.5, 1.02, "", transform=axes.transAxes, ha="center", va="bottom", fontsize=8, gid="counter"
    )

    def update(step: int) -> None:
        for mover in movers:
            _follow(mover, min(step, int(paths.n_steps[mover.run])), window)
        for text, label in zip(texts, current_loss_labels(paths, step), strict=True):
            text.set_text(label)
        counter.set_text("\n".join([f"step {step} / {last_step}", *notes]))

    moving: list[Artist] = [artist for mover in movers for artist in mover.artists()]
    return _Scene(figure, update, [*moving, *texts, counter])


def _draw_frames(scene: _Scene, steps: np.ndarray) -> Iterator[np.ndarray]:
    """Yield each frame as an RGB array ``(height, width, 3)`` with even sides (video codecs need them).

    The layout is computed once, on the last frame, then frozen so nothing jitters between frames.
    What does not move (surface, axes, ticks, legend handles) is drawn once and restored for every
    frame (blitting); only the moving artists are redrawn, which makes a frame several times
    cheaper. Legend texts stay where the frozen layout put them.
    """
    canvas = FigureCanvasAgg(scene.figure)
    scene.update(int(steps[-1]))
    canvas.draw()
    scene.figure.set_layout_engine("none")
    for artist in scene.moving:
        artist.set_visible(False)
    canvas.draw()
    background = canvas.copy_from_bbox(scene.figure.bbox)
    for artist in scene.moving:
        artist.set_visible(True)
    for step in steps:
        scene.update(int(step))
        canvas.restore_region(background)
        for artist in scene.moving:
            scene.figure.draw_artist(artist)
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        height, width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
        yield np.ascontiguousarray(rgb[:height, :width])


def _encode_gif(frames: Iterable[np.ndarray], fps: int) -> bytes:
    """GIF with one palette (taken from the first frame) so unchanged pixels compress away.

    The last frame is held for a second so the end state can be read before the loop restarts.
    """
    images: list[Image.Image] = []
    for frame in frames:
        image = Image.fromarray(frame)
        if images:
            images.append(image.quantize(palette=images[0], dither=Image.Dither.NONE))
        else:
            images.append(image.quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    frame_ms = round(1000 / fps)
    durations = [frame_ms] * (len(images) - 1) + [max(frame_ms, _HOLD_LAST_MS)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buffer.getvalue()


def _encode_mp4(frames: Iterable[np.ndarray], fps: int) -> bytes:
    """H.264 MP4 through imageio-ffmpeg's bundled ffmpeg, written in a temporary folder then read."""
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise SpecError("mp4 needs imageio-ffmpeg: pip install 'optiscope[video]'") from error
    with tempfile.TemporaryDirectory(prefix="optiscope-") as folder:
        target = Path(folder) / "animation.mp4"
        writer = None
        for frame in frames:
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = imageio_ffmpeg.write_frames(
                    str(target),
                    size,
                    fps=fps,
                    codec="libx264",
                    pix_fmt_out="yuv420p",
                    macro_block_size=2,
                    ffmpeg_log_level="error",
                )
                writer.send(None)
            writer.send(frame)
        writer.close()
        return target.read_bytes()


def _render(build: _Builder, paths: PathSet, frames: int, fps: int, fmt: str, max_bytes: int) -> bytes:
    """Draw and encode; redo smaller (fewer frames, lower dpi) while over ``max_bytes``."""
    if fmt not in FORMATS:
        raise SpecError(f"animation format must be one of {list(FORMATS)}, got {fmt!r}")
    frames = int(np.clip(frames, 2, 600))
    fps = int(np.clip(fps, 1, 60))
    encode = _encode_gif if fmt == "gif" else _encode_mp4
    dpi = _DPI
    for _ in range(_RETRIES + 1):
        data = encode(_draw_frames(build(dpi), frame_steps(int(paths.n_steps.max()), frames)), fps)
        if len(data) <= max_bytes:
            return data
        frames, dpi = max(2, frames * 2 // 3), max(20, dpi * 4 // 5)
    raise SpecError(f"the {fmt} animation stays above {max_bytes} bytes even at {frames} frames, {dpi} dpi")


def animate_surface_3d(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    *,
    title: str,
    view: tuple[float, float] = (30.0, -60.0),
    zlim: tuple[float, float] | None = None,
    frames: int = 60,
    fps: int = 15,
    fmt: str = "gif",
    max_runs_per_config: int = 20,
    max_bytes: int = MAX_BYTES,
    axis_names: tuple[str, str] = ("x", "y"),
) -> bytes:
    """The rolling ball: each run's ball rolls along its path on the 3-D surface, leaving a trail.

    Args:
        xs, ys: grid axes, shapes ``(nx,)`` and ``(ny,)``.
        zs: surface values, shape ``(ny, nx)`` (``Surface.grid`` order).
        paths: the runs; each config keeps its colour, line style and marker.
        title: figure title (name the surface and its formula).
        view: ``(elevation, azimuth)`` in degrees (``Surface.view``).
        zlim: z-limits (``Surface.zlim``); ``None`` picks them with :func:`auto_zlim`. Losses and
            the surface are clipped to them.
        frames: number of frames, clamped to ``[2, 600]``; long runs are subsampled.
        fps: frames per second, clamped to ``[1, 60]``.
        fmt: ``"gif"`` (pillow) or ``"mp4"`` (H.264, needs ``optiscope[video]``).
        max_runs_per_config: at most this many starts are drawn per config.
        max_bytes: size limit of the encoding (see the module docstring).
        axis_names: names of the two coordinates (``Surface.axis_names`` where it has them).

    Returns:
        The encoded animation.

    Raises:
        SpecError: unknown ``fmt``, mp4 without imageio-ffmpeg, or no encoding under ``max_bytes``.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    window = grid_window(xs, ys)
    runs = [run for run, _ in drawn_runs(paths, max_runs_per_config)]
    limits = path_zlim(paths, runs, window, zlim if zlim is not None else auto_zlim(zs))

    def background(figure: Figure) -> tuple[Axes, list[str]]:
        axes = figure.add_subplot(projection="3d")
        notes = draw_surface(axes, xs, ys, zs, limits, view, axis_names)
        axes.tick_params(labelsize=6)
        return axes, notes

    def track_of(run: int) -> np.ndarray:
        return lift_path(paths, run, limits)

    build = partial(_scene, paths, title, max_runs_per_config, background, track_of, window)
    return _render(build, paths, frames, fps, fmt, max_bytes)


def animate_contour(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    *,
    title: str,
    frames: int = 60,
    fps: int = 15,
    fmt: str = "gif",
    max_runs_per_config: int = 20,
    max_bytes: int = MAX_BYTES,
    axis_names: tuple[str, str] = ("x", "y"),
) -> bytes:
    """The rolling ball seen from above, on the filled contour. Arguments as :func:`animate_surface_3d`.

    Grid points where the loss is not finite stay blank (white), as in the static contour.
    """
    xs, ys, zs = (np.asarray(values, dtype=float) for values in (xs, ys, zs))
    window = grid_window(xs, ys)

    def background(figure: Figure) -> tuple[Axes, list[str]]:
        axes = figure.add_subplot()
        filled = axes.contourf(xs, ys, np.ma.masked_invalid(zs), levels=contour_levels(zs), cmap="viridis")
        label_colorbar(figure.colorbar(filled, ax=axes, label="loss"))
        axes.set(xlim=window[0], ylim=window[1], xlabel=axis_names[0], ylabel=axis_names[1])
        blank = int((~np.isfinite(zs)).sum())
        return axes, [f"blank: {blank} grid points where the loss is not finite"] if blank else []

    def track_of(run: int) -> np.ndarray:
        return paths.points[run, : int(paths.n_steps[run]) + 1]

    build = partial(_scene, paths, title, max_runs_per_config, background, track_of, window)
    return _render(build, paths, frames, fps, fmt, max_bytes)


def _loss_limits(paths: PathSet, log: bool) -> tuple[tuple[float, float], bool]:
    """y-limits of the loss animation and whether to use a log scale (only if every loss is > 0).

    The top is the 99th percentile of the recorded losses (at least the highest start), so one
    diverging run does not squash every other curve against the bottom.
    """
    finite = paths.losses[np.isfinite(paths.losses)]
    if finite.size == 0:
        return (0.0, 1.0), False
    starts = paths.losses[:, 0][np.isfinite(paths.losses[:, 0])]
    low = float(finite.min())
    high = max(float(np.percentile(finite, 99)), float(starts.max()) if starts.size else low)
    if log and low > 0:
        return (low / 1.5, high * 1.5), True
    margin = 0.05 * (high - low) or 0.5
    return (low - margin, high + margin), False


def animate_loss(
    paths: PathSet,
    *,
    title: str,
    frames: int = 60,
    fps: int = 15,
    fmt: str = "gif",
    log: bool = True,
    max_runs_per_config: int = 20,
    max_bytes: int = MAX_BYTES,
) -> bytes:
    """Loss-against-step curves growing over time, the legend giving each config's current loss.

    ``log`` asks for a log scale, used only when every recorded loss is positive. Other arguments as
    :func:`animate_surface_3d`.
    """
    (low, high), use_log = _loss_limits(paths, log)
    losses = np.where(np.isfinite(paths.losses), paths.losses, np.nan)

    window = ((0.0, float(max(int(paths.n_steps.max()), 1))), (low, high))

    def background(figure: Figure) -> tuple[Axes, list[str]]:
        axes = figure.add_subplot()
        axes.set_yscale("log" if use_log else "linear")
        axes.set(xlim=window[0], ylim=window[1], xlabel="step", ylabel="loss")
        axes.grid(alpha=0.3)
        return axes, []

    def track_of(run: int) -> np.ndarray:
        last = int(paths.n_steps[run])
        return np.column_stack([np.arange(last + 1), losses[run, : last + 1]])

    build = partial(_scene, paths, title, max_runs_per_config, background, track_of, window)
    return _render(build, paths, frames, fps, fmt, max_bytes)
