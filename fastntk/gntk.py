"""Graph Neural Tangent Kernel (Du et al. 2019), MATH §7.

Parameters map to the official GNTK code as follows:

============================  ===========================================
fastntk                        official ``GNTK(num_layers, num_mlp_layers, jk, scale)``
============================  ===========================================
``num_blocks = B``             ``num_layers = B + 1`` (it counts the input layer)
``num_mlp_layers = R``         ``num_mlp_layers = R``
``neighbor_pooling="sum"``     ``scale="uniform"``  (P = Â)
``neighbor_pooling="mean"``    ``scale="degree"``   (P = D̂⁻¹Â, i.e. divide by |N(u)| + 1)
``jumping_knowledge``          ``jk``
``graph_pooling="sum"``        the official readout (which also multiplies by 2, a constant
                               that ``Gram / Gram.min()`` removes; fastntk does not)
============================  ===========================================

The packing step may merge nodes whose rows of the node-pair matrices are provably equal at every
layer (``compress=True``): nodes with equal features that stay equal under colour refinement with
Â, i.e. the classes of an equitable partition. Merged nodes keep their multiplicity in the readout
and the aggregation operators are summed over each merged class, which leaves every kernel value
unchanged (up to float rounding) and shrinks the work on graphs with many structurally identical
nodes (social networks: ≈5× on COLLAB, ≈16× on IMDB-BINARY).
"""
import numpy as np
import scipy.sparse as sp

from . import _core
from ._validation import allocate_outputs, available_memory, check_n_threads, check_positive_int
from .graphs import Graph

__all__ = ["GraphNTK", "PreparedGraphs"]

DEFAULT_TILE_NODES = 512
MAX_REFINE_ENTRIES = 1 << 25


def _row_ids(M):
    """Index of each row of M among its distinct rows (rows compared bit for bit)."""
    M = np.ascontiguousarray(M, dtype=np.float64) + 0.0  # + 0.0 turns -0.0 into 0.0
    rows = M.view(np.dtype((np.void, M.dtype.itemsize * M.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].ravel()


def _classes(hat, X):
    """Class index per node of the coarsest equitable partition (w.r.t. Â) refining equal features.
    (Graphs too large for the dense refinement keep one class per node: still exact, just unmerged.)"""
    n = hat.shape[0]
    if n * max(X.shape[1], n) > MAX_REFINE_ENTRIES:
        return np.arange(n), n
    dense = X.toarray() if sp.issparse(X) else X
    col = _row_ids(dense)
    k = int(col.max()) + 1
    while k < n:
        sig = hat @ np.eye(k)[col]  # summed Â weights towards each class: integers, exact
        new = _row_ids(np.column_stack([col, sig]))
        k_new = int(new.max()) + 1
        col = new
        if k_new == k:
            break
        k = k_new
    return col, k


def _check_work_memory(max_nodes):
    """The core keeps dense node-pair matrices: 3·n² doubles per thread for the largest graph n in the
    per-graph pass, and 3·n·(n + tile) in the Gram. Refuse up front rather than fail inside OpenMP."""
    need = 8 * 3 * max_nodes * (2 * max_nodes + DEFAULT_TILE_NODES) * _core.max_threads()
    avail = available_memory()
    if avail is not None and need > avail:
        raise MemoryError(f"a graph with {max_nodes} (merged) nodes needs {need / 2**30:.1f} GiB of dense node-pair "
                          f"work space but only {avail / 2**30:.1f} GiB is available")


class PreparedGraphs:
    """Graphs packed into the flat arrays of the C++ core, with their per-graph pass done.

    Batching and distributed back ends prepare each side once and fill Gram blocks from
    ``rows(a, b)`` slices (no data is copied).
    """

    def __init__(self, arrays, start, stop, n_features, config):
        self.arrays, self.start, self.stop = arrays, start, stop
        self.n_features, self.config = n_features, config

    def __len__(self):
        return self.stop - self.start

    def rows(self, start, stop):
        """The prepared graphs start:stop of this block."""
        start, stop, _ = slice(start, stop).indices(len(self))
        return PreparedGraphs(self.arrays, self.start + start, self.start + max(start, stop), self.n_features,
                              self.config)

    @property
    def n_nodes(self):
        """Node count of each graph of the block (before any merging of equivalent nodes)."""
        return self.arrays[5][self.start:self.stop].astype(np.int64)


class GraphNTK:
    """The GNTK of a GIN-style graph network (MATH §7), NTK and NNGP, as Gram matrices.

    ``num_blocks``: B >= 1 aggregation blocks (official ``num_layers = B + 1``).
    ``num_mlp_layers``: R >= 1 ReLU layers after each aggregation.
    ``neighbor_pooling``: "sum" (P = Â) or "mean" (P = D̂⁻¹Â).
    ``graph_pooling``: "sum" or "mean" (divides by n_G·n_H).
    ``jumping_knowledge``: read out the sum of all layers including the raw input (official JK),
    else the last layer only.
    ``compress``: merge structurally equivalent nodes before computing (exact; see module doc).
    """

    def __init__(self, num_blocks=1, num_mlp_layers=2, neighbor_pooling="sum", graph_pooling="sum",
                 jumping_knowledge=True, compress=True):
        self.num_blocks = check_positive_int(num_blocks, "num_blocks", 1)
        self.num_mlp_layers = check_positive_int(num_mlp_layers, "num_mlp_layers", 1)
        if neighbor_pooling not in ("sum", "mean"):
            raise ValueError(f"neighbor_pooling must be 'sum' or 'mean', got {neighbor_pooling!r}")
        if graph_pooling not in ("sum", "mean"):
            raise ValueError(f"graph_pooling must be 'sum' or 'mean', got {graph_pooling!r}")
        self.neighbor_pooling = neighbor_pooling
        self.graph_pooling = graph_pooling
        self.jumping_knowledge = bool(jumping_knowledge)
        self.compress = bool(compress)

    def __repr__(self):
        return (f"GraphNTK(num_blocks={self.num_blocks}, num_mlp_layers={self.num_mlp_layers}, "
                f"neighbor_pooling={self.neighbor_pooling!r}, graph_pooling={self.graph_pooling!r}, "
                f"jumping_knowledge={self.jumping_knowledge})")

    @property
    def official_num_layers(self):
        """``num_layers`` of the official GNTK code for this kernel (num_blocks + 1)."""
        return self.num_blocks + 1

    @property
    def _steps(self):
        return self.num_blocks * self.num_mlp_layers

    # -- packing ----------------------------------------------------------------------------------
    def _pack(self, graphs):
        """Flat arrays of the core (gntk.hpp: GraphSet) for a list of graphs, built with whole-set
        sparse operations (one Python step per graph only for the validation and node merging)."""
        graphs = list(graphs)
        if not graphs:
            raise ValueError("no graphs given")
        d = None
        hats, feats, sizes, classes = [], [], [], []
        for i, g in enumerate(graphs):
            if not isinstance(g, Graph):
                raise TypeError(f"graph {i} is a {type(g).__name__}, expected fastntk.Graph")
            X = g.features
            if d is None:
                d = X.shape[1]
            elif X.shape[1] != d:
                raise ValueError(f"graph {i} has {X.shape[1]} node features but graph 0 has {d}")
            n = X.shape[0]
            col, k = _classes(g.hat, X) if self.compress else (np.arange(n), n)
            hats.append(g.hat)
            feats.append(X)
            sizes.append(n)
            classes.append((col, k))
        sizes = np.array(sizes, dtype=np.int64)
        node_start = np.concatenate([[0], np.cumsum(sizes)])
        counts = np.array([k for _, k in classes], dtype=np.int64)
        class_start = np.concatenate([[0], np.cumsum(counts)])
        _check_work_memory(int(counts.max()))
        N, K, G = int(node_start[-1]), int(class_start[-1]), len(graphs)

        # block-diagonal Â and the aggregation operator P (MATH §7)
        hat = sp.block_diag(hats, format="csr")
        if self.neighbor_pooling == "mean":
            hat = sp.diags(1.0 / np.asarray(hat.sum(axis=1)).ravel()) @ hat
        graph_of_node = np.repeat(np.arange(G), sizes)
        graph_of_class = np.repeat(np.arange(G), counts)
        gcol = np.concatenate([col for col, _ in classes]) + class_start[graph_of_node]
        rep = np.full(K, N, dtype=np.int64)
        np.minimum.at(rep, gcol, np.arange(N))
        weight = np.bincount(gcol, minlength=K).astype(np.float64)
        member = sp.csr_matrix((np.ones(N), (np.arange(N), gcol)), shape=(N, K))
        Pc = sp.csr_matrix(hat[rep] @ member)  # summed P weights towards each merged class
        Pc.sort_indices()
        adj_col = (Pc.indices - class_start[np.repeat(graph_of_class, np.diff(Pc.indptr))]).astype(np.int32)

        # Y = P X on the kept nodes, and the per-graph compact feature columns
        if all(sp.issparse(X) for X in feats):
            X_all = sp.vstack(feats, format="csr")
        else:
            X_all = np.vstack([X.toarray() if sp.issparse(X) else X for X in feats])
        Xc = X_all[rep]
        Y = sp.coo_matrix(Pc @ Xc)
        Xc = sp.coo_matrix(Xc)
        X_coo = sp.coo_matrix(X_all)
        keep = Y.data != 0
        y_row, y_col, y_val = Y.row[keep], Y.col[keep], Y.data[keep]
        xc_keep = Xc.data != 0
        keys = np.unique(np.concatenate([graph_of_class[y_row] * d + y_col,
                                         graph_of_class[Xc.row[xc_keep]] * d + Xc.col[xc_keep]]))
        feat_off = np.searchsorted(keys, np.arange(G + 1) * d).astype(np.int64)
        feat_col = (keys % d).astype(np.int32)
        ncols = np.diff(feat_off)
        y_off = np.concatenate([[0], np.cumsum(counts * ncols)]).astype(np.int64)
        g_y = graph_of_class[y_row]
        pos = (y_off[g_y] + (y_row - class_start[g_y]) * ncols[g_y]
               + np.searchsorted(keys, g_y * d + y_col) - feat_off[g_y])
        Y_flat = np.zeros(int(y_off[-1]))
        Y_flat[pos] = y_val
        feat_sum = np.zeros(len(keys))
        x_keep = X_coo.data != 0
        g_x = graph_of_node[X_coo.row[x_keep]]
        np.add.at(feat_sum, np.searchsorted(keys, g_x * d + X_coo.col[x_keep]), X_coo.data[x_keep])

        steps = self._steps
        arrays = (
            class_start.astype(np.int64),
            Pc.indptr.astype(np.int64),
            adj_col,
            Pc.data.astype(np.float64),
            weight,
            sizes.astype(np.float64),
            feat_off,
            feat_col,
            feat_sum,
            y_off,
            Y_flat,
            np.zeros(steps * K),
            np.zeros(steps * K),
        )
        return arrays, d

    def _config(self):
        return (self.num_blocks, self.num_mlp_layers, self.neighbor_pooling, self.compress)

    # -- building blocks for batching / distributed back ends ---------------------------------------
    def prepare(self, graphs, *, n_threads=None):
        """Validate and pack ``graphs`` (a sequence of :class:`fastntk.Graph`) and run the per-graph pass."""
        arrays, d = self._pack(graphs)
        _core.gntk_prepare(self.num_blocks, self.num_mlp_layers, arrays, check_n_threads(n_threads))
        return PreparedGraphs(arrays, 0, len(arrays[0]) - 1, d, self._config())

    def fill(self, P1, P2, out_nngp=None, out_ntk=None, *, symmetric=False, n_threads=None, tile_nodes=None):
        """Write the Gram block of prepared graphs into out_nngp / out_ntk (float64 2-D arrays or views
        with contiguous rows, shape (len(P1), len(P2))). ``symmetric`` requires P2 to be P1."""
        for P in (P1, P2):
            if not isinstance(P, PreparedGraphs):
                raise TypeError("fill needs blocks returned by GraphNTK.prepare (or their .rows)")
            if P.config != self._config():
                raise ValueError("these graphs were prepared by a GraphNTK with different settings")
        if P1.n_features != P2.n_features:
            raise ValueError(f"graphs1 have {P1.n_features} node features but graphs2 have {P2.n_features}")
        if symmetric and not (P1.arrays is P2.arrays and P1.start == P2.start and P1.stop == P2.stop):
            raise ValueError("symmetric=True needs the same prepared block on both sides")
        tile = DEFAULT_TILE_NODES if tile_nodes is None else check_positive_int(tile_nodes, "tile_nodes", 1)
        _core.gntk_gram(self.num_blocks, self.num_mlp_layers, self.jumping_knowledge, self.graph_pooling == "mean",
                        P1.arrays, P1.start, P1.stop, P2.arrays, P2.start, P2.stop, out_nngp, out_ntk,
                        bool(symmetric), tile, check_n_threads(n_threads))

    # -- public API ------------------------------------------------------------------------------------
    def _compute(self, graphs1, graphs2, want_nngp, want_ntk, n_threads, tile_nodes, out):
        symmetric = graphs2 is None or graphs2 is graphs1
        P1 = self.prepare(graphs1, n_threads=n_threads)
        P2 = P1 if symmetric else self.prepare(graphs2, n_threads=n_threads)
        if P1.n_features != P2.n_features:
            raise ValueError(f"graphs1 have {P1.n_features} node features but graphs2 have {P2.n_features}")
        shape = (len(P1), len(P2))
        count = int(want_nngp) + int(want_ntk)
        if out is not None:
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            if len(outs) != count:
                raise ValueError(f"out must hold {count} array(s)")
            for o in outs:
                if not isinstance(o, np.ndarray) or o.shape != shape or o.dtype != np.float64:
                    raise ValueError(f"out arrays must be float64 numpy arrays of shape {shape}")
        else:
            outs = allocate_outputs(shape, np.float64, count)
        self.fill(P1, P2, outs[0] if want_nngp else None, outs[-1] if want_ntk else None, symmetric=symmetric,
                  n_threads=n_threads, tile_nodes=tile_nodes)
        return outs

    def ntk(self, graphs1, graphs2=None, *, n_threads=None, tile_nodes=None, out=None):
        """GNTK Gram (graphs2=None: the symmetric Gram of graphs1, computed on the upper triangle)."""
        return self._compute(graphs1, graphs2, False, True, n_threads, tile_nodes, out)[0]

    def nngp(self, graphs1, graphs2=None, *, n_threads=None, tile_nodes=None, out=None):
        """NNGP analogue of the GNTK (S in place of T in the recursion)."""
        return self._compute(graphs1, graphs2, True, False, n_threads, tile_nodes, out)[0]

    def kernels(self, graphs1, graphs2=None, *, n_threads=None, tile_nodes=None, out=None):
        """(NNGP, NTK) Grams computed in one pass."""
        nngp, ntk = self._compute(graphs1, graphs2, True, True, n_threads, tile_nodes, out)
        return nngp, ntk
