"""Gram matrices as Dask arrays whose blocks are fastntk tiles (optional extra ``fastntk[dask]``).

:func:`gram` returns a lazy ``dask.array.Array``; computing it (``.compute()``, ``.persist()``,
:func:`to_zarr`) runs on the current Dask scheduler, e.g. any ``dask.distributed`` cluster. For a
symmetric Gram only the blocks on and above the diagonal are computed; each block below the diagonal
is the lazy transpose of its mirror block, so every kernel value is computed once and the result is
symmetric to the bit. Blocks are filled by the same ``kernel.fill`` call as the in-memory and
out-of-core paths, so the result equals ``kernel.ntk(X)`` bit for bit.

Threads: Dask's nanny sets ``OMP_NUM_THREADS=1`` in every worker process, so ``n_threads=None``
(all cores) means one OpenMP thread per task there. Pass ``n_threads`` explicitly, typically
(cores per worker) / (threads per worker), e.g. ``LocalCluster(n_workers=2, threads_per_worker=1)``
on a 16-core machine with ``n_threads=8``.

Example::

    from dask.distributed import Client, LocalCluster
    import fastntk, fastntk.distributed as fd

    with LocalCluster(n_workers=4, threads_per_worker=1) as cluster, Client(cluster):
        K = fd.gram(fastntk.FullyConnected(3), X, block_size=4096, n_threads=4)
        fd.to_zarr(K, "gram.zarr")          # or K.persist() and fastntk.solvers.cg(K, y, ridge=...)
"""
import numpy as np

from ._validation import check_positive_int
from .batching import block_size_for, prepare_sides


def _require_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError("fastntk.distributed needs dask: pip install 'fastntk[dask]'") from exc
    return dask, da


def _fill_block(kernel, Pi, Pj, diagonal, names, dtype, n_threads, fill_options):
    """One Gram block (stacked over the requested kernels) computed on a worker."""
    out = np.empty((len(names), len(Pi), len(Pj)), dtype=dtype)
    targets = dict(zip(names, out))
    kernel.fill(Pi, Pj, targets.get("nngp"), targets.get("ntk"), symmetric=diagonal, n_threads=n_threads,
                **fill_options)
    return out


def gram(kernel, X1, X2=None, *, get="ntk", block_size=None, max_memory="512MB", n_threads=None, **fill_options):
    """The Gram of ``kernel`` on X1 (or X1 × X2) as a lazy dask array of square blocks.

    Inputs are prepared here (once) and each row block of prepared inputs goes into the task graph once.
    ``block_size`` (default: from ``max_memory``, the working memory of one task) is the chunk side.
    ``get="both"`` returns the pair (nngp, ntk) sharing one task per block.
    ``n_threads`` is the OpenMP thread count of each task (see the module notes: Dask workers default to 1).
    """
    dask, da = _require_dask()
    if not (hasattr(kernel, "prepare") and hasattr(kernel, "fill")):
        raise TypeError(f"kernel must implement the block protocol (prepare, fill); got {type(kernel).__name__}")
    if get not in ("ntk", "nngp", "both"):
        raise ValueError(f"get must be 'ntk', 'nngp' or 'both', got {get!r}")
    names = ["nngp", "ntk"] if get == "both" else [get]
    P1, P2, symmetric, dtype = prepare_sides(kernel, X1, X2)
    n1, n2 = len(P1), len(P2)
    if block_size is None:
        block = block_size_for(max_memory, dtype.itemsize, len(names), max(n1, n2))
    else:
        block = check_positive_int(block_size, "block_size", 1)

    def panels(P, n):
        return [(a, min(a + block, n), dask.delayed(P.rows(a, min(a + block, n)), pure=True))
                for a in range(0, n, block)]

    rows = panels(P1, n1)
    cols = rows if symmetric else panels(P2, n2)
    fill = dask.delayed(_fill_block, pure=True)
    stacked = {}
    for i, (r0, r1, Pi) in enumerate(rows):
        for j, (c0, c1, Pj) in enumerate(cols):
            if symmetric and j < i:
                continue
            task = fill(kernel, Pi, Pj, symmetric and i == j, names, dtype, n_threads, fill_options)
            stacked[i, j] = da.from_delayed(task, shape=(len(names), r1 - r0, c1 - c0), dtype=dtype)
    results = []
    for k in range(len(names)):
        grid = [[stacked[i, j][k] if (i, j) in stacked else stacked[j, i][k].T for j in range(len(cols))]
                for i in range(len(rows))]
        results.append(da.block(grid))
    return tuple(results) if get == "both" else results[0]


def to_zarr(K, url, *, overwrite=True, **kwargs):
    """Compute the dask array ``K`` (e.g. from :func:`gram`) into a zarr array at ``url`` (path or store),
    chunked like K; returns the opened zarr array. Needs zarr (``pip install 'fastntk[dask]'``)."""
    _, da = _require_dask()
    try:
        import zarr
    except ImportError as exc:
        raise ImportError("to_zarr needs zarr: pip install 'fastntk[dask]'") from exc
    if not isinstance(K, da.Array) or K.ndim != 2:
        raise TypeError(f"K must be a 2-D dask array, got {type(K).__name__}")
    da.to_zarr(K, url, overwrite=overwrite, compute=True, **kwargs)
    return zarr.open_array(url, mode="r")
