"""fastntk's eNTK against PyTorch's torch.func (Jacobian contraction and NTK-vector products)."""
import numpy as np
import pytest

from fastntk import empirical as E

torch = pytest.importorskip("torch")
nn = torch.nn


def _sequential(seed, act, bias=True):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16, bias=bias), act, nn.Linear(16, 12, bias=bias), act,
                         nn.Linear(12, 3, bias=bias)).double()


@pytest.mark.parametrize("act", [nn.ReLU(), nn.Tanh(), nn.GELU(), nn.Sigmoid(), nn.LeakyReLU(0.2), nn.Softplus()])
def test_from_torch_matches_torch_func(act):
    net = _sequential(0, act)
    mlp = E.MLP.from_torch(net)
    rng = np.random.default_rng(1)
    X1, X2 = rng.standard_normal((6, 4)), rng.standard_normal((5, 4))
    with torch.no_grad():
        np.testing.assert_allclose(mlp(X1), net(torch.tensor(X1)).numpy(), rtol=1e-12, atol=1e-14)
    for method in ("jacobian", "ntk_vp"):
        for mode in ("full", "trace", "diagonal"):
            ref = E.torch_entk(net, X1, X2, mode, method=method)
            ours = E.entk(mlp, X1, X2, mode)
            assert ours.shape == ref.shape
            np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    sym = E.torch_entk(net, X1, None, "full")
    np.testing.assert_allclose(E.entk(mlp, X1), sym, rtol=0, atol=1e-10 * np.abs(sym).max())


def test_from_torch_without_bias():
    net = _sequential(3, nn.Tanh(), bias=False)
    mlp = E.MLP.from_torch(net)
    assert mlp.biases is None and mlp.n_params == sum(p.numel() for p in net.parameters())
    X = np.random.default_rng(2).standard_normal((4, 4))
    ref = E.torch_entk(net, X, mode="trace")
    np.testing.assert_allclose(E.entk(mlp, X, mode="trace"), ref, rtol=0, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("W_std,b_std,act", [(None, 0.0, "relu"), (None, 0.4, "erf"), (1.5, 0.2, "sin"),
                                            (1.0, 0.0, "gelu")])
def test_ntk_parameterisation_via_to_torch(W_std, b_std, act):
    mlp = E.init_mlp([3, 20, 10, 2], act, W_std=W_std, b_std=b_std, seed=5)
    X = np.random.default_rng(3).standard_normal((5, 3))
    ref = E.torch_entk(mlp.to_torch(), X, mode="full", method="ntk_vp")
    np.testing.assert_allclose(E.entk(mlp, X), ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    with torch.no_grad():
        np.testing.assert_allclose(mlp(X), mlp.to_torch()(torch.tensor(X)).numpy(), rtol=1e-12, atol=1e-14)


def test_from_torch_rejects_unsupported():
    with pytest.raises(TypeError, match="Sequential"):
        E.MLP.from_torch(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="activation"):
        E.MLP.from_torch(nn.Sequential(nn.Linear(3, 4), nn.ELU(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="Linear"):
        E.MLP.from_torch(nn.Sequential(nn.ReLU(), nn.Linear(3, 4), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="alternate"):
        E.MLP.from_torch(nn.Sequential(nn.Linear(3, 4), nn.ReLU()))


def test_monte_carlo_of_a_torch_module_equals_fastntk_path():
    """MC over initialisations of a torch module (torch.func path) = MC of the converted MLPs."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((4, 4))

    def factory(seed):
        return _sequential(seed, nn.Tanh())

    via_torch = E.monte_carlo_ntk(factory, X, n_samples=3, mode="full", seed=7)
    via_mlp = E.monte_carlo_ntk(lambda s: E.MLP.from_torch(factory(s)), X, n_samples=3, mode="full", seed=7)
    np.testing.assert_allclose(via_torch.mean, via_mlp.mean, rtol=1e-10)
    np.testing.assert_allclose(via_torch.stderr, via_mlp.stderr, rtol=1e-8, atol=1e-12)
    # a module is re-initialised by reset_parameters(): samples differ, so the stderr is positive
    res = E.monte_carlo_ntk(_sequential(0, nn.ReLU()), X, n_samples=3, kernel="pntk", seed=1)
    assert res.mean.shape == (4, 4) and np.all(res.stderr[~np.eye(4, dtype=bool)] > 0)


def test_torch_entk_chunked_and_mlp_input():
    mlp = E.init_mlp([3, 8, 2], "tanh", W_std=1.1, b_std=0.2, seed=0)
    X1, X2 = np.random.default_rng(5).standard_normal((5, 3)), np.random.default_rng(6).standard_normal((3, 3))
    ours = E.entk(mlp, X1, X2, "diagonal")
    for method in ("jacobian", "ntk_vp"):
        ref = E.torch_entk(mlp, X1, X2, "diagonal", method=method, chunk_size=2)  # an MLP goes through to_torch
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    f32 = E.torch_entk(mlp, X1.astype(np.float32), mode="trace")
    assert f32.dtype == np.float32
    with pytest.raises(ValueError, match="method"):
        E.torch_entk(mlp, X1, method="vjp")
