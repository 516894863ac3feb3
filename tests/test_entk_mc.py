"""Monte Carlo: the eNTK of random wide MLPs converges to FullyConnected(...).ntk ⊗ I_O (MATH §5, §2),
with relative Frobenius error falling like width^(-1/2), in both conventions of MATH §1."""
import numpy as np
import pytest

import fastntk
from fastntk import empirical as E

CONVENTIONS = [
    (None, 0.0, "relu"),  # seeds: weights N(0,1), g = √(c_σ/d)·σ(f), Σ⁰ = xᵀx'
    (None, 0.5, "tanh"),  # seeds with a bias (Gauss–Hermite dual)
    (1.5, 0.3, "erf"),    # neural-tangents 'ntk' parameterisation
]
O = 3


def _inputs():
    X = np.random.default_rng(0).standard_normal((6, 4))
    return X / np.linalg.norm(X, axis=1, keepdims=True) * np.array([[0.5], [1], [1], [2], [1], [1.5]])


@pytest.mark.parametrize("W_std,b_std,act", CONVENTIONS)
def test_entk_error_to_infinite_width_ntk_shrinks_like_inverse_sqrt_width(W_std, b_std, act):
    X = _inputs()
    theta = fastntk.FullyConnected(2, act, W_std=W_std, b_std=b_std).ntk(X)
    ref = theta[:, :, None, None] * np.eye(O)
    widths = [64, 256, 1024]
    errors = []
    for w in widths:
        e = [np.linalg.norm(E.entk(E.init_mlp([4, w, w, O], act, W_std=W_std, b_std=b_std, seed=s), X) - ref)
             for s in range(6)]
        errors.append(np.mean(e) / np.linalg.norm(ref))
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert -0.65 < slope < -0.35, (errors, slope)
    assert errors[-1] < 0.15


@pytest.mark.parametrize("W_std,b_std,act", CONVENTIONS)
def test_monte_carlo_mean_matches_ntk_within_standard_errors(W_std, b_std, act):
    X = _inputs()
    theta = fastntk.FullyConnected(2, act, W_std=W_std, b_std=b_std).ntk(X)
    ref = theta[:, :, None, None] * np.eye(O)
    mlp = E.init_mlp([4, 256, 256, O], act, W_std=W_std, b_std=b_std, seed=0)
    res = E.monte_carlo_ntk(mlp, X, n_samples=20, mode="full", seed=1)
    assert res.n_samples == 20 and res.mean.shape == ref.shape
    # finite-width bias is O(1/width); allow 5 standard errors plus 2% of the scale for it
    assert np.all(np.abs(res.mean - ref) <= 5 * res.stderr + 0.02 * np.abs(theta).max())
    assert np.all(res.stderr > 0)
    # the pNTK averages to Θ as well: (1/O)·1ᵀ(Θ ⊗ I_O)1 = Θ
    p = E.monte_carlo_ntk(mlp, X, n_samples=20, kernel="pntk", seed=1)
    assert np.all(np.abs(p.mean - theta) <= 5 * p.stderr + 0.02 * np.abs(theta).max())


def test_monte_carlo_batched_equals_unbatched_and_factory():
    X = _inputs()
    mlp = E.init_mlp([4, 32, O], "relu", seed=0)
    whole = E.monte_carlo_ntk(mlp, X, n_samples=4, mode="diagonal", seed=3)
    batched = E.monte_carlo_ntk(mlp, X, n_samples=4, mode="diagonal", seed=3, batch_size=4)
    np.testing.assert_allclose(batched.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(batched.stderr, whole.stderr, rtol=1e-10, atol=1e-14)
    # the same draws through a factory give the same estimate
    fac = E.monte_carlo_ntk(lambda s: mlp.reinitialize(s), X, n_samples=4, mode="diagonal", seed=3)
    np.testing.assert_allclose(fac.mean, whole.mean, rtol=1e-13)
    # and the mean is the plain average of those draws
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(3).spawn(4)]
    draws = np.stack([E.entk(mlp.reinitialize(s), X, mode="diagonal") for s in seeds])
    np.testing.assert_allclose(whole.mean, draws.mean(0), rtol=1e-12)
    np.testing.assert_allclose(whole.stderr, draws.std(0, ddof=1) / 2, rtol=1e-8, atol=1e-14)
    with pytest.raises(TypeError, match="factory"):
        E.monte_carlo_ntk(lambda s: "net", X, n_samples=2)
