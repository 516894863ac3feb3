// Empirical NTK of a finite MLP without Jacobians (MATH §5):
//   eNTK(x, x') = Σ_h (α_h²·⟨g^{h−1}(x), g^{h−1}(x')⟩ + β_h²) · B_h(x) B_h(x')ᵀ     (an O×O block),
// with g^{h−1} the layer inputs and B_h the O×d_h cotangents, both computed per point in Python
// (O(N·width·O) work). Here only the O(N1·N2) contraction runs: for one tile of point pairs and
// every layer, one GEMM for the feature Gram and one for the cotangent products (per output o in
// the 'trace' and 'diagonal' modes), accumulated in the tile while it is in cache. Nothing of size
// N·O·P (P = number of parameters) is ever formed.
//
// Determinism: every GEMM entry is the sum over k = 0..d−1 in that order, and the layers are added
// in the order h = 1..L+1, so a result depends neither on the thread count nor on the tile size.
// A symmetric Gram (x' = x) computes tiles on or above the diagonal and mirrors them.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "isa.hpp"
#include "tiling.hpp"

namespace fastntk {

enum class EntkMode : int { Full = 0, Trace = 1, Diagonal = 2 };

// One layer h of one side: inputs g^{h−1} (n rows of d_in, row stride ld_feat) and cotangents B_h
// (n·O rows of d_out, row (i, o) at cot + (i·O + o)·d_out).
template <class T>
struct EntkLayerData {
    const T* feat;
    int64_t ld_feat;
    const T* cot;
};

template <class T>
struct EntkArgs {
    int n_layers = 0, O = 1;
    std::vector<int64_t> d_in, d_out;  // per layer
    std::vector<T> alpha2, beta2;      // α_h², β_h² per layer
    std::vector<EntkLayerData<T>> x1, x2;
    int64_t n1 = 0, n2 = 0;
    EntkMode mode = EntkMode::Full;
    T* out = nullptr;  // n1 rows of n2·K values (K = O², O or 1), row stride ld_out
    int64_t ld_out = 0;
    bool symmetric = false;
    int64_t values_per_pair() const { return mode == EntkMode::Full ? int64_t(O) * O : mode == EntkMode::Diagonal ? O : 1; }
};

// Register-blocked GEMM on packed panels. Bp holds ceil(nj/CB) panels of d×CB values (panel p,
// row k at Bp + (p·d + k)·CB, zero-padded); C[i][j] = Σ_k A[i·lda + k]·B[j][k] for i < ni and
// all padded columns j < npanels·CB (row stride ldc). Each entry is summed in the order k = 0..d−1.
template <class T>
struct PanelGemm {
    static constexpr int CB = 128 / int(sizeof(T));  // two 512-bit vectors per row of the block
    static constexpr int RB = 6;

    static int64_t padded(int64_t n) { return (n + CB - 1) / CB * CB; }

    // Pack rows B[j] = src + j·ld (j < nj, d values each) into panels.
    static void pack(const T* src, int64_t ld, int64_t nj, int64_t d, T* Bp) {
        const int64_t np = padded(nj) / CB;
        for (int64_t p = 0; p < np; ++p) {
            T* panel = Bp + p * d * CB;
            for (int c = 0; c < CB; ++c) {
                const int64_t j = p * CB + c;
                if (j < nj) {
                    const T* row = src + j * ld;
                    for (int64_t k = 0; k < d; ++k) panel[k * CB + c] = row[k];
                } else {
                    for (int64_t k = 0; k < d; ++k) panel[k * CB + c] = T(0);
                }
            }
        }
    }

    // The k range is cut into blocks of KC so that a panel block stays in L1 while all row blocks
    // pass over it; the accumulators continue from C between blocks, so the order stays k = 0..d−1.
    static void run(const T* A, int64_t lda, int64_t ni, const T* Bp, int64_t nj, int64_t d, T* C,
                                        int64_t ldc) {
        constexpr int64_t KC = 256;
        const int64_t np = padded(nj) / CB;
        for (int64_t k0 = 0; k0 < d; k0 += KC) {
            const int64_t k1 = std::min(d, k0 + KC);
            for (int64_t p = 0; p < np; ++p) {
                const T* panel = Bp + p * d * CB;
                T* Cp = C + p * CB;
                int64_t i = 0;
                for (; i + RB <= ni; i += RB) {
                    T acc[RB][CB];
                    for (int r = 0; r < RB; ++r)
                        for (int c = 0; c < CB; ++c) acc[r][c] = k0 == 0 ? T(0) : Cp[(i + r) * ldc + c];
                    const T* a = A + i * lda;
                    for (int64_t k = k0; k < k1; ++k) {
                        const T* b = panel + k * CB;
                        for (int r = 0; r < RB; ++r) {
                            const T x = a[r * lda + k];
#pragma omp simd
                            for (int c = 0; c < CB; ++c) acc[r][c] = std::fma(x, b[c], acc[r][c]);
                        }
                    }
                    for (int r = 0; r < RB; ++r) std::memcpy(Cp + (i + r) * ldc, acc[r], sizeof(T) * CB);
                }
                for (; i < ni; ++i) {
                    T acc[CB];
                    for (int c = 0; c < CB; ++c) acc[c] = k0 == 0 ? T(0) : Cp[i * ldc + c];
                    const T* a = A + i * lda;
                    for (int64_t k = k0; k < k1; ++k) {
                        const T x = a[k];
                        const T* b = panel + k * CB;
#pragma omp simd
                        for (int c = 0; c < CB; ++c) acc[c] = std::fma(x, b[c], acc[c]);
                    }
                    std::memcpy(Cp + i * ldc, acc, sizeof(T) * CB);
                }
            }
        }
    }
};

// Scratch memory of one thread for tiles of at most `tile` points per side.
template <class T>
struct EntkWork {
    std::vector<T> packed, coef, prod, acc;
    EntkWork(const EntkArgs<T>& g, int64_t tile) {
        using G = PanelGemm<T>;
        const int64_t rows = g.mode == EntkMode::Full ? tile * g.O : tile;  // GEMM rows/cols per side
        int64_t dmax = 1;
        for (int h = 0; h < g.n_layers; ++h) dmax = std::max({dmax, g.d_in[size_t(h)], g.d_out[size_t(h)]});
        packed.resize(size_t(G::padded(rows) * dmax));
        coef.resize(size_t(tile * G::padded(tile)));
        prod.resize(size_t(rows * G::padded(rows)));
        acc.resize(size_t(tile * tile * g.values_per_pair()));
    }
};

// One tile: acc[i][j][·] = Σ_h c_h(i, j)·(B_h(x_i) B_h(x'_j)ᵀ)[·], then the stores.
template <class T>
inline void entk_tile_impl(const EntkArgs<T>& g, const Tile& t, EntkWork<T>& w) {
    using G = PanelGemm<T>;
    const int64_t ni = t.i1 - t.i0, nj = t.j1 - t.j0, O = g.O, K = g.values_per_pair();
    const int64_t ldc = G::padded(nj);
    T* acc = w.acc.data();
    std::fill(acc, acc + ni * nj * K, T(0));
    for (int h = 0; h < g.n_layers; ++h) {
        const EntkLayerData<T>& a = g.x1[size_t(h)];
        const EntkLayerData<T>& b = g.x2[size_t(h)];
        const int64_t din = g.d_in[size_t(h)], dout = g.d_out[size_t(h)];
        // c_h(i, j) = α_h²·⟨g^{h−1}(x_i), g^{h−1}(x'_j)⟩ + β_h²
        T* coef = w.coef.data();
        G::pack(b.feat + t.j0 * b.ld_feat, b.ld_feat, nj, din, w.packed.data());
        G::run(a.feat + t.i0 * a.ld_feat, a.ld_feat, ni, w.packed.data(), nj, din, coef, ldc);
        const T al2 = g.alpha2[size_t(h)], be2 = g.beta2[size_t(h)];
        for (int64_t i = 0; i < ni; ++i)
            for (int64_t j = 0; j < nj; ++j) coef[i * ldc + j] = al2 * coef[i * ldc + j] + be2;
        T* prod = w.prod.data();
        if (g.mode == EntkMode::Full) {
            // (ni·O)×(nj·O) cotangent products; entry ((i,o), (j,p)) is B_h(x_i)[o]·B_h(x'_j)[p].
            const int64_t ldp = G::padded(nj * O);
            G::pack(b.cot + t.j0 * O * dout, dout, nj * O, dout, w.packed.data());
            G::run(a.cot + t.i0 * O * dout, dout, ni * O, w.packed.data(), nj * O, dout, prod, ldp);
            for (int64_t i = 0; i < ni; ++i)
                for (int64_t j = 0; j < nj; ++j) {
                    const T c = coef[i * ldc + j];
                    T* dst = acc + (i * nj + j) * K;
                    for (int64_t o = 0; o < O; ++o) {
                        const T* src = prod + (i * O + o) * ldp + j * O;
#pragma omp simd
                        for (int64_t p = 0; p < O; ++p) dst[o * O + p] += c * src[p];
                    }
                }
        } else {
            for (int64_t o = 0; o < O; ++o) {  // rows (i, o) for fixed o are O·d_out apart
                G::pack(b.cot + (t.j0 * O + o) * dout, O * dout, nj, dout, w.packed.data());
                G::run(a.cot + (t.i0 * O + o) * dout, O * dout, ni, w.packed.data(), nj, dout, prod, ldc);
                const int64_t slot = g.mode == EntkMode::Diagonal ? o : 0;
                for (int64_t i = 0; i < ni; ++i) {
                    const T* c = coef + i * ldc;
                    const T* s = prod + i * ldc;
                    T* dst = acc + i * nj * K + slot;
                    for (int64_t j = 0; j < nj; ++j) dst[j * K] += c[j] * s[j];
                }
            }
        }
    }
    // Store; in a symmetric Gram also the mirrored entry out[j][i] = transpose of the O×O block.
    const bool diagonal_tile = g.symmetric && t.i0 == t.j0;
    for (int64_t i = 0; i < ni; ++i) {
        const int64_t j_begin = diagonal_tile ? i : 0;
        std::memcpy(g.out + (t.i0 + i) * g.ld_out + (t.j0 + j_begin) * K, acc + (i * nj + j_begin) * K,
                    sizeof(T) * size_t((nj - j_begin) * K));
    }
    if (!g.symmetric) return;
    for (int64_t j = 0; j < nj; ++j) {
        T* row = g.out + (t.j0 + j) * g.ld_out + t.i0 * K;
        const int64_t i_end = diagonal_tile ? j : ni;
        for (int64_t i = 0; i < i_end; ++i) {
            const T* src = acc + (i * nj + j) * K;
            T* dst = row + i * K;
            if (g.mode == EntkMode::Full) {
                for (int64_t o = 0; o < O; ++o)
                    for (int64_t p = 0; p < O; ++p) dst[p * O + o] = src[o * O + p];
            } else {
                for (int64_t k = 0; k < K; ++k) dst[k] = src[k];
            }
        }
    }
}

// The tile compiled for the CPU's instruction set (isa.hpp). The GEMM uses std::fma, which rounds
// identically in every copy, so the instruction set never changes a result.
template <class T>
inline void entk_tile(const EntkArgs<T>& g, const Tile& t, EntkWork<T>& w) {
    isa_dispatch([&](auto) { entk_tile_impl(g, t, w); });
}

// The whole (N1 × N2 × K) eNTK, or its upper triangle plus mirror when symmetric. False if interrupted.
template <class T>
bool entk_gram(const EntkArgs<T>& g, int64_t tile, int n_threads, const Poll& poll) {
    const std::vector<Tile> tiles = make_tiles(g.n1, g.n2, tile, g.symmetric);
    const int nt = resolve_threads(n_threads);
    std::vector<EntkWork<T>> work;
    work.reserve(size_t(nt));
    for (int k = 0; k < nt; ++k) work.emplace_back(g, tile);
    return parallel_for(int64_t(tiles.size()), nt,
                        [&](int64_t k, int tid) { entk_tile(g, tiles[size_t(k)], work[size_t(tid)]); },
                        poll);
}

}  // namespace fastntk
