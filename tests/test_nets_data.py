"""Tests for optiscope.nets.data: IDX and CIFAR readers on tiny files, digits, synthetic, batches."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optiscope.errors import SpecError, UnknownNameError
from optiscope.nets import data as data_module
from optiscope.nets.data import Dataset, DatasetError, batches, load_dataset, make_synthetic

N_TRAIN, N_TEST = 20, 10


def _idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x00000800 | array.ndim
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def _write(path: Path, payload: bytes, compress: bool) -> None:
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


@pytest.fixture
def mnist_dir(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Tiny MNIST: training files gzipped, test files plain."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }
    for stem, array in arrays.items():
        _write(tmp_path / stem, _idx_bytes(array), compress=stem.startswith("train"))
    return tmp_path, arrays


def test_mnist_shapes_labels_and_normalised_pixels(mnist_dir) -> None:
    folder, arrays = mnist_dir
    ds = load_dataset("mnist", data_dir=folder)
    assert ds.x_train.shape == (N_TRAIN, 1, 28, 28) and ds.x_test.shape == (N_TEST, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10 and ds.flat_dim == 784
    np.testing.assert_array_equal(ds.y_train.numpy(), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(ds.y_test.numpy(), arrays["t10k-labels-idx1-ubyte"])
    expected = (arrays["t10k-images-idx3-ubyte"].astype(np.float32) / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(ds.x_test[:, 0].numpy(), expected, rtol=1e-6, atol=1e-6)
    expected_train_pixel = (arrays["train-images-idx3-ubyte"][3, 5, 7] / 255.0 - 0.1307) / 0.3081
    assert ds.x_train[3, 0, 5, 7].item() == pytest.approx(expected_train_pixel, abs=1e-6)


def test_mnist_flatten_and_limit(mnist_dir) -> None:
    folder, arrays = mnist_dir
    ds = load_dataset("mnist", data_dir=folder, flatten=True, limit=4)
    assert ds.x_train.shape == (4, 784) and ds.x_test.shape == (4, 784) and ds.input_shape == (784,)
    np.testing.assert_array_equal(ds.y_train.numpy(), arrays["train-labels-idx1-ubyte"][:4])


def test_mnist_bad_magic_names_file(mnist_dir) -> None:
    folder, _ = mnist_dir
    path = folder / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + path.read_bytes()[4:])
    with pytest.raises(DatasetError, match="magic") as info:
        load_dataset("mnist", data_dir=folder)
    assert str(path) in str(info.value)


def test_mnist_truncated_file_names_file(mnist_dir) -> None:
    folder, _ = mnist_dir
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="truncated") as info:
        load_dataset("mnist", data_dir=folder)
    assert str(path) in str(info.value)


def test_mnist_missing_file_names_file_and_folder(mnist_dir) -> None:
    folder, _ = mnist_dir
    (folder / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_dir=folder)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte[.gz]" in message and str(folder) in message and "\n" not in message


def test_mnist_without_folder_or_download_says_what_to_pass() -> None:
    with pytest.raises(DatasetError, match="--data-dir"):
        load_dataset("mnist")


def test_download_without_torchvision_says_pip_install(tmp_path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "torchvision":
            raise ImportError("no torchvision")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(DatasetError, match="pip install torchvision"):
        load_dataset("cifar10", data_dir=tmp_path, download=True)


def test_cifar10_shapes_labels_names_and_per_channel_normalisation(cifar_dir) -> None:
    root, train, test = cifar_dir
    ds = load_dataset("cifar10", data_dir=root)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
    assert ds.class_names[0] == "airplane" and ds.class_names[9] == "truck"
    np.testing.assert_array_equal(ds.y_train.numpy(), np.concatenate([b[b"labels"] for b in train]))
    np.testing.assert_array_equal(ds.y_test.numpy(), test[b"labels"])
    mean, std = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2470, 0.2435, 0.2616])
    raw = test[b"data"].reshape(6, 3, 32, 32) / 255.0
    expected = (raw - mean[None, :, None, None]) / std[None, :, None, None]
    np.testing.assert_allclose(ds.x_test.numpy(), expected, rtol=1e-5, atol=1e-5)
    # data_batch_2 starts at train index 4; channel 1 is pixels 1024..2047 of the row.
    pixel = train[1][b"data"][0, 1024 + 32 * 3 + 5] / 255.0
    assert ds.x_train[4, 1, 3, 5].item() == pytest.approx((pixel - 0.4822) / 0.2435, abs=1e-5)


def test_cifar10_reads_flat_folder_too(cifar_dir) -> None:
    root, _, _ = cifar_dir
    ds = load_dataset("cifar10", data_dir=root / "cifar-10-batches-py", limit=3, flatten=True)
    assert ds.x_train.shape == (3, 3072) and ds.x_test.shape == (3, 3072)


def test_cifar10_missing_batch_names_file_and_folder(cifar_dir) -> None:
    root, _, _ = cifar_dir
    folder = root / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="data_batch_3") as info:
        load_dataset("cifar10", data_dir=root)
    assert str(folder) in str(info.value)


@pytest.mark.parametrize("damage", ["truncate", "wrong_shape"])
def test_cifar10_corrupt_batch_names_file(cifar_dir, damage) -> None:
    root, _, _ = cifar_dir
    path = root / "cifar-10-batches-py" / "test_batch"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    else:
        with path.open("wb") as handle:
            pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, handle)
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", data_dir=root)
    assert str(path) in str(info.value)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="digits, mnist, cifar10, synthetic"):
        load_dataset("mnsit")


@pytest.mark.parametrize(
    "kwargs", [{"test_fraction": 0.0}, {"test_fraction": 1.0}, {"limit": 0}, {"n_train": 5}]
)
def test_bad_arguments_raise_spec_error(kwargs) -> None:
    with pytest.raises(SpecError):
        load_dataset("digits", **kwargs)


def test_digits_split_is_deterministic_stratified_and_normalised() -> None:
    first, again = load_dataset("digits", seed=3), load_dataset("digits", seed=3)
    other = load_dataset("digits", seed=4)
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)
    assert not torch.equal(first.y_train, other.y_train)
    assert first.x_train.shape == (1347, 1, 8, 8) and first.x_test.shape == (450, 1, 8, 8)
    train_share = torch.bincount(first.y_train, minlength=10) / len(first.y_train)
    test_share = torch.bincount(first.y_test, minlength=10) / len(first.y_test)
    assert (train_share - test_share).abs().max().item() < 0.01, (train_share, test_share)
    assert first.x_train.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert first.x_train.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)


def test_digits_pixels_match_sklearn_split_normalised_by_train_statistics() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x_train, x_test, y_train, _ = train_test_split(
        bunch.images / 16.0, bunch.target, test_size=0.5, random_state=2, stratify=bunch.target
    )
    mean, std = x_train.mean(), x_train.std()
    ds = load_dataset("digits", seed=2, test_fraction=0.5)
    np.testing.assert_array_equal(ds.y_train.numpy(), y_train)
    np.testing.assert_allclose(ds.x_test[:, 0].numpy(), (x_test - mean) / std, rtol=1e-5, atol=1e-5)


def test_synthetic_is_deterministic_and_linearly_learnable() -> None:
    ds = load_dataset("synthetic:400,16,4", seed=7)
    again = load_dataset("synthetic:400,16,4", seed=7)
    assert torch.equal(ds.x_train, again.x_train) and torch.equal(ds.y_test, again.y_test)
    assert not torch.equal(ds.x_train, load_dataset("synthetic:400,16,4", seed=8).x_train)
    assert ds.x_train.shape == (400, 16) and ds.x_test.shape == (100, 16) and ds.num_classes == 4
    targets = torch.nn.functional.one_hot(ds.y_train, 4).double()
    weights = torch.linalg.lstsq(ds.x_train.double(), targets).solution
    accuracy = ((ds.x_test.double() @ weights).argmax(1) == ds.y_test).double().mean().item()
    assert accuracy > 0.6, f"least-squares probe test accuracy {accuracy:.3f}, chance 0.25"


def test_synthetic_keyword_options_and_shape_spec() -> None:
    ds = load_dataset("synthetic", n_train=12, n_test=5, input_shape=(3, 4, 4), num_classes=3)
    assert ds.x_train.shape == (12, 3, 4, 4) and ds.x_test.shape == (5, 3, 4, 4)
    assert set(ds.y_train.tolist()) <= {0, 1, 2}
    assert load_dataset("synthetic:8,3x32x32,10", flatten=True).x_train.shape == (8, 3072)
    assert torch.equal(make_synthetic(seed=1).x_train, make_synthetic(seed=1).x_train)
    with pytest.raises(SpecError):
        load_dataset("synthetic:8,x")


def test_dataset_to_and_flat_dim() -> None:
    ds = load_dataset("synthetic:8,2x3,2").to("cpu")
    assert isinstance(ds, Dataset) and ds.flat_dim == 6 and ds.x_test.device.type == "cpu"


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 120), batch_size=st.integers(1, 150), seed=st.integers(0, 2**16))
def test_batches_cover_every_index_once(n: int, batch_size: int, seed: int) -> None:
    x, y = torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.arange(n)
    parts = list(batches(x, y, batch_size, generator=torch.Generator().manual_seed(seed)))
    seen = torch.cat([yb for _, yb in parts])
    assert sorted(seen.tolist()) == list(range(n))
    assert all(torch.equal(xb[:, 0].long(), yb) for xb, yb in parts)
    assert len(parts) == -(-n // batch_size)
    if batch_size >= n:
        assert len(parts) == 1 and len(parts[0][1]) == n


def test_batches_reproducible_and_drop_last() -> None:
    x, y = torch.randn(23, 2), torch.arange(23)
    first = [yb for _, yb in batches(x, y, 5, generator=torch.Generator().manual_seed(0))]
    again = [yb for _, yb in batches(x, y, 5, generator=torch.Generator().manual_seed(0))]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(torch.cat(first), torch.arange(23))
    dropped = list(batches(x, y, 5, generator=torch.Generator().manual_seed(0), drop_last=True))
    assert [len(yb) for _, yb in dropped] == [5, 5, 5, 5]
    ordered = torch.cat([yb for _, yb in batches(x, y, 5, generator=None, shuffle=False)])
    assert torch.equal(ordered, torch.arange(23))


def test_all_public_names_exist() -> None:
    for name in data_module.__all__:
        assert hasattr(data_module, name), name
