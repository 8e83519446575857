"""The classes-first cross-entropy of the first-layer engine against torch's own loss and argmax."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from optiscope.landscape.classes_first import cross_entropy_classes_first, is_plain_cross_entropy, targets_fit
from optiscope.landscape.directions_base import Directions
from optiscope.landscape.evaluate import evaluate
from optiscope.landscape.reference import evaluate_points_loop
from optiscope.landscape.workspace import Workspace


@settings(max_examples=60, deadline=None)
@given(
    points=st.integers(1, 4),
    classes=st.integers(2, 6),
    samples=st.integers(1, 9),
    levels=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_loss_and_correct_equal_torch_per_point(
    points: int, classes: int, samples: int, levels: int, seed: int
) -> None:
    """Logits drawn from a few integer levels tie often; argmax's first-maximum rule must hold."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randint(0, levels, (points, classes, samples), generator=generator).double()
    targets = torch.randint(0, classes, (samples,), generator=generator)
    loss, correct = cross_entropy_classes_first(logits, targets)
    for g in range(points):
        per_sample = logits[g].T  # (S, C), the layout F.cross_entropy and argmax see elsewhere
        assert float(loss[g]) == pytest.approx(float(F.cross_entropy(per_sample, targets)), rel=1e-12)
        assert int(correct[g]) == int((per_sample.argmax(dim=1) == targets).sum())


@settings(max_examples=40, deadline=None)
@given(
    points=st.integers(1, 4),
    classes=st.integers(2, 12),
    samples=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_continuous_logits_take_the_shared_maximum_and_still_equal_torch(
    points: int, classes: int, samples: int, seed: int
) -> None:
    """Without ties the correct count comes from the target's logit reaching the maximum."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(points, classes, samples, generator=generator, dtype=torch.float64) * 30
    targets = torch.randint(0, classes, (samples,), generator=generator)
    loss, correct = cross_entropy_classes_first(logits, targets)
    per_point = logits.transpose(1, 2)
    expected = torch.stack([F.cross_entropy(z, targets) for z in per_point])
    # a loss near zero (a confident right answer) differs from torch by rounding: absolute 1e-12
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    assert correct.tolist() == [int((z.argmax(dim=1) == targets).sum()) for z in per_point]


def test_nan_and_infinite_logits_count_and_lose_as_torch_does() -> None:
    logits = torch.tensor([[[0.0, float("nan"), 1.0], [2.0, 0.0, float("inf")], [1.0, 3.0, 0.0]]])
    targets = torch.tensor([1, 0, 0])  # the NaN sits on a target: argmax counts it right
    loss, correct = cross_entropy_classes_first(logits, targets)
    per_sample = logits[0].T
    assert torch.isnan(loss[0]) and torch.isnan(F.cross_entropy(per_sample, targets))
    assert int(correct[0]) == int((per_sample.argmax(dim=1) == targets).sum())


def test_ignored_or_out_of_range_targets_leave_the_general_path_in_charge() -> None:
    assert not targets_fit(torch.tensor([0, 1, -100, 2]), 3)
    assert not targets_fit(torch.tensor([0, 1, 3, 2]), 3)
    assert not targets_fit(torch.tensor([0, 1, 1, 2]), 3, ignore_index=1)
    assert not targets_fit(torch.tensor([[0, 1]]), 3)  # not 1-D
    assert not targets_fit(torch.tensor([0.0, 1.0]), 3)  # probabilities, not labels
    assert not targets_fit(torch.tensor([], dtype=torch.int64), 3)
    assert targets_fit(torch.tensor([0, 1, 1, 2]), 3)


def test_only_the_plain_mean_cross_entropy_qualifies() -> None:
    class Subclassed(nn.CrossEntropyLoss):
        pass

    assert is_plain_cross_entropy(F.cross_entropy) and is_plain_cross_entropy(nn.CrossEntropyLoss())
    refused = [
        nn.CrossEntropyLoss(weight=torch.ones(3)),
        nn.CrossEntropyLoss(label_smoothing=0.1),
        nn.CrossEntropyLoss(reduction="sum"),
        Subclassed(),
        lambda logits, y: F.cross_entropy(logits, y),
        F.nll_loss,
    ]
    assert not any(is_plain_cross_entropy(loss) for loss in refused)


def test_workspace_reuses_memory_and_grows_on_demand() -> None:
    space, like = Workspace(), torch.zeros(1)
    first = space.take("a", (2, 3), like)
    again = space.take("a", (3, 2), like)
    assert again.data_ptr() == first.data_ptr() and again.shape == (3, 2)
    bigger = space.take("a", (4, 4), like)
    assert bigger.shape == (4, 4) and bigger.is_contiguous()
    assert space.take("b", (2,), like.double()).dtype == torch.float64


def _directions(model: nn.Module, seed: int = 0) -> Directions:
    generator = torch.Generator().manual_seed(seed)
    vectors = tuple(
        {
            name: 0.3 * torch.randn(p.shape, generator=generator, dtype=p.dtype)
            for name, p in model.named_parameters()
        }
        for _ in range(2)
    )
    return Directions(vectors, kind="custom", meta={"seed": seed})


@pytest.mark.parametrize(
    "build",
    [
        lambda: nn.Sequential(
            nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Tanh()
        ),  # act after the last Linear
        lambda: nn.Linear(6, 4),  # no Linear left after the first one
        lambda: nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 4, bias=False)),
    ],
)
@pytest.mark.parametrize(
    "loss_fn", [nn.CrossEntropyLoss(), nn.CrossEntropyLoss(label_smoothing=0.2)], ids=["plain", "smoothed"]
)
def test_first_layer_engine_layouts_equal_the_loop(build: object, loss_fn: nn.Module) -> None:
    torch.manual_seed(0)
    model = build().double()  # type: ignore[operator]
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(23, 6, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 4, (23,), generator=generator)
    data = [(x[:10], y[:10]), (x[10:], y[10:])]
    directions = _directions(model)
    axis = np.linspace(-1.0, 1.0, 4)
    grid = evaluate(
        model, loss_fn, data, directions, axis, axis, engine="first_layer", memory_budget_bytes=4_000
    )
    coords = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    loss, accuracy = evaluate_points_loop(model, loss_fn, data, directions, coords)
    np.testing.assert_allclose(grid.loss.ravel(), loss, rtol=1e-10)
    np.testing.assert_array_equal(grid.accuracy.ravel(), accuracy)
