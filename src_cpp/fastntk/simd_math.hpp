// Branch-free, auto-vectorisable elementary functions for the dual activations (MATH §2.2).
//
// asin/acos: the argument is reduced to |w| <= 1/2 (acos x = 2 asin sqrt((1-x)/2) for x > 1/2),
// then asin w = w + w·z·P(z), z = w² ∈ [0, 1/4]. P approximates Σ_{k≥1} a_k z^{k-1}, the Maclaurin
// series of (asin(√z)/√z − 1)/z (a_k = a_{k-1}(2k−1)²/(2k(2k+1)), a_0 = 1), by its Chebyshev
// interpolant on [0, 1/4] of degree 11 (double) or 4 (float), rewritten in powers of z; we computed
// the coefficients with numpy from 80 terms of the series (benchmarks/asin_coefficients.py).
// Accuracy (tests/test_simd_math.py, against numpy): ≤ 2 ulp on [-1, 1].
// Horner's rule uses std::fma explicitly (a single rounding, identical in vector and scalar code);
// everything else is plain arithmetic built with -ffp-contract=off, so results are bit-identical
// whatever the vector width, tile size or thread count. Selects instead of branches let GCC
// vectorise the callers' loops.
#pragma once
#include <cmath>
#include <cstddef>
#include <iterator>
#include <utility>

namespace fastntk {

template <class T> struct AsinPoly;
template <> struct AsinPoly<double> {
    static constexpr double c[] = {0.16666666666666644,  0.075000000000210856, 0.044642857102592491,
                                   0.03038194742633895,  0.022372045641977364, 0.017355297635250067,
                                   0.013929215126229504, 0.011878735695457249, 0.007787588703272905,
                                   0.016080647868852854, -0.010823959407575107, 0.028222911480455991};
};
template <> struct AsinPoly<float> {
    static constexpr float c[] = {0.16666673123836517f, 0.074988089501857758f, 0.045010700821876526f,
                                  0.026494277641177177f, 0.038206450641155243f};
};

// Horner's rule unrolled at compile time (a loop here would block vectorisation of the caller).
template <class T, std::size_t... I>
inline T horner_unrolled(T z, std::index_sequence<I...>) {
    constexpr std::size_t n = std::size(AsinPoly<T>::c);
    T p = AsinPoly<T>::c[n - 1];
    ((p = std::fma(p, z, AsinPoly<T>::c[n - 2 - I])), ...);
    return p;
}

// asin(w) for |w| <= 1/2.
template <class T>
inline T asin_small(T w) {
    const T z = w * w;
    const T p = horner_unrolled(z, std::make_index_sequence<std::size(AsinPoly<T>::c) - 1>{});
    return w + w * (z * p);
}

template <class T> constexpr T pi_v = T(3.141592653589793238462643383279502884);

// arccos on [-1, 1] (inputs outside are clamped: correlations may exceed 1 by an ulp).
template <class T>
inline T acos_fast(T x) {
    x = x > T(1) ? T(1) : (x < T(-1) ? T(-1) : x);
    const T y = x < T(0) ? -x : x;
    const bool big = y > T(0.5);
    const T w = big ? std::sqrt((T(1) - y) * T(0.5)) : y;
    const T p = asin_small(w);
    const T small_res = pi_v<T> / T(2) - (x < T(0) ? -p : p);
    const T big_res = x < T(0) ? pi_v<T> - T(2) * p : T(2) * p;
    return big ? big_res : small_res;
}

// arcsin on [-1, 1] (clamped like acos_fast).
template <class T>
inline T asin_fast(T x) {
    x = x > T(1) ? T(1) : (x < T(-1) ? T(-1) : x);
    const T y = x < T(0) ? -x : x;
    const bool big = y > T(0.5);
    const T w = big ? std::sqrt((T(1) - y) * T(0.5)) : y;
    const T p = asin_small(w);
    const T r = big ? pi_v<T> / T(2) - T(2) * p : p;
    return x < T(0) ? -r : r;
}

}  // namespace fastntk
