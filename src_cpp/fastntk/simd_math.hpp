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

// 1/k! for k = 0..K (computed in double at compile time).
template <class T, int K>
struct InverseFactorials {
    static constexpr auto value = [] {
        struct { T c[K + 1]; } out{};
        double f = 1.0;
        for (int k = 0; k <= K; ++k) {
            if (k > 0) f *= k;
            out.c[k] = T(1.0 / f);
        }
        return out;
    }();
};

// Σ_{k=0}^{K} r^k / k! by Horner's rule with fma, unrolled at compile time.
template <class T, int... I>
inline T exp_taylor(T r, std::integer_sequence<int, I...>) {
    constexpr int K = sizeof...(I);
    constexpr auto& c = InverseFactorials<T, K>::value.c;
    T p = c[K];
    ((p = std::fma(p, r, c[K - 1 - I])), ...);
    return p;
}

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
    return exp_taylor(r, std::make_integer_sequence<int, C::degree>{}) * scale;
}

}  // namespace fastntk
