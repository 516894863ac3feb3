// Graph Neural Tangent Kernel (Du et al. 2019) exactly as MATH §7 specifies it, for whole Gram
// matrices of graph data sets.
//
// For a pair of graphs (G, H) the node-pair matrices S (NNGP) and T (NTK) are n_G × n_H:
//   Σ⁽⁰⁾ = X_G X_Hᵀ (only its sum enters the jumping-knowledge readout: 1ᵀΣ⁽⁰⁾1 = s_G·s_H, s = 1ᵀX),
//   S = P_G Σ⁽⁰⁾ P_Hᵀ = (P_G X_G)(P_H X_H)ᵀ = Y_G Y_Hᵀ,   T = S,
//   block ℓ = 1..B:  R ReLU steps (ReLU dual of MATH §2.2, c_σ = 2, norms a, b from the per-graph pass),
//                    J += T,  and if ℓ < B:  S ← P_G S P_Hᵀ,  T ← P_G T P_Hᵀ,
//   readout Σ_uv J_uv (jumping knowledge) or Σ_uv T_uv; mean pooling divides by n_G n_H.
//
// Layout of the work: a work unit is one row graph G against a tile of consecutive column graphs
// H_1..H_m whose node-pair blocks sit side by side in one n_G × (Σ n_H) matrix, so that
//   * the ReLU steps run along long contiguous rows (the column norms are gathered once per unit),
//   * the left aggregation P_G S is one sparse × dense product over the whole tile row,
//   * the readout starts with weighted column sums of the whole tile row,
//   * only the right aggregation S P_Hᵀ and the last readout sum go graph by graph.
// Every Gram entry is produced by the same operations in the same order whatever the tile, the
// thread or the thread count, so results are deterministic and K(G, H) does not depend on tiling.
//
// Nodes may carry a multiplicity w_u (packing may merge nodes whose rows of S and T provably stay
// equal at every layer, see fastntk/gntk.py): then the readout is Σ_uv w_u w_v J_uv, and P holds,
// for each kept node, the summed weights of each merged class of neighbours.
//
// Level classes. At block ℓ, many more nodes have equal rows than at every layer (after B = 1 block,
// all nodes with equal rows of Y = P X; MUTAG: 1121 classes for 2791 merged nodes, PROTEINS ≈ 4×
// fewer). The per-graph pass therefore also groups, per block ℓ, the nodes whose row of S is produced
// by literally the same operations on the same values: at ℓ = 1 equal bits of the row of Y, at ℓ > 1
// equal CSR rows of P (column classes of block ℓ−1 and weights, in CSR order); both also with equal
// bits of the block's norms. For a pair G ≠ H the Gram then works on one row and one column per
// class (c_G^ℓ × c_H^ℓ entries), and every entry it computes is bit for bit the entry of any member
// pair; only the readout sums Σ_cd w_c w_d J_cd over classes (w = summed multiplicities) and rounds
// differently (~1e-16 relative). The pair of a graph with itself keeps one row per node, because the
// ReLU step sets λ = 1 exactly on the node diagonal only.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "isa.hpp"
#include "simd_math.hpp"
#include "tiling.hpp"

namespace fastntk {

// A set of graphs packed into flat arrays (built by fastntk/gntk.py). Nodes of all graphs are
// numbered consecutively: graph g owns nodes node_off[g] .. node_off[g+1]-1.
struct GraphSet {
    int64_t count = 0;              // number of graphs
    const int64_t* node_off;        // count+1
    const int64_t* adj_ptr;         // total_nodes+1: CSR rows of the aggregation operators P_g
    const int32_t* adj_col;         //   column = local node index inside the graph
    const double* adj_val;          //   entry of P_g (Â, or D̂⁻¹Â for "mean"), merged classes summed
    const double* weight;           // total_nodes: node multiplicity in the readout
    const double* size;             // count: number of nodes of the original graph (mean pooling)
    const int64_t* feat_off;        // count+1: compact feature columns of graph g
    const int32_t* feat_col;        //   their global ids, increasing
    const double* feat_sum;         //   s_g = 1ᵀX_g on those columns
    const int64_t* y_off;           // count+1: offset of Y_g = P_g X_g (n_g × k_g, row-major)
    const double* Y;
    // Filled by gntk_prepare: for each ReLU step q = (ℓ-1)·R + r-1, √diag S_gg and its inverse
    // (0 for a zero-norm node), laid out [q][node].
    double* norm = nullptr;
    double* inv_norm = nullptr;
    // Also filled by gntk_prepare, the level classes of each block ℓ = 1..B (see the header):
    int32_t* cls_count = nullptr;   // [g][ℓ-1]: number of classes c_g^ℓ
    int32_t* cls_id = nullptr;      // [ℓ-1][node]: local class of each node
    int32_t* cls_rep = nullptr;     // [ℓ-1][node_off[g] + c]: local node representing class c
    double* cls_weight = nullptr;   // [ℓ-1][node_off[g] + c]: summed multiplicities of class c
    int64_t total_nodes = 0;

    int64_t nodes(int64_t g) const { return node_off[g + 1] - node_off[g]; }
};

struct GNTKParams {
    int blocks = 1;       // B: number of BLOCK (aggregation) operations; official num_layers = B + 1
    int mlp_layers = 2;   // R: ReLU steps per block
    bool jumping_knowledge = true;
    bool mean_pooling = false;
};

// --- building blocks on (row classes) × (tile width) row-major matrices --------------------------
// A side of a pair at one block: `count` rows (classes, or nodes), `rep[c]` the local node whose row
// class c stands for, `id[u]` the row of local node u, `weight[c]` the readout multiplicity.
struct LevelView {
    int64_t count;
    const int32_t* rep;
    const int32_t* id;
    const double* weight;
};

// o (+)= x·p over a row of n: the first term of a sum is written as 0.0 + x·p (the bits of zeroing
// and then adding, without a separate pass), later terms are added.
inline void add_scaled_row(double* o, double x, const double* p, int64_t n, bool first) {
    if (first) {
#pragma omp simd
        for (int64_t v = 0; v < n; ++v) o[v] = 0.0 + x * p[v];
    } else {
#pragma omp simd
        for (int64_t v = 0; v < n; ++v) o[v] += x * p[v];
    }
}

// S[:, c0:c0+nb] = Y_G Y_Hᵀ on the rows of the two views, over the feature columns the two graphs
// share, summed in increasing column order (MATH §7: the first aggregation, factorised).
// `pack` needs k_H·n_H doubles.
inline void first_aggregation(const GraphSet& A, int64_t g, const LevelView& va, const GraphSet& B, int64_t h,
                              const LevelView& vb, double* S, int64_t ld, std::vector<int32_t>& ia,
                              std::vector<int32_t>& ib, std::vector<double>& pack) {
    const int64_t na = va.count, nb = vb.count;
    const int32_t *ca = A.feat_col + A.feat_off[g], *cb = B.feat_col + B.feat_off[h];
    const int64_t ka = A.feat_off[g + 1] - A.feat_off[g], kb = B.feat_off[h + 1] - B.feat_off[h];
    ia.clear();
    ib.clear();
    for (int64_t p = 0, q = 0; p < ka && q < kb;) {
        if (ca[p] < cb[q]) ++p;
        else if (cb[q] < ca[p]) ++q;
        else { ia.push_back(int32_t(p++)); ib.push_back(int32_t(q++)); }
    }
    const int64_t c = int64_t(ia.size());
    const double* ya = A.Y + A.y_off[g];
    const double* yb = B.Y + B.y_off[h];
    if (pack.size() < size_t(c * nb)) pack.resize(size_t(c * nb));  // grow only: no zero fill per pair
    for (int64_t t = 0; t < c; ++t)  // packed Ŷ_Hᵀ: row t holds feature ib[t] of every row of H
        for (int64_t v = 0; v < nb; ++v) pack[size_t(t * nb + v)] = yb[int64_t(vb.rep[v]) * kb + ib[size_t(t)]];
    for (int64_t u = 0; u < na; ++u) {
        const double* yu = ya + int64_t(va.rep[u]) * ka;
        double* s = S + u * ld;
        if (c == 0)
            for (int64_t v = 0; v < nb; ++v) s[v] = 0.0;
        for (int64_t t = 0; t < c; ++t) {
            const double x = yu[ia[size_t(t)]];
            add_scaled_row(s, x, pack.data() + t * nb, nb, t == 0);
        }
    }
}

// out = P_G S: row c of out combines, along the CSR row of node `next.rep[c]`, the rows
// `prev.id[w]` of S (the rows of the previous block), in CSR order.
inline void aggregate_left(const GraphSet& A, int64_t g, const LevelView& next, const LevelView& prev,
                           const double* S, double* out, int64_t width) {
    const int64_t base = A.node_off[g];
    for (int64_t c = 0; c < next.count; ++c) {
        const int64_t u = base + next.rep[c];
        double* o = out + c * width;
        if (A.adj_ptr[u] == A.adj_ptr[u + 1])
            for (int64_t v = 0; v < width; ++v) o[v] = 0.0;
        for (int64_t e = A.adj_ptr[u]; e < A.adj_ptr[u + 1]; ++e) {
            add_scaled_row(o, A.adj_val[e], S + int64_t(prev.id[A.adj_col[e]]) * width, width, e == A.adj_ptr[u]);
        }
    }
}

// S[:, d] = M P_Hᵀ for the columns d of graph H:  S[u][d] = Σ_w P_H[next.rep[d]][w] M[u][prev.id[w]]
// (CSR order), M and S with their own row strides. M is transposed first, so that the sums of one
// column d run as vector axpys over all rows u at once; each entry is still the same sum in the same
// order. `scratch`: (prev.count + 1)·(rows rounded up to 8) doubles.
inline void aggregate_right(const GraphSet& B, int64_t h, const LevelView& next, const LevelView& prev,
                            const double* M, int64_t ldm, double* S, int64_t lds, int64_t rows, double* scratch) {
    const int64_t base = B.node_off[h], stride = (rows + 7) / 8 * 8;
    double* Mt = scratch;  // prev.count × stride (rows start on 64-byte multiples of the scratch)
    double* acc = Mt + prev.count * stride;  // the column being summed
    for (int64_t u = 0; u < rows; ++u)
        for (int64_t j = 0; j < prev.count; ++j) Mt[j * stride + u] = M[u * ldm + j];
    for (int64_t d = 0; d < next.count; ++d) {
        const int64_t v = base + next.rep[d];
        for (int64_t u = 0; u < rows; ++u) acc[u] = 0.0;
        for (int64_t e = B.adj_ptr[v]; e < B.adj_ptr[v + 1]; ++e) {
            const double q = B.adj_val[e];
            const double* mt = Mt + int64_t(prev.id[B.adj_col[e]]) * stride;
#pragma omp simd
            for (int64_t u = 0; u < rows; ++u) acc[u] += q * mt[u];
        }
        for (int64_t u = 0; u < rows; ++u) S[u * lds + d] = acc[u];
    }
}

// The readout Σ_u w_u Σ_v w_v M[u][v] in two passes: the weighted column sums of the whole tile row,
//   col[v] = Σ_u w_u M[u][v]  (u in order, vectorised along the row),
// then per column graph Σ_v w_v col[v] with 8 partial sums indexed by v mod 8 counted from the
// graph's first column, so that a value never depends on where the graph sits in the tile.
inline void weighted_column_sums(const double* M, int64_t ld, int64_t rows, int64_t width, const double* wa,
                                 double* col) {
    for (int64_t v = 0; v < width; ++v) col[v] = 0.0;
    for (int64_t u = 0; u < rows; ++u) {
        const double w = wa[u];
        const double* m = M + u * ld;
#pragma omp simd
        for (int64_t v = 0; v < width; ++v) col[v] += w * m[v];
    }
}

inline double weighted_dot(const double* col, const double* wb, int64_t n) {
    double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t v = 0;
    for (; v + 8 <= n; v += 8)
        for (int k = 0; k < 8; ++k) part[k] += wb[v + k] * col[v + k];
    for (int k = 0; v < n; ++v, ++k) part[k] += wb[v] * col[v];
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// s_G · s_H over shared feature columns: the readout of the raw input layer Σ⁽⁰⁾.
inline double input_layer_sum(const GraphSet& A, int64_t g, const GraphSet& B, int64_t h) {
    const int32_t *ca = A.feat_col + A.feat_off[g], *cb = B.feat_col + B.feat_off[h];
    const double *sa = A.feat_sum + A.feat_off[g], *sb = B.feat_sum + B.feat_off[h];
    const int64_t ka = A.feat_off[g + 1] - A.feat_off[g], kb = B.feat_off[h + 1] - B.feat_off[h];
    double acc = 0.0;
    for (int64_t p = 0, q = 0; p < ka && q < kb;) {
        if (ca[p] < cb[q]) ++p;
        else if (cb[q] < ca[p]) ++q;
        else acc += sa[p++] * sb[q++];
    }
    return acc;
}

// The ReLU step of MATH §7 on rows of S / T (the ReLU dual of MATH §2.2 with c_σ = 2):
//   λ = clip(S/(a bᵀ)), S ← (λ(π − arccos λ) + √(1−λ²))/π ⊙ a bᵀ,  T ← T ⊙ (π − arccos λ)/π + S.
// A zero-norm node (a = 0, so S = 0 on its row) gets λ = 0, S = 0 and Ṡ = 1/2 (no NaN).
// `self_col` >= 0 marks the columns self_col + u holding the pair (u, u) of a graph with itself:
// there λ = S_uu/(a_u a_u) = 1 exactly by definition of a, and it is set so (arccos has infinite
// slope at 1: the rounding of S_uu/a_u² would otherwise change Ṡ by ~1e-8).
// Written as one branch-free loop over simd_math's acos_fast so that it vectorises (dual.hpp's
// general dual_layer_row carries per-mode control flow that GCC does not vectorise).
inline void relu_step(const double* a, const double* inv_a, const double* b, const double* inv_b, int64_t ng,
                      int64_t width, int64_t self_col, double* S, double* T) {
    constexpr double pi = pi_v<double>, inv_pi = 1.0 / pi_v<double>;
    for (int64_t u = 0; u < ng; ++u) {
        const double au = a[u], iau = inv_a[u];
        const int64_t self = self_col >= 0 ? self_col + u : -1;
        double* s = S + u * width;
        double* t = T + u * width;
#pragma omp simd
        for (int64_t v = 0; v < width; ++v) {
            double lam = s[v] * (iau * inv_b[v]);
            lam = v == self ? 1.0 : lam;
            lam = lam > 1.0 ? 1.0 : (lam < -1.0 ? -1.0 : lam);
            const double rest = pi - acos_fast(lam);
            const double value = (lam * rest + std::sqrt(1.0 - lam * lam)) * inv_pi * (au * b[v]);
            t[v] = t[v] * (rest * inv_pi) + value;
            s[v] = value;
        }
    }
}

// --- per-graph pass --------------------------------------------------------------------------------

// 0, 1, …, n−1: the identity view's rep and id.
inline const int32_t* iota_of(std::vector<int32_t>& buf, int64_t n) {
    if (int64_t(buf.size()) < n) {
        buf.resize(size_t(n));
        for (size_t i = 0; i < buf.size(); ++i) buf[i] = int32_t(i);
    }
    return buf.data();
}

// One row per node (the pair of a graph with itself, and the per-graph pass).
inline LevelView node_view(const GraphSet& A, int64_t g, std::vector<int32_t>& iota) {
    const int32_t* ids = iota_of(iota, A.nodes(g));
    return {A.nodes(g), ids, ids, A.weight + A.node_off[g]};
}

// One row per level class of block ℓ (1-based).
inline LevelView class_view(const GraphSet& A, int64_t g, int l, int blocks) {
    const int64_t at = int64_t(l - 1) * A.total_nodes + A.node_off[g];
    return {A.cls_count[g * blocks + l - 1], A.cls_rep + at, A.cls_id + at, A.cls_weight + at};
}

// The recursion on (G, G) (MATH §7, "per-graph pass"): stores √diag S before every ReLU step.
inline void gntk_norms_one(const GNTKParams& p, GraphSet& A, int64_t g, std::vector<double>& buf,
                           std::vector<int32_t>& ia, std::vector<int32_t>& ib, std::vector<double>& pack,
                           std::vector<int32_t>& iota) {
    const int64_t n = A.nodes(g), base = A.node_off[g];
    const LevelView all = node_view(A, g, iota);
    const int64_t need = 3 * n * n + (n + 7) * (n + 1);  // S, T, M and aggregate_right's scratch
    if (buf.size() < size_t(need)) buf.resize(size_t(need));
    double *S = buf.data(), *T = S + n * n, *M = T + n * n, *scratch = M + n * n;
    first_aggregation(A, g, all, A, g, all, S, n, ia, ib, pack);
    for (int l = 1; l <= p.blocks; ++l) {
        for (int r = 0; r < p.mlp_layers; ++r) {
            const int64_t q = int64_t(l - 1) * p.mlp_layers + r;
            double* a = A.norm + q * A.total_nodes + base;
            double* ia_ = A.inv_norm + q * A.total_nodes + base;
            for (int64_t u = 0; u < n; ++u) {
                a[u] = std::sqrt(S[u * n + u]);
                ia_[u] = a[u] > 0.0 ? 1.0 / a[u] : 0.0;
            }
            relu_step(a, ia_, a, ia_, n, n, 0, S, T);  // T is scratch here: only S is needed
        }
        if (l < p.blocks) {
            aggregate_left(A, g, all, all, S, M, n);
            aggregate_right(A, g, all, all, M, n, S, n, n, scratch);
        }
    }
}

// The level classes of graph g (see the header), after its norms: at block ℓ the key of node u is
// the bits of its row of Y (ℓ = 1) or of its CSR row of P with columns replaced by their classes
// at block ℓ−1 (ℓ > 1), followed by the bits of its norms at the block's R steps. Classes are
// numbered by their smallest node, which represents them.
inline void gntk_classes_one(const GNTKParams& p, GraphSet& A, int64_t g, std::vector<uint64_t>& key,
                             std::vector<int64_t>& kptr, std::vector<int32_t>& order) {
    const int64_t n = A.nodes(g), base = A.node_off[g], N = A.total_nodes;
    const int64_t k = A.feat_off[g + 1] - A.feat_off[g];
    const double* y = A.Y + A.y_off[g];
    auto bits = [](double x) {
        uint64_t b;
        std::memcpy(&b, &x, sizeof b);
        return b;
    };
    for (int l = 1; l <= p.blocks; ++l) {
        key.clear();
        kptr.assign(1, 0);
        const int32_t* prev_id = A.cls_id + int64_t(l - 2) * N + base;  // used for l > 1 only
        for (int64_t u = 0; u < n; ++u) {
            if (l == 1) {
                for (int64_t t = 0; t < k; ++t) key.push_back(bits(y[u * k + t]));
            } else {
                for (int64_t e = A.adj_ptr[base + u]; e < A.adj_ptr[base + u + 1]; ++e) {
                    key.push_back(uint64_t(prev_id[A.adj_col[e]]));
                    key.push_back(bits(A.adj_val[e]));
                }
            }
            for (int r = 0; r < p.mlp_layers; ++r)
                key.push_back(bits(A.norm[(int64_t(l - 1) * p.mlp_layers + r) * N + base + u]));
            kptr.push_back(int64_t(key.size()));
        }
        auto less = [&](int32_t x, int32_t z) {
            return std::lexicographical_compare(key.begin() + kptr[size_t(x)], key.begin() + kptr[size_t(x) + 1],
                                                key.begin() + kptr[size_t(z)], key.begin() + kptr[size_t(z) + 1]);
        };
        order.resize(size_t(n));
        for (int64_t u = 0; u < n; ++u) order[size_t(u)] = int32_t(u);
        std::stable_sort(order.begin(), order.end(), less);
        int32_t* id = A.cls_id + int64_t(l - 1) * N + base;
        int32_t* rep = A.cls_rep + int64_t(l - 1) * N + base;
        double* weight = A.cls_weight + int64_t(l - 1) * N + base;
        // groups of equal keys; each group's first member (smallest node) marks its representative
        for (int64_t i = 0; i < n; ++i) {
            const int32_t u = order[size_t(i)];
            id[u] = (i > 0 && !less(order[size_t(i - 1)], u)) ? id[order[size_t(i - 1)]] : u;
        }
        int32_t count = 0;
        for (int64_t u = 0; u < n; ++u)
            if (id[u] == u) {
                rep[count] = int32_t(u);
                weight[count] = 0.0;
                id[u] = count++;
            } else {
                id[u] = id[id[u]];  // the representative (smaller) was renumbered already
            }
        for (int64_t u = 0; u < n; ++u) weight[id[u]] += A.weight[base + u];
        A.cls_count[g * p.blocks + l - 1] = count;
    }
}

// --- the Gram ----------------------------------------------------------------------------------------

struct GNTKGramArgs {
    GNTKParams p;
    const GraphSet* A;
    const GraphSet* B;
    double* nngp = nullptr;  // may be null
    int64_t ld_nngp = 0;
    double* ntk = nullptr;   // may be null
    int64_t ld_ntk = 0;
    bool symmetric = false;  // B is A: pairs h >= g only, mirrored on store
};

struct GNTKWork {
    std::vector<double> S, T, M, pack, scratch;
    std::vector<int32_t> ia, ib, iota_a, iota_b;
    std::vector<double> acc_nngp, acc_ntk;
    std::vector<double> row_norm, col_norm;  // the block's norms gathered per row / tile column
    std::vector<double> col_sum;             // weighted column sums of S and T (readout)
    std::vector<LevelView> cols, cols_next;
    std::vector<int64_t> off, off_next;      // column offset of each graph of the tile
};

// One work unit: row graph g against column graphs h0..h1-1 (consecutive). `self`: the unit is the
// single pair (g, g) of a symmetric Gram, computed with one row per node (λ_uu = 1 exactly);
// otherwise every block works on level classes.
inline void gntk_unit(const GNTKGramArgs& a, int64_t g, int64_t h0, int64_t h1, bool self, GNTKWork& w) {
    const GraphSet &A = *a.A, &B = *a.B;
    const GNTKParams& p = a.p;
    const int R = p.mlp_layers;
    const int64_t m = h1 - h0;
    auto row_view = [&](int l) { return self ? node_view(A, g, w.iota_a) : class_view(A, g, l, p.blocks); };
    auto col_views = [&](int l, std::vector<LevelView>& cols, std::vector<int64_t>& off) {
        cols.resize(size_t(m));
        off.assign(1, 0);
        for (int64_t h = h0; h < h1; ++h) {
            cols[size_t(h - h0)] = self ? node_view(B, h, w.iota_b) : class_view(B, h, l, p.blocks);
            off.push_back(off.back() + cols[size_t(h - h0)].count);
        }
    };
    LevelView row = row_view(1);
    col_views(1, w.cols, w.off);
    const int64_t ng = A.nodes(g), max_width = B.node_off[h1] - B.node_off[h0];
    int64_t max_nodes = 0;  // the transposed blocks of aggregate_right
    for (int64_t h = h0; h < h1; ++h) max_nodes = std::max(max_nodes, B.nodes(h));
    // buffers only grow (a shrinking resize followed by a growing one would zero-fill every unit)
    for (auto [buf, n] : {std::pair{&w.S, ng * max_width}, {&w.T, ng * max_width}, {&w.M, ng * max_width},
                          {&w.scratch, (ng + 7) * (max_nodes + 1)}, {&w.row_norm, 2 * R * ng},
                          {&w.col_norm, 2 * R * max_width}, {&w.col_sum, 2 * max_width}})
        if (buf->size() < size_t(n)) buf->resize(size_t(n));
    w.acc_nngp.assign(size_t(m), 0.0);
    w.acc_ntk.assign(size_t(m), 0.0);
    double *S = w.S.data(), *T = w.T.data(), *M = w.M.data();
    int64_t width = w.off.back();
    for (int64_t h = h0; h < h1; ++h) {
        first_aggregation(A, g, row, B, h, w.cols[size_t(h - h0)], S + w.off[size_t(h - h0)], width, w.ia, w.ib,
                          w.pack);
        if (p.jumping_knowledge) {
            const double x = input_layer_sum(A, g, B, h);
            w.acc_nngp[size_t(h - h0)] = x;
            w.acc_ntk[size_t(h - h0)] = x;
        }
    }
    std::copy(S, S + row.count * width, T);
    for (int l = 1; l <= p.blocks; ++l) {
        // the block's norms: [r][row] and [r][column], values then inverses
        double *rn = w.row_norm.data(), *ri = rn + R * row.count;
        double *cn = w.col_norm.data(), *ci = cn + R * width;
        for (int r = 0; r < R; ++r) {
            const int64_t q = int64_t(l - 1) * R + r;
            for (int64_t c = 0; c < row.count; ++c) {
                const int64_t u = q * A.total_nodes + A.node_off[g] + row.rep[c];
                rn[r * row.count + c] = A.norm[u];
                ri[r * row.count + c] = A.inv_norm[u];
            }
            for (int64_t h = h0; h < h1; ++h) {
                const LevelView& col = w.cols[size_t(h - h0)];
                for (int64_t d = 0; d < col.count; ++d) {
                    const int64_t v = q * B.total_nodes + B.node_off[h] + col.rep[d];
                    cn[r * width + w.off[size_t(h - h0)] + d] = B.norm[v];
                    ci[r * width + w.off[size_t(h - h0)] + d] = B.inv_norm[v];
                }
            }
        }
        for (int r = 0; r < R; ++r)
            relu_step(rn + r * row.count, ri + r * row.count, cn + r * width, ci + r * width, row.count, width,
                      self ? 0 : -1, S, T);
        if (p.jumping_knowledge || l == p.blocks) {
            double *cs = w.col_sum.data(), *ct = cs + width;
            weighted_column_sums(S, width, row.count, width, row.weight, cs);
            weighted_column_sums(T, width, row.count, width, row.weight, ct);
            for (int64_t h = h0; h < h1; ++h) {
                const size_t k = size_t(h - h0);
                const LevelView& col = w.cols[k];
                w.acc_nngp[k] += weighted_dot(cs + w.off[k], col.weight, col.count);
                w.acc_ntk[k] += weighted_dot(ct + w.off[k], col.weight, col.count);
            }
        }
        if (l < p.blocks) {
            const LevelView next = row_view(l + 1);
            col_views(l + 1, w.cols_next, w.off_next);
            const int64_t next_width = w.off_next.back();
            for (double* X : {S, T}) {
                aggregate_left(A, g, next, row, X, M, width);
                for (int64_t h = h0; h < h1; ++h) {
                    const size_t k = size_t(h - h0);
                    aggregate_right(B, h, w.cols_next[k], w.cols[k], M + w.off[k], width, X + w.off_next[k],
                                    next_width, next.count, w.scratch.data());
                }
            }
            row = next;
            std::swap(w.cols, w.cols_next);
            std::swap(w.off, w.off_next);
            width = next_width;
        }
    }
    for (int64_t h = h0; h < h1; ++h) {
        const size_t k = size_t(h - h0);
        const double scale = p.mean_pooling ? 1.0 / (A.size[g] * B.size[h]) : 1.0;
        if (a.nngp) {
            a.nngp[g * a.ld_nngp + h] = w.acc_nngp[k] * scale;
            if (a.symmetric) a.nngp[h * a.ld_nngp + g] = w.acc_nngp[k] * scale;
        }
        if (a.ntk) {
            a.ntk[g * a.ld_ntk + h] = w.acc_ntk[k] * scale;
            if (a.symmetric) a.ntk[h * a.ld_ntk + g] = w.acc_ntk[k] * scale;
        }
    }
}

// Column tiles: consecutive graphs of B grouped until they hold at least `tile_nodes` nodes.
inline std::vector<int64_t> graph_tiles(const GraphSet& B, int64_t tile_nodes) {
    std::vector<int64_t> cut{0};
    int64_t acc = 0;
    for (int64_t h = 0; h < B.count; ++h) {
        acc += B.nodes(h);
        if (acc >= tile_nodes || h + 1 == B.count) {
            cut.push_back(h + 1);
            acc = 0;
        }
    }
    return cut;
}

// The hot code compiled for the CPU's instruction set (isa.hpp).
inline void gntk_unit_dispatch(const GNTKGramArgs& a, int64_t g, int64_t h0, int64_t h1, bool self, GNTKWork& w) {
    isa_dispatch([&](auto) { gntk_unit(a, g, h0, h1, self, w); });
}
inline void gntk_norms_dispatch(const GNTKParams& p, GraphSet& A, int64_t g, std::vector<double>& buf,
                                std::vector<int32_t>& ia, std::vector<int32_t>& ib, std::vector<double>& pack,
                                std::vector<int32_t>& iota) {
    isa_dispatch([&](auto) { gntk_norms_one(p, A, g, buf, ia, ib, pack, iota); });
}

// Per-graph pass over all graphs of A (fills A.norm / A.inv_norm and the level classes). Returns
// false if interrupted.
inline bool gntk_prepare(const GNTKParams& p, GraphSet& A, int n_threads, const Poll& poll) {
    const int nt = resolve_threads(n_threads);
    const size_t nthreads = static_cast<size_t>(nt);
    std::vector<std::vector<double>> buf(nthreads), pack(nthreads);
    std::vector<std::vector<int32_t>> ia(nthreads), ib(nthreads), iota(nthreads);
    std::vector<std::vector<uint64_t>> key(nthreads);
    std::vector<std::vector<int64_t>> kptr(nthreads);
    return parallel_for(A.count, nt,
                        [&](int64_t g, int tid) {
                            const size_t t = size_t(tid);
                            gntk_norms_dispatch(p, A, g, buf[t], ia[t], ib[t], pack[t], iota[t]);
                            gntk_classes_one(p, A, g, key[t], kptr[t], ia[t]);
                        },
                        poll);
}

// The Gram block (all pairs, or pairs h >= g mirrored when symmetric). Units are (row graph,
// column tile); with `symmetric` the tile containing g is clipped to start at g, and the pair (g, g)
// is computed on its own with one row per node.
inline bool gntk_gram(const GNTKGramArgs& a, int64_t tile_nodes, int n_threads,
                      const Poll& poll) {
    const std::vector<int64_t> cut = graph_tiles(*a.B, tile_nodes);
    const int64_t ntiles = int64_t(cut.size()) - 1;
    // first tile of each row and the prefix count of units per row
    std::vector<int64_t> first(size_t(a.A->count)), start(size_t(a.A->count) + 1, 0);
    for (int64_t g = 0; g < a.A->count; ++g) {
        int64_t t0 = 0;
        if (a.symmetric) t0 = int64_t(std::upper_bound(cut.begin(), cut.end(), g) - cut.begin()) - 1;
        first[size_t(g)] = t0;
        start[size_t(g) + 1] = start[size_t(g)] + (ntiles - t0);
    }
    const int nt = resolve_threads(n_threads);
    std::vector<GNTKWork> work(static_cast<size_t>(nt));
    return parallel_for(start.back(), nt,
                        [&](int64_t k, int tid) {
                            const int64_t g =
                                int64_t(std::upper_bound(start.begin(), start.end(), k) - start.begin()) - 1;
                            const int64_t t = first[size_t(g)] + (k - start[size_t(g)]);
                            int64_t h0 = cut[size_t(t)];
                            const int64_t h1 = cut[size_t(t) + 1];
                            GNTKWork& w = work[size_t(tid)];
                            if (a.symmetric && h0 <= g) {
                                gntk_unit_dispatch(a, g, g, g + 1, true, w);
                                h0 = g + 1;
                            }
                            if (h0 < h1) gntk_unit_dispatch(a, g, h0, h1, false, w);
                        },
                        poll);
}

}  // namespace fastntk
