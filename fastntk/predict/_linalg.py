"""Shared linear algebra of fastntk.predict: input checks for Gram matrices and targets, and the one
Cholesky factor (LAPACK via SciPy) every solve reuses, with the policy for singular kernels (MATH §4:
Cholesky / eigendecomposition only, never an explicit inverse).

Singular or ill-conditioned kernels: after the Cholesky of K + ridge·I the reciprocal condition
number (LAPACK ?pocon) is checked. When the factorisation fails or rcond < ``min_rcond`` (default
1e-12), ``jitter="auto"`` adds the smallest of ε·mean(diag K), ε = 1e-12, 1e-11, ..., 1e-2, that
passes and warns with the value used (kept as ``factor.jitter``); ``jitter=None`` raises ValueError
instead; a number adds exactly that to the diagonal.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from .._validation import as_real_array

MIN_RCOND = 1e-12
_AUTO_JITTERS = tuple(10.0 ** k for k in range(-12, -1))


class JitterWarning(RuntimeWarning):
    """A kernel matrix was singular or ill-conditioned and a diagonal jitter was added."""


def as_matrix(K, name, shape=None):
    """K as a finite float64 2-D array (of ``shape`` when given, None entries free)."""
    A = as_real_array(K, name)
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {A.shape}")
    if A.size == 0:
        raise ValueError(f"{name} is empty: shape {A.shape}")
    if shape is not None:
        for axis, want in enumerate(shape):
            if want is not None and A.shape[axis] != want:
                raise ValueError(f"{name} must have shape {tuple('*' if s is None else s for s in shape)}, "
                                 f"got {A.shape}")
    A = np.asarray(A, dtype=np.float64)
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or inf")
    return A


def as_square(K, name="K"):
    """A symmetric square kernel matrix (asymmetry beyond 1e-8 relative is an error)."""
    A = as_matrix(K, name)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be square (n, n), got shape {A.shape}")
    scale = np.abs(A).max()
    if np.abs(A - A.T).max() > 1e-8 * max(scale, np.finfo(float).tiny):
        raise ValueError(f"{name} is not symmetric")
    return A


def as_targets(y, n, name="y"):
    """Targets as a float64 (n, k) array, and whether they were 1-D."""
    Y = as_real_array(y, name)
    if Y.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (n,) or 2-D (n, k), got shape {Y.shape}")
    if Y.shape[0] != n:
        raise ValueError(f"{name} has {Y.shape[0]} rows but the kernel has {n}")
    if Y.ndim == 2 and Y.shape[1] == 0:
        raise ValueError(f"{name} has no output columns")
    Y = np.asarray(Y, dtype=np.float64)
    if not np.isfinite(Y).all():
        raise ValueError(f"{name} contains NaN or inf")
    return (Y[:, None] if Y.ndim == 1 else Y), Y.ndim == 1


def check_nonneg(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return float(value)


def check_positive(value, name):
    value = check_nonneg(value, name)
    if value == 0:
        raise ValueError(f"{name} must be positive, got 0")
    return value


class CholeskyFactor:
    """Lower Cholesky factor of K + (ridge + jitter)·I, reused for every right-hand side."""

    def __init__(self, K, ridge=0.0, jitter="auto", min_rcond=MIN_RCOND, name="K"):
        K = as_square(K, name)
        ridge = check_nonneg(ridge, "ridge")
        if not (jitter is None or jitter == "auto"):
            jitter = check_nonneg(jitter, "jitter")
        self.n = K.shape[0]
        self.ridge = ridge
        scale = float(np.mean(np.abs(np.diag(K)))) or 1.0
        tries = [0.0] if jitter in (None, "auto") else [jitter]
        if jitter == "auto":
            tries += [eps * scale for eps in _AUTO_JITTERS]
        for extra in tries:
            ok, c, rcond = self._try(K, ridge + extra)
            if ok and (rcond >= min_rcond or jitter not in (None, "auto")):
                break
        else:
            what = "not positive definite" if not ok else f"ill-conditioned (reciprocal condition number {rcond:.1e})"
            hint = "pass ridge > 0 or jitter='auto'" if jitter is None else "pass a larger ridge"
            raise ValueError(f"{name} + ridge·I is {what}; {hint}")
        if jitter == "auto" and extra > 0:
            warnings.warn(f"{name} is singular or ill-conditioned; added jitter {extra:.3g} "
                          f"({extra / scale:.0e} × mean diagonal) to its diagonal", JitterWarning, stacklevel=3)
        self.jitter = extra
        self.c = c
        self.rcond = rcond

    @staticmethod
    def _try(K, shift):
        A = K + shift * np.eye(K.shape[0]) if shift else K.copy()
        anorm = np.abs(A).sum(axis=0).max()
        c, info = lapack.dpotrf(A, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            return False, None, 0.0
        rcond, info = lapack.dpocon(c, anorm, uplo="L")
        return True, c, float(rcond)

    def solve(self, B):
        """(K + ridge·I)⁻¹ B for B of shape (n,) or (n, k)."""
        return scipy.linalg.cho_solve((self.c, True), B, check_finite=False)

    def half_solve(self, B):
        """L⁻¹ B with L the lower Cholesky factor."""
        return scipy.linalg.solve_triangular(self.c, B, lower=True, check_finite=False)

    def logdet(self):
        return 2.0 * float(np.log(np.diag(self.c)).sum())


def as_cross(K, n, name="K_test_train"):
    """A (m, n) cross-kernel against the n training points."""
    return as_matrix(K, name, (None, n))
