"""The playground's JSON API: the library's numbers, the CLI's listings, 4xx for every bad input."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import warnings
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the playground needs the serve extra: pip install 'optiscope[serve]'")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; httpx still works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient
from typer.testing import CliRunner

import optiscope.paths as paths
from optiscope import surfaces
from optiscope.cli import app as cli_app
from optiscope.cli_serve import is_loopback
from optiscope.serve import ServeLimits, create_app
from optiscope.serve.runner import ENGINE_LOCK

LIMITS = ServeLimits(max_steps=500, max_starts=6, max_grid=8, max_optimizers=3, max_points=5000)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(LIMITS))


def _assert_runs_equal_library(runs: list[dict[str, Any]], expected: paths.PathSet) -> None:
    """Each JSON run holds exactly the library's recorded steps (JSON floats round-trip exactly)."""
    assert len(runs) == expected.n_runs
    for index, run in enumerate(runs):
        last = int(expected.n_steps[index])
        assert run["spec"] == expected.specs[expected.config_of(index)]
        assert run["start"] == expected.starts[expected.start_of(index)].tolist()
        assert (run["status"], run["steps"]) == (expected.status[index], last), run["spec"]
        np.testing.assert_array_equal(
            np.asarray(run["points"], dtype=float), expected.points[index, : last + 1]
        )
        np.testing.assert_array_equal(
            np.asarray(run["losses"], dtype=float), expected.losses[index, : last + 1]
        )


def test_the_readme_request_returns_what_paths_run_computes(client: TestClient) -> None:
    body = {"surface": "rosenbrock", "optimizers": ["adam:lr=0.1"], "starts": [[-1.5, 2.0]], "steps": 30}
    response = client.post("/api/paths", json=body)
    assert response.status_code == 200, response.text
    runs = response.json()["runs"]
    assert set(runs[0]) >= {"optimizer", "spec", "start", "points", "losses", "status", "steps"}
    assert runs[0]["optimizer"] == "adam" and len(runs[0]["points"]) == 31
    _assert_runs_equal_library(
        runs, paths.run(surfaces.get("rosenbrock"), ["adam:lr=0.1"], [[-1.5, 2.0]], 30)
    )


def test_noise_options_and_per_start_optimizers_match_the_library(client: TestClient) -> None:
    """Surface noise, gradient noise and a seed; LAMB runs one lane per start, adam one for all."""
    body = {"surface": "himmelblau", "noise": "smooth", "optimizers": ["adam:lr=0.05", "lamb:lr=0.05"],
            "starts": [[1.0, 1.0], [-3.0, -2.5]], "steps": 25, "grad_noise": 0.3, "seed": 7}  # fmt: skip
    response = client.post("/api/paths", json=body)
    assert response.status_code == 200, response.text
    expected = paths.run(surfaces.get("himmelblau:noise=smooth"), body["optimizers"], body["starts"], 25,
                         grad_noise=0.3, seed=7)  # fmt: skip
    _assert_runs_equal_library(response.json()["runs"], expected)


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    found = re.findall(r"event: (\w+)\ndata: (.*)\n\n", text)
    return [(name, json.loads(data)) for name, data in found]


def test_the_stream_sends_the_same_runs_in_growing_batches(client: TestClient) -> None:
    body = {"surface": "booth", "optimizers": ["sgd:lr=0.01", "nag:lr=0.01,momentum=0.9"],
            "starts": [[4.0, -3.0], [-5.0, 5.0]], "steps": 120, "grad_noise": 0.5, "seed": 3}  # fmt: skip
    response = client.post("/api/paths/stream", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert events[0][0] == "meta" and events[-1][0] == "done"
    runs: dict[int, dict[str, Any]] = {}
    for name, data in events:
        if name == "steps":
            run = runs.setdefault(data["run"], {"points": [], "losses": []})
            assert data["first"] == len(run["points"]) and len(data["points"]) <= 50
            run["points"] += data["points"]
            run["losses"] += data["losses"]
        elif name == "run":
            runs[data["run"]].update(data)
    assert sum(name == "steps" for name, _ in events) > len(runs), "every run arrives in several batches"
    whole = client.post("/api/paths", json=body).json()["runs"]
    assert [runs[index] for index in range(len(whole))] == whole


def test_basins_label_each_start_as_basin_map_does(client: TestClient) -> None:
    body = {"surface": "himmelblau", "optimizers": ["adam:lr=0.1", "sgd:lr=0.01"], "grid": 5, "steps": 150}
    response = client.post("/api/basins", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    surface = surfaces.get("himmelblau")
    xs, ys, starts = paths.start_grid(surface, 5)
    expected = paths.basin_maps(paths.run(surface, body["optimizers"], starts, 150), surface, xs, ys)
    assert answer["starts"] == starts.tolist() and answer["xs"] == xs.tolist()
    for got, want in zip(answer["maps"], expected, strict=True):
        assert got["label"] == want.label
        assert got["basin"] == want.basin.ravel().tolist()
        assert got["fractions"] == want.fractions()
    # Himmelblau has four minima: adam from a 5 x 5 grid must find more than one of them.
    assert len({label for label in answer["maps"][0]["basin"] if label >= 0}) > 1


def test_listings_are_the_cli_json(client: TestClient) -> None:
    runner = CliRunner()
    for route, command in (("/api/optimizers", "optimizers"), ("/api/surfaces", "surfaces")):
        result = runner.invoke(cli_app, [command, "list", "--json"])
        assert result.exit_code == 0, result.stderr
        assert client.get(route).json() == json.loads(result.stdout), route


def test_a_trace_with_an_infinite_default_is_valid_json(client: TestClient) -> None:
    body = {"surface": "booth", "optimizer": "dadaptadam", "steps": 2}
    response = client.post("/api/trace", json=body)
    assert response.status_code == 200 and response.json()["hparams"]["growth_rate"] is None


def test_trace_and_surface_grid_are_the_library_s(client: TestClient) -> None:
    body = {
        "surface": "rosenbrock",
        "optimizer": "nag:lr=0.001,momentum=0.9",
        "start": [-1.0, 1.5],
        "steps": 6,
    }
    trace = client.post("/api/trace", json=body).json()
    expected = paths.trace_state(surfaces.get("rosenbrock"), body["optimizer"], body["start"], 6)
    np.testing.assert_array_equal(trace["gradients"], expected.gradients)
    np.testing.assert_array_equal(trace["state"]["momentum_buffer"], expected.state["momentum_buffer"])
    grid = client.get("/api/surface", params={"surface": "x**2 + 3*y", "resolution": 4}).json()
    xs, ys, zs = surfaces.get("x**2 + 3*y").grid(4)
    assert (grid["x"], grid["y"], grid["z"]) == (xs.tolist(), ys.tolist(), zs.tolist())


# The CLI's bad inputs (tests/test_cli.py), as request bodies, and the API's own.
BAD = [
    ({"surface": "rosenbrok"}, "rosenbrock"),
    ({"optimizers": ["adamm"]}, "adam"),
    ({"optimizers": ["adam:lr="]}, "lr"),
    ({"optimizers": ["adam:lr0.1"]}, "key=value"),
    ({"optimizers": ["adam:lr=abc"]}, "lr"),
    ({"optimizers": ["adam:lr=nan"]}, "lr"),
    ({"optimizers": ["adam:betas=(0.9,)"]}, "betas"),
    ({"optimizers": ["adam:lrr=0.1"]}, "lr"),
    ({"starts": [[1.0]]}, "starts"),
    ({"steps": 0}, "steps"),
    ({"steps": -5}, "steps"),
    ({"surface": "__import__('os').system('true')"}, "__import__"),
    ({"surface": "x.real + y"}, "real"),
    ({"optimizers": ["muon"]}, "muon"),
    ({"noise": "loud"}, "noise"),
    ({"optimizers": ["adam:betas=(1.5,0.9)"]}, "beta"),
    ({"optimizers": ["adam", "adam"]}, "twice"),
    ({"optimizers": ["os:system"]}, "import path"),
    ({"optimizers": ["my_pkg.mod:MyOpt:lr=0.1"]}, "import path"),
    ({"optimizers": []}, "optimizers"),
    ({"optimizers": "adam"}, "optimizers"),
    ({"steps": "many"}, "steps"),
    ({"steps": 501}, "max_steps = 500"),
    ({"starts": [[0.0, 0.0]] * 7}, "max_starts = 6"),
    ({"optimizers": ["sgd", "adam", "nag", "lion"]}, "max_optimizers = 3"),
    ({"optimizers": ["sgd", "adam"], "starts": [[0.0, 0.0]] * 6, "steps": 500}, "max_points = 5000"),
    ({"unknown": 1}, "unknown"),
    pytest.param(
        {"optimizers": ["demo"]},
        "einops",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("einops") is not None,
            reason="einops is installed here (curvlinops' bench extra), so the 'demo' optimizer loads",
        ),
    ),
    ({"optimizers": ["sgd"] * 10_001}, "optimizers"),
]


@pytest.mark.parametrize(("change", "needle"), BAD)
def test_bad_input_gets_a_422_naming_the_problem(client: TestClient, change: dict, needle: str) -> None:
    body = {"surface": "booth", "optimizers": ["sgd"], "steps": 10, **change}
    response = client.post("/api/paths", json=body)
    assert response.status_code == 422, response.text
    message = response.json()["error"]
    assert needle.lower() in message.lower(), message
    assert "Traceback" not in message


_JSON = {"content-type": "application/json"}
_BOOTH = {"surface": "booth", "optimizers": ["sgd"]}
_NAN_START = '{"surface": "booth", "optimizers": ["sgd"], "starts": [[1.0, NaN]]}'
ROUTE_REFUSALS = [
    # JSON has no NaN, but Python's parser (and so Starlette's) reads one.
    ("post", "/api/paths", {"content": _NAN_START, "headers": _JSON}, "finite"),
    ("post", "/api/paths", {"content": "{not json", "headers": _JSON}, "json"),
    ("post", "/api/paths/stream", {"json": {"surface": "booth", "optimizers": ["adma"]}}, "adam"),
    ("post", "/api/basins", {"json": {**_BOOTH, "grid": 1}}, "grid"),
    ("post", "/api/basins", {"json": {**_BOOTH, "grid": 9}}, "max_grid"),
    ("post", "/api/trace", {"json": {"surface": "booth", "optimizer": "pkg:Opt"}}, "import path"),
    ("post", "/api/check", {"json": {"optimizer": "adam:betas=(0.9,2)"}}, "beta"),
    ("get", "/api/surface", {"params": {"surface": "x**2 + foo(y)"}}, "foo"),
    ("get", "/api/surface", {"params": {"surface": "booth", "resolution": 10_000}}, "max_resolution"),
    ("post", "/api/export", {"json": {**_BOOTH, "grid": 4, "starts": [[0, 0]]}}, "not both"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "route", "options", "needle"), ROUTE_REFUSALS)
def test_refusals_on_every_route(
    client: TestClient, method: str, route: str, options: dict, needle: str
) -> None:
    response = client.request(method.upper(), route, **options)
    assert response.status_code == 422, response.text
    assert needle.lower() in response.json()["error"].lower(), response.json()


def test_an_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/nothing")
    assert response.status_code == 404 and response.json() == {"error": "Not Found"}


def test_a_run_past_the_time_limit_is_stopped_with_a_422() -> None:
    slow = TestClient(create_app(ServeLimits(time_limit_s=0.2, max_starts=64)))
    body = {"surface": "rosenbrock", "optimizers": ["lamb"], "starts": [[0.5, 0.5]] * 64, "steps": 2000}
    response = slow.post("/api/paths", json=body)
    assert response.status_code == 422 and "time limit of 0.2 s" in response.json()["error"]
    events = _events(slow.post("/api/paths/stream", json=body).text)
    assert events[-1][0] == "error" and "time limit" in events[-1][1]["error"]
    assert not ENGINE_LOCK.locked(), "a stopped run releases the engine"


def test_too_many_runs_get_429_and_a_busy_engine_503() -> None:
    app = create_app(ServeLimits(max_runs=1, queue_timeout_s=0.1))
    busy = TestClient(app)
    body = {"surface": "booth", "optimizers": ["sgd"], "steps": 5}
    with app.state.runner.admit():
        response = busy.post("/api/paths", json=body)
        assert response.status_code == 429 and "max_runs = 1" in response.json()["error"]
    with ENGINE_LOCK:
        response = busy.post("/api/paths", json=body)
        assert response.status_code == 503 and "busy" in response.json()["error"]
    assert busy.post("/api/paths", json=body).status_code == 200


def test_the_page_and_its_scripts_are_served_with_no_cdn(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    scripts = re.findall(r'src="([^"]+)"', page.text)
    assert any(re.fullmatch(r"/static/plotly-[\d.]+\.min\.js", src) for src in scripts), scripts
    for src in [*scripts, "/static/controls.js", "/static/plots.js", "/static/playground.css"]:
        asset = client.get(src)
        assert asset.status_code == 200 and len(asset.content) > 1000, src
        if not src.startswith("/static/plotly"):
            assert "https://" not in asset.text and "http://" not in asset.text, src
    assert "http" not in page.text.replace('lang="en"', "")
    assert client.get("/static/../app.py").status_code == 404


def test_export_writes_the_paths_command_and_a_valid_experiment(client: TestClient) -> None:
    from optiscope.experiments.experiment_spec import load_experiment

    body = {"surface": "himmelblau", "noise": "smooth", "optimizers": ["adam:lr=0.1", "sgd"],
            "starts": [[-1.5, 2.0]], "steps": 40, "grad_noise": 0.2, "seed": 4}  # fmt: skip
    exported = client.post("/api/export", json=body).json()
    words = shlex.split(exported["command"])
    assert words[:3] == ["optiscope", "paths", "himmelblau"]
    assert words[words.index("--noise") + 1] == "smooth" and "--start=-1.5,2.0" in words
    assert [words[i + 1] for i, word in enumerate(words) if word == "--opt"] == ["adam:lr=0.1", "sgd"]
    assert words[words.index("--grad-noise") + 1] == "0.2" and words[words.index("--seed") + 1] == "4"
    (step,) = load_experiment("playground.yaml", text=exported["yaml"]).steps
    assert (step.surface, step.optimizers, step.starts) == ("himmelblau:noise=smooth", ("adam:lr=0.1", "sgd"),
                                                            ((-1.5, 2.0),))  # fmt: skip
    assert (step.steps, step.grad_noise, step.seed) == (40, 0.2, 4)
    grid = client.post("/api/export", json={**body, "starts": None, "grid": 6}).json()
    assert "--starts=6x6" in shlex.split(grid["command"]) and "start_grid: 6" in grid["yaml"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_warns_when_bound_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append({"app": app, **options}))
    runner = CliRunner()
    local = runner.invoke(cli_app, ["serve", "--port", "8123", "--max-steps", "50"])
    assert local.exit_code == 0 and "warning" not in local.stderr and "http://127.0.0.1:8123/" in local.stdout
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["app"].state.limits.max_steps == 50
    exposed = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0"])
    assert exposed.exit_code == 0 and exposed.stderr.startswith("warning: listening on 0.0.0.0")
    assert calls[1]["host"] == "0.0.0.0" and calls[1]["port"] == 8000
    bad = runner.invoke(cli_app, ["serve", "--time-limit", "-1"])
    assert bad.exit_code == 2 and "time_limit_s must be positive" in bad.stderr


def test_one_long_run_streams_its_steps_while_it_computes() -> None:
    """The engine is held at its 121st surface evaluation until the reader has a batch of steps:
    with the steps sent only after the run, the reader would wait and the engine's wait time out."""
    import dataclasses
    import threading

    from optiscope.serve.compute import Watch, stream_paths
    from optiscope.serve.requests import PathsBody, paths_job

    body = PathsBody(surface="booth", optimizers=["sgd:lr=0.01"], starts=[[4.0, -3.0]], steps=400)
    job = paths_job(body, ServeLimits())
    evaluations, reader_has_steps, engine_waited = [0], threading.Event(), []
    plain = job.surface.function

    def held(points: Any) -> Any:
        evaluations[0] += 1
        if evaluations[0] == 121:
            engine_waited.append(reader_has_steps.wait(timeout=20))
        return plain(points)

    job = dataclasses.replace(job, surface=job.surface.with_options(function=held))
    seen_at, steps = None, []
    for name, data in stream_paths(job, Watch(limit_s=60), batch_steps=50):
        if name == "steps":
            if seen_at is None:
                seen_at = evaluations[0]
                reader_has_steps.set()
            assert data["first"] == len(steps)
            steps += data["points"]
        elif name == "run":
            final = data
    assert engine_waited == [True] and seen_at is not None and seen_at <= 121 < 401
    whole = paths.run(surfaces.get("booth"), ["sgd:lr=0.01"], np.array([[4.0, -3.0]]), 400)
    assert final["steps"] == 400 and len(steps) == 401
    np.testing.assert_array_equal(np.array(steps), whole.points[0])
