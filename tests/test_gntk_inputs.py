"""Graph inputs, the TU loader and bad input for the Graph NTK."""
import numpy as np
import pytest
import scipy.sparse as sp

from fastntk import Graph, GraphNTK
from fastntk.datasets import TUFormatError, load_tu
from fastntk.graphs import from_networkx


def write_tu(tmp_path, text, name="TOY", folds=None):
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.txt").write_text(text)
    if folds is not None:
        (folder / "10fold_idx").mkdir()
        for i in range(1, 11):
            tr, te = folds(i)
            (folder / "10fold_idx" / f"train_idx-{i}.txt").write_text("".join(f"{v}\n" for v in tr))
            (folder / "10fold_idx" / f"test_idx-{i}.txt").write_text("".join(f"{v}\n" for v in te))
    return folder


# --- Graph -------------------------------------------------------------------------------------------
def test_adjacency_forms_agree():
    X = np.arange(8, dtype=float).reshape(4, 2)
    edges = [(0, 1), (1, 2), (2, 0), (3, 3)]
    A = np.zeros((4, 4))
    for u, v in edges:
        A[u, v] = A[v, u] = 1
    forms = [Graph(A, X), Graph(sp.csr_matrix(A), X), Graph(edges, X), Graph.from_edges(np.array(edges), X),
             Graph(edges + [(1, 0), (0, 1)], X)]  # both directions and duplicates collapse
    for g in forms:
        assert np.array_equal(g.hat.toarray(), forms[0].hat.toarray())
    H = forms[0].hat.toarray()
    assert H[3, 3] == 3 and H[0, 0] == 1 and H[0, 1] == 1  # self-loop: Â_uu = 3 (MATH §7)
    assert list(forms[0].degrees) == [2, 2, 2, 2]  # networkx degree: a self-loop counts 2
    K = GraphNTK(2, 2).ntk(forms)
    assert np.allclose(K, K[0, 0])


def test_isolated_nodes_and_single_node_graphs():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    g = Graph(np.zeros((0, 2), dtype=int), X)  # three isolated nodes
    single = Graph([], np.array([[2.0, 0.0]]))
    K = GraphNTK(3, 2, "mean").ntk([g, single])
    assert np.isfinite(K).all() and K[0, 0] > 0


def test_zero_feature_node_gives_finite_limit():
    X = np.array([[0.0], [0.0], [1.0]])
    g = Graph([(0, 1)], X)  # nodes 0 and 1 have zero aggregated features: zero norm, S = 0 on their rows
    K = GraphNTK(2, 2).ntk([g, g])
    assert np.isfinite(K).all()


@pytest.mark.parametrize("adjacency, features, message", [
    ([(0, 1)], np.zeros((0, 3)), "no nodes"),
    (np.array([[0, 1], [0, 0]]), np.ones((2, 1)), "not symmetric"),
    (np.array([[0, 2], [2, 0]]), np.ones((2, 1)), "0/1"),
    ([(0, 5)], np.ones((3, 1)), "outside"),
    ([(0, 1, 2)], np.ones((3, 1)), "shape"),
    ([(0, 1)], np.array([[1.0], [np.nan]]), "NaN"),
    ([(0, 1)], np.ones(2), "2-D"),
    ([(0, 1)], np.ones((2, 0)), "no columns"),
    (np.ones((3, 3)), np.ones((2, 1)), "shape"),
])
def test_bad_graphs(adjacency, features, message):
    with pytest.raises(ValueError, match=message):
        Graph(adjacency, features)


def test_bad_kernel_inputs():
    a = Graph([(0, 1)], np.ones((2, 3)))
    b = Graph([(0, 1)], np.ones((2, 4)))
    with pytest.raises(ValueError, match="node features"):
        GraphNTK().ntk([a, b])
    with pytest.raises(ValueError, match="node features"):
        GraphNTK().ntk([a], [b])
    with pytest.raises(ValueError, match="no graphs"):
        GraphNTK().ntk([])
    with pytest.raises(TypeError, match="fastntk.Graph"):
        GraphNTK().ntk([np.ones((2, 2))])
    for kwargs in (dict(num_blocks=0), dict(num_mlp_layers=0), dict(neighbor_pooling="max"), dict(graph_pooling="x")):
        with pytest.raises(ValueError):
            GraphNTK(**kwargs)
    with pytest.raises(ValueError, match="n_threads"):
        GraphNTK().ntk([a], n_threads=0)
    k = GraphNTK()
    P = k.prepare([a, a])
    with pytest.raises(ValueError, match="shape"):
        k.fill(P, P, None, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="different settings"):
        GraphNTK(num_blocks=2).fill(P, P, None, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="same prepared block"):
        k.fill(P.rows(0, 1), P.rows(1, 2), None, np.zeros((1, 1)), symmetric=True)


def test_from_networkx():
    nx = pytest.importorskip("networkx")
    G = nx.Graph()
    G.add_nodes_from([("a", {"x": [1.0, 0.0]}), ("b", {"x": [0.0, 1.0]}), ("c", {"x": [1.0, 1.0]})])
    G.add_edges_from([("a", "b"), ("c", "c")])
    g = from_networkx(G, feature="x")
    assert g.hat.toarray().tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 3]]
    assert np.array_equal(g.features, [[1, 0], [0, 1], [1, 1]])
    assert from_networkx(G).features.shape == (3, 1)
    with pytest.raises(ValueError, match="no attribute"):
        from_networkx(G, feature="missing")


# --- TU loader ---------------------------------------------------------------------------------------
def test_embedded_mutag():
    graphs, labels, folds = load_tu()
    assert len(graphs) == 188 and sorted(np.bincount(labels)) == [63, 125]
    assert len(folds) == 10
    tests = np.concatenate([te for _, te in folds])
    assert len(set(tests)) == len(tests) == 180  # disjoint test folds of 18 graphs (as shipped by GIN)
    for tr, te in folds:
        assert not set(tr) & set(te) and len(tr) + len(te) == 188
    assert graphs[0].n_nodes == 23 and graphs[0].n_features == 7  # one-hot of the 7 atom tags


def test_shared_data_sets_load(shared_data):
    ds = load_tu(shared_data / "tu" / "IMDBBINARY")
    assert len(ds) == 1000 and len(ds.folds) == 10 and ds.graphs[0].n_features == 65


TOY = """2
3 7
0 2 1 2
1 1 0
0 1 0
2 -1
5 1 1
5 1 0
"""


def test_degree_as_tag_orders(tmp_path):
    """Node 0 lists neighbour 2, node 1 lists 2, node 2 lists 0 and 1: the official loader's networkx
    graph meets the nodes in the order 0, 2, 1 and hands the i-th degree of that order to node i."""
    folder = write_tu(tmp_path, "1\n3 0\n0 1 2\n0 1 2\n0 2 0 1\n")
    official = load_tu(folder, degree_as_tag=True, tag_order="networkx")
    by_index = load_tu(folder, degree_as_tag=True)  # the default
    # degrees by index: (1, 1, 2); official tags take them in the order (0, 2, 1): (1, 2, 1)
    deg_cols_index = by_index.graphs[0].features.toarray().argmax(axis=1)
    deg_cols_official = official.graphs[0].features.toarray().argmax(axis=1)
    values = [1, 2]  # one-hot columns are the sorted distinct degrees
    assert [values[c] for c in deg_cols_index] == [1, 1, 2]
    assert [values[c] for c in deg_cols_official] == [1, 2, 1]


def test_toy_file_labels_tags_and_folds(tmp_path):
    folder = write_tu(tmp_path, TOY, folds=lambda i: ([0], [1]))
    ds = load_tu(folder)
    assert ds.name == "TOY" and list(ds.labels) == [0, 1]  # labels renumbered by first appearance
    assert ds.graphs[0].features.shape == (3, 3)  # tags {0, 1, 5} over the data set
    assert ds.graphs[1].hat.toarray().tolist() == [[1, 1], [1, 1]]
    assert [tuple(map(list, f)) for f in ds.folds] == [([0], [1])] * 10
    assert load_tu(folder / "TOY.txt").name == "TOY"


@pytest.mark.parametrize("text, line, message", [
    ("", 1, "empty file"),
    ("x\n", 1, "number of graphs"),
    ("2\n1 0\n0 0\n", 4, "end of file"),
    ("1\n2 0\n0 1 1\n0 1 7\n", 4, "outside"),
    ("1\n2 0\n0 3 1\n0 1 0\n", 3, "announces 3"),
    ("1\n0 1\n", 2, "empty graphs"),
    ("1\n2 0\n0 1 1\n0 1 zero\n", 4, "neighbour index"),
    ("1\n2\n", 2, "n_nodes label"),
])
def test_malformed_files_name_the_line(tmp_path, text, line, message):
    folder = write_tu(tmp_path, text)
    with pytest.raises(TUFormatError, match=rf"TOY.txt:{line}: .*{message}"):
        load_tu(folder)


def test_bad_fold_file(tmp_path):
    folder = write_tu(tmp_path, TOY, folds=lambda i: ([0], [9]))
    with pytest.raises(TUFormatError, match=r"test_idx-1.txt:1: graph index 9"):
        load_tu(folder)


def test_missing_data_set():
    with pytest.raises(FileNotFoundError):
        load_tu("/nonexistent/folder/NOPE")
