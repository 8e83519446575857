"""The playground end to end in real headless Chromium: pick, click, run, and read the drawn paths.

Driven with Playwright's Python package against the system Chromium (``OPTISCOPE_CHROMIUM`` names
another binary); browsers are never downloaded. ``OPTISCOPE_UPDATE_SCREENSHOT=1`` also writes the
README's screenshot, ``docs/playground.png``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import optiscope.paths as paths
from optiscope import surfaces

pytest.importorskip("fastapi", reason="the playground needs the serve extra: pip install 'optiscope[serve]'")
uvicorn = pytest.importorskip("uvicorn", reason="the playground needs the serve extra")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test drives Chromium with Playwright"
)

from optiscope.serve import create_app  # noqa: E402 - needs the serve extra, checked just above

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("OPTISCOPE_CHROMIUM") or next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
    None,
)
# The tests share one page, as a person would (one worker with --dist loadgroup); each makes the
# runs it reads, so none depends on another having run first.
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (set OPTISCOPE_CHROMIUM)"),
    pytest.mark.xdist_group("serve_browser"),
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The playground on a free loopback port, served by uvicorn in a thread."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(base_url: str) -> Iterator[tuple[object, list[str]]]:
    """The loaded page, and every console error or uncaught exception it reports."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        tab.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        tab.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(f"{base_url}/")
        _wait_phase(tab, "ready")
        yield tab, problems
        browser.close()


def _wait_phase(tab: object, *phases: str) -> str:
    tab.wait_for_function(f"{list(phases)}.includes(document.body.dataset.phase)")
    return tab.evaluate("document.body.dataset.phase")


def _add_optimizer(tab: object, name: str, **fields: str) -> None:
    tab.select_option("#optimizer", name)
    tab.click("#add-optimizer")
    for field, value in fields.items():
        tab.fill(f".card[data-optimizer={name}] input[name={field}]", value)
        tab.dispatch_event(f".card[data-optimizer={name}] input[name={field}]", "change")
    tab.wait_for_function(
        f"document.querySelector('.card[data-optimizer={name}] .spec').textContent.includes('{name}')"
    )


def test_pick_click_run_and_the_drawn_paths_end_where_the_library_s_do(page: tuple) -> None:
    tab, problems = page
    tab.select_option("#surface", "himmelblau")
    _wait_phase(tab, "ready")
    assert "(x^2 + y - 11)^2" in tab.inner_text("#surface-info")
    _add_optimizer(tab, "adam", lr="0.1")
    _add_optimizer(tab, "nag", lr="0.005", momentum="0.8")
    tab.fill("#steps", "60")
    x, y = tab.evaluate("window.playground.clientPoint(-0.5, 0.5)")
    tab.mouse.click(x, y)
    (start,) = tab.evaluate("window.playground.state.starts")
    assert np.allclose(start, [-0.5, 0.5], atol=0.02), f"the click landed at {start}, not near (-0.5, 0.5)"
    tab.click("#run")
    assert _wait_phase(tab, "done", "error") == "done", tab.inner_text("#status")

    specs = tab.evaluate("window.playground.state.cards.map(card => card.spec(1))")
    assert specs == ["adam:lr=0.1", "nag:lr=0.005,momentum=0.8"]
    expected = paths.run(surfaces.get("himmelblau"), specs, [start], 60)
    ends = sorted(tab.evaluate("window.playground.pathEnds()"), key=lambda end: end["run"])
    assert [end["label"] for end in ends] == expected.labels
    drawn = np.array([[end["x"], end["y"]] for end in ends])
    np.testing.assert_array_equal(drawn, expected.final_points, err_msg="drawn path ends vs paths.run")
    assert tab.evaluate("document.getElementById('scrub').max") == str(int(expected.n_steps.max()))

    tab.check("#arrows")
    tab.wait_for_function("document.getElementById('contour').layout.annotations.length >= 4")
    tab.evaluate("document.querySelector('aside').scrollTop = 0")
    tab.screenshot(path=str(ROOT / "docs" / "playground.png") if os.environ.get("OPTISCOPE_UPDATE_SCREENSHOT")
                   else None)  # fmt: skip
    assert not problems, f"console errors: {problems}"


def _scrub(tab: object, frame: int) -> None:
    """Drag the step slider to ``frame`` (as a person would: set it, then an input event)."""
    tab.evaluate(
        f"const s = document.getElementById('scrub'); s.value = {frame}; s.dispatchEvent(new Event('input'))"
    )


# Each run's point at a frame: a run that stopped earlier (left the domain) shows its last one.
_POINTS_AT = "window.playground.state.runs.map(run => run.points[Math.min({}, run.points.length - 1)])"


def test_scrub_step_and_play_move_the_drawn_paths(page: tuple) -> None:
    tab, problems = page
    # Its own run (the tests share a page, but none relies on another's results).
    tab.select_option("#surface", "rosenbrock")
    tab.wait_for_function("window.playground.state.grid.surface.name === 'rosenbrock'")
    _wait_phase(tab, "ready")
    _add_optimizer(tab, "sgd", lr="0.0005")
    tab.fill("#steps", "40")
    tab.click("#run")
    assert _wait_phase(tab, "done", "error") == "done", tab.inner_text("#status")
    _scrub(tab, 3)
    tab.wait_for_function("document.getElementById('frame').textContent.startsWith('step 3 ')")
    tab.wait_for_function("window.playground.state.drawnFrame === 3")
    runs = tab.evaluate(_POINTS_AT.format(3))
    assert [[end["x"], end["y"]] for end in tab.evaluate("window.playground.pathEnds()")] == runs
    tab.click("#step")
    tab.wait_for_function("document.getElementById('frame').textContent.startsWith('step 4 ')")
    tab.wait_for_function("window.playground.state.drawnFrame === 4")
    fourth = tab.evaluate(_POINTS_AT.format(4))
    assert [[end["x"], end["y"]] for end in tab.evaluate("window.playground.pathEnds()")] == fourth
    last = tab.evaluate("Number(document.getElementById('scrub').max)")
    _scrub(tab, last - 5)
    tab.click("#play")
    state = "window.playground.state"
    tab.wait_for_function(f"!{state}.playing && {state}.drawnFrame === {last}")
    ends = [[end["x"], end["y"]] for end in tab.evaluate("window.playground.pathEnds()")]
    assert ends == tab.evaluate("window.playground.state.runs.map(run => run.points.at(-1))")
    assert not problems, f"console errors: {problems}"


def test_a_bad_expression_is_answered_inline_and_a_good_one_drawn(page: tuple) -> None:
    tab, problems = page
    tab.fill("#expression", "x**2 + foo(y)")
    tab.click("#expression-form button")
    tab.wait_for_function("document.getElementById('surface-error').textContent.includes('foo')")
    # The refused request (a 422, as it should be) is the one message the browser may log.
    assert all("status of 422" in problem for problem in problems), problems
    problems.clear()
    tab.fill("#expression", "(x - 1)**2 + 3*(y + 2)**2")
    tab.click("#expression-form button")
    tab.wait_for_function("window.playground.state.grid.surface.name.startsWith('expr:')")
    _wait_phase(tab, "ready")
    assert tab.inner_text("#surface-error") == ""
    assert "(x-1)**2+3*(y+2)**2" in tab.inner_text("#surface-info")
    assert not problems, f"console errors: {problems}"


def test_a_basin_map_and_the_export(page: tuple) -> None:
    tab, problems = page
    tab.select_option("#surface", "himmelblau")
    # The page was on an expression: wait for Himmelblau itself, not a stale "ready" (a loaded
    # machine answers the surface request late).
    tab.wait_for_function("window.playground.state.grid.surface.name === 'himmelblau'")
    _wait_phase(tab, "ready")
    if not tab.evaluate("window.playground.state.cards.some(card => card.spec(1) === 'adam:lr=0.1')"):
        _add_optimizer(tab, "adam", lr="0.1")
    tab.check("input[name=mode][value=basins]")
    tab.fill("#grid", "6")
    tab.fill("#steps", "200")
    tab.click("#run")
    assert _wait_phase(tab, "done", "error") == "done", tab.inner_text("#status")
    maps = tab.evaluate("window.playground.state.basins.maps.map(map => map.label)")
    adam = next(index for index, label in enumerate(maps) if label.startswith("adam"))
    tab.select_option("#basin-config", str(adam))
    shown = f"document.getElementById('basin-info').textContent.startsWith({maps[adam]!r} + ':')"
    tab.wait_for_function(shown)
    # Himmelblau has four minima; adam(lr=0.1) from a 6 x 6 grid over [-5, 5]^2 finds several.
    reached = [word for word in tab.inner_text("#basin-info").split(", ") if "minimum" in word]
    assert len(reached) >= 2, tab.inner_text("#basin-info")
    assert tab.evaluate("document.getElementById('contour').data.some(trace => trace.type === 'heatmap')")

    tab.click("#export-button")
    tab.wait_for_function("document.getElementById('export-command').textContent.length > 0")
    command = tab.inner_text("#export-command")
    assert command.startswith("optiscope paths himmelblau") and "--starts=6x6" in command
    assert "start_grid: 6" in tab.input_value("#export-yaml")
    with tab.expect_download() as download:
        tab.click("#png")
    png = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "optiscope-playground.png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not problems, f"console errors: {problems}"
