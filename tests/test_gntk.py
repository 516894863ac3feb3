"""GraphNTK against the independent dense-numpy reference (tests/gntk_reference.py, MATH §7), and its
invariances: graph order, node order, thread count, tiling, node merging, block protocol."""
import numpy as np
import pytest

import gntk_reference as ref
from fastntk import Graph, GraphNTK
from fastntk.datasets import load_tu

# Tolerances. NNGP: plain float64 rounding. NTK: Ṡ = (π − arccos λ)/π has infinite slope at λ = 1,
# and λ = 1 exactly for every pair of nodes with identical aggregated rows (twins, repeated motifs,
# over-smoothed deep blocks); there a rounding of 1 ulp in λ moves arccos λ by √(2 ulp) ≈ 2e-8, so
# two correct float64 implementations agree to ~1e-9 relative (MATH §7, "Numerics") and not better.
NNGP_RTOL = 1e-12
NTK_RTOL = 1e-8
NTK_TYPICAL = 1e-9  # the median entry

CONFIGS = [
    dict(num_blocks=1, num_mlp_layers=1, neighbor_pooling="sum", graph_pooling="sum", jumping_knowledge=True),
    dict(num_blocks=3, num_mlp_layers=2, neighbor_pooling="mean", graph_pooling="sum", jumping_knowledge=True),
    dict(num_blocks=2, num_mlp_layers=3, neighbor_pooling="sum", graph_pooling="mean", jumping_knowledge=False),
    dict(num_blocks=4, num_mlp_layers=1, neighbor_pooling="mean", graph_pooling="mean", jumping_knowledge=True),
]


def random_graphs(seed, count=10, d=3, max_nodes=9, self_loops=True):
    """(fastntk graphs, reference graphs) with random edges, isolated nodes and self-loops."""
    rng = np.random.default_rng(seed)
    ours, plain = [], []
    for _ in range(count):
        n = int(rng.integers(1, max_nodes + 1))
        p = rng.uniform(0.1, 0.7)
        edges = [(u, v) for u in range(n) for v in range(u + 1, n) if rng.random() < p]
        if self_loops:
            edges += [(u, u) for u in range(n) if rng.random() < 0.15]
        X = rng.standard_normal((n, d))
        ours.append(Graph.from_edges(np.array(edges, dtype=np.int64).reshape(-1, 2), X))
        plain.append((edges, X))
    return ours, plain


def plain_of(g):
    """Edge list (u <= v) and dense features of a fastntk Graph, for the reference."""
    H = g.hat.toarray()
    n = H.shape[0]
    edges = [(u, v) for u in range(n) for v in range(u + 1, n) if H[u, v]]
    edges += [(u, u) for u in range(n) if H[u, u] == 3]
    X = g.features.toarray() if hasattr(g.features, "toarray") else g.features
    return edges, X


def assert_close(K, K_ref, rtol, typical=None):
    scale = np.abs(K_ref).max()
    assert np.abs(K - K_ref).max() <= rtol * scale
    if typical is not None:
        assert np.median(np.abs(K - K_ref) / np.abs(K_ref)) <= typical


@pytest.fixture(scope="module")
def mutag():
    return load_tu()


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("compress", [False, True])
def test_matches_reference_random_graphs(cfg, compress):
    ours, plain = random_graphs(1)
    S, T = ref.gntk_gram(plain, None, cfg["num_blocks"], cfg["num_mlp_layers"], cfg["neighbor_pooling"],
                         cfg["graph_pooling"], cfg["jumping_knowledge"])
    nngp, ntk = GraphNTK(**cfg, compress=compress).kernels(ours)
    assert_close(nngp, S, NNGP_RTOL)
    assert_close(ntk, T, NTK_RTOL, NTK_TYPICAL)


@pytest.mark.parametrize("cfg", CONFIGS[:2])
def test_matches_reference_rectangular(cfg):
    ours1, plain1 = random_graphs(2, count=6)
    ours2, plain2 = random_graphs(3, count=5)
    S, T = ref.gntk_gram(plain1, plain2, cfg["num_blocks"], cfg["num_mlp_layers"], cfg["neighbor_pooling"],
                         cfg["graph_pooling"], cfg["jumping_knowledge"])
    nngp, ntk = GraphNTK(**cfg).kernels(ours1, ours2)
    assert ntk.shape == (6, 5)
    assert_close(nngp, S, NNGP_RTOL)
    assert_close(ntk, T, NTK_RTOL, NTK_TYPICAL)


@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[1]])
def test_matches_reference_mutag(mutag, cfg):
    graphs = mutag.graphs[:24]
    S, T = ref.gntk_gram([plain_of(g) for g in graphs], None, cfg["num_blocks"], cfg["num_mlp_layers"],
                         cfg["neighbor_pooling"], cfg["graph_pooling"], cfg["jumping_knowledge"])
    nngp, ntk = GraphNTK(**cfg).kernels(graphs)
    assert_close(nngp, S, NNGP_RTOL)
    assert_close(ntk, T, NTK_RTOL, NTK_TYPICAL)


def test_official_scale_factors():
    """A hand-checkable case: a single node with feature x. Â = [1] (sum) so S = x², a = |x|, λ = 1:
    each ReLU step keeps S = x² and T ← T + x²; with B = 1, R = 2, JK: J = x² + 3x²."""
    x = 1.7
    g = Graph.from_edges(np.zeros((0, 2), dtype=np.int64), np.array([[x]]))
    nngp, ntk = GraphNTK(1, 2).kernels([g])
    assert nngp[0, 0] == pytest.approx(2 * x * x, rel=1e-15)
    assert ntk[0, 0] == pytest.approx(4 * x * x, rel=1e-15)
    # a self-loop makes Â = [3]: S = 9x² after the first aggregation
    g3 = Graph.from_edges(np.array([[0, 0]]), np.array([[x]]))
    assert GraphNTK(1, 1).nngp([g3])[0, 0] == pytest.approx(x * x + 9 * x * x, rel=1e-15)


def test_symmetric_psd_and_deterministic(mutag):
    graphs = mutag.graphs[:40]
    k = GraphNTK(2, 2, "mean")
    K = k.ntk(graphs, n_threads=1)
    assert np.array_equal(K, K.T)
    ev = np.linalg.eigvalsh(K)
    assert ev[0] >= -1e-10 * ev[-1]
    for threads, tile in ((2, None), (3, 1), (1, 7), (2, 100000)):
        assert np.array_equal(k.ntk(graphs, n_threads=threads, tile_nodes=tile), K)


def test_graph_order_and_node_order_invariance():
    ours, _ = random_graphs(4, count=8)
    k = GraphNTK(2, 2, "sum")
    K = k.ntk(ours)
    perm = np.random.default_rng(0).permutation(len(ours))
    K_perm = k.ntk([ours[i] for i in perm])
    np.testing.assert_allclose(K_perm, K[np.ix_(perm, perm)], rtol=1e-12)
    # relabel the nodes of every graph
    relabelled = []
    rng = np.random.default_rng(1)
    for g in ours:
        n = g.n_nodes
        q = rng.permutation(n)  # new index of old node u is q[u]
        H = g.hat.toarray()
        A = H - np.eye(n)
        A[np.diag_indices(n)] = np.diag(A) / 2  # self-loop entries are 2 in A + Aᵀ
        A_new = np.zeros_like(A)
        A_new[np.ix_(q, q)] = A
        X_new = np.zeros_like(g.features)
        X_new[q] = g.features
        relabelled.append(Graph((A_new > 0).astype(float), X_new))
    np.testing.assert_allclose(k.ntk(relabelled), K, rtol=NTK_RTOL)


def test_compression_is_exact_on_twins():
    """A clique with identical features: all nodes merge into one class; values are unchanged."""
    n = 6
    A = np.ones((n, n)) - np.eye(n)
    star = np.zeros((n, n))
    star[0, 1:] = star[1:, 0] = 1
    gs = [Graph(A, np.ones((n, 2))), Graph(star, np.ones((n, 2))), Graph(A, np.arange(2 * n).reshape(n, 2))]
    for cfg in CONFIGS:
        a = GraphNTK(**cfg, compress=True).kernels(gs)
        b = GraphNTK(**cfg, compress=False).kernels(gs)
        # twins make λ = 1 exactly; unmerged, λ = 1 − ulp moves arccos by ~1e-8 (see NTK_RTOL)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=3 * NTK_RTOL)
    # clique, B = 1, R = 1, sum, JK, features (1, 1): Σ⁰ = 2 everywhere (sum 72); S = (ÂX)(ÂX)ᵀ = 72,
    # λ = 1, S stays 72 and T = 72 + 72 = 144 on all 36 node pairs: 72 + 36·144 = 5256.
    assert GraphNTK(**CONFIGS[0], compress=True).ntk(gs[:1])[0, 0] == pytest.approx(5256.0, rel=1e-15)
    P = GraphNTK(2, 1).prepare(gs)
    assert list(np.diff(P.arrays[0])) == [1, 2, 6]  # classes per graph: clique, star (hub + leaves), distinct


def test_block_protocol_matches_full_gram(mutag):
    graphs = mutag.graphs[:30]
    k = GraphNTK(1, 2, "sum")
    full_nngp, full_ntk = k.kernels(graphs)
    P = k.prepare(graphs)
    assert len(P) == 30 and len(P.rows(10, 30)) == 20
    nngp = np.full((30, 30), np.nan)
    ntk = np.full((30, 30), np.nan)
    cuts = [0, 13, 30]
    for a in range(2):
        for b in range(2):
            Pa, Pb = P.rows(cuts[a], cuts[a + 1]), P.rows(cuts[b], cuts[b + 1])
            k.fill(Pa, Pb, nngp[cuts[a]:cuts[a + 1], cuts[b]:cuts[b + 1]], ntk[cuts[a]:cuts[a + 1], cuts[b]:cuts[b + 1]],
                   symmetric=(a == b))
    iu = np.triu_indices(30)
    assert np.array_equal(ntk[iu], full_ntk[iu]) and np.array_equal(nngp[iu], full_nngp[iu])
    np.testing.assert_allclose(ntk, full_ntk, rtol=1e-12)
    # a memmap-like strided target works too
    big = np.zeros((30, 40))
    k.fill(P, P, None, big[:, 5:35], symmetric=True)
    assert np.array_equal(big[:, 5:35], full_ntk)


def test_mean_graph_pooling_divides_by_sizes(mutag):
    graphs = mutag.graphs[:12]
    n = np.array([g.n_nodes for g in graphs], dtype=float)
    K_sum = GraphNTK(2, 1, graph_pooling="sum").ntk(graphs)
    K_mean = GraphNTK(2, 1, graph_pooling="mean").ntk(graphs)
    np.testing.assert_allclose(K_mean, K_sum / np.outer(n, n), rtol=1e-14)


def test_num_layers_mapping():
    assert GraphNTK(num_blocks=1).official_num_layers == 2
    assert GraphNTK(num_blocks=13).official_num_layers == 14


def test_mutag_published_accuracy():
    """The paper's MUTAG number with num_blocks=1, R=1, sum, JK (Du et al. 2019): 90.00 ± 8.53."""
    pytest.importorskip("sklearn")
    from fastntk.gntk_cli import mutag_accuracy
    mean, std = mutag_accuracy()
    assert round(mean, 2) == 90.00 and round(std, 2) == 8.53


def _same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_vectorised_refinement_matches_per_graph_refinement(mutag):
    """The whole-set colour refinement (hash-grouped, exactly verified) equals the plain per-graph one,
    and the packed Gram does not depend on which of the two produced the classes."""
    import scipy.sparse as sp

    from fastntk import gntk as gntk_module

    ours, _ = random_graphs(5, count=12)
    for graphs in (ours, mutag.graphs[:40]):
        sizes = [g.n_nodes for g in graphs]
        graph_of_node = np.repeat(np.arange(len(graphs)), sizes)
        feats = [g.features for g in graphs]
        X_all = sp.vstack(feats, format="csr") if sp.issparse(feats[0]) else np.vstack(feats)
        hat = sp.block_diag([g.hat for g in graphs], format="csr")
        colours = gntk_module._refine(hat, graph_of_node, X_all)
        start = np.concatenate([[0], np.cumsum(sizes)])
        per_graph = np.concatenate([gntk_module._classes(g.hat, g.features)[0] + start[i]
                                    for i, g in enumerate(graphs)])
        assert _same_partition(colours, per_graph)


def test_chunked_packing_gives_the_same_gram(mutag, monkeypatch):
    from fastntk import gntk as gntk_module

    graphs = mutag.graphs[:30]
    k = GraphNTK(2, 2, "mean")
    K = k.ntk(graphs)
    monkeypatch.setattr(gntk_module, "PACK_CHUNK_NNZ", 200)  # a few graphs per chunk
    assert np.array_equal(k.ntk(graphs), K)


def test_level_classes_against_reference():
    """Blocks work on level classes (nodes whose rows are computed identically at that block), which are
    coarser than the merged nodes: a path with equal features has, after the first aggregation, only
    two kinds of rows (ends, interior), then three. Values stay those of the dense reference, for the
    symmetric Gram (its diagonal keeps one row per node, λ_uu = 1) and for a rectangular one (no pair
    is a graph with itself there, even when both sides hold the same graph)."""
    def path(n, X):
        return Graph.from_edges(np.array([(i, i + 1) for i in range(n - 1)], dtype=np.int64), X)

    gs = [path(6, np.ones((6, 3))), path(5, np.ones((5, 3))), path(7, np.arange(21.0).reshape(7, 3) % 2)]
    gs += random_graphs(6, count=5)[0]
    P = GraphNTK(2, 1).prepare(gs)
    assert list(np.diff(P.arrays[0])[:1]) == [3]  # merged: {0, 5}, {1, 4}, {2, 3}
    assert list(P.arrays[13][:2]) == [2, 3]  # level classes of the 6-path: blocks 1 and 2
    plain = [plain_of(g) for g in gs]
    for cfg in (CONFIGS[1], dict(CONFIGS[2], num_blocks=3), CONFIGS[0]):
        args = (cfg["num_blocks"], cfg["num_mlp_layers"], cfg["neighbor_pooling"], cfg["graph_pooling"],
                cfg["jumping_knowledge"])
        k = GraphNTK(**cfg)
        S, T = ref.gntk_gram(plain, None, *args)
        nngp, ntk = k.kernels(gs)
        assert_close(nngp, S, NNGP_RTOL)
        assert_close(ntk, T, NTK_RTOL, NTK_TYPICAL)
        S2, T2 = ref.gntk_gram(plain, plain, *args)  # rectangular: no λ_uu = 1 override
        nngp2, ntk2 = k.kernels(gs, list(gs))
        assert_close(nngp2, S2, NNGP_RTOL)
        assert_close(ntk2, T2, NTK_RTOL, NTK_TYPICAL)
        off = ~np.eye(len(gs), dtype=bool)  # off the diagonal both compute the same pairs the same way
        np.testing.assert_allclose(ntk2[off], ntk[off], rtol=1e-14)
