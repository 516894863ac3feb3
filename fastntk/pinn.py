"""Physics-informed neural networks through the NTK lens (MATH §6; Wang, Yu & Perdikaris 2022).

* :class:`PINN`: an MLP ``u(x)`` of a scalar input whose value and first two input derivatives are
  propagated as three streams in the C++ core; the empirical NTK between linear functionals
  ``v = c0 u + c1 u_x + c2 u_xx`` (boundary values, PDE residuals) is a few GEMMs per layer
  (:meth:`PINN.ntk`, :meth:`PINN.ntk_blocks`), and so is the gradient of a weighted least-squares
  loss (:meth:`PINN.loss_and_grad`): no autodiff framework, no explicit Jacobian.
* :func:`infinite_width_ntk`: the deterministic limit of that NTK for one hidden layer with all
  parameters N(0, 1), by Gauss–Hermite quadrature over the hidden unit's (w, b).
* :class:`Poisson1D` and :func:`train`: the model problem u_xx = f on [0, 1] with exact solution
  sin(aπx), full-batch gradient descent with optional NTK-adaptive loss weights
  λ_b = Tr K / Tr K_uu, λ_r = Tr K / Tr K_rr.
"""
import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import _core
from ._validation import allocate_outputs, as_real_array, available_memory, check_n_threads, check_positive_int

__all__ = ["PINN", "Poisson1D", "infinite_width_ntk", "operator", "trace_weights", "train", "U", "UXX"]

_ACTIVATIONS = {"tanh": 0, "sin": 1}
U = (1.0, 0.0, 0.0)    # the functional v = u (boundary values)
UXX = (0.0, 0.0, 1.0)  # v = u_xx (the residual operator of the Poisson problem)


def operator(c0=0.0, c1=0.0, c2=0.0):
    """Coefficients of the functional v = c0·u + c1·u_x + c2·u_xx."""
    return (float(c0), float(c1), float(c2))


def _as_x(x, name="x"):
    arr = as_real_array(x, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must hold scalar inputs: shape (n,) or (n, 1), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf (first at index {int(np.argmin(np.isfinite(arr)))})")
    return arr


def _as_op(op, n, name="op"):
    """(c0, c1, c2) for every point: a 3-sequence (same functional everywhere) or an (n, 3) array."""
    try:
        arr = np.asarray(op, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be (c0, c1, c2) or an (n, 3) array of numbers") from exc
    if arr.shape == (3,):
        arr = np.broadcast_to(arr, (n, 3))
    if arr.shape != (n, 3):
        raise ValueError(f"{name} must be (c0, c1, c2) or have shape ({n}, 3), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return np.ascontiguousarray(arr)


class PINN:
    """An MLP u(x) = z_L with z_l = α_l W_l g_l + β_l b_l, g_{l+1} = σ(z_l), g_0 = (x − shift)/scale.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths, e.g. ``(100,)`` for one hidden layer.
    activation : "tanh" or "sin"
    parameterization : "ntk" or "standard"
        ``"ntk"`` (the paper, MATH §6): all parameters N(0, 1), α_l = 1/√(fan-in), β_l = 1, so
        ``u(x) = N^{-1/2} W¹ tanh(W⁰x + b⁰) + b¹`` for one hidden layer.
        ``"standard"`` (the authors' released code): α = β = 1, W_l ~ N(0, 1/fan-in), b_l ~ N(0, 1).
    input_shift, input_scale : float
        The net sees (x − shift)/scale; derivatives are taken with respect to x (chain rule).
        The released code normalises by the collocation points' mean and standard deviation.
    seed : int or numpy Generator
    """

    def __init__(self, widths=(100,), activation="tanh", parameterization="ntk", input_shift=0.0, input_scale=1.0,
                 seed=0):
        if isinstance(widths, numbers.Integral):
            widths = (widths,)
        widths = tuple(check_positive_int(w, "width", 1) for w in widths)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if parameterization not in ("ntk", "standard"):
            raise ValueError(f"parameterization must be 'ntk' or 'standard', got {parameterization!r}")
        for name, v in (("input_shift", input_shift), ("input_scale", input_scale)):
            if not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if input_scale == 0:
            raise ValueError("input_scale must be nonzero")
        self.widths = widths
        self.activation = activation
        self.parameterization = parameterization
        self.input_shift = float(input_shift)
        self.input_scale = float(input_scale)
        sizes = (1,) + widths + (1,)
        rng = np.random.default_rng(seed)
        self.W, self.b = [], []
        for l in range(len(sizes) - 1):
            W = rng.standard_normal((sizes[l + 1], sizes[l]))
            if parameterization == "standard":
                W /= math.sqrt(sizes[l])
            self.W.append(np.ascontiguousarray(W))
            self.b.append(rng.standard_normal(sizes[l + 1]))
        if parameterization == "ntk":
            self.alpha = [1.0 / math.sqrt(sizes[l]) for l in range(len(sizes) - 1)]
        else:
            self.alpha = [1.0] * (len(sizes) - 1)
        self.beta = [1.0] * (len(sizes) - 1)
        self._spec = None

    # -- parameters -------------------------------------------------------------------------
    @property
    def spec(self):
        """The core's view of the net (references W and b: in-place updates are seen)."""
        if self._spec is None:
            self._spec = _core.PinnSpec(_ACTIVATIONS[self.activation], self.W, self.b, self.alpha, self.beta,
                                        self.input_shift, self.input_scale)
        return self._spec

    @property
    def n_parameters(self):
        return sum(W.size + b.size for W, b in zip(self.W, self.b))

    def parameters(self):
        """All parameters as one flat vector (W_0, b_0, W_1, b_1, ...)."""
        return np.concatenate([a.ravel() for W, b in zip(self.W, self.b) for a in (W, b)])

    def set_parameters(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.n_parameters,):
            raise ValueError(f"expected {self.n_parameters} parameters, got shape {theta.shape}")
        if not np.isfinite(theta).all():
            raise ValueError("parameters contain NaN or inf")
        k = 0
        for W, b in zip(self.W, self.b):
            for a in (W, b):
                a[...] = theta[k:k + a.size].reshape(a.shape)
                k += a.size

    def copy(self):
        other = object.__new__(PINN)
        other.__dict__.update(self.__dict__)
        other.W = [W.copy() for W in self.W]
        other.b = [b.copy() for b in self.b]
        other._spec = None
        return other

    # -- evaluation ---------------------------------------------------------------------------
    def forward(self, x, *, n_threads=None):
        """(u, u_x, u_xx) at every point: an (n, 3) array."""
        x = _as_x(x)
        out = np.empty((x.shape[0], 3))
        _core.pinn_forward(self.spec, x, out, check_n_threads(n_threads))
        return out

    def apply(self, x, op=U, *, n_threads=None):
        """The functional v = c0 u + c1 u_x + c2 u_xx at every point."""
        x = _as_x(x)
        return np.einsum("ij,ij->i", self.forward(x, n_threads=n_threads), _as_op(op, x.shape[0]))

    def ntk(self, x1, op1=U, x2=None, op2=None, *, n_threads=None, tile_size=32, out=None):
        """Empirical NTK K[i, j] = ⟨∂v1_i/∂θ, ∂v2_j/∂θ⟩ between functionals at x1 and x2 (MATH §6).

        op1, op2: (c0, c1, c2) or (n, 3) arrays; x2=None means x2, op2 = x1, op1 (then the Gram
        is exactly symmetric). ``out`` may be any writable (n1, n2) float64 array with
        contiguous rows.
        """
        x1 = _as_x(x1, "x1")
        o1 = _as_op(op1, x1.shape[0], "op1")
        symmetric = x2 is None and op2 is None
        if symmetric:
            x2, o2 = x1, o1
        else:
            x2 = x1 if x2 is None else _as_x(x2, "x2")
            o2 = _as_op(op1 if op2 is None else op2, x2.shape[0], "op2")
        check_positive_int(tile_size, "tile_size", 1)
        n1, n2 = x1.shape[0], x2.shape[0]
        stream_bytes = 3 * 8 * 3 * (n1 + n2) * sum((1,) + self.widths)
        if out is None:
            out = allocate_outputs((n1, n2), np.float64, 1)[0]
        elif not isinstance(out, np.ndarray) or out.shape != (n1, n2) or out.dtype != np.float64:
            raise ValueError(f"out must be a float64 array of shape ({n1}, {n2})")
        avail = available_memory()
        if avail is not None and stream_bytes > avail:
            raise MemoryError(f"the stream buffers need {stream_bytes / 2**30:.1f} GiB but only "
                              f"{avail / 2**30:.1f} GiB is available; compute the Gram in blocks of points")
        _core.pinn_ntk(self.spec, x1, o1, x2, o2, out, symmetric, int(tile_size), check_n_threads(n_threads))
        return out

    def ntk_blocks(self, x_b, x_r, operator=UXX, *, n_threads=None):
        """The PINN NTK K = [[K_uu, K_ur], [K_ru, K_rr]] for boundary points x_b (v = u) and
        collocation points x_r (v = the operator, default u_xx). Returns (K, K_uu, K_ur, K_rr)."""
        x_b, x_r = _as_x(x_b, "x_b"), _as_x(x_r, "x_r")
        nb = x_b.shape[0]
        x = np.concatenate([x_b, x_r])
        op = np.vstack([_as_op(U, nb), _as_op(operator, x_r.shape[0], "operator")])
        K = self.ntk(x, op, n_threads=n_threads)
        return K, K[:nb, :nb], K[:nb, nb:], K[nb:, nb:]

    def loss_and_grad(self, x, op, y, w=1.0, *, n_threads=None):
        """loss = Σ_i w_i (v_i − y_i)², its gradient (a list of (dW, db) per layer) and v."""
        x = _as_x(x)
        n = x.shape[0]
        o = _as_op(op, n)
        y = _as_x(y, "y")
        w = np.asarray(w, dtype=np.float64)
        if w.shape not in ((), (n,)):
            raise ValueError(f"w must be a number or hold one weight per point ({n}), got shape {w.shape}")
        w = np.ascontiguousarray(np.broadcast_to(w, (n,)))
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} values for {n} points")
        if not np.isfinite(w).all():
            raise ValueError("w contains NaN or inf")
        gW = [np.empty_like(W) for W in self.W]
        gb = [np.empty_like(b) for b in self.b]
        v = np.empty(n)
        loss = _core.pinn_loss_grad(self.spec, x, o, y, w, v, gW, gb, check_n_threads(n_threads))
        return loss, list(zip(gW, gb)), v


def infinite_width_ntk(x1, op1=U, x2=None, op2=None, *, activation="tanh", order=160):
    """Infinite-width NTK of u(x) = N^{-1/2} Σ_k a_k σ(w_k x + b_k) + c with all parameters N(0, 1)
    (MATH §6, one hidden layer), between the functionals v = c0 u + c1 u_x + c2 u_xx.

    Per hidden unit, v = N^{-1/2} a F(w, b; x) with F = c0 σ(z) + c1 w σ'(z) + c2 w² σ''(z),
    z = wx + b; by the law of large numbers
        Θ(x, x') = E[F F'] + E[a²] E[∂_wF ∂_wF' + ∂_bF ∂_bF'] + c0 c0'
    (output bias last), with ∂_wF = c0 x σ' + c1 (σ' + wx σ'') + c2 (2w σ'' + w²x σ'''),
    ∂_bF = c0 σ' + c1 w σ'' + c2 w² σ'''. The expectation over (w, b) ~ N(0, I₂) is a product
    Gauss–Hermite rule of the given order per axis (2 ≤ order ≤ 300; the error at x ∈ [0, 1] is
    about 3e-7 at order 96, 1e-10 at 160 and 1e-13 at 200).
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    order = check_positive_int(order, "order", 2)
    if order > 300:
        raise ValueError(f"order must be <= 300 (numpy's Gauss–Hermite weights overflow beyond), got {order}")
    x1 = _as_x(x1, "x1")
    o1 = _as_op(op1, x1.shape[0], "op1")
    if x2 is None and op2 is None:
        x2, o2 = x1, o1
    else:
        x2 = x1 if x2 is None else _as_x(x2, "x2")
        o2 = _as_op(op1 if op2 is None else op2, x2.shape[0], "op2")
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    weights = weights / weights.sum()
    w = np.repeat(nodes, order)[None, :]
    b = np.tile(nodes, order)[None, :]
    q = np.outer(weights, weights).ravel()

    def features(x, op):
        z = w * x[:, None] + b
        if activation == "tanh":
            t = np.tanh(z)
            s1 = 1.0 - t * t
            s0, s2, s3 = t, -2.0 * t * s1, -2.0 * s1 * (1.0 - 3.0 * t * t)
        else:
            s0, s1, s2, s3 = np.sin(z), np.cos(z), -np.sin(z), -np.cos(z)
        c0, c1, c2 = (op[:, k:k + 1] for k in range(3))
        xx = x[:, None]
        F = c0 * s0 + c1 * w * s1 + c2 * w * w * s2
        Fw = c0 * xx * s1 + c1 * (s1 + w * xx * s2) + c2 * (2.0 * w * s2 + w * w * xx * s3)
        Fb = c0 * s1 + c1 * w * s2 + c2 * w * w * s3
        return F, Fw, Fb

    A = features(x1, o1)
    B = features(x2, o2)
    theta = sum((a * q) @ bb.T for a, bb in zip(A, B))
    return theta + np.outer(o1[:, 0], o2[:, 0])


@dataclass
class Poisson1D:
    """u_xx = f on [0, 1], u = g at x = 0, 1, with exact solution u(x) = sin(aπx) (MATH §6).

    As in the authors' code the boundary set repeats each endpoint ``n_boundary // 2`` times (so
    the mean boundary loss and Tr K_uu weigh both ends equally) and the collocation points are
    ``n_collocation`` equispaced points of [0, 1]."""
    a: float = 1.0
    n_boundary: int = 100
    n_collocation: int = 100

    def __post_init__(self):
        if not isinstance(self.a, numbers.Real) or not math.isfinite(self.a) or self.a == 0:
            raise ValueError(f"a must be a finite nonzero number, got {self.a!r}")
        check_positive_int(self.n_boundary, "n_boundary", 2)
        check_positive_int(self.n_collocation, "n_collocation", 1)

    def exact(self, x):
        return np.sin(self.a * np.pi * np.asarray(x, dtype=np.float64))

    def source(self, x):
        return -(self.a * np.pi) ** 2 * self.exact(x)

    def points(self):
        """(x_b, g(x_b), x_r, f(x_r))."""
        half = self.n_boundary // 2
        x_b = np.concatenate([np.zeros(half), np.ones(self.n_boundary - half)])
        x_r = np.linspace(0.0, 1.0, self.n_collocation)
        return x_b, self.exact(x_b), x_r, self.source(x_r)


def trace_weights(K_uu, K_rr):
    """λ_b = Tr K / Tr K_uu and λ_r = Tr K / Tr K_rr (MATH §6; Tr K = Tr K_uu + Tr K_rr)."""
    tu, tr = float(np.trace(K_uu)), float(np.trace(K_rr))
    if not (tu > 0 and tr > 0):
        raise ValueError("the NTK blocks have a non-positive trace")
    return (tu + tr) / tu, (tu + tr) / tr


def train(net, problem, *, lr=1e-5, steps=10_000, record_every=100, adaptive=False, record_ntk=True,
          n_test=1000, n_threads=None):
    """Full-batch gradient descent on L = λ_b·mean_b (u − g)² + λ_r·mean_r (u_xx − f)² (the loss of the
    authors' code; λ = 1 unless ``adaptive``). The gradient comes from the core's adjoint streams.

    With ``adaptive`` the weights are reset to the NTK trace ratios every ``record_every`` steps
    (Algorithm 1 of the paper, using the current K). Every ``record_every`` steps (and at the end)
    the history records the losses, ‖θ_n − θ_0‖/‖θ_0‖, (with ``record_ntk``) ‖K_n − K_0‖_F/‖K_0‖_F
    and the weights, and the relative L² error of u on ``n_test`` equispaced points. The net is
    trained in place. Returns a dict of lists plus the NTK and its blocks' eigenvalues at the start and
    the end.
    """
    if not isinstance(net, PINN):
        raise TypeError("net must be a fastntk.pinn.PINN")
    if not isinstance(problem, Poisson1D):
        raise TypeError("problem must be a fastntk.pinn.Poisson1D")
    if not isinstance(lr, numbers.Real) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    steps = check_positive_int(steps, "steps", 0)
    record_every = check_positive_int(record_every, "record_every", 1)
    nt = check_n_threads(n_threads)
    x_b, g, x_r, f = problem.points()
    nb, nr = x_b.shape[0], x_r.shape[0]
    # The loss sees each distinct boundary point once, weighted by its multiplicity.
    xb_unique, first, inverse, counts = np.unique(x_b, return_index=True, return_inverse=True,
                                                  return_counts=True)
    nu = xb_unique.shape[0]
    expand = np.concatenate([inverse.ravel(), nu + np.arange(nr)])  # rows of the full K in the Gram of x

    def ntk_blocks():
        """K over the full boundary set (repeated points share their rows), and its blocks."""
        K = net.ntk(x, op, n_threads=n_threads)[np.ix_(expand, expand)]
        return K, K[:nb, :nb], K[:nb, nb:], K[nb:, nb:]

    x = np.concatenate([xb_unique, x_r])
    y = np.concatenate([g[first], f])
    op = np.vstack([_as_op(U, nu), _as_op(UXX, nr)])
    x_test = np.linspace(0.0, 1.0, n_test)
    u_test = problem.exact(x_test)
    gW = [np.empty_like(W) for W in net.W]
    gb = [np.empty_like(b) for b in net.b]
    v = np.empty(nu + nr)
    w = np.empty(nu + nr)
    spec = net.spec

    theta0 = net.parameters()
    K0, Kuu, _, Krr = ntk_blocks()
    lam_b, lam_r = trace_weights(Kuu, Krr) if adaptive else (1.0, 1.0)
    hist = {"step": [], "loss_b": [], "loss_r": [], "param_change": [], "ntk_change": [], "lambda_b": [],
            "lambda_r": [], "rel_l2_error": []}
    init_weights = trace_weights(Kuu, Krr)
    eig0 = {name: np.linalg.eigvalsh(M)[::-1] for name, M in (("K", K0), ("K_uu", Kuu), ("K_rr", Krr))}
    K = K0

    def record(step):
        e = v - y
        hist["step"].append(step)
        hist["loss_b"].append(float(np.dot(counts, e[:nu] ** 2) / nb))
        hist["loss_r"].append(float(np.mean(e[nu:] ** 2)))
        hist["param_change"].append(float(np.linalg.norm(net.parameters() - theta0) / np.linalg.norm(theta0)))
        hist["ntk_change"].append(float(np.linalg.norm(K - K0) / np.linalg.norm(K0)) if record_ntk else None)
        hist["lambda_b"].append(lam_b)
        hist["lambda_r"].append(lam_r)
        u = net.forward(x_test, n_threads=n_threads)[:, 0]
        hist["rel_l2_error"].append(float(np.linalg.norm(u - u_test) / np.linalg.norm(u_test)))

    for step in range(steps + 1):
        w[:nu] = lam_b * counts / nb
        w[nu:] = lam_r / nr
        _core.pinn_loss_grad(spec, x, op, y, w, v, gW, gb, nt)  # v = values before this step's update
        if step % record_every == 0 or step == steps:
            if step > 0 and (record_ntk or adaptive):
                K, Kuu, _, Krr = ntk_blocks()
            record(step)
            if adaptive and step > 0:
                lam_b, lam_r = trace_weights(Kuu, Krr)
        if step == steps:
            break
        for W, b, dW, db in zip(net.W, net.b, gW, gb):
            W -= lr * dW
            b -= lr * db
        if not np.isfinite(v).all():
            raise FloatingPointError(f"training diverged at step {step} (lr={lr} too large?)")

    K1, Kuu1, _, Krr1 = ntk_blocks()
    eig1 = {name: np.linalg.eigvalsh(M)[::-1] for name, M in (("K", K1), ("K_uu", Kuu1), ("K_rr", Krr1))}
    hist["eigenvalues_init"] = eig0
    hist["eigenvalues_final"] = eig1
    hist["trace_weights_init"] = init_weights
    hist["trace_weights_final"] = trace_weights(Kuu1, Krr1)
    return hist
