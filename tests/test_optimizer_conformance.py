"""Conformance battery: every registered optimizer, parametrised over the whole registry.

Each entry must lower a convex quadratic at its defaults, survive a state_dict round trip,
repeat its path under the same seed, and match its declared flags (element-wise, closure,
create_graph, matrix-only). Known exceptions are declared in
``optiscope.optimizers.metadata.CONFORMANCE_EXCEPTIONS`` with a reason; here they are only
checked to still be real.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable

import pytest
import torch

from optiscope.errors import IncompatibleOptimizerError
from optiscope.optimizers import OptimizerEntry, check_compatible, list_entries, metadata
from optiscope.seeding import seed_global_streams

ENTRIES = list_entries()
IDS = [entry.name for entry in ENTRIES]
LossFn = Callable[[torch.Tensor], torch.Tensor]


def quadratic(x: torch.Tensor) -> torch.Tensor:
    """0.5 (x^2 + 4 y^2) for each point in the last dimension."""
    return 0.5 * (x[..., 0] ** 2 + 4.0 * x[..., 1] ** 2)


def start_for(entry: OptimizerEntry) -> torch.Tensor:
    """One (1, 2) point, or a (2, 2) matrix of two points for matrix-only optimizers."""
    if entry.needs_matrix:
        return torch.tensor([[1.5, -1.2], [0.7, 0.9]], dtype=torch.float64)
    return torch.tensor([[1.5, -1.2]], dtype=torch.float64)


def run_path(
    entry: OptimizerEntry,
    x0: torch.Tensor,
    steps: int,
    loss_fn: LossFn = quadratic,
    *,
    optimizer_state: dict | None = None,
    create_graph: bool | None = None,
    use_closure: bool | None = None,
) -> tuple[torch.Tensor, torch.optim.Optimizer]:
    """The reference loop: gradient at the current point, then one step. Returns the
    ``(steps + 1, *x0.shape)`` points and the optimizer."""
    x = torch.nn.Parameter(x0.clone())
    optimizer = entry.factory([x])
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    graph = entry.needs_create_graph if create_graph is None else create_graph
    closure_wanted = entry.needs_closure if use_closure is None else use_closure

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(x).sum()
        loss.backward(create_graph=graph)
        return loss

    points = [x.detach().clone()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            closure()
            if closure_wanted:
                optimizer.step(closure)
            else:
                optimizer.step()
            points.append(x.detach().clone())
    return torch.stack(points), optimizer


def _runs(entry: OptimizerEntry) -> bool:
    """Whether the entry can take a few steps in the battery's loop."""
    try:
        seed_global_streams(0)
        run_path(entry, start_for(entry), 2)
    except Exception:
        return False
    return True


def _skip_if_declared_unrunnable(entry: OptimizerEntry) -> None:
    if entry.conformance_exception and not _runs(entry):
        pytest.skip(f"declared: {entry.conformance_exception}")


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_lowers_convex_quadratic_or_declares_why_not(entry: OptimizerEntry) -> None:
    seed_global_streams(0)
    try:
        points, _ = run_path(entry, start_for(entry), 20)
        initial, final = quadratic(points[0]).sum().item(), quadratic(points[-1]).sum().item()
        lowered = final < initial
        detail = f"loss {initial:.6g} -> {final:.6g} in 20 steps"
    except Exception as error:
        lowered, detail = False, f"raised {error!r}"
    if entry.name not in metadata.CONFORMANCE_EXCEPTIONS:
        assert lowered, f"{entry.name}: {detail}"
    else:
        assert not lowered, f"{entry.name} now passes ({detail}); remove its declared exception"


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_state_dict_round_trip_continues_the_same_path(entry: OptimizerEntry) -> None:
    _skip_if_declared_unrunnable(entry)
    x0 = start_for(entry)
    seed_global_streams(0)
    whole, _ = run_path(entry, x0, 4)
    seed_global_streams(0)
    first, optimizer = run_path(entry, x0, 2)
    saved = copy.deepcopy(optimizer.state_dict())
    try:
        second, _ = run_path(entry, first[-1], 2, optimizer_state=saved)
    except RuntimeError as error:
        assert entry.name in metadata.RESUME_EXCEPTIONS, f"{entry.name}: {error!r}"
        return
    resumed = torch.cat([first, second[1:]])
    difference = (resumed - whole).abs().max().item()
    if entry.name in metadata.RESUME_EXCEPTIONS:
        assert difference > 1e-11, f"{entry.name} now resumes exactly; remove its exception"
        return
    # torch's load_state_dict casts float32 scalar state (NAdam's mu_product) to the
    # parameter's dtype, so later products round differently: allow that, nothing more.
    assert difference <= 1e-11, f"{entry.name}: resumed path differs by {difference:.3g}"


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_same_seed_gives_the_same_path(entry: OptimizerEntry) -> None:
    _skip_if_declared_unrunnable(entry)
    seed_global_streams(0)
    first, _ = run_path(entry, start_for(entry), 4)
    seed_global_streams(0)
    second, _ = run_path(entry, start_for(entry), 4)
    assert torch.equal(first, second), f"{entry.name}: two seeded runs differ"


def _test_functions() -> list[LossFn]:
    generator = torch.Generator().manual_seed(1)
    scale = torch.rand(2, generator=generator, dtype=torch.float64) + 0.5
    shift = torch.rand(2, generator=generator, dtype=torch.float64)

    def bowl(x: torch.Tensor) -> torch.Tensor:
        return (scale * x**2).sum(-1)

    def wavy(x: torch.Tensor) -> torch.Tensor:
        ripple = torch.sin(3 * x[..., 0] + shift[0]) * torch.cos(2 * x[..., 1])
        return bowl(x) + ripple + x[..., 0] * x[..., 1]

    def valley(x: torch.Tensor) -> torch.Tensor:
        return torch.log1p((x[..., 0] - shift[0]) ** 2 + 10 * (x[..., 1] - x[..., 0] ** 2) ** 2)

    def rosenbrock(x: torch.Tensor) -> torch.Tensor:
        # Steep curved valley: large gradients against the weights trigger projection-type
        # couplings (SGDP) that the gentler functions never reach.
        return (1 - x[..., 0]) ** 2 + 100 * (x[..., 1] - x[..., 0] ** 2) ** 2

    return [bowl, wavy, valley, rosenbrock]


def batched_vs_separate(entry: OptimizerEntry, steps: int = 10) -> float:
    """Largest difference between 4 start points stacked in one (4, 2) tensor and the same
    points run one at a time as (1, 2) tensors, over four seeded test functions."""
    generator = torch.Generator().manual_seed(2)
    largest = 0.0
    for loss_fn in _test_functions():
        starts = torch.randn(4, 2, generator=generator, dtype=torch.float64)
        try:
            seed_global_streams(0)
            batched, _ = run_path(entry, starts, steps, loss_fn)
            separate = []
            for row in range(starts.shape[0]):
                seed_global_streams(0)
                separate.append(run_path(entry, starts[row : row + 1], steps, loss_fn)[0])
        except ArithmeticError:
            continue  # the library itself fails on this function (avagrad divides by zero on Rosenbrock)
        together = torch.cat(separate, dim=1)
        same = (batched == together) | (
            batched.isnan() & together.isnan()
        )  # a shared divergence is agreement
        difference = torch.where(same, 0.0, (batched - together).abs()).nan_to_num(nan=float("inf"))
        largest = max(largest, difference.max().item())
    return largest


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_elementwise_declaration_holds_both_ways(entry: OptimizerEntry) -> None:
    if entry.needs_matrix:
        assert not entry.elementwise, f"{entry.name}: matrix-only cannot be element-wise"
        pytest.skip("matrix-only: a (1, 2) point is refused, so batched-vs-separate is moot")
    _skip_if_declared_unrunnable(entry)
    difference = batched_vs_separate(entry, steps=10)
    if not entry.elementwise and difference <= 1e-12:
        # Some optimizers couple rows only after a warm-up (adanorm, swats, ...).
        difference = batched_vs_separate(entry, steps=60)
    if entry.elementwise:
        assert difference <= 1e-12, f"{entry.name}: batched vs separate differ by {difference}"
    else:
        assert difference > 1e-12, (
            f"{entry.name}: batched equals separate (max diff {difference}); declare it element-wise"
        )


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_matrix_only_entries_refuse_points(entry: OptimizerEntry) -> None:
    if entry.needs_matrix:
        for shape in [(2,), (1, 2), (5, 1)]:
            with pytest.raises(IncompatibleOptimizerError, match=entry.name):
                check_compatible(entry, shape)
    else:
        check_compatible(entry, (2,))
        check_compatible(entry, (1, 2))
    check_compatible(entry, (3, 4))


CLOSURE_ENTRIES = [entry for entry in ENTRIES if entry.needs_closure]
GRAPH_ENTRIES = [entry for entry in ENTRIES if entry.needs_create_graph]


@pytest.mark.parametrize("entry", CLOSURE_ENTRIES, ids=[e.name for e in CLOSURE_ENTRIES])
def test_declared_closure_is_really_needed(entry: OptimizerEntry) -> None:
    with pytest.raises(Exception):  # noqa: B017 - each library raises its own type
        run_path(entry, start_for(entry), 2, use_closure=False)


@pytest.mark.parametrize("entry", GRAPH_ENTRIES, ids=[e.name for e in GRAPH_ENTRIES])
def test_declared_create_graph_is_really_needed(entry: OptimizerEntry) -> None:
    with pytest.raises(RuntimeError):
        run_path(entry, start_for(entry), 2, create_graph=False)


def test_flags_and_exceptions_name_registered_entries() -> None:
    names = {entry.name for entry in ENTRIES}
    declared = (
        metadata.ELEMENTWISE
        | metadata.NEEDS_CLOSURE
        | metadata.NEEDS_CREATE_GRAPH
        | metadata.NEEDS_MATRIX
        | set(metadata.CONFORMANCE_EXCEPTIONS)
        | set(metadata.RESUME_EXCEPTIONS)
        | set(metadata.DEFAULT_OVERRIDES)
        | set(metadata.WRAPPERS)
    )
    assert declared <= names, f"declared but not registered: {sorted(declared - names)}"
    for members in metadata.TAGS.values():
        assert members <= names, f"tagged but not registered: {sorted(members - names)}"


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_describe_is_json_and_lr_default_is_set_or_explained(entry: OptimizerEntry) -> None:
    described = json.loads(json.dumps(entry.describe()))
    assert described["name"] == entry.name
    assert described["source"] in {"torch", "pytorch_optimizer", "optiscope"}
    assert entry.name == entry.name.lower()
    if entry.defaults.get("lr", 0.0) is None or "lr" not in entry.defaults:
        assert "lr" in entry.notes, f"{entry.name}: no lr default and no note saying why"
    if entry.conformance_exception is not None:
        assert len(entry.conformance_exception) > 20, entry.name
