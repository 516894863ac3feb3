"""PINN NTK (MATH §6): the core's stream propagation against explicit Jacobians computed here in
numpy (complex-step derivatives of an independent forward pass), the infinite-width kernel against
MATH §6's published values, and Monte-Carlo convergence of the finite-width kernel to it."""
import numpy as np
import pytest

from fastntk.pinn import PINN, U, UXX, Poisson1D, infinite_width_ntk, trace_weights, train

# ---------------------------------------------------------------- independent numpy reference


def _act(name):
    if name == "tanh":
        def f(z):
            t = np.tanh(z)
            return t, 1 - t * t, -2 * t * (1 - t * t)
        return f
    return lambda z: (np.sin(z), np.cos(z), -np.sin(z))


def ref_streams(params, alpha, beta, act, shift, scale, x):
    """(u, u_x, u_xx) by forward-mode differentiation in x, written from MATH §6; works with
    complex parameters (complex step)."""
    f = _act(act)
    g = ((x - shift) / scale)[:, None]
    gx = np.full_like(g, 1.0 / scale)
    gxx = np.zeros_like(g)
    for l, (W, b) in enumerate(params):
        z = alpha[l] * g @ W.T + beta[l] * b
        zx = alpha[l] * gx @ W.T
        zxx = alpha[l] * gxx @ W.T
        if l == len(params) - 1:
            return z[:, 0], zx[:, 0], zxx[:, 0]
        s0, s1, s2 = f(z)
        g, gx, gxx = s0, s1 * zx, s2 * zx * zx + s1 * zxx


def ref_functional(params, alpha, beta, act, shift, scale, x, op):
    u, ux, uxx = ref_streams(params, alpha, beta, act, shift, scale, x)
    return op[:, 0] * u + op[:, 1] * ux + op[:, 2] * uxx


def ref_jacobian(net, x, op, h=1e-30):
    """J[i, k] = ∂v_i/∂θ_k by complex steps (exact to rounding), θ ordered W_0, b_0, W_1, ..."""
    params = [(W.astype(complex), b.astype(complex)) for W, b in zip(net.W, net.b)]
    cols = []
    for l in range(len(params)):
        for which in (0, 1):
            arr = params[l][which]
            for idx in np.ndindex(arr.shape):
                arr[idx] += 1j * h
                v = ref_functional(params, net.alpha, net.beta, net.activation, net.input_shift, net.input_scale, x, op)
                arr[idx] -= 1j * h
                cols.append(v.imag / h)
    return np.stack(cols, axis=1)


def _ops(rng, n):
    return rng.standard_normal((n, 3))


NETS = [
    dict(widths=(7,), activation="tanh", parameterization="ntk"),
    dict(widths=(5, 4), activation="tanh", parameterization="ntk", input_shift=0.4, input_scale=0.3),
    dict(widths=(6, 3), activation="sin", parameterization="standard", input_shift=-0.2, input_scale=2.0),
    dict(widths=(4, 5, 3), activation="tanh", parameterization="standard"),
    dict(widths=(3, 1, 2), activation="sin", parameterization="ntk"),  # a hidden layer of width 1
    dict(widths=(24, 25), activation="tanh", parameterization="ntk"),  # the 24×25 layer takes the stream GEMMs
]

# ---------------------------------------------------------------- finite width, exact checks


@pytest.mark.parametrize("cfg", NETS)
def test_streams_match_reference_and_finite_differences(cfg):
    net = PINN(seed=3, **cfg)
    x = np.linspace(-0.7, 1.3, 9)
    got = net.forward(x)
    ref = np.stack(ref_streams(list(zip(net.W, net.b)), net.alpha, net.beta, net.activation, net.input_shift,
                               net.input_scale, x), axis=1)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    # the derivative streams really are d/dx and d²/dx² of u (central differences)
    h = 1e-4
    u = lambda t: net.forward(t)[:, 0]
    d1 = (u(x + h) - u(x - h)) / (2 * h)
    d2 = (u(x + h) - 2 * u(x) + u(x - h)) / h**2
    np.testing.assert_allclose(got[:, 1], d1, rtol=0, atol=1e-5 * np.abs(d1).max())
    np.testing.assert_allclose(got[:, 2], d2, rtol=0, atol=1e-4 * np.abs(d2).max())


@pytest.mark.parametrize("cfg", NETS)
def test_ntk_matches_explicit_jacobians(cfg):
    rng = np.random.default_rng(1)
    net = PINN(seed=5, **cfg)
    x1, x2 = rng.uniform(-0.5, 1.5, 11), rng.uniform(0, 1, 6)
    o1, o2 = _ops(rng, 11), _ops(rng, 6)
    J1, J2 = ref_jacobian(net, x1, o1), ref_jacobian(net, x2, o2)
    assert J1.shape[1] == net.n_parameters
    scale = np.abs(J1 @ J1.T).max()
    np.testing.assert_allclose(net.ntk(x1, o1), J1 @ J1.T, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(net.ntk(x1, o1, x2, o2), J1 @ J2.T, rtol=0, atol=1e-12 * scale)


def test_ntk_blocks_are_the_pinn_kernel():
    rng = np.random.default_rng(2)
    net = PINN((9,), seed=0)
    x_b, x_r = np.array([0.0, 1.0]), rng.uniform(0, 1, 7)
    op_r = (0.5, -1.0, 2.0)  # c0 u + c1 u_x + c2 u_xx
    K, Kuu, Kur, Krr = net.ntk_blocks(x_b, x_r, operator=op_r)
    Ju = ref_jacobian(net, x_b, np.tile(U, (2, 1)))
    Jr = ref_jacobian(net, x_r, np.tile(op_r, (7, 1)))
    s = np.abs(K).max()
    np.testing.assert_allclose(Kuu, Ju @ Ju.T, atol=1e-12 * s, rtol=0)
    np.testing.assert_allclose(Kur, Ju @ Jr.T, atol=1e-12 * s, rtol=0)
    np.testing.assert_allclose(Krr, Jr @ Jr.T, atol=1e-12 * s, rtol=0)
    assert K.shape == (9, 9)


def test_loss_and_gradient_match_reference():
    rng = np.random.default_rng(4)
    net = PINN((6, 5), parameterization="standard", seed=2, input_scale=0.5)
    x, op = rng.uniform(0, 1, 13), _ops(rng, 13)
    y, w = rng.standard_normal(13), rng.uniform(0.1, 2, 13)
    loss, grads, v = net.loss_and_grad(x, op, y, w)
    ref_v = ref_functional(list(zip(net.W, net.b)), net.alpha, net.beta, "tanh", 0.0, 0.5, x, op)
    np.testing.assert_allclose(v, ref_v, rtol=1e-12, atol=1e-12)
    assert loss == pytest.approx(np.sum(w * (ref_v - y) ** 2), rel=1e-12)
    J = ref_jacobian(net, x, op)
    ref_grad = J.T @ (2 * w * (ref_v - y))
    got = np.concatenate([a.ravel() for gW, gb in grads for a in (gW, gb)])
    np.testing.assert_allclose(got, ref_grad, rtol=0, atol=1e-11 * np.abs(ref_grad).max())


def test_symmetric_and_deterministic_across_threads_and_tiles():
    rng = np.random.default_rng(0)
    net = PINN((40, 30), seed=1)
    x, op = rng.uniform(0, 1, 70), _ops(rng, 70)
    K = net.ntk(x, op, n_threads=1, tile_size=32)
    assert np.array_equal(K, K.T)
    for nt in (1, 2):
        for tile in (1, 7, 64, 100):
            assert np.array_equal(net.ntk(x, op, n_threads=nt, tile_size=tile), K)
    # a cross Gram between the same sets reproduces the upper triangle entry for entry
    cross = net.ntk(x, op, x, op, n_threads=2, tile_size=5)
    # a shared (c0, c1, c2) applies to x2 as well
    np.testing.assert_array_equal(net.ntk(x, UXX, x[:5]), net.ntk(x, UXX, x[:5], UXX))
    iu = np.triu_indices(70)
    assert np.array_equal(cross[iu], K[iu])
    out = np.zeros((70, 90))[:, :70]  # rows with a stride
    net.ntk(x, op, out=out)
    assert np.array_equal(out, K)


# ---------------------------------------------------------------- infinite width (MATH §6)

MATH_VALUES = [  # (x, op, x', op', Θ) for one hidden layer, tanh, all parameters N(0, 1), r = u_xx
    (0.0, U, 0.0, U, 1.858697),
    (0.0, U, 1.0, U, 1.633002),
    (0.5, UXX, 0.5, UXX, 4.077269),
    (0.0, UXX, 0.5, UXX, -1.032078),
    (0.0, U, 0.5, UXX, -0.229297),
]


@pytest.mark.parametrize("x1,o1,x2,o2,value", MATH_VALUES)
def test_infinite_width_reproduces_math_values(x1, o1, x2, o2, value):
    got = infinite_width_ntk([x1], o1, [x2], o2)[0, 0]
    assert got == pytest.approx(value, abs=1e-6)


def test_infinite_width_quadrature_converges_and_is_symmetric():
    x = np.array([0.0, 0.3, 1.0])
    op = np.array([U, UXX, (1.0, 2.0, -0.5)])
    a = infinite_width_ntk(x, op, order=96)
    b = infinite_width_ntk(x, op, order=200)
    c = infinite_width_ntk(x, op, order=300)
    np.testing.assert_allclose(a, c, atol=1e-6)
    np.testing.assert_allclose(b, c, atol=1e-11)
    assert np.abs(a - c).max() > 1e3 * np.abs(b - c).max()  # geometric convergence in the order
    np.testing.assert_allclose(b, b.T, atol=1e-14)
    assert np.linalg.eigvalsh(b).min() > 0


def test_finite_width_converges_to_infinite_width():
    """Monte Carlo: the eNTK at random init approaches Θ, with error ~ width^{-1/2}."""
    x = np.array([0.0, 0.5, 1.0, 0.25])
    op = np.array([U, UXX, U, (1.0, -1.0, 0.5)])
    theta = infinite_width_ntk(x, op)
    rms = {}
    for width in (1000, 16000):
        errs = [PINN((width,), seed=s).ntk(x, op) - theta for s in range(6)]
        rms[width] = np.sqrt(np.mean(np.square(errs)))
    ratio = rms[1000] / rms[16000]
    assert 2.0 < ratio < 8.0, rms  # √16 = 4 expected
    assert rms[16000] < 0.15 * np.abs(theta).mean()
    # the mean over seeds is unbiased up to the Monte-Carlo error
    mean = np.mean([PINN((16000,), seed=100 + s).ntk(x, op) for s in range(6)], axis=0)
    assert np.abs(mean - theta).max() < 4 * rms[16000] / np.sqrt(6) + 1e-3


# ---------------------------------------------------------------- the Poisson problem and training


def test_poisson_problem_points():
    p = Poisson1D(a=2, n_boundary=6, n_collocation=5)
    x_b, g, x_r, f = p.points()
    assert list(x_b) == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(g, 0, atol=1e-12)
    np.testing.assert_allclose(f, -(2 * np.pi) ** 2 * np.sin(2 * np.pi * x_r))
    h = 1e-4
    xs = np.array([0.1, 0.37])
    np.testing.assert_allclose((p.exact(xs + h) - 2 * p.exact(xs) + p.exact(xs - h)) / h**2, p.source(xs), rtol=1e-5)


def test_gradient_descent_step_and_history():
    p = Poisson1D(a=1, n_boundary=10, n_collocation=20)
    net = PINN((30,), seed=0)
    theta0 = net.parameters()
    ref = net.copy()
    hist = train(net, p, lr=1e-4, steps=1, record_every=1)
    # one step equals θ − lr ∇L with L = mean_b (u − g)² + mean_r (u_xx − f)², gradient from explicit Jacobians
    x_b, g, x_r, f = p.points()
    Ju, Jr = ref_jacobian(ref, x_b, np.tile(U, (10, 1))), ref_jacobian(ref, x_r, np.tile(UXX, (20, 1)))
    eu = ref.apply(x_b) - g
    er = ref.apply(x_r, UXX) - f
    grad = Ju.T @ (2 * eu / 10) + Jr.T @ (2 * er / 20)
    np.testing.assert_allclose(net.parameters(), theta0 - 1e-4 * grad, rtol=0, atol=1e-13 * np.abs(theta0).max())
    assert hist["step"] == [0, 1]
    assert hist["param_change"][0] == 0 and hist["ntk_change"][0] == 0
    assert hist["loss_b"][0] == pytest.approx(np.mean(eu**2)) and hist["loss_r"][0] == pytest.approx(np.mean(er**2))
    assert hist["param_change"][1] == pytest.approx(np.linalg.norm(net.parameters() - theta0) / np.linalg.norm(theta0))


def test_training_reduces_loss_and_adaptive_weights_are_trace_ratios():
    p = Poisson1D(a=1, n_boundary=20, n_collocation=30)
    base = PINN((50,), seed=1)
    x_b, _, x_r, _ = p.points()
    _, Kuu, _, Krr = base.ntk_blocks(x_b, x_r)
    lam = (np.trace(Kuu) + np.trace(Krr)) / np.trace(Kuu), (np.trace(Kuu) + np.trace(Krr)) / np.trace(Krr)
    assert trace_weights(Kuu, Krr) == pytest.approx(lam)
    h0 = train(base.copy(), p, lr=1e-2, steps=300, record_every=100)
    h1 = train(base.copy(), p, lr=1e-2, steps=300, record_every=100, adaptive=True)
    assert h1["lambda_b"][0] == pytest.approx(lam[0]) and h1["lambda_r"][0] == pytest.approx(lam[1])
    assert h0["lambda_b"] == [1.0] * 4
    for h in (h0, h1):
        total = np.array(h["loss_b"]) * np.array(h["lambda_b"]) + np.array(h["loss_r"]) * np.array(h["lambda_r"])
        assert total[-1] < 0.5 * total[0]
        assert h["rel_l2_error"][-1] < h["rel_l2_error"][0]
        assert 0 < h["ntk_change"][-1] < np.inf and 0 < h["param_change"][-1] < 1
        assert len(h["eigenvalues_init"]["K"]) == 50


def test_standard_parameterisation_trace_ratio_matches_released_code_fact():
    """With the authors' standard parameterisation and normalised inputs, λ_b ≈ 100 at width 100."""
    p = Poisson1D(a=4)
    x_b, _, x_r, _ = p.points()
    lam_b = []
    for seed in range(5):
        net = PINN((100,), parameterization="standard", input_shift=x_r.mean(), input_scale=x_r.std(), seed=seed)
        _, Kuu, _, Krr = net.ntk_blocks(x_b, x_r)
        lam_b.append(trace_weights(Kuu, Krr)[0])
    assert 60 < np.mean(lam_b) < 160, lam_b


# ---------------------------------------------------------------- bad input


def test_bad_input_raises():
    net = PINN((4,))
    with pytest.raises(ValueError, match="NaN"):
        net.ntk([0.0, np.nan])
    with pytest.raises(ValueError, match="empty"):
        net.forward([])
    with pytest.raises(ValueError, match="shape"):
        net.ntk([0.0, 1.0], np.ones((3, 3)))
    with pytest.raises(ValueError, match="scalar inputs"):
        net.forward(np.ones((3, 2)))
    with pytest.raises(TypeError):
        net.forward(["a"])
    with pytest.raises(ValueError, match="tile_size"):
        net.ntk([0.0], tile_size=0)
    with pytest.raises(ValueError, match="out"):
        net.ntk([0.0, 1.0], out=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="parameterization"):
        PINN((3,), parameterization="mup")
    with pytest.raises(ValueError, match="activation"):
        PINN((3,), activation="relu")
    with pytest.raises(ValueError, match="width"):
        PINN((0,))
    with pytest.raises(ValueError, match="input_scale"):
        PINN((3,), input_scale=0.0)
    with pytest.raises(ValueError, match="parameters"):
        net.set_parameters(np.zeros(3))
    with pytest.raises(ValueError, match="lr"):
        train(net, Poisson1D(), lr=-1.0, steps=1)
    with pytest.raises(ValueError, match="order"):
        infinite_width_ntk([0.0], order=1)
    with pytest.raises(ValueError, match="order"):
        infinite_width_ntk([0.0], order=400)
    with pytest.raises(ValueError, match="n_boundary"):
        Poisson1D(n_boundary=1)
    with pytest.raises(ValueError, match="nonzero"):
        Poisson1D(a=0)
    with pytest.raises(ValueError, match="one weight per point"):
        net.loss_and_grad([0.0, 1.0], U, [0.0, 0.0], w=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="op2"):
        net.ntk([0.0, 1.0], np.ones((2, 3)), [0.5])  # per-point op1 cannot describe x2


def test_training_divergence_is_reported():
    with pytest.raises(FloatingPointError, match="diverged"):
        train(PINN((20,), seed=0), Poisson1D(a=1, n_boundary=4, n_collocation=10), lr=10.0, steps=200,
              record_every=1000)


def test_ntk_matches_torch_autograd_jacobians():
    """A second, independent reference: PyTorch's autograd differentiates u twice in x and then in θ."""
    torch = pytest.importorskip("torch")
    from torch.func import grad, jacrev, vmap

    net = PINN((6, 5), parameterization="standard", input_shift=0.5, input_scale=0.29, seed=7)
    rng = np.random.default_rng(3)
    x, op = rng.uniform(0, 1, 9), _ops(rng, 9)
    params = {f"{k}{l}": torch.tensor(a) for l, (W, b) in enumerate(zip(net.W, net.b)) for k, a in (("W", W), ("b", b))}

    def u(p, t):
        g = ((t - net.input_shift) / net.input_scale).reshape(1)
        for l in range(len(net.W)):
            z = net.alpha[l] * p[f"W{l}"] @ g + net.beta[l] * p[f"b{l}"]
            g = torch.tanh(z) if l < len(net.W) - 1 else z
        return g[0]

    ux = grad(u, argnums=1)
    uxx = grad(ux, argnums=1)

    def v(p, t, c):
        return c[0] * u(p, t) + c[1] * ux(p, t) + c[2] * uxx(p, t)

    J = vmap(jacrev(v), in_dims=(None, 0, 0))(params, torch.tensor(x), torch.tensor(op))
    J = torch.cat([J[k].reshape(len(x), -1) for k in params], 1).numpy()
    K = net.ntk(x, op)
    np.testing.assert_allclose(K, J @ J.T, rtol=0, atol=1e-12 * np.abs(K).max())
