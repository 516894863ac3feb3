"""Kernel regression with an NTK or NNGP Gram (MATH §4): f(X*) = K* (K + λI)⁻¹ y, exact (λ = 0) or
ridge; multi-output targets share one Cholesky factor, reused for every batch of test points.
Classification is one-hot regression: predict the class with the largest output."""
from __future__ import annotations

import numpy as np

from ._linalg import MIN_RCOND, CholeskyFactor, as_cross, as_targets


class KernelRegression:
    """Kernel (ridge) regression fitted on a training Gram.

    Parameters
    ----------
    K_train : (n, n) symmetric positive (semi)definite Gram of the training inputs.
    y : (n,) or (n, k) targets (no NaN/inf).
    ridge : λ ≥ 0 added to the diagonal (λ = 0: exact interpolation, the t → ∞ limit of gradient flow).
    jitter : "auto" (default), None or a number: what to do when K + λI is singular or ill-conditioned
        (see fastntk.predict._linalg: "auto" adds the smallest sufficient multiple of the mean diagonal
        and warns; None raises ValueError).

    Attributes: ``coef_`` (n, k) = (K + λI)⁻¹ y, ``factor`` (the Cholesky factor, with ``jitter`` used).
    """

    def __init__(self, K_train, y, ridge=0.0, jitter="auto", min_rcond=MIN_RCOND):
        self.factor = CholeskyFactor(K_train, ridge, jitter, min_rcond, name="K_train")
        Y, self._vector = as_targets(y, self.factor.n)
        self.coef_ = self.factor.solve(Y)

    @property
    def n_train(self):
        return self.factor.n

    def predict(self, K_test_train):
        """Predictions K* (K + λI)⁻¹ y for a (m, n) cross-Gram K(X*, X); (m,) if y was 1-D."""
        out = as_cross(K_test_train, self.n_train) @ self.coef_
        return out[:, 0] if self._vector else out


def kernel_regression(K_train, y, K_test_train, ridge=0.0, jitter="auto"):
    """One-shot f(X*) = K(X*, X) (K(X, X) + ridge·I)⁻¹ y."""
    return KernelRegression(K_train, y, ridge, jitter).predict(K_test_train)


def one_hot(labels, classes=None, center=False):
    """(Y, classes): Y[i, c] = 1 where labels[i] == classes[c] (minus 1/C when ``center``)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if classes is None:
        classes = np.unique(labels)
    classes = np.asarray(classes)
    index = {c: i for i, c in enumerate(classes.tolist())}
    try:
        cols = np.array([index[v] for v in labels.tolist()])
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not one of the classes") from None
    Y = np.zeros((labels.size, classes.size))
    Y[np.arange(labels.size), cols] = 1.0
    if center:
        Y -= 1.0 / classes.size
    return Y, classes


class KernelClassifier:
    """Classification by kernel regression on one-hot targets (centred by 1/C, as in Arora et al. 2020):
    the predicted class is the argmax of the C outputs. Needs at least two classes."""

    def __init__(self, K_train, labels, ridge=0.0, jitter="auto", min_rcond=MIN_RCOND):
        Y, self.classes_ = one_hot(labels, center=True)
        if self.classes_.size < 2:
            raise ValueError("labels must contain at least two classes")
        self.regression = KernelRegression(K_train, Y, ridge, jitter, min_rcond)

    def decision_function(self, K_test_train):
        """(m, C) regression outputs."""
        return self.regression.predict(K_test_train)

    def predict(self, K_test_train):
        return self.classes_[np.argmax(self.decision_function(K_test_train), axis=1)]
