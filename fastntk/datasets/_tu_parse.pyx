# cython: boundscheck=False, wraparound=False, cdivision=True
"""Parser of the GIN/DGCNN text format of the TU graph benchmarks (``<NAME>.txt``).

Layout: the number of graphs; then for each graph a line ``n label`` followed by n node lines
``tag k v_1 .. v_k [attributes]`` listing the k neighbours (0-based, inside the graph) of the node.
Everything is parsed at C level over the raw bytes into flat arrays; every error names its line.
"""
import numpy as np
cimport numpy as cnp

cnp.import_array()


class TUFormatError(ValueError):
    """A malformed TU text file; the message names the file and line."""


cdef inline Py_ssize_t _skip_blank(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) nogil:
    while i < n and (s[i] == 32 or s[i] == 9 or s[i] == 13):
        i += 1
    return i


cdef inline bint _at_eol(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) nogil:
    return i >= n or s[i] == 10


cdef inline Py_ssize_t _read_int(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, long long* out) nogil:
    """Parse a decimal integer at i; returns the position after it, or -1 if the token is not one."""
    cdef long long v = 0, sg = 1
    cdef int digits = 0
    if i < n and (s[i] == 45 or s[i] == 43):
        sg = -1 if s[i] == 45 else 1
        i += 1
    while i < n and 48 <= s[i] <= 57:
        v = v * 10 + (s[i] - 48)
        i += 1
        digits += 1
    if digits == 0 or digits > 18 or (i < n and not (s[i] == 32 or s[i] == 9 or s[i] == 13 or s[i] == 10)):
        return -1
    out[0] = v * sg
    return i


cdef Py_ssize_t _int_or_fail(bytes data, const unsigned char* s, Py_ssize_t i, Py_ssize_t n, long long* out,
                             long long line, str what, str where) except -2:
    cdef Py_ssize_t r = _read_int(s, i, n, out)
    cdef Py_ssize_t end = i
    if r >= 0:
        return r
    while end < n and not (s[end] == 32 or s[end] == 9 or s[end] == 13 or s[end] == 10):
        end += 1
    token = data[i:end].decode("utf-8", "replace")
    raise TUFormatError(f"{where}:{line}: expected an integer ({what}), got {token!r}")




def _fail(where, msg, line):
    raise TUFormatError(f"{where}:{line}: {msg}")


def parse_tu(bytes data, str where="<data>"):
    """Parse the TU text format.

    Returns a dict of numpy arrays: ``n_nodes`` and ``label`` per graph; ``tag`` per node;
    ``nbr_ptr`` / ``nbr`` (CSR of the listed neighbours, local indices) per node; ``order``, the
    local node indices of each graph in the order in which the official loader's networkx graph
    first sees them (node j, then its listed neighbours, for j = 0, 1, ...).
    """
    cdef const unsigned char* s = data
    cdef Py_ssize_t n = len(data), i = 0, start
    cdef long long line = 1, value, sign
    cdef long long n_graphs, g, nn, j, k, t, label, offset

    # ---- header
    i = _skip_blank(s, i, n)
    while i < n and s[i] == 10:
        line += 1
        i = _skip_blank(s, i + 1, n)
    if i >= n:
        _fail(where, "empty file: expected the number of graphs", line)

    i = _int_or_fail(data, s, i, n, &value, line, "number of graphs", where)
    n_graphs = value
    if n_graphs < 1:
        _fail(where, f"the number of graphs must be >= 1, got {n_graphs}", line)
    i = _skip_blank(s, i, n)
    if not _at_eol(s, i, n):
        _fail(where, "extra tokens after the number of graphs", line)

    cdef cnp.int64_t[::1] n_nodes = np.zeros(n_graphs, dtype=np.int64)
    cdef cnp.int64_t[::1] labels = np.zeros(n_graphs, dtype=np.int64)
    tags_list = []
    ptr_list = []
    nbr_list = []
    order_list = []
    cdef cnp.int64_t[::1] tag_buf, ptr_buf, order_buf, seen
    cdef cnp.int64_t[::1] nbr_buf = np.empty(1024, dtype=np.int64)
    cdef long long nbr_count, cap, n_order

    for g in range(n_graphs):
        # next non-empty line: "n label"
        if i < n and s[i] == 10:
            i += 1
            line += 1
        i = _skip_blank(s, i, n)
        while i < n and s[i] == 10:
            line += 1
            i = _skip_blank(s, i + 1, n)
        if i >= n:
            _fail(where, f"unexpected end of file: {n_graphs} graphs announced, {g} found", line)
        i = _int_or_fail(data, s, i, n, &value, line, "number of nodes", where)
        nn = value
        i = _skip_blank(s, i, n)
        if _at_eol(s, i, n):
            _fail(where, "a graph line must hold 'n_nodes label'", line)
        i = _int_or_fail(data, s, i, n, &value, line, "graph label", where)
        label = value
        i = _skip_blank(s, i, n)
        if not _at_eol(s, i, n):
            _fail(where, "extra tokens after 'n_nodes label'", line)
        if nn < 1:
            _fail(where, f"graph {g} has {nn} nodes: empty graphs are not allowed", line)
        n_nodes[g] = nn
        labels[g] = label
        tag_buf = np.empty(nn, dtype=np.int64)
        ptr_buf = np.empty(nn + 1, dtype=np.int64)
        order_buf = np.empty(nn, dtype=np.int64)
        seen = np.zeros(nn, dtype=np.int64)
        ptr_buf[0] = 0
        nbr_count = 0
        n_order = 0
        for j in range(nn):
            if i < n and s[i] == 10:
                i += 1
                line += 1
            i = _skip_blank(s, i, n)
            if i >= n:
                _fail(where, f"unexpected end of file inside graph {g} (node {j} of {nn})", line)
            if s[i] == 10:
                _fail(where, f"empty line inside graph {g} (node {j} of {nn})", line)
            i = _int_or_fail(data, s, i, n, &value, line, "node tag", where)
            tag_buf[j] = value
            i = _skip_blank(s, i, n)
            if _at_eol(s, i, n):
                _fail(where, "a node line must hold 'tag n_neighbours neighbours...'", line)
            i = _int_or_fail(data, s, i, n, &value, line, "number of neighbours", where)
            k = value
            if k < 0:
                _fail(where, f"negative number of neighbours {k}", line)
            if not seen[j]:
                seen[j] = 1
                order_buf[n_order] = j
                n_order += 1
            cap = nbr_buf.shape[0]
            if nbr_count + k > cap:
                grown = np.empty(max(2 * cap, nbr_count + k), dtype=np.int64)
                grown[:nbr_count] = np.asarray(nbr_buf[:nbr_count])
                nbr_buf = grown
            for t in range(k):
                i = _skip_blank(s, i, n)
                if _at_eol(s, i, n):
                    _fail(where, f"node {j} announces {k} neighbours but lists {t}", line)
                i = _int_or_fail(data, s, i, n, &value, line, "neighbour index", where)
                if value < 0 or value >= nn:
                    _fail(where, f"neighbour {value} of node {j} is outside 0..{nn - 1}", line)
                nbr_buf[nbr_count] = value
                nbr_count += 1
                if not seen[value]:
                    seen[value] = 1
                    order_buf[n_order] = value
                    n_order += 1
            ptr_buf[j + 1] = nbr_count
            # optional node attributes: the official loader reads them and never uses them
            while i < n and s[i] != 10:
                i += 1
        tags_list.append(np.asarray(tag_buf))
        ptr_list.append(np.asarray(ptr_buf))
        nbr_list.append(np.asarray(nbr_buf[:nbr_count]).copy())
        order_list.append(np.asarray(order_buf))

    counts = np.array([len(x) for x in nbr_list], dtype=np.int64)
    offsets = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts)])
    nbr_ptr = np.concatenate([np.zeros(1, dtype=np.int64)] + [p[1:] + o for p, o in zip(ptr_list, offsets)])
    return {
        "n_nodes": np.asarray(n_nodes),
        "label": np.asarray(labels),
        "tag": np.concatenate(tags_list),
        "nbr_ptr": nbr_ptr,
        "nbr": np.concatenate(nbr_list),
        "order": np.concatenate(order_list),
    }
