// Empirical NTK and loss gradient of a physics-informed MLP (MATH §6).
//
// The net maps a scalar x to u(x) through layers l = 0..L-1:
//   x̂ = (x − shift)/scale,  g_0 = x̂,  z_l = α_l W_l g_l + β_l b_l,  g_{l+1} = σ(z_l),  u = z_{L-1}.
// Every point carries three forward streams (value, ∂/∂x, ∂²/∂x²):
//   z_x = α W g_x, z_xx = α W g_xx,  g_x = σ'(z) z_x,  g_xx = σ''(z) z_x² + σ'(z) z_xx,
// started from (x̂, 1/scale, 0), so input normalisation enters through the chain rule.
// A point i is observed through a linear functional v_i = c0 u + c1 u_x + c2 u_xx (c = (1,0,0) for
// a boundary value, the operator's coefficients for a residual). Its three adjoint streams
// D = (∂v/∂z, ∂v/∂z_x, ∂v/∂z_xx) start at (c0, c1, c2) on the output and run back as
//   ḡ = α Wᵀ D,  D_z = ḡ σ' + ḡ_x σ'' z_x + ḡ_xx (σ''' z_x² + σ'' z_xx),
//   D_zx = ḡ_x σ' + 2 ḡ_xx σ'' z_x,  D_zxx = ḡ_xx σ'.
// Then ∂v/∂W_l = α_l Σ_s D_s g_sᵀ has rank ≤ 3 and ∂v/∂b_l = β_l D_value, so (as in MATH §5)
//   K(i, j) = Σ_l [ α_l² Σ_{s,t} ⟨D_l[i,s], D_l[j,t]⟩⟨g_l[i,s], g_l[j,t]⟩ + β_l² ⟨D_l[i,0], D_l[j,0]⟩ ]:
// per layer two GEMMs over the 3N stream rows. Thin layers (the input and output layers, whose
// weights are vectors) are cheaper through their explicit Jacobian rows, one GEMM over N rows.
// K_uu, K_ur, K_rr are blocks of one such Gram.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fc.hpp"  // gemm_tile: register-blocked GEMM summing in a fixed order
#include "isa.hpp"
#include "tiling.hpp"

namespace fastntk {

enum class PinnActivation : int { Tanh = 0, Sin = 1 };

// σ and its first three derivatives at z.
template <class T>
struct Sigma3 {
    T s0, s1, s2, s3;
};

template <class T>
inline Sigma3<T> sigma3(PinnActivation a, T z) {
    if (a == PinnActivation::Tanh) {
        const T t = std::tanh(z), q = T(1) - t * t;  // tanh' = 1 − t², tanh'' = −2tq, tanh''' = −2q(1 − 3t²)
        return {t, q, T(-2) * t * q, T(-2) * q * (T(1) - T(3) * t * t)};
    }
    const T s = std::sin(z), c = std::cos(z);
    return {s, c, -s, -c};
}

template <class T>
struct PinnNet {
    PinnActivation act = PinnActivation::Tanh;
    std::vector<int64_t> width;   // width[0] = 1 (input), ..., width[L] = 1 (output u)
    std::vector<const T*> W, b;   // W[l]: width[l+1] × width[l] row-major; b[l]: width[l+1]
    std::vector<T> alpha, beta;   // z_l = α_l W_l g_l + β_l b_l
    T shift = T(0), scale = T(1);
    int layers() const { return int(W.size()); }
};

// Streams of n points. Row 3i+s of every array is stream s ∈ {value, ∂x, ∂xx} of point i.
template <class T>
struct PinnStreams {
    int64_t n = 0;
    std::vector<std::vector<T>> G;  // G[l]: input of layer l, 3n × width[l]
    std::vector<std::vector<T>> Z;  // Z[l]: pre-activation of layer l, 3n × width[l+1]
    std::vector<std::vector<T>> S;  // S[l] (hidden l): σ', σ'', σ''' at the value of Z[l], 3n × width[l+1]
    std::vector<std::vector<T>> D;  // D[l]: adjoint ∂v/∂Z[l], 3n × width[l+1]
    std::vector<std::vector<T>> J;  // J[l]: explicit ∂v/∂(W_l, b_l) rows for thin layers (pinn_explicit)
    std::vector<T> scratch;         // packed / transposed operands of the GEMMs
    std::vector<std::vector<T>> per_thread;  // one buffer per thread for the backward pass
    T* scratch_of(size_t size) {
        if (scratch.size() < size) scratch.resize(size);
        return scratch.data();
    }
};

constexpr int64_t kPinnChunk = 32;  // points per parallel task in the per-point passes

// Threads for a per-point pass of about `work` flops: small passes (a training step of a
// one-hidden-layer net) run on one thread, since waking a team costs more than they do.
constexpr int64_t kMinWorkPerThread = int64_t(1) << 21;
constexpr int64_t kTranscendentalCost = 40;  // flops charged per σ evaluation
inline int pinn_threads(int n_threads, int64_t work) {
    const int64_t useful = std::max<int64_t>(1, work / kMinWorkPerThread);
    return int(std::min<int64_t>(resolve_threads(n_threads), useful));
}

// S = A·Bt for an ni × nj block (A rows of length d at stride lda, Bt packed d × nj), as gemm_tile;
// a single column (the output layer) takes a vectorised dot product per row instead.
template <class T>
inline void pinn_gemm(const T* A, int64_t lda, const T* Bt, int64_t d, int ni, int nj, T* S) {
    if (nj != 1) {
        gemm_tile(A, lda, Bt, nj, d, ni, nj, S);
        return;
    }
    for (int i = 0; i < ni; ++i) {
        const T* a = A + int64_t(i) * lda;
        T s = T(0);
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < d; ++k) s += a[k] * Bt[k];
        S[i] = s;
    }
}

// Forward streams of all layers for the points x[0..n).
template <class T>
void pinn_forward(const PinnNet<T>& net, const T* x, int64_t n, PinnStreams<T>& st, int n_threads) {
    const int L = net.layers();
    st.n = n;
    st.G.resize(size_t(L));
    st.Z.resize(size_t(L));
    st.S.resize(size_t(L) - 1);
    for (int l = 0; l < L; ++l) {  // buffers are reused across calls with the same shapes
        st.G[size_t(l)].resize(size_t(3 * n * net.width[size_t(l)]));
        st.Z[size_t(l)].resize(size_t(3 * n * net.width[size_t(l) + 1]));
        if (l + 1 < L) st.S[size_t(l)].resize(size_t(3 * n * net.width[size_t(l) + 1]));
    }
    T* g0 = st.G[0].data();
    for (int64_t i = 0; i < n; ++i) {
        g0[3 * i] = (x[i] - net.shift) / net.scale;
        g0[3 * i + 1] = T(1) / net.scale;
        g0[3 * i + 2] = T(0);
    }
    const int64_t tasks = (n + kPinnChunk - 1) / kPinnChunk;
    for (int l = 0; l < L; ++l) {
        const int64_t din = net.width[size_t(l)], dout = net.width[size_t(l) + 1];
        T* Wt = st.scratch_of(size_t(din * dout));  // W_lᵀ packed din × dout for gemm_tile
        for (int64_t r = 0; r < dout; ++r)
            for (int64_t k = 0; k < din; ++k) Wt[k * dout + r] = net.W[size_t(l)][r * din + k];
        const T a = net.alpha[size_t(l)], be = net.beta[size_t(l)];
        const T* bias = net.b[size_t(l)];
        const T* G = st.G[size_t(l)].data();
        T* Z = st.Z[size_t(l)].data();
        T* Gnext = l + 1 < L ? st.G[size_t(l) + 1].data() : nullptr;
        T* Snext = l + 1 < L ? st.S[size_t(l)].data() : nullptr;
        parallel_for(
            tasks, pinn_threads(n_threads, n * din * dout + kTranscendentalCost * n * dout),
            [&](int64_t task, int) {
                const int64_t i0 = task * kPinnChunk, i1 = std::min(n, i0 + kPinnChunk);
                const int rows = int(3 * (i1 - i0));
                T* z = Z + 3 * i0 * dout;
                pinn_gemm(G + 3 * i0 * din, din, Wt, din, rows, int(dout), z);
                for (int64_t i = 0; i < i1 - i0; ++i) {
                    T* zv = z + 3 * i * dout;
                    T* zx = zv + dout;
                    T* zxx = zx + dout;
                    for (int64_t k = 0; k < dout; ++k) {
                        zv[k] = a * zv[k] + be * bias[k];
                        zx[k] = a * zx[k];
                        zxx[k] = a * zxx[k];
                    }
                    if (!Gnext) continue;
                    T* gv = Gnext + 3 * (i0 + i) * dout;
                    T* sv = Snext + 3 * (i0 + i) * dout;
                    for (int64_t k = 0; k < dout; ++k) {
                        const Sigma3<T> s = sigma3(net.act, zv[k]);
                        sv[k] = s.s1;
                        sv[dout + k] = s.s2;
                        sv[2 * dout + k] = s.s3;
                        gv[k] = s.s0;
                        gv[dout + k] = s.s1 * zx[k];
                        gv[2 * dout + k] = s.s2 * zx[k] * zx[k] + s.s1 * zxx[k];
                    }
                }
            },
            nullptr);
    }
}

// Adjoint streams for the functionals with coefficients op[3i..3i+2] (c0, c1, c2), each
// multiplied by weight[i] (nullptr: 1). Needs the forward streams.
template <class T>
void pinn_backward(const PinnNet<T>& net, const T* op, const T* weight, PinnStreams<T>& st, int n_threads) {
    const int L = net.layers();
    const int64_t n = st.n;
    st.D.resize(size_t(L));
    for (int l = 0; l < L; ++l) st.D[size_t(l)].resize(size_t(3 * n * net.width[size_t(l) + 1]));
    T* top = st.D[size_t(L) - 1].data();  // the output has width 1: D = (c0, c1, c2)·weight
    for (int64_t i = 0; i < n; ++i)
        for (int s = 0; s < 3; ++s) top[3 * i + s] = op[3 * i + s] * (weight ? weight[i] : T(1));
    const int64_t tasks = (n + kPinnChunk - 1) / kPinnChunk;
    for (int l = L - 1; l >= 1; --l) {
        const int64_t dout = net.width[size_t(l) + 1], din = net.width[size_t(l)];
        const int nt = pinn_threads(n_threads, n * din * dout);
        const T a = net.alpha[size_t(l)];
        const T* W = net.W[size_t(l)];  // dout × din: already the packed Bt of D·W
        const T* D = st.D[size_t(l)].data();
        const T* Zb = st.Z[size_t(l) - 1].data();  // pre-activations feeding this layer, 3n × din
        const T* Sb = st.S[size_t(l) - 1].data();  // their σ', σ'', σ'''
        T* Db = st.D[size_t(l) - 1].data();
        std::vector<std::vector<T>>& gbar = st.per_thread;
        if (gbar.size() < size_t(nt)) gbar.resize(size_t(nt));
        for (int t = 0; t < nt; ++t)
            if (gbar[size_t(t)].size() < size_t(3 * kPinnChunk * din)) gbar[size_t(t)].resize(size_t(3 * kPinnChunk * din));
        parallel_for(
            tasks, nt,
            [&](int64_t task, int tid) {
                const int64_t i0 = task * kPinnChunk, i1 = std::min(n, i0 + kPinnChunk);
                T* gb = gbar[size_t(tid)].data();
                pinn_gemm(D + 3 * i0 * dout, dout, W, dout, int(3 * (i1 - i0)), int(din), gb);
                for (int64_t i = 0; i < i1 - i0; ++i) {
                    const T* g = gb + 3 * i * din;
                    const T* z = Zb + 3 * (i0 + i) * din;
                    const T* s = Sb + 3 * (i0 + i) * din;
                    T* d = Db + 3 * (i0 + i) * din;
#pragma omp simd
                    for (int64_t k = 0; k < din; ++k) {
                        const T g0 = a * g[k], g1 = a * g[din + k], g2 = a * g[2 * din + k];
                        const T zx = z[din + k], zxx = z[2 * din + k];
                        const T s1 = s[k], s2 = s[din + k], s3 = s[2 * din + k];
                        d[k] = g0 * s1 + g1 * s2 * zx + g2 * (s3 * zx * zx + s2 * zxx);
                        d[din + k] = g1 * s1 + T(2) * g2 * s2 * zx;
                        d[2 * din + k] = g2 * s1;
                    }
                }
            },
            nullptr);
    }
}

// Gradient of Σ_i weight_i·v_i (the adjoints already carry the weights):
// grad_W[l] = α_l Σ_rows D_lᵀ G_l (width[l+1] × width[l]), grad_b[l] = β_l Σ_i D_l[i, value].
template <class T>
void pinn_parameter_gradient(const PinnNet<T>& net, PinnStreams<T>& st, const std::vector<T*>& grad_W,
                             const std::vector<T*>& grad_b, int n_threads) {
    const int64_t n = st.n, m = 3 * n;
    for (int l = 0; l < net.layers(); ++l) {
        const int64_t din = net.width[size_t(l)], dout = net.width[size_t(l) + 1];
        const T* D = st.D[size_t(l)].data();
        const T a = net.alpha[size_t(l)];
        T* gW = grad_W[size_t(l)];
        const T* G = st.G[size_t(l)].data();
        if (din == 1) {  // the input layer: grad_W is a column, Σ_rows D[r]·g[r] accumulated row by row
            for (int64_t k = 0; k < dout; ++k) gW[k] = T(0);
            for (int64_t r = 0; r < m; ++r) {
                const T* d = D + r * dout;
                const T g = G[r];
#pragma omp simd
                for (int64_t k = 0; k < dout; ++k) gW[k] += d[k] * g;
            }
            for (int64_t k = 0; k < dout; ++k) gW[k] *= a;
        } else {
            T* Dt = st.scratch_of(size_t(dout * m));  // D_lᵀ, dout × 3n
            for (int64_t r = 0; r < m; ++r)
                for (int64_t k = 0; k < dout; ++k) Dt[k * m + r] = D[r * dout + k];
            const int64_t block = 8, tasks = (dout + block - 1) / block;
            parallel_for(
                tasks, pinn_threads(n_threads, m * din * dout),
                [&](int64_t task, int) {
                    const int64_t r0 = task * block, r1 = std::min(dout, r0 + block);
                    T* out = gW + r0 * din;
                    gemm_tile(Dt + r0 * m, m, G, din, m, int(r1 - r0), int(din), out);
                    for (int64_t q = 0; q < (r1 - r0) * din; ++q) out[q] *= a;
                },
                nullptr);
        }
        for (int64_t k = 0; k < dout; ++k) {
            T s = T(0);
            for (int64_t i = 0; i < n; ++i) s += D[3 * i * dout + k];
            grad_b[size_t(l)][k] = net.beta[size_t(l)] * s;
        }
    }
}

// Weighted least squares on the functionals: loss = Σ_i w_i (v_i − y_i)², its gradient into
// grad_W / grad_b, and the values v_i into `values` (may be null). Returns the loss.
// `st` is a workspace (reused between calls).
template <class T>
T pinn_loss_grad(const PinnNet<T>& net, const T* x, const T* op, const T* y, const T* w, int64_t n, T* values,
                 const std::vector<T*>& grad_W, const std::vector<T*>& grad_b, PinnStreams<T>& st, int n_threads) {
    pinn_forward(net, x, n, st, n_threads);
    const T* out = st.Z[size_t(net.layers()) - 1].data();  // (u, u_x, u_xx) per point
    std::vector<T> cot(static_cast<size_t>(n));  // dloss/dv_i
    T loss = T(0);
    for (int64_t i = 0; i < n; ++i) {
        const T v = op[3 * i] * out[3 * i] + op[3 * i + 1] * out[3 * i + 1] + op[3 * i + 2] * out[3 * i + 2];
        if (values) values[i] = v;
        const T e = v - y[i];
        loss += w[i] * e * e;
        cot[size_t(i)] = T(2) * w[i] * e;
    }
    pinn_backward(net, op, cot.data(), st, n_threads);
    pinn_parameter_gradient(net, st, grad_W, grad_b, n_threads);
    return loss;
}

// A layer's share of K costs din·dout + dout per pair through its explicit Jacobian rows and
// 9·(din + dout) through the stream products: thin layers (the input layer, din = 1, and the
// output layer, dout = 1) take the explicit rows.
inline bool pinn_explicit(int64_t din, int64_t dout) { return din * dout + dout <= 9 * (din + dout); }

// Explicit rows of the thin layers: [α_l vec(Σ_s D_s g_sᵀ), β_l D_value] per point.
template <class T>
void pinn_jacobian_rows(const PinnNet<T>& net, PinnStreams<T>& st) {
    const int64_t n = st.n;
    st.J.resize(size_t(net.layers()));
    for (int l = 0; l < net.layers(); ++l) {
        const int64_t din = net.width[size_t(l)], dout = net.width[size_t(l) + 1];
        if (!pinn_explicit(din, dout)) continue;
        const int64_t P = din * dout + dout;
        const T a = net.alpha[size_t(l)], be = net.beta[size_t(l)];
        st.J[size_t(l)].resize(size_t(n * P));
        for (int64_t i = 0; i < n; ++i) {
            const T* D = st.D[size_t(l)].data() + 3 * i * dout;
            const T* G = st.G[size_t(l)].data() + 3 * i * din;
            T* row = st.J[size_t(l)].data() + i * P;
            for (int64_t r = 0; r < dout; ++r)
                for (int64_t c = 0; c < din; ++c)
                    row[r * din + c] = a * (D[r] * G[c] + D[dout + r] * G[din + c] + D[2 * dout + r] * G[2 * din + c]);
            for (int64_t r = 0; r < dout; ++r) row[din * dout + r] = be * D[r];
        }
    }
}

// Work elements of one tile: the larger of a layer's explicit product (P·tile + tile²) and its
// stream products (3·tile·max(din, dout) + 2·(3·tile)²).
template <class T>
int64_t pinn_tile_work(const PinnNet<T>& net, int64_t tile) {
    int64_t need = 0;
    for (int l = 0; l < net.layers(); ++l) {
        const int64_t din = net.width[size_t(l)], dout = net.width[size_t(l) + 1];
        need = std::max(need, pinn_explicit(din, dout) ? (din * dout + dout) * tile + tile * tile
                                                       : 3 * tile * std::max(din, dout) + 18 * tile * tile);
    }
    return need;
}

template <class T>
struct PinnGramArgs {
    const PinnNet<T>* net;
    const PinnStreams<T>* s1;
    const PinnStreams<T>* s2;
    T* out;
    int64_t ld;
    bool symmetric;
};

// One tile of the Gram: for every layer either the product of its explicit Jacobian rows or the
// (3ni × 3nj) products of the g-streams and of the adjoint streams, combined entry by entry in a
// fixed order (so a value never depends on the tile size), then stored and, for symmetric Grams,
// mirrored. `work` holds pinn_tile_work elements.
template <int VB, class T>
void pinn_tile(const PinnGramArgs<T>& g, const Tile& t, T* work) {
    const PinnNet<T>& net = *g.net;
    const int ni = int(t.i1 - t.i0), nj = int(t.j1 - t.j0);
    const int ri = 3 * ni, rj = 3 * nj;
    T* GG = work;
    T* DD = GG + int64_t(ri) * rj;
    T* Bt = DD + int64_t(ri) * rj;
    std::vector<T> K(size_t(ni) * size_t(nj), T(0));
    for (int l = 0; l < net.layers(); ++l) {
        const int64_t din = net.width[size_t(l)], dout = net.width[size_t(l) + 1];
        if (pinn_explicit(din, dout)) {
            const int64_t P = din * dout + dout;
            T* JJ = work;
            T* Jt = JJ + int64_t(ni) * nj;
            const T* B = g.s2->J[size_t(l)].data() + t.j0 * P;
            for (int c = 0; c < nj; ++c)
                for (int64_t k = 0; k < P; ++k) Jt[k * nj + c] = B[c * P + k];
            gemm_tile<VB>(g.s1->J[size_t(l)].data() + t.i0 * P, P, Jt, nj, P, ni, nj, JJ);
            for (int64_t e = 0; e < int64_t(ni) * nj; ++e) K[size_t(e)] += JJ[e];
            continue;
        }
        for (int pass = 0; pass < 2; ++pass) {
            const int64_t d = pass == 0 ? din : dout;
            const T* A = (pass == 0 ? g.s1->G : g.s1->D)[size_t(l)].data() + 3 * t.i0 * d;
            const T* B = (pass == 0 ? g.s2->G : g.s2->D)[size_t(l)].data() + 3 * t.j0 * d;
            for (int c = 0; c < rj; ++c)
                for (int64_t k = 0; k < d; ++k) Bt[k * rj + c] = B[c * d + k];
            gemm_tile<VB>(A, d, Bt, rj, d, ri, rj, pass == 0 ? GG : DD);
        }
        const T a2 = net.alpha[size_t(l)] * net.alpha[size_t(l)], b2 = net.beta[size_t(l)] * net.beta[size_t(l)];
        for (int i = 0; i < ni; ++i)
            for (int j = 0; j < nj; ++j) {
                T s = T(0);
                for (int p = 0; p < 3; ++p)
                    for (int q = 0; q < 3; ++q) {
                        const int64_t e = int64_t(3 * i + p) * rj + 3 * j + q;
                        s += DD[e] * GG[e];
                    }
                K[size_t(i) * nj + j] += a2 * s + b2 * DD[int64_t(3 * i) * rj + 3 * j];
            }
    }
    store_tile(K.data(), t, g.out, g.ld, g.symmetric);
}

// The tile compiled for the CPU's instruction set (isa.hpp; gemm_tile's fma is a hardware
// instruction only with AVX2/AVX-512).
template <class T>
inline void pinn_tile_isa(const PinnGramArgs<T>& g, const Tile& t, T* w) {
    isa_dispatch([&](auto vb) { pinn_tile<decltype(vb)::value>(g, t, w); });
}

// The NTK Gram K(i, j) = ⟨∂v_i/∂θ, ∂v'_j/∂θ⟩ between the functionals (x1, op1) and (x2, op2),
// written into out (n1 × n2, row stride ld). With `symmetric` (x2, op2 are x1, op1) only tiles on
// or above the diagonal are computed and mirrored. Returns false if interrupted.
template <class T>
bool pinn_ntk(const PinnNet<T>& net, const T* x1, const T* op1, int64_t n1, const T* x2, const T* op2, int64_t n2,
              T* out, int64_t ld, bool symmetric, int64_t tile, int n_threads,
              const Poll& poll) {
    PinnStreams<T> s1, s2;
    pinn_forward(net, x1, n1, s1, n_threads);
    pinn_backward(net, op1, static_cast<const T*>(nullptr), s1, n_threads);
    pinn_jacobian_rows(net, s1);
    if (!symmetric) {
        pinn_forward(net, x2, n2, s2, n_threads);
        pinn_backward(net, op2, static_cast<const T*>(nullptr), s2, n_threads);
        pinn_jacobian_rows(net, s2);
    }
    PinnGramArgs<T> g{&net, &s1, symmetric ? &s1 : &s2, out, ld, symmetric};
    const std::vector<Tile> tiles = make_tiles(n1, n2, tile, symmetric);
    const int nt = resolve_threads(n_threads);
    std::vector<std::vector<T>> work(size_t(nt), std::vector<T>(size_t(pinn_tile_work(net, tile))));
    return parallel_for(
        int64_t(tiles.size()), nt,
        [&](int64_t k, int tid) { pinn_tile_isa(g, tiles[size_t(k)], work[size_t(tid)].data()); }, poll);
}

}  // namespace fastntk
