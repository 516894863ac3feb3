// Fully-connected NNGP / NTK Gram matrices (MATH §1–§3), one cache-sized tile at a time:
// the tile's inner products come from a register-blocked GEMM, then the whole Σ / Σ̇ / Θ chain
// of every layer runs on each tile row while it is in L1. Nothing of size N1×N2 is allocated.
//
// One recursion covers both conventions of MATH §1:
//   Σ_0 = w0·xᵀx' + b0,   Σ_h = w·T(Σ_{h-1}) + b,   Θ_h = (w·Ṫ(Σ_{h-1}))·Θ_{h-1} + Σ_h,
// with Θ started at layer `fix` (Θ_fix = Σ_fix: the bottom `fix` layers are frozen; fix = depth
// gives the NNGP). Seeds: w0 = 1, b0 = b = 0, w = c_σ. neural-tangents: w0 = W²/d, w = W², b0 = b = b_std².
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dual.hpp"
#include "isa.hpp"
#include "tiling.hpp"

namespace fastntk {

template <class T>
struct FCParams {
    int depth = 1;
    int fix = 0;
    T w0 = T(1), b0 = T(0), w = T(2), b = T(0);
    Activation<T> act;
};

inline ThetaMode theta_mode(int layer, int fix) {
    return layer < fix ? ThetaMode::Skip : (layer == fix ? ThetaMode::Start : ThetaMode::Accumulate);
}

// A matrix of points: row i starts at data + i·ld. `stats` holds, for layers h = 0..depth-1,
// the two row statistics of Σ_h(x_i, x_i) (dual.hpp: row_stats) and Σ_h(x_i, x_i) itself, laid
// out [h][0|1|2][i] with stride n between consecutive arrays.
template <class T>
struct Points {
    const T* data;
    int64_t n, ld;
    const T* stats;
    static constexpr int per_layer = 3;
    const T* stat(int layer, int which) const { return stats + (int64_t(per_layer) * layer + which) * n; }
};

// Inner product in the fixed order k = 0..d-1 with fused multiply-adds (the GEMM below sums in
// the same order with the same operation, so that the diagonal of a Gram equals the per-point
// pass to the bit). std::fma is one instruction in the AVX-512 / AVX2 copies (isa.hpp) and a correctly
// rounded libm call elsewhere: the same result either way.
template <class T>
inline T dot_ordered(const T* x, const T* y, int64_t d) {
    T s = T(0);
    for (int64_t k = 0; k < d; ++k) s = std::fma(x[k], y[k], s);
    return s;
}

// Per-point pass: Σ_h(x, x) for h = 0..depth and the statistics of h = 0..depth-1; also the
// NNGP and NTK diagonals. Each layer runs the same dual_layer_row as the Gram (with c = a = b,
// hence ρ = 1), so the diagonal of a Gram equals this pass to the bit.
template <class T>
void fc_point_pass(const FCParams<T>& p, const T* X, int64_t n, int64_t d, int64_t ldx, T* stats,
                   T* nngp_diag, T* ntk_diag, int n_threads) {
    const int nt = resolve_threads(n_threads);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; ++i) {
        T S = p.w0 * dot_ordered(X + i * ldx, X + i * ldx, d) + p.b0;
        T H = S;
        for (int h = 1; h <= p.depth; ++h) {
            T s0 = T(0), s1 = T(0), a = S;
            row_stats(p.act, a, s0, s1);
            T* st = stats + int64_t(Points<T>::per_layer) * (h - 1) * n + i;
            st[0] = s0;
            st[n] = s1;
            st[2 * n] = a;
            T scratch[8];
            dual_layer_row(p.act, s0, s1, a, &s0, &s1, &a, 1, p.w, p.b, theta_mode(h, p.fix), &S, &H, scratch);
        }
        if (nngp_diag) nngp_diag[i] = S;
        if (ntk_diag) ntk_diag[i] = H;
    }
}

// S[i][j] = Σ_k A[i][k]·Bt[k][j] for an ni×nj block, Bt packed d×nj with row stride ldb. A block of RB rows × two
// vectors of columns stays in registers (8 × 2 zmm of 32 registers with AVX-512, 6 × 2 of 16
// otherwise); every entry is accumulated by fma in the order k = 0..d-1, whatever the block.
template <int VB = 64, class T>
inline void gemm_tile(const T* A, int64_t lda, const T* Bt, int64_t ldb, int64_t d, int ni, int nj, T* S) {
    constexpr int RB = VB >= 64 ? 8 : 6, CB = 2 * VB / int(sizeof(T));
    int i = 0;
    for (; i + RB <= ni; i += RB) {
        int j = 0;
        for (; j + CB <= nj; j += CB) {
            T acc[RB][CB] = {};
            for (int64_t k = 0; k < d; ++k) {
                const T* b = Bt + k * ldb + j;
                for (int r = 0; r < RB; ++r) {
                    const T x = A[(i + r) * lda + k];
#pragma omp simd
                    for (int c = 0; c < CB; ++c) acc[r][c] = std::fma(x, b[c], acc[r][c]);
                }
            }
            for (int r = 0; r < RB; ++r)
                for (int c = 0; c < CB; ++c) S[(i + r) * nj + j + c] = acc[r][c];
        }
        for (; j < nj; ++j)
            for (int r = 0; r < RB; ++r) {
                T s = T(0);
                for (int64_t k = 0; k < d; ++k) s = std::fma(A[(i + r) * lda + k], Bt[k * ldb + j], s);
                S[(i + r) * nj + j] = s;
            }
    }
    for (; i < ni; ++i) {
        T* s = S + int64_t(i) * nj;
        for (int j = 0; j < nj; ++j) s[j] = T(0);
        for (int64_t k = 0; k < d; ++k) {
            const T x = A[i * lda + k];
            const T* b = Bt + k * ldb;
#pragma omp simd
            for (int j = 0; j < nj; ++j) s[j] = std::fma(x, b[j], s[j]);
        }
    }
}

// One cache line of elements: padding that breaks power-of-two row strides of packed blocks.
template <class T>
constexpr int64_t kLinePad = 64 / int64_t(sizeof(T));

template <class T>
struct FCGramArgs {
    FCParams<T> p;
    Points<T> x1, x2;
    int64_t d;
    T* nngp;  // may be null
    int64_t ld_nngp;
    T* ntk;   // may be null
    int64_t ld_ntk;
    bool symmetric;  // x2 is x1: tiles on/above the diagonal, mirrored on store
};

// One tile: GEMM, the chain of all layers row by row, then the stores (and mirrored stores).
// `work` holds d·(tile + kLinePad) + 2·tile² + 8·tile elements.
template <int VB, class T>
inline void fc_tile_impl(const FCGramArgs<T>& g, const Tile& t, T* work) {
    const int ni = int(t.i1 - t.i0), nj = int(t.j1 - t.j0);
    const FCParams<T>& p = g.p;
    T* Bt = work;
    T* S = Bt + g.d * (nj + kLinePad<T>);
    T* H = S + int64_t(ni) * nj;
    T* scratch = H + int64_t(ni) * nj;
    // Bt's rows are one cache line longer than nj: a power-of-two stride would map the column
    // being packed (and the GEMM's k loop) onto a few L1 sets.
    const int64_t ldb = nj + kLinePad<T>;
    for (int j = 0; j < nj; ++j) {
        const T* xj = g.x2.data + (t.j0 + j) * g.x2.ld;
        for (int64_t k = 0; k < g.d; ++k) Bt[k * ldb + j] = xj[k];
    }
    gemm_tile<VB>(g.x1.data + t.i0 * g.x1.ld, g.x1.ld, Bt, ldb, g.d, ni, nj, S);
    for (int i = 0; i < ni; ++i) {
        T* s = S + int64_t(i) * nj;
        T* h_row = H + int64_t(i) * nj;
        const int64_t gi = t.i0 + i;
#pragma omp simd
        for (int j = 0; j < nj; ++j) {
            s[j] = p.w0 * s[j] + p.b0;
            h_row[j] = s[j];
        }
        for (int layer = 1; layer <= p.depth; ++layer) {
            const int h = layer - 1;
            dual_layer_row(p.act, g.x1.stat(h, 0)[gi], g.x1.stat(h, 1)[gi], g.x1.stat(h, 2)[gi], g.x2.stat(h, 0) + t.j0,
                           g.x2.stat(h, 1) + t.j0, g.x2.stat(h, 2) + t.j0, nj, p.w, p.b, theta_mode(layer, p.fix), s,
                           h_row, scratch);
        }
    }
    if (g.nngp) store_tile(S, t, g.nngp, g.ld_nngp, g.symmetric);
    if (g.ntk) store_tile(H, t, g.ntk, g.ld_ntk, g.symmetric);
}

template <class T>
inline void fc_tile(const FCGramArgs<T>& g, const Tile& t, T* work) {
    isa_dispatch([&](auto vb) { fc_tile_impl<decltype(vb)::value>(g, t, work); });
}

// The Gram (or the upper-triangle-plus-mirror when symmetric). Returns false if interrupted.
template <class T>
bool fc_gram(const FCGramArgs<T>& g, int64_t tile, int n_threads, const Poll& poll) {
    const std::vector<Tile> tiles = make_tiles(g.x1.n, g.x2.n, tile, g.symmetric);
    const int nt = resolve_threads(n_threads);
    std::vector<std::vector<T>> work(nt, std::vector<T>(size_t(g.d * (tile + kLinePad<T>) + 2 * tile * tile + 8 * tile)));
    return parallel_for(int64_t(tiles.size()), nt,
                        [&](int64_t k, int tid) { fc_tile(g, tiles[size_t(k)], work[size_t(tid)].data()); },
                        poll);
}

}  // namespace fastntk
