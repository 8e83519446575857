"""A paths study at scale: every run's outcome stored, full paths only for the kept starts.

The reference is the in-memory engine (:func:`optiscope.paths.run` over all starts at once), not
the study's own code: the study computes in chunks and writes its tables piece by piece, and must
end with the same finals, statuses, steps, steps to tolerance and basins. Memory that does not
grow with the number of runs is measured by ``benchmarks/bench_paths_scale.py``, not here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import optiscope.experiments.paths_study as paths_study
from optiscope.cli import app
from optiscope.errors import SpecError, StoreError
from optiscope.experiments.paths_render import load_basins, load_paths
from optiscope.experiments.paths_study import KEEP_ALL_UP_TO, PathsConfig, kept_starts, run_paths_study
from optiscope.paths import PathSet, basin_maps, run, spread_starts, start_grid
from optiscope.store import RunDir, load_run
from optiscope.store.table_writer import frame_schema
from optiscope.surfaces import get as get_surface

SPECS = ("sgd:lr=0.01", "adam:lr=0.1")
GRID, STEPS, TOL, LOSS_TOLERANCE = 7, 80, 1e-6, 1e-3
# Noisy gradients: the noise is drawn per (step, run id), so chunking must not change it.
ENGINE = {"tol": TOL, "grad_noise": 0.2, "seed": 3}
# 3 x 3 of the 7 x 7 grid: rows and columns 0, 3, 6.
SAMPLE = np.array([0, 3, 6, 21, 24, 27, 42, 45, 48])


def study(keep_paths: str | None, **changes: object) -> PathsConfig:
    fields = {"surface": "himmelblau", "optimizers": SPECS, "start_grid": GRID, "steps": STEPS, "chunk": 10,
              "loss_tolerance": LOSS_TOLERANCE, "keep_paths": keep_paths, **ENGINE, **changes}  # fmt: skip
    return PathsConfig.build(**fields)


@pytest.fixture(scope="module")
def reference() -> PathSet:
    surface = get_surface("himmelblau")
    _, _, starts = start_grid(surface, GRID)
    return run(surface, list(SPECS), starts, steps=STEPS, **ENGINE)


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same study kept three ways (5 chunks of 10 starts per config, the last one short)."""
    root = tmp_path_factory.mktemp("scale")
    outs = {}
    for keep in ("all", "sample:9", "none"):
        outs[keep] = root / keep.replace(":", "-")
        run_paths_study(study(keep), outs[keep])
    return outs


# -- keep_paths: syntax, default rule -------------------------------------------------------------


@given(st.integers(min_value=1, max_value=999_999_999))
def test_sample_n_is_accepted_and_stored_as_written(count: int) -> None:
    config = study(f"sample:{count}")
    assert config.keep_paths == f"sample:{count}"
    assert PathsConfig(**config.model_dump(mode="json")) == config


@given(st.text(max_size=14))
def test_anything_but_all_none_or_sample_n_is_refused(text: str) -> None:
    valid = re.fullmatch(r"all|none|sample:[1-9][0-9]{0,8}", text) is not None
    if valid:
        assert study(text).keep_paths == text
    else:
        with pytest.raises(SpecError, match="keep_paths"):
            study(text)


@pytest.mark.parametrize(
    "text",
    ["sample:0", "sample:-3", "sample:", "sample:1.5", "sample:07", "Sample:4", "all ", "sample: 4", "some"],
)
def test_bad_keep_paths_values_are_refused(text: str) -> None:
    with pytest.raises(SpecError, match="keep_paths"):
        study(text)


def test_the_default_keeps_every_path_up_to_400_starts_per_config_then_a_sample_of_64() -> None:
    assert KEEP_ALL_UP_TO == 400
    assert study(None, start_grid=20).keep_paths == "all"  # 400 starts
    assert study(None, start_grid=21).keep_paths == "sample:64"  # 441 starts
    explicit = {"start_grid": None, "starts": tuple((float(i), 0.0) for i in range(400))}
    assert study(None, **explicit).keep_paths == "all"
    explicit["starts"] = (*explicit["starts"], (0.0, 1.0))
    assert study(None, **explicit).keep_paths == "sample:64"
    assert study(None, start_grid=None).keep_paths == "all"  # the surface's own start
    # The rule's outcome is in the stored spec, and the spec rebuilds the same config.
    config = study(None, start_grid=300)
    assert config.model_dump(mode="json")["keep_paths"] == "sample:64"
    assert PathsConfig(**config.model_dump(mode="json")) == config


def test_a_sample_is_an_evenly_spaced_sub_grid_or_evenly_spaced_along_a_list() -> None:
    np.testing.assert_array_equal(spread_starts(49, 9, grid=7), SAMPLE)
    # 300 x 300, 64: rows and columns round(k * 299 / 7), k = 0..7.
    axis = np.round(np.arange(8) * 299 / 7).astype(int)
    np.testing.assert_array_equal(spread_starts(90_000, 64, grid=300), (axis[:, None] * 300 + axis).ravel())
    assert spread_starts(49, 12, grid=7).size == 12  # 3 rows x 4 columns
    np.testing.assert_array_equal(spread_starts(49, 1000, grid=7), np.arange(49))
    np.testing.assert_array_equal(spread_starts(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(kept_starts(study("sample:9"), GRID**2), SAMPLE)
    with pytest.raises(SpecError, match="grid"):
        spread_starts(50, 4, grid=7)


# -- the stored tables equal the in-memory reference ---------------------------------------------


def test_every_run_is_stored_with_the_reference_finals_statuses_and_steps(studies, reference) -> None:
    surface = get_surface("himmelblau")
    runs = pd.read_parquet(studies["sample:9"] / "runs.parquet")
    assert len(runs) == reference.n_runs == 2 * GRID**2
    np.testing.assert_array_equal(runs["run"], np.arange(reference.n_runs))
    np.testing.assert_array_equal(runs["steps"], reference.n_steps, err_msg="steps taken differ")
    assert runs["status"].astype(str).tolist() == reference.status
    np.testing.assert_array_equal(runs[["final_x", "final_y"]].to_numpy(), reference.final_points)
    np.testing.assert_array_equal(runs["final_loss"], reference.final_losses)
    np.testing.assert_array_equal(runs[["start_x", "start_y"]].to_numpy(), np.tile(reference.starts, (2, 1)))
    reached = reference.steps_to_reach(surface.minimum_value + LOSS_TOLERANCE)
    stored = runs["steps_to_tolerance"].to_numpy(dtype=float, na_value=-1.0)
    np.testing.assert_array_equal(stored, reached)
    assert (reached >= 0).any() and (reached < 0).any(), (
        "the check needs runs that reach and runs that do not"
    )
    for keep in ("all", "none"):
        other = pd.read_parquet(studies[keep] / "runs.parquet")
        pd.testing.assert_frame_equal(other, runs, check_exact=True, obj=f"runs of keep={keep} vs sample:9")


def test_the_kept_paths_are_exactly_the_sampled_starts_full_paths(studies, reference) -> None:
    kept = load_paths(load_run(studies["sample:9"]))
    expected = reference.subset(SAMPLE)
    assert kept.info["start_indices"] == SAMPLE.tolist() == expected.info["start_indices"]
    assert kept.specs == expected.specs and kept.n_runs == 2 * len(SAMPLE)
    np.testing.assert_array_equal(kept.starts, expected.starts)
    np.testing.assert_array_equal(kept.n_steps, expected.n_steps)
    assert kept.status == expected.status
    # Stored in float32: each value is the reference's, rounded once.
    for name in ("points", "losses", "grad_norms"):
        want = getattr(expected, name).astype(np.float32).astype(np.float64)
        np.testing.assert_array_equal(getattr(kept, name), want, err_msg=f"kept {name} differ")
    stored = pd.read_parquet(studies["sample:9"] / "paths.parquet")
    assert sorted(set(stored["run"])) == sorted((np.arange(2)[:, None] * GRID**2 + SAMPLE).ravel().tolist())
    assert len(stored) == int((expected.n_steps + 1).sum())


def test_keeping_every_path_stores_them_at_the_engine_precision(studies, reference) -> None:
    kept = load_paths(load_run(studies["all"]))
    assert "start_indices" not in kept.info
    for name in ("points", "losses", "grad_norms"):
        np.testing.assert_array_equal(getattr(kept, name), getattr(reference, name), err_msg=name)


def test_the_basins_are_those_of_the_in_memory_computation(studies, reference) -> None:
    surface = get_surface("himmelblau")
    xs, ys, _ = start_grid(surface, GRID)
    expected = basin_maps(reference, surface, xs, ys)
    assert {int(label) for m in expected for label in np.unique(m.basin)} >= {0, 1, 2, 3}
    for keep, folder in studies.items():
        stored = load_basins(load_run(folder), surface)
        assert [m.label for m in stored] == [m.label for m in expected]
        for got, want in zip(stored, expected, strict=True):
            np.testing.assert_array_equal(
                got.basin, want.basin, err_msg=f"basins of {got.label}, keep={keep}"
            )
            np.testing.assert_array_equal(got.steps, want.steps)
            assert got.radius == want.radius


def test_the_tables_are_float32_and_dictionary_encoded_one_row_group_per_unit(studies) -> None:
    dictionary = pa.dictionary(pa.int32(), pa.string())
    runs = pq.read_schema(studies["sample:9"] / "runs.parquet")
    paths = pq.read_schema(studies["sample:9"] / "paths.parquet")
    expected_runs = {"run": pa.int64(), "optimizer": dictionary, "spec": dictionary, "status": dictionary,
                     "start_x": pa.float64(), "start_y": pa.float64(), "final_x": pa.float64(),
                     "final_y": pa.float64(), "final_loss": pa.float64(), "steps": pa.int64(),
                     "steps_to_tolerance": pa.int64()}  # fmt: skip
    assert {name: runs.field(name).type for name in expected_runs} == expected_runs
    expected_paths = {"run": pa.int64(), "optimizer": dictionary, "spec": dictionary, "step": pa.int32(),
                      "x": pa.float32(), "y": pa.float32(), "loss": pa.float32(),
                      "grad_norm": pa.float32()}  # fmt: skip
    assert {name: paths.field(name).type for name in expected_paths} == expected_paths
    assert pq.read_schema(studies["all"] / "paths.parquet").field("x").type == pa.float64()
    assert pq.ParquetFile(studies["sample:9"] / "runs.parquet").metadata.num_row_groups == 2 * 5
    frame = pd.read_parquet(studies["sample:9"] / "runs.parquet")
    assert frame["spec"].cat.categories.tolist() == list(SPECS)
    assert str(frame["steps_to_tolerance"].dtype) == "Int64"


def test_keeping_no_paths_stores_every_outcome_and_draws_the_basins_only(studies) -> None:
    folder = studies["none"]
    assert pd.read_parquet(folder / "paths.parquet").empty
    kept = load_paths(load_run(folder))
    assert kept.n_runs == 0 and kept.specs == list(SPECS)
    assert sorted(path.name for path in (folder / "figures").iterdir()) == ["basins.png"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["summary"]["paths_kept"] == 0 and manifest["summary"]["runs"] == 2 * GRID**2
    listed = {entry["path"] for entry in manifest["files"]}
    assert {"runs.parquet", "paths.parquet", "basins.parquet"} <= listed


def test_paths_of_different_starts_per_config_are_refused(reference) -> None:
    long, runs = reference.to_frame(), reference.runs_frame()
    uneven = long[long["run"].isin([0, 1, GRID**2 + 2])]
    with pytest.raises(ValueError, match="same starts"):
        PathSet.from_frames(uneven, runs, surface="himmelblau", steps=STEPS)


def test_a_table_written_piece_by_piece_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    run_dir = RunDir.open(tmp_path / "run", kind="paths", spec={"what": "writer"})
    pieces = [
        pd.DataFrame({"run": np.arange(3) + 3 * k, "loss": np.full(3, k, np.float32)}) for k in range(2)
    ]
    with run_dir.table_writer("runs", frame_schema(pieces[0])) as writer:
        for piece in pieces:
            writer.write(piece)
        assert not (tmp_path / "run" / "runs.parquet").exists(), "nothing shows before the writer ends"
    written = pd.read_parquet(tmp_path / "run" / "runs.parquet")
    pd.testing.assert_frame_equal(written, pd.concat(pieces, ignore_index=True))
    listed = {entry["path"]: entry["size"] for entry in run_dir.manifest["files"]}
    assert listed["runs.parquet"] == (tmp_path / "run" / "runs.parquet").stat().st_size
    with pytest.raises(KeyboardInterrupt), run_dir.table_writer("runs", frame_schema(pieces[0])) as writer:
        writer.write(pieces[1])
        raise KeyboardInterrupt
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "run" / "runs.parquet"), written)
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["manifest.json", "runs.parquet"]
    with (
        pytest.raises(StoreError, match="do not fit"),
        run_dir.table_writer("other", frame_schema(pieces[0])) as out,
    ):
        out.write(pd.DataFrame({"run": ["a"], "loss": [1.0]}))
    assert not (tmp_path / "run" / "other.parquet").exists()


# -- resume ---------------------------------------------------------------------------------------


def test_a_killed_study_resumes_without_redoing_units_and_equals_an_uninterrupted_one(
    studies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run_paths_study(study("sample:9"), killed, progress=stop_after_three)
    assert sorted(path.name for path in (killed / "units").iterdir()) == [
        f"config000-chunk000{number}.npz" for number in range(3)
    ]
    assert not list(killed.glob("*.parquet")), "a table appears only when every unit is in"
    assert not [path for path in killed.rglob("*") if "tmp" in path.name]

    computed = []
    real_run_block = paths_study.run_block

    def counting_run_block(*args, **kwargs):  # type: ignore[no-untyped-def]
        computed.append(kwargs["run_ids"][0])
        return real_run_block(*args, **kwargs)

    monkeypatch.setattr(paths_study, "run_block", counting_run_block)
    resumed = run_paths_study(study("sample:9"), killed)
    assert not resumed.cached and resumed.run_dir.resumed
    assert computed == [30, 40, *range(GRID**2, 2 * GRID**2, 10)], "only the unfinished units run"
    for name in ("runs", "paths", "basins"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(killed / f"{name}.parquet"),
            pd.read_parquet(studies["sample:9"] / f"{name}.parquet"),
            check_exact=True,
            obj=f"{name} resumed vs uninterrupted",
        )


# -- the command line ------------------------------------------------------------------------------


def test_the_paths_command_takes_keep_paths(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["paths", "himmelblau", "--opt", "sgd:lr=0.01", "--starts", "5x5", "--steps", "20"]
    result = runner.invoke(app, [*args, "--keep-paths", "sample:4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["spec"]["keep_paths"] == "sample:4"
    assert sorted(set(pd.read_parquet(out / "paths.parquet")["run"])) == [0, 4, 20, 24]  # the corners
    assert len(pd.read_parquet(out / "runs.parquet")) == 25
    bad = runner.invoke(app, [*args, "--keep-paths", "sample:0", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "keep_paths" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
