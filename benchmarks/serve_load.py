"""Load on the playground: many concurrent clients with a mix of requests, on loopback.

Starts ``optiscope serve`` in its own process (default limits), warms it with one request of each
kind, then runs ``--clients`` clients for ``--seconds`` seconds. Each client sends requests one
after another, drawn from a fixed mix (seeded): the page and its script, the two registry
listings, surface grids, small path runs (plain and streamed), teaching traces and small basin
maps, on several surfaces and optimizers. Prints the latency percentiles (overall and per kind),
the number of errors (any answer but 200, or a failed connection) and the server's resident
memory (VmRSS) after the warm-up, every few seconds under load, and at the end.

The clients run in this process on the same machine, so they share its CPUs with the server; the
numbers are those of a loaded laptop-like box, not of the server alone. Paths compute one request
at a time (see ``optiscope.serve.runner``), so the path kinds queue behind each other.

    python benchmarks/serve_load.py [--clients 50] [--seconds 30] [--port 8765]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np

SURFACES = ["rosenbrock", "himmelblau", "booth", "beale", "f4", "x**2 + 10*sin(y)"]
OPTIMIZERS = ["sgd:lr=0.001", "adam:lr=0.05", "nag:lr=0.001,momentum=0.9", "rmsprop:lr=0.01", "lion:lr=0.01"]
# (kind, weight): what a class of students clicking around would send.
MIX = [
    ("page", 5), ("script", 5), ("optimizers", 10), ("surfaces", 10), ("surface_grid", 15),
    ("paths", 25), ("paths_stream", 10), ("trace", 10), ("basins", 10),
]  # fmt: skip


def request_for(kind: str, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """``(method, path, httpx options)`` of one request of ``kind``."""
    surface = rng.choice(SURFACES)
    starts = [[rng.uniform(-1.5, 1.5), rng.uniform(-1.0, 2.0)] for _ in range(rng.randint(1, 3))]
    run = {
        "surface": surface,
        "optimizers": rng.sample(OPTIMIZERS, rng.randint(1, 2)),
        "steps": rng.choice([50, 100, 200]),
    }
    if kind == "page":
        return "GET", "/", {}
    if kind == "script":
        return "GET", "/static/playground.js", {}
    if kind in ("optimizers", "surfaces"):
        return "GET", f"/api/{kind}", {}
    if kind == "surface_grid":
        return "GET", "/api/surface", {"params": {"surface": surface, "resolution": 120}}
    if kind == "paths":
        return "POST", "/api/paths", {"json": {**run, "starts": starts}}
    if kind == "paths_stream":
        return "POST", "/api/paths/stream", {"json": {**run, "starts": starts}}
    if kind == "trace":
        body = {"surface": surface, "optimizer": rng.choice(OPTIMIZERS), "start": starts[0], "steps": 100}
        return "POST", "/api/trace", {"json": body}
    return "POST", "/api/basins", {"json": {**run, "grid": 6, "steps": 100}}


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def client(
    number: int, base: str, until: float, results: dict[str, list[float]], errors: list[str]
) -> None:
    rng = random.Random(number)
    kinds, weights = zip(*MIX, strict=True)
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        while time.monotonic() < until:
            kind = rng.choices(kinds, weights)[0]
            method, path, options = request_for(kind, rng)
            began = time.perf_counter()
            try:
                response = await http.request(method, path, **options)
                failed = response.status_code != 200 or (
                    kind == "paths_stream" and "event: error" in response.text
                )
                detail = f"{kind}: HTTP {response.status_code} {response.text[:200]}"
            except httpx.HTTPError as error:
                failed, detail = True, f"{kind}: {type(error).__name__} {error}"
            if failed:
                errors.append(detail)
            else:
                results[kind].append(time.perf_counter() - began)


async def load(
    base: str, pid: int, clients: int, seconds: float
) -> tuple[dict[str, list[float]], list[str], list[float]]:
    results: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    memory: list[float] = []
    until = time.monotonic() + seconds
    tasks = [asyncio.create_task(client(number, base, until, results, errors)) for number in range(clients)]
    while time.monotonic() < until:
        memory.append(rss_mib(pid))
        await asyncio.sleep(min(5.0, max(0.0, until - time.monotonic())))
    await asyncio.gather(*tasks)
    return results, errors, memory


def start_server(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "optiscope.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/limits", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"the server did not start: {server.stderr.read().decode() if server.stderr else ''}")


def percentiles(values: list[float]) -> str:
    p50, p95 = np.percentile(np.asarray(values) * 1000, [50, 95])
    return f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  ({len(values)} requests)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    server = start_server(args.port)
    try:
        rng = random.Random(0)
        for kind, _ in MIX:  # warm-up: every cache and lazy import the server has, filled once
            method, path, options = request_for(kind, rng)
            assert httpx.request(method, base + path, timeout=120, **options).status_code == 200, kind
        rss_start = rss_mib(server.pid)
        began = time.monotonic()
        results, errors, memory = asyncio.run(load(base, server.pid, args.clients, args.seconds))
        elapsed = time.monotonic() - began
        rss_end = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    every = [value for values in results.values() for value in values]
    rate = len(every) / elapsed
    cpus = os.cpu_count()
    print(f"{args.clients} clients for {args.seconds:g} s on loopback ({cpus} CPUs; {elapsed:.1f} s until "
          f"the last answer): {len(every)} answers, {rate:.1f}/s")  # fmt: skip
    print(f"all            {percentiles(every)}")
    for kind, _ in MIX:
        if results[kind]:
            print(f"{kind:<14} {percentiles(results[kind])}")
    print(f"errors: {len(errors)}")
    for detail in errors[:10]:
        print(f"  {detail}")
    print(f"server RSS: {rss_start:.0f} MiB after warm-up, {rss_end:.0f} MiB at the end "
          f"(under load, every 5 s: {', '.join(f'{value:.0f}' for value in memory)})")  # fmt: skip


if __name__ == "__main__":
    main()
