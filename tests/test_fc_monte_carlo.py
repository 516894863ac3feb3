"""Monte Carlo: the empirical NTK of wide random networks approaches the analytic NTK (MATH §1–§2).

The finite network follows MATH §1 exactly: f⁽ʰ⁾ = W⁽ʰ⁾g⁽ʰ⁻¹⁾, g⁽ʰ⁾ = √(c_σ/d_h)·σ(f⁽ʰ⁾), g⁽⁰⁾ = x,
f = W⁽ᴸ⁺¹⁾g⁽ᴸ⁾, all weights N(0, 1) (or the neural-tangents parameterisation with W_std, b_std).
Its NTK Σ_h ⟨∂f/∂W⁽ʰ⁾(x), ∂f/∂W⁽ʰ⁾(x')⟩ (+ biases) comes from explicit backpropagation here.
"""
import numpy as np
import pytest
from scipy.special import erf

import fastntk

ACTS = {
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "erf": (erf, lambda z: 2 / np.sqrt(np.pi) * np.exp(-z * z)),
}


def empirical_ntk(X, width, depth, act, rng, W_std=None, b_std=0.0):
    """eNTK of one random network (scalar output)."""
    fn, dfn = ACTS[act]
    n, d = X.shape
    ntk_param = W_std is not None
    c = fastntk.activations.get(act).c_sigma
    dims = [d] + [width] * depth + [1]
    Ws = [rng.standard_normal((dims[h + 1], dims[h])) for h in range(depth + 1)]
    bs = [rng.standard_normal(dims[h + 1]) for h in range(depth + 1)]
    # forward: keep the inputs g of each layer and the pre-activations z
    gs, zs, g = [], [], X
    for h in range(depth + 1):
        scale = W_std / np.sqrt(dims[h]) if ntk_param else (1.0 if h == 0 else 1.0)
        z = scale * g @ Ws[h].T + (b_std * bs[h] if ntk_param else 0.0)
        gs.append(g)
        zs.append(z)
        if h < depth:
            g = fn(z) if ntk_param else np.sqrt(c / width) * fn(z)
    # backward: delta_h = ∂f/∂z_h (n × dims[h+1])
    K = np.zeros((n, n))
    delta = np.ones((n, 1))
    for h in range(depth, -1, -1):
        scale = W_std / np.sqrt(dims[h]) if ntk_param else 1.0
        K += (delta @ delta.T) * (scale**2 * (gs[h] @ gs[h].T) + (b_std**2 if ntk_param else 0.0))
        if h > 0:
            back = delta @ Ws[h] * scale  # ∂f/∂g_{h}
            delta = back * (dfn(zs[h - 1]) if ntk_param else np.sqrt(c / width) * dfn(zs[h - 1]))
    return K


@pytest.mark.parametrize("act,conv", [("relu", {}), ("erf", {"W_std": 1.5, "b_std": 0.3})])
def test_empirical_ntk_converges_like_inverse_sqrt_width(act, conv):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((6, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    depth = 2
    exact = fastntk.FullyConnected(depth, act, **conv).ntk(X)
    widths = [32, 128, 512, 2048]
    errs = []
    for width in widths:
        trials = [np.linalg.norm(empirical_ntk(X, width, depth, act, rng, **conv) - exact) / np.linalg.norm(exact)
                  for _ in range(6)]
        errs.append(np.sqrt(np.mean(np.square(trials))))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert -0.8 <= slope <= -0.3, (errs, slope)
    assert errs[-1] < 0.1
    # the mean of many wide networks' eNTK matches to Monte Carlo accuracy
    mean = np.mean([empirical_ntk(X, 1024, depth, act, rng, **conv) for _ in range(24)], axis=0)
    assert np.linalg.norm(mean - exact) / np.linalg.norm(exact) < 0.06  # one net: ~0.1; 24 nets: ~0.02
