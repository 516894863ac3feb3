"""scikit-learn adapters for fastntk kernels (optional dependency: ``pip install fastntk[sklearn]``).

``import fastntk`` never imports scikit-learn; ``import fastntk.sklearn`` does.

* :class:`NTKRegressor`, :class:`NTKClassifier`: estimators doing NTK/NNGP kernel (ridge) regression,
  or the infinitely wide net trained by gradient flow for time ``t`` (early stopping), on any fastntk
  kernel object. They pass ``sklearn.utils.estimator_checks.check_estimator`` and work in
  ``GridSearchCV`` and ``Pipeline``.
* :class:`FastNTKKernel`: a ``sklearn.gaussian_process.kernels.Kernel`` wrapping a fastntk kernel, for
  ``GaussianProcessRegressor`` and ``KernelRidge``. Note: ``KernelRidge(kernel=<plain callable>)``
  calls the callable once per pair of rows (n² Python calls); a ``Kernel`` instance is passed the
  whole matrices instead, so this wrapper is the fast route (one Gram per fit / predict).
* :class:`NTKGram` and :func:`precomputed_grams`: Gram for training rows and cross-Gram for test rows,
  for ``SVC(kernel="precomputed")`` (``Pipeline([("gram", NTKGram(k)), ("svc", SVC(kernel="precomputed"))])``).
"""
from __future__ import annotations

import numpy as np

try:  # absolute imports: these name the top-level scikit-learn package, not this module
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
    from sklearn.gaussian_process.kernels import Kernel as _GPKernel
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("fastntk.sklearn needs scikit-learn >= 1.6: pip install 'fastntk[sklearn]'") from exc

from fastntk.fc import FullyConnected
from fastntk.predict import GradientDescentMSE, KernelRegression

_GETS = ("ntk", "nngp")


def _resolve_kernel(kernel):
    """The kernel object to use: ``None`` means FullyConnected(depth=1, activation='relu')."""
    if kernel is None:
        return FullyConnected(1, "relu")
    if not (callable(getattr(kernel, "ntk", None)) and callable(getattr(kernel, "nngp", None))):
        raise TypeError(f"kernel must be a fastntk kernel object with .ntk and .nngp methods, got {kernel!r}")
    return kernel


def _check_get(get):
    if get not in _GETS:
        raise ValueError(f"get must be 'ntk' or 'nngp', got {get!r}")
    return get


def _gram(kernel, get, X1, X2=None):
    return np.asarray(getattr(kernel, get)(X1, X2), dtype=np.float64)


class _NTKBase(BaseEstimator):
    """Shared fit / predict of kernel regression (t=None) or gradient-flow dynamics (t given)."""

    def __init__(self, kernel=None, get="ntk", ridge=0.0, t=None, learning_rate=1.0, jitter="auto"):
        self.kernel = kernel
        self.get = get
        self.ridge = ridge
        self.t = t
        self.learning_rate = learning_rate
        self.jitter = jitter

    def _fit_targets(self, X, Y):
        self.kernel_ = _resolve_kernel(self.kernel)
        _check_get(self.get)
        self.X_fit_ = X
        K = _gram(self.kernel_, self.get, X)
        if self.t is None:
            self.model_ = KernelRegression(K, Y, ridge=self.ridge, jitter=self.jitter)
        else:
            self.model_ = GradientDescentMSE(K, Y, learning_rate=self.learning_rate, ridge=self.ridge)
        return self

    def _outputs(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        if X is self.X_fit_:  # always the cross-Gram path, so a row's output never depends on the batch
            X = X.copy()
        Kx = _gram(self.kernel_, self.get, X, self.X_fit_)
        if self.t is None:
            return self.model_.predict(Kx)
        return self.model_.test(Kx, self.t)


class NTKRegressor(RegressorMixin, _NTKBase):
    """Regression with the NTK (or NNGP, ``get='nngp'``) of a fastntk kernel.

    Parameters
    ----------
    kernel : fastntk kernel object (default ``FullyConnected(1, 'relu')``).
    get : 'ntk' or 'nngp'.
    ridge : λ ≥ 0 added to the training Gram's diagonal.
    t : None for kernel regression (t = ∞); a time ≥ 0 for the mean prediction of the infinitely wide
        net trained by gradient flow on ½Σ(f − y)² for time t (MATH §4), i.e. early stopping.
    learning_rate : η of that gradient flow (only the product η·t matters).
    jitter : what to do with a singular Gram, see fastntk.predict.KernelRegression.
    """

    def fit(self, X, y):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        return self._fit_targets(X, np.asarray(y, dtype=np.float64))

    def predict(self, X):
        return self._outputs(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class NTKClassifier(ClassifierMixin, _NTKBase):
    """Classification by NTK/NNGP regression on centred one-hot targets (argmax of the outputs), as in
    Arora et al. 2020. Parameters as :class:`NTKRegressor`."""

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        if self.classes_.size < 2:
            raise ValueError(f"NTKClassifier needs at least two classes in y, got {self.classes_.size} class")
        codes = self.label_encoder_.transform(y)
        Y = np.eye(self.classes_.size)[codes] - 1.0 / self.classes_.size
        return self._fit_targets(X, Y)

    def decision_function(self, X):
        """(m, C) outputs; for two classes the (m,) score of classes_[1] (positive: classes_[1])."""
        out = self._outputs(X)
        return out[:, 1] - out[:, 0] if self.classes_.size == 2 else out

    def predict(self, X):
        out = self._outputs(X)
        return self.classes_[np.argmax(out, axis=1)]


class FastNTKKernel(_GPKernel):
    """A fastntk kernel as a scikit-learn Gaussian-process ``Kernel`` (no tunable hyperparameters; combine
    with ``ConstantKernel``/``WhiteKernel`` for a fitted scale or noise).

    ``FastNTKKernel(FullyConnected(3), get='nngp')`` is the NNGP prior of a 3-layer ReLU net:
    ``GaussianProcessRegressor(kernel=...)`` gives its posterior, ``KernelRidge(kernel=...)`` its
    kernel ridge regression with one Gram per call."""

    def __init__(self, kernel=None, get="nngp"):
        self.kernel = kernel
        self.get = get

    def __call__(self, X, Y=None, eval_gradient=False):
        k = _resolve_kernel(self.kernel)
        _check_get(self.get)
        X = np.asarray(X, dtype=np.float64)
        if Y is not None and eval_gradient:
            raise ValueError("gradient can only be evaluated when Y is None")
        K = _gram(k, self.get, X, None if Y is None else np.asarray(Y, dtype=np.float64))
        if eval_gradient:
            return K, np.empty((X.shape[0], X.shape[0], 0))
        return K

    def diag(self, X):
        k = _resolve_kernel(self.kernel)
        _check_get(self.get)
        if hasattr(k, "diag"):
            return np.asarray(k.diag(np.asarray(X, dtype=np.float64), get=self.get), dtype=np.float64)
        return np.diag(self(X))

    def is_stationary(self):
        return False

    def __repr__(self):
        return f"FastNTKKernel(kernel={self.kernel!r}, get={self.get!r})"


class NTKGram(TransformerMixin, BaseEstimator):
    """Turns rows into Gram rows for ``SVC(kernel='precomputed')`` (or any precomputed-kernel learner):
    ``fit_transform(X_train)`` is the (n, n) Gram, ``transform(X_test)`` the (m, n) cross-Gram against the
    training rows."""

    def __init__(self, kernel=None, get="ntk"):
        self.kernel = kernel
        self.get = get

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        self.kernel_ = _resolve_kernel(self.kernel)
        _check_get(self.get)
        self.X_fit_ = X
        return self

    def fit_transform(self, X, y=None):
        self.fit(X, y)
        return _gram(self.kernel_, self.get, self.X_fit_)

    def transform(self, X):
        check_is_fitted(self, "X_fit_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return _gram(self.kernel_, self.get, X, self.X_fit_)


def precomputed_grams(kernel, X_train, X_test=None, get="ntk"):
    """(K_train, K_test): the training Gram and, when X_test is given, the test-by-train cross-Gram, as
    ``SVC(kernel='precomputed').fit(K_train, y).predict(K_test)`` expects."""
    k = _resolve_kernel(kernel)
    _check_get(get)
    K_train = _gram(k, get, X_train)
    return K_train, (None if X_test is None else _gram(k, get, X_test, X_train))
