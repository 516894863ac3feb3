"""fastntk.predict.GradientDescentMSE and Spectrum (MATH §4): against neural-tangents (stored reference),
closed forms (t → ∞ is kernel regression, t = 0 the initial outputs, monotone loss for η < 2/λ_max),
an explicit simulation of a tiny linearised network, and numpy references."""
import math
import os

import numpy as np
import pytest

import fastntk
from fastntk.predict import GradientDescentMSE, KernelRegression, Spectrum, complexity, eigenvalues, \
    label_projections, loss_curve

REF = os.path.join(os.path.dirname(__file__), "data", "nt_predict_reference.npz")


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(REF))


@pytest.fixture(scope="module")
def grams():
    rng = np.random.default_rng(5)
    X, Xt = rng.standard_normal((30, 3)), rng.standard_normal((6, 3))
    k = fastntk.FullyConnected(2, "relu", W_std=1.4, b_std=0.1)
    nngp, ntk = k.kernels(X)
    nngp_t, ntk_t = k.kernels(Xt, X)
    return dict(nngp=nngp, ntk=ntk, nngp_t=nngp_t, ntk_t=ntk_t, nngp_tt=k.nngp(Xt), y=rng.standard_normal((30, 2)))


# -- neural-tangents ---------------------------------------------------------------------------------------
def test_mean_dynamics_match_neural_tangents(ref):
    n_entries = ref["y_train"].size  # nt's loss is a mean over y.size entries: t_nt = t · y.size
    t = ref["times"] / n_entries
    g = GradientDescentMSE(ref["ntk_dd"], ref["y_train"], learning_rate=float(ref["lr"]), ridge=float(ref["reg"]))
    np.testing.assert_allclose(g.train(t, fx_train_0=ref["fx_train_0"]), ref["gd_train"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.test(ref["ntk_td"], t, fx_train_0=ref["fx_train_0"], fx_test_0=ref["fx_test_0"]),
                               ref["gd_test"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.test(ref["ntk_td"], np.inf, fx_train_0=ref["fx_train_0"],
                                      fx_test_0=ref["fx_test_0"]), ref["gd_test_inf"], rtol=1e-10, atol=1e-12)


def test_ensemble_matches_neural_tangents(ref):
    t = ref["times"] / ref["y_train"].size
    g = GradientDescentMSE(ref["ntk_dd"], ref["y_train"], learning_rate=float(ref["lr"]), ridge=float(ref["reg"]),
                           nngp_train=ref["nngp_dd"])
    mean, cov = g.ensemble(ref["ntk_td"], ref["nngp_td"], ref["nngp_tt"], t)
    np.testing.assert_allclose(mean, ref["ens_mean"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cov, ref["ens_cov"], rtol=1e-10, atol=1e-12)
    mean, cov = g.ensemble(ref["ntk_td"], ref["nngp_td"], ref["nngp_tt"], np.inf)
    np.testing.assert_allclose(mean, ref["ens_mean_inf"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cov, ref["ens_cov_inf"], rtol=1e-10, atol=1e-12)
    mean, cov = g.ensemble(t=t)
    np.testing.assert_allclose(mean, ref["ens_train_mean"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cov, ref["ens_train_cov"], rtol=1e-10, atol=1e-12)
    _, var = g.ensemble(ref["ntk_td"], ref["nngp_td"], np.diag(ref["nngp_tt"]), t, full_cov=False)
    np.testing.assert_allclose(var, np.einsum("tii->ti", ref["ens_cov"]), rtol=1e-10, atol=1e-12)


# -- closed forms ------------------------------------------------------------------------------------------
def test_infinite_time_is_kernel_regression(grams):
    g = GradientDescentMSE(grams["ntk"], grams["y"], learning_rate=0.3)
    expect = KernelRegression(grams["ntk"], grams["y"], jitter=None).predict(grams["ntk_t"])
    np.testing.assert_allclose(g.test(grams["ntk_t"], np.inf), expect, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(g.train(np.inf), grams["y"], atol=1e-12)
    # and large finite times converge to it
    np.testing.assert_allclose(g.test(grams["ntk_t"], 1e9), expect, rtol=1e-6, atol=1e-8)


def test_time_zero_is_the_initial_output(grams):
    g = GradientDescentMSE(grams["ntk"], grams["y"], learning_rate=0.01)
    f0 = np.full((6, 2), 0.25)
    u0 = np.full((30, 2), -0.5)
    np.testing.assert_allclose(g.test(grams["ntk_t"], 0.0), 0.0, atol=1e-14)
    np.testing.assert_allclose(g.test(grams["ntk_t"], 0.0, fx_train_0=u0, fx_test_0=f0), f0, atol=1e-14)
    np.testing.assert_allclose(g.train(0.0, fx_train_0=u0), u0, atol=1e-12)
    np.testing.assert_allclose(g.train(steps=0), 0.0, atol=1e-12)


def test_against_numpy_matrix_exponential(grams):
    from scipy.linalg import expm
    Th, y, Ks = grams["ntk"], grams["y"], grams["ntk_t"]
    eta, t, ridge = 0.2, 0.7, 0.05
    A = Th + ridge * np.eye(30)
    E = expm(-eta * A * t)
    g = GradientDescentMSE(Th, y, learning_rate=eta, ridge=ridge)
    np.testing.assert_allclose(g.train(t), y - E @ y, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(g.test(Ks, t), Ks @ np.linalg.solve(A, (np.eye(30) - E) @ y), rtol=1e-7, atol=1e-9)
    # discrete steps: (I − ηΘ)^s
    s = 7
    P = np.linalg.matrix_power(np.eye(30) - eta * A, s)
    eta_d = 0.5 * g.max_learning_rate
    g2 = GradientDescentMSE(Th, y, learning_rate=eta_d, ridge=ridge)
    P = np.linalg.matrix_power(np.eye(30) - eta_d * A, s)
    np.testing.assert_allclose(g2.train(steps=s), y - P @ y, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(g2.test(Ks, steps=s), Ks @ np.linalg.solve(A, (np.eye(30) - P) @ y), rtol=1e-7,
                               atol=1e-9)


def test_array_of_times_and_shapes(grams):
    g = GradientDescentMSE(grams["ntk"], grams["y"][:, 0], learning_rate=0.01)
    times = np.array([0.0, 1.0, 10.0])
    out = g.test(grams["ntk_t"], times)
    assert out.shape == (3, 6)
    for i, t in enumerate(times):
        np.testing.assert_allclose(out[i], g.test(grams["ntk_t"], t), rtol=1e-13, atol=1e-15)
    assert g.train(times).shape == (3, 30)
    assert g.train(steps=[1, 2]).shape == (2, 30)


def test_ensemble_closed_forms(grams):
    Th, K, y = grams["ntk"], grams["nngp"], grams["y"]
    Ks, Kxs, Kss = grams["ntk_t"], grams["nngp_t"], grams["nngp_tt"]
    g = GradientDescentMSE(Th, y, nngp_train=K)
    mean0, cov0 = g.ensemble(Ks, Kxs, Kss, 0.0)  # at t = 0: the prior
    np.testing.assert_allclose(mean0, 0.0, atol=1e-14)
    np.testing.assert_allclose(cov0, Kss, rtol=1e-12)
    A = Ks @ np.linalg.inv(Th)  # reference only: an explicit inverse is fine in a test
    cov_inf = Kss + A @ K @ A.T - A @ Kxs.T - Kxs @ A.T
    mean, cov = g.ensemble(Ks, Kxs, Kss, np.inf)
    np.testing.assert_allclose(mean, A @ y, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cov, cov_inf, rtol=1e-5, atol=1e-7 * np.abs(Kss).max())
    assert np.linalg.eigvalsh(cov).min() > -1e-8 * np.abs(Kss).max()
    _, tcov = g.ensemble(t=0.0)  # training set at t = 0: the NNGP prior
    np.testing.assert_allclose(tcov, K, rtol=1e-10, atol=1e-12)


# -- an explicit linearised network ---------------------------------------------------------------------------
def _tiny_net(rng, width=40, d=3):
    W = rng.standard_normal((width, d))
    v = rng.standard_normal(width)

    def f_and_jac(X):
        """f(x) = v·relu(Wx/√d)/√width and its Jacobian w.r.t. (W, v), flattened (NTK parameterisation)."""
        pre = X @ W.T / math.sqrt(d)
        act = np.maximum(pre, 0.0)
        f = act @ v / math.sqrt(width)
        dW = ((pre > 0) * v)[:, :, None] * X[:, None, :] / math.sqrt(d * width)
        dv = act / math.sqrt(width)
        return f, np.hstack([dW.reshape(len(X), -1), dv])
    return f_and_jac


def _linearised_problem(seed):
    """Outputs and Jacobians of the tiny net on 10 training and 4 test points, and training targets."""
    rng = np.random.default_rng(seed)
    f_and_jac = _tiny_net(rng)
    X, Xt = rng.standard_normal((10, 3)), rng.standard_normal((4, 3))
    y = rng.standard_normal(10)
    f0, J = f_and_jac(X)
    f0t, Jt = f_and_jac(Xt)
    return f0, J, f0t, Jt, y


def test_discrete_gd_of_linearised_network_is_exact():
    f0, J, f0t, Jt, y = _linearised_problem(11)
    eta, steps = 0.05, 60
    delta = np.zeros(J.shape[1])  # θ − θ0 of the linearised model f0 + J(θ − θ0)
    for _ in range(steps):
        delta -= eta * J.T @ (f0 + J @ delta - y)
    g = GradientDescentMSE(J @ J.T, y, learning_rate=eta)
    np.testing.assert_allclose(g.train(steps=steps, fx_train_0=f0), f0 + J @ delta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.test(Jt @ J.T, steps=steps, fx_train_0=f0, fx_test_0=f0t), f0t + Jt @ delta,
                               rtol=1e-10, atol=1e-12)


def test_gradient_flow_is_the_small_step_limit():
    f0, J, f0t, Jt, y = _linearised_problem(12)
    T, errs = 2.0, []
    g = GradientDescentMSE(J @ J.T, y)
    flow = g.test(Jt @ J.T, T, fx_train_0=f0, fx_test_0=f0t)
    for steps in (200, 400):
        eta, delta = T / steps, np.zeros(J.shape[1])
        for _ in range(steps):
            delta -= eta * J.T @ (f0 + J @ delta - y)
        errs.append(np.abs(f0t + Jt @ delta - flow).max())
    assert errs[0] < 0.05 * np.abs(flow).max()
    assert 1.7 < errs[0] / errs[1] < 2.3  # first-order convergence in the step size


# -- bad input ------------------------------------------------------------------------------------------------
def test_dynamics_bad_input(grams):
    Th, y = grams["ntk"], grams["y"]
    g = GradientDescentMSE(Th, y)
    with pytest.raises(ValueError, match="exactly one"):
        g.train()
    with pytest.raises(ValueError, match="exactly one"):
        g.train(1.0, steps=2)
    with pytest.raises(ValueError, match="non-negative"):
        g.test(grams["ntk_t"], -1.0)
    with pytest.raises(ValueError, match="non-negative"):
        g.test(grams["ntk_t"], np.nan)
    with pytest.raises(ValueError, match="whole"):
        g.train(steps=1.5)
    with pytest.raises(ValueError, match="shape"):
        g.test(np.ones((3, 5)), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        GradientDescentMSE(Th, np.where(np.arange(60).reshape(30, 2) == 7, np.nan, 1.0))
    with pytest.raises(ValueError, match="learning_rate"):
        GradientDescentMSE(Th, y, learning_rate=0.0)
    with pytest.raises(ValueError, match="positive semidefinite"):
        GradientDescentMSE(-Th, y)
    with pytest.raises(ValueError, match="nngp_train"):
        g.ensemble(t=1.0)
    with pytest.raises(ValueError, match="nngp_train must have shape"):
        GradientDescentMSE(Th, y, nngp_train=np.eye(3))
    big = GradientDescentMSE(Th, y, learning_rate=3.0 * g.max_learning_rate)
    with pytest.warns(RuntimeWarning, match="diverges"):
        big.train(steps=3)
    with pytest.raises(ValueError, match="does not converge"):
        big.train(steps=np.inf)


def test_singular_kernel_finite_time_ok_infinite_time_rejected():
    Z = np.random.default_rng(2).standard_normal((6, 2))
    Th = Z @ Z.T  # rank 2
    y = np.arange(6.0)
    g = GradientDescentMSE(Th, y)
    out = g.test(Th[:2], 3.0)
    assert np.isfinite(out).all()
    with pytest.raises(ValueError, match="ridge"):
        g.test(Th[:2], np.inf)
    # the null-space component of the error never moves, so the train outputs stay finite at t = ∞
    assert np.isfinite(g.train(np.inf)).all()
    assert np.isfinite(GradientDescentMSE(Th, y, ridge=1e-3).test(Th[:2], np.inf)).all()


# -- spectral diagnostics -------------------------------------------------------------------------------------
def test_spectrum_against_numpy(grams):
    Th, y = grams["ntk"], grams["y"]
    s = Spectrum(Th, y)
    w, V = np.linalg.eigh(Th)
    np.testing.assert_allclose(s.eigenvalues, w[::-1], rtol=1e-9, atol=1e-9 * w.max())
    np.testing.assert_allclose(eigenvalues(Th), w[::-1], rtol=1e-9, atol=1e-9 * w.max())
    np.testing.assert_allclose(s.projections.sum(), (y ** 2).sum(), rtol=1e-12)
    lam, p = label_projections(Th, y[:, 0])
    np.testing.assert_allclose(p, ((V.T @ y[:, 0]) ** 2)[::-1], rtol=1e-6, atol=1e-10)
    assert s.max_learning_rate == pytest.approx(2.0 / w.max())


def test_loss_curve_matches_function_space_gd(grams):
    Th, y = grams["ntk"], grams["y"]
    s = Spectrum(Th, y)
    eta = 0.9 * s.max_learning_rate
    u, losses = np.zeros_like(y), []
    for _ in range(40):
        losses.append(0.5 * ((u - y) ** 2).sum())
        u = u - eta * Th @ (u - y)
    curve = loss_curve(Th, y, eta, np.arange(40))
    np.testing.assert_allclose(curve, losses, rtol=1e-8)
    assert (np.diff(curve) <= 1e-12).all()  # monotone for η < 2/λ_max
    assert s.loss(t=0.0) == pytest.approx(0.5 * (y ** 2).sum())
    g = GradientDescentMSE(Th, y, learning_rate=0.3)
    assert s.loss(t=2.0, learning_rate=0.3) == pytest.approx(0.5 * ((g.train(2.0) - y) ** 2).sum(), rel=1e-9)


def test_steps_and_time_to_loss(grams):
    Th, y = grams["ntk"], grams["y"]
    s = Spectrum(Th, y)
    eta = 0.5 * s.max_learning_rate
    target = 0.01 * s.loss(0, eta)
    k = s.steps_to_loss(target, eta)
    assert s.loss(k, eta) <= target < s.loss(k - 1, eta)
    assert s.steps_to_loss(1e9, eta) == 0
    assert s.steps_to_loss(0.0, eta) == math.inf and s.time_to_loss(0.0, eta) == math.inf
    t = s.time_to_loss(target, eta)
    assert s.loss(t=t, learning_rate=eta) == pytest.approx(target, rel=1e-9)
    with pytest.raises(ValueError, match="monotone"):
        s.steps_to_loss(target, 2.5 * s.max_learning_rate)
    # unreachable below the loss floor of a singular kernel
    Z = np.random.default_rng(0).standard_normal((5, 2))
    s2 = Spectrum(Z @ Z.T, np.arange(5.0))
    floor = s2.loss_floor()
    assert floor > 0
    assert s2.steps_to_loss(0.5 * floor, 0.1 * s2.max_learning_rate) == math.inf
    assert s2.time_to_loss(0.5 * floor) == math.inf


def test_complexity(grams):
    Th, y = grams["ntk"], grams["y"][:, 0]
    expect = math.sqrt(2 * y @ np.linalg.solve(Th, y) / 30)
    assert complexity(Th, y) == pytest.approx(expect, rel=1e-8)
    with pytest.raises(ValueError, match="positive definite|ill-conditioned"):
        complexity(np.ones((3, 3)), np.arange(3.0))
    with pytest.raises(ValueError, match="NaN"):
        complexity(Th, np.full(30, np.nan))


def test_spectrum_bad_input(grams):
    with pytest.raises(ValueError, match="targets"):
        Spectrum(grams["ntk"]).loss(1)
    with pytest.raises(ValueError, match="positive semidefinite"):
        Spectrum(-grams["ntk"])
    s = Spectrum(grams["ntk"], grams["y"])
    with pytest.raises(ValueError, match="exactly one"):
        s.loss(1, t=1.0)
    with pytest.raises(ValueError, match="whole"):
        s.loss(0.5)
    with pytest.raises(ValueError, match="target"):
        s.steps_to_loss(-1.0)


def test_live_neural_tangents_when_installed(ref):
    """With neural-tangents importable, compare on fresh times too (the stored file covers CI)."""
    try:
        import jax
        import neural_tangents as nt
    except Exception as exc:  # not installed, or an incompatible jax/scipy pair
        pytest.skip(f"neural-tangents not importable: {exc!r}")
    jax.config.update("jax_enable_x64", True)
    times = np.array([0.3, 17.0])
    fn = nt.predict.gradient_descent_mse(ref["ntk_dd"], ref["y_train"], learning_rate=0.5)
    expect = np.asarray(fn(times, 0.0, 0.0, ref["ntk_td"])[1])
    g = GradientDescentMSE(ref["ntk_dd"], ref["y_train"], learning_rate=0.5)
    np.testing.assert_allclose(g.test(ref["ntk_td"], times / ref["y_train"].size), expect, rtol=1e-9, atol=1e-11)
