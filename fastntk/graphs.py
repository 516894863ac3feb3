"""Graph inputs for the Graph NTK (MATH §7).

A :class:`Graph` is an undirected graph with node features. Whatever the input form, it keeps the
operator the GNTK aggregates with, built exactly as the official GNTK code builds it from the edge
list: Â = A + Aᵀ + I with A holding every undirected edge once, so an edge contributes 1 to
Â_uv = Â_vu, a self-loop gives Â_uu = 3 and every other diagonal entry is 1.
"""
import numbers

import numpy as np
import scipy.sparse as sp

from ._validation import as_real_array

__all__ = ["Graph", "from_networkx"]


def _as_features(features, n_expected=None):
    """(n, d) float64 features: a dense array or a scipy.sparse matrix (kept sparse, as CSR)."""
    if sp.issparse(features):
        X = sp.csr_matrix(features, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"features must be 2-D (n_nodes, n_features), got shape {X.shape}")
        values = X.data
    else:
        X = as_real_array(features, "features")
        if X.ndim != 2:
            hint = "; use x.reshape(-1, 1) for one scalar feature per node" if X.ndim == 1 else ""
            raise ValueError(f"features must be 2-D (n_nodes, n_features), got shape {X.shape}{hint}")
        X = np.ascontiguousarray(X, dtype=np.float64)
        values = X
    if X.shape[0] == 0:
        raise ValueError("the graph is empty: it has no nodes")
    if X.shape[1] == 0:
        raise ValueError("features have no columns (shape (n, 0))")
    if not np.isfinite(values).all():
        raise ValueError("features contain NaN or inf")
    if n_expected is not None and X.shape[0] != n_expected:
        raise ValueError(f"adjacency has {n_expected} nodes but features have {X.shape[0]} rows")
    return X


def _hat_from_edges(edges, n):
    """Â = A + Aᵀ + I, A holding each distinct undirected edge once (self-loops once)."""
    if edges.size:
        lo, hi = np.minimum(edges[:, 0], edges[:, 1]), np.maximum(edges[:, 0], edges[:, 1])
        key = np.unique(lo * np.int64(n) + hi)
        lo, hi = key // n, key % n
    else:
        lo = hi = np.zeros(0, dtype=np.int64)
    A = sp.csr_matrix((np.ones(lo.size), (lo, hi)), shape=(n, n))
    hat = (A + A.T + sp.identity(n, format="csr")).tocsr()
    hat.sort_indices()
    return hat


class Graph:
    """An undirected graph with node features, input of :class:`fastntk.GraphNTK`.

    ``adjacency`` is one of

    * a scipy.sparse matrix or a dense (n, n) array: a symmetric 0/1 adjacency matrix (a 1 on the
      diagonal is a self-loop);
    * an edge list: an (m, 2) integer array or a list of (u, v) pairs with 0 <= u, v < n (each
      undirected edge may be listed once or in both directions; duplicates collapse; (u, u) is a
      self-loop). An (n, n) numpy array is read as a matrix; use :meth:`from_edges` to be explicit.

    ``features`` is an (n, d) array or scipy.sparse matrix of finite values (n >= 1 nodes).
    Isolated nodes are fine: Â keeps their self-connection.
    """

    __slots__ = ("hat", "features")

    def __init__(self, adjacency, features):
        X = _as_features(features)
        n = X.shape[0]
        if sp.issparse(adjacency) or (np.shape(adjacency) == (n, n) and (isinstance(adjacency, np.ndarray) or n != 2)):
            self.hat = self._hat_from_matrix(adjacency, n)
        else:
            self.hat = _hat_from_edges(self._edge_array(adjacency, n), n)
        self.features = X

    @classmethod
    def from_edges(cls, edges, features):
        """A graph from an explicit edge list (see the class docstring)."""
        g = cls.__new__(cls)
        g.features = _as_features(features)
        n = g.features.shape[0]
        g.hat = _hat_from_edges(cls._edge_array(edges, n), n)
        return g

    @staticmethod
    def _edge_array(edges, n):
        try:
            E = np.asarray(edges)
        except (TypeError, ValueError) as exc:
            raise TypeError("adjacency must be a matrix or an edge list of (u, v) pairs") from exc
        if E.size == 0:
            return np.zeros((0, 2), dtype=np.int64)
        if E.ndim != 2 or E.shape[1] != 2:
            raise ValueError(f"an edge list must have shape (m, 2), got {E.shape}; an adjacency matrix must be "
                             f"({n}, {n}) to match the {n} feature rows")
        if E.dtype.kind not in "iu":
            if E.dtype.kind != "f" or not np.all(np.isfinite(E)) or not np.all(E == np.round(E)):
                raise TypeError(f"edge list entries must be integers, got dtype {E.dtype}")
        E = E.astype(np.int64)
        bad = (E < 0) | (E >= n)
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise ValueError(f"edge {i} = {tuple(E[i])} refers to a node outside 0..{n - 1}")
        return E

    @staticmethod
    def _hat_from_matrix(adjacency, n):
        if sp.issparse(adjacency):
            A = sp.csr_matrix(adjacency, dtype=np.float64)
        else:
            a = np.asarray(adjacency)
            if a.dtype.kind not in "biuf":
                raise TypeError(f"adjacency must be numeric, got dtype {a.dtype}")
            A = sp.csr_matrix(a.astype(np.float64))
        if A.shape != (n, n):
            raise ValueError(f"adjacency must be ({n}, {n}) to match the features, got {A.shape}")
        A.eliminate_zeros()
        if not np.isfinite(A.data).all():
            raise ValueError("adjacency contains NaN or inf")
        if not np.all(A.data == 1.0):
            raise ValueError("adjacency must be a 0/1 matrix (the GNTK uses unweighted edges)")
        diff = (A - A.T).tocoo()
        diff.eliminate_zeros()
        if diff.nnz:
            i, j = int(diff.row[0]), int(diff.col[0])
            raise ValueError(f"adjacency is not symmetric: A[{i}, {j}] != A[{j}, {i}]")
        upper = sp.triu(A).tocoo()
        return _hat_from_edges(np.stack([upper.row, upper.col], axis=1).astype(np.int64), n)

    @property
    def n_nodes(self):
        return self.features.shape[0]

    @property
    def n_features(self):
        return self.features.shape[1]

    @property
    def degrees(self):
        """Node degrees as networkx counts them (a self-loop counts 2): row sums of Â − I."""
        return np.asarray(self.hat.sum(axis=1)).ravel().astype(np.int64) - 1

    def __repr__(self):
        m = (self.hat.nnz - self.n_nodes) // 2
        return f"Graph(n_nodes={self.n_nodes}, n_edges≈{m}, n_features={self.n_features})"


def from_networkx(G, feature=None):
    """A :class:`Graph` from a networkx graph.

    Nodes are taken in ``G.nodes`` order; edges are undirected (a DiGraph's (u, v) and (v, u) are one
    edge). ``feature`` is the name of a node attribute holding a number or a vector, an
    (n_nodes, d) array in node order, or None for a constant feature 1 on every node.
    """
    nodes = list(G.nodes)
    if not nodes:
        raise ValueError("the graph is empty: it has no nodes")
    index = {v: i for i, v in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in G.edges()], dtype=np.int64).reshape(-1, 2)
    if feature is None:
        X = np.ones((len(nodes), 1))
    elif isinstance(feature, str):
        rows = []
        for v in nodes:
            if feature not in G.nodes[v]:
                raise ValueError(f"node {v!r} has no attribute {feature!r}")
            value = G.nodes[v][feature]
            rows.append(np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
                        if not isinstance(value, numbers.Number) else np.array([float(value)]))
        if len({r.size for r in rows}) != 1:
            raise ValueError(f"attribute {feature!r} has vectors of different lengths")
        X = np.stack(rows)
    else:
        X = feature
    return Graph.from_edges(edges, X)
