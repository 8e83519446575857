"""The HTML report: escaped, linked (never embedded), one plotly.js per run tree, clean in Chromium.

Run trees are built with the store API directly (no CLI, no study), so each test states what
the directory holds and checks what the page makes of it.
"""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from matplotlib.figure import Figure
from PIL import Image

from optiscope.errors import StoreError
from optiscope.store import RunDir, load_run
from optiscope.viz.plotly_files import plotly_asset_name, read_plotly, save_plotly
from optiscope.viz.report import render_report, write_report

MAX_REPORT_BYTES = 2 * 1024 * 1024
XSS = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """Collects ids, every src/href, the images (and whether inside a link) and inline scripts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.scripts: list[str] = []
        self._open_links: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        self.urls.extend(str(value) for name, value in attrs if name in ("src", "href") and value)
        if tag == "a" and attributes.get("href"):
            self.links.append(str(attributes["href"]))
            self._open_links.append(str(attributes["href"]))
        if tag == "img":
            self.images.append({**attributes, "link": self._open_links[-1] if self._open_links else None})
        if tag == "script" and attributes.get("src"):
            self.scripts.append(str(attributes["src"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open_links:
            self._open_links.pop()


def _png(run: RunDir, name: str, *, noise: int = 0) -> None:
    """A line plot, or (``noise`` > 0) a ``noise`` x ``noise`` random image that compresses badly."""
    if noise:
        pixels = np.random.default_rng(0).integers(0, 256, (noise, noise, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        run.write_bytes(f"figures/{name}", buffer.getvalue())
        return
    figure = Figure(figsize=(3, 2))
    figure.subplots().plot([0, 1], [1, 0])
    run.save_figure(figure, name)


def _gif(run: RunDir, name: str) -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue", "green")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    run.write_bytes(f"figures/{name}", buffer.getvalue())


def _plotly(frames: bool = False) -> go.Figure:
    figure = go.Figure(go.Scatter(x=[0, 1, 2], y=[2, 0, 1], name="a </script> trace"))
    if frames:
        figure.frames = [go.Frame(data=[go.Scatter(x=[0, 1, 2], y=[k, 1, 0])]) for k in range(3)]
    return figure


def _runs_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": range(n),
            "optimizer": ["sgd", "adam"] * (n // 2),
            "spec": ["sgd:lr=0.01", "adam:lr=0.1"] * (n // 2),
            "start_x": np.linspace(-1, 1, n),
            "start_y": 0.5,
            "status": ["converged", "diverged"] * (n // 2),
            "steps": 40,
            "final_loss": np.r_[np.nan, np.full(n - 1, 0.123456789)],
            "steps_to_tolerance": np.r_[12.0, np.full(n - 1, np.nan)],
        }
    )


def _write_reports(runs: list[RunDir]) -> None:
    """Leaves first, then parents, then the leaves again (as a finished parent re-renders them)."""
    for run in [*runs, *runs[::-1]]:
        write_report(run)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``exp/`` (an experiment) with a paths step, a sweep with ``cells/``, and a stale folder."""
    root = tmp_path_factory.mktemp("tree") / "exp"
    exp = RunDir.open(root, kind="experiment", spec={"name": XSS})
    paths = RunDir.open(root / "01-paths", kind="paths", spec={"surface": "himmelblau", "note": XSS})
    paths.write_table("runs", _runs_frame(40))
    for index in range(3):  # about 1 MB each: embedded, the report would pass 2 MB
        _png(paths, f"noise{index}.png", noise=600)
    _png(paths, "contour.png")
    _gif(paths, "contour.gif")
    save_plotly(paths, _plotly(frames=True), "contour")
    paths.write_text("figures/basins.plotly.json", _plotly().to_json())  # a legacy figure
    paths.write_text("about.md", f"# About\n\nThe **paths** study. {XSS}\n")
    paths.complete(prune=False, final_loss=0.123456789, runs=40)

    sweep = RunDir.open(root / "02-sweep", kind="sweep", spec={"grid": {"lr": [0.1, 1.0]}})
    cells = []
    for index, lr in enumerate((0.1, 1.0)):
        cell = RunDir.open(root / "02-sweep" / "cells" / f"00{index}-lr={lr}", kind="train", spec={"lr": lr})
        metrics = pd.DataFrame(
            {"epoch": [1, 2], "test_loss": [0.5, 0.25], "test_accuracy_class_0": [0.1, 0.2]}
        )
        cell.write_table("metrics", metrics)
        _png(cell, "loss.png")
        if index == 0:
            save_plotly(cell, _plotly(), "curve")
        cell.complete(prune=False, status="complete", steps=20, final_loss=lr / 3)
        cells.append(cell)
    sweep.write_table("results", pd.DataFrame({"cell": ["000", "001"], "final_loss": [0.0333333, 0.333333]}))
    sweep.complete(prune=False, cells=2)

    stale = RunDir.open(root / "03-stale", kind="paths", spec={"old": True})
    _png(stale, "contour.png")
    stale.complete(prune=False)
    exp.complete(prune=False, titles={"01-paths": f"Paths {XSS}", "02-sweep": "A small sweep"})
    _write_reports([paths, *cells, sweep, stale, exp])
    return root


def _reports(root: Path) -> list[Path]:
    return sorted(root.rglob("report.html"))


def _page(report: Path) -> _Page:
    return _Page(report.read_text(encoding="utf-8"))


def test_every_link_resolves_and_nothing_is_embedded(tree: Path) -> None:
    assert len(_reports(tree)) == 6
    for report in _reports(tree):
        page = _page(report)
        for url in page.urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc, f"{report}: {url} leaves the run tree"
            if url.startswith("#"):
                assert url[1:] in page.ids, f"{report}: dangling anchor {url}"
            else:
                target = (report.parent / unquote(parts.path)).resolve()
                assert target.is_file(), f"{report}: {url} does not resolve to a file"
        assert "base64" not in report.read_text(), f"{report} embeds data"
    figures = {image["src"] for image in _page(tree / "01-paths" / "report.html").images}
    assert figures == {"figures/contour.gif", "figures/contour.png"} | {
        f"figures/noise{i}.png" for i in range(3)
    }


def test_reports_stay_small_while_their_figures_are_large(tree: Path) -> None:
    figures = sum(path.stat().st_size for path in (tree / "01-paths" / "figures").glob("*.png"))
    assert figures > MAX_REPORT_BYTES, f"the fixture's figures ({figures} B) should exceed the report limit"
    sizes = {report.relative_to(tree).as_posix(): report.stat().st_size for report in _reports(tree)}
    assert max(sizes.values()) < 100_000, sizes  # tens of KB; the limit is 2 MB


def test_spec_titles_and_notes_are_escaped(tree: Path) -> None:
    escaped = html.escape(XSS, quote=False)
    for report in (tree / "report.html", tree / "01-paths" / "report.html"):
        text = report.read_text()
        assert "<script>alert" not in text, f"{report} holds a live script from the spec or notes"
        assert escaped in text or html.escape(XSS) in text
    paths = (tree / "01-paths" / "report.html").read_text()
    assert "<h3>About</h3>" in paths and "<strong>paths</strong>" in paths, "Markdown notes, headings from h3"
    assert f"The <strong>paths</strong> study. {escaped}" in paths
    assert "Paths &lt;script&gt;" in paths, "the parent's title for this step, escaped"


def test_plotly_js_is_written_once_at_the_tree_root_and_linked_relatively(tree: Path) -> None:
    asset = tree / "assets" / plotly_asset_name()
    assert [path.relative_to(tree) for path in tree.rglob("plotly-*.js")] == [asset.relative_to(tree)]
    assert asset.stat().st_size > 1_000_000
    cell = tree / "02-sweep" / "cells" / "000-lr=0.1"
    assert _page(cell / "report.html").scripts[0] == f"../../../assets/{plotly_asset_name()}"
    assert _page(tree / "01-paths" / "report.html").scripts == [
        f"../assets/{plotly_asset_name()}",
        "figures/contour.plotly.js",
    ]
    for report in (
        tree / "report.html",
        tree / "02-sweep" / "report.html",
        cell.parent / "001-lr=1.0" / "report.html",
    ):
        assert not _page(report).scripts, f"{report} has no interactive figure and loads no script"
    before = asset.stat().st_mtime_ns
    write_report(load_run(cell))
    assert asset.stat().st_mtime_ns == before, "an existing plotly.js is not written again"


def test_legacy_plotly_json_is_embedded_inline(tree: Path) -> None:
    text = (tree / "01-paths" / "report.html").read_text()
    match = re.search(r'<script type="application/json" id="(plot-\d+)-data">(.*?)</script>', text, re.S)
    assert match, "the legacy basins.plotly.json figure is not in the page"
    assert f'<div class="plot" id="{match.group(1)}" data-figure="basins">' in text
    assert json.loads(match.group(2))["data"][0]["name"] == "a </script> trace"


def test_no_plotly_asset_without_interactive_figures(tmp_path: Path) -> None:
    parent = RunDir.open(tmp_path / "panels", kind="landscape-panels", spec={"cells": 1})
    child = RunDir.open(tmp_path / "panels" / "00-a", kind="landscape", spec={"a": 1})
    _png(child, "contour.png")
    child.complete(prune=False)
    parent.complete(prune=False, cells=1)
    _write_reports([child, parent])
    assert not list(tmp_path.rglob("assets")), "plotly.js written for reports without interactive figures"
    assert not _page(parent.path / "report.html").scripts and not _page(child.path / "report.html").scripts


def test_render_report_writes_nothing(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path / "run", kind="paths", spec={"x": 1})
    save_plotly(run, _plotly(), "contour")
    run.complete(prune=False)
    page = render_report(run.path)
    assert f'<script src="assets/{plotly_asset_name()}"></script>' in page
    assert not (tmp_path / "run" / "assets").exists() and not (tmp_path / "run" / "report.html").exists()
    write_report(run)
    assert (tmp_path / "run" / "assets" / plotly_asset_name()).is_file()


def test_parent_lists_children_with_links_titles_numbers_and_thumbnails(tree: Path) -> None:
    top = _page(tree / "report.html")
    assert "01-paths/report.html" in top.links and "02-sweep/report.html" in top.links
    assert "03-stale" not in (tree / "report.html").read_text(), "summary.titles leaves the stale folder out"
    thumbnail = next(image for image in top.images if image["src"] == "01-paths/figures/contour.png")
    assert thumbnail["link"] == "01-paths/report.html" and thumbnail["width"] == "240"
    text = (tree / "report.html").read_text()
    assert ">A small sweep</a>" in text, "the title from summary.titles heads the child's card"
    assert "<dt>final_loss</dt><dd>0.1235</dd>" in text and "<dt>runs</dt><dd>40</dd>" in text

    sweep = _page(tree / "02-sweep" / "report.html")
    cells = ["cells/000-lr%3D0.1", "cells/001-lr%3D1.0"]
    cell_links = [link for link in sweep.links if link.startswith("cells/")]
    assert cell_links == [f"{c}/report.html" for c in cells for _ in ("title", "thumbnail")]
    assert [image["src"] for image in sweep.images] == [f"{c}/figures/loss.png" for c in cells]
    assert [image["link"] for image in sweep.images] == [f"{c}/report.html" for c in cells]
    assert "../report.html" in sweep.links, "a step links back up to the experiment"
    cell = _page(tree / "02-sweep" / "cells" / "000-lr=0.1" / "report.html")
    assert "../../report.html" in cell.links, "a sweep cell links back up to the sweep"
    assert "../report.html" not in _page(tree / "report.html").links, "the root has no parent"


def test_children_of_a_parent_without_titles_are_all_listed(tmp_path: Path) -> None:
    parent = RunDir.open(tmp_path / "panels", kind="landscape-panels", spec={"cells": 2})
    children = [
        RunDir.open(tmp_path / "panels" / name, kind="landscape", spec={"n": name})
        for name in ("00-a", "01-b")
    ]
    for child in children:
        child.complete(prune=False, loss=1.5)
    parent.complete(prune=False, cells=2)
    write_report(parent)
    page = _page(parent.path / "report.html")
    text = (parent.path / "report.html").read_text()
    assert page.ids >= {"child-00-a", "child-01-b"}
    assert not page.links or all(link.startswith("#") for link in page.links), (
        "no link to a report not written"
    )
    assert text.count("(no report yet)") == 2 and not page.images


def test_runs_metrics_and_extra_tables(tree: Path) -> None:
    text = (tree / "01-paths" / "report.html").read_text()
    assert "<details><summary>every run (40)</summary>" in text, "40 runs fold under the summary"
    assert text.count('<td class="status-converged">converged</td>') == 20
    assert text.count('<td class="status-diverged">diverged</td>') == 20
    assert "<th>steps_to_tolerance</th>" in text and "<th>median_steps_to_tolerance</th>" in text
    assert text.count("<td>0.1235</td>") == 39 + 2, "4 significant digits: 39 runs and 2 config medians"
    # NaN: run 0's final loss, the 39 runs that never reached tolerance, adam's median of them.
    assert text.count("<td>—</td>") == 1 + 39 + 1
    cell = (tree / "02-sweep" / "cells" / "000-lr=0.1" / "report.html").read_text()
    assert "<th>test_loss</th>" in cell and "test_accuracy_class_0" not in cell
    sweep = (tree / "02-sweep" / "report.html").read_text()
    assert '<section id="table-results">' in sweep and "<td>0.03333</td>" in sweep


def test_long_tables_show_200_rows_with_a_note(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path / "run", kind="paths", spec={"x": 1})
    run.write_table("runs", _runs_frame(250))
    run.complete(prune=False)
    text = render_report(run.path)
    every = text[text.index("<summary>every run (250)</summary>") :]
    assert every.count("<tr") == 1 + 200, "a header row and the first 200 runs"
    assert "Showing 200 of 250 runs" in every


def test_video_figures_are_linked_video_elements(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path / "run", kind="paths", spec={"x": 1})
    run.write_bytes("figures/contour video.mp4", b"\x00\x00\x00\x18ftypmp42")
    run.complete(prune=False)
    assert '<video controls loop src="figures/contour%20video.mp4"></video>' in render_report(run.path)


def test_save_plotly_round_trips_and_cannot_end_a_script(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path / "run", kind="paths", spec={"x": 1})
    figure = _plotly(frames=True)
    path = save_plotly(run, figure, "surface3d")
    assert path == run.path / "figures" / "surface3d.plotly.js"
    text = path.read_text()
    assert text.startswith(
        'window.optiscopeFigures = window.optiscopeFigures || {}; window.optiscopeFigures["surface3d"] = '
    )
    assert "</" not in text, "a figure file must not be able to close the <script> around it"
    assert read_plotly(path) == json.loads(figure.to_json())
    assert read_plotly(path)["data"][0]["name"] == "a </script> trace"
    with pytest.raises(StoreError, match="plain name"):
        save_plotly(run, figure, "../escape")
    path.write_text(text + "alert(1);")
    with pytest.raises(StoreError, match="corrupt"):
        read_plotly(path)


_HOOK = """
window.__errors = [];
window.addEventListener("error", function (event) {
  window.__errors.push(String(event.message || (event.target && event.target.src)));
}, true);
window.addEventListener("unhandledrejection", function (event) {
  window.__errors.push(String(event.reason));
});
var originalError = console.error;
console.error = function () {
  window.__errors.push(Array.from(arguments).join(" "));
  originalError.apply(console, arguments);
};
window.addEventListener("load", function () {
  setTimeout(function () {
    document.body.setAttribute("data-errors", JSON.stringify(window.__errors));
    var widths = Array.from(document.images).map(function (image) { return image.naturalWidth; });
    document.body.setAttribute("data-image-widths", JSON.stringify(widths));
  }, 500);
});
"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _open_in_chromium(report: Path, profile: Path) -> tuple[str, list[str], list[int]]:
    """The DOM of ``report`` after load, with its page errors and image widths (a probe copy beside it)."""
    probe = report.with_name(".probe-report.html")
    probe.write_text(report.read_text().replace("<head>", f"<head><script>{_HOOK}</script>", 1))
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1280,4000", "--virtual-time-budget=15000",
        "--dump-dom", probe.as_uri(),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    finally:
        probe.unlink()
    assert done.returncode == 0, done.stderr[-2000:]
    errors = re.search(r'data-errors="([^"]*)"', done.stdout)
    widths = re.search(r'data-image-widths="([^"]*)"', done.stdout)
    assert errors and widths, f"{report} never finished loading"
    return done.stdout, json.loads(html.unescape(errors.group(1))), json.loads(html.unescape(widths.group(1)))


@pytest.mark.skipif(_chromium() is None, reason="no Chromium here (Debian's chromium package provides it)")
@pytest.mark.parametrize(
    ("report", "plots", "images"),
    [
        ("01-paths/report.html", 2, 5),  # a .plotly.js with frames and a legacy .plotly.json
        ("02-sweep/cells/000-lr=0.1/report.html", 1, 1),  # plotly.js three folders up
        ("report.html", 0, 1),  # a parent: the thumbnail of the one child with a PNG
    ],
)
def test_report_opens_in_headless_chromium(
    tree: Path, tmp_path: Path, report: str, plots: int, images: int
) -> None:
    dom, errors, widths = _open_in_chromium(tree / report, tmp_path / "profile")
    assert errors == [], f"page errors in {report}: {errors}"
    assert dom.count('class="plot-container plotly"') == plots, "every interactive figure must be drawn"
    assert len(widths) == images and all(width > 0 for width in widths), f"images not loaded: {widths}"
