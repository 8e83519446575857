"""The weight-path recorder: which steps it keeps, what it keeps, the budget, and storing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from optiscope.errors import SpecError
from optiscope.nets.recorder import (
    PathRecorder,
    flatten_parameters,
    load_path,
    parameter_layout,
    record,
    snapshot_interval,
)
from optiscope.store import load_run


def _tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def _sgd_step(model: nn.Module, lr: float = 0.1) -> None:
    """One plain gradient step written out by hand on a fixed batch."""
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, generator=generator), torch.randint(0, 2, (8,), generator=generator)
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter -= lr * parameter.grad


def test_flatten_and_layout_follow_named_parameters() -> None:
    model = _tiny_model()
    flat = flatten_parameters(model)
    assert flat.dtype == torch.float32 and flat.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    assert parameter_layout(model) == [
        ("0.weight", (4, 3)),
        ("0.bias", (4,)),
        ("2.weight", (2, 4)),
        ("2.bias", (2,)),
    ]
    assert torch.equal(flat[:12], model[0].weight.detach().reshape(-1))
    assert torch.equal(flat[-2:], model[2].bias.detach())
    flat[0] = 99.0
    assert model[0].weight[0, 0].item() != 99.0, "flatten_parameters must return a copy"


@pytest.mark.parametrize(("total", "every"), [(10, 3), (9, 3), (7, 1), (5, 10), (0, 4)])
def test_snapshot_count_and_steps(total: int, every: int) -> None:
    recorder = PathRecorder(_tiny_model(), every=every)
    recorder.start()
    for step in range(1, total + 1):
        recorder.step(step)
    recorder.finish(total)
    expected = list(range(0, total + 1, every))
    if expected[-1] != total:
        expected.append(total)
    assert recorder.steps.tolist() == expected
    assert recorder.steps.dtype == np.int64
    assert recorder.snapshots.shape == (len(expected), recorder.n_params)
    assert len(expected) == total // every + 1 + (total % every != 0)


def test_snapshots_equal_the_weights_of_a_hand_trained_model() -> None:
    model = _tiny_model()
    recorder = PathRecorder(model, every=2)
    recorder.start()
    truth = {0: flatten_parameters(model).numpy()}
    for step in range(1, 6):
        _sgd_step(model)
        truth[step] = flatten_parameters(model).numpy()
        recorder.step()
    recorder.finish()
    assert recorder.steps.tolist() == [0, 2, 4, 5]
    for row, step in zip(recorder.snapshots, recorder.steps, strict=True):
        np.testing.assert_array_equal(row, truth[int(step)], err_msg=f"snapshot of step {step}")
    assert not np.array_equal(truth[0], truth[5]), "the weights must actually move"


def test_every_defaults_from_total_steps_and_budget() -> None:
    model = _tiny_model()  # 26 parameters = 104 bytes per snapshot
    assert PathRecorder(model, total_steps=100).every == 1
    recorder = PathRecorder(model, total_steps=100, budget_bytes=104 * 12)
    assert recorder.every == snapshot_interval(26, 100, 104 * 12) == 10


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 10**7),
    total=st.integers(0, 10**6),
    budget=st.integers(1, 2**31),
)
def test_snapshot_interval_is_the_smallest_that_fits(n: int, total: int, budget: int) -> None:
    if 2 * n * 4 > budget:
        with pytest.raises(SpecError, match="budget"):
            snapshot_interval(n, total, budget)
        return
    k = snapshot_interval(n, total, budget)
    assert k >= 1
    assert (total // k + 2) * n * 4 <= budget, f"k={k} overflows: {(total // k + 2) * n * 4} > {budget}"
    if k > 1:
        assert (total // (k - 1) + 2) * n * 4 > budget, f"k-1={k - 1} also fits"


def test_snapshot_interval_is_every_step_for_small_models() -> None:
    assert snapshot_interval(10_000, 5_000) == 1


def test_exceeding_the_budget_raises_spec_error() -> None:
    recorder = PathRecorder(_tiny_model(), every=1, budget_bytes=104 * 3)
    recorder.start()
    recorder.step(1)
    recorder.step(2)
    with pytest.raises(SpecError, match="raise every"):
        recorder.step(3)
    assert recorder.steps.tolist() == [0, 1, 2]
    with pytest.raises(SpecError, match="raise every"):
        PathRecorder(_tiny_model(), every=1, total_steps=10, budget_bytes=104 * 3)


def test_misuse_raises_spec_error() -> None:
    recorder = PathRecorder(_tiny_model(), every=2)
    with pytest.raises(SpecError, match="start"):
        recorder.step(1)
    recorder.start()
    recorder.step(4)
    with pytest.raises(SpecError, match="before"):
        recorder.finish(3)
    with pytest.raises(SpecError):
        PathRecorder(_tiny_model(), every=0)


def test_record_stores_the_path_in_a_complete_run(tmp_path: Path) -> None:
    model = _tiny_model()
    with record(model, every=3, out=tmp_path / "run") as rec:
        for _ in range(7):
            _sgd_step(model)
            rec.step()
    run = load_run(tmp_path / "run")
    assert run.status == "complete"
    assert (tmp_path / "run" / "path.npz").is_file()
    snapshots, steps, meta = load_path(run)
    assert steps.tolist() == [0, 3, 6, 7]
    np.testing.assert_array_equal(snapshots, rec.snapshots)
    np.testing.assert_array_equal(snapshots[-1], flatten_parameters(model).numpy())
    assert meta["layout"][0] == ["0.weight", [4, 3]]
    assert run.spec["model"] == "Sequential" and run.spec["every"] == 3


def test_record_keeps_the_path_and_fails_the_run_on_an_exception(tmp_path: Path) -> None:
    model = _tiny_model()
    with pytest.raises(RuntimeError, match="boom"), record(model, every=2, out=tmp_path / "run") as rec:
        for step in range(1, 6):
            _sgd_step(model)
            rec.step()
            if step == 5:
                raise RuntimeError("boom")
    run = load_run(tmp_path / "run")
    assert run.status == "failed"
    assert "boom" in run.manifest["error"]
    _, steps, _ = load_path(run)
    assert steps.tolist() == [0, 2, 4, 5]


def test_record_without_out_keeps_the_path_in_memory(tmp_path: Path) -> None:
    model = _tiny_model()
    with record(model, every=1) as rec:
        _sgd_step(model)
        rec.step()
    assert rec.steps.tolist() == [0, 1]
    assert list(tmp_path.iterdir()) == []
