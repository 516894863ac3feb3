// Dual activations (MATH §2.2): for (u, v) ~ N(0, [[a, c], [c, b]]),
//   T(a, b, c) = E[σ(u) σ(v)],   Ṫ(a, b, c) = E[σ'(u) σ'(v)].
// The layer update of MATH §1–§2 is then  Σ ← w·T + β,  Θ ← (w·Ṫ)·Θ + Σ.
//
// Every family works on one row of a tile at a time: a scalar "row statistic" of the left input,
// an array of column statistics and the array c of Σ^{(h-1)}(x_i, x'_j); loops are branch-free so
// that they vectorise. Row statistics depend on a = Σ^{(h-1)}(x, x) only and are computed once per
// input point (fc.hpp), never per pair. All formulas are written symmetrically in (a, b) so that
// K(X, X) is bitwise symmetric.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "simd_math.hpp"

namespace fastntk {

enum class ActKind : int { ABReLU = 0, Erf = 1, Gelu = 2, Quadrature = 3 };
enum class QuadFn : int { Tanh = 0, Sin = 1, Sigmoid = 2, Softplus = 3, Table = 4 };

// σ given by a table on a uniform grid, evaluated by 4-point (cubic) Lagrange interpolation:
// error <= h^4 max|σ''''| / 24 per point. Used for user-supplied Python callables.
struct Table {
    const double* f = nullptr;
    const double* df = nullptr;
    int64_t n = 0;
    double lo = 0.0, step = 1.0;

    static double interp(const double* y, int64_t n, double lo, double step, double x) {
        double t = (x - lo) / step;
        int64_t m = static_cast<int64_t>(std::floor(t));
        m = std::min<int64_t>(std::max<int64_t>(m, 1), n - 3);
        const double s = t - double(m);  // in [0, 1) inside the grid
        const double l0 = -s * (s - 1.0) * (s - 2.0) / 6.0;
        const double l1 = (s + 1.0) * (s - 1.0) * (s - 2.0) / 2.0;
        const double l2 = -(s + 1.0) * s * (s - 2.0) / 2.0;
        const double l3 = (s + 1.0) * s * (s - 1.0) / 6.0;
        return l0 * y[m - 1] + l1 * y[m] + l2 * y[m + 1] + l3 * y[m + 2];
    }
    double sigma(double x) const { return interp(f, n, lo, step, x); }
    double dsigma(double x) const { return interp(df, n, lo, step, x); }
};

template <class T>
struct Activation {
    ActKind kind = ActKind::ABReLU;
    // ABReLU: σ(z) = neg_slope·z (z < 0), pos_slope·z (z >= 0). ReLU is (0, 1).
    T neg_slope = T(0), pos_slope = T(1);
    // Quadrature: probabilists' Gauss–Hermite nodes and weights (Σ weights = 1), `order` of them.
    QuadFn fn = QuadFn::Tanh;
    int order = 0;
    const T* nodes = nullptr;
    const T* weights = nullptr;
    Table table;
};

// σ(x) and σ'(x) together for a quadrature activation F. Tanh, sigmoid (exp_fast) and sin
// (sincos_fast) vectorise; softplus and tables stay scalar.
template <QuadFn F, class T>
inline void sigma_and_derivative(const Activation<T>& act, T x, T& s, T& ds) {
    if constexpr (F == QuadFn::Tanh) {
        const T t = T(1) - T(2) / (exp_fast(T(2) * x) + T(1));
        s = t;
        ds = T(1) - t * t;
    } else if constexpr (F == QuadFn::Sigmoid) {
        const T g = T(1) / (T(1) + exp_fast(-x));
        s = g;
        ds = g * (T(1) - g);
    } else if constexpr (F == QuadFn::Sin) {
        sincos_fast(x, s, ds);
    } else if constexpr (F == QuadFn::Softplus) {
        s = x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
        ds = T(1) / (T(1) + std::exp(-x));
    } else {
        s = T(act.table.sigma(double(x)));
        ds = T(act.table.dsigma(double(x)));
    }
}

// Per-point statistics of a = Σ(x, x) that a family needs (two numbers per point and layer).
template <class T>
inline void row_stats(const Activation<T>& act, T a, T& s0, T& s1) {
    switch (act.kind) {
        case ActKind::ABReLU:  // √a and 1/√a (0 for a zero-norm point: then c = 0 and ρ := 0)
            s0 = std::sqrt(a);
            s1 = a > T(0) ? T(1) / s0 : T(0);
            break;
        case ActKind::Erf:  // 1/√(1+2a)
            s0 = T(1) / std::sqrt(T(1) + T(2) * a);
            s1 = T(0);
            break;
        case ActKind::Gelu:  // a and 1/(1+a)
            s0 = a;
            s1 = T(1) / (T(1) + a);
            break;
        case ActKind::Quadrature:  // a and √a
            s0 = a;
            s1 = std::sqrt(a);
            break;
    }
}

// How the NTK accumulator Θ is updated at a layer (MATH §2.1 and the "fix" variant of §2.3/§9).
enum class ThetaMode : int { Skip = 0, Start = 1, Accumulate = 2 };

// Θ ← (w·Ṫ)·Θ + Σ, or Θ ← Σ, or Θ unchanged (a compile-time choice, so that loops vectorise).
template <ThetaMode M, class T>
inline T theta_update(T theta, T w_td, T sigma) {
    if constexpr (M == ThetaMode::Accumulate) return w_td * theta + sigma;
    else if constexpr (M == ThetaMode::Start) return sigma;
    else return theta;
}

// Quadrature family: 2-D Gauss–Hermite over N(0, Λ) through the Cholesky factor of Λ (MATH §2.2):
// u = √a z_k, v = √b(ρ z_k + √(1−ρ²) z_l), the roles ordered by variance so that the value is
// symmetric in the pair to the bit. The node loops are outside the loop over pairs j, which
// vectorises; each entry sees the same sequence of operations whatever n is. `scratch` holds 8n.
template <QuadFn F, ThetaMode M, class T>
inline void quadrature_row(const Activation<T>& act, T ra0, T ra1, T ra_var, const T* rb0, const T* rb1,
                           const T* rb_var, int n, T w, T beta, T* S, T* H, T* scratch) {
    T *su = scratch, *v1 = su + n, *v2 = v1 + n, *t = v2 + n, *td = t + n, *in = td + n, *in_d = in + n;
#pragma omp simd
    for (int j = 0; j < n; ++j) {
        const bool swap = ra0 < rb0[j];
        const T a = swap ? rb0[j] : ra0, b = swap ? ra0 : rb0[j];
        const T sa = swap ? rb1[j] : ra1, sb = swap ? ra1 : rb1[j];
        T rho = ((a > T(0)) & (b > T(0))) ? S[j] / (sa * sb) : T(0);
        rho = ((S[j] == ra_var) & (S[j] == rb_var[j])) ? T(1) : rho;
        rho = rho > T(1) ? T(1) : (rho < T(-1) ? T(-1) : rho);
        su[j] = sa;
        v1[j] = sb * rho;
        v2[j] = sb * std::sqrt(T(1) - rho * rho);
        t[j] = T(0);
        td[j] = T(0);
    }
    for (int k = 0; k < act.order; ++k) {
        const T zk = act.nodes[k], wk = act.weights[k];
        for (int j = 0; j < n; ++j) in[j] = in_d[j] = T(0);
        for (int l = 0; l < act.order; ++l) {
            const T zl = act.nodes[l], wl = act.weights[l];
#pragma omp simd
            for (int j = 0; j < n; ++j) {
                T f, df;
                sigma_and_derivative<F>(act, v1[j] * zk + v2[j] * zl, f, df);
                in[j] += wl * f;
                in_d[j] += wl * df;
            }
        }
#pragma omp simd
        for (int j = 0; j < n; ++j) {
            T f, df;
            sigma_and_derivative<F>(act, su[j] * zk, f, df);
            t[j] += (wk * f) * in[j];
            td[j] += (wk * df) * in_d[j];
        }
    }
#pragma omp simd
    for (int j = 0; j < n; ++j) {
        const T s = w * t[j] + beta;
        H[j] = theta_update<M>(H[j], w * td[j], s);
        S[j] = s;
    }
}

// One layer for one row: S[j] ← w·T + β and H[j] ← (w·Ṫ)·H[j] + S[j] (according to `mode`).
// ra_var = Σ(x, x) and rb_var[j] = Σ(x'_j, x'_j). Where c = Σ(x, x'_j) equals both to the bit the
// two points are the same to working precision and ρ = 1 exactly (arccos amplifies an ulp of ρ
// near 1 to ~1e-8 in θ). The per-point pass and the Gram's inner products share one summation
// order, so a point paired with itself (on the diagonal or not) always meets this test.
// `scratch` must hold 8n elements (used by the quadrature family only).
template <ThetaMode M, class T>
inline void dual_layer_row_mode(const Activation<T>& act, T ra0, T ra1, T ra_var, const T* rb0, const T* rb1,
                                const T* rb_var, int n, T w, T beta, T* S, T* H, T* scratch) {
    constexpr T pi = pi_v<T>;
    constexpr T inv2pi = T(1) / (T(2) * pi_v<T>);
    switch (act.kind) {
        case ActKind::ABReLU: {
            // MATH §2.2: E[relu relu] = √(ab)(sin θ + (π−θ)ρ)/(2π), E[relu' relu'] = (π−θ)/(2π);
            // ABReLU = (pos−neg)²·ReLU terms + neg·pos·(c, 1)  (from σ = pos·relu(z) − neg·relu(−z)).
            const T g = (act.pos_slope - act.neg_slope) * (act.pos_slope - act.neg_slope);
            const T ab = act.pos_slope * act.neg_slope;
#pragma omp simd
            for (int j = 0; j < n; ++j) {
                const T c = S[j];
                T rho = c * (ra1 * rb1[j]);
                rho = ((c == ra_var) & (c == rb_var[j])) ? T(1) : rho;
                rho = rho > T(1) ? T(1) : (rho < T(-1) ? T(-1) : rho);
                const T theta = acos_fast(rho);
                const T sin_theta = std::sqrt(T(1) - rho * rho);
                const T t = g * ((ra0 * rb0[j]) * (sin_theta + (pi - theta) * rho) * inv2pi) + ab * c;
                const T td = g * ((pi - theta) * inv2pi) + ab;
                const T s = w * t + beta;
                H[j] = theta_update<M>(H[j], w * td, s);
                S[j] = s;
            }
            break;
        }
        case ActKind::Erf: {
            // MATH §2.2: T = (2/π) asin(2c/√((1+2a)(1+2b))), Ṫ = (4/π)/√((1+2a)(1+2b) − 4c²).
#pragma omp simd
            for (int j = 0; j < n; ++j) {
                const T c = S[j];
                const T p = ra0 * rb0[j];
                const T r = (T(2) * c) * p;
                const T t = (T(2) / pi) * asin_fast(r);
                const T td = (T(4) / pi) * p / std::sqrt(T(1) - r * r);
                const T s = w * t + beta;
                H[j] = theta_update<M>(H[j], w * td, s);
                S[j] = s;
            }
            break;
        }
        case ActKind::Gelu: {
            // σ(z) = zΦ(z). With Q = (1+a)(1+b), D = √(Q − c²), r = c/√Q, κ = 1/(1+a) + 1/(1+b) − 1:
            //   T = c/4 + c·asin(r)/(2π) + (ab + κc²)/(2πD)          (Stein's lemma on E[uv 1{s>0,t>0}])
            //   Ṫ = ∂T/∂c = 1/4 + asin(r)/(2π) + c(a + b + 3 − c²(1/(1+a) + 1/(1+b)))/(2πD³)  (Price)
            // Derivation in docs/duals.md; checked against quadrature in tests/test_activations.py.
#pragma omp simd
            for (int j = 0; j < n; ++j) {
                const T c = S[j];
                const T a = ra0, b = rb0[j];
                const T q = (T(1) + a) * (T(1) + b);
                const T inv_sum = ra1 + rb1[j];
                const T d2 = q - c * c;
                const T dd = std::sqrt(d2);
                const T as = asin_fast(c / std::sqrt(q));
                const T t = c * T(0.25) + c * as * inv2pi + (a * b + (inv_sum - T(1)) * (c * c)) * inv2pi / dd;
                const T td = T(0.25) + as * inv2pi + c * ((a + b) + T(3) - (c * c) * inv_sum) * inv2pi / (d2 * dd);
                const T s = w * t + beta;
                H[j] = theta_update<M>(H[j], w * td, s);
                S[j] = s;
            }
            break;
        }
        case ActKind::Quadrature:
            switch (act.fn) {
                case QuadFn::Tanh: return quadrature_row<QuadFn::Tanh, M>(act, ra0, ra1, ra_var, rb0, rb1, rb_var, n, w, beta, S, H, scratch);
                case QuadFn::Sin: return quadrature_row<QuadFn::Sin, M>(act, ra0, ra1, ra_var, rb0, rb1, rb_var, n, w, beta, S, H, scratch);
                case QuadFn::Sigmoid: return quadrature_row<QuadFn::Sigmoid, M>(act, ra0, ra1, ra_var, rb0, rb1, rb_var, n, w, beta, S, H, scratch);
                case QuadFn::Softplus: return quadrature_row<QuadFn::Softplus, M>(act, ra0, ra1, ra_var, rb0, rb1, rb_var, n, w, beta, S, H, scratch);
                case QuadFn::Table: return quadrature_row<QuadFn::Table, M>(act, ra0, ra1, ra_var, rb0, rb1, rb_var, n, w, beta, S, H, scratch);
            }
            break;
    }
}

template <class T>
inline void dual_layer_row(const Activation<T>& act, T ra0, T ra1, T ra_var, const T* rb0, const T* rb1,
                           const T* rb_var, int n, T w, T beta, ThetaMode mode, T* S, T* H, T* scratch) {
    switch (mode) {
        case ThetaMode::Skip:
            return dual_layer_row_mode<ThetaMode::Skip>(act, ra0, ra1, ra_var, rb0, rb1, rb_var, n, w, beta, S, H, scratch);
        case ThetaMode::Start:
            return dual_layer_row_mode<ThetaMode::Start>(act, ra0, ra1, ra_var, rb0, rb1, rb_var, n, w, beta, S, H, scratch);
        case ThetaMode::Accumulate:
            return dual_layer_row_mode<ThetaMode::Accumulate>(act, ra0, ra1, ra_var, rb0, rb1, rb_var, n, w, beta, S, H, scratch);
    }
}

}  // namespace fastntk
