"""Empirical NTK / pNTK of MLPs (MATH §5) against explicit Jacobians built here by the complex step
(exact to rounding: Im f(θ + i·h·e_k)/h with h = 1e-30, no subtraction), and against torch.func."""
import math

import numpy as np
import pytest

import fastntk
from fastntk import empirical as E

H = 1e-30


# -- an independent reference: the network of MATH §5 written out, differentiated by complex step --------------
def _sigma(name, z):
    if name == "relu":
        return np.where(z.real > 0, z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sin":
        return np.sin(z)
    raise AssertionError(name)


def _c_sigma(name):
    # 1 / E[σ(z)²], z ~ N(0, 1): relu 2; sin 2/(1 − e^{−2}); tanh by quadrature
    if name == "relu":
        return 2.0
    if name == "sin":
        return 2.0 / (1.0 - math.exp(-2.0))
    z, w = np.polynomial.hermite_e.hermegauss(200)
    return 1.0 / float((w / w.sum()) @ np.tanh(z) ** 2)


def _coefficients(widths, convention, W_std, b_std, act):
    """(α_h, β_h, γ_h) from the module docstring / MATH §1, computed independently of the package."""
    n = len(widths) - 1
    if convention == "seeds":
        c = _c_sigma(act)
        return [1.0] * n, [b_std] * n, [math.sqrt(c / widths[h + 1]) for h in range(n - 1)] + [1.0]
    if convention == "nt":
        return [W_std / math.sqrt(widths[h]) for h in range(n)], [b_std] * n, [1.0] * n
    return [1.0] * n, [1.0] * n, [1.0] * n


def _forward(params, x, coef, act):
    alpha, beta, gamma = coef
    Ws, bs = params
    g = x.astype(complex)
    for h, W in enumerate(Ws):
        z = alpha[h] * (W @ g) + (beta[h] * bs[h] if bs is not None else 0.0)
        g = gamma[h] * _sigma(act, z) if h < len(Ws) - 1 else z
    return g


def _jacobian(params, x, coef, act):
    """(O, P) Jacobian of f(x) by complex step over every weight and bias entry."""
    Ws, bs = params
    flat = list(Ws) + (list(bs) if bs is not None else [])
    cols = []
    for k, arr in enumerate(flat):
        for idx in np.ndindex(arr.shape):
            pert = [a.astype(complex) for a in flat]
            pert[k][idx] += 1j * H
            P = (pert[:len(Ws)], pert[len(Ws):] if bs is not None else None)
            cols.append(_forward(P, x, coef, act).imag / H)
    return np.stack(cols, axis=1)


def _reference_entk(mlp, X1, X2, convention, W_std, b_std, act):
    params = ([W for W in mlp.weights], None if mlp.biases is None else [b for b in mlp.biases])
    coef = _coefficients(mlp.widths, convention, W_std, b_std, act)
    J1 = np.stack([_jacobian(params, x, coef, act) for x in X1])
    J2 = np.stack([_jacobian(params, x, coef, act) for x in X2])
    return np.einsum("iap,jbp->ijab", J1, J2), J1


CASES = [
    ("seeds", None, 0.0, "relu"),
    ("seeds", None, 0.7, "tanh"),
    ("nt", 1.4, 0.3, "sin"),
    ("nt", 1.0, 0.0, "relu"),
    ("standard", 1.3, 0.5, "tanh"),
]


def _make(convention, W_std, b_std, act, widths, seed):
    par = "standard" if convention == "standard" else "ntk"
    return E.init_mlp(widths, act, parameterization=par, W_std=W_std, b_std=b_std, seed=seed)


@pytest.mark.parametrize("convention,W_std,b_std,act", CASES)
def test_entk_matches_complex_step_jacobians(convention, W_std, b_std, act):
    rng = np.random.default_rng(3)
    mlp = _make(convention, W_std, b_std, act, [3, 5, 4, 2], seed=11)
    X1, X2 = rng.standard_normal((4, 3)), rng.standard_normal((3, 3))
    ref, J1 = _reference_entk(mlp, X1, X2, convention, W_std, b_std, act)
    assert J1.shape[2] == mlp.n_params
    scale = np.abs(ref).max()
    full = E.entk(mlp, X1, X2, "full")
    assert full.shape == (4, 3, 2, 2)
    np.testing.assert_allclose(full, ref, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(E.entk(mlp, X1, X2, "trace"), np.einsum("ijaa->ij", ref), rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(E.entk(mlp, X1, X2, "diagonal"), np.einsum("ijaa->ija", ref), rtol=0,
                               atol=1e-13 * scale)
    # the network outputs agree with the reference forward pass too
    params = (mlp.weights, mlp.biases)
    coef = _coefficients(mlp.widths, convention, W_std, b_std, act)
    np.testing.assert_allclose(mlp(X1), np.stack([_forward(params, x, coef, act).real for x in X1]), rtol=1e-13)


@pytest.mark.parametrize("convention,W_std,b_std,act", CASES[:3])
def test_pntk_is_entk_of_the_summed_readout(convention, W_std, b_std, act):
    rng = np.random.default_rng(4)
    mlp = _make(convention, W_std, b_std, act, [3, 6, 5, 3], seed=2)
    X1, X2 = rng.standard_normal((5, 3)), rng.standard_normal((2, 3))
    ref, J1 = _reference_entk(mlp, X1, X2, convention, W_std, b_std, act)
    O = 3
    p = E.pntk(mlp, X1, X2)
    assert p.shape == (5, 2)
    # MATH §5: pNTK = (1/O)·1ᵀ eNTK 1, i.e. the mean of each O×O block times O ...
    np.testing.assert_allclose(p, ref.sum(axis=(2, 3)) / O, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p, O * ref.mean(axis=(2, 3)), rtol=1e-12, atol=1e-14)
    # ... = the NTK of s(x) = Σ_o f_o(x)/√O, whose Jacobian is 1ᵀJ/√O
    s1 = J1.sum(axis=1) / math.sqrt(O)
    np.testing.assert_allclose(np.diag(E.pntk(mlp, X1)), np.einsum("ip,ip->i", s1, s1), rtol=1e-12)


def test_linear_model_limit():
    """No hidden layer: f = α W x + β b, eNTK = (α²xᵀx' + β²)·I_O exactly."""
    rng = np.random.default_rng(0)
    mlp = E.init_mlp([4, 3], "relu", W_std=2.0, b_std=0.5, seed=1)
    X = rng.standard_normal((5, 4))
    K = E.entk(mlp, X)
    expected = (4.0 / 4 * X @ X.T + 0.25)[:, :, None, None] * np.eye(3)
    np.testing.assert_allclose(K, expected, rtol=1e-14, atol=1e-15)


def test_symmetric_bitwise_and_deterministic_over_threads_and_tiles():
    rng = np.random.default_rng(5)
    mlp = E.init_mlp([6, 37, 29, 4], "tanh", W_std=1.2, b_std=0.1, seed=9)
    X = rng.standard_normal((23, 6))
    for mode in ("full", "trace", "diagonal"):
        K = E.entk(mlp, X, mode=mode, n_threads=1)
        T = K.transpose(1, 0, 3, 2) if mode == "full" else K.swapaxes(0, 1)
        assert np.array_equal(K, T), mode
        for nt in (1, 2, 3):
            for tile in (1, 4, 7, 64):
                assert np.array_equal(E.entk(mlp, X, mode=mode, n_threads=nt, tile_size=tile), K), (mode, nt, tile)
        # the rectangular path gives the same numbers as the mirrored symmetric one
        assert np.array_equal(E.entk(mlp, X, X.copy(), mode=mode, tile_size=5), K), mode
    P = E.pntk(mlp, X)
    assert np.array_equal(P, P.T)
    assert np.array_equal(E.pntk(mlp, X, n_threads=2, tile_size=3), P)


def test_float32_close_to_float64():
    rng = np.random.default_rng(6)
    mlp = E.init_mlp([5, 64, 64, 3], "relu", seed=1)
    X = rng.standard_normal((9, 5))
    K64 = E.entk(mlp, X)
    K32 = E.entk(mlp, X.astype(np.float32))
    assert K32.dtype == np.float32 and K64.dtype == np.float64
    np.testing.assert_allclose(K32, K64, rtol=0, atol=2e-5 * np.abs(K64).max())
    P32 = E.pntk(mlp, X.astype(np.float32))
    np.testing.assert_allclose(P32, E.pntk(mlp, X), rtol=0, atol=2e-5 * np.abs(K64).max())


def test_all_known_activations_run_and_agree_with_reference_at_one_pair():
    """Every activation fastntk knows works in an MLP; check the diagonal eNTK against complex step
    where σ extends to ℂ (erf through scipy), otherwise against the hand-written last-layer formula."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3, 2))
    for name in ("relu", "leaky_relu", "erf", "gelu", "tanh", "sin", "sigmoid", "softplus"):
        mlp = E.init_mlp([2, 8, 3], name, seed=4)
        K = E.entk(mlp, X, mode="trace")
        assert np.isfinite(K).all() and np.all(np.diag(K) > 0), name
        # hand-written eNTK of a 1-hidden-layer net (seeds' convention, α = 1, γ = √(c/8)):
        act = fastntk.activations.get(name)
        W0, W1 = mlp.weights
        gam = math.sqrt(act.c_sigma / 8)
        Z = X @ W0.T
        G = gam * act.fn(Z)
        D = gam * act.dfn(Z)  # (N, 8)
        out_term = 3 * (G @ G.T)  # last layer: ⟨g, g'⟩ · tr(I_3)
        in_term = (X @ X.T) * ((D[:, None, :] * D[None, :, :]) * (W1.T @ W1).diagonal()[None, None, :]).sum(-1)
        # tr(B(x)B(x')ᵀ) with B = W1·diag(D) is Σ_k D_k D'_k ‖W1[:, k]‖²
        np.testing.assert_allclose(K, out_term + in_term, rtol=1e-12, err_msg=name)


def test_bad_inputs_raise():
    mlp = E.init_mlp([3, 4, 2], seed=0)
    X = np.ones((2, 3))
    with pytest.raises(ValueError, match="NaN"):
        E.entk(mlp, np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(ValueError, match="features"):
        E.entk(mlp, np.ones((2, 4)))
    with pytest.raises(ValueError, match="empty"):
        E.entk(mlp, np.ones((0, 3)))
    with pytest.raises(ValueError, match="mode"):
        E.entk(mlp, X, mode="diag")
    with pytest.raises(ValueError, match="n_threads"):
        E.entk(mlp, X, n_threads=0)
    with pytest.raises(ValueError, match="tile_size"):
        E.entk(mlp, X, tile_size=0)
    with pytest.raises(TypeError, match="MLP"):
        E.entk("not a net", X)
    with pytest.raises(TypeError, match="real-valued"):
        E.pntk(mlp, np.array([["a", "b", "c"]]))
    with pytest.raises(ValueError, match="inputs"):
        E.MLP([np.ones((4, 3)), np.ones((2, 5))])
    with pytest.raises(ValueError, match="NaN"):
        E.MLP([np.full((4, 3), np.inf)])
    with pytest.raises(ValueError, match="biases"):
        E.MLP([np.ones((4, 3))], biases=[np.ones(3)])
    with pytest.raises(ValueError, match="parameterization"):
        E.MLP([np.ones((4, 3))], parameterization="mup")
    with pytest.raises(ValueError, match="W_std"):
        E.init_mlp([3, 2], W_std=-1.0)
    with pytest.raises(ValueError, match="width"):
        E.init_mlp([3, 0, 2])
    with pytest.raises(ValueError, match="n_samples"):
        E.monte_carlo_ntk(mlp, X, n_samples=1)


def test_init_is_seeded_and_reinitialize_keeps_architecture():
    a = E.init_mlp([3, 7, 2], "tanh", W_std=1.5, b_std=0.2, seed=42)
    b = E.init_mlp([3, 7, 2], "tanh", W_std=1.5, b_std=0.2, seed=42)
    assert all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases))
    c = a.reinitialize(1)
    assert c.widths == a.widths and c.coefficients() == a.coefficients()
    assert not np.array_equal(c.weights[0], a.weights[0])
    s = E.init_mlp([100, 400, 2], "relu", parameterization="standard", seed=0)
    assert abs(s.weights[0].var() * 100 - 2.0) < 0.05  # He: W_std² = c_σ = 2 over fan_in


def test_memory_guard_names_the_problem(monkeypatch):
    import fastntk._validation as V

    mlp = E.init_mlp([3, 4, 2], seed=0)
    monkeypatch.setattr(E, "available_memory", lambda: 100)
    with pytest.raises(MemoryError, match="cotangents"):
        E.entk(mlp, np.ones((50, 3)))
    monkeypatch.setattr(E, "available_memory", lambda: 10**9)
    monkeypatch.setattr(V, "available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match="GiB"):
        E.entk(mlp, np.ones((50, 3)))
