"""Models of the training lab: shapes, seed 000's parameter count, LeNet-5's layers, init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optiscope.errors import SpecError, UnknownNameError
from optiscope.nets.models import MLP, MODEL_NAMES, LeNet5, SmallCNN, build_model, count_parameters

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_gives_logits_for_every_input_shape(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build_model(name, shape, 7)
    logits = model(torch.randn(5, *shape))
    assert logits.shape == (5, 7), f"{name} on {shape}: got {tuple(logits.shape)}"
    assert torch.isfinite(logits).all()


def test_seed_mlp_parameter_count_on_cifar() -> None:
    expected = 3072 * 64 + 64 + 64 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    model = build_model("mlp", (3, 32, 32), 10)
    assert count_parameters(model) == expected
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3072, 64), (64, 64), (64, 32), (32, 10)]
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 3


def test_mlp_flattens_image_batches_and_takes_custom_widths() -> None:
    model = MLP(12, 3, hidden=(5,))
    assert model(torch.zeros(2, 3, 2, 2)).shape == (2, 3)
    assert count_parameters(model) == 12 * 5 + 5 + 5 * 3 + 3


@pytest.mark.parametrize("shape", SHAPES)
def test_lenet_layer_sizes(shape: tuple[int, int, int]) -> None:
    model = LeNet5(shape, 10)
    assert model.conv1.weight.shape == (6, shape[0], 5, 5)
    assert model.conv2.weight.shape == (16, 6, 5, 5)
    assert model.fc1.weight.shape == (120, 16 * 5 * 5), "inputs up to 32x32 are padded to 32x32"
    assert model.fc2.weight.shape == (84, 120)
    assert model.fc3.weight.shape == (10, 84)


def test_lenet_on_mnist_has_the_classic_parameter_count() -> None:
    conv = (6 * 25 + 6) + (16 * 6 * 25 + 16)
    dense = (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert count_parameters(LeNet5((1, 28, 28), 10)) == conv + dense == 61706


def test_lenet_tanh_activation_and_bad_activation() -> None:
    model = LeNet5((1, 8, 8), 10, activation="tanh")
    assert any(isinstance(m, nn.Tanh) for m in model.modules())
    with pytest.raises(SpecError, match="activation"):
        LeNet5((1, 8, 8), 10, activation="gelu")


def test_small_cnn_head_size_follows_the_input() -> None:
    assert SmallCNN((1, 8, 8), 10).head.in_features == 32 * 2 * 2
    assert SmallCNN((3, 32, 32), 10).head.in_features == 32 * 8 * 8


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_init_is_deterministic_under_manual_seed(name: str) -> None:
    def weights() -> list[torch.Tensor]:
        torch.manual_seed(123)
        return [p.detach().clone() for p in build_model(name, (1, 8, 8), 10).parameters()]

    first, second = weights(), weights()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    torch.manual_seed(124)
    other = [p.detach() for p in build_model(name, (1, 8, 8), 10).parameters()]
    assert not torch.equal(first[0], other[0])


def test_build_model_names_are_case_insensitive() -> None:
    assert isinstance(build_model("LeNet", (1, 8, 8), 10), LeNet5)
    assert isinstance(build_model(" CNN ", (1, 8, 8), 10), SmallCNN)


def test_unknown_model_lists_close_matches() -> None:
    with pytest.raises(UnknownNameError, match="did you mean lenet"):
        build_model("lenet5", (1, 8, 8), 10)


@pytest.mark.parametrize(
    ("name", "shape", "classes", "kwargs"),
    [
        ("cnn", (8, 8), 10, {}),
        ("lenet", (1, 0, 8), 10, {}),
        ("mlp", (1, 8, 8), 0, {}),
        ("cnn", (1, 2, 2), 10, {}),
        ("mlp", (1, 8, 8), 10, {"depth": 3}),
    ],
)
def test_bad_arguments_raise_spec_error(
    name: str, shape: tuple[int, ...], classes: int, kwargs: dict
) -> None:
    with pytest.raises(SpecError):
        build_model(name, shape, classes, **kwargs)
