"""MNIST from the IDX files (``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``) in the shared
data folder (``<data>/mnist/``). Only the 10,000-image test set is provided there."""
import gzip
from pathlib import Path

import numpy as np

from .data_path import require_data_dir

_FILES = {"test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
          "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")}


def _read_idx(path):
    """An IDX array (big-endian header: 0, 0, type code 0x08 = uint8, ndim; then the sizes)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {body.size} values")
    return body.reshape(shape)


def load_mnist(split="test", folder=None, dtype=np.float64):
    """(images, labels): images (n, 28, 28) scaled to [0, 1] in ``dtype``, labels (n,) int64.

    ``folder`` defaults to ``<shared data>/mnist`` (see :func:`fastntk.data_path.data_dir`).
    """
    if split not in _FILES:
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    folder = Path(folder) if folder is not None else Path(require_data_dir()) / "mnist"
    img_name, lab_name = _FILES[split]
    for name in (img_name, lab_name):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"MNIST file {folder / name} not found")
    images = _read_idx(folder / img_name)
    labels = _read_idx(folder / lab_name)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST files disagree: images {images.shape}, labels {labels.shape}")
    return (images.astype(dtype) / 255.0), labels.astype(np.int64)
