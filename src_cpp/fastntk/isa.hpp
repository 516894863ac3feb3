// Runtime choice of the instruction set for the hot loops.
//
// A portable build (GCC on x86-64 without FASTNTK_NATIVE) compiles each hot entry point three
// times through `isa_dispatch`: for AVX-512, for AVX2 + FMA and for the x86-64 baseline. `flatten`
// inlines the whole call tree into each copy, so every helper is compiled for that instruction set.
// The copy is chosen once from the CPU's feature flags (not its model name, which virtual machines
// often hide). The body receives the vector width in bytes as a compile-time constant, which sizes
// register blocks (gemm_tile): 32 zmm registers hold a wider block than 16 ymm ones.
//
// Every copy performs the same IEEE operations in the same order (std::fma is one rounding whether
// it is an instruction or libm's correctly rounded call), so results never depend on the copy; the
// environment variable FASTNTK_ISA=baseline|avx2|avx512, read once, caps the choice (tests run every
// copy this way and compare them bit for bit).
#pragma once
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace fastntk {

template <int Bytes>
using VectorBytes = std::integral_constant<int, Bytes>;

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(FASTNTK_NATIVE)

enum class Isa : int { Baseline = 0, Avx2Fma = 1, Avx512 = 2 };

inline Isa cpu_isa() {
    static const Isa isa = [] {
        __builtin_cpu_init();
        const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        Isa best = avx2_fma ? (__builtin_cpu_supports("avx512f") ? Isa::Avx512 : Isa::Avx2Fma) : Isa::Baseline;
        const char* cap = std::getenv("FASTNTK_ISA");
        if (cap && std::strcmp(cap, "baseline") == 0) best = Isa::Baseline;
        if (cap && std::strcmp(cap, "avx2") == 0 && best == Isa::Avx512) best = Isa::Avx2Fma;
        return best;
    }();
    return isa;
}

inline const char* isa_name() {
    switch (cpu_isa()) {
        case Isa::Avx512: return "avx512";
        case Isa::Avx2Fma: return "avx2";
        case Isa::Baseline: return "baseline";
    }
    return "baseline";
}

template <class Body>
__attribute__((flatten, target("avx512f,avx2,fma"))) void run_avx512(const Body& body) {
    body(VectorBytes<64>{});
}
template <class Body>
__attribute__((flatten, target("avx2,fma"))) void run_avx2_fma(const Body& body) {
    body(VectorBytes<32>{});
}
template <class Body>
__attribute__((flatten)) void run_baseline(const Body& body) {
    body(VectorBytes<16>{});
}

// body(VectorBytes<W>{}) compiled for the best instruction set of this CPU.
template <class Body>
inline void isa_dispatch(const Body& body) {
    switch (cpu_isa()) {
        case Isa::Avx512: return run_avx512(body);
        case Isa::Avx2Fma: return run_avx2_fma(body);
        case Isa::Baseline: return run_baseline(body);
    }
}

#else  // native or non-GCC builds: the compiler's own target, one copy

#if defined(__AVX512F__)
constexpr int native_vector_bytes = 64;
#elif defined(__AVX2__) || defined(__AVX__)
constexpr int native_vector_bytes = 32;
#else
constexpr int native_vector_bytes = 16;
#endif

template <class Body>
inline void isa_dispatch(const Body& body) {
    body(VectorBytes<native_vector_bytes>{});
}

inline const char* isa_name() { return "native"; }

#endif

}  // namespace fastntk
