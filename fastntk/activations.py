"""Activations and their dual kernels (MATH §2.2).

Closed forms (ReLU, LeakyReLU, ABReLU, Erf, Gelu) run vectorised in the C++ core. Any other
activation (Tanh, Sin, Sigmoid, Softplus, or a user's ``Custom(fn, dfn)``) uses 2-D Gauss–Hermite
quadrature of order ``order`` over N(0, Λ): cost order² σ-evaluations per kernel entry and layer,
error falling geometrically with the order for smooth σ (tests/test_activations.py shows it).
"""
import math

import numpy as np

from . import _core

_HIGH_ORDER = 200  # 1-D Gauss–Hermite order used for c_σ = 1 / E[σ(z)²]

_ABRELU, _ERF, _GELU, _QUAD = 0, 1, 2, 3
_FN_CODES = {"tanh": 0, "sin": 1, "sigmoid": 2, "softplus": 3, "table": 4}


def hermite_rule(order):
    """Probabilists' Gauss–Hermite nodes z_k and weights w_k with Σ w_k f(z_k) ≈ E[f(z)], z ~ N(0, 1)."""
    z, w = np.polynomial.hermite_e.hermegauss(order)
    return z, w / w.sum()


class Activation:
    """Base class: a pointwise nonlinearity σ with derivative σ' and its dual kernel."""

    name = "activation"

    def __call__(self, x):
        return self.fn(np.asarray(x, dtype=float))

    def fn(self, x):
        raise NotImplementedError

    def dfn(self, x):
        raise NotImplementedError

    @property
    def c_sigma(self):
        """c_σ = 1 / E[σ(z)²], z ~ N(0, 1) (MATH §1)."""
        z, w = hermite_rule(_HIGH_ORDER)
        return 1.0 / float(w @ self.fn(z) ** 2)

    def _spec(self, max_variance=None):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self):
        return hash((type(self).__name__,) + tuple(sorted((k, repr(v)) for k, v in self.__dict__.items())))


class ABReLU(Activation):
    """σ(z) = a·z for z < 0 and b·z for z ≥ 0 (ReLU is a=0, b=1; leaky ReLU is a=slope, b=1)."""

    name = "abrelu"

    def __init__(self, a=0.0, b=1.0):
        self.a, self.b = float(a), float(b)
        if not (math.isfinite(self.a) and math.isfinite(self.b)) or (self.a == 0.0 and self.b == 0.0):
            raise ValueError(f"ABReLU slopes must be finite and not both zero, got a={a}, b={b}")

    def fn(self, x):
        return np.where(x < 0, self.a * x, self.b * x)

    def dfn(self, x):
        return np.where(x < 0, self.a, self.b)

    @property
    def c_sigma(self):
        return 2.0 / (self.a**2 + self.b**2)

    def _spec(self, max_variance=None):
        s = _core.ActivationSpec()
        s.kind, s.neg_slope, s.pos_slope = _ABRELU, self.a, self.b
        return s

    def __repr__(self):
        return f"ABReLU(a={self.a}, b={self.b})"


class ReLU(ABReLU):
    name = "relu"

    def __init__(self):
        super().__init__(0.0, 1.0)

    def __repr__(self):
        return "ReLU()"


class LeakyReLU(ABReLU):
    name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        super().__init__(negative_slope, 1.0)

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.a})"


class Erf(Activation):
    """σ(z) = erf(z)."""

    name = "erf"

    def fn(self, x):
        from scipy.special import erf

        return erf(x)

    def dfn(self, x):
        return 2.0 / math.sqrt(math.pi) * np.exp(-np.asarray(x) ** 2)

    @property
    def c_sigma(self):
        return 1.0 / (2.0 / math.pi * math.asin(2.0 / 3.0))

    def _spec(self, max_variance=None):
        s = _core.ActivationSpec()
        s.kind = _ERF
        return s


class Gelu(Activation):
    """σ(z) = z·Φ(z) (exact GELU, not the tanh approximation)."""

    name = "gelu"

    def fn(self, x):
        from scipy.special import ndtr

        return x * ndtr(x)

    def dfn(self, x):
        from scipy.special import ndtr

        return ndtr(x) + x * np.exp(-0.5 * np.asarray(x) ** 2) / math.sqrt(2 * math.pi)

    @property
    def c_sigma(self):  # 1 / T(1, 1, 1) from the closed form in dual.hpp
        return 1.0 / (0.25 + 1.0 / 12.0 + 1.0 / (2.0 * math.pi * math.sqrt(3.0)))

    def _spec(self, max_variance=None):
        s = _core.ActivationSpec()
        s.kind = _GELU
        return s


class Quadrature(Activation):
    """An activation whose dual is computed by 2-D Gauss–Hermite quadrature of the given order."""

    _fn_code = None

    def __init__(self, order=24):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 2:
            raise ValueError(f"quadrature order must be an integer >= 2, got {order!r}")
        self.order = int(order)

    def _spec(self, max_variance=None):
        s = _core.ActivationSpec()
        s.kind, s.fn = _QUAD, _FN_CODES[self._fn_code]
        z, w = hermite_rule(self.order)
        s.nodes, s.weights = z.tolist(), w.tolist()
        return s

    def __repr__(self):
        return f"{type(self).__name__}(order={self.order})"


class Tanh(Quadrature):
    name, _fn_code = "tanh", "tanh"

    def fn(self, x):
        return np.tanh(x)

    def dfn(self, x):
        return 1.0 - np.tanh(x) ** 2


class Sin(Quadrature):
    name, _fn_code = "sin", "sin"

    def fn(self, x):
        return np.sin(x)

    def dfn(self, x):
        return np.cos(x)


class Sigmoid(Quadrature):
    name, _fn_code = "sigmoid", "sigmoid"

    def fn(self, x):
        from scipy.special import expit

        return expit(x)

    def dfn(self, x):
        from scipy.special import expit

        s = expit(x)
        return s * (1.0 - s)


class Softplus(Quadrature):
    name, _fn_code = "softplus", "softplus"

    def fn(self, x):
        return np.logaddexp(0.0, x)

    def dfn(self, x):
        from scipy.special import expit

        return expit(x)


class Custom(Quadrature):
    """A user-supplied σ and σ' (vectorised numpy callables), by quadrature.

    The core evaluates them through a table of ``grid`` points spanning every value the quadrature
    can reach for the given inputs, with cubic interpolation (error ≤ h⁴·max|σ⁗|/24, h the spacing).
    """

    name, _fn_code = "custom", "table"

    def __init__(self, fn, dfn, order=24, grid=1 << 15, name="custom"):
        super().__init__(order)
        if not callable(fn) or not callable(dfn):
            raise TypeError("Custom activation needs callables fn and dfn (the derivative)")
        self._fn, self._dfn, self.grid, self.name = fn, dfn, int(grid), name
        with np.errstate(all="ignore"):
            probe = np.asarray(fn(np.linspace(-1.0, 1.0, 5)), dtype=float)
        if probe.shape != (5,):
            raise ValueError("Custom fn must map an array to an array of the same shape (vectorised)")

    def fn(self, x):
        return np.asarray(self._fn(np.asarray(x, dtype=float)), dtype=float)

    def dfn(self, x):
        return np.asarray(self._dfn(np.asarray(x, dtype=float)), dtype=float)

    def _spec(self, max_variance=None):
        if max_variance is None:
            raise ValueError("Custom activation needs the largest pre-activation variance to build its table")
        s = super()._spec()
        z, _ = hermite_rule(self.order)
        # |v| ≤ √b·√(z_k² + z_l²) ≤ √2·max|z|·√b for the quadrature points (dual.hpp), plus a margin.
        r = 1.05 * math.sqrt(2.0) * float(np.abs(z).max()) * math.sqrt(max(max_variance, 1e-300)) + 1e-6
        x = np.linspace(-r, r, self.grid)
        with np.errstate(all="ignore"):
            f, df = self.fn(x), self.dfn(x)
        if not (np.isfinite(f).all() and np.isfinite(df).all()):
            raise ValueError(f"Custom activation {self.name!r} returned non-finite values on [{-r:.3g}, {r:.3g}]")
        s.table_f, s.table_df = np.ascontiguousarray(f), np.ascontiguousarray(df)
        s.table_lo, s.table_step = float(x[0]), float(x[1] - x[0])
        return s

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return f"Custom({self.name!r}, order={self.order})"


_BY_NAME = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "abrelu": ABReLU,
    "erf": Erf,
    "gelu": Gelu,
    "tanh": Tanh,
    "sin": Sin,
    "sigmoid": Sigmoid,
    "softplus": Softplus,
}


def get(activation):
    """An Activation from an instance or a name ('relu', 'leaky_relu', 'abrelu', 'erf', 'gelu',
    'tanh', 'sin', 'sigmoid', 'softplus')."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in _BY_NAME:
        return _BY_NAME[activation.lower()]()
    raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(_BY_NAME)} or pass an "
                     f"fastntk.activations.Activation (e.g. Custom(fn, dfn))")
