"""Kernel regression at scale: preconditioned conjugate gradients on a tiled Gram.

:func:`cg` solves (K + ridge·I) x = y for one or several right-hand sides without holding K in one
piece: K is read block by block, either from a local array-like (numpy array, ``numpy.memmap``, zarr
array, h5py dataset; one block in memory at a time) or from a dask array (e.g.
:func:`fastntk.distributed.gram`), whose blocks stay on the cluster's workers: each iteration ships
only the block-sized pieces of the current direction to the workers and gets back the row sums.

Both paths compute K·v with the same arithmetic in the same order (per block: a non-BLAS dot product
of each row with v, whose rounding does not depend on a thread count; per row of blocks: a
left-to-right sum over the blocks), so with the same block grid they give the same bits.

Preconditioners: ``"nystrom"`` (default), the randomized Nyström preconditioner of Frangella, Tropp
and Udell (2021, "Randomized Nyström preconditioning"): a rank-r approximation K ≈ U Λ Uᵀ from one
sketch K·Ω, and P⁻¹ = (λ_r + μ) U (Λ + μI)⁻¹ Uᵀ + (I − U Uᵀ) with μ = ridge; ``"jacobi"``
(diagonal scaling); ``None``; or a callable applied to the residuals (an array (k, n): one row per
right-hand side).
"""
import contextlib
import sys
import warnings
from collections import namedtuple

import numpy as np

CGResult = namedtuple("CGResult", "x iterations relative_residual converged")

DEFAULT_BLOCK = 2048


def _one_blas_thread():
    """A context in which BLAS runs on one thread (as in a Dask worker), so that a matrix product is
    rounded the same way in every process; a no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _block_product(Kb, Vb):
    """K_ij · v_j for each row v of Vb (shape (k, n_j)); returns (k, n_i) float64.

    One or a few vectors: np.einsum without ``optimize`` (numpy's own dot loop, no BLAS, so the
    rounding does not depend on a thread count). Many vectors (the Nyström sketch): BLAS on one thread."""
    if Kb.ndim != 2 or Kb.strides[1] != Kb.itemsize:  # e.g. a transposed mirror block
        Kb = np.ascontiguousarray(Kb)
    if len(Vb) <= 4:
        return np.stack([np.einsum("ij,j->i", Kb, v, optimize=False) for v in Vb])
    # numpy hands only aligned arrays to BLAS (others go to its own loop, rounded differently), and
    # arrays unpickled on a Dask worker may be misaligned: align both operands so every process agrees.
    Kb = np.require(Kb, np.float64, ["C", "A"])
    Vb = np.require(Vb, np.float64, ["C", "A"])
    with _one_blas_thread():
        return np.ascontiguousarray((Kb @ Vb.T).T)


def _ordered_sum(parts):
    acc = parts[0].copy()
    for p in parts[1:]:
        acc += p
    return acc


def _bounds(chunks):
    edges = np.concatenate([[0], np.cumsum(chunks)]).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


class _LocalGram:
    """K·V over a local array-like, one block at a time (row blocks in order, left-to-right sums)."""

    def __init__(self, K, block_size):
        self.K = K
        n = K.shape[0]
        self.bounds = _bounds([min(block_size, n - a) for a in range(0, n, block_size)])

    def matmat(self, V):
        from .batching import _file_rows, _release_rows
        rows = []
        pieces = [np.ascontiguousarray(V[:, c0:c1]) for c0, c1 in self.bounds]
        for r0, r1 in self.bounds:
            parts = [_block_product(np.asarray(self.K[r0:r1, c0:c1]), Vj) for (c0, c1), Vj in zip(self.bounds, pieces)]
            rows.append(_ordered_sum(parts))
            if _file_rows(self.K):  # keep the resident set to about one block row of the memmap
                _release_rows(self.K, r0, r1, False)
        return np.concatenate(rows, axis=1)

    def diagonal(self):
        return np.concatenate([np.diagonal(np.asarray(self.K[a:b, a:b])) for a, b in self.bounds]).astype(np.float64)


class _DaskGram:
    """K·V over a dask array persisted on the cluster: one task per block, one ordered sum per row block."""

    def __init__(self, K):
        import dask
        self.dask = dask
        if K.chunks[0] != K.chunks[1]:
            raise ValueError("the dask Gram must have the same chunks along both axes")
        self.K = K.persist()
        self.blocks = self.K.to_delayed()
        self.bounds = _bounds(K.chunks[0])

    def matmat(self, V):
        delayed = self.dask.delayed
        product, total = delayed(_block_product, pure=True), delayed(_ordered_sum, pure=True)
        pieces = [np.ascontiguousarray(V[:, c0:c1]) for c0, c1 in self.bounds]
        rows = [total([product(self.blocks[i, j], pieces[j]) for j in range(len(self.bounds))])
                for i in range(len(self.bounds))]
        return np.concatenate(self.dask.compute(*rows), axis=1)

    def diagonal(self):
        import dask.array as da
        return np.asarray(da.diagonal(self.K).compute(), dtype=np.float64)


def _operator(K, block_size):
    da = sys.modules.get("dask.array")  # a dask array implies dask.array is imported
    if not (hasattr(K, "shape") and len(K.shape) == 2 and K.shape[0] == K.shape[1]):
        raise ValueError(f"K must be a square 2-D array, got shape {getattr(K, 'shape', None)}")
    if K.shape[0] == 0:
        raise ValueError("K is empty")
    if da is not None and isinstance(K, da.Array):
        if block_size is not None:
            raise ValueError("block_size does not apply to a dask array (its chunks are the blocks)")
        return _DaskGram(K)
    if block_size is None:
        block_size = DEFAULT_BLOCK
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    return _LocalGram(K, int(block_size))


def _nystrom(op, n, rank, mu, seed):
    """Randomized Nyström preconditioner (Frangella, Tropp & Udell 2021, Alg. 2.1 and eq. (5.3))."""
    rng = np.random.default_rng(seed)
    # The factorisations are of thin n×r matrices: one BLAS thread is fast enough and avoids the
    # heavy slowdown of a multi-threaded BLAS on a busy machine (also in `apply`).
    with _one_blas_thread():
        Omega, _ = np.linalg.qr(rng.standard_normal((n, rank)))
    Y = op.matmat(np.ascontiguousarray(Omega.T)).T  # K·Ω, (n, r)
    with _one_blas_thread():
        return _nystrom_factors(Omega, Y, n, mu)


def _nystrom_factors(Omega, Y, n, mu):
    import scipy.linalg
    nu = np.sqrt(n) * np.finfo(np.float64).eps * np.linalg.norm(Y, 2)
    Y = Y + nu * Omega
    try:
        L = np.linalg.cholesky(Omega.T @ Y)
    except np.linalg.LinAlgError:  # K numerically indefinite at this rank: shift further
        nu = max(nu, 1e-10 * np.linalg.norm(Y, 2))
        Y = Y + nu * Omega
        L = np.linalg.cholesky(Omega.T @ Y)
    B = scipy.linalg.solve_triangular(L, Y.T, lower=True).T  # Y L⁻ᵀ
    U, s, _ = np.linalg.svd(B, full_matrices=False)
    lam = np.maximum(s**2 - nu, 0.0)
    if lam[-1] + mu <= 0:
        raise ValueError("the Nyström preconditioner needs ridge > 0 for this rank-deficient Gram")
    scale = (lam[-1] + mu) / (lam + mu) - 1.0

    def apply(R):  # rows of R are residuals
        with _one_blas_thread():
            return R + ((R @ U) * scale) @ U.T

    return apply


def cg(K, y, ridge=0.0, *, tol=1e-8, maxiter=None, preconditioner="nystrom", rank=None, block_size=None,
       seed=0, progress=None):
    """Solve (K + ridge·I) x = y by preconditioned conjugate gradients on a tiled Gram.

    Parameters
    ----------
    K : the (n, n) Gram: numpy array, numpy.memmap, zarr array, h5py dataset (read ``block_size`` rows and
        columns at a time), or a dask array (persisted on the current Dask scheduler; its chunks are the blocks).
    y : (n,) or (n, k) right-hand sides (solved together: one pass over K per iteration for all of them).
    ridge : μ ≥ 0 added to the diagonal.
    tol : stop when ‖y − (K + μI)x‖ ≤ tol·‖y‖ for every right-hand side.
    maxiter : iteration cap (default 10·n); a ``RuntimeWarning`` is issued if it is reached.
    preconditioner : "nystrom" (rank ``rank``, default min(n, 100)), "jacobi", None, or a callable.
    block_size : block side for local array-likes (default 2048).
    seed : seed of the Nyström sketch.

    Returns CGResult(x, iterations, relative_residual (per right-hand side), converged).
    """
    from . import progress as _progress

    op = _operator(K, block_size)
    n = K.shape[0]
    Y = np.asarray(y, dtype=np.float64)
    if Y.ndim not in (1, 2) or Y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) or ({n}, k), got {Y.shape}")
    if not np.isfinite(Y).all():
        raise ValueError("y contains NaN or inf")
    if isinstance(ridge, bool) or not isinstance(ridge, (int, float, np.integer, np.floating)) \
            or not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
    if not (isinstance(tol, (int, float, np.floating)) and 0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    maxiter = 10 * n if maxiter is None else int(maxiter)
    if maxiter < 1:
        raise ValueError(f"maxiter must be >= 1, got {maxiter}")
    mu = float(ridge)
    Bm = np.ascontiguousarray(Y.reshape(n, -1).T)  # (k, n): one right-hand side per row

    if preconditioner is None:
        def precond(R):
            return R
    elif callable(preconditioner):
        precond = preconditioner
    elif preconditioner == "jacobi":
        d = op.diagonal() + mu
        if not (d > 0).all():
            raise ValueError("the Jacobi preconditioner needs a positive diagonal of K + ridge·I")
        inv = 1.0 / d

        def precond(R):
            return R * inv
    elif preconditioner == "nystrom":
        r = min(n, 100) if rank is None else int(rank)
        if not 1 <= r <= n:
            raise ValueError(f"rank must be between 1 and n={n}, got {rank}")
        precond = _nystrom(op, n, r, mu, seed)
    else:
        raise ValueError(f"preconditioner must be 'nystrom', 'jacobi', None or a callable, got {preconditioner!r}")

    bnorm = np.linalg.norm(Bm, axis=1)
    X = np.zeros_like(Bm)
    R = Bm.copy()
    active = bnorm > 0
    res = np.zeros(len(Bm))
    Z = precond(R)
    P = Z.copy()
    rz = np.einsum("ij,ij->i", R, Z)
    it = 0
    with _progress.bar(maxiter, desc="CG", unit="it", progress=progress) as bar:
        while active.any() and it < maxiter:
            AP = op.matmat(P) + mu * P
            pAp = np.einsum("ij,ij->i", P, AP)
            alpha = np.where(active & (pAp > 0), rz / np.where(pAp > 0, pAp, 1.0), 0.0)
            X += alpha[:, None] * P
            R -= alpha[:, None] * AP
            res = np.where(bnorm > 0, np.linalg.norm(R, axis=1) / np.where(bnorm > 0, bnorm, 1.0), 0.0)
            active = res > tol
            it += 1
            bar.update(1)
            bar.set_postfix_str(f"residual {res.max():.2e}")
            if not active.any():
                break
            Z = precond(R)
            rz_new = np.einsum("ij,ij->i", R, Z)
            beta = np.where(active, rz_new / np.where(rz != 0, rz, 1.0), 0.0)
            P = Z + beta[:, None] * P
            rz = rz_new
    converged = not active.any()
    if not converged:
        warnings.warn(f"CG stopped after {it} iterations with relative residual {res.max():.2e} > tol={tol}; "
                      "raise maxiter or ridge, or use a larger Nyström rank", RuntimeWarning, stacklevel=2)
    x = X.T.reshape(Y.shape) if Y.ndim == 2 else X[0]
    return CGResult(x, it, res if Y.ndim == 2 else float(res[0]), converged)
