"""fastntk.solvers.cg on tiled Grams held as local array-likes, against numpy's dense solve."""
import warnings

import numpy as np
import pytest

import fastntk
from fastntk import batching, solvers


def _problem(n=300, d=6, k=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    K = fastntk.FullyConnected(3).ntk(X)
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(n) if k is None else rng.standard_normal((n, k))
    return K, y


@pytest.mark.parametrize("preconditioner", ["nystrom", "jacobi", None])
@pytest.mark.parametrize("block_size", [64, 300, 1000])
def test_cg_matches_dense_solve(preconditioner, block_size):
    K, y = _problem()
    ridge = 1e-3 * np.trace(K) / len(K)
    res = solvers.cg(K, y, ridge, preconditioner=preconditioner, block_size=block_size, tol=1e-10)
    dense = np.linalg.solve(K + ridge * np.eye(len(K)), y)
    assert res.converged and res.relative_residual <= 1e-10
    np.testing.assert_allclose(res.x, dense, rtol=0, atol=1e-7 * np.abs(dense).max())
    # the reported residual is the true one
    true = np.linalg.norm(y - (K @ res.x + ridge * res.x)) / np.linalg.norm(y)
    assert true < 1e-9


def test_nystrom_reduces_iterations_on_a_low_rank_plus_ridge_system():
    # K = U diag(λ) Uᵀ: 30 eigenvalues spread over [1e-3, 1], the rest ≤ 1e-7 (a kernel-like decay),
    # ridge 1e-5: plain CG faces a condition number ~1e5, a rank-60 Nyström preconditioner ~1.
    rng = np.random.default_rng(1)
    U, _ = np.linalg.qr(rng.standard_normal((400, 400)))
    lam = np.concatenate([np.logspace(0, -3, 30), np.logspace(-7, -9, 370)])
    K = (U * lam) @ U.T
    K = (K + K.T) / 2
    y = rng.standard_normal(400)
    plain = solvers.cg(K, y, 1e-5, preconditioner=None, tol=1e-8, maxiter=5000)
    nys = solvers.cg(K, y, 1e-5, preconditioner="nystrom", rank=60, tol=1e-8)
    assert plain.converged and nys.converged
    assert nys.iterations * 3 < plain.iterations
    dense = np.linalg.solve(K + 1e-5 * np.eye(400), y)
    np.testing.assert_allclose(nys.x, dense, rtol=0, atol=1e-7 * np.abs(dense).max())


def test_multiple_right_hand_sides_and_zero_column():
    K, Y = _problem(k=3)
    Y[:, 1] = 0.0
    ridge = 1e-2 * np.trace(K) / len(K)
    res = solvers.cg(K, Y, ridge, block_size=128, tol=1e-10)
    assert res.x.shape == Y.shape and res.relative_residual.shape == (3,)
    np.testing.assert_array_equal(res.x[:, 1], 0.0)
    np.testing.assert_allclose(res.x, np.linalg.solve(K + ridge * np.eye(len(K)), Y), rtol=0, atol=1e-7)
    # each column solved together equals that column solved alone
    alone = solvers.cg(K, Y[:, 2], ridge, block_size=128, tol=1e-10)
    np.testing.assert_allclose(res.x[:, 2], alone.x, rtol=0, atol=1e-8)


def test_out_of_core_gram_solve(tmp_path):
    """The full pipeline on disk: a float32 Gram written to a memmap by batching.gram, then solved by
    reading it block by block."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((350, 4)).astype(np.float32)
    kernel = fastntk.FullyConnected(2)
    mm = batching.open_memmap(tmp_path / "K.npy", (350, 350), np.float32)
    batching.gram(kernel, X, out=mm, block_size=100)
    y = rng.standard_normal(350)
    ridge = 0.05
    res = solvers.cg(np.load(tmp_path / "K.npy", mmap_mode="r"), y, ridge, block_size=100, tol=1e-10)
    K64 = kernel.ntk(X).astype(np.float64)
    np.testing.assert_allclose(res.x, np.linalg.solve(K64 + ridge * np.eye(350), y), rtol=0, atol=1e-7)
    # the same bits as the in-memory Gram with the same block grid
    np.testing.assert_array_equal(res.x, solvers.cg(kernel.ntk(X), y, ridge, block_size=100, tol=1e-10).x)


def test_maxiter_warns_and_reports_not_converged():
    K, y = _problem()
    with pytest.warns(RuntimeWarning, match="CG stopped"):
        res = solvers.cg(K, y, 1e-8, preconditioner=None, maxiter=3)
    assert not res.converged and res.iterations == 3 and res.relative_residual > 1e-8


def test_callable_preconditioner_is_used():
    K, y = _problem(n=120)
    ridge = 0.1
    A = K + ridge * np.eye(120)
    exact = np.linalg.inv(A)
    res = solvers.cg(K, y, ridge, preconditioner=lambda R: R @ exact.T, tol=1e-10)
    assert res.iterations <= 2  # an exact preconditioner converges at once
    np.testing.assert_allclose(res.x, np.linalg.solve(A, y), rtol=0, atol=1e-8)


def test_solver_input_errors():
    K, y = _problem(n=50)
    with pytest.raises(ValueError, match="square"):
        solvers.cg(K[:, :40], y, 1.0)
    with pytest.raises(ValueError, match="shape"):
        solvers.cg(K, y[:49], 1.0)
    with pytest.raises(ValueError, match="NaN"):
        solvers.cg(K, np.full(50, np.nan), 1.0)
    with pytest.raises(ValueError, match="ridge"):
        solvers.cg(K, y, -1.0)
    with pytest.raises(ValueError, match="tol"):
        solvers.cg(K, y, 1.0, tol=0)
    with pytest.raises(ValueError, match="preconditioner"):
        solvers.cg(K, y, 1.0, preconditioner="ilu")
    with pytest.raises(ValueError, match="rank"):
        solvers.cg(K, y, 1.0, rank=51)
    with pytest.raises(ValueError, match="block_size"):
        solvers.cg(K, y, 1.0, block_size=0)
    with pytest.raises(ValueError, match="Jacobi"):
        solvers.cg(-np.eye(4), np.ones(4), 0.0, preconditioner="jacobi")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(solvers.cg(K, np.zeros(50), 1.0).x, np.zeros(50))
