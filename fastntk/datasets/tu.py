"""TU graph benchmarks in the GIN/DGCNN text format, loaded as the official GNTK code loads them.

A data set folder holds ``<NAME>.txt`` (see ``_tu_parse.pyx`` for the layout) and ``10fold_idx/``
with ``train_idx-i.txt`` / ``test_idx-i.txt`` (i = 1..10, 0-based graph indices, one per line).

Node features (MATH §7) follow the official loader:

* bio data sets: one-hot of the node tag;
* social data sets (``degree_as_tag``; default for COLLAB, IMDBBINARY, IMDBMULTI): one-hot of the
  node degree, counted as networkx counts it (a listed self-loop counts 2). The official loader
  takes the degrees in networkx's node order, i.e. the order in which its graph first met the
  nodes (node j, then the neighbours listed on j's line, for j = 0, 1, ...), and assigns the i-th of
  them to node i, which under today's Python/networkx scrambles the degrees of most social graphs.
  ``tag_order="index"`` (default) gives every node its own degree and reproduces the published
  accuracies (IMDB-B 76.4 vs 76.9, COLLAB 83.3 vs 83.6, benchmarks/results/gntk.md);
  ``tag_order="networkx"`` replicates the official loader as it runs today.

Graph labels are renumbered 0..C-1 in order of first appearance, as the official loader does.
"""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..graphs import Graph, _hat_from_edges
from ._tu_parse import TUFormatError, parse_tu

__all__ = ["TUDataset", "load_tu", "SOCIAL_DATASETS", "TUFormatError"]

SOCIAL_DATASETS = frozenset({"COLLAB", "IMDBBINARY", "IMDBMULTI", "REDDITBINARY", "REDDITMULTI5K"})


@dataclass
class TUDataset:
    """A loaded TU data set: graphs, integer labels 0..C-1 and the 10 fixed folds."""

    name: str
    graphs: list
    labels: np.ndarray
    folds: list  # [(train_idx, test_idx)] * 10, or [] if the folder has no 10fold_idx/

    def __len__(self):
        return len(self.graphs)

    def __iter__(self):  # graphs, labels, folds = load_tu(...)
        return iter((self.graphs, self.labels, self.folds))


def _embedded_mutag():
    return Path(__file__).resolve().parent.parent / "data" / "MUTAG"


def _resolve(path):
    """A folder holding <NAME>.txt: the given folder, a .txt file, or a data set name looked up in
    the embedded data (MUTAG) and in the shared benchmark folder's tu/."""
    if path is None:
        return _embedded_mutag()
    p = Path(path)
    if p.is_file() and p.suffix == ".txt":
        return p.parent
    if p.is_dir():
        return p
    if os.sep not in str(path):
        from ..data_path import data_dir
        candidates = []
        if str(path).upper() == "MUTAG":
            candidates.append(_embedded_mutag())
        base = data_dir()
        if base is not None:
            candidates.append(base / "tu" / str(path))
        for c in candidates:
            if c.is_dir():
                return c
    raise FileNotFoundError(f"no TU data set at {path!r} (give a folder holding <NAME>.txt and 10fold_idx/, "
                            f"or a data set name found under $FASTNTK_DATA/tu)")


def _read_folds(folder, n_graphs):
    idx_dir = folder / "10fold_idx"
    if not idx_dir.is_dir():
        return []
    folds = []
    for i in range(1, 11):
        pair = []
        for kind in ("train", "test"):
            f = idx_dir / f"{kind}_idx-{i}.txt"
            if not f.is_file():
                raise FileNotFoundError(f"missing fold file {f}")
            values = []
            with open(f) as fh:
                for line_no, line in enumerate(fh, 1):
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        v = int(float(line))
                    except ValueError:
                        raise TUFormatError(f"{f}:{line_no}: expected a graph index, got {line!r}") from None
                    if not 0 <= v < n_graphs:
                        raise TUFormatError(f"{f}:{line_no}: graph index {v} outside 0..{n_graphs - 1}")
                    values.append(v)
            pair.append(np.array(values, dtype=np.int64))
        folds.append(tuple(pair))
    return folds


def load_tu(path=None, *, degree_as_tag=None, tag_order="index"):
    """Load a TU data set: returns a :class:`TUDataset` (unpacks as ``graphs, labels, folds``).

    ``path``: a folder holding ``<NAME>.txt`` (+ ``10fold_idx/``), the .txt file itself, a data set
    name (looked up under ``$FASTNTK_DATA/tu``), or None for the MUTAG copy shipped with fastntk.
    ``degree_as_tag``: one-hot degrees instead of node tags (default: True for social data sets).
    ``tag_order``: "index" (each node its own degree; default) or "networkx" (the official loader's
    order under today's Python, see the module docstring).
    """
    if tag_order not in ("networkx", "index"):
        raise ValueError(f"tag_order must be 'networkx' or 'index', got {tag_order!r}")
    folder = _resolve(path)
    name = folder.name
    txt = folder / f"{name}.txt"
    if not txt.is_file():
        found = sorted(folder.glob("*.txt"))
        if len(found) != 1:
            raise FileNotFoundError(f"expected {txt} in the data set folder")
        txt, name = found[0], found[0].stem
    if degree_as_tag is None:
        degree_as_tag = name.upper() in SOCIAL_DATASETS
    parsed = parse_tu(txt.read_bytes(), str(txt))
    n_nodes, raw_labels = parsed["n_nodes"], parsed["label"]
    node_off = np.concatenate([[0], np.cumsum(n_nodes)])
    nbr_ptr, nbr, order = parsed["nbr_ptr"], parsed["nbr"], parsed["order"]

    hats = []
    for g in range(len(n_nodes)):
        a, b = node_off[g], node_off[g + 1]
        src = np.repeat(np.arange(b - a), np.diff(nbr_ptr[a:b + 1]))
        dst = nbr[nbr_ptr[a]:nbr_ptr[b]]
        hats.append(_hat_from_edges(np.stack([src, dst], axis=1), int(b - a)))

    if degree_as_tag:
        tags = []
        for g, hat in enumerate(hats):
            deg = np.asarray(hat.sum(axis=1)).ravel().astype(np.int64) - 1  # networkx degree
            tags.append(deg[order[node_off[g]:node_off[g + 1]]] if tag_order == "networkx" else deg)
        tags = np.concatenate(tags)
    else:
        tags = parsed["tag"]
    # one-hot over the tag values of the whole data set (column order does not affect the kernel)
    values, column = np.unique(tags, return_inverse=True)
    d = len(values)
    graphs = []
    for g, hat in enumerate(hats):
        a, b = node_off[g], node_off[g + 1]
        X = sp.csr_matrix((np.ones(b - a), (np.arange(b - a), column[a:b])), shape=(b - a, d))
        graph = Graph.__new__(Graph)
        graph.hat, graph.features = hat, X
        graphs.append(graph)

    first = {}
    for v in raw_labels.tolist():
        first.setdefault(v, len(first))
    labels = np.array([first[v] for v in raw_labels.tolist()], dtype=np.int64)
    return TUDataset(name, graphs, labels, _read_folds(folder, len(graphs)))
