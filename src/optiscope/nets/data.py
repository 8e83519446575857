"""Datasets for the training lab: digits (bundled, offline), MNIST, CIFAR-10 and synthetic data.

``proxy-cifar10`` and ``proxy-mnist`` are offline stand-ins with the seeds' input shapes, rendered
from the bundled digits by :mod:`optiscope.nets.proxy_data`.

Every loader returns a :class:`Dataset` of whole tensors in memory: inputs ``(N, *input_shape)``
float32, labels ``(N,)`` int64. :func:`batches` then cuts minibatches from them by index
permutation, so no per-sample Python runs in the training loop.

Nothing here touches the network unless ``download=True`` is asked for, and then only through
torchvision (imported lazily). MNIST is read from its IDX files and CIFAR-10 from its python
batches in a folder the user names.
"""

from __future__ import annotations

import difflib
import gzip
import math
import pickle
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optiscope.errors import OptiscopeError, SpecError, UnknownNameError
from optiscope.nets.proxy_data import PROXY_RECIPES, load_proxy

__all__ = ["DATASET_NAMES", "Dataset", "DatasetError", "batches", "load_dataset", "make_synthetic"]

DATASET_NAMES = ("digits", "mnist", "cifar10", "synthetic", *PROXY_RECIPES)
DEFAULT_DATA_DIR = Path.home() / ".cache" / "optiscope" / "data"
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC = 0x00000803, 0x00000801
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_FIX_HINT = "pass --data-dir, or --download with torchvision installed"


class DatasetError(OptiscopeError):
    """A dataset folder or file is missing, truncated or not in the expected format."""


@dataclass
class Dataset:
    """A train/test split held as whole tensors.

    Attributes:
        name: dataset name, e.g. ``"mnist"``.
        x_train: inputs ``(N_train, *input_shape)``, float32, normalised.
        y_train: labels ``(N_train,)``, int64 in ``[0, num_classes)``.
        x_test: inputs ``(N_test, *input_shape)``.
        y_test: labels ``(N_test,)``.
        num_classes: number of classes.
        input_shape: shape of one input, e.g. ``(64,)``, ``(1, 28, 28)`` or ``(3, 32, 32)``.
        class_names: one readable name per class.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]

    @property
    def flat_dim(self) -> int:
        """Number of features of one flattened input."""
        return math.prod(self.input_shape)

    def to(self, device: torch.device | str) -> Dataset:
        """Return a copy whose four tensors live on ``device``."""
        return self._map(lambda t: t.to(device))

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Dataset:
        """Return a copy with ``fn`` applied to each of the four tensors."""
        return replace(
            self,
            x_train=fn(self.x_train),
            y_train=fn(self.y_train),
            x_test=fn(self.x_test),
            y_test=fn(self.y_test),
        )


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    seed: int = 0,
    test_fraction: float = 0.25,
    flatten: bool = False,
    limit: int | None = None,
    **synthetic_options: Any,
) -> Dataset:
    """Load a dataset by name.

    Args:
        name: ``digits``, ``mnist``, ``cifar10``, ``synthetic`` or ``synthetic:N,D,C`` (N train
            samples of dimension D, which may be a shape such as ``3x32x32``, in C classes), or
            an offline proxy, ``proxy-cifar10`` or ``proxy-mnist`` (see :mod:`optiscope.nets.proxy_data`).
        data_dir: folder holding the MNIST IDX files or the CIFAR-10 python batches.
        download: fetch MNIST/CIFAR-10 with torchvision when the files are missing (the only
            network access in this module).
        seed: seed of the digits split, of synthetic data and of the proxies' rendering.
        test_fraction: test share of the digits split; ``synthetic:N,D,C`` draws
            ``round(N * test_fraction)`` test samples. The proxies have fixed sizes.
        flatten: flatten inputs to ``(N, D)``.
        limit: keep only the first ``limit`` train and the first ``limit`` test samples.
        **synthetic_options: ``n_train``, ``n_test``, ``input_shape``, ``num_classes`` for ``synthetic``.

    Returns:
        The loaded :class:`Dataset`.

    Raises:
        UnknownNameError: ``name`` is not a known dataset.
        SpecError: an argument is out of range.
        DatasetError: files are missing, truncated or malformed.
    """
    if not 0.0 < test_fraction < 1.0:
        raise SpecError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    if limit is not None and limit < 1:
        raise SpecError(f"limit must be a positive integer, got {limit}")
    base, _, args = name.strip().lower().partition(":")
    if base not in DATASET_NAMES:
        close = difflib.get_close_matches(base, DATASET_NAMES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownNameError(
            f"unknown dataset {name!r}{hint}; valid names: digits, mnist, cifar10, synthetic[:N,D,C], "
            f"{', '.join(PROXY_RECIPES)}"
        )
    if synthetic_options and base != "synthetic":
        raise SpecError(f"options {sorted(synthetic_options)} only apply to the synthetic dataset")
    if base == "synthetic":
        options = _parse_synthetic(args, test_fraction) if args else {}
        dataset = make_synthetic(seed=seed, **{**options, **synthetic_options})
    elif args:
        raise SpecError(f"dataset {base!r} takes no ':' arguments, got {name!r}")
    elif base == "digits":
        dataset = _load_digits(seed, test_fraction)
    elif base in PROXY_RECIPES:
        dataset = _load_proxy(base, seed)
    else:
        folder = _resolve_folder(base, data_dir, download)
        dataset = _load_mnist(folder, limit) if base == "mnist" else _load_cifar10(folder, limit)
    return _finish(dataset, flatten, limit)


def make_synthetic(
    *,
    n_train: int = 1000,
    n_test: int = 250,
    input_shape: tuple[int, ...] | int = (32,),
    num_classes: int = 10,
    seed: int = 0,
) -> Dataset:
    """Gaussian inputs labelled by a fixed random linear teacher, for benchmarks.

    The label of ``x`` is ``argmax(x @ W)`` for one Gaussian ``W`` drawn from ``seed``, so a linear
    model can learn the task perfectly; train and test share the teacher.

    Args:
        n_train: number of train samples.
        n_test: number of test samples.
        input_shape: shape of one input (an int means ``(D,)``).
        num_classes: number of classes (at least 2).
        seed: seed of inputs and teacher.

    Returns:
        A :class:`Dataset` named ``"synthetic"``.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(int(d) for d in input_shape)
    if n_train < 1 or n_test < 1 or num_classes < 2 or not shape or min(shape) < 1:
        raise SpecError(
            f"synthetic needs n_train, n_test >= 1, num_classes >= 2 and a positive shape; got "
            f"n_train={n_train}, n_test={n_test}, num_classes={num_classes}, input_shape={shape}"
        )
    generator = torch.Generator().manual_seed(seed)
    dim = math.prod(shape)
    teacher = torch.randn(dim, num_classes, generator=generator)
    x = torch.randn(n_train + n_test, dim, generator=generator)
    y = (x @ teacher).argmax(dim=1)
    x = x.reshape(-1, *shape)
    names = tuple(f"class_{k}" for k in range(num_classes))
    return Dataset("synthetic", x[:n_train], y[:n_train], x[n_train:], y[n_train:], num_classes, shape, names)


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    generator: torch.Generator | None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield one epoch of minibatches by slicing a random permutation of the indices.

    Args:
        x: inputs ``(N, ...)``.
        y: labels ``(N,)``.
        batch_size: samples per batch; ``batch_size >= N`` yields the whole set once (full-batch GD).
        generator: source of the permutation (its device is used for ``randperm``).
        shuffle: permute the samples; otherwise keep their order.
        drop_last: skip a final batch smaller than ``batch_size``.

    Yields:
        Pairs ``(xb, yb)`` with ``xb`` of shape ``(B, ...)`` and ``yb`` of shape ``(B,)``.
    """
    n = len(x)
    if len(y) != n:
        raise SpecError(f"x and y differ in length: {n} != {len(y)}")
    if batch_size < 1:
        raise SpecError(f"batch_size must be >= 1, got {batch_size}")
    if batch_size >= n:
        yield x, y
        return
    if shuffle:
        device = generator.device if generator is not None else x.device
        order = torch.randperm(n, generator=generator, device=device).to(x.device)
    else:
        order = torch.arange(n, device=x.device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield x[index], y[index.to(y.device)]


def _finish(dataset: Dataset, flatten: bool, limit: int | None) -> Dataset:
    """Apply ``limit`` and ``flatten`` to a loaded dataset."""
    if limit is not None:
        dataset = dataset._map(lambda t: t[:limit])
    if flatten:
        x_train, x_test = (x.reshape(len(x), -1) for x in (dataset.x_train, dataset.x_test))
        dataset = replace(dataset, x_train=x_train, x_test=x_test, input_shape=(dataset.flat_dim,))
    return dataset


def _parse_synthetic(args: str, test_fraction: float) -> dict[str, Any]:
    """Parse ``"N,D,C"`` (D may be ``3x32x32``); the test set has ``round(N * test_fraction)`` samples."""
    parts = [p.strip() for p in args.split(",")]
    try:
        if len(parts) != 3:
            raise ValueError(args)
        n_train, shape, num_classes = int(parts[0]), tuple(int(d) for d in parts[1].split("x")), int(parts[2])
    except (ValueError, IndexError):
        raise SpecError(
            f"synthetic spec must be 'synthetic:N,D,C' (e.g. synthetic:1000,3x32x32,10), got {args!r}"
        ) from None
    n_test = max(1, round(n_train * test_fraction))
    return {"n_train": n_train, "n_test": n_test, "input_shape": shape, "num_classes": num_classes}


def _load_digits(seed: int, test_fraction: float) -> Dataset:
    """scikit-learn's bundled 8x8 digits, split stratified by ``seed``, normalised by train statistics."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    labels = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    mean, std = float(x_train.mean()), float(x_train.std())
    x_train, x_test = ((torch.from_numpy(a) - mean) / std for a in (x_train, x_test))
    y_train, y_test = torch.from_numpy(y_train), torch.from_numpy(y_test)
    names = tuple(str(k) for k in range(10))
    return Dataset("digits", x_train.unsqueeze(1), y_train, x_test.unsqueeze(1), y_test, 10, (1, 8, 8), names)


def _load_proxy(name: str, seed: int) -> Dataset:
    """An offline proxy rendered from the digits by ``seed``, normalised per channel by train statistics."""
    x_train, y_train, x_test, y_test = load_proxy(name, seed)
    shape = tuple(x_train.shape[1:])
    names = tuple(str(k) for k in range(10))
    return Dataset(name, x_train, y_train, x_test, y_test, 10, shape, names)


def _resolve_folder(name: str, data_dir: str | Path | None, download: bool) -> Path:
    """The folder to read ``name`` from, downloading it through torchvision only when asked."""
    label = "MNIST" if name == "mnist" else "CIFAR-10"
    if data_dir is None and not download:
        raise DatasetError(f"{label}: no data folder given ({_FIX_HINT})")
    root = Path(data_dir if data_dir is not None else DEFAULT_DATA_DIR).expanduser()
    if download and _missing_file(name, root) is not None:
        _download(name, root)
    return root


def _missing_file(name: str, root: Path) -> str | None:
    """Name of the first expected file absent under ``root``, or None when all are present."""
    if name == "mnist":
        for stem in (*_MNIST_FILES["train"], *_MNIST_FILES["test"]):
            if _find_idx(root, stem) is None:
                return f"{stem}[.gz]"
        return None
    folder = _cifar_folder(root)
    for stem in (*_CIFAR_TRAIN, "test_batch", "batches.meta"):
        if not (folder / stem).is_file():
            return stem
    return None


def _download(name: str, root: Path) -> None:
    """Fetch MNIST or CIFAR-10 into ``root`` with torchvision (the module's only network access)."""
    try:
        import torchvision
    except ImportError:
        raise DatasetError(
            f"--download needs torchvision: pip install torchvision (target folder {root})"
        ) from None
    cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.CIFAR10
    try:
        for train in (True, False):
            cls(root=str(root), train=train, download=True)
    except (OSError, RuntimeError) as error:
        raise DatasetError(f"downloading {name} into {root} failed: {error}") from None


def _find_idx(root: Path, stem: str) -> Path | None:
    """Locate an IDX file, plain or gzipped, in ``root`` or torchvision's ``root/MNIST/raw``."""
    for folder in (root, root / "MNIST" / "raw"):
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file: big-endian magic, big-endian dims, then the raw bytes."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as error:
        raise DatasetError(f"{path}: cannot read ({error})") from None
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DatasetError(f"{path}: bad IDX magic number 0x{found:08X}, expected 0x{magic:08X}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(dims)
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path}: IDX dims {dims} need {expected} data bytes, file holds {len(raw) - header} "
            "(truncated or corrupt)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _load_mnist_split(root: Path, split: str, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one MNIST split as normalised ``(N, 1, 28, 28)`` images and int64 labels."""
    paths = []
    for stem in _MNIST_FILES[split]:
        path = _find_idx(root, stem)
        if path is None:
            raise DatasetError(f"MNIST: expected {stem}[.gz] in {root} ({_FIX_HINT})")
        paths.append(path)
    images = _read_idx(paths[0], _IDX_IMAGES_MAGIC)
    labels = _read_idx(paths[1], _IDX_LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{paths[0]}: MNIST images must be 28x28, found {images.shape[1:]}")
    if len(images) != len(labels):
        raise DatasetError(f"{paths[1]}: {len(labels)} labels for {len(images)} images in {paths[0]}")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{paths[1]}: label {int(labels.max())} outside 0..9")
    images, labels = images[:limit], labels[:limit]
    x = (torch.from_numpy(images.astype(np.float32) / 255.0) - MNIST_MEAN) / MNIST_STD
    return x.unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _load_mnist(root: Path, limit: int | None) -> Dataset:
    """MNIST from the four standard IDX files in ``root``."""
    x_train, y_train = _load_mnist_split(root, "train", limit)
    x_test, y_test = _load_mnist_split(root, "test", limit)
    names = tuple(str(k) for k in range(10))
    return Dataset("mnist", x_train, y_train, x_test, y_test, 10, (1, 28, 28), names)


def _cifar_folder(root: Path) -> Path:
    """``root`` itself, or ``root/cifar-10-batches-py`` when the archive was extracted there."""
    nested = root / "cifar-10-batches-py"
    return nested if nested.is_dir() else root


def _read_cifar_pickle(path: Path) -> dict[bytes, Any]:
    """Unpickle one CIFAR-10 batch file.

    The python batches are the dataset's own distribution format, so they are unpickled; only the
    known file names are opened, and only from the folder the user named. Do not point
    ``data_dir`` at files you do not trust: unpickling can run code.
    """
    if not path.is_file():
        raise DatasetError(f"CIFAR-10: expected {path.name} in {path.parent} ({_FIX_HINT})")
    try:
        with path.open("rb") as handle:
            content = pickle.load(handle, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise DatasetError(
            f"{path}: not a readable CIFAR-10 pickle ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(content, dict):
        raise DatasetError(f"{path}: expected a dict, found {type(content).__name__}")
    return content


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch as ``(N, 3072)`` uint8 pixels and ``(N,)`` labels, validated."""
    content = _read_cifar_pickle(path)
    if b"data" not in content or b"labels" not in content:
        raise DatasetError(f"{path}: missing b'data' or b'labels' (keys: {sorted(content)})")
    data, labels = np.asarray(content[b"data"]), np.asarray(content[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetError(f"{path}: b'data' must be (N, 3072) uint8, found {data.shape} {data.dtype}")
    if labels.shape != (len(data),) or (labels.size and not 0 <= labels.min() <= labels.max() <= 9):
        raise DatasetError(f"{path}: b'labels' must be {len(data)} integers in 0..9")
    return data, labels


def _cifar_tensors(data: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels ``(N, 3072)`` uint8 -> ``(N, 3, 32, 32)`` normalised per channel."""
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return (x - mean) / std, torch.from_numpy(labels)


def _load_cifar10(root: Path, limit: int | None) -> Dataset:
    """CIFAR-10 from ``data_batch_1..5``, ``test_batch`` and ``batches.meta``."""
    folder = _cifar_folder(root)
    train = [_read_cifar_batch(folder / stem) for stem in _CIFAR_TRAIN]
    test_data, test_labels = _read_cifar_batch(folder / "test_batch")
    meta = _read_cifar_pickle(folder / "batches.meta")
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(b"label_names", []))
    if len(names) != 10:
        raise DatasetError(
            f"{folder / 'batches.meta'}: b'label_names' must list 10 names, found {len(names)}"
        )
    train_data = np.concatenate([d for d, _ in train])[:limit]
    train_labels = np.concatenate([lab for _, lab in train])[:limit]
    x_train, y_train = _cifar_tensors(train_data, train_labels)
    x_test, y_test = _cifar_tensors(test_data[:limit], test_labels[:limit])
    return Dataset("cifar10", x_train, y_train, x_test, y_test, 10, (3, 32, 32), names)
