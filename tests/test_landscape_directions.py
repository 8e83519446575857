"""Directions for landscape plots, each checked against an independent numpy reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from optiscope.landscape.directions import (
    DEFAULT_SEED,
    directions_from_vectors,
    interpolation_direction,
    normalize_direction,
    pca_directions,
    plane_through,
    random_directions,
)
from optiscope.landscape.directions_base import Directions, LandscapeError
from optiscope.landscape.projection import project_path
from optiscope.nets import build_model
from optiscope.nets.recorder import flatten_parameters, parameter_layout


def _conv_bn_net(seed: int = 0) -> nn.Module:
    """Conv (4 channels) + BatchNorm + LayerNorm + Linear: every kind of parameter we treat."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, kernel_size=3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 6),
        nn.LayerNorm(6),
        nn.Linear(6, 3),
    )


def _numpy(vector: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {name: t.detach().double().numpy() for name, t in vector.items()}


def _filter_norms(array: np.ndarray) -> np.ndarray:
    return np.linalg.norm(array.reshape(array.shape[0], -1), axis=1)


NORM_LAYER = {"1.weight", "1.bias", "5.weight", "5.bias"}


def test_filter_directions_have_the_weights_filter_norms_and_zero_bias_bn() -> None:
    model = _conv_bn_net()
    weights = {name: p.detach().double().numpy() for name, p in model.named_parameters()}
    directions = random_directions(model, normalization="filter", ignore="biasbn")
    assert directions.kind == "filter" and directions.dims == 2
    for vector in directions.vectors:
        for name, d in _numpy(vector).items():
            w = weights[name]
            if w.ndim <= 1 or name in NORM_LAYER:
                assert not d.any(), f"{name} should be zeroed"
            else:
                np.testing.assert_allclose(_filter_norms(d), _filter_norms(w), rtol=1e-5, err_msg=name)


def test_filter_directions_are_the_raw_gaussian_rescaled_per_filter() -> None:
    model = build_model("mlp", (12,), 3, hidden=(8,))
    raw = _numpy(random_directions(model, normalization="none", ignore=None, seed=5).vectors[1])
    scaled = _numpy(random_directions(model, normalization="filter", seed=5).vectors[1])
    weight = model[1].weight.detach().double().numpy()
    expected = raw["1.weight"] * (_filter_norms(weight) / _filter_norms(raw["1.weight"]))[:, None]
    np.testing.assert_allclose(scaled["1.weight"], expected, rtol=1e-5)


def test_layer_directions_have_whole_tensor_norms() -> None:
    model = _conv_bn_net()
    directions = random_directions(model, normalization="layer")
    for name, p in model.named_parameters():
        d = directions.vectors[0][name].double().numpy()
        if p.ndim <= 1:
            assert not d.any(), name
        else:
            w_norm = np.linalg.norm(p.detach().double().numpy())
            assert np.linalg.norm(d) == pytest.approx(w_norm, rel=1e-5), name


@pytest.mark.parametrize("normalization", ["filter", "layer"])
def test_ignore_none_keeps_biases_and_norm_layers_as_whole_tensors(normalization: str) -> None:
    model = _conv_bn_net()
    directions = random_directions(model, normalization=normalization, ignore=None)
    assert directions.meta["zeroed"] == []
    for name, p in model.named_parameters():
        if p.ndim == 1:
            d = directions.vectors[1][name].double().numpy()
            assert np.linalg.norm(d) == pytest.approx(np.linalg.norm(p.detach().double().numpy()), rel=1e-5)


def test_raw_directions_are_standard_normal_not_uniform() -> None:
    model = build_model("mlp", (64,), 10, hidden=(64,))
    entries = random_directions(model, normalization="none", ignore=None).matrix().double().numpy().ravel()
    n = entries.size
    assert abs(entries.mean()) < 4 / np.sqrt(n), f"mean {entries.mean():.4f} over {n} entries"
    assert entries.std() == pytest.approx(1.0, abs=4 * np.sqrt(0.5 / n) + 1e-3)
    assert stats.kstest(entries, "norm").pvalue > 1e-3
    assert stats.kstest(entries, stats.uniform(-np.sqrt(3), 2 * np.sqrt(3)).cdf).pvalue < 1e-10
    assert stats.kurtosis(entries, fisher=False) == pytest.approx(3.0, abs=0.2)


def test_seed_fixes_directions_independently_of_the_global_rng() -> None:
    model = build_model("mlp", (6,), 2, hidden=(5,))
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = random_directions(model, seed=7).matrix()
    assert torch.equal(torch.get_rng_state(), state), "the global RNG was advanced"
    torch.manual_seed(1)
    assert torch.equal(random_directions(model, seed=7).matrix(), first)
    assert not torch.equal(random_directions(model, seed=8).matrix(), first)
    line = random_directions(model, seed=7, dims=1)
    assert line.dims == 1 and torch.equal(line.flat(0), first[0])
    assert random_directions(model).meta["seed"] == DEFAULT_SEED


def test_float64_model_gets_float64_directions_from_the_same_draws() -> None:
    model = build_model("mlp", (6,), 2, hidden=(5,))
    single = random_directions(model, normalization="none", ignore=None)
    double = random_directions(model.double(), normalization="none", ignore=None)
    assert double.vectors[0]["1.weight"].dtype == torch.float64
    assert torch.equal(double.matrix().float(), single.matrix())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_model_gets_the_cpu_model_directions_on_the_cpu() -> None:
    model = build_model("mlp", (6,), 2, hidden=(5,))
    expected = random_directions(model).matrix()
    on_device = random_directions(model.cuda())
    assert on_device.vectors[0]["1.weight"].device.type == "cpu"
    torch.testing.assert_close(on_device.matrix(), expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"normalization": "filters"}, "'filter', 'layer', 'none'"),
        ({"ignore": "bias"}, "'biasbn', None"),
        ({"dims": 3}, "dims must be 1"),
        ({"seed": "x"}, "seed must be"),
        ({"seed": -1}, "seed must be"),
    ],
)
def test_random_directions_reject_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(LandscapeError, match=message):
        random_directions(build_model("mlp", (4,), 2, hidden=(3,)), **kwargs)


def test_zero_filter_cannot_be_normalised() -> None:
    direction = torch.randn(3, 4)
    direction[1] = 0.0
    with pytest.raises(LandscapeError, match="zero filter"):
        normalize_direction(direction, torch.ones(3, 4), "filter")
    with pytest.raises(LandscapeError, match="shape"):
        normalize_direction(direction, torch.ones(4, 3), "layer")


def _planar_path(k: int = 9, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    final, u = rng.normal(size=n), rng.normal(size=n)
    v = 0.6 * u + rng.normal(size=n)  # not orthogonal to u
    a, b = rng.normal(size=k), rng.normal(size=k)
    a[-1] = b[-1] = 0.0
    return final + a[:, None] * u + b[:, None] * v, final


def test_pca_of_a_planar_path_captures_all_of_it() -> None:
    path, final = _planar_path()
    path.setflags(write=False)  # as a memory-mapped recording would be
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        directions = pca_directions(path, layout=[("w", (20, 20))])
    assert directions.kind == "pca" and directions.meta["n_snapshots"] == 9
    assert sum(directions.meta["explained_variance_ratio"]) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(np.linalg.norm(directions.matrix().numpy(), axis=1), 1.0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        projection = project_path(path, final, directions)
    assert projection.total_captured == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(projection.captured[:-1], 1.0, atol=1e-6)


def test_pca_axes_are_the_top_right_singular_vectors() -> None:
    rng = np.random.default_rng(3)
    path = rng.normal(size=(10, 300)).astype(np.float32).cumsum(axis=0)
    directions = pca_directions(path, layout=[("a", (100,)), ("b", (20, 10))])
    displacement = path.astype(np.float64) - path[-1].astype(np.float64)
    _, singular, right = np.linalg.svd(displacement, full_matrices=False)
    axes = directions.matrix().double().numpy()
    for j in range(2):
        assert abs(axes[j] @ right[j]) == pytest.approx(1.0, abs=1e-5), f"axis {j} vs SVD"
    expected_ratio = singular[:2] ** 2 / (singular**2).sum()
    np.testing.assert_allclose(directions.meta["explained_variance_ratio"], expected_ratio, rtol=1e-8)


def test_pca_plane_captures_exactly_its_explained_variance() -> None:
    path = np.random.default_rng(4).normal(size=(12, 500)).cumsum(axis=0)
    directions = pca_directions(path, layout=[("w", (500,))])
    captured = project_path(path, path[-1], directions).total_captured
    assert captured == pytest.approx(sum(directions.meta["explained_variance_ratio"]), rel=1e-9)
    assert 0.5 < captured < 1.0


def test_pca_takes_its_layout_from_a_model_and_a_given_final() -> None:
    model = build_model("mlp", (5,), 2, hidden=(4,))
    theta = flatten_parameters(model).numpy()
    rng = np.random.default_rng(1)
    path = (theta + rng.normal(size=(5, theta.size))).astype(np.float32)
    directions = pca_directions(path, final=theta, layout=model, dims=1)
    directions.check_model(model)
    assert directions.dims == 1 and directions.meta["center"] == "given"


def test_pca_rejects_short_or_degenerate_paths() -> None:
    path, _ = _planar_path(k=3)
    with pytest.raises(LandscapeError, match="distinct snapshots"):
        pca_directions(np.vstack([path[:1], path[:1], path[-1:]]), layout=[("w", (400,))])
    line = np.outer(np.arange(5.0), np.ones(400))
    with pytest.raises(LandscapeError, match="span 1 dimension"):
        pca_directions(line, layout=[("w", (400,))])
    with pytest.raises(LandscapeError, match="layout has 10 entries"):
        pca_directions(path, layout=[("w", (10,))])
    with pytest.raises(LandscapeError, match="dims must be"):
        pca_directions(path, layout=[("w", (400,))], dims=0)


def _trained_pair() -> tuple[nn.Module, nn.Module]:
    a, b = _conv_bn_net(0), _conv_bn_net(1)
    a.train()
    a(torch.randn(8, 2, 5, 5))  # moves a's running statistics away from b's
    return a, b


def test_interpolation_reaches_model_b_with_its_buffers() -> None:
    a, b = _trained_pair()
    directions = interpolation_direction(a, b)
    assert directions.kind == "interpolate" and directions.dims == 1
    reached = flatten_parameters(a).double() + directions.flat(0).double()
    torch.testing.assert_close(reached, flatten_parameters(b).double(), rtol=0, atol=1e-6)
    assert set(directions.buffers[0]) == {"1.running_mean", "1.running_var"}
    for name, delta in directions.buffers[0].items():
        torch.testing.assert_close(a.get_buffer(name) + delta, b.get_buffer(name))
    assert interpolation_direction(a, b, include_buffers=False).buffers == ()


def test_interpolation_accepts_parameter_mappings() -> None:
    a, b = _trained_pair()
    from_models = interpolation_direction(a, b, include_buffers=False)
    from_dicts = interpolation_direction(dict(a.named_parameters()), dict(b.named_parameters()))
    assert torch.equal(from_dicts.flat(0), from_models.flat(0)) and from_dicts.buffers == ()
    with pytest.raises(LandscapeError, match="same parameters"):
        interpolation_direction(a, a)
    with pytest.raises(LandscapeError, match="names, shapes or order"):
        interpolation_direction(a, build_model("mlp", (4,), 2))
    with pytest.raises(LandscapeError, match="float tensors"):
        interpolation_direction(a.state_dict(), b.state_dict())


def test_plane_through_three_models() -> None:
    a, b = _trained_pair()
    c = _conv_bn_net(2)
    directions = plane_through(a, b, c)
    assert directions.kind == "plane" and directions.meta["center"] == "model_a"
    base = flatten_parameters(a).double()
    for index, other in enumerate((b, c)):
        reached = base + directions.flat(index).double()
        torch.testing.assert_close(reached, flatten_parameters(other).double(), rtol=0, atol=1e-6)
    assert len(directions.buffers) == 2
    with pytest.raises(LandscapeError, match="one line"):
        plane_through(a, b, b)


def test_directions_from_vectors_validates_sizes() -> None:
    model = build_model("mlp", (4,), 2, hidden=(3,))
    n = sum(p.numel() for p in model.parameters())
    eigenvectors = torch.randn(2, n, dtype=torch.float64)
    directions = directions_from_vectors(eigenvectors, model, kind="hessian", meta={"eigenvalues": [2, 1]})
    assert directions.kind == "hessian" and directions.vectors[0]["1.weight"].dtype == torch.float64
    assert torch.equal(directions.matrix(), eigenvectors)
    as_list = directions_from_vectors([eigenvectors[0].numpy()], parameter_layout(model))
    assert as_list.dims == 1 and torch.equal(as_list.flat(0), eigenvectors[0])
    assert torch.equal(directions_from_vectors(list(directions.vectors), model).matrix(), eigenvectors)
    with pytest.raises(LandscapeError, match=f"needs {n} entries"):
        directions_from_vectors(torch.randn(n + 1), model)
    with pytest.raises(LandscapeError, match="one or two"):
        directions_from_vectors(torch.randn(3, n), model)
    with pytest.raises(LandscapeError, match="finite"):
        directions_from_vectors(torch.full((n,), float("nan")), model)
    with pytest.raises(LandscapeError, match="JSON"):
        directions_from_vectors(torch.randn(n), model, meta={"bad": object()})


def _assert_same(first: Directions, second: Directions) -> None:
    assert (second.kind, second.meta, second.layout) == (first.kind, first.meta, first.layout)
    for group_a, group_b in ((first.vectors, second.vectors), (first.buffers, second.buffers)):
        assert len(group_a) == len(group_b)
        for vector_a, vector_b in zip(group_a, group_b, strict=True):
            assert list(vector_a) == list(vector_b)
            assert all(torch.equal(vector_a[name], vector_b[name]) for name in vector_a)


def test_every_kind_round_trips_through_safetensors() -> None:
    a, b = _trained_pair()
    path, _ = _planar_path(n=sum(p.numel() for p in a.parameters()))
    made = [random_directions(a, normalization=kind) for kind in ("filter", "layer", "none")]
    made += [
        pca_directions(path.astype(np.float32), layout=a),
        interpolation_direction(a, b),
        plane_through(a, b, _conv_bn_net(2)),
        directions_from_vectors(torch.randn(path.shape[1]), a, kind="hessian", meta={"eigenvalue": 3.5}),
    ]
    for directions in made:
        _assert_same(directions, Directions.from_bytes(directions.to_bytes()))


@settings(max_examples=25, deadline=None)
@given(
    shapes=st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3), min_size=1, max_size=4),
    dims=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_random_layouts_round_trip(shapes: list[list[int]], dims: int, seed: int) -> None:
    layout = [(f"layer{i}.weight", tuple(shape)) for i, shape in enumerate(shapes)]
    n = sum(int(np.prod(shape, dtype=np.int64)) for _, shape in layout)
    flats = torch.randn(dims, n, generator=torch.Generator().manual_seed(seed))
    directions = directions_from_vectors(flats, layout, meta={"seed": seed})
    assert directions.layout == layout
    _assert_same(directions, Directions.from_bytes(directions.to_bytes()))
