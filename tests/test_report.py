"""The HTML report: light, linked, complete, re-drawn without recomputation, clean in a browser."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.viz.plotly_files import read_plotly

runner = CliRunner()


class _ReportParser(HTMLParser):
    """Collects ids, links, image sources and the JSON of interactive figures."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.urls: list[str] = []
        self.images: list[str] = []
        self.scripts_src: list[str] = []
        self.rows = 0
        self._json_id: str | None = None
        self.figures: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        self.urls.extend(value for name, value in attrs if name in ("src", "href") and value)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag == "img":
            self.images.append(attributes["src"] or "")
        if tag == "script" and attributes.get("src"):
            self.scripts_src.append(attributes["src"])
        if tag == "script" and attributes.get("type") == "application/json":
            self._json_id = attributes["id"]
        if tag == "tr":
            self.rows += 1

    def handle_data(self, data: str) -> None:
        if self._json_id:
            self.figures[self._json_id] = self.figures.get(self._json_id, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._json_id = None


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    result = runner.invoke(app, [
        "paths", "himmelblau", "--opt", "sgd:lr=0.01", "--opt", "adam:lr=0.1", "--starts", "4x4",
        "--steps", "40", "--3d", "--animate", "--interactive", "--frames", "8", "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return out


def test_report_links_every_figure_opens_offline_and_stays_light(full_run: Path) -> None:
    page = (full_run / "report.html").read_text()
    assert len(page.encode()) < 2_000_000, "no report.html over 2 MB"
    parser = _ReportParser()
    parser.feed(page)
    assert not [url for url in parser.urls if re.match(r"(https?:)?//", url)], "no network resources"
    for url in parser.urls:
        if url.startswith("#"):
            assert url[1:] in parser.ids, f"dangling anchor {url}"
        else:
            assert (full_run / unquote(url)).is_file(), f"dangling link {url}"
    assert not [src for src in parser.images if src.startswith("data:")], "figures are linked, not embedded"

    stored = sorted(path.name for path in (full_run / "figures").iterdir())
    images = [name for name in stored if name.endswith((".png", ".gif"))]
    assert len(parser.images) == len(images) == 9, stored  # 6 PNG (contour_panels too) + 3 GIF
    frame_counts = []
    for source in parser.images:
        image = Image.open(full_run / unquote(source))
        assert image.size[0] > 200 and image.size[1] > 200
        if source.endswith(".gif"):
            frame_counts.append(image.n_frames)
    assert frame_counts == [8, 8, 8], "each GIF holds the requested number of frames"

    interactive = [name for name in stored if name.endswith(".plotly.js")]
    figure_scripts = [src for src in parser.scripts_src if src.endswith(".plotly.js")]
    assert len(figure_scripts) == len(interactive) == 3
    for name in interactive:
        assert read_plotly(full_run / "figures" / name)["data"], "an interactive figure without traces"
    plotly_js = [src for src in parser.scripts_src if "assets/plotly-" in src]
    assert len(plotly_js) == 1 and (full_run / plotly_js[0]).stat().st_size > 1_000_000
    runs = pd.read_parquet(full_run / "runs.parquet")
    configs = runs["spec"].nunique()
    assert parser.rows == (len(runs) + 1) + (configs + 1), "a summary row per config, a row per run, headers"
    assert "every run (32)" in page
    assert "steps_to_tolerance" in page


def test_report_command_rerenders_without_recomputing(full_run: Path) -> None:
    watched = [full_run / "paths.parquet", full_run / "runs.parquet"]
    before = [path.stat().st_mtime_ns for path in watched]
    manifest = json.loads((full_run / "manifest.json").read_text())
    original = (full_run / "report.html").read_text()
    (full_run / "report.html").unlink()
    result = runner.invoke(app, ["report", str(full_run)])
    assert result.exit_code == 0, result.stderr
    assert "nothing recomputed" in result.stdout
    assert (full_run / "report.html").read_text() == original
    assert [path.stat().st_mtime_ns for path in watched] == before
    after = json.loads((full_run / "manifest.json").read_text())
    assert (after["spec_hash"], after["timings"]) == (manifest["spec_hash"], manifest["timings"])


def test_report_of_a_missing_run_is_a_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


_ERROR_HOOK = """
window.__errors = [];
window.addEventListener("error", function (event) { window.__errors.push(String(event.message)); });
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
  }, 500);
});
"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium here (.ci/run installs Debian's chromium)")
def test_report_opens_in_headless_chromium_without_console_errors(full_run: Path, tmp_path: Path) -> None:
    # A copy of the report with a first script that records every page error and console.error
    # into the DOM, which --dump-dom then prints.
    page = (
        (full_run / "report.html")
        .read_text()
        .replace("<head>", "<head><script>" + _ERROR_HOOK + "</script>", 1)
    )
    probe = full_run / "probe.html"  # beside the report, so its relative links resolve
    probe.write_text(page)
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=15000", "--dump-dom", probe.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    recorded = re.search(r'data-errors="([^"]*)"', dom)
    assert recorded, "the page never finished loading"
    assert html.unescape(recorded.group(1)) == "[]", f"page errors: {html.unescape(recorded.group(1))}"
    assert "Uncaught" not in done.stderr
    # plotly draws each interactive figure into a .plot-container; images are in the DOM.
    probe.unlink()
    assert dom.count('class="plot-container plotly"') == 3, "every interactive figure must be drawn"
    assert dom.count("<img ") == 9  # eight figures and the one-panel-per-config contour


def test_report_redraws_figures_from_tables_without_recomputing(full_run: Path) -> None:
    tables = [full_run / "paths.parquet", full_run / "runs.parquet"]
    before = [path.stat().st_mtime_ns for path in tables]
    contour = full_run / "figures" / "contour.png"
    contour.unlink()
    result = runner.invoke(app, ["report", str(full_run)])
    assert result.exit_code == 0, result.stderr
    with Image.open(contour) as image:  # a full-size picture with many colours, not a blank one
        assert min(image.size) > 400 and len(image.convert("RGB").getcolors(1 << 16) or []) > 50
    assert [path.stat().st_mtime_ns for path in tables] == before
