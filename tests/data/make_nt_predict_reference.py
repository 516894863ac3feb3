"""Produce tests/data/nt_predict_reference.npz: neural-tangents' nt.predict outputs on small fixed kernels,
so tests compare fastntk.predict with neural-tangents without importing it.

Run with the neural-tangents environment (jax 0.4.23, neural-tangents 0.6.5):
    /work/ntvenv/bin/python tests/data/make_nt_predict_reference.py
"""
import os

import numpy as np
import scipy.linalg

# jax 0.4.23 wraps scipy.linalg.tril/triu, which SciPy ≥ 1.13 removed: restore them before importing jax.
for _name in ("tril", "triu"):
    if not hasattr(scipy.linalg, _name):
        setattr(scipy.linalg, _name, getattr(np, _name))
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import neural_tangents as nt  # noqa: E402
from neural_tangents import stax  # noqa: E402

rng = np.random.default_rng(20240)
n, m, k, d = 12, 5, 2, 3
x_train = rng.standard_normal((n, d))
x_test = rng.standard_normal((m, d))
y_train = rng.standard_normal((n, k))
fx_train_0 = 0.3 * rng.standard_normal((n, k))
fx_test_0 = 0.3 * rng.standard_normal((m, k))
_, _, kernel_fn = stax.serial(stax.Dense(64, W_std=1.5, b_std=0.1), stax.Relu(),
                              stax.Dense(64, W_std=1.5, b_std=0.1), stax.Relu(),
                              stax.Dense(1, W_std=1.5, b_std=0.1))
k_dd = kernel_fn(x_train, None, ("nngp", "ntk"))
k_td = kernel_fn(x_test, x_train, ("nngp", "ntk"))
k_tt = kernel_fn(x_test, None, ("nngp", "ntk"))
times = np.array([0.0, 0.7, 5.0, 60.0])  # in nt's units (mean loss over y.size entries)
lr = 0.8
reg = 1e-3
out = dict(x_train=x_train, x_test=x_test, y_train=y_train, fx_train_0=fx_train_0, fx_test_0=fx_test_0,
           nngp_dd=k_dd.nngp, ntk_dd=k_dd.ntk, nngp_td=k_td.nngp, ntk_td=k_td.ntk, nngp_tt=k_tt.nngp,
           ntk_tt=k_tt.ntk, times=times, lr=lr, reg=reg)

predict_fn = nt.predict.gradient_descent_mse(k_dd.ntk, y_train, learning_rate=lr, diag_reg=reg,
                                             diag_reg_absolute_scale=True)
tr, te = predict_fn(times, fx_train_0, fx_test_0, k_td.ntk)
out["gd_train"], out["gd_test"] = np.asarray(tr), np.asarray(te)
tr, te = predict_fn(None, fx_train_0, fx_test_0, k_td.ntk)
out["gd_train_inf"], out["gd_test_inf"] = np.asarray(tr), np.asarray(te)

gp = nt.predict.gp_inference(k_dd, y_train, diag_reg=reg, diag_reg_absolute_scale=True)
post = gp("nngp", k_td, k_tt.nngp)["nngp"] if isinstance(gp("nngp", k_td, k_tt.nngp), dict) else \
    gp("nngp", k_td, k_tt.nngp)
out["gp_mean"], out["gp_cov"] = np.asarray(post.mean), np.asarray(post.covariance)

ens = nt.predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y_train, learning_rate=lr, diag_reg=reg,
                                               diag_reg_absolute_scale=True)
g = ens(times, x_test, "ntk", compute_cov=True)
out["ens_mean"], out["ens_cov"] = np.asarray(g.mean), np.asarray(g.covariance)
g = ens(None, x_test, "ntk", compute_cov=True)
out["ens_mean_inf"], out["ens_cov_inf"] = np.asarray(g.mean), np.asarray(g.covariance)
g = ens(times, None, "ntk", compute_cov=True)
out["ens_train_mean"], out["ens_train_cov"] = np.asarray(g.mean), np.asarray(g.covariance)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nt_predict_reference.npz")
np.savez_compressed(path, **out)
print("wrote", path, {key: np.shape(v) for key, v in out.items()})
