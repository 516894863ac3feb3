"""Convolutional NTK: CNTK-V and CNTK-GAP of Arora et al. 2019 (MATH §8), offset-diagonal algorithm."""
import math
import numbers

import numpy as np

from . import _core
from . import progress as _progress
from ._gram_methods import GramMethods
from ._validation import available_memory, check_n_threads, check_positive_int, gram_outputs

READOUTS = ("gap", "flatten")


def as_images(X, name="X", channels_last=True):
    """Validate a batch of images and return it as a C-contiguous (n, H·W·C) float32/float64 array
    (channels last) together with (H, W, C).

    Accepts (n, H, W, C) (``channels_last=True``), (n, C, H, W) (``channels_last=False``) or
    (n, H, W) single-channel images.
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array of images, got {type(X).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real-valued numeric, got dtype {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[..., None]
    elif arr.ndim == 4:
        if not channels_last:
            arr = arr.transpose(0, 2, 3, 1)
    else:
        layout = "(n, H, W, C)" if channels_last else "(n, C, H, W)"
        hint = "; add a leading axis for a single image" if arr.ndim == 2 else ""
        raise ValueError(f"{name} must be a 4-D batch of images {layout} or a 3-D batch (n, H, W) of "
                         f"single-channel images, got shape {arr.shape}{hint}")
    if 0 in arr.shape:
        raise ValueError(f"{name} is empty: {arr.shape[0]} images of size {arr.shape[1:]} (n, H, W, C)")
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    n, H, W, C = arr.shape
    flat = np.ascontiguousarray(arr, dtype=dtype).reshape(n, H * W * C)
    if not np.isfinite(flat).all():
        bad = int(np.argwhere(~np.isfinite(flat))[0][0])
        raise ValueError(f"{name} contains NaN or inf (first in image {bad})")
    return flat, (H, W, C)


class PreparedImages:
    """Images of one side of a Gram, validated, with their per-image pass done: the per-layer pixel
    norms √Σ(x, x)[p, p] the core needs and the NNGP/NTK diagonals. Batching and distributed back
    ends prepare each side once and fill blocks from it (``len(P)``, ``P.rows(a, b)``)."""

    def __init__(self, X, shape, norms, nngp_diag, ntk_diag):
        self.X, self.shape, self.norms, self.nngp_diag, self.ntk_diag = X, shape, norms, nngp_diag, ntk_diag

    def __len__(self):
        return self.X.shape[0]

    def rows(self, start, stop):
        """The prepared images start:stop (views, no copy)."""
        cut = (lambda a: None if a is None else a[start:stop])
        return PreparedImages(self.X[start:stop], self.shape, self.norms[start:stop], cut(self.nngp_diag),
                              cut(self.ntk_diag))


class Convolutional(GramMethods):
    """NNGP and NTK of an infinitely wide convolutional network (CNTK, Arora et al. 2019; MATH §8).

    The network: ``depth − 1`` layers of 3×3 SAME convolution (stride 1, zero padding) each followed by
    ReLU, then the readout: ``readout="gap"`` (global average pooling, CNTK-GAP) or ``"flatten"``
    (flatten + dense, CNTK-V), then one dense output. ``depth`` (D ≥ 2) counts the convolution layers
    plus one, as in the paper and its code. Images may have any H×W×C; pass batches as
    ``(n, H, W, C)`` (``channels_last=True``, default), ``(n, C, H, W)`` (``channels_last=False``) or
    ``(n, H, W)`` (one channel).

    Conventions:

    * ``W_std=None`` (default): the scale of the reference CNTK code (Arora et al. 2019), so that its
      published hyper-parameters carry over: Σ₁ = conv3(Σ_c x_c ⊗ z_c), each ReLU step carries the
      factor c_σ/9 = 2/9, and the readout is the trace over pixels (CNTK-V) or the mean over all
      pixel pairs (CNTK-GAP) of Θ.
    * ``W_std=σ_w`` (a number): neural-tangents' 'ntk' parameterisation of ``stax.serial(*[Conv(·, (3, 3),
      padding='SAME', W_std, b_std), Relu()] * (depth − 1), Flatten() | GlobalAvgPool(), Dense(·, W_std,
      b_std))``, exactly. With ``σ_w = √2`` and no bias it equals the default convention times
      2/(C·H·W) (flatten) or 2/C (GAP): the global constant between the two (ReLU is positively
      homogeneous, so the first layer's scale 2/(9C) and the readout's 9/(H·W) or 9 carry through).

    ``b_std`` adds a bias variance b_std² after every convolution and in the readout (both conventions).
    ``fix=True`` is the reference code's ``fix`` option: the first convolution and the readout layer
    are not trained, i.e. their gradient terms leave the NTK (Θ starts at 0 after the first layer and
    the readout's own Σ is subtracted at the end). The NNGP does not depend on ``fix``.

    Cost per pair of images: O(H·W·(C + D)) for CNTK-V, O((H·W)²·D) for CNTK-GAP, with no O((H·W)²)
    memory. Results are deterministic for any thread count and tile size; a Gram of X with itself is
    exactly symmetric, and wherever two images are identical (to the bit) the entry equals
    :meth:`diag` of that image exactly (correlation 1 at equal pixels, in every Gram).
    """

    def __init__(self, depth, readout="gap", *, channels_last=True, fix=False, W_std=None, b_std=0.0):
        self.depth = check_positive_int(depth, "depth", 2)
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        self.readout = readout
        if not isinstance(channels_last, (bool, np.bool_)) or not isinstance(fix, (bool, np.bool_)):
            raise TypeError("channels_last and fix must be booleans")
        self.channels_last, self.fix = bool(channels_last), bool(fix)
        for value, label in ((W_std, "W_std"), (b_std, "b_std")):
            if value is not None and not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                                          and math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be a finite non-negative number, got {value!r}")
        if b_std is None:
            raise ValueError("b_std must be a finite non-negative number, got None")
        self.W_std = None if W_std is None else float(W_std)
        self.b_std = float(b_std)

    def __repr__(self):
        return (f"Convolutional(depth={self.depth}, readout={self.readout!r}, channels_last={self.channels_last}, "
                f"fix={self.fix}, W_std={self.W_std}, b_std={self.b_std})")

    @property
    def gap(self):
        return self.readout == "gap"

    def _spec(self, shape):
        """The coefficients of cntk.hpp for images of this shape."""
        H, W, C = shape
        P = H * W
        bias = self.b_std**2
        pool = 1.0 / (P * P) if self.gap else 1.0
        if self.W_std is None:  # reference code: Σ₁ = conv3(x·z), factor c_σ/9 at every ReLU step
            w0, w, w_out = 1.0, 2.0 / 9.0, 2.0 / 9.0 * pool
        else:  # neural-tangents: Conv averages over the 3×3 window and the C inputs, Flatten over P pixels
            var = self.W_std**2
            w0, w, w_out = var / (9.0 * C), var / 9.0, var * (pool if self.gap else 1.0 / P)
        return _core.CNTKSpec(self.depth, H, W, C, self.gap, self.fix, w0, bias, w, bias, w_out, bias)

    def _default_tile(self):
        return 4 if self.gap else 32

    # -- building blocks for batching / distributed back ends ------------------------------------
    def prepare(self, images, *, diagonal=True, n_threads=None):
        """Validate a batch of images and run the per-image pass (pixel norms and diagonals).

        With GAP the diagonal k(x, x) costs as much as a Gram entry; ``diagonal=False`` skips it
        (``nngp_diag``/``ntk_diag`` are then None; a Gram does not need them).
        """
        X, shape = as_images(images, "images", self.channels_last)
        return self._prepare_flat(X, shape, n_threads, diagonal)

    def _prepare_flat(self, X, shape, n_threads, diagonal=True):
        n, P = X.shape[0], shape[0] * shape[1]
        nbytes = n * (self.depth - 1) * P * X.dtype.itemsize
        avail = available_memory()
        if avail is not None and nbytes > avail:
            raise MemoryError(f"the per-pixel norms of {n} images need {nbytes / 2**30:.1f} GiB ({self.depth - 1} "
                              f"layers × {P} pixels each) but only {avail / 2**30:.1f} GiB is available; "
                              f"prepare the images in blocks (prepare(images[a:b]))")
        norms = np.empty((n, (self.depth - 1) * P), dtype=X.dtype)
        nngp_diag = np.empty((1, n), dtype=X.dtype)
        ntk_diag = np.empty((1, n), dtype=X.dtype)
        _core.cntk_prepare(self._spec(shape), X, norms, nngp_diag, ntk_diag, bool(diagonal),
                           check_n_threads(n_threads))
        if self.gap and not diagonal:
            return PreparedImages(X, shape, norms, None, None)
        return PreparedImages(X, shape, norms, nngp_diag[0], ntk_diag[0])

    def fill(self, P1, P2, out_nngp=None, out_ntk=None, *, symmetric=False, n_threads=None, tile_size=None,
             progress=False):
        """Write the Gram block of prepared images into out_nngp / out_ntk (2-D arrays or views with
        contiguous rows, e.g. a slice of a numpy.memmap). ``symmetric`` requires P2 to be P1.
        ``progress``: a tile progress bar (None: only on a terminal, for calls longer than 0.5 s)."""
        if P1.shape != P2.shape:
            raise ValueError(f"X1 images are {_fmt(P1.shape)} but X2 images are {_fmt(P2.shape)} (H×W×C)")
        if P1.X.dtype != P2.X.dtype:
            raise TypeError(f"prepared inputs have different dtypes ({P1.X.dtype}, {P2.X.dtype})")
        tile = self._default_tile() if tile_size is None else check_positive_int(tile_size, "tile_size", 1)
        with _progress.tiles(progress, "CNTK Gram") as report:
            _core.cntk_gram(self._spec(P1.shape), P1.X, P1.norms, P2.X, P2.norms, out_nngp, out_ntk,
                            bool(symmetric), tile, check_n_threads(n_threads), report)

    # -- public API ----------------------------------------------------------------------------------
    def _compute(self, X1, X2, want_nngp, want_ntk, n_threads, tile_size, out, progress):
        A, shape_a = as_images(X1, "X1", self.channels_last)
        symmetric = X2 is None or X2 is X1
        B, shape_b = (A, shape_a) if symmetric else as_images(X2, "X2", self.channels_last)
        if shape_a != shape_b:
            what = "channels" if shape_a[:2] == shape_b[:2] else "image sizes"
            raise ValueError(f"X1 and X2 have different {what}: {_fmt(shape_a)} vs {_fmt(shape_b)} (H×W×C)")
        if A.dtype != B.dtype:
            A, B = A.astype(np.float64), B.astype(np.float64)
        # X2 equal to X1 (a copy, another view) takes the symmetric path (half the pairs).
        symmetric = symmetric or (A.shape == B.shape and np.array_equal(A, B))
        shape = (A.shape[0], B.shape[0])
        outs, out_nngp, out_ntk = gram_outputs(out, shape, A.dtype, want_nngp, want_ntk)
        P1 = self._prepare_flat(A, shape_a, n_threads, diagonal=False)
        P2 = P1 if symmetric else self._prepare_flat(B, shape_b, n_threads, diagonal=False)
        self.fill(P1, P2, out_nngp, out_ntk, symmetric=symmetric, n_threads=n_threads, tile_size=tile_size,
                  progress=progress)
        return outs


def _fmt(shape):
    return "×".join(str(s) for s in shape)

