"""Ways to pick the directions of a loss-landscape plot (Li et al., 2018).

Li, Xu, Taylor, Studer and Goldstein, "Visualizing the loss landscape of neural nets" (NeurIPS
2018): random Gaussian directions rescaled filter by filter to the weights' norms, so that plots of
nets with different weight scales compare; the principal axes of the training path, so that the
path shows on the plane; the line or plane through two or three trained models; or vectors from
elsewhere (Hessian eigenvectors). Each returns a
:class:`~optiscope.landscape.directions_base.Directions`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from optiscope.landscape.directions_base import Directions, LandscapeError
from optiscope.landscape.joint_pca import Centre, is_run_list, joint_centre, principal_axes
from optiscope.landscape.projection import _as_path, _as_point
from optiscope.nets.recorder import parameter_layout

__all__ = [
    "DEFAULT_SEED",
    "IGNORE_CHOICES",
    "NORMALIZATIONS",
    "directions_from_vectors",
    "interpolation_direction",
    "normalize_direction",
    "pca_directions",
    "plane_through",
    "random_directions",
]

DEFAULT_SEED = 123
NORMALIZATIONS: tuple[str, ...] = ("filter", "layer", "none")
IGNORE_CHOICES: tuple[str | None, ...] = ("biasbn", None)
# _NormBase is the common base of the BatchNorm and InstanceNorm modules.
_NORM_MODULES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)

Layout = Sequence[tuple[str, Sequence[int]]]
ParameterSource = nn.Module | Mapping[str, torch.Tensor]


def _check_choice(value: object, allowed: Sequence[object], what: str) -> None:
    if not any(value is choice or (isinstance(value, str) and value == choice) for choice in allowed):
        raise LandscapeError(f"{what} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _check_dims(dims: object) -> int:
    if isinstance(dims, bool) or dims not in (1, 2):
        raise LandscapeError(f"dims must be 1 (a line) or 2 (a plane); got {dims!r}")
    return int(dims)  # type: ignore[arg-type]


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other dtype is handled as float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _resolve_layout(layout: Layout | nn.Module | None) -> list[tuple[str, tuple[int, ...]]]:
    if isinstance(layout, nn.Module):
        resolved = parameter_layout(layout)
    elif layout is None:
        raise LandscapeError("give the parameter layout: a model or a list of (name, shape) pairs")
    else:
        try:
            resolved = [(str(name), tuple(int(size) for size in shape)) for name, shape in layout]
        except (TypeError, ValueError):
            raise LandscapeError("a layout is a list of (name, shape) pairs") from None
    if not resolved:
        raise LandscapeError("the layout holds no parameters")
    return resolved


def _layout_size(layout: Sequence[tuple[str, tuple[int, ...]]]) -> int:
    return sum(int(np.prod(shape, dtype=np.int64)) for _, shape in layout)


def normalize_direction(direction: torch.Tensor, weight: torch.Tensor, normalization: str) -> torch.Tensor:
    """Rescale one parameter's direction to the norms of its weight (Li et al., 2018, sec. 4).

    ``"filter"`` rescales each filter, the slice along dim 0 (a Linear row, a Conv output channel):
    ``d_f <- d_f * ||w_f|| / ||d_f||``; ``"layer"`` rescales the whole tensor the same way;
    ``"none"`` returns a copy. A 1-D or 0-D tensor (a bias, a norm layer's scale) is one filter.

    Args:
        direction: the raw direction, the shape of ``weight``.
        weight: the parameter's current value.
        normalization: ``"filter"``, ``"layer"`` or ``"none"``.

    Returns:
        The rescaled direction, in the dtype of ``direction``.

    Raises:
        LandscapeError: a bad ``normalization``, mismatched shapes, or a zero filter in ``direction``.
    """
    _check_choice(normalization, NORMALIZATIONS, "normalization")
    if direction.shape != weight.shape:
        raise LandscapeError(f"direction shape {tuple(direction.shape)} != weight {tuple(weight.shape)}")
    if normalization == "none" or direction.numel() == 0:
        return direction.clone()
    groups = 1 if normalization == "layer" or direction.ndim <= 1 else direction.shape[0]
    d = direction.reshape(groups, -1)
    d_norms = torch.linalg.vector_norm(d, dim=1, keepdim=True)
    if bool((d_norms == 0).any()):
        raise LandscapeError(f"cannot rescale a direction with a zero {normalization} (norm 0)")
    w_norms = torch.linalg.vector_norm(weight.reshape(groups, -1).to(d.dtype), dim=1, keepdim=True)
    return (d * (w_norms / d_norms)).reshape(direction.shape)


def _norm_layer_parameters(model: nn.Module) -> set[str]:
    """Names of the parameters owned by BatchNorm, InstanceNorm, LayerNorm and GroupNorm modules."""
    names = set()
    for module_name, module in model.named_modules():
        if isinstance(module, _NORM_MODULES):
            for name, _ in module.named_parameters(recurse=False):
                names.add(f"{module_name}.{name}" if module_name else name)
    return names


def random_directions(
    model: nn.Module,
    normalization: str = "filter",
    ignore: str | None = "biasbn",
    seed: int = DEFAULT_SEED,
    dims: int = 2,
) -> Directions:
    """Gaussian random directions, normalised to the model's weights (Li et al., 2018).

    Entries are drawn in float32 on the CPU from a ``torch.Generator`` seeded with ``seed`` (the
    global RNG is neither used nor advanced), parameter by parameter in ``named_parameters()``
    order, first for direction 0, then for direction 1; so one seed gives the same directions on
    any device or dtype, and ``dims=1`` gives direction 0 of ``dims=2``. Every entry is drawn even
    where it is then zeroed, so ``ignore`` does not change the other entries.

    Args:
        model: the network; its current weights set the norms.
        normalization: ``"filter"`` (each filter, the slice along dim 0, gets its weight's norm),
            ``"layer"`` (each whole tensor does) or ``"none"`` (raw N(0, 1) entries).
        ignore: ``"biasbn"`` zeroes every 1-D (and 0-D) parameter, i.e. biases, and every
            parameter of a BatchNorm/InstanceNorm/LayerNorm/GroupNorm module, as Li et al. do;
            ``None`` keeps them, each 1-D tensor normalised as one whole tensor in both modes.
        seed: seed of the generator, an integer >= 0.
        dims: 1 for a line, 2 for a plane.

    Returns:
        Directions of kind ``normalization``, each tensor in its parameter's dtype on the CPU;
        ``meta`` holds seed, normalization, ignore and the zeroed parameter names.

    Raises:
        LandscapeError: a bad argument, a model without parameters, or a zero filter.
    """
    _check_choice(normalization, NORMALIZATIONS, "normalization")
    _check_choice(ignore, IGNORE_CHOICES, "ignore")
    dims = _check_dims(dims)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise LandscapeError(f"seed must be an integer in [0, 2**63); got {seed!r}")
    parameters = list(model.named_parameters())
    if not parameters:
        raise LandscapeError("the model has no parameters to draw directions for")
    norm_layer = _norm_layer_parameters(model) if ignore == "biasbn" else set()
    zeroed = [name for name, p in parameters if ignore == "biasbn" and (p.ndim <= 1 or name in norm_layer)]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    vectors = []
    for _ in range(dims):
        vector = {}
        for name, parameter in parameters:
            raw = torch.randn(tuple(parameter.shape), generator=generator, dtype=torch.float32)
            if name in zeroed:
                vector[name] = torch.zeros(raw.shape, dtype=parameter.dtype)
                continue
            weight = parameter.detach().to(device="cpu", dtype=torch.float64)
            scaled = normalize_direction(raw.to(torch.float64), weight, normalization)
            vector[name] = scaled.to(parameter.dtype)
        vectors.append(vector)
    meta = {"seed": seed, "normalization": normalization, "ignore": ignore, "zeroed": zeroed}
    return Directions(tuple(vectors), kind=normalization, meta=meta)


def pca_directions(
    snapshots: np.ndarray | torch.Tensor | Sequence[np.ndarray | torch.Tensor],
    final: np.ndarray | torch.Tensor | None = None,
    layout: Layout | nn.Module | None = None,
    dims: int = 2,
    *,
    centre: Centre | None = None,
) -> Directions:
    """The principal axes of a training path, or of several, around one centre (Li et al., 2018).

    One path ``(k, n_params)``: with ``D = snapshots - final`` the axes are the top
    right-singular vectors of ``D`` (:func:`~optiscope.landscape.joint_pca.principal_axes`), so
    the plane passes through ``final`` (the plot's centre) and the explained variance is of
    ``||D||_F^2``. Several paths ``[snapshots_a, snapshots_b, ...]``: every run's displacements
    from one common ``centre`` are stacked and the same axes are taken of all of them, so every
    run's path lies on one shared plane; ``meta["captured_per_run"]`` says how much of each run
    that plane holds.

    Args:
        snapshots: one recorded path, float ``(k, n_params)``, or a list of paths
            ``(k_r, n_params)``, one per run, each ending at that run's final weights.
        final: one path only: the centre ``(n_params,)``; the last snapshot when ``None``.
        layout: the model, or its ``(name, shape)`` pairs in ``named_parameters()`` order.
        dims: the number of axes, 1 or 2.
        centre: several paths only: a run index (its final weights; default 0), ``"final"``
            (run 0's), ``"mean"`` (the mean of the runs' final weights) or a vector; see
            :func:`~optiscope.landscape.joint_pca.joint_centre`.

    Returns:
        Unit-norm directions of kind ``"pca"`` (one path) or ``"pca-joint"`` (several), float32,
        or float64 for float64 paths; ``meta`` holds ``explained_variance_ratio`` (per axis),
        ``n_snapshots`` and ``center``, and for several paths ``runs``,
        ``n_snapshots_per_run`` and ``captured_per_run``.

    Raises:
        LandscapeError: sizes do not match, runs of different parameter counts, fewer than
            ``dims + 1`` distinct snapshots in one path, or displacements of rank below ``dims``.
    """
    dims = _check_dims(dims)
    if is_run_list(snapshots):
        if final is not None:
            raise LandscapeError("several paths take centre=, not final=")
        return _joint_pca(list(snapshots), 0 if centre is None else centre, layout, dims)
    if centre is not None:
        raise LandscapeError("one path takes final= as its centre; centre= is for a list of paths")
    path = _as_path(snapshots)
    resolved = _checked_layout(layout, path.shape[1])
    point = path[-1].astype(np.float64) if final is None else _as_point(final, path.shape[1], "final")
    distinct = len({row.tobytes() for row in path})
    if distinct < dims + 1:
        raise LandscapeError(f"PCA of {dims} axes needs >= {dims + 1} distinct snapshots; got {distinct}")
    found = principal_axes([path], point, dims)
    meta = {
        "explained_variance_ratio": [float(v) for v in found.explained_variance_ratio],
        "n_snapshots": len(path),
        "center": "final" if final is None else "given",
    }
    return _axes_directions(found.axes, path.dtype, resolved, "pca", meta)


def _checked_layout(layout: Layout | nn.Module | None, n_params: int) -> list[tuple[str, tuple[int, ...]]]:
    resolved = _resolve_layout(layout)
    if _layout_size(resolved) != n_params:
        raise LandscapeError(f"the layout has {_layout_size(resolved)} entries, snapshots {n_params}")
    return resolved


def _axes_directions(
    axes: torch.Tensor, dtype: np.dtype, layout: list[tuple[str, tuple[int, ...]]], kind: str, meta: dict
) -> Directions:
    work = torch.float64 if dtype == np.float64 else torch.float32
    return Directions.from_flat([axis.to(work) for axis in axes], layout, kind=kind, meta=meta)


def _joint_pca(
    runs: list[np.ndarray | torch.Tensor], centre: Centre, layout: Layout | nn.Module | None, dims: int
) -> Directions:
    """One plane for several runs' paths (see :func:`pca_directions`)."""
    point = joint_centre(runs, centre)
    paths = [_as_path(run) for run in runs]
    resolved = _checked_layout(layout, point.shape[0])
    found = principal_axes(paths, point, dims)
    named = {"final": "final:0", "mean": "mean"}
    if isinstance(centre, str):
        described = named[centre]
    elif isinstance(centre, int):
        described = f"final:{centre}"
    else:
        described = "given"
    meta = {
        "explained_variance_ratio": [float(v) for v in found.explained_variance_ratio],
        "n_snapshots": int(found.snapshots_per_run.sum()),
        "center": described,
        "runs": len(paths),
        "n_snapshots_per_run": [int(n) for n in found.snapshots_per_run],
        "captured_per_run": [float(c) for c in found.captured_per_run],
    }
    dtype = np.float64 if all(path.dtype == np.float64 for path in paths) else np.float32
    return _axes_directions(found.axes, np.dtype(dtype), resolved, "pca-joint", meta)


def _state_of(source: ParameterSource, include_buffers: bool, what: str) -> tuple[dict, dict]:
    """``(parameters, floating buffers)`` of a model, or of a mapping of parameters (no buffers)."""
    if isinstance(source, nn.Module):
        parameters = {name: p.detach() for name, p in source.named_parameters()}
        buffers = {}
        if include_buffers:
            buffers = {name: b.detach() for name, b in source.named_buffers() if b.is_floating_point()}
        return parameters, buffers
    if isinstance(source, Mapping):
        parameters = dict(source)
        if not all(isinstance(t, torch.Tensor) and t.is_floating_point() for t in parameters.values()):
            raise LandscapeError(
                f"{what} must map parameter names to float tensors (pass the model itself to "
                "include its buffers, or dict(model.named_parameters()))"
            )
        return parameters, {}
    raise LandscapeError(f"{what} must be a model or a mapping of its parameters; got {type(source)}")


def _difference(start: dict, end: dict, what: str) -> dict[str, torch.Tensor]:
    """``end - start`` entry by entry, on the CPU in float32 (float64 for float64 tensors)."""
    if [(n, tuple(t.shape)) for n, t in start.items()] != [(n, tuple(t.shape)) for n, t in end.items()]:
        raise LandscapeError(f"the models' {what} differ in names, shapes or order")
    return {
        name: end[name].to("cpu", _work_dtype(end[name].dtype)) - a.to("cpu", _work_dtype(end[name].dtype))
        for name, a in start.items()
    }


def _flat(vector: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1).to(torch.float64) for t in vector.values()])


def _moves_from(
    centre: ParameterSource, ends: dict[str, ParameterSource], include_buffers: bool
) -> tuple[tuple[dict[str, torch.Tensor], ...], tuple[dict[str, torch.Tensor], ...]]:
    """``(parameter moves, buffer moves)`` from ``centre`` to each end (no buffer moves if none)."""
    params_a, buffers_a = _state_of(centre, include_buffers, "model_a")
    vectors, buffers = [], []
    for what, end in ends.items():
        params, end_buffers = _state_of(end, include_buffers, what)
        vectors.append(_difference(params_a, params, "parameters"))
        buffers.append(_difference(buffers_a, end_buffers, "floating buffers"))
    return tuple(vectors), (tuple(buffers) if any(buffers) else ())


def interpolation_direction(
    model_a: ParameterSource, model_b: ParameterSource, include_buffers: bool = True
) -> Directions:
    """The line from ``model_a`` (alpha = 0) to ``model_b`` (alpha = 1): ``d = theta_b - theta_a``.

    Li et al. (2018, sec. 3) interpolate the whole state, so with ``include_buffers`` the floating
    buffers of two models (BatchNorm running mean and variance) move along as ``b - a`` too.

    Args:
        model_a: the centre: a model, or a mapping ``name -> tensor`` of its parameters only.
        model_b: the end point, in the same form.
        include_buffers: move floating buffers with the weights (models only).

    Returns:
        One direction of kind ``"interpolate"``, with ``buffers`` when the models have any.

    Raises:
        LandscapeError: the models differ in layout, or have the same parameters.
    """
    vectors, buffers = _moves_from(model_a, {"model_b": model_b}, include_buffers)
    if not bool(_flat(vectors[0]).any()):
        raise LandscapeError("model_a and model_b have the same parameters: no line runs between them")
    meta = {"center": "model_a", "alpha_of_model_b": 1.0, "include_buffers": bool(buffers)}
    return Directions(vectors, kind="interpolate", meta=meta, buffers=buffers)


def plane_through(
    model_a: ParameterSource,
    model_b: ParameterSource,
    model_c: ParameterSource,
    include_buffers: bool = True,
) -> Directions:
    """The plane through three models: directions ``b - a`` and ``c - a``, centred on ``model_a``.

    ``model_a`` sits at (0, 0), ``model_b`` at (1, 0) and ``model_c`` at (0, 1); floating buffers
    move along as in :func:`interpolation_direction`.

    Args:
        model_a: the centre: a model, or a mapping ``name -> tensor`` of its parameters only.
        model_b: the point at (1, 0), in the same form.
        model_c: the point at (0, 1), in the same form.
        include_buffers: move floating buffers with the weights (models only).

    Returns:
        Two directions of kind ``"plane"``; ``meta`` names the centre and each model's coordinates.

    Raises:
        LandscapeError: the models differ in layout, or the three points lie on one line.
    """
    vectors, buffers = _moves_from(model_a, {"model_b": model_b, "model_c": model_c}, include_buffers)
    u, v = _flat(vectors[0]), _flat(vectors[1])
    uu, vv, uv = float(u @ u), float(v @ v), float(u @ v)
    if uu * vv - uv * uv <= 1e-12 * uu * vv:
        raise LandscapeError("the three models lie on one line (or coincide): they span no plane")
    meta = {
        "center": "model_a",
        "points": {"model_a": [0.0, 0.0], "model_b": [1.0, 0.0], "model_c": [0.0, 1.0]},
        "include_buffers": bool(buffers),
    }
    return Directions(vectors, kind="plane", meta=meta, buffers=buffers)


def _flat_vector(vector: Any, layout: list[tuple[str, tuple[int, ...]]]) -> torch.Tensor:
    if isinstance(vector, Mapping):
        if [(n, tuple(t.shape)) for n, t in vector.items()] != layout:
            raise LandscapeError("a direction mapping must have the model's parameter names and shapes")
        return torch.cat([torch.as_tensor(t).reshape(-1) for t in vector.values()])
    return torch.as_tensor(np.asarray(vector) if not isinstance(vector, torch.Tensor) else vector)


def directions_from_vectors(
    vectors: Any,
    model: nn.Module | Layout,
    kind: str = "custom",
    meta: dict[str, Any] | None = None,
) -> Directions:
    """Wrap directions made elsewhere (Hessian eigenvectors, the user's own) for a model.

    Args:
        vectors: one flat vector ``(n_params,)``, a matrix ``(dims, n_params)``, or a sequence of
            one or two flat vectors or ``name -> tensor`` mappings; tensors or arrays.
        model: the model, or its ``(name, shape)`` layout, the vectors are cut along.
        kind: what made them, e.g. ``"hessian"`` or ``"custom"``.
        meta: JSON-able facts about them (eigenvalues, ...).

    Returns:
        Directions (float32, float64 kept) with ``kind`` and ``meta``.

    Raises:
        LandscapeError: wrong sizes, not one or two vectors, non-finite entries or meta not JSON.
    """
    layout = _resolve_layout(model)
    if isinstance(vectors, torch.Tensor | np.ndarray) and np.ndim(vectors) in (1, 2):
        rows = [vectors] if np.ndim(vectors) == 1 else list(vectors)
    elif isinstance(vectors, Sequence) and not isinstance(vectors, str):
        rows = list(vectors)
    else:
        raise LandscapeError("vectors must be a flat vector, a (dims, n_params) matrix or a list of vectors")
    if len(rows) not in (1, 2):
        raise LandscapeError(f"give one or two direction vectors; got {len(rows)}")
    flats = [_flat_vector(row, layout) for row in rows]
    for flat in flats:
        if flat.ndim != 1 or not flat.is_floating_point() or not bool(torch.isfinite(flat).all()):
            raise LandscapeError("each direction must be a finite float vector (n_params,)")
    if not isinstance(kind, str) or not kind:
        raise LandscapeError(f"kind must be a non-empty string; got {kind!r}")
    try:
        json.dumps(meta or {})
    except (TypeError, ValueError) as exc:
        raise LandscapeError(f"meta must be JSON-able: {exc}") from None
    flats = [flat.detach().to("cpu", _work_dtype(flat.dtype)) for flat in flats]
    return Directions.from_flat(flats, layout, kind=kind, meta=meta)
