"""The run store: atomic writes, spec hashes, manifest, cache, force, refusals, units, tables."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure

import optiscope
from optiscope.errors import StoreError
from optiscope.store import (
    RunDir,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    load_run,
    spec_hash,
)
from optiscope.store import __all__ as store_all

SPEC = {"surface": "rosenbrock", "opts": ("adam:lr=0.1", "sgd:lr=0.01"), "steps": 100}


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``root`` with its mtime (ns) and bytes."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_public_names_import() -> None:
    import optiscope.store as store

    assert all(hasattr(store, name) for name in store_all)


# -- atomic writes --------------------------------------------------------------------------


def test_atomic_writes_roundtrip_and_leave_no_temp_files(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01" * 1000)
    atomic_write_text(tmp_path / "b.txt", "héllo\n")
    atomic_write_json(tmp_path / "c.json", {"x": np.float64(1.5), "y": (1, 2), "z": np.arange(3)})
    atomic_write_bytes(tmp_path / "a.bin", b"new")  # replace an existing file
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo\n"
    assert json.loads((tmp_path / "c.json").read_text()) == {"x": 1.5, "y": [1, 2], "z": [0, 1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.json"]


def test_atomic_write_json_refuses_nan_and_names_where(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"non-finite number at \$\.a\.b"):
        atomic_write_json(tmp_path / "x.json", {"a": {"b": float("nan")}})
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_into_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot write .*nope/x\.bin: No such file"):
        atomic_write_bytes(tmp_path / "nope" / "x.bin", b"1")


# -- spec hash ------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_scalars = json_scalars | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)
specs = st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=6)


def shuffled_with_tuples(value):
    """Same spec, keys inserted in reverse order and lists turned into tuples."""
    if isinstance(value, dict):
        return {key: shuffled_with_tuples(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return tuple(shuffled_with_tuples(item) for item in value)
    return value


@given(specs)
def test_spec_hash_ignores_key_order_and_tuple_vs_list(spec: dict) -> None:
    digest = spec_hash(spec)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert spec_hash(shuffled_with_tuples(spec)) == digest


@given(specs, st.data())
def test_spec_hash_changes_when_a_value_changes(spec: dict, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(spec)))
    changed = {**spec, key: [spec[key]]}  # wrapping in a list always changes the JSON
    assert spec_hash(changed) != spec_hash(spec)


def test_spec_hash_is_stable_across_processes() -> None:
    # The hash is sha256 of compact sorted JSON: a change here breaks every cache on disk.
    expected = hashlib.sha256(b'{"a":"x","b":[1,2.5]}').hexdigest()[:16]
    assert spec_hash({"b": (1, 2.5), "a": "x"}) == expected == "66efddae6a975003"
    code = "from optiscope.store import spec_hash; print(spec_hash({'b': (1, 2.5), 'a': 'x'}))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert other.stdout.strip() == expected, other.stderr


def test_spec_hash_refuses_nan_and_foreign_types() -> None:
    with pytest.raises(StoreError, match=r"spec\.lr is nan"):
        spec_hash({"lr": float("nan")})
    with pytest.raises(StoreError, match="non-string key"):
        spec_hash({1: "x"})
    with pytest.raises(StoreError, match="type object"):
        spec_hash({"x": object()})


# -- manifest, lifecycle --------------------------------------------------------------------


def test_fresh_run_manifest_and_complete(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "run"
    run = RunDir.open(out, kind="paths", spec=SPEC, seeds={"torch": 0})
    assert (run.cached, run.resumed, run.status) == (False, False, "running")
    assert run.path == out and run.spec["opts"] == ["adam:lr=0.1", "sgd:lr=0.01"]
    run.device = "cuda:0"
    run.save_unit("adam-0", {"points": np.zeros((3, 2))}, meta={"opt": "adam"})
    run.write_table("paths", pd.DataFrame({"step": [0, 1], "loss": [2.0, 1.0]}))
    run.record_timing("compute", 1.25)
    run.set_info(n_runs=2)
    run.complete(best_loss=1.0)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == run.manifest
    assert manifest["status"] == "complete" and manifest["kind"] == "paths"
    assert manifest["spec_hash"] == spec_hash(SPEC) == run.spec_hash
    assert manifest["optiscope_version"] == optiscope.__version__
    assert manifest["versions"]["numpy"] == np.__version__
    assert manifest["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(manifest["versions"]) == {"python", "torch", "numpy", "optiscope", "platform"}
    assert manifest["device"] == "cuda:0" and manifest["seeds"] == {"torch": 0}
    assert manifest["timings"]["compute"] == 1.25 and manifest["timings"]["total"] >= 0
    # A complete run's unit caches are pruned: its tables hold the results.
    assert manifest["units"] == [] and manifest["units_pruned"] == 1 and manifest["n_runs"] == 2
    assert not (out / "units").exists()
    assert manifest["summary"] == {"best_loss": 1.0}
    sizes = {entry["path"]: entry["size"] for entry in manifest["files"]}
    assert list(sizes) == ["paths.parquet"]
    assert sizes == {p: (out / p).stat().st_size for p in sizes}
    assert manifest["created"].endswith("Z") and manifest["updated"] >= manifest["created"]


def test_unit_computes_once_then_reads_back_and_records_the_reuse(tmp_path: Path) -> None:
    calls = []

    def compute() -> tuple[dict[str, np.ndarray], dict[str, int]]:
        calls.append(1)
        return {"x": np.arange(4.0)}, {"n": 4}

    run = RunDir.open(tmp_path / "run", kind="paths", spec=SPEC)
    arrays, meta = run.unit("u0", compute)
    assert calls == [1] and meta == {"n": 4} and "reused_units" not in run.manifest
    resumed = RunDir.open(tmp_path / "run", kind="paths", spec=SPEC)  # still running: a resume
    again, meta = resumed.unit("u0", compute)
    assert calls == [1], "a finished unit is read back, not recomputed"
    np.testing.assert_array_equal(again["x"], arrays["x"])
    assert resumed.manifest["reused_units"] == ["u0"]
    kept, _ = resumed.unit("k0", compute, keep=True)
    assert (tmp_path / "run" / "data" / "k0.npz").is_file() and calls == [1, 1]
    with pytest.raises(StoreError, match="only a complete run's units are pruned"):
        resumed.prune_units()
    resumed.complete()
    assert not (tmp_path / "run" / "units").exists(), "caches pruned on completion"
    np.testing.assert_array_equal(resumed.load_kept("k0")[0]["x"], kept["x"])  # kept units stay


def test_complete_without_pruning_keeps_the_units(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path / "run", kind="paths", spec=SPEC)
    run.save_unit("u0", {"x": np.zeros(3)})
    run.complete(prune=False)
    assert run.manifest["units"] == ["u0"] and run.has_unit("u0")


def test_units_are_stored_compressed(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path / "run", kind="paths", spec=SPEC)
    path = run.save_unit("zeros", {"x": np.zeros(100_000)})
    assert path.stat().st_size < 100_000 * 8 / 50, "a zero array compresses by far more than 50x"


def test_units_roundtrip_and_validation(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path, kind="paths", spec=SPEC)
    arrays = {"points": np.arange(6.0).reshape(3, 2), "status": np.array(["converged"])}
    run.save_unit("adam_lr-0.1.block-3", arrays, meta={"steps": 3})
    loaded, meta = run.load_unit("adam_lr-0.1.block-3")
    assert meta == {"steps": 3} and loaded.keys() == arrays.keys()
    np.testing.assert_array_equal(loaded["points"], arrays["points"])
    np.testing.assert_array_equal(loaded["status"], arrays["status"])
    assert run.completed_units() == {"adam_lr-0.1.block-3"} and run.has_unit("adam_lr-0.1.block-3")
    for bad in ("a/b", "../x", "", "a b", ".."):
        with pytest.raises(StoreError, match="invalid unit id"):
            run.save_unit(bad, arrays)
    with pytest.raises(StoreError, match="dtype object"):
        run.save_unit("obj", {"x": np.array([{}, 1], dtype=object)})
    with pytest.raises(StoreError, match="cannot read unit"):
        run.load_unit("missing")


def test_files_tables_json_and_figures(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path, kind="report", spec={"a": 1})
    frame = pd.DataFrame({"opt": ["adam", "sgd"], "loss": [0.5, np.nan]})
    assert run.write_table("results", frame) == tmp_path / "results.parquet"
    pd.testing.assert_frame_equal(run.read_table("results"), frame)
    run.write_json("meta/info.json", {"k": np.int64(3)})
    assert run.read_json("meta/info.json") == {"k": 3}
    run.write_text("notes.txt", "ok")
    run.write_bytes("checkpoints/w.bin", b"\x01\x02")
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    for name in ("curve.png", "curve.svg", "curve.pdf"):
        assert run.save_figure(fig, name, dpi=50) == tmp_path / "figures" / name
    assert (tmp_path / "figures" / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "figures" / "curve.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in (tmp_path / "figures" / "curve.svg").read_bytes()
    with pytest.raises(StoreError, match="suffix"):
        run.save_figure(fig, "curve")
    for bad in ("/etc/x", "../x", "a/../../x", "manifest.json"):
        with pytest.raises(StoreError):
            run.write_text(bad, "no")
    listed = [entry["path"] for entry in run.manifest["files"]]
    assert listed == sorted(listed) and "figures/curve.pdf" in listed and "notes.txt" in listed


def test_context_manager_marks_failure_and_reopen_resumes(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RunDir.open(tmp_path, kind="paths", spec=SPEC) as run:
        run.save_unit("u1", {"x": np.ones(2)})
        raise RuntimeError("diverged badly")
    manifest = load_run(tmp_path).manifest
    assert manifest["status"] == "failed" and manifest["error"] == "RuntimeError: diverged badly"
    again = RunDir.open(tmp_path, kind="paths", spec=SPEC)
    assert again.resumed and again.status == "running" and "error" not in again.manifest
    assert again.completed_units() == {"u1"}


def test_unit_on_disk_but_not_in_manifest_counts_as_done(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path, kind="paths", spec=SPEC)
    run.save_unit("u1", {"x": np.ones(2)})
    # As if killed after the unit's atomic write but before the manifest update:
    manifest = run.manifest
    (tmp_path / "units" / "u1.npz").rename(tmp_path / "units" / "u2.npz")
    atomic_write_bytes(tmp_path / "units" / "u1.npz", (tmp_path / "units" / "u2.npz").read_bytes())
    atomic_write_bytes(tmp_path / "units" / ".u3.npz.x.optiscope-tmp", b"half")
    atomic_write_json(tmp_path / "manifest.json", manifest)
    again = RunDir.open(tmp_path, kind="paths", spec=SPEC)
    assert again.resumed and again.completed_units() == {"u1", "u2"}
    assert again.manifest["units"] == ["u1", "u2"]
    assert not list(tmp_path.rglob("*.optiscope-tmp"))  # swept on resume


# -- cache, force, refusals -----------------------------------------------------------------


def make_complete_run(out: Path) -> None:
    run = RunDir.open(out, kind="paths", spec=SPEC)
    run.save_unit("u1", {"x": np.ones(2)})
    run.write_table("t", pd.DataFrame({"a": [1]}))
    run.complete()


def test_cache_hit_changes_nothing(tmp_path: Path) -> None:
    make_complete_run(tmp_path)
    before = snapshot(tmp_path)
    run = RunDir.open(tmp_path, kind="paths", spec=dict(reversed(list(SPEC.items()))))
    assert run.cached and not run.resumed and run.status == "complete"
    assert snapshot(tmp_path) == before
    assert load_run(tmp_path).manifest == run.manifest and snapshot(tmp_path) == before


def test_force_recomputes_same_spec_from_scratch(tmp_path: Path) -> None:
    make_complete_run(tmp_path)
    run = RunDir.open(tmp_path, kind="paths", spec=SPEC, force=True)
    assert not run.cached and run.status == "running" and run.completed_units() == set()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_different_spec_is_refused_then_forced(tmp_path: Path) -> None:
    make_complete_run(tmp_path)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "old.png").write_bytes(b"png")
    (tmp_path / "user-notes.txt").write_text("mine")  # not listed in the manifest: kept
    other = {**SPEC, "steps": 200}
    before = snapshot(tmp_path)
    with pytest.raises(StoreError) as info:
        RunDir.open(tmp_path, kind="paths", spec=other)
    assert str(info.value) == (
        f"{tmp_path} already holds a different paths run (spec {spec_hash(SPEC)}); "
        "choose another --out or pass --force"
    )
    assert snapshot(tmp_path) == before
    run = RunDir.open(tmp_path, kind="paths", spec=other, force=True)
    assert run.spec_hash == spec_hash(other) and run.status == "running"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "user-notes.txt"]


def test_foreign_directory_is_refused_even_with_force(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    for force in (False, True):
        with pytest.raises(StoreError, match="is not empty and is not an optiscope run directory"):
            RunDir.open(tmp_path, kind="paths", spec=SPEC, force=force)
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.tex"]


def test_directory_with_only_a_leftover_temp_file_counts_as_empty(tmp_path: Path) -> None:
    (tmp_path / ".manifest.json.abc.optiscope-tmp").write_bytes(b"half a manifest")
    run = RunDir.open(tmp_path, kind="paths", spec=SPEC)
    assert run.status == "running" and [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_corrupt_manifest_and_missing_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="corrupt"):
        RunDir.open(tmp_path, kind="paths", spec=SPEC)
    (tmp_path / "manifest.json").write_text('{"kind": "paths"}')
    with pytest.raises(StoreError, match="corrupt"):
        load_run(tmp_path)
    with pytest.raises(StoreError, match="not an optiscope run directory"):
        load_run(tmp_path / "elsewhere")


def test_unusable_paths_are_store_errors(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(StoreError, match=r"file\.txt is not a directory"):
        RunDir.open(a_file, kind="paths", spec=SPEC)
    with pytest.raises(StoreError, match=r"cannot create run directory .*file\.txt/run: Not a dir"):
        RunDir.open(a_file / "run", kind="paths", spec=SPEC)
    if Path("/proc/self").exists():
        with pytest.raises(StoreError, match="/proc/optiscope-x"):
            RunDir.open("/proc/optiscope-x", kind="paths", spec=SPEC)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores modes")
def test_read_only_parent_is_a_store_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(StoreError, match="Permission denied"):
            RunDir.open(locked / "run", kind="paths", spec=SPEC)
    finally:
        locked.chmod(0o700)


def test_png_figures_are_stored_as_palette_images_that_read_back_the_same(tmp_path: Path) -> None:
    """The 256-colour palette moves a plot's colours by a few levels at most (mean < 2 of 255),
    keeps its size, and the file is smaller."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from PIL import Image

    figure = Figure(figsize=(4, 3))
    axes = figure.add_subplot()
    axes.fill_between([0, 1], [0, 1], color="#E69F00")
    axes.plot([0, 1], [1, 0], color="#0072B2", linewidth=3)
    axes.set_axis_off()
    run = RunDir.open(tmp_path / "r", kind="test", spec={"a": 1})
    run.save_figure(figure, "f.png", dpi=50)
    raw = io.BytesIO()
    figure.savefig(raw, format="png", dpi=50)
    stored = (tmp_path / "r" / "figures" / "f.png").read_bytes()
    with Image.open(io.BytesIO(stored)) as palette, Image.open(raw) as truecolour:
        assert palette.mode == "P" and truecolour.mode == "RGBA"
        assert palette.size == truecolour.size
        expected = np.asarray(truecolour.convert("RGBA")).astype(int)
        got = np.asarray(palette.convert("RGBA")).astype(int)
        assert len(np.unique(expected.reshape(-1, 4), axis=0)) > 256  # antialiased edges: lossy case
        error = np.abs(got - expected)
        assert error.mean() < 2 and error.max() <= 64  # colours move by a few levels at most
    assert len(stored) < raw.getbuffer().nbytes
