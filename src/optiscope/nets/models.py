"""The small networks the training lab trains: seed 000's MLP, a small CNN and LeNet-5.

Every model maps a batch ``(N, *input_shape)`` to logits ``(N, num_classes)``. Build one by name
with :func:`build_model`; the names are ``mlp``, ``cnn`` and ``lenet`` (case-insensitive).
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from optiscope.errors import SpecError, UnknownNameError

__all__ = ["MLP", "MODEL_NAMES", "LeNet5", "SmallCNN", "build_model", "count_parameters"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}
_LENET_SIZE = 32  # LeCun et al. (1998) feed LeNet-5 a 32x32 field; MNIST digits sit centred in it


def _check_positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(f"{what} must be a positive integer, got {value!r}")
    return value


def _check_image_shape(input_shape: Sequence[int], what: str) -> tuple[int, int, int]:
    """Validate an image shape ``(channels, height, width)`` of positive integers."""
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise SpecError(f"{what} needs an input shape (channels, height, width), got {shape!r}")
    for size in shape:
        _check_positive_int(size, f"{what} input shape entry")
    return shape  # type: ignore[return-value]


def _activation(name: str) -> type[nn.Module]:
    try:
        return _ACTIVATIONS[name.lower()]
    except (KeyError, AttributeError):
        raise SpecError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}") from None


def _flat_features(
    features: Callable[[torch.Tensor], torch.Tensor], input_shape: tuple[int, int, int], what: str
) -> int:
    """The number of features ``features`` outputs for one input, found by a dummy forward."""
    try:
        with torch.no_grad():
            return int(features(torch.zeros(1, *input_shape)).numel())
    except RuntimeError as exc:
        raise SpecError(f"{what} cannot take inputs of shape {input_shape}: {exc}") from exc


class MLP(nn.Sequential):
    """Seed 000's multi-layer perceptron: flatten, then Linear + ReLU layers, then a linear head.

    The default ``hidden=(64, 64, 32)`` on CIFAR-10 (``input_dim=3072``) is the seed's
    3072 -> 64 -> 64 -> 32 -> 10 network. Inputs of any shape ``(N, ...)`` are flattened first.

    Args:
        input_dim: features per example after flattening.
        num_classes: number of logits.
        hidden: widths of the hidden layers, each followed by a ReLU.
    """

    def __init__(self, input_dim: int, num_classes: int, hidden: Sequence[int] = (64, 64, 32)) -> None:
        widths = [_check_positive_int(input_dim, "MLP input_dim")]
        widths += [_check_positive_int(width, "MLP hidden width") for width in hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], _check_positive_int(num_classes, "num_classes")))
        super().__init__(*layers)


class SmallCNN(nn.Module):
    """Two 3x3 conv layers (16 and 32 channels, ReLU, 2x2 max-pool) and a linear head.

    The convolutions keep the spatial size (padding 1) and each pool halves it, so the net runs
    on any image of at least 4x4: digits (1, 8, 8), MNIST (1, 28, 28), CIFAR-10 (3, 32, 32).

    Args:
        input_shape: ``(channels, height, width)`` of one example.
        num_classes: number of logits.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        shape = _check_image_shape(input_shape, "SmallCNN")
        self.features = nn.Sequential(
            nn.Conv2d(shape[0], 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        flat = _flat_features(self.features, shape, "SmallCNN")
        self.head = nn.Linear(flat, _check_positive_int(num_classes, "num_classes"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` of images ``(N, C, H, W)``."""
        return self.head(self.features(x))


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998): conv 6@5x5, pool, conv 16@5x5, pool, 120, 84, classes.

    Inputs smaller than 32x32 are zero-padded (centred) to 32x32 inside the model, as the paper
    did for MNIST's 28x28 digits; that also lets the 8x8 digits run. So digits, MNIST and CIFAR-10
    all reach the first dense layer with the paper's 16*5*5 = 400 features. Convolutions are
    unpadded; pooling is 2x2 max-pooling (the paper used trainable sub-sampling).

    Args:
        input_shape: ``(channels, height, width)`` of one example.
        num_classes: number of logits.
        activation: ``"relu"`` (default) or ``"tanh"`` (closer to the paper's squashing).
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, activation: str = "relu") -> None:
        super().__init__()
        channels, height, width = _check_image_shape(input_shape, "LeNet5")
        act = _activation(activation)
        pad_h, pad_w = max(0, _LENET_SIZE - height), max(0, _LENET_SIZE - width)
        self.pad = nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        self.conv1 = nn.Conv2d(channels, 6, kernel_size=5)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.pool = nn.MaxPool2d(2)
        self.act = act()
        flat = _flat_features(self.features, (channels, height, width), "LeNet5")
        self.fc1 = nn.Linear(flat, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, _check_positive_int(num_classes, "num_classes"))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened output ``(N, 400)`` of the conv/pool stack (for inputs up to 32x32)."""
        x = self.pool(self.act(self.conv1(self.pad(x))))
        x = self.pool(self.act(self.conv2(x)))
        return torch.flatten(x, start_dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` of images ``(N, C, H, W)``."""
        x = self.act(self.fc1(self.features(x)))
        return self.fc3(self.act(self.fc2(x)))


def _build_mlp(input_shape: tuple[int, ...], num_classes: int, **kwargs: object) -> nn.Module:
    return MLP(math.prod(input_shape), num_classes, **kwargs)  # type: ignore[arg-type]


_BUILDERS: dict[str, Callable[..., nn.Module]] = {"mlp": _build_mlp, "cnn": SmallCNN, "lenet": LeNet5}
MODEL_NAMES: tuple[str, ...] = tuple(sorted(_BUILDERS))


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **kwargs: object) -> nn.Module:
    """Build a model by name for examples of ``input_shape`` and ``num_classes`` classes.

    Args:
        name: ``mlp``, ``cnn`` or ``lenet`` (case-insensitive).
        input_shape: shape of one example, e.g. ``(1, 8, 8)``; the MLP flattens any shape.
        num_classes: number of logits.
        **kwargs: passed to the model (``hidden`` for the MLP, ``activation`` for LeNet).

    Returns:
        The freshly initialised model (seed torch first for a reproducible init).

    Raises:
        UnknownNameError: ``name`` is not a model; the message lists close matches.
        SpecError: a bad shape, class count or keyword argument.
    """
    key = str(name).strip().lower()
    if key not in _BUILDERS:
        close = difflib.get_close_matches(key, MODEL_NAMES, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"unknown model {name!r}{hint} (known: {', '.join(MODEL_NAMES)})")
    shape = tuple(input_shape)
    for size in shape:
        _check_positive_int(size, f"{key} input shape entry")
    try:
        return _BUILDERS[key](shape, num_classes, **kwargs)
    except TypeError as exc:
        raise SpecError(f"bad arguments for model {key!r}: {exc}") from exc


def count_parameters(model: nn.Module) -> int:
    """The number of scalar parameters of ``model`` (trainable or not)."""
    return sum(parameter.numel() for parameter in model.parameters())
