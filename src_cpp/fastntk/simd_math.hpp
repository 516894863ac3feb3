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
#include <cstdint>
#include <cstring>
#include <iterator>
#include <type_traits>
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

// c[0] + c[1]·z + … + c[N−1]·z^{N−1} by Horner's rule with fma, unrolled at compile time
// (a loop here would block vectorisation of the caller).
template <class T, std::size_t N, std::size_t... I>
inline T horner_impl(const T (&c)[N], T z, std::index_sequence<I...>) {
    T p = c[N - 1];
    ((p = std::fma(p, z, c[N - 2 - I])), ...);
    return p;
}
template <class T, std::size_t N>
inline T horner(const T (&c)[N], T z) {
    return horner_impl(c, z, std::make_index_sequence<N - 1>{});
}

// asin(w) for |w| <= 1/2.
template <class T>
inline T asin_small(T w) {
    const T z = w * w;
    const T p = horner(AsinPoly<T>::c, z);
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

// exp(x) = 2^n · e^r with n = round(x / ln 2), |r| ≤ ln 2 / 2, e^r from its Taylor polynomial of
// degree 13 (double; truncation < 4e-18) or 7 (float), 2^n assembled from the exponent bits.
// Arguments are clamped to the finite range (exp(-inf) → ~0, exp(+large) → DBL_MAX-ish).
// Accuracy ≤ 2 ulp (tests/test_simd_math.py). Branch-free, so loops calling it vectorise.
template <class T> struct ExpConsts;
template <> struct ExpConsts<double> {
    static constexpr double lo = -708.0, hi = 709.0, log2e = 1.4426950408889634;
    static constexpr double ln2_hi = 0.693145751953125, ln2_lo = 1.4286068203094173e-06;
    static constexpr int degree = 13;
    static constexpr double magic = 6755399441055744.0;  // 1.5·2^52: n + magic holds n in its low bits
};
template <> struct ExpConsts<float> {
    static constexpr float lo = -87.0f, hi = 88.0f, log2e = 1.44269504f;
    static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    static constexpr int degree = 7;
    static constexpr float magic = 12582912.0f;  // 1.5·2^23
};

// Taylor coefficients, computed in double at compile time: 1/k! (exp) and (−1)^k/(2k+1)!,
// (−1)^k/(2k)! (sin and cos in powers of r²).
template <class T, int N, int Kind>  // Kind 0: 1/k!, 1: (−1)^k/(2k+1)!, 2: (−1)^k/(2k)!
struct TaylorCoefficients {
    static constexpr auto value = [] {
        struct { T c[N]; } out{};
        for (int k = 0; k < N; ++k) {
            const int m = Kind == 0 ? k : (Kind == 1 ? 2 * k + 1 : 2 * k);
            double f = 1.0;
            for (int i = 2; i <= m; ++i) f *= i;
            out.c[k] = T((Kind != 0 && k % 2 == 1 ? -1.0 : 1.0) / f);
        }
        return out;
    }();
};

template <class T>
inline T exp_fast(T x) {
    using C = ExpConsts<T>;
    using U = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
    constexpr int mant = sizeof(T) == 8 ? 52 : 23;
    constexpr U bias = sizeof(T) == 8 ? 1023 : 127;
    x = x < C::lo ? C::lo : (x > C::hi ? C::hi : x);
    const T shifted = x * C::log2e + C::magic;
    const T n = shifted - C::magic;  // round(x / ln 2)
    const T r = (x - n * C::ln2_hi) - n * C::ln2_lo;
    U bits;
    std::memcpy(&bits, &shifted, sizeof(T));
    const U scale_bits = (bits + bias) << mant;
    T scale;
    std::memcpy(&scale, &scale_bits, sizeof(T));
    return horner(TaylorCoefficients<T, C::degree + 1, 0>::value.c, r) * scale;
}

// sin and cos together: x = n·π/2 + r with |r| ≤ π/4 (π/2 split in three parts, exact products
// for |n| < 2^20), Taylor polynomials of sin r (to r^17) and cos r (to r^18), then the quadrant
// n mod 4 selects ±sin r / ±cos r. Accuracy ≤ 2 ulp for |x| ≤ 10^5 (tests/test_simd_math.py).
template <class T>
inline void sincos_fast(T x, T& s, T& c) {
    using U = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
    constexpr T two_over_pi = T(0.63661977236758134308);
    constexpr T magic = sizeof(T) == 8 ? T(6755399441055744.0) : T(12582912.0);
    constexpr T p1 = T(1.5707963109016418457), p2 = T(1.5893254712295857e-08), p3 = T(6.123233995736766e-17);
    const T shifted = x * two_over_pi + magic;
    const T n = shifted - magic;
    const T r = ((x - n * p1) - n * p2) - n * p3;
    U bits;
    std::memcpy(&bits, &shifted, sizeof(T));
    const U q = bits & U(3);
    const T z = r * r;
    const T sr = r * horner(TaylorCoefficients<T, 9, 1>::value.c, z);  // r·Σ_{k≤8} (−z)^k/(2k+1)!
    const T cr = horner(TaylorCoefficients<T, 10, 2>::value.c, z);      // Σ_{k≤9} (−z)^k/(2k)!
    const bool odd = (q & U(1)) != 0;
    const T s0 = odd ? cr : sr, c0 = odd ? sr : cr;
    s = (q & U(2)) ? -s0 : s0;
    c = ((q + U(1)) & U(2)) ? -c0 : c0;
}

}  // namespace fastntk
