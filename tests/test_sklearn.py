"""fastntk.sklearn: estimator contract (check_estimator), GridSearchCV / Pipeline use, the GP Kernel wrapper
in GaussianProcessRegressor and KernelRidge, and the precomputed-Gram route to SVC."""
import numpy as np
import pytest

pytest.importorskip("sklearn")

import fastntk  # noqa: E402
from fastntk.predict import GaussianProcess, GradientDescentMSE  # noqa: E402
from fastntk.sklearn import FastNTKKernel, NTKClassifier, NTKGram, NTKRegressor, precomputed_grams  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    return X, y


@pytest.mark.parametrize("estimator", [NTKRegressor(), NTKClassifier(), NTKRegressor(t=5.0),
                                       NTKClassifier(get="nngp", ridge=1e-3, t=2.0)], ids=repr)
def test_check_estimator(estimator):
    from sklearn.utils.estimator_checks import check_estimator
    results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) > 40


def test_regressor_equals_kernel_regression_and_dynamics(data):
    X, y = data
    k = fastntk.FullyConnected(2, "relu", W_std=1.3, b_std=0.2)
    Xt = X[:7] + 0.1
    K, Kt = k.ntk(X), k.ntk(Xt, X)
    expect = Kt @ np.linalg.solve(K + 0.01 * np.eye(60), y)
    np.testing.assert_allclose(NTKRegressor(k, ridge=0.01).fit(X, y).predict(Xt), expect, rtol=1e-8)
    expect_t = GradientDescentMSE(K, y, learning_rate=0.5).test(Kt, 3.0)
    np.testing.assert_allclose(NTKRegressor(k, t=3.0, learning_rate=0.5).fit(X, y).predict(Xt), expect_t, rtol=1e-10)
    Kn, Knt = k.nngp(X), k.nngp(Xt, X)
    np.testing.assert_allclose(NTKRegressor(k, get="nngp", ridge=0.01).fit(X, y).predict(Xt),
                               Knt @ np.linalg.solve(Kn + 0.01 * np.eye(60), y), rtol=1e-8)
    Y2 = np.column_stack([y, -y])
    assert NTKRegressor(k, ridge=0.01).fit(X, Y2).predict(Xt).shape == (7, 2)


def test_classifier_labels_and_decision(data):
    X, y = data
    labels = np.where(y > np.median(y), "hi", "lo")
    clf = NTKClassifier(fastntk.FullyConnected(2, W_std=1.4, b_std=0.1), ridge=1e-2).fit(X, labels)
    assert list(clf.classes_) == ["hi", "lo"]
    assert clf.score(X, labels) > 0.9
    d = clf.decision_function(X)
    np.testing.assert_array_equal(np.where(d > 0, "lo", "hi"), clf.predict(X))


def test_gridsearch_and_pipeline(data):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = data
    pipe = make_pipeline(StandardScaler(), NTKRegressor(fastntk.FullyConnected(1, W_std=1.4, b_std=0.1)))
    grid = GridSearchCV(pipe, {"ntkregressor__ridge": [1e-3, 1e-1, 10.0],
                               "ntkregressor__kernel": [fastntk.FullyConnected(d, W_std=1.4, b_std=0.1)
                                                        for d in (1, 3)]}, cv=3)
    grid.fit(X, y)
    assert grid.best_score_ > 0.5
    assert set(grid.best_params_) == {"ntkregressor__ridge", "ntkregressor__kernel"}


def test_bad_parameters_are_reported(data):
    X, y = data
    with pytest.raises(ValueError, match="get"):
        NTKRegressor(get="both").fit(X, y)
    with pytest.raises(TypeError, match="kernel object"):
        NTKRegressor(kernel="rbf").fit(X, y)
    with pytest.raises(ValueError, match="ridge"):
        NTKRegressor(ridge=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        NTKRegressor(t=-1.0).fit(X, y).predict(X)
    with pytest.raises(ValueError):
        NTKRegressor().fit(X, np.where(np.arange(60) == 3, np.nan, y))


def test_gp_kernel_in_gaussian_process_regressor(data):
    from sklearn.gaussian_process import GaussianProcessRegressor
    X, y = data
    k = fastntk.FullyConnected(2, W_std=1.3, b_std=0.2)
    Xt = X[:5] + 0.2
    gpr = GaussianProcessRegressor(kernel=FastNTKKernel(k, get="nngp"), alpha=1e-2, optimizer=None).fit(X, y)
    mean, std = gpr.predict(Xt, return_std=True)
    ref_mean, ref_var = GaussianProcess(k.nngp(X), y, noise=1e-2).predict(k.nngp(Xt, X), k.diag(Xt, "nngp"))
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-7)
    np.testing.assert_allclose(std, np.sqrt(ref_var), rtol=1e-6)
    # composes with sklearn kernels, whose hyperparameters are then fitted
    from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel
    gpr2 = GaussianProcessRegressor(kernel=ConstantKernel() * FastNTKKernel(k) + WhiteKernel(), random_state=0)
    gpr2.fit(X, y)
    assert gpr2.kernel_.k1.k1.constant_value != 1.0
    wrapped = FastNTKKernel(k, get="ntk")
    np.testing.assert_allclose(wrapped.diag(X), np.diag(wrapped(X)), rtol=1e-12)
    K, grad = wrapped(X, eval_gradient=True)
    assert grad.shape == (60, 60, 0)


def test_gp_kernel_in_kernel_ridge(data):
    from sklearn.kernel_ridge import KernelRidge
    X, y = data
    k = fastntk.FullyConnected(2, W_std=1.3, b_std=0.2)
    kr = KernelRidge(kernel=FastNTKKernel(k, get="ntk"), alpha=0.1).fit(X, y)
    expect = k.ntk(X[:4], X) @ np.linalg.solve(k.ntk(X) + 0.1 * np.eye(60), y)
    np.testing.assert_allclose(kr.predict(X[:4]), expect, rtol=1e-8)


def test_precomputed_svc(data):
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC
    X, y = data
    labels = (y > np.median(y)).astype(int)
    k = fastntk.FullyConnected(2)
    K_train, K_test = precomputed_grams(k, X[:40], X[40:])
    np.testing.assert_array_equal(K_train, k.ntk(X[:40]))
    np.testing.assert_array_equal(K_test, k.ntk(X[40:], X[:40]))
    direct = SVC(kernel="precomputed", C=10.0).fit(K_train, labels[:40]).predict(K_test)
    pipe = make_pipeline(NTKGram(k), SVC(kernel="precomputed", C=10.0)).fit(X[:40], labels[:40])
    np.testing.assert_array_equal(pipe.predict(X[40:]), direct)
    assert pipe.score(X[40:], labels[40:]) > 0.7
    assert precomputed_grams(k, X[:5])[1] is None
    with pytest.raises(ValueError, match="features"):
        NTKGram(k).fit(X).transform(X[:, :2])
