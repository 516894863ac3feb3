"""Independent pure-numpy reference of the fully-connected NNGP/NTK, written from MATH.md §1–§2.

Deliberately simple: whole N1×N2 matrices per layer, arccos from numpy, quadrature from numpy's
Hermite rule. It never imports fastntk.
"""
import numpy as np
from scipy.special import erf, expit, ndtr

SIGMA = {
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
    "erf": (erf, lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x)),
    "gelu": (lambda x: x * ndtr(x), lambda x: ndtr(x) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sin": (np.sin, np.cos),
    "sigmoid": (expit, lambda x: expit(x) * (1 - expit(x))),
    "softplus": (lambda x: np.logaddexp(0, x), expit),
}


def abrelu_dual(a, b, c, neg, pos, same):
    """E[σσ], E[σ'σ'] for σ = neg·z (z<0), pos·z (z≥0): MATH §2.2 via ReLU's arc-cosine formulas."""
    ab = np.sqrt(a * b)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(ab > 0, c / np.where(ab > 0, ab, 1.0), 0.0)
    if same:
        np.fill_diagonal(rho, 1.0)
    rho = np.clip(rho, -1.0, 1.0)
    theta = np.arccos(rho)
    relu_t = ab * (np.sin(theta) + (np.pi - theta) * rho) / (2 * np.pi)
    relu_td = (np.pi - theta) / (2 * np.pi)
    # σ = pos·relu(z) − neg·relu(−z); E[relu(u)relu(−v)] = E[relu relu] − c/2.
    t = (pos * pos + neg * neg) * relu_t - 2 * pos * neg * (relu_t - c / 2)
    td = (pos * pos + neg * neg) * relu_td + 2 * pos * neg * theta / (2 * np.pi)  # P(u>0, v<0) = θ/(2π)
    return t, td


def erf_dual(a, b, c):
    p = (1 + 2 * a) * (1 + 2 * b)
    return 2 / np.pi * np.arcsin(2 * c / np.sqrt(p)), 4 / np.pi / np.sqrt(p - 4 * c * c)


def quadrature_dual(a, b, c, fn, dfn, order, same):
    """2-D Gauss–Hermite over N(0, [[a, c], [c, b]]) with u = √a z1, v = √b(ρ z1 + √(1−ρ²) z2)."""
    z, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / w.sum()
    # order the roles by variance (the value is the same either way, up to quadrature error)
    swap = a < b
    A, B = np.where(swap, b, a), np.where(swap, a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where((A > 0) & (B > 0), c / np.sqrt(np.where(A * B > 0, A * B, 1.0)), 0.0)
    if same:
        np.fill_diagonal(rho, 1.0)
    rho = np.clip(rho, -1, 1)
    sa, sb = np.sqrt(A), np.sqrt(B)
    t = np.zeros_like(c)
    td = np.zeros_like(c)
    for k in range(order):
        u = sa * z[k]
        inner = np.zeros_like(c)
        inner_d = np.zeros_like(c)
        for l in range(order):
            v = sb * rho * z[k] + sb * np.sqrt(1 - rho * rho) * z[l]
            inner += w[l] * fn(v)
            inner_d += w[l] * dfn(v)
        t += w[k] * fn(u) * inner
        td += w[k] * dfn(u) * inner_d
    return t, td


def c_sigma(name, neg=0.0, pos=1.0):
    """1 / E[σ(z)²] by 1-D Gauss–Hermite of order 300 (ReLU family in closed form)."""
    if name == "abrelu":
        return 2.0 / (neg * neg + pos * pos)
    z, w = np.polynomial.hermite_e.hermegauss(300)
    return 1.0 / float((w / w.sum()) @ SIGMA[name][0](z) ** 2)


def kernels(X1, X2, depth, act="relu", W_std=None, b_std=0.0, fix=0, neg=0.0, pos=1.0, order=24,
            fn=None, dfn=None, input_scale=None):
    """(NNGP, NTK) Grams. act: 'abrelu' (with neg/pos), 'erf', or a quadrature activation name
    ('gelu', 'tanh', ... or 'custom' with fn/dfn). X2 None means the symmetric Gram of X1."""
    same = X2 is None
    X1 = np.asarray(X1, dtype=np.float64)
    X2 = X1 if same else np.asarray(X2, dtype=np.float64)
    d = X1.shape[1]
    bias = b_std**2
    if W_std is None:
        cs = c_sigma(act, neg, pos) if act != "custom" else None
        w0 = 1.0 if input_scale is None else input_scale
        w = cs
    else:
        w0 = W_std**2 * (1.0 / d if input_scale is None else input_scale)
        w = W_std**2
    S = w0 * (X1 @ X2.T) + bias
    a = w0 * np.sum(X1 * X1, axis=1) + bias
    b = w0 * np.sum(X2 * X2, axis=1) + bias
    if same:
        np.fill_diagonal(S, a)
    H = S.copy()
    for h in range(1, depth + 1):
        A, B = np.broadcast_to(a[:, None], S.shape), np.broadcast_to(b[None, :], S.shape)
        if act == "abrelu":
            t, td = abrelu_dual(A, B, S, neg, pos, same)
            ta = (pos * pos + neg * neg) * a / 2  # E[σ(u)²]: ρ = 1 exactly
            tb = (pos * pos + neg * neg) * b / 2
        elif act == "erf":
            t, td = erf_dual(A, B, S)
            ta, _ = erf_dual(a, a, a)
            tb, _ = erf_dual(b, b, b)
        else:
            f, df = (fn, dfn) if act == "custom" else SIGMA[act]
            t, td = quadrature_dual(A, B, S, f, df, order, same)
            z, wq = np.polynomial.hermite_e.hermegauss(order)
            wq = wq / wq.sum()
            ta = (f(np.sqrt(a)[:, None] * z[None, :]) ** 2) @ wq
            tb = (f(np.sqrt(b)[:, None] * z[None, :]) ** 2) @ wq
        S_new = w * t + bias
        if h > fix:
            H = w * td * H + S_new
        elif h == fix:
            H = S_new
        S = S_new
        a, b = w * ta + bias, w * tb + bias
    return S, H
