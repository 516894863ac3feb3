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
from . import progress as _progress
from ._validation import available_memory, check_n_threads, check_positive_int, gram_outputs
from .graphs import Graph

__all__ = ["GraphNTK", "PreparedGraphs"]

DEFAULT_TILE_NODES = 512
MAX_REFINE_ENTRIES = 1 << 25
PACK_CHUNK_NNZ = 1 << 21


def _row_ids(M):
    """Index of each row of M among its distinct rows (rows compared bit for bit)."""
    M = np.ascontiguousarray(M, dtype=np.float64) + 0.0  # + 0.0 turns -0.0 into 0.0
    rows = M.view(np.dtype((np.void, M.dtype.itemsize * M.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].ravel()


def _verify_rows(ids, ptr, keys, values):
    """True if every row r (its sequence (keys, values)[ptr[r]:ptr[r+1]]) equals the sequence of the
    first row carrying the same id."""
    n = len(ids)
    first = np.full(int(ids.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, ids, np.arange(n))
    rep = first[ids]
    length = np.diff(ptr)
    if not np.array_equal(length, length[rep]):
        return False
    other = np.repeat(ptr[rep], length) + (np.arange(len(keys)) - np.repeat(ptr[:-1], length))
    return bool(np.array_equal(keys, keys[other]) and np.array_equal(values, values[other]))


def _refine(hat, graph_of_node, X_all):
    """Colour refinement of the block-diagonal Â of all graphs, starting from equal (graph, feature
    row): the coarsest equitable partition refining them (class id per node). Colours are grouped by
    wrapping 64-bit hashes, which are independent of summation order; the final partition is then
    checked exactly (equal feature rows, equal summed Â weights towards every class), and None is
    returned in the vanishingly rare case of a hash collision."""
    rng = np.random.default_rng(20190917)
    n = hat.shape[0]
    X = sp.csr_matrix(X_all)
    X.sort_indices()
    x_len = np.diff(X.indptr)
    x_row = np.repeat(np.arange(n), x_len)
    col_key = rng.integers(1, 2**63, size=X.shape[1] + 1, dtype=np.uint64) | np.uint64(1)
    g_key = rng.integers(1, 2**63, size=int(graph_of_node.max()) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = col_key[X.indices] * (X.data.view(np.uint64) ^ np.uint64(0x9E3779B97F4A7C15))
        h = g_key[graph_of_node].copy()
        np.add.at(h, x_row, mixed)
    colours = np.unique(h, return_inverse=True)[1].ravel()
    hat = sp.csr_matrix(hat)
    hat.sort_indices()
    row_ptr = hat.indptr.astype(np.int64)  # every row holds at least its diagonal entry
    rows = np.repeat(np.arange(n), np.diff(row_ptr))
    nbr = hat.indices.astype(np.int64)
    weight = hat.data.astype(np.uint64)  # Â has small integer entries
    k = int(colours.max()) + 1
    while True:
        key = rng.integers(1, 2**63, size=k, dtype=np.uint64)
        with np.errstate(over="ignore"):
            h = colours.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
            h += np.add.reduceat(weight * key[colours[nbr]], row_ptr[:-1])
        new = np.unique(h, return_inverse=True)[1].ravel()
        k_new = int(new.max()) + 1
        colours = new
        if k_new == k:
            break
        k = k_new
    # exact checks of the final partition
    if not np.array_equal(graph_of_node, graph_of_node[_first_of(colours)[colours]]):
        return None
    x_ptr = X.indptr.astype(np.int64)
    if not _verify_rows(colours, x_ptr, X.indices, X.data):
        return None
    c = colours[nbr]
    order = np.argsort(rows * k + c, kind="stable")
    r_s, c_s, v_s = rows[order], c[order], hat.data[order]
    new_pair = np.ones(len(r_s), dtype=bool)
    new_pair[1:] = (r_s[1:] != r_s[:-1]) | (c_s[1:] != c_s[:-1])
    starts = np.flatnonzero(new_pair)
    ptr = np.searchsorted(r_s[starts], np.arange(n + 1))
    if not _verify_rows(colours, ptr, c_s[starts], np.add.reduceat(v_s, starts)):
        return None
    return colours


def _block_diag(blocks, sizes):
    """Block-diagonal CSR of square CSR blocks (faster than scipy.sparse.block_diag for many blocks)."""
    start = np.concatenate([[0], np.cumsum(sizes)])
    nnz = np.array([b.nnz for b in blocks], dtype=np.int64)
    nnz_start = np.concatenate([[0], np.cumsum(nnz)])
    indptr = np.concatenate([[0]] + [b.indptr[1:].astype(np.int64) + nnz_start[i] for i, b in enumerate(blocks)])
    indices = np.concatenate([b.indices.astype(np.int64) for b in blocks]) + np.repeat(start[:-1], nnz)
    data = np.concatenate([b.data for b in blocks]).astype(np.float64)
    return sp.csr_matrix((data, indices, indptr), shape=(int(start[-1]), int(start[-1])))


def _first_of(ids):
    first = np.full(int(ids.max()) + 1, len(ids), dtype=np.int64)
    np.minimum.at(first, ids, np.arange(len(ids)))
    return first


def _classes(hat, X):
    """Per-graph exact fallback of the refinement: class index per node of the coarsest equitable
    partition (w.r.t. Â) refining equal features."""
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
        hats, feats, sizes = [], [], []
        for i, g in enumerate(graphs):
            if not isinstance(g, Graph):
                raise TypeError(f"graph {i} is a {type(g).__name__}, expected fastntk.Graph")
            X = g.features
            if d is None:
                d = X.shape[1]
            elif X.shape[1] != d:
                raise ValueError(f"graph {i} has {X.shape[1]} node features but graph 0 has {d}")
            hats.append(g.hat)
            feats.append(X)
            sizes.append(X.shape[0])
        # pack in chunks of about PACK_CHUNK_NNZ adjacency entries, to bound the temporaries
        nnz = np.array([h.nnz for h in hats], dtype=np.int64)
        bounds, acc = [0], 0
        for i, z in enumerate(nnz):
            acc += int(z)
            if acc >= PACK_CHUNK_NNZ and i + 1 < len(hats):
                bounds.append(i + 1)
                acc = 0
        bounds.append(len(hats))
        parts = [self._pack_chunk(hats[a:b], feats[a:b], d) for a, b in zip(bounds[:-1], bounds[1:])]

        def joined_offsets(index):
            out, base = [np.zeros(1, dtype=np.int64)], 0
            for p in parts:
                out.append(p[index][1:] + base)
                base += int(p[index][-1])
            return np.concatenate(out)

        counts = np.diff(joined_offsets(0))
        _check_work_memory(int(counts.max()))
        K = int(counts.sum())
        steps = self._steps
        arrays = (
            joined_offsets(0),
            joined_offsets(1),
            np.concatenate([p[2] for p in parts]),
            np.concatenate([p[3] for p in parts]),
            np.concatenate([p[4] for p in parts]),
            np.concatenate([p[5] for p in parts]),
            joined_offsets(6),
            np.concatenate([p[7] for p in parts]),
            np.concatenate([p[8] for p in parts]),
            joined_offsets(9),
            np.concatenate([p[10] for p in parts]),
            np.zeros(steps * K),
            np.zeros(steps * K),
            # level classes of each block, filled by the per-graph pass (gntk.hpp)
            np.zeros(len(counts) * self.num_blocks, dtype=np.int32),
            np.zeros(self.num_blocks * K, dtype=np.int32),
            np.zeros(self.num_blocks * K, dtype=np.int32),
            np.zeros(self.num_blocks * K),
        )
        return arrays, d

    def _pack_chunk(self, hats, feats, d):
        """The first 11 core arrays (offsets starting at 0) for consecutive graphs."""
        sizes = np.array([X.shape[0] for X in feats], dtype=np.int64)
        N, G = int(sizes.sum()), len(feats)
        graph_of_node = np.repeat(np.arange(G), sizes)
        hat = _block_diag(hats, sizes)  # block-diagonal Â of all graphs (MATH §7)
        if all(sp.issparse(X) for X in feats):
            X_all = sp.vstack(feats, format="csr")
        else:
            X_all = np.vstack([X.toarray() if sp.issparse(X) else X for X in feats])

        # merged node classes: global ids, numbered graph by graph
        if self.compress:
            colours = _refine(hat, graph_of_node, X_all)
            if colours is None:  # hash collision (vanishingly rare): exact per-graph refinement
                node_start = np.concatenate([[0], np.cumsum(sizes)])
                per = [_classes(h, X) for h, X in zip(hats, feats)]
                colours = np.concatenate([c + node_start[i] for i, (c, _) in enumerate(per)])
            first = _first_of(colours)
            used = np.flatnonzero(first < N)
            rank = np.empty(int(colours.max()) + 1, dtype=np.int64)
            rank[used[np.argsort(first[used], kind="stable")]] = np.arange(len(used))
            gcol = rank[colours]
        else:
            gcol = np.arange(N)
        K = int(gcol.max()) + 1
        graph_of_class = np.zeros(K, dtype=np.int64)
        graph_of_class[gcol] = graph_of_node
        counts = np.bincount(graph_of_class, minlength=G).astype(np.int64)
        class_start = np.concatenate([[0], np.cumsum(counts)])

        if self.neighbor_pooling == "mean":  # the aggregation operator P
            hat = sp.diags(1.0 / np.asarray(hat.sum(axis=1)).ravel()) @ hat
        rep = np.full(K, N, dtype=np.int64)
        np.minimum.at(rep, gcol, np.arange(N))
        weight = np.bincount(gcol, minlength=K).astype(np.float64)
        member = sp.csr_matrix((np.ones(N), (np.arange(N), gcol)), shape=(N, K))
        Pc = sp.csr_matrix(hat[rep] @ member)  # summed P weights towards each merged class
        Pc.sort_indices()
        adj_col = (Pc.indices - class_start[np.repeat(graph_of_class, np.diff(Pc.indptr))]).astype(np.int32)

        # Y = P X on the kept nodes, and the per-graph compact feature columns
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

        return (class_start.astype(np.int64), Pc.indptr.astype(np.int64), adj_col, Pc.data.astype(np.float64),
                weight, sizes.astype(np.float64), feat_off, feat_col, feat_sum, y_off, Y_flat)

    def _config(self):
        return (self.num_blocks, self.num_mlp_layers, self.neighbor_pooling, self.compress)

    # -- building blocks for batching / distributed back ends ---------------------------------------
    def prepare(self, graphs, *, n_threads=None):
        """Validate and pack ``graphs`` (a sequence of :class:`fastntk.Graph`) and run the per-graph pass."""
        arrays, d = self._pack(graphs)
        _core.gntk_prepare(self.num_blocks, self.num_mlp_layers, arrays, check_n_threads(n_threads))
        return PreparedGraphs(arrays, 0, len(arrays[0]) - 1, d, self._config())

    def fill(self, P1, P2, out_nngp=None, out_ntk=None, *, symmetric=False, n_threads=None, tile_nodes=None,
             progress=False):
        """Write the Gram block of prepared graphs into out_nngp / out_ntk (float64 2-D arrays or views
        with contiguous rows, shape (len(P1), len(P2))). ``symmetric`` requires P2 to be P1.
        ``progress``: a progress bar (None: only on a terminal, for calls longer than 0.5 s)."""
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
        with _progress.tiles(progress, "GNTK Gram") as report:
            _core.gntk_gram(self.num_blocks, self.num_mlp_layers, self.jumping_knowledge,
                            self.graph_pooling == "mean", P1.arrays, P1.start, P1.stop, P2.arrays, P2.start, P2.stop,
                            out_nngp, out_ntk, bool(symmetric), tile, check_n_threads(n_threads), report)

    # -- public API ------------------------------------------------------------------------------------
    def _compute(self, graphs1, graphs2, want_nngp, want_ntk, n_threads, tile_nodes, out, progress):
        symmetric = graphs2 is None or graphs2 is graphs1
        P1 = self.prepare(graphs1, n_threads=n_threads)
        P2 = P1 if symmetric else self.prepare(graphs2, n_threads=n_threads)
        if P1.n_features != P2.n_features:
            raise ValueError(f"graphs1 have {P1.n_features} node features but graphs2 have {P2.n_features}")
        shape = (len(P1), len(P2))
        outs, out_nngp, out_ntk = gram_outputs(out, shape, np.float64, want_nngp, want_ntk)
        self.fill(P1, P2, out_nngp, out_ntk, symmetric=symmetric, n_threads=n_threads, tile_nodes=tile_nodes,
                  progress=progress)
        return outs

    def ntk(self, graphs1, graphs2=None, *, n_threads=None, tile_nodes=None, out=None, progress=None):
        """GNTK Gram (graphs2=None: the symmetric Gram of graphs1, computed on the upper triangle).
        ``progress``: None shows a bar on a terminal for calls longer than 0.5 s; True always; False never."""
        return self._compute(graphs1, graphs2, False, True, n_threads, tile_nodes, out, progress)[0]

    def nngp(self, graphs1, graphs2=None, *, n_threads=None, tile_nodes=None, out=None, progress=None):
        """NNGP analogue of the GNTK (S in place of T in the recursion)."""
        return self._compute(graphs1, graphs2, True, False, n_threads, tile_nodes, out, progress)[0]

    def kernels(self, graphs1, graphs2=None, *, n_threads=None, tile_nodes=None, out=None, progress=None):
        """(NNGP, NTK) Grams computed in one pass."""
        nngp, ntk = self._compute(graphs1, graphs2, True, True, n_threads, tile_nodes, out, progress)
        return nngp, ntk
