"""Derive the asin polynomial of src_cpp/fastntk/simd_math.hpp.

P(z) = (asin(√z)/√z − 1)/z = Σ_{k≥1} a_k z^{k−1} on [0, 1/4], a_k = a_{k−1}(2k−1)²/(2k(2k+1)):
interpolate P at 200 Chebyshev points (values from 80 series terms, all positive, so accurate to
the last bit), keep degree 11 (float64) / 4 (float32), convert to powers of z and report the
resulting asin error on a fine grid.
"""
import numpy as np
from numpy.polynomial import chebyshev, polynomial


def series(z, terms=80):
    a, s, zk = 1.0, np.zeros_like(z), np.ones_like(z)
    for k in range(1, terms):
        a *= (2 * k - 1) ** 2 / ((2 * k) * (2 * k + 1))
        s += a * zk
        zk = zk * z
    return s


def coefficients(degree, dtype):
    nodes = 0.125 + 0.125 * np.cos(np.pi * (np.arange(200) + 0.5) / 200)
    cheb = chebyshev.chebfit((nodes - 0.125) / 0.125, series(nodes), degree)
    in_t = chebyshev.cheb2poly(cheb)  # powers of t = 8z − 1
    in_z = np.zeros(degree + 1)
    for i, c in enumerate(in_t):
        in_z[: i + 1] += c * polynomial.polypow([-1.0, 8.0], i)
    return in_z.astype(dtype)


def max_ulp_error(coef, dtype):
    w = np.sqrt(np.linspace(0.0, 0.25, 100001)).astype(dtype)
    z = w * w
    p = np.full_like(z, coef[-1])
    for c in coef[-2::-1]:
        p = (p * z + c).astype(dtype)
    approx = (w + w * (z * p)).astype(np.float64)
    exact = np.arcsin(w.astype(np.float64))
    rel = np.abs(approx - exact) / np.maximum(exact, np.finfo(dtype).tiny)
    return rel.max() / np.finfo(dtype).eps


if __name__ == "__main__":
    for degree, dtype in ((11, np.float64), (4, np.float32)):
        coef = coefficients(degree, dtype)
        print(np.dtype(dtype).name, "degree", degree, f"max error {max_ulp_error(coef, dtype):.2f} ulp")
        print("  ", ", ".join("%.17g" % float(c) for c in coef))
