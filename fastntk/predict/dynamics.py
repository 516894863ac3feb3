"""Gradient-descent MSE dynamics of the infinitely wide net (MATH §4).

With Θ the NTK Gram of the n training inputs (plus an optional ridge λI), the MSE loss
½ Σ (f − y)² and learning rate η, the outputs of the infinitely wide network evolve linearly:

* train:  u(t) = y + e^{−ηΘt} (u(0) − y)
* test:   f_t(X*) = f_0(X*) + Θ* Θ⁻¹ (I − e^{−ηΘt}) (y − u(0))

(gradient flow, time t); discrete gradient descent replaces e^{−ηλt} by (1 − ηλ)^s after s steps.
Both come from one eigendecomposition Θ = V diag(λ) Vᵀ reused for every time: along vᵢ the error
decays by e^{−ηλᵢt}. t = ∞ gives kernel regression; t = 0 gives the initial (prior mean 0) outputs.

Conventions: the loss is the sum ½Σ(f − y)² of MATH §4. neural-tangents' ``nt.predict`` uses the mean
over all y entries, so its time t_nt equals t · y.size here (its ``learning_rate`` multiplies t too).

The NTK-parameterised ensemble (an infinite ensemble of infinite-width nets, initialisation
marginalised, neural-tangents' ``gradient_descent_mse_ensemble`` with get='ntk'): with K the NNGP,
G(t) = Θ⁻¹(I − e^{−ηΘt}) and A = Θ* G(t),
  mean = A y,  cov = K** + A K Aᵀ − A K*ᵀ − K* Aᵀ   (test),
  mean = (I − e^{−ηΘt}) y,  cov = e^{−ηΘt} K e^{−ηΘt}   (train).
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from ._linalg import as_cross, as_matrix, as_square, as_targets, check_nonneg, check_positive

_NEG_TOL = 1e-8    # eigenvalues below −_NEG_TOL·λ_max: the kernel is not PSD (beyond Gram rounding)
_ZERO_TOL = 1e-12  # eigenvalues up to _ZERO_TOL·λ_max count as zero (those directions never move)


def _times(t, steps):
    """(values, scalar?, discrete?) from exactly one of t (continuous) and steps (discrete)."""
    if (t is None) == (steps is None):
        raise ValueError("give exactly one of t (continuous time) and steps (number of GD steps)")
    value, name = (t, "t") if steps is None else (steps, "steps")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or an array of numbers") from exc
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} must be a scalar or a non-empty 1-D array, got shape {arr.shape}")
    if np.isnan(arr).any() or (arr < 0).any():
        raise ValueError(f"{name} must be non-negative (inf allowed), got {value!r}")
    if steps is not None:
        finite = arr[np.isfinite(arr)]
        if (finite != np.round(finite)).any():
            raise ValueError(f"steps must be whole numbers, got {value!r}")
    return np.atleast_1d(arr), arr.ndim == 0, steps is not None


class GradientDescentMSE:
    """Closed-form gradient-descent dynamics of the infinitely wide net on MSE.

    Parameters
    ----------
    ntk_train : (n, n) NTK Gram Θ of the training inputs.
    y : (n,) or (n, k) training targets.
    learning_rate : η > 0.
    ridge : λ ≥ 0, gradient flow on the loss with an added ½λ‖·‖² term in function space (Θ → Θ + λI).
    nngp_train : (n, n) NNGP Gram, needed only for :meth:`ensemble`.

    A singular Θ is fine at finite times (directions with λᵢ = 0 do not move); t = ∞ then raises
    ValueError (pass ridge > 0). Eigenvalues in [−1e-8·λ_max, 1e-12·λ_max] (Gram rounding) count as 0;
    more negative ones raise ValueError.
    """

    def __init__(self, ntk_train, y, learning_rate=1.0, ridge=0.0, nngp_train=None):
        Theta = as_square(ntk_train, "ntk_train")
        n = Theta.shape[0]
        self.Y, self._vector = as_targets(y, n)
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.ridge = check_nonneg(ridge, "ridge")
        evals, self.evecs = scipy.linalg.eigh(Theta + self.ridge * np.eye(n), check_finite=False)
        top = max(evals[-1], 0.0)
        if evals[0] < -_NEG_TOL * top:
            raise ValueError(f"ntk_train is not positive semidefinite (eigenvalue {evals[0]:.3e}, "
                             f"largest {top:.3e})")
        self.evals = np.maximum(evals, 0.0)  # ascending
        self._zero = self.evals <= _ZERO_TOL * top
        self.nngp_train = None if nngp_train is None else as_square(nngp_train, "nngp_train")
        if self.nngp_train is not None and self.nngp_train.shape != Theta.shape:
            raise ValueError(f"nngp_train must have shape {Theta.shape}, got {self.nngp_train.shape}")
        self._proj_y = self.evecs.T @ self.Y  # Vᵀy

    @property
    def n_train(self):
        return self.evals.size

    @property
    def max_learning_rate(self):
        """2 / λ_max: discrete GD converges (and the loss decreases monotonically) for η below it."""
        return 2.0 / self.evals[-1]

    # -- per-eigenvalue factors ----------------------------------------------------------------
    def _decay(self, times, discrete):
        """(T, n): e^{−ηλt} or (1 − ηλ)^s per time and eigenvalue."""
        lam = self.evals[None, :] * self.learning_rate
        tt = times[:, None]
        if not discrete:
            with np.errstate(invalid="ignore"):
                out = np.exp(-lam * tt)
            out[np.isnan(out)] = 1.0  # λ = 0 and t = ∞: that direction never moves
            return out
        if self.learning_rate >= self.max_learning_rate:
            if np.isinf(times).any():
                raise ValueError(f"learning_rate {self.learning_rate:g} ≥ 2/λ_max = {self.max_learning_rate:.3g}: "
                                 "discrete gradient descent does not converge, steps = ∞ is undefined")
            warnings.warn(f"learning_rate {self.learning_rate:g} ≥ 2/λ_max = {self.max_learning_rate:.3g}: "
                          "discrete gradient descent diverges", RuntimeWarning, stacklevel=3)
        with np.errstate(invalid="ignore", over="ignore"):
            out = (1.0 - lam) ** tt
        out[np.isnan(out)] = 1.0
        return out

    def _gain(self, times, discrete):
        """(T, n): (1 − decay)/λ, with its limit ηt (or ηs) where λ = 0; 1/λ at t = ∞."""
        lam = self.evals[None, :]
        tt = times[:, None]
        if np.isinf(times).any() and self._zero.any():
            raise ValueError("t = ∞ needs a positive definite kernel: ntk_train (+ ridge) has a zero "
                             "eigenvalue; pass ridge > 0")
        eta = self.learning_rate
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if discrete:
                small = eta * lam < 1.0
                rate = np.log1p(-np.where(small, eta * lam, 0.0))
                grow = np.where(small, -np.expm1(rate * tt), 1.0 - (1.0 - eta * lam) ** tt)
            else:
                grow = -np.expm1(-eta * lam * tt)
            out = grow / lam
        limit = eta * np.broadcast_to(tt, out.shape)
        return np.where(self._zero[None, :], limit, out)

    def _shape(self, out, scalar):
        if self._vector:
            out = out[..., 0]
        return out[0] if scalar else out

    # -- predictions ----------------------------------------------------------------------------
    def train(self, t=None, *, steps=None, fx_train_0=None):
        """Training-set outputs u(t) (or after ``steps`` GD steps) from u(0) = ``fx_train_0`` (default 0).
        Shape (n, k), or (T, n, k) for an array of times; (n,) / (T, n) if y was 1-D."""
        times, scalar, discrete = _times(t, steps)
        u0 = np.zeros_like(self.Y) if fx_train_0 is None else as_targets(fx_train_0, self.n_train,
                                                                          "fx_train_0")[0]
        r = self.evecs.T @ (u0 - self.Y)
        dec = self._decay(times, discrete)
        out = self.Y[None] + np.einsum("ij,tj,jk->tik", self.evecs, dec, r)
        return self._shape(out, scalar)

    def test(self, ntk_test_train, t=None, *, steps=None, fx_train_0=None, fx_test_0=None):
        """Test outputs f_t(X*) = f_0(X*) + Θ* G(t) (y − u(0)), G(t) = Θ⁻¹(I − e^{−ηΘt}).
        ``ntk_test_train`` is the (m, n) cross-Gram Θ(X*, X)."""
        times, scalar, discrete = _times(t, steps)
        Ks = as_cross(ntk_test_train, self.n_train, "ntk_test_train")
        r = self._proj_y if fx_train_0 is None else \
            self.evecs.T @ (self.Y - as_targets(fx_train_0, self.n_train, "fx_train_0")[0])
        gain = self._gain(times, discrete)
        out = np.einsum("mi,ij,tj,jk->tmk", Ks, self.evecs, gain, r, optimize=True)
        if fx_test_0 is not None:
            f0, _ = as_targets(fx_test_0, Ks.shape[0], "fx_test_0")
            out = out + f0[None]
        return self._shape(out, scalar)

    def ensemble(self, ntk_test_train=None, nngp_test_train=None, nngp_test=None, t=None, *, steps=None,
                 full_cov=True):
        """Mean and covariance of the NTK-parameterised ensemble at time t (needs ``nngp_train``).

        With no test arguments: the training set (mean (I − e^{−ηΘt})y, covariance e^{−ηΘt}K e^{−ηΘt}).
        Otherwise give the (m, n) cross-Grams Θ(X*, X) and K(X*, X) and the prior K(X*, X*) as an
        (m, m) matrix (or its (m,) diagonal with ``full_cov=False``). Returns (mean, cov) with
        cov of shape (m, m) or (m,) per time (leading T axis for an array of times); the covariance
        is shared by all output columns."""
        if self.nngp_train is None:
            raise ValueError("ensemble() needs nngp_train (the NNGP Gram of the training inputs)")
        times, scalar, discrete = _times(t, steps)
        K = self.nngp_train
        V = self.evecs
        if ntk_test_train is None:
            if nngp_test_train is not None or nngp_test is not None:
                raise ValueError("give ntk_test_train with nngp_test_train and nngp_test")
            dec = self._decay(times, discrete)
            mean = self.Y[None] - np.einsum("ij,tj,jk->tik", V, dec, self._proj_y)
            E = np.einsum("ij,tj,kj->tik", V, dec, V)  # e^{−ηΘt}
            covs = np.einsum("tij,jk,tlk->til", E, K, E)
            if not full_cov:
                covs = np.einsum("tii->ti", covs)
            return self._shape(mean, scalar), (covs[0] if scalar else covs)
        Ks = as_cross(ntk_test_train, self.n_train, "ntk_test_train")
        m = Ks.shape[0]
        if nngp_test_train is None or nngp_test is None:
            raise ValueError("test-set ensemble needs nngp_test_train and nngp_test")
        Kx = as_matrix(nngp_test_train, "nngp_test_train", (m, self.n_train))
        prior = np.asarray(nngp_test)
        if full_cov:
            prior = as_matrix(prior, "nngp_test", (m, m))
        else:
            prior = as_matrix(prior.reshape(-1, 1), "nngp_test", (m, 1))[:, 0] if prior.ndim == 1 else \
                np.diag(as_matrix(prior, "nngp_test", (m, m))).copy()
        gain = self._gain(times, discrete)
        KsV = Ks @ V
        means, covs = [], []
        for g in gain:
            A = (KsV * g[None, :]) @ V.T  # Θ* G(t), m × n
            means.append(A @ self.Y)
            AK = A @ K
            if full_cov:
                cross = A @ Kx.T
                c = prior + AK @ A.T - cross - cross.T
                covs.append(0.5 * (c + c.T))
            else:
                covs.append(prior + np.einsum("ij,ij->i", AK, A) - 2.0 * np.einsum("ij,ij->i", A, Kx))
        mean = np.stack(means)
        covs = np.stack(covs)
        return self._shape(mean, scalar), (covs[0] if scalar else covs)
