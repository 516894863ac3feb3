"""Empirical NTK (eNTK) and pseudo-NTK (pNTK) of finite MLPs without Jacobians (MATH §5).

An :class:`MLP` holds explicit weights and biases (numpy arrays) and computes

    z^h = α_h W^h g^{h−1} + β_h b^h,   g^h = γ_h σ(z^h),   g^0 = x,   f(x) = z^{L+1} ∈ ℝ^O.

Because ∂f_o/∂W^h = α_h B_h[o]ᵀ g^{h−1}ᵀ is an outer product (B_h the O×d_h cotangent of layer h),
eNTK(x, x') = Σ_h (α_h² ⟨g^{h−1}(x), g^{h−1}(x')⟩ + β_h²) B_h(x) B_h(x')ᵀ. The per-point passes
(forward features, backward cotangents: O(N·width·O) work) run here with numpy; the O(N1·N2)
contraction runs tile by tile in the C++ core (``src_cpp/fastntk/entk.hpp``).

Parameterisations (the coefficients α_h, β_h, γ_h):

* ``"ntk"`` with ``W_std=None``: the seeds' convention of MATH §1: α_h = 1, γ_h = √(c_σ/d_h),
  β_h = b_std, all parameters N(0, 1). Its eNTK converges to ``FullyConnected(L, σ, b_std=b_std).ntk``
  ⊗ I_O as the width grows.
* ``"ntk"`` with ``W_std=s``: neural-tangents' 'ntk' parameterisation, α_h = s/√d_{h−1}, β_h = b_std,
  γ_h = 1, parameters N(0, 1); the limit is ``FullyConnected(L, σ, W_std=s, b_std=b_std).ntk`` ⊗ I_O.
* ``"standard"``: α = β = γ = 1 (PyTorch's ``nn.Linear``); :func:`init_mlp` draws W ~ N(0, W_std²/fan_in)
  and b ~ N(0, b_std²).

Optional PyTorch interoperability (``pip install fastntk[torch]``): :meth:`MLP.from_torch`,
:meth:`MLP.to_torch`, and :func:`torch_entk`, the torch.func reference (Jacobian contraction or
NTK-vector products) that works for any module.
"""
import copy
import math
import numbers

import numpy as np

from . import _core
from . import activations as _activations
from . import progress as _progress
from ._validation import allocate_outputs, as_points, available_memory, check_n_threads, check_positive_int

_MODES = {"full": 0, "trace": 1, "diagonal": 2}
_PARAMETERIZATIONS = ("ntk", "standard")


def _require_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError("this function needs PyTorch: pip install 'fastntk[torch]'") from exc
    return torch


def _check_std(value, name, allow_none):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return float(value)


class MLP:
    """A finite fully-connected network with explicit parameters.

    ``weights[h]`` has shape (d_{h+1}, d_h) (PyTorch's ``nn.Linear.weight`` layout) for h = 0..L;
    ``biases`` is None (no bias parameters) or a list of vectors of length d_{h+1}. The output
    dimension is O = d_{L+1}. See the module docstring for ``parameterization``, ``W_std`` and ``b_std``.
    """

    def __init__(self, weights, biases=None, activation="relu", parameterization="ntk", W_std=None, b_std=0.0):
        if parameterization not in _PARAMETERIZATIONS:
            raise ValueError(f"parameterization must be one of {_PARAMETERIZATIONS}, got {parameterization!r}")
        self.parameterization = parameterization
        self.activation = _activations.get(activation)
        self.W_std = _check_std(W_std, "W_std", allow_none=True)
        self.b_std = _check_std(b_std, "b_std", allow_none=False)
        if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)) or len(weights) == 0:
            raise TypeError("weights must be a non-empty list of 2-D arrays (one per layer)")
        self.weights = []
        for h, W in enumerate(weights):
            W = np.array(W, dtype=np.float64)
            if W.ndim != 2 or W.size == 0:
                raise ValueError(f"weights[{h}] must be a non-empty 2-D array, got shape {W.shape}")
            if h > 0 and W.shape[1] != self.weights[-1].shape[0]:
                raise ValueError(f"weights[{h}] has {W.shape[1]} inputs but weights[{h - 1}] has "
                                 f"{self.weights[-1].shape[0]} outputs")
            if not np.isfinite(W).all():
                raise ValueError(f"weights[{h}] contains NaN or inf")
            self.weights.append(W)
        if biases is None:
            self.biases = None
        else:
            if not isinstance(biases, (list, tuple)) or len(biases) != len(self.weights):
                raise ValueError(f"biases must be None or a list of {len(self.weights)} vectors")
            self.biases = []
            for h, b in enumerate(biases):
                b = np.array(b, dtype=np.float64)
                if b.shape != (self.weights[h].shape[0],):
                    raise ValueError(f"biases[{h}] must have shape ({self.weights[h].shape[0]},), got {b.shape}")
                if not np.isfinite(b).all():
                    raise ValueError(f"biases[{h}] contains NaN or inf")
                self.biases.append(b)

    # -- structure ---------------------------------------------------------------------------------
    @property
    def widths(self):
        """[d_0, d_1, ..., d_{L+1}]: input dimension, hidden widths, output dimension O."""
        return [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]

    @property
    def depth(self):
        """Number of hidden layers L."""
        return len(self.weights) - 1

    @property
    def n_outputs(self):
        return self.weights[-1].shape[0]

    @property
    def n_params(self):
        return sum(W.size for W in self.weights) + (0 if self.biases is None else sum(b.size for b in self.biases))

    def coefficients(self):
        """Per-layer (α_h, β_h, γ_h) for h = 1..L+1 (γ_{L+1} = 1: the output is linear)."""
        d = self.widths
        n = len(self.weights)
        if self.parameterization == "standard":
            alpha, beta, gamma = [1.0] * n, [1.0] * n, [1.0] * n
        elif self.W_std is None:  # the seeds' convention, MATH §1
            c = self.activation.c_sigma
            alpha, beta = [1.0] * n, [self.b_std] * n
            gamma = [math.sqrt(c / d[h + 1]) for h in range(n - 1)] + [1.0]
        else:  # neural-tangents 'ntk'
            alpha = [self.W_std / math.sqrt(d[h]) for h in range(n)]
            beta, gamma = [self.b_std] * n, [1.0] * n
        if self.biases is None:
            beta = [0.0] * n
        return alpha, beta, gamma

    def __repr__(self):
        return (f"MLP(widths={self.widths}, activation={self.activation!r}, "
                f"parameterization={self.parameterization!r}, W_std={self.W_std}, b_std={self.b_std}, "
                f"bias={self.biases is not None})")

    def reinitialize(self, seed=None):
        """A new MLP of the same architecture and parameterisation with freshly drawn parameters."""
        return init_mlp(self.widths, self.activation, parameterization=self.parameterization, W_std=self.W_std,
                        b_std=self.b_std, bias=self.biases is not None, seed=seed)

    # -- passes ----------------------------------------------------------------------------------------
    def _passes(self, X, readout):
        """Forward features g^{h−1} (N, d_{h−1}) and backward cotangents B_h as (N·R, d_h) arrays,
        h = 1..L+1, for the readout matrix `readout` (R×O) applied to f: B_{L+1} = readout."""
        dtype = X.dtype
        alpha, beta, gamma = self.coefficients()
        act = self.activation
        n_layers = len(self.weights)
        feats, dsig = [], []
        g = X
        out = None
        for h in range(n_layers):
            feats.append(g)
            z = (g @ self.weights[h].T.astype(dtype, copy=False)) * dtype.type(alpha[h])
            if self.biases is not None and beta[h] != 0.0:
                z += (beta[h] * self.biases[h]).astype(dtype)
            if h < n_layers - 1:
                dsig.append((gamma[h] * np.asarray(act.dfn(z))).astype(dtype, copy=False))
                g = np.ascontiguousarray((gamma[h] * np.asarray(act.fn(z))).astype(dtype, copy=False))
            else:
                out = z
        N, R = X.shape[0], readout.shape[0]
        # Cotangents as (N·R, d_h) matrices, row (i, r) = B_h(x_i)[r]; B_{L+1} = readout for every x.
        B = np.ascontiguousarray(np.broadcast_to(readout.astype(dtype), (N, R, readout.shape[1]))).reshape(N * R, -1)
        cots = [None] * n_layers
        cots[-1] = B
        for h in range(n_layers - 2, -1, -1):  # B_h = (B_{h+1} α_{h+1} W^{h+1}) ∘ γ_h σ'(z^h)
            B = B @ (alpha[h + 1] * self.weights[h + 1]).astype(dtype)
            B.reshape(N, R, -1)[...] *= dsig[h][:, None, :]
            cots[h] = B
        return out, feats, cots

    def __call__(self, X):
        """The network outputs f(X), shape (N, O)."""
        X = self._check_inputs(X, "X")
        out, _, _ = self._passes(X, np.eye(self.n_outputs))
        return out

    def _check_inputs(self, X, name):
        X = as_points(X, name)
        if X.shape[1] != self.widths[0]:
            raise ValueError(f"{name} has {X.shape[1]} features but the MLP expects {self.widths[0]}")
        return X

    # -- PyTorch interoperability ------------------------------------------------------------------------
    @classmethod
    def from_torch(cls, module):
        """Convert an ``nn.Sequential`` of ``nn.Linear`` layers separated by one kind of activation
        (ReLU, LeakyReLU, Tanh, Sigmoid, GELU(approximate='none'), Softplus(beta=1)) into a
        'standard'-parameterised MLP with the same parameters."""
        torch = _require_torch()
        nn = torch.nn
        if not isinstance(module, nn.Sequential):
            raise TypeError(f"from_torch expects an nn.Sequential, got {type(module).__name__}; use torch_entk "
                            f"for arbitrary modules")
        layers = list(module)
        if len(layers) == 0 or len(layers) % 2 == 0:
            raise ValueError("the Sequential must alternate Linear, activation, ..., Linear")
        weights, biases, acts = [], [], []
        for k, layer in enumerate(layers):
            if k % 2 == 0:
                if not isinstance(layer, nn.Linear):
                    raise ValueError(f"layer {k} must be nn.Linear, got {type(layer).__name__}")
                weights.append(layer.weight.detach().cpu().double().numpy())
                biases.append(None if layer.bias is None else layer.bias.detach().cpu().double().numpy())
            else:
                acts.append(_activation_from_torch(layer, k))
        if any((b is None) != (biases[0] is None) for b in biases):
            raise ValueError("either every Linear layer has a bias or none has")
        if any(a != acts[0] for a in acts):
            raise ValueError("all activations must be the same")
        activation = acts[0] if acts else "relu"
        return cls(weights, None if biases[0] is None else biases, activation, parameterization="standard")

    def to_torch(self, dtype=None):
        """An ``nn.Module`` computing the same function of the same parameters (with this MLP's
        α, β, γ), so that torch.func's eNTK can be compared with :func:`entk`."""
        torch = _require_torch()
        return _scaled_mlp_class()(self, dtype or torch.float64)


def _activation_from_torch(layer, k):
    torch = _require_torch()
    nn = torch.nn
    if isinstance(layer, nn.ReLU):
        return _activations.ReLU()
    if isinstance(layer, nn.LeakyReLU):
        return _activations.LeakyReLU(layer.negative_slope)
    if isinstance(layer, nn.Tanh):
        return _activations.Tanh()
    if isinstance(layer, nn.Sigmoid):
        return _activations.Sigmoid()
    if isinstance(layer, nn.GELU) and layer.approximate == "none":
        return _activations.Gelu()
    if isinstance(layer, nn.Softplus) and layer.beta == 1:
        return _activations.Softplus()
    raise ValueError(f"layer {k}: unsupported activation module {layer!r}")


def _torch_activation(activation):
    """σ as a torch function (the same formulas as fastntk.activations)."""
    torch = _require_torch()
    F = torch.nn.functional
    a = activation
    if isinstance(a, _activations.ABReLU):
        return lambda z: torch.where(z < 0, a.a * z, a.b * z)
    table = {
        "erf": torch.special.erf,
        "gelu": lambda z: F.gelu(z, approximate="none"),
        "tanh": torch.tanh,
        "sin": torch.sin,
        "sigmoid": torch.sigmoid,
        "softplus": lambda z: torch.logaddexp(z, torch.zeros_like(z)),
    }
    if isinstance(a, _activations.Custom) or a.name not in table:
        raise ValueError(f"activation {a!r} has no torch equivalent")
    return table[a.name]


_SCALED_MLP = None


def _scaled_mlp_class():
    global _SCALED_MLP
    if _SCALED_MLP is None:
        torch = _require_torch()

        class ScaledMLP(torch.nn.Module):
            """z^h = α_h W^h g^{h−1} + β_h b^h, g^h = γ_h σ(z^h) (fastntk.empirical.MLP as a torch module)."""

            def __init__(self, mlp, dtype):
                super().__init__()
                self.alpha, self.beta, self.gamma = mlp.coefficients()
                self.sigma = _torch_activation(mlp.activation)
                self.weights = torch.nn.ParameterList(
                    [torch.nn.Parameter(torch.tensor(W, dtype=dtype)) for W in mlp.weights])
                self.biases = None if mlp.biases is None else torch.nn.ParameterList(
                    [torch.nn.Parameter(torch.tensor(b, dtype=dtype)) for b in mlp.biases])

            def forward(self, x):
                n = len(self.weights)
                for h in range(n):
                    x = self.alpha[h] * (x @ self.weights[h].T)
                    if self.biases is not None:
                        x = x + self.beta[h] * self.biases[h]
                    if h < n - 1:
                        x = self.gamma[h] * self.sigma(x)
                return x

        _SCALED_MLP = ScaledMLP
    return _SCALED_MLP


def init_mlp(widths, activation="relu", *, parameterization="ntk", W_std=None, b_std=None, bias=True, seed=None):
    """Draw an MLP at initialisation.

    ``widths`` = [d_0, d_1, ..., d_L, O]. 'ntk': every weight and bias N(0, 1) (the scales live in α, β, γ);
    b_std defaults to 0, in which case the net has no bias parameters. 'standard': W ~ N(0, W_std²/fan_in)
    with W_std defaulting to √c_σ (He initialisation for ReLU), b ~ N(0, b_std²) with b_std defaulting to 0
    (zero but trainable biases). ``seed`` is anything numpy.random.default_rng accepts.
    """
    if parameterization not in _PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {_PARAMETERIZATIONS}, got {parameterization!r}")
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) < 2:
        raise ValueError(f"widths must list at least an input and an output dimension, got {widths!r}")
    widths = [check_positive_int(w, "every width", 1) for w in widths]
    act = _activations.get(activation)
    W_std = _check_std(W_std, "W_std", allow_none=True)
    b_std = 0.0 if b_std is None else _check_std(b_std, "b_std", allow_none=False)
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for h in range(len(widths) - 1):
        fan_in, fan_out = widths[h], widths[h + 1]
        W = rng.standard_normal((fan_out, fan_in))
        b = rng.standard_normal(fan_out)
        if parameterization == "standard":
            s = math.sqrt(act.c_sigma) if W_std is None else W_std
            W *= s / math.sqrt(fan_in)
            b *= b_std
        weights.append(W)
        biases.append(b)
    has_bias = bias and (parameterization == "standard" or b_std > 0.0)
    return MLP(weights, biases if has_bias else None, act, parameterization=parameterization, W_std=W_std,
               b_std=b_std)


# -- eNTK and pNTK ------------------------------------------------------------------------------------------
def _default_tile(mode, rows_per_point):
    # About 240 GEMM rows per tile side in 'full' mode (O rows per point), 128 points otherwise.
    return max(4, 240 // rows_per_point) if mode == "full" else 128


def _contract(mlp, X1, X2, readout, mode, n_threads, tile_size, progress):
    if not isinstance(mlp, MLP):
        raise TypeError(f"expected a fastntk.empirical.MLP, got {type(mlp).__name__} (use MLP.from_torch, or "
                        f"torch_entk for other modules)")
    A = mlp._check_inputs(X1, "X1")
    symmetric = X2 is None or X2 is X1
    B = A if symmetric else mlp._check_inputs(X2, "X2")
    if A.dtype != B.dtype:
        A, B = A.astype(np.float64), B.astype(np.float64)
    nt = check_n_threads(n_threads)
    R = readout.shape[0]
    K = {"full": R * R, "trace": 1, "diagonal": R}[mode]
    tile = (_default_tile(mode, R) if tile_size is None
            else check_positive_int(tile_size, "tile_size", 1))
    n_points = A.shape[0] + (0 if symmetric else B.shape[0])
    work = n_points * (R * sum(mlp.widths[1:]) + sum(mlp.widths[:-1])) * A.dtype.itemsize
    avail = available_memory()
    if avail is not None and work > avail:
        raise MemoryError(f"the per-layer features and cotangents need {work / 2**30:.1f} GiB but only "
                          f"{avail / 2**30:.1f} GiB is available; use fewer points per call or pntk()")
    (out,) = allocate_outputs((A.shape[0], B.shape[0] * K), A.dtype, 1)
    _, feats1, cots1 = mlp._passes(A, readout)
    feats2, cots2 = (feats1, cots1) if symmetric else mlp._passes(B, readout)[1:]
    alpha, beta, _ = mlp.coefficients()
    with _progress.tiles(progress, "eNTK Gram") as report:
        _core.entk_gram(feats1, cots1, feats2, cots2, [a * a for a in alpha], [b * b for b in beta], R,
                        _MODES[mode], out, symmetric, tile, nt, report)
    return out


def entk(mlp, X1, X2=None, mode="full", *, n_threads=None, tile_size=None, progress=None):
    """Empirical NTK of ``mlp`` (MATH §5): Θ̂(x, x')[o, p] = Σ_θ ∂f_o(x)/∂θ · ∂f_p(x')/∂θ.

    mode='full': shape (N1, N2, O, O); 'trace': (N1, N2), Σ_o Θ̂[o, o]; 'diagonal': (N1, N2, O).
    X2=None gives the symmetric Gram of X1 (exactly symmetric). float32 inputs compute in float32.
    Memory: the output plus O(N·Σ_h d_h·O) for the cotangents. ``progress``: a tile progress bar
    (None: only on a terminal, for calls longer than 0.5 s).
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
    O = mlp.n_outputs if isinstance(mlp, MLP) else 1
    out = _contract(mlp, X1, X2, np.eye(O), mode, n_threads, tile_size, progress)
    n1 = out.shape[0]
    return {"full": lambda: out.reshape(n1, -1, O, O), "trace": lambda: out,
            "diagonal": lambda: out.reshape(n1, -1, O)}[mode]()


def pntk(mlp, X1, X2=None, *, n_threads=None, tile_size=None, progress=None):
    """pNTK (Mohamadi et al. 2023, MATH §5): the eNTK of s(x) = Σ_o f_o(x)/√O, one cotangent per input,
    equal to (1/O)·1ᵀ Θ̂(x, x') 1. Shape (N1, N2); about O times cheaper than entk(mode='full')."""
    O = mlp.n_outputs if isinstance(mlp, MLP) else 1
    return _contract(mlp, X1, X2, np.full((1, O), 1.0 / math.sqrt(O)), "trace", n_threads, tile_size, progress)


# -- torch.func reference ------------------------------------------------------------------------------------
def torch_entk(model, X1, X2=None, mode="full", *, method="jacobian", dtype=None, chunk_size=None):
    """eNTK of any PyTorch module by torch.func, as a numpy array shaped like :func:`entk`'s output.

    method='jacobian': per-sample Jacobians (vmap of jacrev), contracted with einsum: memory
    N·O·P. method='ntk_vp': NTK-vector products, a vjp at x followed by a jvp at x' for each output
    basis vector: no Jacobian is stored. ``model`` may also be a fastntk MLP (converted by to_torch).
    ``chunk_size`` is handed to ``torch.func.vmap`` over the points (bounds the vectorised batch;
    with 'ntk_vp' the outer loop over X1 then runs one point at a time).
    """
    torch = _require_torch()
    from torch.func import functional_call, jacrev, jvp, vjp, vmap

    if mode not in _MODES:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
    if method not in ("jacobian", "ntk_vp"):
        raise ValueError(f"method must be 'jacobian' or 'ntk_vp', got {method!r}")
    A = as_points(X1, "X1")
    B = A if X2 is None else as_points(X2, "X2")
    tdtype = dtype or (torch.float32 if A.dtype == np.float32 and B.dtype == np.float32 else torch.float64)
    if isinstance(model, MLP):
        model = model.to_torch(tdtype)
    else:
        model = copy.deepcopy(model).to(tdtype)
    params = {k: v.detach() for k, v in model.named_parameters()}
    x1 = torch.as_tensor(A, dtype=tdtype)
    x2 = torch.as_tensor(B, dtype=tdtype)

    def f(p, x):  # one input point -> its O outputs
        return functional_call(model, p, (x.unsqueeze(0),)).reshape(-1)

    with torch.no_grad():
        O = f(params, x1[0]).numel()
    if method == "jacobian":
        jac = vmap(jacrev(f), (None, 0), chunk_size=chunk_size)
        J1 = jac(params, x1)
        J2 = J1 if X2 is None else jac(params, x2)
        eq = {"full": "iap,jbp->ijab", "trace": "iap,jap->ij", "diagonal": "iap,jap->ija"}[mode]
        result = None
        for name in J1:
            term = torch.einsum(eq, J1[name].reshape(len(x1), O, -1), J2[name].reshape(len(x2), O, -1))
            result = term if result is None else result + term
    else:
        basis = torch.eye(O, dtype=tdtype)

        def block(a, b):  # the O×O block Θ̂(a, b): row o = J(a)ᵀe_o pushed forward at b
            _, pull = vjp(lambda p: f(p, a), params)

            def row(e):
                (tangent,) = pull(e)
                return jvp(lambda p: f(p, b), (params,), (tangent,))[1]

            return vmap(row)(basis)

        outer = None if chunk_size is None else 1
        full = vmap(vmap(block, (None, 0), chunk_size=chunk_size), (0, None), chunk_size=outer)(x1, x2)
        result = {"full": full, "trace": torch.diagonal(full, dim1=2, dim2=3).sum(-1),
                  "diagonal": torch.diagonal(full, dim1=2, dim2=3)}[mode]
    return result.detach().cpu().numpy()


# -- Monte-Carlo NTK of any architecture ------------------------------------------------------------------
class MonteCarloResult:
    """Mean kernel over random initialisations, its standard error (elementwise) and the sample count."""

    def __init__(self, mean, stderr, n_samples):
        self.mean, self.stderr, self.n_samples = mean, stderr, n_samples

    def __iter__(self):
        return iter((self.mean, self.stderr))

    def __repr__(self):
        return f"MonteCarloResult(shape={self.mean.shape}, n_samples={self.n_samples})"


def _reset_torch(module, seed):
    torch = _require_torch()
    net = copy.deepcopy(module)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for m in net.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return net


def monte_carlo_ntk(model, X1, X2=None, *, n_samples=16, kernel="entk", mode="trace", seed=0, batch_size=None,
                    n_threads=None, method="jacobian"):
    """Monte-Carlo NTK k(x, x') = E_θ[⟨∂f/∂θ(x), ∂f/∂θ(x')⟩] of any architecture (the 'recipe for
    designing new kernels'): the eNTK (``kernel='entk'``, with ``mode``) or pNTK (``kernel='pntk'``)
    averaged over ``n_samples`` random initialisations.

    ``model``: an :class:`MLP` (re-drawn with its own architecture and parameterisation), a PyTorch
    module (deep-copied and ``reset_parameters()``-ed under ``torch.manual_seed``; eNTK by torch.func,
    ``method`` as in :func:`torch_entk`), or a callable ``seed -> MLP or torch module``.
    Rows of X1 are processed ``batch_size`` at a time, so memory is the mean and the running sum of
    squares (float64) plus one block. Returns a :class:`MonteCarloResult` (mean, elementwise standard
    error of the mean, n_samples).
    """
    n_samples = check_positive_int(n_samples, "n_samples", 2)
    if kernel not in ("entk", "pntk"):
        raise ValueError(f"kernel must be 'entk' or 'pntk', got {kernel!r}")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
    A = as_points(X1, "X1")
    symmetric = X2 is None
    B = A if symmetric else as_points(X2, "X2")
    n1 = A.shape[0]
    block = n1 if batch_size is None else check_positive_int(batch_size, "batch_size", 1)

    def draw(s):
        if isinstance(model, MLP):
            return model.reinitialize(s)
        if callable(model) and not _is_torch_module(model):
            net = model(s)
            if not (isinstance(net, MLP) or _is_torch_module(net)):
                raise TypeError(f"the model factory must return an MLP or a torch module, got {type(net).__name__}")
            return net
        if _is_torch_module(model):
            return _reset_torch(model, s)
        raise TypeError(f"model must be an MLP, a torch module or a callable seed -> model, got {type(model).__name__}")

    def evaluate(net, rows):
        whole = rows.start == 0 and rows.stop >= n1
        Xa = A if whole else A[rows]
        Xb = None if (whole and symmetric) else B
        if isinstance(net, MLP):
            if kernel == "pntk":
                return pntk(net, Xa, Xb, n_threads=n_threads)
            return entk(net, Xa, Xb, mode, n_threads=n_threads)
        full = torch_entk(net, Xa, B if Xb is None else Xb, "full" if kernel == "pntk" else mode, method=method)
        return full.mean(axis=(2, 3)) if kernel == "pntk" else full

    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n_samples)]
    mean = m2 = None
    for k, s in enumerate(seeds):
        net = draw(s)
        for start in range(0, n1, block):
            rows = slice(start, min(start + block, n1))
            value = np.asarray(evaluate(net, rows), dtype=np.float64)
            if mean is None:
                mean = np.zeros((n1,) + value.shape[1:])
                m2 = np.zeros_like(mean)
            delta = value - mean[rows]  # Welford's update, elementwise
            mean[rows] += delta / (k + 1)
            m2[rows] += delta * (value - mean[rows])
    stderr = np.sqrt(m2 / (n_samples - 1) / n_samples)
    return MonteCarloResult(mean, stderr, n_samples)


def _is_torch_module(obj):
    try:
        import torch
    except ImportError:
        return False
    return isinstance(obj, torch.nn.Module)
