// Branch-free, auto-vectorisable elementary functions for the dual activations (MATH §2.2).
//
// asin/acos: the argument is reduced to |w| <= 1/2 (acos x = 2 asin sqrt((1-x)/2) for x > 1/2),
// then asin w = w (1 + z P(z)), z = w^2, with P the Maclaurin series of asin truncated where its
// tail is below half an ulp: 26 terms for double (tail < 1e-18 at z = 1/4), 11 for float.
// The coefficients come from the recurrence a_k = a_{k-1} (2k-1)^2 / (2k (2k+1)), a_0 = 1.
// Accuracy (tested in tests/test_simd_math.py against numpy): <= 2 ulp over [-1, 1].
// Everything is written with selects instead of branches so that GCC vectorises loops that
// call these functions; -ffp-contract=off keeps the scalar and vector paths bit-identical.
#pragma once
#include <array>
#include <cmath>
#include <cstddef>

namespace fastntk {

template <class T> struct AsinSeries;
template <> struct AsinSeries<double> { static constexpr int terms = 26; };
template <> struct AsinSeries<float> { static constexpr int terms = 11; };

template <class T>
constexpr std::array<T, AsinSeries<T>::terms> asin_coefficients() {
    std::array<T, AsinSeries<T>::terms> c{};
    double a = 1.0;
    for (int k = 1; k <= AsinSeries<T>::terms; ++k) {
        a *= double(2 * k - 1) * double(2 * k - 1) / (double(2 * k) * double(2 * k + 1));
        c[k - 1] = T(a);
    }
    return c;
}

// asin(w) for |w| <= 1/2.
template <class T>
inline T asin_small(T w) {
    constexpr auto c = asin_coefficients<T>();
    const T z = w * w;
    T p = c[AsinSeries<T>::terms - 1];
#pragma GCC unroll 32  // fully unrolled, so that loops calling asin/acos vectorise
    for (int k = AsinSeries<T>::terms - 2; k >= 0; --k) p = p * z + c[k];
    return w + w * (z * p);
}

template <class T> constexpr T pi_v = T(3.141592653589793238462643383279502884L);

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
