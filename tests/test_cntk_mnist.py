"""The MNIST IDX loader (fastntk.mnist) and the CNTK on real digits (zero-heavy images) against the
numpy P² reference."""
import gzip

import numpy as np
import pytest

from fastntk import Convolutional
from fastntk.mnist import _read_idx, load_mnist

import cntk_reference as ref


def _write_idx(path, arr):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_idx_round_trip_and_errors(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, size=(3, 4, 5))
    labels = np.array([1, 7, 3])
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    X, y = load_mnist("test", folder=tmp_path)
    assert X.shape == (3, 4, 5) and np.array_equal(X * 255.0, imgs) and np.array_equal(y, labels)
    with open(tmp_path / "bad.gz", "wb") as f:
        f.write(gzip.compress(b"\x00\x00\x0d\x01\x00\x00\x00\x02abcdefgh"))
    with pytest.raises(ValueError, match="unsigned-byte IDX"):
        _read_idx(tmp_path / "bad.gz")
    with pytest.raises(FileNotFoundError, match="train-images"):
        load_mnist("train", folder=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_mnist("valid", folder=tmp_path)


def test_shared_mnist_and_cntk_on_digits(shared_data):
    X, y = load_mnist("test", folder=shared_data / "mnist")
    assert X.shape == (10000, 28, 28) and y.shape == (10000,)
    assert X.min() == 0.0 and X.max() == 1.0 and set(np.unique(y)) == set(range(10))
    # Centre crops of real digits: many pixels with zero norm at every layer.
    Z = X[:3, 8:18, 9:19]
    for readout in ("flatten", "gap"):
        s, t = Convolutional(3, readout).kernels(Z)
        rs, rt = ref.gram(ref.arora_pair, Z[..., None], depth=3, readout=readout)
        assert np.isfinite(t).all()
        assert np.max(np.abs(t - rt) / np.abs(rt)) < 1e-10 and np.max(np.abs(s - rs) / np.abs(rs)) < 1e-10
