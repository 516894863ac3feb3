"""Spectral diagnostics of a kernel and targets (MATH §4): the eigenvalues λᵢ of Θ, the label
projections pᵢ = ‖vᵢᵀy‖² (summed over output columns), the predicted training loss of gradient
descent from zero initial outputs, L(s) = ½ Σᵢ (1 − ηλᵢ)^{2s} pᵢ after s steps (continuous time:
½ Σᵢ e^{−2ηλᵢt} pᵢ), the steps or time needed to reach a given loss, and the data-dependent
complexity √(2 yᵀΘ⁻¹y / n) of Arora et al. 2019 (its generalisation bound scales with it)."""
from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from ._linalg import CholeskyFactor, as_square, as_targets, check_nonneg, check_positive

_NEG_TOL = 1e-8    # eigenvalues below −_NEG_TOL·λ_max: not PSD
_ZERO_TOL = 1e-12  # eigenvalues up to _ZERO_TOL·λ_max count as zero


class Spectrum:
    """Eigendecomposition of a kernel Gram (one ``eigh``) and, given targets y, their projections.

    ``eigenvalues`` are sorted in decreasing order with ``eigenvectors`` matching (columns);
    ``projections`` pᵢ = ‖vᵢᵀy‖² (so Σ pᵢ = ‖y‖²). Eigenvalues in [−1e-8·λ_max, 0) from Gram
    rounding are set to 0; more negative ones raise ValueError (the kernel is not PSD)."""

    def __init__(self, K, y=None):
        K = as_square(K, "K")
        evals, evecs = scipy.linalg.eigh(K, check_finite=False)
        top = max(evals[-1], 0.0)
        if evals[0] < -_NEG_TOL * top:
            raise ValueError(f"K is not positive semidefinite (eigenvalue {evals[0]:.3e}, largest {top:.3e})")
        self.eigenvalues = np.maximum(evals[::-1], 0.0)
        self.eigenvectors = evecs[:, ::-1]
        self.projections = None
        if y is not None:
            Y, _ = as_targets(y, K.shape[0])
            self.projections = ((self.eigenvectors.T @ Y) ** 2).sum(axis=1)

    @property
    def max_learning_rate(self):
        """2/λ_max: discrete GD converges, with a monotonically decreasing loss, for η below it."""
        return 2.0 / self.eigenvalues[0]

    def _need_y(self):
        if self.projections is None:
            raise ValueError("this diagnostic needs targets: Spectrum(K, y)")
        return self.projections

    def loss(self, steps=None, learning_rate=1.0, *, t=None):
        """Predicted training loss ½‖u − y‖² after ``steps`` GD steps (or at continuous time ``t``),
        starting from zero outputs. Scalar or array input; same shape out."""
        p = self._need_y()
        eta = check_positive(learning_rate, "learning_rate")
        if (steps is None) == (t is None):
            raise ValueError("give exactly one of steps and t")
        arr = np.asarray(steps if t is None else t, dtype=np.float64)
        if np.isnan(arr).any() or (arr < 0).any():
            raise ValueError("steps / t must be non-negative")
        if t is None and (arr[np.isfinite(arr)] != np.round(arr[np.isfinite(arr)])).any():
            raise ValueError("steps must be whole numbers")
        tt = arr.reshape(-1, 1)
        with np.errstate(over="ignore", invalid="ignore"):
            if t is None:
                factor = (1.0 - eta * self.eigenvalues[None, :]) ** (2.0 * tt)
            else:
                factor = np.exp(-2.0 * eta * self.eigenvalues[None, :] * tt)
        factor[np.isnan(factor)] = 1.0  # λ = 0 at infinite time: that component never decays
        out = 0.5 * factor @ p
        return float(out[0]) if arr.ndim == 0 else out.reshape(arr.shape)

    def loss_floor(self):
        """½ Σ pᵢ over the zero eigenvalues: the loss no amount of training removes."""
        p = self._need_y()
        return 0.5 * float(p[self.eigenvalues <= _ZERO_TOL * self.eigenvalues[0]].sum())

    def steps_to_loss(self, target, learning_rate=1.0):
        """Smallest number of GD steps s with loss(s) ≤ target (math.inf if never reached).
        Needs η < 2/λ_max, where the loss is non-increasing in s."""
        target = check_nonneg(target, "target")
        eta = check_positive(learning_rate, "learning_rate")
        if eta >= self.max_learning_rate:
            raise ValueError(f"learning_rate {eta:g} ≥ 2/λ_max = {self.max_learning_rate:.3g}: the loss "
                             "is not monotone (GD diverges)")
        if self.loss(0, eta) <= target:
            return 0
        if self.loss(math.inf, eta) >= target:  # the floor is only approached, never reached
            return math.inf
        hi = 1
        while self.loss(hi, eta) > target:
            hi *= 2
        lo = hi // 2  # loss(lo) > target ≥ loss(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.loss(mid, eta) > target:
                lo = mid
            else:
                hi = mid
        return hi

    def time_to_loss(self, target, learning_rate=1.0, rtol=1e-12):
        """Continuous time t with loss(t) = target under gradient flow (0 if already below,
        math.inf if never reached)."""
        target = check_nonneg(target, "target")
        eta = check_positive(learning_rate, "learning_rate")
        if self.loss(t=0.0, learning_rate=eta) <= target:
            return 0.0
        if self.loss(t=math.inf, learning_rate=eta) >= target:
            return math.inf
        hi = 1.0 / (eta * self.eigenvalues[0])
        while self.loss(t=hi, learning_rate=eta) > target:
            hi *= 2.0
        lo = 0.0
        while hi - lo > rtol * hi:
            mid = 0.5 * (lo + hi)
            if self.loss(t=mid, learning_rate=eta) > target:
                lo = mid
            else:
                hi = mid
        return hi


def eigenvalues(K):
    """Eigenvalues of a kernel Gram, decreasing."""
    return Spectrum(K).eigenvalues


def label_projections(K, y):
    """(eigenvalues, pᵢ = ‖vᵢᵀy‖²), eigenvalues decreasing."""
    s = Spectrum(K, y)
    return s.eigenvalues, s.projections


def loss_curve(K, y, learning_rate, steps):
    """Predicted GD training loss ½Σᵢ(1 − ηλᵢ)^{2s}pᵢ at each step count in ``steps``."""
    return Spectrum(K, y).loss(np.asarray(steps), learning_rate)


def complexity(K, y, ridge=0.0, jitter=None):
    """√(2 yᵀ(Θ + ridge·I)⁻¹ y / n) (for k output columns, the trace of YᵀΘ⁻¹Y), via Cholesky.
    A singular Θ raises ValueError unless ``jitter`` is given (the measure is infinite in the limit)."""
    factor = CholeskyFactor(K, ridge, jitter, name="K")
    Y, _ = as_targets(y, factor.n)
    return math.sqrt(2.0 * float(np.einsum("ik,ik->", Y, factor.solve(Y))) / factor.n)
