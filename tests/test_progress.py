"""Progress of long in-memory Grams: the C++ tile loop reports (done, total) to a Python callable about
every 50 ms and once at the end; fastntk shows it as a tqdm bar (progress=True/None/False)."""
import numpy as np
import pytest

import fastntk
from fastntk import _core, progress


def _fc_inputs(n=700, d=16, depth=3, dtype=np.float64):
    X = np.random.default_rng(1).standard_normal((n, d)).astype(dtype)
    k = fastntk.FullyConnected(depth)
    return k, k.prepare(X)


def test_core_reports_monotone_progress_ending_at_the_total():
    k, P = _fc_inputs()
    calls = []
    out = np.empty((len(P), len(P)))
    _core.fc_gram(k._spec(16, None), P.X, P.stats, P.X, P.stats, None, out, True, 16, 1, lambda d, t: calls.append((d, t)))
    n_tiles = sum(1 for i in range(0, 700, 16) for j in range(i, 700, 16))
    assert calls, "progress was never called"
    assert all(t == n_tiles for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == n_tiles and all(0 < d <= n_tiles for d in done)
    np.testing.assert_array_equal(out, k.ntk(P.X, progress=False))


def test_an_exception_in_the_progress_callable_stops_the_gram_and_propagates():
    k, P = _fc_inputs()

    def fail(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        _core.fc_gram(k._spec(16, None), P.X, P.stats, P.X, P.stats, None, np.empty((len(P), len(P))), True, 16, 1, fail)


@pytest.mark.parametrize("make", [
    lambda: (fastntk.FullyConnected(2), np.random.default_rng(0).standard_normal((300, 8))),
    lambda: (fastntk.Convolutional(3), np.random.default_rng(0).standard_normal((40, 6, 6, 2))),
])
def test_bar_shows_tiles_and_results_do_not_change(make, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    kernel, X = make()
    monkeypatch.setattr(progress, "BAR_DELAY", 0.0)
    with_bar = kernel.ntk(X, tile_size=8, progress=True)
    err = capsys.readouterr().err
    assert "Gram" in err and "tile" in err, err
    silent = kernel.ntk(X, tile_size=8, progress=False)
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(with_bar, silent)


def test_gntk_bar(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    graphs = fastntk.datasets.load_tu().graphs[:40]  # embedded MUTAG
    k = fastntk.GraphNTK(num_blocks=2, num_mlp_layers=2)
    monkeypatch.setattr(progress, "BAR_DELAY", 0.0)
    with_bar = k.ntk(graphs, tile_nodes=64, progress=True)
    assert "GNTK Gram" in capsys.readouterr().err
    np.testing.assert_array_equal(with_bar, k.ntk(graphs, tile_nodes=64, progress=False))


def test_entk_bar(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    mlp = fastntk.init_mlp([5, 32, 3], seed=0)
    X = np.random.default_rng(0).standard_normal((50, 5))
    monkeypatch.setattr(progress, "BAR_DELAY", 0.0)
    with_bar = fastntk.entk(mlp, X, mode="trace", progress=True)
    assert "eNTK Gram" in capsys.readouterr().err
    np.testing.assert_array_equal(with_bar, fastntk.entk(mlp, X, mode="trace", progress=False))


def test_default_progress_is_silent_off_a_terminal(capsys):
    k, P = _fc_inputs(n=200)
    k.ntk(P.X)  # progress=None; pytest's captured stderr is not a terminal
    assert capsys.readouterr().err == ""


def test_bad_progress_argument():
    k, P = _fc_inputs(n=10)
    with pytest.raises(TypeError, match="progress"):
        k.ntk(P.X, progress="yes")
