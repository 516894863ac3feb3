"""Gram matrices too large for memory: written block by block into a caller-supplied array.

Works with any kernel object that implements the block protocol of the fastntk kernels
(``FullyConnected``, the graph and convolutional kernels):

* ``P = kernel.prepare(X)`` returns prepared inputs with ``len(P)`` and ``P.rows(a, b)`` (and, optionally,
  ``kernel.prepare_pair(X1, X2)`` prepares the two sides of an X1 × X2 Gram together);
* ``kernel.fill(P1, P2, out_nngp, out_ntk, symmetric=..., n_threads=...)`` writes one block into
  2-D arrays or views with contiguous rows.

:func:`gram` splits the Gram into square blocks whose side is chosen from a memory budget
(``max_memory="2GB"``), computes each block once (only the upper triangle of a symmetric Gram,
mirroring each off-diagonal block) and writes it into ``out``: a numpy array, a ``numpy.memmap``
(see :func:`open_memmap`), or a zarr array or HDF5 dataset. With a ``checkpoint`` file, finished blocks
are recorded after they are written, so an interrupted run (Ctrl-C, kill, crash) resumes where it
stopped and gives the same bits as an uninterrupted one; a block being written when the run stopped is
never recorded and is computed again.
"""
import ctypes
import hashlib
import json
import math
import mmap
import os
import pickle
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import progress as _progress
from ._validation import allocate_outputs, check_positive_int

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}

# A block side is at most this many rows, so that checkpoints and the progress bar stay fine-grained
# whatever the budget (a 4096² float32 block is 64 MB; the per-block overhead is then negligible).
MAX_BLOCK = 4096
_PAGE = mmap.PAGESIZE


def parse_memory(value):
    """Bytes in a memory size: an integer number of bytes or a string such as "2GB", "512 MiB", "1.5e9".

    Decimal units (kB, MB, GB, TB; also K, M, G, T) are powers of 1000, binary units (KiB, MiB, GiB,
    TiB) powers of 1024."""
    if isinstance(value, bool):
        raise TypeError(f"max_memory must be a number of bytes or a string like '2GB', got {value!r}")
    if isinstance(value, (int, np.integer, float, np.floating)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", value)
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"cannot parse memory size {value!r} (examples: '2GB', '512MiB', 10**9)")
        number, unit = float(m.group(1)), m.group(2).lower()
    else:
        raise TypeError(f"max_memory must be a number of bytes or a string like '2GB', got {type(value).__name__}")
    nbytes = number * _UNITS[unit]
    if not math.isfinite(nbytes) or nbytes <= 0:
        raise ValueError(f"memory size must be positive and finite, got {value!r}")
    return int(nbytes)


def block_size_for(max_memory, itemsize, n_outputs=1, n_max=None):
    """Side of the square blocks that keeps the working set of :func:`gram` within ``max_memory``.

    The working set is two staging buffers (one being filled, one being written out), the block and its
    mirror in the output's pages until they are released, i.e. at most 4·n_outputs·B²·itemsize bytes, plus
    two partially written memory pages per touched row of a memmap. Inputs (X and the prepared
    statistics) come on top."""
    budget = parse_memory(max_memory)
    per_entry = 4 * n_outputs * itemsize
    # 4·n·s·B² + 4·n·PAGE·B ≤ budget, solved for B.
    a, b = per_entry, 4 * n_outputs * _PAGE
    side = int((-b + math.sqrt(b * b + 4 * a * budget)) / (2 * a))
    if side < 16:
        raise ValueError(f"max_memory={max_memory!r} is too small for even a 16×16 block; give at least "
                         f"{(per_entry * 256 + b * 16) / 1e6:.1f} MB")
    side = min(side, MAX_BLOCK)
    if side >= 256:
        side -= side % 128  # whole kernel tiles
    if n_max is not None:
        side = min(side, n_max)
    return side


def open_memmap(path, shape, dtype, *, resume=True):
    """A ``.npy`` file opened as a writable ``numpy.memmap`` of ``shape`` and ``dtype`` (created sparse).

    With ``resume=True`` an existing file of the same shape and dtype is reopened as is (so a run with
    a checkpoint can continue filling it); a file of another shape or dtype raises ValueError."""
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if resume and os.path.exists(path):
        mm = np.lib.format.open_memmap(path, mode="r+")
        if mm.shape != shape or mm.dtype != dtype:
            raise ValueError(f"{path} holds an array of shape {mm.shape} and dtype {mm.dtype}, "
                             f"not {shape} {dtype}; delete it or pass another path")
        return mm
    return np.lib.format.open_memmap(path, mode="w+", shape=shape, dtype=dtype)


# -- checkpoints ----------------------------------------------------------------------------------------
def _content_hash(X):
    h = hashlib.sha256()
    if isinstance(X, np.ndarray):
        arr = np.ascontiguousarray(X)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    else:
        try:
            h.update(pickle.dumps(X, protocol=4))
        except Exception:  # unpicklable inputs: fall back on their description
            h.update(repr(X).encode())
    return h.hexdigest()


class Checkpoint:
    """The set of finished blocks of one Gram computation, kept in a small JSON file.

    The file names what is being computed (kernel, input hashes, shape, dtype, block side, output
    file); reopening it for a different computation raises ValueError. Each update is written to a
    temporary file, synced and renamed over the old one, so the file is always a complete record."""

    def __init__(self, path, identity):
        self.path, self.identity = os.fspath(path), identity
        self.done = set()
        self.block = None
        if os.path.exists(self.path):
            with open(self.path) as f:
                try:
                    state = json.load(f)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"checkpoint {self.path} is not a fastntk checkpoint") from exc
            if not isinstance(state, dict) or state.get("identity") != identity:
                raise ValueError(f"checkpoint {self.path} belongs to a different computation "
                                 "(other kernel, inputs, shape, dtype or output); delete it or pass another path")
            self.block = int(state["block"])
            self.done = {tuple(b) for b in state["done"]}

    def save(self):
        tmp = self.path + ".tmp"
        state = {"identity": self.identity, "block": self.block, "done": sorted(self.done)}
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def mark(self, key):
        self.done.add(key)
        self.save()


# -- writing blocks ---------------------------------------------------------------------------------------
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()
_MADV_DONTNEED, _MS_SYNC = 4, 4


def _file_rows(out):
    """True for a shared file mapping (np.memmap in mode r, r+ or w+; not the private copy-on-write
    mode "c", whose pages would be lost)."""
    return isinstance(out, np.memmap) and getattr(out, "_mmap", None) is not None and out.mode in ("r", "r+", "w+")


def _release_rows(out, r0, r1, sync):
    """Let the OS write back and drop the pages of rows r0:r1 of a memmap from this process (so its
    resident set stays within the budget); with ``sync``, wait until they are on disk. Dirty pages of a
    shared file mapping stay in the page cache, so nothing is lost if the process dies afterwards."""
    if _LIBC is None or r1 <= r0:
        return
    start = out.ctypes.data + r0 * out.strides[0]
    stop = out.ctypes.data + (r1 - 1) * out.strides[0] + out.shape[1] * out.itemsize
    # Whole pages covering the rows, but for a partial last page (still being written by the next rows);
    # dropping a page shared with the previous row is harmless: its content is in the page cache.
    lo = start - start % _PAGE
    hi = stop - stop % _PAGE
    if hi <= lo:
        return
    addr, length = ctypes.c_void_p(int(lo)), ctypes.c_size_t(int(hi - lo))
    if sync and _LIBC.msync(addr, length, _MS_SYNC) != 0:
        raise OSError(ctypes.get_errno(), "msync failed on the output memmap")
    _LIBC.madvise(addr, length, _MADV_DONTNEED)


def _persist(out, sync):
    """Make what was written to a non-memmap array-like reach its storage (HDF5 keeps a chunk cache in
    the process, so it must be flushed before a block counts as done)."""
    f = getattr(out, "file", None)
    if f is not None and hasattr(f, "flush"):  # h5py.Dataset
        f.flush()
    elif isinstance(out, np.memmap):
        if sync:
            out.flush()
    elif hasattr(out, "flush") and not isinstance(out, np.ndarray):
        out.flush()


_SUBTILE = 256  # side of the transposed pieces of a mirror copy (both sides stay in cache)


def _write_block(out, v, r0, c0, mirror):
    """out[r0:, c0:] = v and, with ``mirror``, out[c0:, r0:] = vᵀ. A numpy array (memmap included) gets
    the transpose in cache-sized pieces, several times faster than one strided copy; other array-likes
    (zarr, HDF5) get it in one assignment, so that each of their chunks is written once."""
    n_r, n_c = v.shape
    out[r0:r0 + n_r, c0:c0 + n_c] = v
    if not mirror:
        return
    if isinstance(out, np.ndarray):
        for a in range(0, n_r, _SUBTILE):
            for b in range(0, n_c, _SUBTILE):
                out[c0 + b:c0 + min(b + _SUBTILE, n_c), r0 + a:r0 + min(a + _SUBTILE, n_r)] = \
                    v[a:a + _SUBTILE, b:b + _SUBTILE].T
    else:
        out[c0:c0 + n_c, r0:r0 + n_r] = np.ascontiguousarray(v.T)


def _result_dtype(P):
    """The dtype a kernel computes in for prepared inputs P (``P.dtype``, else that of ``P.X``, else float64)."""
    dt = getattr(P, "dtype", None)
    if dt is None and isinstance(getattr(P, "X", None), np.ndarray):
        dt = P.X.dtype
    return np.dtype(dt if dt is not None else np.float64)


def _check_out(out, shape, dtype, name):
    if not (hasattr(out, "shape") and hasattr(out, "dtype") and hasattr(out, "__setitem__")):
        raise TypeError(f"{name} must be an array-like with shape, dtype and item assignment "
                        f"(numpy array, numpy.memmap, zarr array, h5py dataset), got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(out.shape)} but the Gram is {tuple(shape)}")
    if np.dtype(out.dtype) != dtype:
        raise ValueError(f"{name} has dtype {np.dtype(out.dtype)} but the kernel computes in {dtype} "
                         "(results are written bit for bit, without conversion)")
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError(f"{name} is read-only")


def _storage_name(out):
    """Where an output lives, for the checkpoint's identity (so a checkpoint is not applied to other storage)."""
    if isinstance(out, np.memmap) and out.filename:
        return os.path.abspath(out.filename)
    f = getattr(out, "file", None)
    if f is not None and hasattr(f, "filename"):  # h5py.Dataset
        return f"hdf5:{os.path.abspath(f.filename)}:{out.name}"
    store_path = getattr(out, "store_path", None)  # zarr 3
    if store_path is not None:
        return f"zarr:{store_path}"
    return type(out).__name__


def same_inputs(X1, X2):
    """X2 is X1, or both are equal numpy arrays: the Gram is then symmetric and computed as such
    (as the kernels' own ``ntk(X1, X2)`` does)."""
    if X2 is None or X2 is X1:
        return True
    return (isinstance(X1, np.ndarray) and isinstance(X2, np.ndarray) and X1.shape == X2.shape
            and X1.dtype == X2.dtype and np.array_equal(X1, X2))


def prepare_sides(kernel, X1, X2):
    """Prepare both sides of a Gram once (X2 None or equal to X1: one side, symmetric), jointly when the
    kernel has ``prepare_pair`` (so that blocks equal the kernel's own ``ntk(X1, X2)`` bit for bit).
    Returns (P1, P2, symmetric, dtype of the result)."""
    symmetric = same_inputs(X1, X2)
    if symmetric:
        P1 = P2 = kernel.prepare(X1)
    elif hasattr(kernel, "prepare_pair"):
        P1, P2 = kernel.prepare_pair(X1, X2)
    else:
        P1, P2 = kernel.prepare(X1), kernel.prepare(X2)
    dtype = _result_dtype(P1)
    if _result_dtype(P2) != dtype:
        raise ValueError(f"X1 and X2 prepare to different dtypes ({dtype}, {_result_dtype(P2)}); convert one")
    return P1, P2, symmetric, dtype


def _block_keys(n1, n2, block, symmetric):
    nb1, nb2 = -(-n1 // block), -(-n2 // block)
    return [(i, j) for i in range(nb1) for j in range(i if symmetric else 0, nb2)]


def gram(kernel, X1, X2=None, *, get="ntk", out=None, max_memory="2GB", block_size=None, checkpoint=None,
         progress=None, sync=False, n_threads=None, **fill_options):
    """The Gram of ``kernel`` on X1 (or X1 × X2), written block by block into ``out``.

    Parameters
    ----------
    kernel : a fastntk kernel object (anything with ``prepare`` and ``fill``).
    X1, X2 : inputs as the kernel's ``prepare`` takes them. ``X2=None`` (or X2 equal to X1) gives the
        symmetric Gram of X1 (each off-diagonal block computed once and mirrored: symmetric to the bit).
    get : "ntk", "nngp" or "both" (then ``out`` is a pair (nngp, ntk)).
    out : array-like of shape (len(X1), len(X2)) and the kernel's dtype: numpy array, ``numpy.memmap``
        (:func:`open_memmap`), zarr array or h5py dataset; for ``get="both"`` a pair of them.
        None allocates numpy arrays (refused with MemoryError if they cannot fit in memory).
    max_memory : working-memory budget besides the inputs ("2GB", "512MiB" or bytes); sets the block side.
    block_size : explicit block side (overrides max_memory).
    checkpoint : path of a JSON file recording finished blocks (needs ``out``). If it exists, its blocks are
        skipped and its block side is reused; it must describe the same computation (kernel, inputs, output
        storage), and ``out`` must hold what that run wrote (the same memmap file, zarr or HDF5 dataset).
    progress : None (a bar when stderr is a terminal and tqdm is installed), True or False.
    sync : also wait for each block of a memmap to reach the disk before recording it (survives an
        OS crash, not just a killed process; slower).
    n_threads : threads of the kernel's C++ loop (None = all cores).
    fill_options : passed on to ``kernel.fill`` (e.g. ``tile_size=`` for FullyConnected).

    Returns ``out`` (the pair for get="both").
    """
    if not (hasattr(kernel, "prepare") and hasattr(kernel, "fill")):
        raise TypeError(f"kernel must implement the block protocol (prepare, fill); got {type(kernel).__name__}")
    if get not in ("ntk", "nngp", "both"):
        raise ValueError(f"get must be 'ntk', 'nngp' or 'both', got {get!r}")
    if not isinstance(sync, bool):
        raise TypeError(f"sync must be True or False, got {sync!r}")
    if checkpoint is not None and out is None:
        raise ValueError("a checkpoint needs out= (the storage it describes; e.g. batching.open_memmap(...))")
    P1, P2, symmetric, dtype = prepare_sides(kernel, X1, X2)
    n1, n2 = len(P1), len(P2)
    names = {"ntk": ["ntk"], "nngp": ["nngp"], "both": ["nngp", "ntk"]}[get]
    if out is None:
        outs = allocate_outputs((n1, n2), dtype, len(names))
    else:
        outs = list(out) if get == "both" else [out]
        if get == "both" and len(outs) != 2:
            raise ValueError("get='both' needs out=(nngp_out, ntk_out)")
        for o, name in zip(outs, names):
            _check_out(o, (n1, n2), dtype, f"out ({name})")

    ckpt = None
    if checkpoint is not None:
        identity = {
            "kernel": repr(kernel), "get": get, "shape": [n1, n2], "dtype": dtype.str, "symmetric": symmetric,
            "X1": _content_hash(X1), "X2": None if symmetric else _content_hash(X2),
            "out": [_storage_name(o) for o in outs],
            "fill_options": repr(sorted(fill_options.items())),
        }
        ckpt = Checkpoint(checkpoint, identity)
    if ckpt is not None and ckpt.block is not None:
        block = ckpt.block
    elif block_size is not None:
        block = check_positive_int(block_size, "block_size", 1)
    else:
        block = block_size_for(max_memory, dtype.itemsize, len(names), max(n1, n2))
    if ckpt is not None and ckpt.block is None:
        ckpt.block = block
        ckpt.save()

    keys = _block_keys(n1, n2, block, symmetric)
    todo = [k for k in keys if ckpt is None or k not in ckpt.done]
    # Two staging buffers: the kernel fills one while a writer thread copies the other into `out` (and its
    # mirror), releases the written pages and records the block. Disk writes (which the OS throttles once
    # too many pages are dirty) then overlap with the computation instead of stalling it.
    staging = [np.empty(len(names) * block * block, dtype=dtype) for _ in range(2)]
    pending = [None, None]

    def commit(views, r0, r1, c0, c1, mirror, key, bar):
        for o, v in zip(outs, views):
            _write_block(o, v, r0, c0, mirror)
            if _file_rows(o):  # (read-only maps were refused by _check_out)
                _release_rows(o, r0, r1, sync)
                if mirror:
                    _release_rows(o, c0, c1, sync)
            else:
                _persist(o, sync)
        if ckpt is not None:
            ckpt.mark(key)
        bar.update(1)

    with _progress.bar(len(keys), desc="Gram blocks", unit="block", progress=progress,
                       initial=len(keys) - len(todo)) as bar, ThreadPoolExecutor(1) as writer:
        try:
            for step, (i, j) in enumerate(todo):
                slot = step % 2
                if pending[slot] is not None:
                    pending[slot].result()  # this buffer's previous block is written
                r0, r1 = i * block, min((i + 1) * block, n1)
                c0, c1 = j * block, min((j + 1) * block, n2)
                Pi = P1.rows(r0, r1)
                diagonal = symmetric and i == j
                Pj = Pi if diagonal else P2.rows(c0, c1)
                size = (r1 - r0) * (c1 - c0)
                views = [staging[slot][k * size:(k + 1) * size].reshape(r1 - r0, c1 - c0) for k in range(len(names))]
                targets = dict(zip(names, views))
                kernel.fill(Pi, Pj, targets.get("nngp"), targets.get("ntk"), symmetric=diagonal,
                            n_threads=n_threads, **fill_options)
                pending[slot] = writer.submit(commit, views, r0, r1, c0, c1, symmetric and not diagonal, (i, j), bar)
            for f in pending:
                if f is not None:
                    f.result()
        except BaseException:
            # Ctrl-C or an error: let the writes in flight finish (a block is recorded only once fully
            # written), so nothing touches `out` after this call returns.
            for f in pending:
                if f is not None:
                    f.exception()
            raise
    return tuple(outs) if get == "both" else outs[0]
