"""fastntk.predict: kernel regression, one-hot classification and the NNGP GP posterior (MATH §4),
against numpy references written from the formulas, and against neural-tangents' nt.predict
(reference values in tests/data/nt_predict_reference.npz, made by tests/data/make_nt_predict_reference.py)."""
import os
import warnings

import numpy as np
import pytest

import fastntk
from fastntk.predict import (GaussianProcess, JitterWarning, KernelClassifier, KernelRegression, gp_posterior,
                             kernel_regression, one_hot)

REF = os.path.join(os.path.dirname(__file__), "data", "nt_predict_reference.npz")


@pytest.fixture(scope="module")
def grams():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 4))
    Xt = rng.standard_normal((7, 4))
    k = fastntk.FullyConnected(2, "relu", W_std=1.5, b_std=0.2)
    nngp, ntk = k.kernels(X)
    nngp_t, ntk_t = k.kernels(Xt, X)
    nngp_tt = k.nngp(Xt)
    y = rng.standard_normal((40, 3))
    return dict(nngp=nngp, ntk=ntk, nngp_t=nngp_t, ntk_t=ntk_t, nngp_tt=nngp_tt, y=y, X=X, Xt=Xt)


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(REF))


# -- kernel regression ------------------------------------------------------------------------------
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_regression_matches_numpy_solve(grams, ridge):
    K, Ks, y = grams["ntk"], grams["ntk_t"], grams["y"]
    expect = Ks @ np.linalg.solve(K + ridge * np.eye(len(K)), y)
    model = KernelRegression(K, y, ridge=ridge)
    np.testing.assert_allclose(model.predict(Ks), expect, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(kernel_regression(K, y, Ks, ridge=ridge), expect, rtol=1e-9, atol=1e-10)
    # one factor serves several test batches and every output column
    np.testing.assert_allclose(np.vstack([model.predict(Ks[:3]), model.predict(Ks[3:])]), expect, rtol=1e-9,
                               atol=1e-10)
    np.testing.assert_allclose(KernelRegression(K, y[:, 1], ridge=ridge).predict(Ks), expect[:, 1], rtol=1e-9,
                               atol=1e-10)


def test_exact_regression_interpolates(grams):
    K, y = grams["ntk"], grams["y"]
    np.testing.assert_allclose(KernelRegression(K, y).predict(K), y, atol=1e-8)


def test_vector_targets_give_vector_predictions(grams):
    out = KernelRegression(grams["ntk"], grams["y"][:, 0]).predict(grams["ntk_t"])
    assert out.shape == (7,)


def test_regression_matches_neural_tangents_gp_inference_ntk(ref):
    # nt's t = ∞ gradient-descent prediction is kernel regression with the (regularised) NTK
    model = KernelRegression(ref["ntk_dd"], ref["y_train"] - ref["fx_train_0"], ridge=float(ref["reg"]))
    np.testing.assert_allclose(ref["fx_test_0"] + model.predict(ref["ntk_td"]), ref["gd_test_inf"], rtol=1e-10,
                               atol=1e-12)


def test_one_hot_and_classifier(grams):
    labels = np.array(["b", "a", "c", "a"])
    Y, classes = one_hot(labels)
    assert list(classes) == ["a", "b", "c"]
    np.testing.assert_array_equal(Y, [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]])
    Yc, _ = one_hot(labels, center=True)
    np.testing.assert_allclose(Yc.sum(axis=1), 0.0, atol=1e-15)
    with pytest.raises(ValueError, match="not one of the classes"):
        one_hot(labels, classes=["a", "b"])
    # classification = argmax of centred one-hot regression
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 1, (30, 2)), rng.normal(2, 1, (30, 2))])
    lab = np.repeat([10, 20], 30)
    k = fastntk.FullyConnected(1, "relu", W_std=1.0, b_std=1.0)
    clf = KernelClassifier(k.ntk(X), lab, ridge=1e-3)
    Xt = np.array([[-2.0, -2.0], [2.5, 1.5]])
    np.testing.assert_array_equal(clf.predict(k.ntk(Xt, X)), [10, 20])
    Yc = np.eye(2)[(lab == 20).astype(int)] - 0.5
    expect = k.ntk(Xt, X) @ np.linalg.solve(k.ntk(X) + 1e-3 * np.eye(60), Yc)
    np.testing.assert_allclose(clf.decision_function(k.ntk(Xt, X)), expect, rtol=1e-8)
    with pytest.raises(ValueError, match="two classes"):
        KernelClassifier(k.ntk(X), np.zeros(60))


# -- singular and bad inputs -----------------------------------------------------------------------------
def test_singular_kernel_without_jitter_raises():
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # a duplicated row: rank 2
    K = X @ X.T
    with pytest.raises(ValueError, match="positive definite|ill-conditioned"):
        KernelRegression(K, np.ones(3), jitter=None)


def test_auto_jitter_is_documented_and_close_to_pseudo_inverse():
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((8, 3))
    K = Z @ Z.T  # rank 3
    y = K @ rng.standard_normal(8)  # consistent targets: the min-norm solution interpolates
    with pytest.warns(JitterWarning, match="added jitter"):
        model = KernelRegression(K, y)
    assert model.factor.jitter > 0
    Kt = rng.standard_normal((4, 3)) @ Z.T
    np.testing.assert_allclose(model.predict(Kt), Kt @ np.linalg.pinv(K) @ y, rtol=1e-4, atol=1e-6)


def test_explicit_jitter_and_ridge_are_added(grams):
    K, y = grams["ntk"], grams["y"]
    a = KernelRegression(K, y, ridge=0.1, jitter=0.2).predict(K[:5])
    b = KernelRegression(K, y, ridge=0.3, jitter=None).predict(K[:5])
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("bad, match", [
    (dict(y=np.array([1.0, np.nan, 0.0])), "NaN"),
    (dict(y=np.ones(4)), "rows"),
    (dict(y=np.ones((3, 0))), "no output"),
    (dict(y=np.ones((3, 1, 1))), "1-D"),
    (dict(K=np.ones((3, 2))), "square"),
    (dict(K=np.array([[2.0, 1.0, 0], [0.0, 2.0, 0], [0, 0, 1.0]])), "symmetric"),
    (dict(K=np.full((3, 3), np.inf)), "NaN or inf"),
    (dict(K=np.zeros((0, 0))), "empty"),
    (dict(ridge=-1.0), "ridge"),
    (dict(ridge=np.nan), "ridge"),
])
def test_regression_rejects_bad_input(bad, match):
    args = dict(K=np.eye(3) * 2.0, y=np.ones(3), ridge=0.0)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        KernelRegression(args["K"], args["y"], ridge=args["ridge"])


def test_regression_rejects_bad_types_and_cross_shape():
    with pytest.raises(TypeError):
        KernelRegression(np.array([["a", "b"], ["c", "d"]]), np.ones(2))
    with pytest.raises(TypeError):
        KernelRegression(np.eye(2), np.array(["a", "b"]))
    model = KernelRegression(np.eye(3), np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.array([[np.nan, 0, 0]]))


# -- GP posterior ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_gp_posterior_matches_numpy(grams, noise):
    K, Ks, Kss, y = grams["nngp"], grams["nngp_t"], grams["nngp_tt"], grams["y"]
    A = K + noise * np.eye(len(K))
    mean_ref = Ks @ np.linalg.solve(A, y)
    cov_ref = Kss - Ks @ np.linalg.solve(A, Ks.T)
    gp = GaussianProcess(K, y, noise=noise)
    mean, cov = gp.predict(Ks, Kss)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cov, cov_ref, rtol=1e-7, atol=1e-9)
    assert (cov == cov.T).all()
    m2, var = gp.predict(Ks, np.diag(Kss))
    np.testing.assert_allclose(var, np.diag(cov_ref), rtol=1e-7, atol=1e-9)
    _, var_y = gp.predict(Ks, np.diag(Kss), include_noise=True)
    np.testing.assert_allclose(var_y - var, noise)
    np.testing.assert_allclose(gp.predict(Ks), mean_ref, rtol=1e-8, atol=1e-10)
    m3, c3 = gp_posterior(K, y, Ks, Kss, noise=noise)
    np.testing.assert_allclose(c3, cov, rtol=1e-12)


def test_gp_matches_neural_tangents(ref):
    gp = GaussianProcess(ref["nngp_dd"], ref["y_train"], noise=float(ref["reg"]))
    mean, cov = gp.predict(ref["nngp_td"], ref["nngp_tt"])
    np.testing.assert_allclose(mean, ref["gp_mean"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cov, ref["gp_cov"], rtol=1e-10, atol=1e-12)


def test_gp_on_training_points_without_noise_is_exact(grams):
    K, y = grams["nngp"], grams["y"]
    mean, var = GaussianProcess(K, y).predict(K[:6], np.diag(K)[:6])
    np.testing.assert_allclose(mean, y[:6], atol=1e-7)
    assert (var >= 0).all() and var.max() < 1e-7 * np.diag(K).max()


def test_gp_log_marginal_likelihood(grams):
    from scipy.stats import multivariate_normal
    K, y = grams["nngp"], grams["y"]
    gp = GaussianProcess(K, y, noise=0.1)
    expect = sum(multivariate_normal(np.zeros(len(K)), K + 0.1 * np.eye(len(K))).logpdf(y[:, j]) for j in range(3))
    assert gp.log_marginal_likelihood() == pytest.approx(expect, rel=1e-10)


def test_gp_rejects_bad_input(grams):
    K, y = grams["nngp"], grams["y"]
    with pytest.raises(ValueError, match="noise"):
        GaussianProcess(K, y, noise=-0.1)
    gp = GaussianProcess(K, y)
    with pytest.raises(ValueError, match="shape"):
        gp.predict(grams["nngp_t"], np.ones((7, 6)))
    with pytest.raises(ValueError, match="NaN"):
        gp.predict(grams["nngp_t"], np.full(7, np.nan))
    with pytest.raises(ValueError, match="NaN"):
        GaussianProcess(K, np.where(np.eye(40, 3) > 0, np.nan, y))
