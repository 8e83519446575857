"""SIGKILL at any instant leaves whole files only, and a rerun resumes exactly where it stopped."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optiscope.store import load_run

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

JOB = Path(__file__).with_name("store_job.py")
PAYLOAD_BYTES = 4 * 1024 * 1024

WRITER = f"""
import hashlib, sys
from optiscope.store import atomic_write_bytes
version = int(sys.argv[2])
while True:
    body = version.to_bytes(8, "little") + bytes([version % 251]) * {PAYLOAD_BYTES}
    atomic_write_bytes(sys.argv[1], body + hashlib.sha256(body).digest())
    version += 1
"""


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the child process"
        time.sleep(0.01)


def read_version(path: Path) -> int:
    with path.open("rb") as handle:
        return int.from_bytes(handle.read(8), "little")


def check_whole_version(path: Path) -> int:
    """The version number of a file the writer wrote, after checking it is complete."""
    data = path.read_bytes()
    assert len(data) == 8 + PAYLOAD_BYTES + 32, f"torn file: {len(data)} bytes"
    body, digest = data[:-32], data[-32:]
    assert hashlib.sha256(body).digest() == digest, "torn file: checksum mismatch"
    version = int.from_bytes(body[:8], "little")
    assert body[8:9] == bytes([version % 251])
    return version


def test_sigkill_during_large_writes_leaves_a_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    rng = np.random.default_rng(0)
    first = 0
    for _ in range(6):
        # Each writer numbers its versions from `first`, so we can wait for its first write.
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(first)])
        try:
            wait_for(lambda: target.exists() and read_version(target) >= first)  # noqa: B023
            time.sleep(float(rng.uniform(0.0, 0.3)))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        last = check_whole_version(target)
        assert last >= first
        first = last + 1
    # The only other thing a kill may leave is a hidden temp file, never the target torn.
    others = [p.name for p in tmp_path.iterdir() if p != target]
    assert all(name.startswith(".table.parquet.") for name in others), others


def run_job(out: Path, sleep: str = "0.15") -> list[str]:
    done = subprocess.run(
        [sys.executable, str(JOB), str(out), sleep], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_killed_job_resumes_and_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    units = out / "units"
    child = subprocess.Popen(
        [sys.executable, str(JOB), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: len(list(units.glob("*.npz"))) >= 3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL

    killed = load_run(out)
    assert killed.status == "running"
    finished = killed.completed_units()
    assert 3 <= len(finished) < 12, finished
    for unit_id in finished:  # every visible unit is whole
        arrays, meta = killed.load_unit(unit_id)
        assert arrays["path"].shape == (64, 2) and meta["index"] == int(unit_id[-2:])

    lines = run_job(out)
    assert lines[0] == "resumed True"
    recomputed = {line.split()[1] for line in lines[1:]}
    all_units = {f"unit-{i:02d}" for i in range(12)}
    assert recomputed == all_units - finished, f"finished before kill: {sorted(finished)}"

    fresh = tmp_path / "fresh"
    fresh_lines = run_job(fresh, sleep="0")
    assert fresh_lines[0] == "resumed False" and len(fresh_lines) == 13
    resumed_run, fresh_run = load_run(out), load_run(fresh)
    assert resumed_run.status == "complete" and resumed_run.manifest["units_pruned"] == len(all_units)
    assert resumed_run.manifest["units"] == [] and not (out / "units").exists()
    pd.testing.assert_frame_equal(resumed_run.read_table("summary"), fresh_run.read_table("summary"))
    assert not [p for p in out.rglob("*") if p.name.endswith(".optiscope-tmp")]

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert run_job(out) == ["resumed False", "cached"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
