"""The public Gram methods shared by kernel objects built on ``_compute`` and ``prepare``.

A subclass provides ``_compute(X1, X2, want_nngp, want_ntk, n_threads, tile_size, out, progress)`` returning
the list of filled arrays, and ``prepare(X, n_threads=...)`` returning an object with ``nngp_diag``
and ``ntk_diag``.

Every Gram method takes ``progress``: None (default) shows a tile progress bar when stderr is a
terminal, tqdm is installed and the call runs longer than half a second; True always; False never.
"""


class GramMethods:
    def nngp(self, X1, X2=None, *, n_threads=None, tile_size=None, out=None, progress=None):
        """NNGP Gram of X1 against X2 (X2=None: the symmetric Gram of X1, computed on the upper triangle)."""
        return self._compute(X1, X2, True, False, n_threads, tile_size, out, progress)[0]

    def ntk(self, X1, X2=None, *, n_threads=None, tile_size=None, out=None, progress=None):
        """NTK Gram of X1 against X2 (X2=None: the symmetric Gram of X1)."""
        return self._compute(X1, X2, False, True, n_threads, tile_size, out, progress)[0]

    def kernels(self, X1, X2=None, *, n_threads=None, tile_size=None, out=None, progress=None):
        """(NNGP, NTK) computed in one pass; ``out`` may be a (nngp, ntk) pair of arrays to fill."""
        nngp, ntk = self._compute(X1, X2, True, True, n_threads, tile_size, out, progress)
        return nngp, ntk

    def diag(self, X, get="ntk", *, n_threads=None):
        """Diagonal k(x_i, x_i): get='ntk', 'nngp' or 'both' (a tuple (nngp, ntk))."""
        if get not in ("ntk", "nngp", "both"):
            raise ValueError(f"get must be 'ntk', 'nngp' or 'both', got {get!r}")
        P = self.prepare(X, n_threads=n_threads)
        return {"ntk": P.ntk_diag, "nngp": P.nngp_diag, "both": (P.nngp_diag, P.ntk_diag)}[get]
