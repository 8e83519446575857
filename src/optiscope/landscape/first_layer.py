"""The ``first_layer`` grid engine: three products of the input layer serve the whole grid.

When the input reaches one affine layer (``Linear`` or ``ConvNd``) only through fixed,
parameter-free steps (``Flatten``, zero/constant padding, ...), that layer is linear in its
weights: ``layer(X; W + a U + b V) = A + a B + b C`` with ``A = layer(X; W)``, ``B = layer(X; U)``,
``C = layer(X; V)`` (biases included, as they move too). So per data batch the widest product
runs three times, not once per grid point; the rest of the network runs for ``G`` points at once,
as ``baddbmm`` for a ``Linear``/activation chain or ``vmap`` of ``functional_call`` otherwise.

The structure is proved, not guessed: ``torch.fx`` traces the model, and the engine applies only
when the traced graph shows that path from the input; otherwise :func:`first_layer_plan` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.func import functional_call, vmap

from optiscope.landscape.batched import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    PointTotals,
    Progress,
    activation_bytes,
    loss_and_correct,
    plan_chunks,
    stack_points,
)
from optiscope.landscape.classes_first import cross_entropy_classes_first, is_plain_cross_entropy, targets_fit
from optiscope.landscape.directions_base import Directions, LandscapeError
from optiscope.landscape.reference import LossFn, check_coords, is_class_labels, nonempty_batches, to_model
from optiscope.landscape.workspace import Workspace

__all__ = ["FirstLayerPlan", "evaluate_points_first_layer", "first_layer_plan"]

_FIXED_STEPS = (nn.Flatten, nn.Identity, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d,
                nn.ConstantPad2d, nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d,
                nn.ReplicationPad1d, nn.ReplicationPad2d, nn.Unflatten)  # fmt: skip
_AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
WORKING_SET_BYTES = 64 * 2**20  # chunk size that measured fastest on CPU (MLP, 10,000 x 441 points)
STACKED_CACHE_BYTES = 256 * 2**20  # per-point weights kept across sample slices up to this size
RestRunner = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]
_ELEMENTWISE = (
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.SiLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.Softplus,
    nn.Identity,
)


@dataclass(frozen=True)
class FirstLayerPlan:
    """How the model splits into fixed input steps, the first affine layer and the rest.

    Attributes:
        steps: parameter-free modules applied to the input, in order.
        layer_name: qualified name of the first affine layer.
        layer: that layer.
        rest: a module mapping the layer's output to the logits (shares the model's weights).
        chain: for a ``Linear``/activation rest, ``(kind, name or module)`` per step; else None.
    """

    steps: tuple[nn.Module, ...]
    layer_name: str
    layer: nn.Module
    rest: nn.Module
    chain: tuple[tuple[str, Any], ...] | None

    def affine(self, inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """The first layer applied to fixed-step outputs ``inputs`` with the given weights."""
        if isinstance(self.layer, nn.Linear):
            return F.linear(inputs, weight, bias)
        return self.layer._conv_forward(inputs, weight, bias)  # type: ignore[operator]

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor:
        """The fixed steps applied to a batch of inputs."""
        for step in self.steps:
            inputs = step(inputs)
        return inputs


def first_layer_plan(model: nn.Module) -> tuple[FirstLayerPlan | None, str]:
    """Split ``model`` for the first-layer engine, or say why it cannot be split.

    Returns:
        ``(plan, reason)``; ``plan`` is None when the structure is not proved.
    """
    if isinstance(model, _AFFINE):
        return FirstLayerPlan((), "", model, nn.Identity(), ()), f"the model is one {type(model).__name__}"
    try:
        traced = fx.symbolic_trace(model)
    except Exception as exc:  # any trace failure means "not provable"
        return None, f"torch.fx cannot trace the model ({type(exc).__name__})"
    nodes = list(traced.graph.nodes)
    inputs = [node for node in nodes if node.op == "placeholder"]
    if len(inputs) != 1:
        return None, f"forward takes {len(inputs)} inputs, not one"
    node, steps, skipped = inputs[0], [], [inputs[0]]
    while True:
        if len(node.users) != 1:
            return None, "the input is used by more than one operation"
        user = next(iter(node.users))
        module = traced.get_submodule(user.target) if user.op == "call_module" else None
        if module is None or user.args != (node,) or user.kwargs:
            return None, f"the input first meets {user.op} {user.target}, not a module on it alone"
        if isinstance(module, _AFFINE):
            break
        if not isinstance(module, _FIXED_STEPS):
            return None, f"the input first meets {type(module).__name__}, not an affine layer"
        steps.append(module)
        skipped.append(user)
        node = user
    layer_node = user
    name = str(layer_node.target)
    calls = [n for n in nodes if n.op in ("call_module", "get_attr")
             and (n.target == name or str(n.target).startswith(name + "."))]  # fmt: skip
    if len(calls) != 1:
        return None, f"layer {layer_node.target} is used more than once"
    rest = _rest_module(traced, skipped, layer_node)
    plan = FirstLayerPlan(tuple(steps), str(layer_node.target), module, rest, _linear_chain(rest))
    return plan, f"input reaches {type(module).__name__} {layer_node.target!r} directly (proved by torch.fx)"


def _rest_module(traced: fx.GraphModule, skipped: list[fx.Node], layer_node: fx.Node) -> fx.GraphModule:
    """A module whose single input is ``layer_node``'s output and whose output is the model's."""
    graph, env = fx.Graph(), {}
    env[layer_node] = graph.placeholder("pre_activation")
    for node in traced.graph.nodes:
        if node in skipped or node is layer_node:
            continue
        env[node] = graph.node_copy(node, lambda arg: env[arg])
    return fx.GraphModule(traced, graph)


def _linear_chain(rest: fx.GraphModule) -> tuple[tuple[str, Any], ...] | None:
    """The rest as ``Linear``/element-wise steps in a straight line, or None if it is not."""
    chain: list[tuple[str, Any]] = []
    for node in rest.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
            return None
        module = rest.get_submodule(node.target)
        if isinstance(module, nn.Linear):
            chain.append(("linear", str(node.target)))
        elif isinstance(module, _ELEMENTWISE):
            chain.append(("act", module))
        else:
            return None
    return tuple(chain)


def evaluate_points_first_layer(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    directions: Directions,
    coords: Any,
    *,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    progress: Progress | None = None,
    plan: FirstLayerPlan | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at ``coords (P, dims)``, computing the first layer 3 times per batch.

    Args:
        plan: a plan from :func:`first_layer_plan` (made here when None).

    Raises:
        LandscapeError: the model does not split (see :func:`first_layer_plan`), or the
            directions move buffers (use the ``vmap`` engine).
    """
    directions.check_model(model)
    points = check_coords(coords, directions.dims)
    if directions.buffers:
        raise LandscapeError("the first_layer engine does not move buffers; use engine='vmap'")
    if plan is None:
        plan, reason = first_layer_plan(model)
        if plan is None:
            raise LandscapeError(f"the first_layer engine does not apply: {reason}")
    params = {name: p.detach() for name, p in model.named_parameters()}
    reference = next(iter(params.values()))
    vectors = [{name: t.to(params[name]) for name, t in vector.items()} for vector in directions.vectors]
    prefix = plan.layer_name + "." if plan.layer_name else ""
    rest_base = {name: t for name, t in params.items() if name not in (prefix + "weight", prefix + "bias")}
    layer_args = [(params.get(prefix + "weight"), params.get(prefix + "bias"))]
    layer_args += [(vector.get(prefix + "weight"), vector.get(prefix + "bias")) for vector in vectors]
    coefficients = torch.as_tensor(points, dtype=reference.dtype, device=reference.device)
    with_centre = torch.cat([torch.ones_like(coefficients[:, :1]), coefficients], dim=1)
    classes_first = plan.chain is not None and is_plain_cross_entropy(loss_fn)
    ignore_index = getattr(loss_fn, "ignore_index", -100)
    workspace = Workspace()
    run_rest = _rest_runner(plan, reference.device, classes_first, workspace)
    per_point = 2.0 * sum(t.numel() * t.element_size() for t in rest_base.values())
    budget = min(memory_budget_bytes, WORKING_SET_BYTES)
    totals = PointTotals(len(points))
    keep = per_point / 2 * len(points) <= STACKED_CACHE_BYTES
    cache: dict[tuple[int, int], dict[str, torch.Tensor]] = {}

    def stacked(first: int, chunk: int) -> dict[str, torch.Tensor]:
        """The rest's weights at points ``first:first + chunk``, kept across slices when they fit."""
        weights = cache.get((first, chunk))
        if weights is None:
            weights = stack_points(rest_base, vectors, coefficients[first : first + chunk])
            if keep:
                cache[first, chunk] = weights
        return weights

    with torch.no_grad():
        for batch in nonempty_batches(data):
            inputs, targets = to_model(batch, reference)
            fixed = plan.prepare(inputs)
            slice_size, chunk = _sizes(plan, fixed, layer_args[0], len(points), per_point, budget)
            for start in range(0, fixed.shape[0], slice_size):
                x, y = fixed[start : start + slice_size], targets[start : start + slice_size]
                products = torch.stack([plan.affine(x, weight, bias) for weight, bias in layer_args])
                fast: bool | None = None  # classes-first cross-entropy, decided on the first chunk
                for first in range(0, len(points), chunk):
                    index = slice(first, first + chunk)
                    pre = _combine(products, with_centre[index], workspace)
                    logits = run_rest(stacked(first, chunk), pre)
                    if fast is None:
                        fast = (
                            classes_first
                            and logits.ndim == 3
                            and targets_fit(y, logits.shape[1], ignore_index)
                        )
                    if fast:
                        loss, correct = cross_entropy_classes_first(logits, y, workspace)
                    else:
                        loss, correct = _loss_and_correct(loss_fn, logits, y, classes_first)
                    totals.add(index, loss, correct, x.shape[0])
                totals.count += x.shape[0]
                totals.classify = totals.classify and _labels(plan, products[0][:1], y[:1])
                if progress is not None:
                    progress(totals.count)
    return totals.result()


def _loss_and_correct(
    loss_fn: LossFn, logits: torch.Tensor, targets: torch.Tensor, classes_first: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-point mean loss and correct counts by the general per-point call of ``loss_fn``."""
    if classes_first:  # back to (G, S, C)
        logits = logits.transpose(1, 2)
    return vmap(lambda z: loss_and_correct(loss_fn, z, targets))(logits)


def _sizes(
    plan: FirstLayerPlan, fixed: torch.Tensor, layer_args: tuple, points: int, per_point: float, budget: int
) -> tuple[int, int]:
    """``(samples per slice, points per chunk)`` for one batch, from a one-sample forward."""
    one = plan.affine(fixed[:1], *layer_args)
    layer_bytes = one.numel() * one.element_size()
    per_point_sample = 2.0 * (layer_bytes + activation_bytes(plan.rest, one))
    per_sample = 4 * layer_bytes  # A, B, C and their sum; the inputs are views
    return plan_chunks(points, fixed.shape[0], per_point_sample, per_sample, per_point, budget)


def _combine(products: torch.Tensor, with_centre: torch.Tensor, workspace: Workspace) -> torch.Tensor:
    """Pre-activations ``(G, N, ...)``: ``A + sum_i c_gi * products[1 + i]`` as one ``mm``.

    ``with_centre`` is ``(G, 1 + dims)`` with a leading column of ones, so ``A`` enters the
    product instead of being copied into the output first (one pass over it, not two).

    Args:
        products: ``A``, ``B`` (and ``C``) stacked, ``(1 + dims, N, ...)``.
        with_centre: ``(G, 1 + dims)``: ones, then the points' coordinates.
    """
    flat = products.reshape(products.shape[0], -1)
    out = workspace.take("pre", (with_centre.shape[0], flat.shape[1]), flat)
    torch.mm(with_centre, flat, out=out)
    return out.view(-1, *products.shape[1:])


def _chain_runner(
    chain: tuple[tuple[str, Any], ...], classes_first: bool, workspace: Workspace
) -> RestRunner:
    """Run a ``Linear``/activation chain for ``G`` points with ``baddbmm`` into reused buffers.

    Hidden layers are ``(G, S, features)``; with ``classes_first`` the last ``Linear`` writes
    ``(G, C, S)`` (see :mod:`optiscope.landscape.classes_first`), as does a chain without one.
    """
    linears = [i for i, (kind, _) in enumerate(chain) if kind == "linear"]
    last = linears[-1] if classes_first and linears else None

    def run(weights: dict[str, torch.Tensor], hidden: torch.Tensor) -> torch.Tensor:
        if classes_first and last is None:
            hidden = hidden.transpose(1, 2)
        for i, (kind, step) in enumerate(chain):
            if kind == "act":
                hidden = hidden.relu_() if type(step) is nn.ReLU else step(hidden)
                continue
            weight, bias = weights[step + ".weight"], weights.get(step + ".bias")
            points, samples = hidden.shape[0], hidden.shape[1]
            if i == last:  # (G, C, H) @ (G, H, S)
                out = workspace.take(f"layer{i}", (points, weight.shape[1], samples), hidden)
                hidden = torch.bmm(weight, hidden.transpose(1, 2), out=out)
                if bias is not None:
                    hidden.add_(bias.unsqueeze(2))
                continue
            out = workspace.take(f"layer{i}", (points, samples, weight.shape[1]), hidden)
            if bias is None:
                hidden = torch.bmm(hidden, weight.transpose(1, 2), out=out)
            else:
                hidden = torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2), out=out)
        return hidden

    return run


def _rest_runner(
    plan: FirstLayerPlan, device: torch.device, classes_first: bool, workspace: Workspace
) -> RestRunner:
    """The fastest measured way to run the rest for ``G`` points on ``device``.

    A ``Linear``/activation chain runs as ``baddbmm``. Any other rest runs under vmap on an
    accelerator; on the CPU vmap of convolutions measured 2.4x slower than a plain loop over the
    points (LeNet-5, 16 points x 500 samples, torch 2.13), so there the points are looped.
    """
    if plan.chain is not None:
        return _chain_runner(plan.chain, classes_first, workspace)
    if device.type != "cpu":
        return vmap(lambda weights, pre: functional_call(plan.rest, weights, (pre,)))

    def run(weights: dict[str, torch.Tensor], pre: torch.Tensor) -> torch.Tensor:
        return torch.stack([functional_call(plan.rest, {name: w[g] for name, w in weights.items()}, (pre[g],))
                            for g in range(pre.shape[0])])  # fmt: skip

    return run


def _labels(plan: FirstLayerPlan, pre: torch.Tensor, targets: torch.Tensor) -> bool:
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        return False
    return is_class_labels(plan.rest(pre), targets)
