"""Independent dense-numpy GNTK, written from MATH §7 (per pair, slow, for small graphs only).

Works on plain arrays: an edge list, the node count and an (n, d) feature matrix per graph.
It never calls fastntk.
"""
import numpy as np


def hat_adjacency(edges, n):
    """Â = A + Aᵀ + I with A holding each distinct undirected edge once (MATH §7)."""
    A = np.zeros((n, n))
    for u, v in {(min(u, v), max(u, v)) for u, v in edges}:
        A[u, v] = 1.0
    return A + A.T + np.eye(n)


def operator(hat, pooling):
    return hat if pooling == "sum" else hat / hat.sum(axis=1, keepdims=True)


def relu_step(S, T, a, b, same=False):
    """MATH §7: λ = clip(S/(a bᵀ)), S ← (λ(π − arccos λ) + √(1−λ²))/π ⊙ a bᵀ, T ← T ⊙ Ṡ + S.
    For a graph with itself (`same`) λ_uu = S_uu/a_u² is 1 by definition of a: set exactly."""
    ab = np.outer(a, b)
    lam = np.clip(S / ab, -1.0, 1.0)
    if same:
        np.fill_diagonal(lam, 1.0)
    S = (lam * (np.pi - np.arccos(lam)) + np.sqrt(1.0 - lam * lam)) / np.pi * ab
    T = T * (np.pi - np.arccos(lam)) / np.pi + S
    return S, T


def graph_norms(hat, X, B, R, pooling):
    """Per-graph pass: √diag S before every ReLU step, in order (block, step)."""
    P = operator(hat, pooling)
    S = P @ (X @ X.T) @ P.T
    T = S.copy()
    norms = []
    for block in range(1, B + 1):
        for _ in range(R):
            a = np.sqrt(np.diag(S))
            norms.append(a)
            S, T = relu_step(S, T, a, a, same=True)
        if block < B:
            S, T = P @ S @ P.T, P @ T @ P.T
    return norms


def gntk_pair(g1, g2, B, R, pooling="sum", graph_pooling="sum", jk=True, same=False):
    """(NNGP, NTK) of one pair; g = (hat, X, norms); `same`: g2 is g1 (the Gram's diagonal)."""
    hat1, X1, n1 = g1
    hat2, X2, n2 = g2
    P1, P2 = operator(hat1, pooling), operator(hat2, pooling)
    sigma0 = X1 @ X2.T
    J_S, J_T = sigma0.copy(), sigma0.copy()
    S = P1 @ sigma0 @ P2.T
    T = S.copy()
    q = 0
    for block in range(1, B + 1):
        for _ in range(R):
            S, T = relu_step(S, T, n1[q], n2[q], same)
            q += 1
        J_S, J_T = J_S + S, J_T + T
        if block < B:
            S, T = P1 @ S @ P2.T, P1 @ T @ P2.T
    nngp, ntk = (J_S.sum(), J_T.sum()) if jk else (S.sum(), T.sum())
    if graph_pooling == "mean":
        scale = 1.0 / (X1.shape[0] * X2.shape[0])
        nngp, ntk = nngp * scale, ntk * scale
    return nngp, ntk


def gntk_gram(graphs1, graphs2=None, B=1, R=2, pooling="sum", graph_pooling="sum", jk=True):
    """Gram matrices (NNGP, NTK) for lists of (edges, X) graphs."""
    def prep(graphs):
        out = []
        for edges, X in graphs:
            hat = hat_adjacency(edges, X.shape[0])
            out.append((hat, X, graph_norms(hat, X, B, R, pooling)))
        return out
    A = prep(graphs1)
    Bs = A if graphs2 is None else prep(graphs2)
    K_S = np.zeros((len(A), len(Bs)))
    K_T = np.zeros((len(A), len(Bs)))
    for i, g1 in enumerate(A):
        for j, g2 in enumerate(Bs):
            K_S[i, j], K_T[i, j] = gntk_pair(g1, g2, B, R, pooling, graph_pooling, jk, graphs2 is None and i == j)
    return K_S, K_T
