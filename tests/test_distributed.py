"""fastntk.distributed on a real dask.distributed LocalCluster (2 worker processes on 127.0.0.1): the Gram
and a PCG solve equal the local engine bit for bit; each upper block is computed once."""
import numpy as np
import pytest

import fastntk

pytest.importorskip("dask")
distributed = pytest.importorskip("dask.distributed")

from fastntk import distributed as fd  # noqa: E402
from fastntk import solvers  # noqa: E402

KERNEL = fastntk.FullyConnected(2, b_std=0.1)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def _points(n, d=5, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


def test_gram_on_cluster_bitwise(client):
    X = _points(230, dtype=np.float32)
    K = fd.gram(KERNEL, X, block_size=64, n_threads=1)
    assert K.chunks == ((64, 64, 64, 38),) * 2
    got = K.compute()
    np.testing.assert_array_equal(got, KERNEL.ntk(X))
    np.testing.assert_array_equal(got, got.T)
    # both kernels from one task per block, and a cross Gram
    S, T = client.compute(list(fd.gram(KERNEL, X, get="both", block_size=100)), sync=True)
    ref = KERNEL.kernels(X)
    np.testing.assert_array_equal(S, ref[0])
    np.testing.assert_array_equal(T, ref[1])
    Y = _points(70, dtype=np.float32, seed=3)
    np.testing.assert_array_equal(fd.gram(KERNEL, Y, X, block_size=50).compute(), KERNEL.ntk(Y, X))


def test_pcg_solve_on_cluster_bitwise(client):
    X = _points(240)
    y = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    K = KERNEL.ntk(X)
    ridge = 1e-2 * np.trace(K) / len(K)
    Kd = fd.gram(KERNEL, X, block_size=80)
    remote = solvers.cg(Kd, y, ridge, rank=80, tol=1e-9)  # Nyström: a BLAS sketch and einsum products
    local = solvers.cg(K, y, ridge, rank=80, tol=1e-9, block_size=80)
    assert remote.converged and remote.iterations == local.iterations
    np.testing.assert_array_equal(remote.x, local.x)
    dense = np.linalg.solve(K + ridge * np.eye(len(K)), y)
    np.testing.assert_allclose(remote.x, dense, rtol=0, atol=1e-6 * np.abs(dense).max())


def test_upper_blocks_computed_once_and_to_zarr(client, tmp_path):
    zarr = pytest.importorskip("zarr")
    X = _points(150)
    K = fd.gram(KERNEL, X, block_size=40)
    graph = dict(K.__dask_graph__())
    fills = [k for k in graph if "_fill_block" in (k[0] if isinstance(k, tuple) else k)]
    assert len(fills) == 4 * 5 // 2  # 4 row blocks: 10 blocks on or above the diagonal
    z = fd.to_zarr(K, str(tmp_path / "K.zarr"))
    np.testing.assert_array_equal(z[:], KERNEL.ntk(X))


def test_local_scheduler_and_errors():
    X = _points(90)
    np.testing.assert_array_equal(fd.gram(KERNEL, X, max_memory="1MB").compute(scheduler="threads"), KERNEL.ntk(X))
    with pytest.raises(ValueError, match="get"):
        fd.gram(KERNEL, X, get="diag")
    with pytest.raises(TypeError, match="block protocol"):
        fd.gram(object(), X)
    with pytest.raises(ValueError, match="block_size"):
        fd.gram(KERNEL, X, block_size=0)
    with pytest.raises(TypeError, match="dask array"):
        fd.to_zarr(np.eye(3), "unused.zarr")
    with pytest.raises(ValueError, match="block_size"):
        solvers.cg(fd.gram(KERNEL, X, block_size=30), np.ones(90), 1.0, block_size=30)
