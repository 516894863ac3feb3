// Convolutional NTK (MATH §8): CNTK-V (flatten readout) and CNTK-GAP (global average pooling),
// 3×3 SAME convolutions, ReLU, with the offset-diagonal algorithm.
//
// For a pair of images (x, z) the recursion lives on pixel-pair tensors S[p, q], Θ[p, q]. conv3 adds
// the 3×3 neighbourhood shifted by the same amount in both images, so it maps the entries of one
// pixel offset δ = q − p to the same offset, and the ReLU step is elementwise. The P² recursion
// therefore splits into one independent problem per offset δ = (dy, dx): a plain (H−|dy|)×(W−|dx|)
// grid on which conv3 is a 3×3 box sum with zero padding. CNTK-V reads out the trace, i.e. offset 0
// only (O(P·D) per pair); CNTK-GAP sums all offsets, each problem small enough to stay in L1/L2
// across every layer. Nothing of size P² is ever stored.
//
// One recursion covers both conventions (cntk.py chooses the coefficients):
//   layer 1:      S = w0·conv3(Σ_c x_c ⊗ z_c) + b0,            Θ = S  (0 when `fix`)
//   layers 2..D−1: S ← w·conv3(T(S)) + b,   Θ ← w·conv3(Ṫ(S)⊙Θ + T(S)) + b
//   readout:      Σ = w_out·R(T(S)) + b_out,  Θ = w_out·R(Ṫ(S)⊙Θ + T(S)) + b_out  (− Σ when `fix`)
// with T, Ṫ the ReLU duals E[σσ], E[σ'σ'] of MATH §2.2 (no c_σ; it is part of w, w_out) and R the sum
// over the diagonal pixel pairs (V) or over all pixel pairs (GAP). Arora et al. 2019: w0 = 1,
// b0 = b = b_out = 0, w = w_out = c_σ/9 (GAP: w_out = c_σ/(9P²)); the per-pixel norms √S(x,x)[p,p]
// come from the offset-0 pass of (x, x).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "isa.hpp"
#include "simd_math.hpp"
#include "tiling.hpp"

namespace fastntk {

template <class T>
struct CNTKParams {
    int depth = 2;          // D: D−1 convolution+ReLU layers, then the readout
    int H = 1, W = 1, C = 1;
    bool gap = true;        // readout: global average pooling (all offsets) or flatten (offset 0)
    bool fix = false;       // first convolution and readout not trained (Arora et al.'s `fix`)
    T w0 = T(1), b0 = T(0), w = T(2) / T(9), b = T(0), w_out = T(2) / T(9), b_out = T(0);
    int64_t pixels() const { return int64_t(H) * W; }
};

// n images, channels last: pixel (y, x) channel c of image i at data[i·ld + (y·W + x)·C + c].
// norms[i·ld_norms + h·P + p] = √S_h(x_i, x_i)[p, p] for h = 0..D−2 (S_h: the input of ReLU step h+1).
template <class T>
struct Images {
    const T* data;
    int64_t n, ld;
    const T* norms;
    int64_t ld_norms;
    const T* image(int64_t i) const { return data + i * ld; }
    const T* norm(int64_t i) const { return norms + i * ld_norms; }
};

// The ReLU step of MATH §8 on a run of grid entries: with λ = c/(L_a L_b) (0 when a norm is 0;
// exactly 1 for a pixel paired with itself),
//   T = (λ(π − arccos λ) + √(1−λ²))·L_a L_b/(2π),   Ṫ = (π − arccos λ)/(2π),
//   Θ ← Ṫ·Θ + T,  S ← T.
template <class T>
inline void relu_step_row(T* S, T* Th, const T* la, const T* lb, int n, bool self) {
    constexpr T pi = pi_v<T>;
    constexpr T inv2pi = T(1) / (T(2) * pi_v<T>);
#pragma omp simd
    for (int k = 0; k < n; ++k) {
        const T den = la[k] * lb[k];
        const bool positive = den > T(0);
        T lam = S[k] / (positive ? den : T(1));  // unconditional division: the loop stays branch-free
        lam = positive ? (self ? T(1) : lam) : T(0);
        lam = lam > T(1) ? T(1) : (lam < T(-1) ? T(-1) : lam);
        const T theta = acos_fast(lam);
        const T t = (lam * (pi - theta) + std::sqrt(T(1) - lam * lam)) * den * inv2pi;
        Th[k] = (pi - theta) * inv2pi * Th[k] + t;
        S[k] = t;
    }
}

// Work space of one thread. An offset problem lives on an (hr+2)×(wr+2) grid with row stride wr+2
// whose border (row 0, row hr+1, columns 0 and wr+1) is zero: then every layer is one contiguous
// branch-free loop over the block from (1, 1) to (hr, wr), border columns included (they stay 0,
// since a zero norm gives T = 0). Five grids: S, Θ, a conv3 scratch, and the norms of both images.
template <class T>
struct OffsetGrids {
    std::vector<T> S, Th, tmp, la, lb;
    explicit OffsetGrids(const CNTKParams<T>& p)
        : S(size_t((p.H + 2) * (p.W + 2))), Th(S.size()), tmp(S.size()), la(S.size()), lb(S.size()) {}
};

// The interior block [begin, end) of an hr×wr grid with stride wr+2.
struct GridBlock {
    int hr, wr;
    int64_t st, begin, end;
    GridBlock(int hr_, int wr_)
        : hr(hr_), wr(wr_), st(wr_ + 2), begin(wr_ + 3), end(int64_t(hr_) * (wr_ + 2) + wr_ + 1) {}
    template <class T>
    void zero_border_columns(T* g) const {
        for (int r = 1; r <= hr; ++r) g[r * st] = g[r * st + wr + 1] = T(0);
    }
};

// g ← scale·conv3(g) + bias on the interior (MATH §8: conv3 at a fixed offset is a 3×3 box sum with
// zero padding). Separable: horizontal 3-sums into tmp (rows 0 and hr+1 of tmp are zero), then
// vertical 3-sums; the border columns computed on the way are reset to 0.
template <class T>
inline void conv3_grid(const GridBlock& b, T* g, T* tmp, T scale, T bias) {
#pragma omp simd
    for (int64_t k = b.begin; k < b.end; ++k) tmp[k] = g[k - 1] + g[k] + g[k + 1];
#pragma omp simd
    for (int64_t k = b.begin; k < b.end; ++k) g[k] = scale * (tmp[k - b.st] + tmp[k] + tmp[k + b.st]) + bias;
    b.zero_border_columns(g);
}

// The offset problem δ = (dy, dx) of the pair (x, z): runs all layers and returns the readout sums
// R(T(S)) and R(Ṫ⊙Θ + T(S)) over its grid (in double, in a fixed order). `self`: z is x (only
// offset 0 then forces λ = 1). With `record` (self, offset 0), the norms √S[p,p] of every layer are
// written to `record` before they are used: this is the per-image pass, identical operation for
// operation to the offset-0 problem of the pair (x, x) in a Gram.
template <class T>
inline void offset_problem_impl(const CNTKParams<T>& p, const T* x, const T* nx, const T* z, const T* nz, bool self,
                                int dy, int dx, OffsetGrids<T>& g, double& sum_s, double& sum_t, T* record) {
    const int W = p.W, C = p.C;
    const int64_t P = p.pixels();
    const GridBlock b(p.H - std::abs(dy), W - std::abs(dx));
    const int64_t st = b.st;
    const int y0 = std::max(0, -dy), x0 = std::max(0, -dx);  // first pixel of x in the grid
    const bool diagonal = self && dy == 0 && dx == 0;
    T* S = g.S.data();
    T* Th = g.Th.data();
    T* tmp = g.tmp.data();
    T* la = g.la.data();
    T* lb = g.lb.data();
    for (int64_t c = 0; c < st; ++c) tmp[c] = tmp[(b.hr + 1) * st + c] = T(0);
    b.zero_border_columns(S);
    b.zero_border_columns(Th);
    b.zero_border_columns(la);
    b.zero_border_columns(lb);
    // Layer 1: S = w0·conv3(Σ_c x_c ⊗ z_c) + b0; Θ = S (0 when fix).
    for (int r = 0; r < b.hr; ++r) {
        const T* xa = x + (int64_t(y0 + r) * W + x0) * C;
        const T* zb = z + (int64_t(y0 + r + dy) * W + x0 + dx) * C;
        T* row = S + (r + 1) * st + 1;
        if (C == 1) {
#pragma omp simd
            for (int c = 0; c < b.wr; ++c) row[c] = xa[c] * zb[c];
        } else {
            for (int c = 0; c < b.wr; ++c) {
                T v = T(0);
                for (int k = 0; k < C; ++k) v += xa[c * C + k] * zb[c * C + k];
                row[c] = v;
            }
        }
    }
    conv3_grid(b, S, tmp, p.w0, p.b0);
#pragma omp simd
    for (int64_t k = b.begin; k < b.end; ++k) Th[k] = p.fix ? T(0) : S[k];
    for (int h = 0; h < p.depth - 1; ++h) {
        const T* na = (record ? record : nx) + h * P;
        const T* nb = (record ? record : nz) + h * P;
        if (record)
            for (int r = 0; r < b.hr; ++r)
                for (int c = 0; c < b.wr; ++c)
                    record[h * P + r * W + c] = std::sqrt(std::max(S[(r + 1) * st + c + 1], T(0)));
        for (int r = 0; r < b.hr; ++r) {
            std::copy_n(na + int64_t(y0 + r) * W + x0, b.wr, la + (r + 1) * st + 1);
            std::copy_n(nb + int64_t(y0 + r + dy) * W + x0 + dx, b.wr, lb + (r + 1) * st + 1);
        }
        relu_step_row(S + b.begin, Th + b.begin, la + b.begin, lb + b.begin, int(b.end - b.begin), diagonal);
        if (h + 1 < p.depth - 1) {
            conv3_grid(b, S, tmp, p.w, p.b);
            conv3_grid(b, Th, tmp, p.w, p.b);
        }
    }
    double ss = 0.0, tt = 0.0;
    for (int64_t k = b.begin; k < b.end; ++k) {
        ss += double(S[k]);
        tt += double(Th[k]);
    }
    sum_s = ss;
    sum_t = tt;
}

// One offset problem (every layer) compiled for the CPU's instruction set (isa.hpp). Plain overloads,
// so that callers may pass nullptr for the norms.
inline void offset_problem(const CNTKParams<double>& p, const double* x, const double* nx, const double* z,
                           const double* nz, bool self, int dy, int dx, OffsetGrids<double>& g, double& s, double& t,
                           double* record = nullptr) {
    isa_dispatch([&](auto) { offset_problem_impl(p, x, nx, z, nz, self, dy, dx, g, s, t, record); });
}
inline void offset_problem(const CNTKParams<float>& p, const float* x, const float* nx, const float* z,
                           const float* nz, bool self, int dy, int dx, OffsetGrids<float>& g, double& s, double& t,
                           float* record = nullptr) {
    isa_dispatch([&](auto) { offset_problem_impl(p, x, nx, z, nz, self, dy, dx, g, s, t, record); });
}

template <class T>
inline int dy_limit(const CNTKParams<T>& p) { return p.gap ? p.H - 1 : 0; }
template <class T>
inline int dy_rows(const CNTKParams<T>& p) { return 2 * dy_limit(p) + 1; }

// Readout sums of the pair (x, z) for the offsets with dy in [dy_begin, dy_end), one value per dy
// (index dy + dy_limit), each summed over dx in increasing order. Fixed summation tree: the kernel
// value never depends on how the dy rows were spread over tasks and threads.
// An image paired with itself: the problem of −δ is the problem of δ with the two (identical) images
// swapped, entry for entry the same operations, so only offsets after (0, 0) in row-major order are
// solved and counted twice (exact in floating point); rows dy < 0 hold 0.
template <class T>
inline void pair_rows(const CNTKParams<T>& p, const T* x, const T* nx, const T* z, const T* nz, bool self,
                      int dy_begin, int dy_end, OffsetGrids<T>& g, double* part_s, double* part_t) {
    const int dx_lim = p.gap ? p.W - 1 : 0;
    for (int dy = dy_begin; dy < dy_end; ++dy) {
        double rs = 0.0, rt = 0.0;
        for (int dx = -dx_lim; dx <= dx_lim; ++dx) {
            const bool mirrored = self && (dy < 0 || (dy == 0 && dx < 0));
            if (mirrored) continue;
            double s, t;
            offset_problem(p, x, nx, z, nz, self, dy, dx, g, s, t);
            const double twice = self && (dy > 0 || dx > 0) ? 2.0 : 1.0;
            rs += twice * s;
            rt += twice * t;
        }
        part_s[dy + dy_limit(p)] = rs;
        part_t[dy + dy_limit(p)] = rt;
    }
}

// Kernel values from the readout sums: Σ = w_out·R(T(S)) + b_out, Θ = w_out·R(ṪΘ + T(S)) + b_out
// (− Σ when `fix`: the readout's own term leaves the NTK).
template <class T>
inline void finish_pair(const CNTKParams<T>& p, double rs, double rt, T& nngp, T& ntk) {
    const double s = double(p.w_out) * rs + double(p.b_out);
    const double t = double(p.w_out) * rt + double(p.b_out);
    nngp = T(s);
    ntk = T(p.fix ? t - s : t);
}

// The per-dy sums of pair_rows added in increasing dy.
template <class T>
inline void finish_rows(const CNTKParams<T>& p, const double* part_s, const double* part_t, T& nngp, T& ntk) {
    double rs = 0.0, rt = 0.0;
    for (int k = 0; k < dy_rows(p); ++k) {
        rs += part_s[k];
        rt += part_t[k];
    }
    finish_pair(p, rs, rt, nngp, ntk);
}

struct PairRef {
    int64_t i, j;
    bool self;  // the same image on both sides: offset 0 forces λ = 1
};

// Few pairs (fewer than 4 per thread) with GAP: one task per (pair, dy row) so that every thread
// works, per-row sums kept per pair; stored through store(k, nngp, ntk). Same bits as the per-pair path.
template <class T>
bool cntk_pair_rows_parallel(const CNTKParams<T>& p, const Images<T>& x1, const Images<T>& x2,
                             const std::vector<PairRef>& pairs, const std::function<void(int64_t, T, T)>& store,
                             int nt, const Poll& poll) {
    const int rows = dy_rows(p);
    const int64_t count = int64_t(pairs.size());
    std::vector<OffsetGrids<T>> grids(size_t(nt), OffsetGrids<T>{p});
    std::vector<double> part(size_t(2 * count * rows));
    const bool ok = parallel_for(count * rows, nt, [&](int64_t task, int tid) {
        const PairRef& q = pairs[size_t(task / rows)];
        const int dy = int(task % rows) - dy_limit(p);
        double* ps = part.data() + 2 * (task / rows) * rows;
        pair_rows(p, x1.image(q.i), x1.norm(q.i), x2.image(q.j), x2.norm(q.j), q.self, dy, dy + 1,
                  grids[size_t(tid)], ps, ps + rows);
    }, poll);
    if (!ok) return false;
    for (int64_t k = 0; k < count; ++k) {
        T s, t;
        finish_rows(p, part.data() + 2 * k * rows, part.data() + 2 * k * rows + rows, s, t);
        store(k, s, t);
    }
    return true;
}

// One whole pair on the calling thread (all dy rows), with that thread's work space.
template <class T>
inline void cntk_one_pair(const CNTKParams<T>& p, const Images<T>& x1, const Images<T>& x2, const PairRef& q,
                          OffsetGrids<T>& g, std::vector<double>& part, T& s, T& t) {
    const int rows = dy_rows(p);
    pair_rows(p, x1.image(q.i), x1.norm(q.i), x2.image(q.j), x2.norm(q.j), q.self, -dy_limit(p), dy_limit(p) + 1,
              g, part.data(), part.data() + rows);
    finish_rows(p, part.data(), part.data() + rows, s, t);
}

// Per-image pass: the norms of every layer (offset-0 problem of (x, x) with `record`) and the
// kernel diagonal k(x, x) (CNTK-V: from the same pass; GAP: the full self pair, exactly as a Gram
// computes its diagonal, only when `gap_diagonal`: a Gram does not need it).
template <class T>
bool cntk_prepare(const CNTKParams<T>& p, const Images<T>& im, T* norms, T* nngp_diag, T* ntk_diag,
                  bool gap_diagonal, int n_threads, const Poll& poll) {
    const int nt = resolve_threads(n_threads);
    std::vector<OffsetGrids<T>> grids(size_t(nt), OffsetGrids<T>{p});
    bool ok = parallel_for(im.n, nt, [&](int64_t i, int tid) {
        double s, t;
        offset_problem(p, im.image(i), nullptr, im.image(i), nullptr, true, 0, 0, grids[size_t(tid)], s, t,
                       norms + i * im.ld_norms);
        if (!p.gap) finish_pair(p, s, t, nngp_diag[i], ntk_diag[i]);
    }, poll);
    if (!ok || !p.gap || !gap_diagonal) return ok;
    auto store = [&](int64_t k, T s, T t) { nngp_diag[k] = s; ntk_diag[k] = t; };
    if (im.n < 4 * int64_t(nt)) {
        std::vector<PairRef> pairs;
        for (int64_t i = 0; i < im.n; ++i) pairs.push_back({i, i, true});
        return cntk_pair_rows_parallel<T>(p, im, im, pairs, store, nt, poll);
    }
    std::vector<std::vector<double>> part(size_t(nt), std::vector<double>(size_t(2 * dy_rows(p))));
    return parallel_for(im.n, nt, [&](int64_t i, int tid) {
        T s, t;
        cntk_one_pair(p, im, im, PairRef{i, i, true}, grids[size_t(tid)], part[size_t(tid)], s, t);
        store(i, s, t);
    }, poll);
}

template <class T>
struct CNTKGramArgs {
    CNTKParams<T> p;
    Images<T> x1, x2;
    T* nngp;  // may be null
    int64_t ld_nngp;
    T* ntk;   // may be null
    int64_t ld_ntk;
    bool symmetric;  // x2 is x1: pairs i <= j only, mirrored on store
};

// The Gram: one task per tile of `tile`×`tile` images (both sides stay in cache), pairs row by row;
// with GAP and fewer than 4 pairs per thread, one task per (pair, dy row) instead.
template <class T>
bool cntk_gram(const CNTKGramArgs<T>& g, int64_t tile, int n_threads, const Poll& poll) {
    const int nt = resolve_threads(n_threads);
    auto put = [&](int64_t i, int64_t j, T s, T t) {
        if (g.nngp) g.nngp[i * g.ld_nngp + j] = s;
        if (g.ntk) g.ntk[i * g.ld_ntk + j] = t;
        if (g.symmetric) {
            if (g.nngp) g.nngp[j * g.ld_nngp + i] = s;
            if (g.ntk) g.ntk[j * g.ld_ntk + i] = t;
        }
    };
    // Identical images (same pixels to the bit, hence the same norms) are paired as an image with
    // itself, on every path, so that k(x, x) never depends on where the pair sits in which Gram.
    const int64_t image_len = g.p.pixels() * g.p.C;
    auto same = [&](int64_t i, int64_t j) {
        if (g.symmetric && i == j) return true;
        return std::equal(g.x1.image(i), g.x1.image(i) + image_len, g.x2.image(j));
    };
    const int64_t n_pairs = g.symmetric ? g.x1.n * (g.x1.n + 1) / 2 : g.x1.n * g.x2.n;
    if (g.p.gap && n_pairs < 4 * int64_t(nt)) {
        std::vector<PairRef> pairs;
        for (int64_t i = 0; i < g.x1.n; ++i)
            for (int64_t j = g.symmetric ? i : 0; j < g.x2.n; ++j) pairs.push_back({i, j, same(i, j)});
        return cntk_pair_rows_parallel<T>(
            g.p, g.x1, g.x2, pairs, [&](int64_t k, T s, T t) { put(pairs[size_t(k)].i, pairs[size_t(k)].j, s, t); },
            nt, poll);
    }
    const std::vector<Tile> tiles = make_tiles(g.x1.n, g.x2.n, tile, g.symmetric);
    std::vector<OffsetGrids<T>> grids(size_t(nt), OffsetGrids<T>{g.p});
    std::vector<std::vector<double>> part(size_t(nt), std::vector<double>(size_t(2 * dy_rows(g.p))));
    return parallel_for(int64_t(tiles.size()), nt, [&](int64_t k, int tid) {
        const Tile& t = tiles[size_t(k)];
        for (int64_t i = t.i0; i < t.i1; ++i)
            for (int64_t j = g.symmetric ? std::max(i, t.j0) : t.j0; j < t.j1; ++j) {
                T s, v;
                cntk_one_pair(g.p, g.x1, g.x2, PairRef{i, j, same(i, j)}, grids[size_t(tid)], part[size_t(tid)], s, v);
                put(i, j, s, v);
            }
    }, poll);
}

}  // namespace fastntk
