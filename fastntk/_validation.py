"""Input checks shared by every kernel object: one place that turns user input into the flat,
C-contiguous float32/float64 arrays the core expects, or raises an error naming the problem."""
import numbers
import os

import numpy as np


def as_real_array(x, name):
    """``x`` as a numpy array of booleans, integers or floats, or a TypeError naming ``name``."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real-valued numeric, got dtype {arr.dtype}")
    return arr


def as_points(X, name="X"):
    """Return X as a C-contiguous 2-D float32/float64 array of finite values."""
    arr = as_real_array(X, name)
    if arr.ndim != 2:
        hint = "; use X.reshape(1, -1) for a single sample" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}{hint}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]})")
    return arr


def common_dtype(*arrays):
    return np.result_type(*arrays)


def check_n_threads(n_threads):
    """None means all cores; otherwise a positive integer."""
    if n_threads is None:
        return 0
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    return int(n_threads)


def check_positive_int(value, name, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def available_memory():
    """Bytes of memory the OS reports as available (None if unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def allocate_outputs(shape, dtype, count):
    """Allocate `count` output arrays, refusing up front when they cannot fit in memory."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize * count
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise MemoryError(
            f"the result needs {nbytes / 2**30:.1f} GiB ({count} array(s) of shape {tuple(shape)}, {np.dtype(dtype)}) "
            f"but only {avail / 2**30:.1f} GiB is available; pass out= (e.g. a numpy.memmap from "
            f"fastntk.batching.open_memmap) or compute it block by block on disk with "
            f"fastntk.batching.gram(kernel, X, out=..., max_memory='2GB')")
    return [np.empty(shape, dtype=dtype) for _ in range(count)]


def gram_outputs(out, shape, dtype, want_nngp, want_ntk):
    """The arrays a Gram call writes into: the caller's ``out`` (one array, or a (nngp, ntk) pair
    for both kernels), checked, or newly allocated ones. Returns (outs, out_nngp, out_ntk)."""
    count = int(want_nngp) + int(want_ntk)
    if out is not None:
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(outs) != count:
            raise ValueError(f"out must hold {count} array(s)")
        for o in outs:
            if not isinstance(o, np.ndarray) or o.shape != shape or o.dtype != dtype:
                raise ValueError(f"out arrays must be numpy arrays of shape {shape} and dtype {np.dtype(dtype)}")
    else:
        outs = allocate_outputs(shape, dtype, count)
    return outs, (outs[0] if want_nngp else None), (outs[-1] if want_ntk else None)
