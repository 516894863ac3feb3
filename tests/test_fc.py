"""FullyConnected NNGP/NTK against the independent numpy reference (MATH §1–§3)."""
import numpy as np
import pytest

import fastntk
from fastntk import activations as A

import fc_reference as ref

RNG = np.random.default_rng(20261123)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


CLOSED = [
    ("relu", {}, dict(act="abrelu")),
    ("leaky", {"activation": A.LeakyReLU(0.1)}, dict(act="abrelu", neg=0.1, pos=1.0)),
    ("abrelu", {"activation": A.ABReLU(-0.4, 1.3)}, dict(act="abrelu", neg=-0.4, pos=1.3)),
    ("erf", {"activation": "erf"}, dict(act="erf")),
]
QUAD = [
    ("tanh", {"activation": A.Tanh(order=12)}, dict(act="tanh", order=12)),
    ("sin", {"activation": A.Sin(order=12)}, dict(act="sin", order=12)),
    ("sigmoid", {"activation": A.Sigmoid(order=10)}, dict(act="sigmoid", order=10)),
    ("softplus", {"activation": A.Softplus(order=10)}, dict(act="softplus", order=10)),
]
CONVENTIONS = [({}, {}), ({"W_std": 1.4, "b_std": 0.3}, {"W_std": 1.4, "b_std": 0.3})]


@pytest.mark.parametrize("name,kw,refkw", CLOSED, ids=[c[0] for c in CLOSED])
@pytest.mark.parametrize("conv,refconv", CONVENTIONS, ids=["seeds", "nt"])
@pytest.mark.parametrize("depth", [0, 1, 3, 6])
def test_closed_forms_match_reference_f64(name, kw, refkw, conv, refconv, depth):
    n1, n2, d = RNG.integers(5, 40), RNG.integers(5, 40), RNG.integers(1, 20)
    X, Y = RNG.standard_normal((n1, d)), RNG.standard_normal((n2, d))
    k = fastntk.FullyConnected(depth, **kw, **conv)
    for X2 in (None, Y):
        nngp, ntk = k.kernels(X, X2)
        r_nngp, r_ntk = ref.kernels(X, X2, depth, **refkw, **refconv)
        assert rel_err(nngp, r_nngp) <= 1e-12
        assert rel_err(ntk, r_ntk) <= 1e-12


@pytest.mark.parametrize("name,kw,refkw", QUAD, ids=[c[0] for c in QUAD])
@pytest.mark.parametrize("depth", [1, 3])
def test_quadrature_activations_match_reference(name, kw, refkw, depth):
    X, Y = RNG.standard_normal((12, 4)), RNG.standard_normal((9, 4))
    k = fastntk.FullyConnected(depth, W_std=1.2, b_std=0.2, **kw)
    for X2 in (None, Y):
        nngp, ntk = k.kernels(X, X2)
        r_nngp, r_ntk = ref.kernels(X, X2, depth, W_std=1.2, b_std=0.2, **refkw)
        assert rel_err(nngp, r_nngp) <= 1e-12
        assert rel_err(ntk, r_ntk) <= 1e-12


def test_custom_callable_matches_reference():
    fn, dfn = np.tanh, lambda x: 1 - np.tanh(x) ** 2
    X = RNG.standard_normal((10, 3))
    k = fastntk.FullyConnected(2, A.Custom(fn, dfn, order=12), W_std=1.3, b_std=0.1)
    nngp, ntk = k.kernels(X)
    r_nngp, r_ntk = ref.kernels(X, None, 2, act="custom", fn=fn, dfn=dfn, order=12, W_std=1.3, b_std=0.1)
    # the table interpolation costs ~1e-13 relative
    assert rel_err(nngp, r_nngp) <= 1e-10
    assert rel_err(ntk, r_ntk) <= 1e-10


def test_gelu_dual_closed_form_against_quadrature():
    """The GELU closed form (dual.hpp) against 2-D Gauss–Hermite of order 150, via depth-1 kernels."""
    X = 0.6 * RNG.standard_normal((8, 3))
    nngp, ntk = fastntk.FullyConnected(1, "gelu", W_std=1.0).kernels(X)
    r_nngp, r_ntk = ref.kernels(X, None, 1, act="gelu", order=150, W_std=1.0)
    assert rel_err(nngp, r_nngp) <= 1e-10
    assert rel_err(ntk, r_ntk) <= 1e-10
    # c_σ = 1/E[GELU(z)²]
    assert A.Gelu().c_sigma == pytest.approx(ref.c_sigma("gelu"), rel=1e-12)


def test_gelu_deeper_converges_to_closed_form():
    X = RNG.standard_normal((10, 4))
    nngp, ntk = fastntk.FullyConnected(2, "gelu").kernels(X)
    errs = [rel_err(ntk, ref.kernels(X, None, 2, act="gelu", order=o)[1]) for o in (40, 80, 160)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-3


def test_float32_close_to_float64():
    X = RNG.standard_normal((50, 16))
    for act in ("relu", "erf", "gelu"):
        k = fastntk.FullyConnected(3, act, b_std=0.1)
        n64, t64 = k.kernels(X)
        n32, t32 = k.kernels(X.astype(np.float32))
        assert n32.dtype == np.float32 and t32.dtype == np.float32
        assert rel_err(n32, n64) <= 1e-5 and rel_err(t32, t64) <= 1e-5


@pytest.mark.parametrize("order_pair", [(6, 10), (10, 16), (16, 24)])
def test_quadrature_converges_to_closed_form(order_pair):
    """A Custom erf by quadrature approaches the closed-form Erf as the order grows."""
    from scipy.special import erf

    X = RNG.standard_normal((8, 3)) * 0.5
    exact = fastntk.FullyConnected(2, "erf", W_std=1.0).ntk(X)
    d_erf = lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x)
    lo, hi = (rel_err(fastntk.FullyConnected(2, A.Custom(erf, d_erf, order=o), W_std=1.0).ntk(X), exact)
              for o in order_pair)
    assert hi < lo
    if order_pair[1] >= 24:
        assert hi < 1e-9


def test_diag_and_kernels_consistency():
    X = RNG.standard_normal((40, 7))
    k = fastntk.FullyConnected(3, "relu", b_std=0.2)
    nngp, ntk = k.kernels(X)
    assert np.array_equal(k.nngp(X), nngp) and np.array_equal(k.ntk(X), ntk)
    dn, dt = k.diag(X, get="both")
    assert np.array_equal(np.diag(ntk), dt) and np.array_equal(np.diag(nngp), dn)
    assert np.array_equal(k.diag(X), dt)


def test_relu_diagonal_closed_form():
    """ReLU with c_σ = 2 preserves the diagonal; then Θ(x, x) = (L+1)·‖x‖² (MATH §2.2)."""
    X = RNG.standard_normal((20, 5))
    nngp, ntk = fastntk.FullyConnected(4).kernels(X)
    sq = np.sum(X * X, axis=1)
    np.testing.assert_allclose(np.diag(nngp), sq, rtol=1e-14)
    np.testing.assert_allclose(np.diag(ntk), 5 * sq, rtol=1e-14)


def test_fix_layers():
    X = RNG.standard_normal((15, 4))
    for depth in range(4):
        for fix in range(depth + 1):
            nngp, ntk = fastntk.FullyConnected(depth, fix=fix).kernels(X)
            r_nngp, r_ntk = ref.kernels(X, None, depth, act="abrelu", fix=fix)
            assert rel_err(ntk, r_ntk) <= 1e-12
        assert np.array_equal(fastntk.FullyConnected(depth, fix=depth).ntk(X), nngp)


def test_psd():
    X = RNG.standard_normal((120, 6))
    for act in ("relu", "erf", "gelu"):
        nngp, ntk = fastntk.FullyConnected(3, act).kernels(X)
        for K in (nngp, ntk):
            ev = np.linalg.eigvalsh(K)
            assert ev[0] >= -1e-10 * ev[-1]


def test_zero_norm_rows_give_the_limit():
    X = RNG.standard_normal((6, 4))
    X[2] = 0.0
    for kw in ({}, {"activation": "erf"}, {"activation": "gelu"}, {"W_std": 1.0, "b_std": 0.5}):
        nngp, ntk = fastntk.FullyConnected(3, **kw).kernels(X)
        assert np.isfinite(nngp).all() and np.isfinite(ntk).all()
        # the limit x -> 0 along a direction: compare with a tiny-norm row
        Xe = X.copy()
        Xe[2] = 1e-7 * RNG.standard_normal(4)
        e_nngp, e_ntk = fastntk.FullyConnected(3, **kw).kernels(Xe)
        assert np.max(np.abs(ntk - e_ntk)) <= 1e-5 * np.max(np.abs(ntk))
    # ReLU without bias: a zero input has a zero kernel row
    nngp, ntk = fastntk.FullyConnected(2).kernels(X)
    assert not ntk[2].any() and not nngp[:, 2].any()


def test_one_sample():
    x = RNG.standard_normal((1, 3))
    K = fastntk.FullyConnected(2).ntk(x)
    assert K.shape == (1, 1) and K[0, 0] == pytest.approx(3 * (x @ x.T).item())
