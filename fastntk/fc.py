"""Fully-connected NNGP and NTK (MATH §1–§3)."""
import math

import numpy as np

from . import _core
from . import activations as _activations
from . import progress as _progress
from ._gram_methods import GramMethods
from ._validation import as_points, check_n_threads, check_positive_int, gram_outputs

DEFAULT_TILE = 128


class Prepared:
    """Inputs of one side of a Gram, validated and with their per-point pass done.

    Holds the C-contiguous points, the per-layer row statistics the core needs, the NNGP/NTK
    diagonals and ``table_range``: the largest variance a Custom activation's quadrature table spans in
    the recursion they were computed with (None for the other activations). Batching and distributed back
    ends prepare each side once and fill blocks from it.
    """

    def __init__(self, X, stats, nngp_diag, ntk_diag, table_range):
        self.X, self.stats, self.nngp_diag, self.ntk_diag = X, stats, nngp_diag, ntk_diag
        self.table_range = table_range

    def __len__(self):
        return self.X.shape[0]

    @property
    def dtype(self):
        """The dtype the Gram is computed in (that of the points)."""
        return self.X.dtype

    def rows(self, start, stop):
        """The prepared points start:stop (a cheap copy of O((stop-start)·depth) statistics)."""
        return Prepared(self.X[start:stop], np.ascontiguousarray(self.stats[:, start:stop]),
                        self.nngp_diag[start:stop], self.ntk_diag[start:stop], self.table_range)


class FullyConnected(GramMethods):
    """NNGP and NTK of an infinitely wide fully-connected network with ``depth`` hidden layers.

    Conventions (MATH §1):

    * ``W_std=None`` (default): the seeds' convention, Σ⁽⁰⁾ = xᵀx', layer weight variance c_σ
      (so c_σ = 2 for ReLU), no bias unless ``b_std`` is given.
    * ``W_std=σ_w`` (a number): neural-tangents' 'ntk' parameterisation of
      ``stax.serial(*([Dense(·, W_std, b_std), act] * depth), Dense(·, W_std, b_std))``:
      Σ⁽⁰⁾ = σ_w²·xᵀx'/d + σ_b², each later layer Σ ← σ_w²·T(Σ) + σ_b² with no c_σ factor.

    ``fix`` freezes the bottom ``fix`` weight layers (their gradient terms leave the NTK sum;
    ``fix=depth`` gives the NNGP). ``input_scale`` overrides the factor on xᵀx' (1 for the seeds,
    1/d for the W_std convention); e.g. the UCI protocol of MATH §9 is
    ``FullyConnected(dep, W_std=1.0, input_scale=1.0, fix=fix)``.
    """

    def __init__(self, depth, activation="relu", W_std=None, b_std=0.0, fix=0, input_scale=None):
        self.depth = check_positive_int(depth, "depth", 0)
        self.fix = check_positive_int(fix, "fix", 0)
        if self.fix > self.depth:
            raise ValueError(f"fix must be between 0 and depth={self.depth}, got {fix}")
        self.activation = _activations.get(activation)
        for value, label in ((W_std, "W_std"), (b_std, "b_std"), (input_scale, "input_scale")):
            if value is not None and not (isinstance(value, (int, float, np.floating, np.integer))
                                          and math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be a finite non-negative number, got {value!r}")
        self.W_std = None if W_std is None else float(W_std)
        self.b_std = float(b_std)
        self.input_scale = None if input_scale is None else float(input_scale)

    def __repr__(self):
        return (f"FullyConnected(depth={self.depth}, activation={self.activation!r}, W_std={self.W_std}, "
                f"b_std={self.b_std}, fix={self.fix}, input_scale={self.input_scale})")

    # -- the recursion's coefficients ------------------------------------------------------------
    def _coefficients(self, d):
        """(w0, b0, w, b) of fc.hpp: Σ_0 = w0·xᵀx' + b0, Σ_h = w·T(Σ_{h-1}) + b."""
        bias = self.b_std**2
        if self.W_std is None:
            scale = 1.0 if self.input_scale is None else self.input_scale
            return scale, bias, self.activation.c_sigma, bias
        var = self.W_std**2
        scale = 1.0 / d if self.input_scale is None else self.input_scale
        return var * scale, bias, var, bias

    def _max_variance(self, *Xs):
        """Largest Σ_h(x, x) over the inputs and layers (only a Custom activation's table needs it)."""
        w0, b0, w, b = self._coefficients(Xs[0].shape[1])
        z, wq = _activations.hermite_rule(self.activation.order)
        a = np.concatenate([w0 * np.einsum("ij,ij->i", X, X, dtype=np.float64) + b0 for X in Xs])
        top = a.max()
        for _ in range(self.depth):
            a = w * (self.activation.fn(np.sqrt(a)[:, None] * z[None, :]) ** 2 @ wq) + b
            top = max(top, a.max())
        return float(top)

    def _table_range(self, *Xs):
        return self._max_variance(*Xs) if isinstance(self.activation, _activations.Custom) else None

    def _spec(self, d, table_range):
        w0, b0, w, b = self._coefficients(d)
        return _core.FCSpec(self.depth, self.fix, w0, b0, w, b, self.activation._spec(table_range))

    # -- building blocks for batching / distributed back ends ------------------------------------
    def prepare(self, X, *, n_threads=None):
        """Validate X and run the per-point pass (row statistics and diagonals)."""
        X = as_points(X, "X")
        return self._prepare(X, self._table_range(X), n_threads)

    def prepare_pair(self, X1, X2, *, n_threads=None):
        """Both sides of an X1 × X2 Gram prepared with one recursion, as ``ntk(X1, X2)`` does (it matters
        for a Custom activation, whose quadrature table then spans both inputs)."""
        A, B = as_points(X1, "X1"), as_points(X2, "X2")
        if A.shape[1] != B.shape[1]:
            raise ValueError(f"X1 has {A.shape[1]} features but X2 has {B.shape[1]}")
        if A.dtype != B.dtype:
            A, B = A.astype(np.float64), B.astype(np.float64)
        table_range = self._table_range(A, B)
        return self._prepare(A, table_range, n_threads), self._prepare(B, table_range, n_threads)

    def _prepare(self, X, table_range, n_threads):
        n = X.shape[0]
        stats = np.empty((3 * self.depth, n), dtype=X.dtype)
        nngp_diag = np.empty((1, n), dtype=X.dtype)
        ntk_diag = np.empty((1, n), dtype=X.dtype)
        _core.fc_point_pass(self._spec(X.shape[1], table_range), X, stats, nngp_diag, ntk_diag, check_n_threads(n_threads))
        if not (np.isfinite(stats).all() and np.isfinite(nngp_diag).all() and np.isfinite(ntk_diag).all()):
            raise ValueError("the kernel overflows for these inputs (|x| too large for the "
                             f"{X.dtype} recursion); rescale X")
        return Prepared(X, stats, nngp_diag[0], ntk_diag[0], table_range)

    def fill(self, P1, P2, out_nngp=None, out_ntk=None, *, symmetric=False, n_threads=None, tile_size=None,
             progress=False):
        """Write the Gram block of prepared inputs into out_nngp / out_ntk (2-D arrays or views with
        contiguous rows, e.g. a slice of a numpy.memmap). ``symmetric`` requires P2 to be P1.
        ``progress``: a tile progress bar (None: only on a terminal, for calls longer than 0.5 s)."""
        if P1.X.shape[1] != P2.X.shape[1]:
            raise ValueError(f"X1 has {P1.X.shape[1]} features but X2 has {P2.X.shape[1]}")
        same = P1.table_range == P2.table_range
        spec = self._spec(P1.X.shape[1], P1.table_range if same else self._table_range(P1.X, P2.X))
        tile = DEFAULT_TILE if tile_size is None else check_positive_int(tile_size, "tile_size", 1)
        with _progress.tiles(progress, "FC Gram") as report:
            _core.fc_gram(spec, P1.X, P1.stats, P2.X, P2.stats, out_nngp, out_ntk, bool(symmetric), tile,
                          check_n_threads(n_threads), report)

    # -- public API ----------------------------------------------------------------------------------
    def _compute(self, X1, X2, want_nngp, want_ntk, n_threads, tile_size, out, progress):
        A = as_points(X1, "X1")
        B = A if X2 is None or X2 is X1 else as_points(X2, "X2")
        # X2 equal to X1 (a copy, another view) takes the symmetric path: ρ(x, x) = 1 exactly on the
        # diagonal, half the work, and a result bitwise equal to ntk(X1).
        symmetric = B is A or (B.shape == A.shape and B.dtype == A.dtype and np.array_equal(A, B))
        if symmetric:
            P1 = P2 = self._prepare(A, self._table_range(A), n_threads)
        else:
            P1, P2 = self.prepare_pair(A, B, n_threads=n_threads)
        shape = (len(P1), len(P2))
        outs, out_nngp, out_ntk = gram_outputs(out, shape, P1.dtype, want_nngp, want_ntk)
        self.fill(P1, P2, out_nngp, out_ntk, symmetric=symmetric, n_threads=n_threads, tile_size=tile_size,
                  progress=progress)
        return outs
