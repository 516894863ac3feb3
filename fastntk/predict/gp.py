"""NNGP Gaussian-process posterior (MATH §4): with Σ the NNGP Gram of the training inputs, Σ* the
cross-Gram and Σ** the test Gram, the posterior of f(X*) given y = f(X) + noise is
  mean = Σ* (Σ + σ²I)⁻¹ y,   covariance = Σ** − Σ* (Σ + σ²I)⁻¹ Σ*ᵀ.
One Cholesky serves every output column and every test batch; the covariance is formed as Σ** − VᵀV
with V = L⁻¹Σ*ᵀ (triangular solve), so no inverse is built."""
from __future__ import annotations

import numpy as np

from ._linalg import MIN_RCOND, CholeskyFactor, as_cross, as_matrix, as_targets, check_nonneg


class GaussianProcess:
    """GP posterior with the NNGP (or any) kernel.

    Parameters
    ----------
    K_train : (n, n) prior covariance of the training outputs.
    y : (n,) or (n, k) observed targets; each column is an independent GP with the same kernel.
    noise : σ² ≥ 0, variance of the Gaussian observation noise (added to the training diagonal).
    jitter : see fastntk.predict.KernelRegression.
    """

    def __init__(self, K_train, y, noise=0.0, jitter="auto", min_rcond=MIN_RCOND):
        self.noise = check_nonneg(noise, "noise")
        self.factor = CholeskyFactor(K_train, self.noise, jitter, min_rcond, name="K_train")
        self.Y, self._vector = as_targets(y, self.factor.n)
        self.alpha = self.factor.solve(self.Y)

    def predict(self, K_test_train, K_test=None, *, include_noise=False):
        """Posterior mean, and with ``K_test`` the posterior covariance.

        K_test : None (mean only), the (m,) prior variances k(x*, x*) (returns the (m,) posterior
            variances) or the (m, m) prior covariance (returns the (m, m) posterior covariance).
        include_noise : add σ² to the returned variances (predictive distribution of noisy y*).
        Returns mean of shape (m,) or (m, k), or (mean, var_or_cov). Rounding can leave variances
        of about −1e-16·k(x*, x*); they are clipped at 0.
        """
        Ks = as_cross(K_test_train, self.factor.n)
        mean = Ks @ self.alpha
        mean = mean[:, 0] if self._vector else mean
        if K_test is None:
            return mean
        V = self.factor.half_solve(Ks.T)  # n × m
        m = Ks.shape[0]
        prior = np.asarray(K_test)
        if prior.ndim == 1:
            prior = as_matrix(prior[:, None], "K_test", (m, 1))[:, 0]
            var = np.maximum(prior - np.einsum("ij,ij->j", V, V), 0.0)
            return mean, var + (self.noise if include_noise else 0.0)
        prior = as_matrix(prior, "K_test", (m, m))
        cov = prior - V.T @ V
        cov = 0.5 * (cov + cov.T)
        d = np.diag_indices(m)
        cov[d] = np.maximum(cov[d], 0.0) + (self.noise if include_noise else 0.0)
        return mean, cov

    def log_marginal_likelihood(self):
        """log p(y) = −½ yᵀ(Σ + σ²I)⁻¹y − ½ log|Σ + σ²I| − (n/2) log 2π, summed over output columns."""
        n, k = self.Y.shape
        fit = float(np.einsum("ik,ik->", self.Y, self.alpha))
        return -0.5 * fit - 0.5 * k * self.factor.logdet() - 0.5 * n * k * np.log(2 * np.pi)


def gp_posterior(K_train, y, K_test_train, K_test=None, noise=0.0, jitter="auto"):
    """One-shot GaussianProcess(K_train, y, noise).predict(K_test_train, K_test)."""
    return GaussianProcess(K_train, y, noise, jitter).predict(K_test_train, K_test)
