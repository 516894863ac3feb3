"""Independent numpy reference of the Convolutional NTK (MATH §8): the full P² pixel-pair recursion,
written from the formulas (it never calls fastntk). Small images only: O(P²) memory per pair.

Two formulations:

* ``arora_pair``: MATH §8 literally, the scale of the reference CNTK code (Arora et al. 2019):
  S = conv3(Σ_c x_c ⊗ z_c), ReLU steps with factor c_σ/9 = 2/9, readout trace (V) or mean (GAP),
  ``fix``: Θ starts at 0 and the final S is subtracted.
* ``stax_pair``: layer by layer as neural-tangents' stax composes Conv / Relu / Flatten|GlobalAvgPool /
  Dense kernels in its 'ntk' parameterisation (Conv averages over its 3×3 window and its input channels).
"""
import numpy as np


def conv3(s):
    """t[a, b, c, d] = Σ_{u, v ∈ {−1, 0, 1}} s[a+u, b+v, c+u, d+v], zero outside the image."""
    H, W = s.shape[:2]
    pad = np.pad(s, 1)
    t = np.zeros_like(s)
    for u in (-1, 0, 1):
        for v in (-1, 0, 1):
            t += pad[1 + u:1 + u + H, 1 + v:1 + v + W, 1 + u:1 + u + H, 1 + v:1 + v + W]
    return t


def relu_duals(S, nx, nz, same=False):
    """E[relu(u) relu(v)] and E[relu'(u) relu'(v)] for every pixel pair, (u, v) ~ N(0, [[nx², S], [S, nz²]]),
    nx, nz the pixel standard deviations. A zero variance gives correlation 0 (a finite limit).
    ``same``: both images are the same, so a pixel paired with itself has correlation exactly 1."""
    H, W = nx.shape
    den = nx[:, :, None, None] * nz[None, None, :, :]
    safe = np.where(den > 0, den, 1.0)
    lam = np.where(den > 0, S / safe, 0.0)
    if same:
        eye = np.eye(H * W, dtype=bool).reshape(H, W, H, W)
        lam = np.where(eye & (den > 0), 1.0, lam)
    lam = np.clip(lam, -1.0, 1.0)
    theta = np.arccos(lam)
    T = den * (np.sin(theta) + (np.pi - theta) * lam) / (2 * np.pi)
    Td = (np.pi - theta) / (2 * np.pi)
    return T, Td


def _pixel_norms(S):
    H, W = S.shape[:2]
    d = np.einsum("abab->ab", S)
    return np.sqrt(np.maximum(d, 0.0)).reshape(H, W)


def _three(x, z, first):
    """Layer-1 tensors of the pairs (x, x), (z, z), (x, z); images are (H, W, C)."""
    return [first(np.einsum("abk,cdk->abcd", a, b)) for a, b in ((x, x), (z, z), (x, z))]


def arora_pair(x, z, depth, readout="gap", fix=False):
    """(NNGP, NTK) of the pair in the reference code's scale (MATH §8)."""
    S = _three(x, z, conv3)
    Th = [np.zeros_like(s) if fix else s.copy() for s in S]
    same = (True, True, x is z)
    for layer in range(1, depth):
        nx, nz = _pixel_norms(S[0]), _pixel_norms(S[1])
        new_S, new_T = [], []
        for k, (a, b) in enumerate(((nx, nx), (nz, nz), (nx, nz))):
            T, Td = relu_duals(S[k], a, b, same[k])
            T, Td = 2.0 / 9.0 * T, 2.0 / 9.0 * Td  # c_σ/9
            theta = Th[k] * Td + T
            if layer < depth - 1:
                new_S.append(conv3(T))
                new_T.append(conv3(theta))
            else:
                new_S.append(T)
                new_T.append(theta)
        S, Th = new_S, new_T
    S, T = S[2], Th[2]
    if fix:
        T = T - S
    if readout == "gap":
        return S.mean(), T.mean()
    return np.einsum("abab->", S), np.einsum("abab->", T)


def stax_pair(x, z, depth, readout="gap", W_std=2**0.5, b_std=0.0, fix=False):
    """(NNGP, NTK) of stax.serial(*[Conv(W_std, b_std), Relu] * (depth−1), Flatten|GlobalAvgPool,
    Dense(W_std, b_std)) in the 'ntk' parameterisation. ``fix``: no gradient terms of the first Conv
    and of the final Dense."""
    w, b = W_std**2, b_std**2
    C = x.shape[-1]
    S = _three(x, z, lambda s: w * conv3(s / C) / 9.0 + b)
    Th = [np.zeros_like(s) if fix else s.copy() for s in S]
    same = (True, True, x is z)
    for layer in range(1, depth):
        nx, nz = _pixel_norms(S[0]), _pixel_norms(S[1])
        new_S, new_T = [], []
        for k, (a, bb) in enumerate(((nx, nx), (nz, nz), (nx, nz))):
            T, Td = relu_duals(S[k], a, bb, same[k])  # Relu layer
            theta = Th[k] * Td
            if layer < depth - 1:  # Conv layer
                s_new = w * conv3(T) / 9.0 + b
                new_S.append(s_new)
                new_T.append(w * conv3(theta) / 9.0 + s_new)
            else:
                new_S.append(T)
                new_T.append(theta)
        S, Th = new_S, new_T
    S, T = S[2], Th[2]
    if readout == "gap":  # GlobalAvgPool
        s, t = S.mean(), T.mean()
    else:  # Flatten: the dense layer after it sees the mean over pixels of the diagonal
        P = S.shape[0] * S.shape[1]
        s, t = np.einsum("abab->", S) / P, np.einsum("abab->", T) / P
    s_out = w * s + b  # Dense
    t_out = w * t + s_out
    return s_out, (t_out - s_out if fix else t_out)


def gram(pair, X1, X2=None, **kw):
    """(NNGP, NTK) Grams from a pair function; X as (n, H, W, C). X2=None: the Gram of X1 with itself,
    whose diagonal pairs an image with itself (correlation exactly 1 at equal pixels)."""
    A = np.asarray(X1, float)
    B = A if X2 is None else np.asarray(X2, float)
    K = np.empty((2, len(A), len(B)))
    for i in range(len(A)):
        for j in range(len(B)):
            x = A[i]
            z = x if (X2 is None and i == j) else B[j]
            K[:, i, j] = pair(x, z, **kw)
    return K[0], K[1]
