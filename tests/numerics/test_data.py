"""Data: generated sets (Eqs. 77-81), the embedded MNIST subset, IDX files written by the tests."""
import gzip
import json

import numpy as np
import pytest
import torch

from numerics.data import DATA_NAMES, load_data, mnist_idx, mnist_subset, ppca_data, ring_data
from numerics.mnist import read_idx


def scatter(x):
    c = x - x.mean(0)
    return c.T @ c / len(x)


# ------------------------------------------------------------------ generated
def test_ppca_data_follows_eqs_77_78_and_is_reproducible():
    ds = ppca_data(n_train=20_000, n_test=100, seed=5)
    assert ds.x_train.shape == (20_000, 10) and ds.x_test.shape == (100, 10) and ds.name == "ppca"
    W, mu, s2 = ds.generative_params()
    assert W.shape == (10, 2) and bool(((W >= 0) & (W <= 1)).all()) and bool(((mu >= 0) & (mu <= 1)).all())
    C = W @ W.T + s2 * torch.eye(10, dtype=torch.float64)
    assert float((scatter(ds.x_train) - C).abs().max()) < 0.05
    assert float((ds.x_train.mean(0) - mu).abs().max()) < 0.03
    other = ppca_data(n_train=20_000, n_test=100, seed=6).generative_params()
    C_other = other[0] @ other[0].T + other[2] * torch.eye(10, dtype=torch.float64)
    assert float((scatter(ds.x_train) - C_other).abs().max()) > 0.05  # twin: other parameters do not fit
    assert torch.equal(ds.x_train, ppca_data(n_train=20_000, n_test=100, seed=5).x_train)
    json.dumps(ds.meta)


def test_ring_data_follows_eqs_79_81():
    ds = ring_data(n_train=20_000, n_test=10, seed=2)
    W, mu, s2 = ds.generative_params()
    y = ds.x_train - mu                        # = x (1/10 + 1/|x|), so |y| = |x|/10 + 1
    r = torch.linalg.vector_norm(y, dim=1, keepdim=True)
    assert float(r.min()) > 1.0
    x = y * (10 * (r - 1)) / r                 # invert Eq. 81
    C = W @ W.T + s2 * torch.eye(10, dtype=torch.float64)
    assert float((scatter(x) - C).abs().max()) < 0.05 and float(x.mean(0).abs().max()) < 0.03


def test_dtype_and_no_test_set():
    ds = ppca_data(n_train=10, n_test=0, dtype=torch.float32)
    assert ds.x_train.dtype == torch.float32 and ds.x_test is None


# ------------------------------------------------------------------ MNIST subset
@pytest.fixture(scope="module")
def subset():
    return mnist_subset()


def test_mnist_subset_split_scale_and_labels(subset):
    assert subset.x_train.shape == (4000, 784) and subset.x_test.shape == (1000, 784)
    assert float(subset.x_train.min()) == 0.0 and float(subset.x_train.max()) == 1.0
    assert torch.bincount(subset.y_train).tolist() == [400] * 10
    assert torch.bincount(subset.y_test).tolist() == [100] * 10
    assert len(set(subset.y_train[:100].tolist())) == 10  # shuffled: a prefix has every digit
    json.dumps(subset.meta)


def test_load_data_mnist_prefixes(subset):
    ds = load_data("mnist", n_train=500, n_test=0)
    assert torch.equal(ds.x_train, subset.x_train[:500]) and ds.x_test is None and ds.meta["n_train"] == 500
    with pytest.raises(ValueError, match="only 4000 training"):
        load_data("mnist", n_train=4001)


# ------------------------------------------------------------------ IDX files
def write_idx(path, arr, code, compress=False):
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    raw = header + np.asarray(arr, dtype=dtype).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.mark.parametrize("code", [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips(tmp_path, code, compress):
    arr = (np.arange(24).reshape(2, 3, 4) % 100).astype(np.float64)
    back = read_idx(write_idx(tmp_path / "a.idx", arr, code, compress))
    assert back.shape == (2, 3, 4) and np.array_equal(back, arr)


@pytest.mark.parametrize("mangle, message", [
    (lambda b: b"\x01" + b[1:], "not an IDX file"),
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX type code 0x07"),
    (lambda b: b[:-1], "bytes of data"),
    (lambda b: b + b"\x00", "bytes of data"),
    (lambda b: b[:6], "truncated IDX header"),
    (lambda b: b"\x1f\x8b" + b"garbage", "corrupt gzip"),
])
def test_read_idx_rejects_malformed_files(tmp_path, mangle, message):
    good = write_idx(tmp_path / "good", np.zeros((2, 2, 2)), 0x08).read_bytes()
    (tmp_path / "bad").write_bytes(mangle(good))
    with pytest.raises(ValueError, match=message):
        read_idx(tmp_path / "bad")


def test_mnist_idx_reads_a_small_directory(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 28, 28))
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs, 0x08, compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(5), 0x08)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs[:3], 0x08)
    ds = mnist_idx(tmp_path)
    assert ds.x_train.shape == (5, 784) and ds.x_test.shape == (3, 784)
    assert torch.equal(ds.x_train, torch.as_tensor(imgs.reshape(5, -1) / 255.0))
    assert ds.y_train.tolist() == [0, 1, 2, 3, 4] and ds.y_test is None
    via_load = load_data("mnist", data_dir=tmp_path, n_train=2)
    assert via_load.x_train.shape == (2, 784)


def test_mnist_idx_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mnist_idx(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="expected train-images-idx3-ubyte"):
        mnist_idx(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28)), 0x08)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3), 0x08)
    with pytest.raises(ValueError, match="3,\\) labels for 4 images"):
        mnist_idx(tmp_path)


def test_load_data_names_and_options():
    assert DATA_NAMES == ("ppca", "ring", "mnist")
    with pytest.raises(ValueError, match="unknown data set 'cifar'; valid: ppca, ring, mnist"):
        load_data("cifar")
    with pytest.raises(ValueError, match="only to mnist"):
        load_data("ppca", data_dir=".")
    ds = load_data("ring", seed=1, n_train=50, n_test=20)
    assert ds.x_train.shape == (50, 10) and ds.x_test.shape == (20, 10) and ds.meta["seed"] == 1


# ------------------------------------------------------------------ issue 16: bad data, changed data
import hashlib
import os

from numerics import data as data_module


def _mnist_dir(folder, n=5, compress=False):
    folder.mkdir(exist_ok=True)
    imgs = np.random.default_rng(0).integers(0, 256, size=(n, 28, 28))
    write_idx(folder / ("train-images-idx3-ubyte" + (".gz" if compress else "")), imgs, 0x08, compress=compress)
    write_idx(folder / "train-labels-idx1-ubyte", np.arange(n) % 10, 0x08)
    return folder


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_bad_data_before_training(tmp_path, bad):
    imgs = np.full((4, 2, 2), 10.0)
    imgs[2, 1, 0] = bad
    write_idx(tmp_path / "train-images-idx3-ubyte", imgs, 0x0D)
    with pytest.raises(data_module.DataError, match="1 pixel value is not finite \\(NaN or inf\\)") as caught:
        load_data("mnist", data_dir=tmp_path)
    assert "train-images-idx3-ubyte" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("low, high", [(-1.0, 0.0), (0.0, 256.0), (0.0, 1e30)])
def test_pixels_outside_0_255_are_bad_data(tmp_path, low, high):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.array([[[low, high]]]), 0x0E)
    with pytest.raises(data_module.DataError, match="pixel values must lie in \\[0, 255\\]"):
        mnist_idx(tmp_path)


@pytest.mark.parametrize("shape, message", [((5, 0, 28), "0 x 28 pixels"), ((5, 28, 0), "28 x 0 pixels"),
                                            ((0, 28, 28), "holds no images")])
def test_empty_idx_images_are_refused_cleanly(tmp_path, shape, message):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(shape), 0x08)
    with pytest.raises(data_module.DataError, match=message):
        mnist_idx(tmp_path)


def test_an_idx_header_cannot_overflow_the_size_check(tmp_path):
    header = bytes([0, 0, 0x08, 3]) + np.asarray([2 ** 32 - 1] * 3, dtype=">u4").tobytes()
    (tmp_path / "huge").write_bytes(header + b"\x00" * 16)
    with pytest.raises(ValueError, match="bytes of data"):
        read_idx(tmp_path / "huge")


@pytest.mark.parametrize("name", ["ppca", "ring", "mnist"])
@pytest.mark.parametrize("n_train", [0, -3])
def test_n_train_below_one_is_refused(name, n_train):
    with pytest.raises(ValueError, match=f"n_train must be >= 1 \\(got {n_train}\\)"):
        load_data(name, n_train=n_train, n_test=0)


@pytest.mark.parametrize("name", ["ppca", "mnist"])
def test_negative_n_test_is_refused(name):
    with pytest.raises(ValueError, match="n_test must be >= 0 \\(got -1\\)"):
        load_data(name, n_train=10, n_test=-1)


def test_idx_data_carry_a_fingerprint_of_every_file_used(tmp_path, monkeypatch):
    folder = _mnist_dir(tmp_path / "mnist", compress=True)
    monkeypatch.chdir(tmp_path)
    ds = load_data("mnist", data_dir="mnist", n_train=3)
    fp = ds.meta["fingerprint"]
    assert fp["data_dir"] == str(folder) and os.path.isabs(fp["data_dir"])  # relative --data-dir stored absolute
    expected = sorted(p.name for p in folder.iterdir())
    assert [f["name"] for f in fp["files"]] == expected
    for f in fp["files"]:
        raw = (folder / f["name"]).read_bytes()
        assert f["bytes"] == len(raw) and f["sha256"] == hashlib.sha256(raw).hexdigest()
    json.dumps(ds.meta)
    assert data_module.resolve_data_dir("mnist") == str(folder)


def test_changed_idx_files_are_detected(tmp_path):
    """Issue 16, 6: replaced images on --resume silently changed n_train from 100 to 60."""
    folder = _mnist_dir(tmp_path / "mnist", n=100)
    saved = load_data("mnist", data_dir=folder).meta["fingerprint"]
    data_module.check_fingerprint(saved, load_data("mnist", data_dir=folder).meta["fingerprint"])  # unchanged
    _mnist_dir(folder, n=60)
    now = load_data("mnist", data_dir=folder).meta["fingerprint"]
    with pytest.raises(data_module.DataChangedError,
                       match="train-images-idx3-ubyte changed since the run was created: 78416 bytes, sha256 "
                             "[0-9a-f]{12}.* when created, now 47056 bytes") as caught:
        data_module.check_fingerprint(saved, now)
    assert "\n" not in str(caught.value)
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28)), 0x08)
    _mnist_dir(folder, n=100)
    with pytest.raises(data_module.DataChangedError, match="t10k-images-idx3-ubyte was added"):
        data_module.check_fingerprint(saved, load_data("mnist", data_dir=folder).meta["fingerprint"])


def test_the_embedded_subset_and_generated_data_have_a_fingerprint_or_none():
    fp = load_data("mnist", n_train=10, n_test=0).meta["fingerprint"]
    assert [f["name"] for f in fp["files"]] == ["mnist_5k.csv.gz"] and len(fp["files"][0]["sha256"]) == 64
    assert "fingerprint" not in load_data("ppca", n_train=10, n_test=0).meta
    with pytest.raises(data_module.DataChangedError, match="a generated data set"):
        data_module.check_fingerprint(fp, None)
