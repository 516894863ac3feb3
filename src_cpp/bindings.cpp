// fastntk._core: thin typed entry points over the header-only core. Every entry point takes
// n_threads, releases the GIL while it computes and writes into caller-provided arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastntk/fc.hpp"
#include "fastntk/cntk.hpp"
#include "fastntk/entk.hpp"
#include "fastntk/gntk.hpp"
#include "fastntk/pinn.hpp"

namespace py = pybind11;
using namespace fastntk;

namespace {

// Row-major 2-D view of a numpy array: unit stride along columns, any row stride.
template <class T>
struct View2D {
    T* data;
    int64_t rows, cols, ld;
};

template <class T>
View2D<T> view2d(py::array& a, const char* name, bool writable) {
    if (!py::isinstance<py::array_t<T>>(a) || a.dtype().kind() != 'f' || a.itemsize() != sizeof(T))
        throw py::type_error(std::string(name) + ": wrong dtype");
    if (a.ndim() != 2) throw py::value_error(std::string(name) + ": expected a 2-D array");
    if (writable && !a.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
    if (a.size() == 0) return {nullptr, a.shape(0), a.shape(1), a.shape(1)};
    const auto s0 = a.strides(0), s1 = a.strides(1);
    if (a.shape(1) > 1 && s1 != ssize_t(sizeof(T)))
        throw py::value_error(std::string(name) + ": columns must be contiguous");
    if (a.shape(0) > 1 && (s0 % ssize_t(sizeof(T)) != 0 || s0 < ssize_t(sizeof(T)) * a.shape(1)))
        throw py::value_error(std::string(name) + ": unsupported row stride");
    T* ptr = static_cast<T*>(writable ? a.mutable_data() : const_cast<void*>(a.data()));
    return {ptr, a.shape(0), a.shape(1), a.shape(0) > 1 ? int64_t(s0 / ssize_t(sizeof(T))) : a.shape(1)};
}

// Activation description handed over from fastntk.activations (double arrays kept alive by Python).
struct ActivationSpec {
    int kind = 0, fn = 0;
    double neg_slope = 0.0, pos_slope = 1.0;
    std::vector<double> nodes, weights;
    py::array_t<double> table_f, table_df;
    double table_lo = 0.0, table_step = 1.0;
};

template <class T>
struct BoundActivation {
    Activation<T> act;
    std::vector<T> nodes, weights;
    BoundActivation(const ActivationSpec& s) : nodes(s.nodes.begin(), s.nodes.end()), weights(s.weights.begin(), s.weights.end()) {
        act.kind = static_cast<ActKind>(s.kind);
        act.fn = static_cast<QuadFn>(s.fn);
        act.neg_slope = T(s.neg_slope);
        act.pos_slope = T(s.pos_slope);
        act.order = int(nodes.size());
        act.nodes = nodes.data();
        act.weights = weights.data();
        if (act.fn == QuadFn::Table) {
            if (s.table_f.size() < 4 || s.table_f.size() != s.table_df.size())
                throw py::value_error("activation table needs >= 4 points for sigma and its derivative");
            act.table.f = s.table_f.data();
            act.table.df = s.table_df.data();
            act.table.n = s.table_f.size();
            act.table.lo = s.table_lo;
            act.table.step = s.table_step;
        }
    }
};

struct FCSpec {
    int depth, fix;
    double w0, b0, w, b;
    ActivationSpec act;
};

template <class T>
FCParams<T> fc_params(const FCSpec& s, const BoundActivation<T>& a) {
    FCParams<T> p;
    p.depth = s.depth;
    p.fix = s.fix;
    p.w0 = T(s.w0);
    p.b0 = T(s.b0);
    p.w = T(s.w);
    p.b = T(s.b);
    p.act = a.act;
    return p;
}

// The poll of the long C++ loops (tiling.hpp), run with the GIL: a pending signal (Ctrl-C) stops the
// loop; `progress` (None or a callable(done, total)) hears how far it got, and an exception it raises
// also stops the loop and propagates. Build it while holding the GIL (it holds a Python reference).
Poll python_poll(py::object progress = py::none()) {
    return [progress](int64_t done, int64_t total) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) return true;
        if (progress.is_none()) return false;
        try {
            progress(done, total);
        } catch (py::error_already_set& e) {
            e.restore();
            return true;
        }
        return false;
    };
}

template <class T>
void fc_point_pass_t(const FCSpec& spec, py::array X, py::array stats, py::array nngp_diag, py::array ntk_diag,
                     int n_threads) {
    auto x = view2d<T>(X, "X", false);
    auto st = view2d<T>(stats, "stats", true);
    auto nd = view2d<T>(nngp_diag, "nngp_diag", true);
    auto td = view2d<T>(ntk_diag, "ntk_diag", true);
    if (st.rows != Points<T>::per_layer * int64_t(spec.depth) || st.cols != x.rows || st.ld != x.rows)
        throw py::value_error("stats must be a contiguous (3*depth, n) array");
    if (nd.rows * nd.cols != x.rows || td.rows * td.cols != x.rows) throw py::value_error("diag arrays must hold n values");
    BoundActivation<T> act(spec.act);
    const FCParams<T> p = fc_params(spec, act);
    py::gil_scoped_release release;
    fc_point_pass(p, x.data, x.rows, x.cols, x.ld, st.data, nd.data, td.data, n_threads);
}

template <class T>
void fc_gram_t(const FCSpec& spec, py::array X1, py::array stats1, py::array X2, py::array stats2,
               py::object out_nngp, py::object out_ntk, bool symmetric, int64_t tile, int n_threads,
               py::object progress) {
    auto x1 = view2d<T>(X1, "X1", false);
    auto x2 = view2d<T>(X2, "X2", false);
    auto s1 = view2d<T>(stats1, "stats1", false);
    auto s2 = view2d<T>(stats2, "stats2", false);
    if (x1.cols != x2.cols) throw py::value_error("X1 and X2 have different feature counts");
    const int64_t rows = Points<T>::per_layer * int64_t(spec.depth);
    if (s1.rows != rows || s1.cols != x1.rows || s1.ld != x1.rows || s2.rows != rows || s2.cols != x2.rows ||
        s2.ld != x2.rows)
        throw py::value_error("stats arrays must be contiguous (3*depth, n)");
    if (symmetric && (x1.rows != x2.rows)) throw py::value_error("symmetric Gram needs X2 = X1");
    if (tile < 1) throw py::value_error("tile must be >= 1");
    FCGramArgs<T> g;
    BoundActivation<T> act(spec.act);
    g.p = fc_params(spec, act);
    g.x1 = {x1.data, x1.rows, x1.ld, s1.data};
    g.x2 = {x2.data, x2.rows, x2.ld, s2.data};
    g.d = x1.cols;
    g.symmetric = symmetric;
    g.nngp = nullptr;
    g.ntk = nullptr;
    g.ld_nngp = g.ld_ntk = 0;
    py::array a_nngp, a_ntk;
    for (int which = 0; which < 2; ++which) {
        py::object o = which == 0 ? out_nngp : out_ntk;
        if (o.is_none()) continue;
        py::array arr = o.cast<py::array>();
        auto v = view2d<T>(arr, which == 0 ? "out_nngp" : "out_ntk", true);
        if (v.rows != x1.rows || v.cols != x2.rows) throw py::value_error("output block has the wrong shape");
        (which == 0 ? g.nngp : g.ntk) = v.data;
        (which == 0 ? g.ld_nngp : g.ld_ntk) = v.ld;
        (which == 0 ? a_nngp : a_ntk) = arr;
    }
    const Poll poll = python_poll(progress);
    bool done;
    {
        py::gil_scoped_release release;
        done = fc_gram(g, tile, n_threads, poll);
    }
    if (!done) throw py::error_already_set();
}

// eNTK contraction (MATH §5): per-layer inputs g^{h-1} (n, d_in) and cotangents B_h (n·O, d_out).
template <class T>
void entk_gram_t(py::list feats1, py::list cots1, py::list feats2, py::list cots2, std::vector<double> alpha2,
                 std::vector<double> beta2, int O, int mode, py::array out, bool symmetric, int64_t tile,
                 int n_threads, py::object progress) {
    EntkArgs<T> g;
    g.n_layers = int(alpha2.size());
    if (g.n_layers < 1 || beta2.size() != alpha2.size() || py::len(feats1) != alpha2.size() ||
        py::len(cots1) != alpha2.size() || py::len(feats2) != alpha2.size() || py::len(cots2) != alpha2.size())
        throw py::value_error("entk_gram: one feature and one cotangent array per layer on each side");
    if (O < 1) throw py::value_error("entk_gram: O must be >= 1");
    if (mode < 0 || mode > 2) throw py::value_error("entk_gram: mode must be 0 (full), 1 (trace) or 2 (diagonal)");
    if (tile < 1) throw py::value_error("entk_gram: tile must be >= 1");
    g.O = O;
    g.mode = static_cast<EntkMode>(mode);
    g.symmetric = symmetric;
    std::vector<py::array> keep;
    for (int side = 0; side < 2; ++side) {
        py::list feats = side == 0 ? feats1 : feats2, cots = side == 0 ? cots1 : cots2;
        int64_t n = -1;
        for (int h = 0; h < g.n_layers; ++h) {
            py::array fa = feats[size_t(h)].cast<py::array>(), ca = cots[size_t(h)].cast<py::array>();
            keep.push_back(fa);
            keep.push_back(ca);
            auto f = view2d<T>(fa, "features", false);
            auto c = view2d<T>(ca, "cotangents", false);
            if (n < 0) n = f.rows;
            if (f.rows != n || c.rows != n * O || (c.rows > 1 && c.ld != c.cols))
                throw py::value_error("entk_gram: layer arrays must be (n, d_in) and contiguous (n*O, d_out)");
            if (side == 0) {
                g.d_in.push_back(f.cols);
                g.d_out.push_back(c.cols);
                g.x1.push_back({f.data, f.ld, c.data});
            } else {
                if (f.cols != g.d_in[size_t(h)] || c.cols != g.d_out[size_t(h)])
                    throw py::value_error("entk_gram: layer widths differ between X1 and X2");
                g.x2.push_back({f.data, f.ld, c.data});
            }
        }
        (side == 0 ? g.n1 : g.n2) = n;
    }
    if (symmetric && g.n1 != g.n2) throw py::value_error("entk_gram: symmetric Gram needs X2 = X1");
    for (size_t h = 0; h < alpha2.size(); ++h) {
        g.alpha2.push_back(T(alpha2[h]));
        g.beta2.push_back(T(beta2[h]));
    }
    auto o = view2d<T>(out, "out", true);
    if (o.rows != g.n1 || o.cols != g.n2 * g.values_per_pair())
        throw py::value_error("entk_gram: out must have shape (n1, n2 * values_per_pair)");
    g.out = o.data;
    g.ld_out = o.ld;
    const Poll poll = python_poll(progress);
    bool done;
    {
        py::gil_scoped_release release;
        done = entk_gram(g, tile, n_threads, poll);
    }
    if (!done) throw py::error_already_set();
}

template <class F64, class F32>
void dispatch(py::array X, F64 f64, F32 f32) {
    if (py::isinstance<py::array_t<double>>(X) && X.dtype().kind() == 'f' && X.itemsize() == 8) f64();
    else if (py::isinstance<py::array_t<float>>(X) && X.dtype().kind() == 'f' && X.itemsize() == 4) f32();
    else throw py::type_error("expected a float32 or float64 array");
}

template <class T, T (*F)(T)>
py::array_t<T> apply_elementwise(py::array_t<T, py::array::c_style | py::array::forcecast> x) {
    py::array_t<T> y(x.size());
    for (ssize_t i = 0; i < x.size(); ++i) y.mutable_data()[i] = F(x.data()[i]);
    return y;
}

template <class T>
T sin_of(T x) {
    T s, c;
    sincos_fast(x, s, c);
    return s;
}

template <class T>
T cos_of(T x) {
    T s, c;
    sincos_fast(x, s, c);
    return c;
}

// --- GNTK (MATH §7): graph sets packed by fastntk/gntk.py --------------------------------------------
template <class T>
const T* gntk_array(const py::tuple& t, size_t i, const char* name, int64_t min_len, bool writable = false) {
    py::array a = t[i].cast<py::array>();
    if (!py::isinstance<py::array_t<T>>(a) || a.itemsize() != sizeof(T) || a.ndim() != 1 ||
        a.strides(0) != ssize_t(sizeof(T)))
        throw py::type_error(std::string("packed graphs: ") + name + " must be a contiguous 1-D array of the right dtype");
    if (a.shape(0) < min_len) throw py::value_error(std::string("packed graphs: ") + name + " is too short");
    if (writable && !a.writeable()) throw py::value_error(std::string("packed graphs: ") + name + " is read-only");
    return static_cast<const T*>(a.data());
}

// (node_off, adj_ptr, adj_col, adj_val, weight, size, feat_off, feat_col, feat_sum, y_off, Y, norm, inv_norm,
//  cls_count, cls_id, cls_rep, cls_weight), restricted to graphs [g0, g1).
GraphSet gntk_graph_set(const py::tuple& t, int64_t g0, int64_t g1, int64_t blocks, int64_t steps) {
    if (t.size() != 17) throw py::value_error("packed graphs: expected 17 arrays");
    const int64_t count = t[0].cast<py::array>().shape(0) - 1;
    if (count < 0 || g0 < 0 || g1 < g0 || g1 > count) throw py::value_error("packed graphs: bad graph range");
    GraphSet s;
    const int64_t* node_off = gntk_array<int64_t>(t, 0, "node_off", count + 1);
    const int64_t nodes = node_off[count];
    s.count = g1 - g0;
    s.total_nodes = nodes;
    s.node_off = node_off + g0;
    s.adj_ptr = gntk_array<int64_t>(t, 1, "adj_ptr", nodes + 1);
    s.adj_col = gntk_array<int32_t>(t, 2, "adj_col", s.adj_ptr[nodes]);
    s.adj_val = gntk_array<double>(t, 3, "adj_val", s.adj_ptr[nodes]);
    s.weight = gntk_array<double>(t, 4, "weight", nodes);
    s.size = gntk_array<double>(t, 5, "size", count) + g0;
    const int64_t* feat_off = gntk_array<int64_t>(t, 6, "feat_off", count + 1);
    s.feat_off = feat_off + g0;
    s.feat_col = gntk_array<int32_t>(t, 7, "feat_col", feat_off[count]);
    s.feat_sum = gntk_array<double>(t, 8, "feat_sum", feat_off[count]);
    const int64_t* y_off = gntk_array<int64_t>(t, 9, "y_off", count + 1);
    s.y_off = y_off + g0;
    s.Y = gntk_array<double>(t, 10, "Y", y_off[count]);
    s.norm = const_cast<double*>(gntk_array<double>(t, 11, "norm", steps * nodes, true));
    s.inv_norm = const_cast<double*>(gntk_array<double>(t, 12, "inv_norm", steps * nodes, true));
    s.cls_count = const_cast<int32_t*>(gntk_array<int32_t>(t, 13, "cls_count", blocks * count, true)) + g0 * blocks;
    s.cls_id = const_cast<int32_t*>(gntk_array<int32_t>(t, 14, "cls_id", blocks * nodes, true));
    s.cls_rep = const_cast<int32_t*>(gntk_array<int32_t>(t, 15, "cls_rep", blocks * nodes, true));
    s.cls_weight = const_cast<double*>(gntk_array<double>(t, 16, "cls_weight", blocks * nodes, true));
    return s;
}

GNTKParams gntk_params(int blocks, int mlp_layers, bool jk, bool mean_pooling) {
    if (blocks < 1 || mlp_layers < 1) throw py::value_error("num_blocks and num_mlp_layers must be >= 1");
    GNTKParams p;
    p.blocks = blocks;
    p.mlp_layers = mlp_layers;
    p.jumping_knowledge = jk;
    p.mean_pooling = mean_pooling;
    return p;
}

// ---- physics-informed network (MATH §6) ----
// The net's arrays are referenced (kept alive by the held py::objects) so that in-place parameter
// updates in Python are seen without rebuilding the spec.
struct PinnSpec {
    PinnNet<double> net;
    std::vector<py::array> keep;
    PinnStreams<double> workspace;  // reused by pinn_loss_grad (one call at a time: `busy`)
    std::mutex busy;
    PinnSpec(int activation, py::list W, py::list b, py::list alpha, py::list beta, double shift, double scale) {
        if (activation != 0 && activation != 1) throw py::value_error("PinnSpec: activation must be 0 (tanh) or 1 (sin)");
        const size_t L = W.size();
        if (L < 1 || b.size() != L || alpha.size() != L || beta.size() != L)
            throw py::value_error("PinnSpec: W, b, alpha, beta must have the same length >= 1");
        if (!(std::isfinite(shift) && std::isfinite(scale) && scale != 0.0))
            throw py::value_error("PinnSpec: shift must be finite and scale finite and nonzero");
        net.act = static_cast<PinnActivation>(activation);
        net.shift = shift;
        net.scale = scale;
        for (size_t l = 0; l < L; ++l) {
            net.alpha.push_back(alpha[l].cast<double>());
            net.beta.push_back(beta[l].cast<double>());
            if (!std::isfinite(net.alpha.back()) || !std::isfinite(net.beta.back()))
                throw py::value_error("PinnSpec: alpha and beta must be finite");
        }
        net.width.push_back(1);
        for (size_t l = 0; l < L; ++l) {
            py::array w = W[l].cast<py::array>(), bb = b[l].cast<py::array>();
            if (!py::isinstance<py::array_t<double>>(w) || w.dtype().kind() != 'f' || w.ndim() != 2 ||
                !(w.flags() & py::array::c_style))
                throw py::type_error("PinnSpec: W[" + std::to_string(l) + "] must be a C-contiguous 2-D float64 array");
            if (!py::isinstance<py::array_t<double>>(bb) || bb.dtype().kind() != 'f' || bb.ndim() != 1 ||
                !(bb.flags() & py::array::c_style))
                throw py::type_error("PinnSpec: b[" + std::to_string(l) + "] must be a contiguous 1-D float64 array");
            if (w.shape(1) != net.width.back() || w.shape(0) < 1 || bb.shape(0) != w.shape(0))
                throw py::value_error("PinnSpec: layer " + std::to_string(l) + " has inconsistent shapes");
            net.width.push_back(w.shape(0));
            net.W.push_back(static_cast<const double*>(w.data()));
            net.b.push_back(static_cast<const double*>(bb.data()));
            keep.push_back(w);
            keep.push_back(bb);
        }
        if (net.width.back() != 1) throw py::value_error("PinnSpec: the last layer must have one output");
    }
};

template <int Cols>
const double* pinn_points(py::array& a, const char* name, int64_t& n) {
    if (!py::isinstance<py::array_t<double>>(a) || a.dtype().kind() != 'f' || !(a.flags() & py::array::c_style))
        throw py::type_error(std::string(name) + " must be a C-contiguous float64 array");
    if (Cols == 1 ? a.ndim() != 1 : (a.ndim() != 2 || a.shape(1) != Cols))
        throw py::value_error(std::string(name) + (Cols == 1 ? " must be 1-D" : " must have shape (n, 3)"));
    n = a.shape(0);
    return static_cast<const double*>(a.data());
}

double* pinn_writable(py::array& a, const char* name, int64_t size) {
    if (!py::isinstance<py::array_t<double>>(a) || a.dtype().kind() != 'f' || !(a.flags() & py::array::c_style) ||
        !a.writeable() || a.size() != size)
        throw py::value_error(std::string(name) + ": expected a writable C-contiguous float64 array of " +
                              std::to_string(size) + " values");
    return static_cast<double*>(a.mutable_data());
}

void pinn_forward_py(const PinnSpec& spec, py::array x, py::array out, int n_threads) {
    int64_t n;
    const double* px = pinn_points<1>(x, "x", n);
    double* po = pinn_writable(out, "out", 3 * n);
    py::gil_scoped_release release;
    PinnStreams<double> st;
    pinn_forward(spec.net, px, n, st, n_threads);
    std::memcpy(po, st.Z.back().data(), sizeof(double) * size_t(3 * n));
}

double pinn_loss_grad_py(PinnSpec& spec, py::array x, py::array op, py::array y, py::array w, py::object values,
                         py::list grad_W, py::list grad_b, int n_threads) {
    int64_t n, n_op, n_y, n_w;
    const double* px = pinn_points<1>(x, "x", n);
    const double* pop = pinn_points<3>(op, "op", n_op);
    const double* py_ = pinn_points<1>(y, "y", n_y);
    const double* pw = pinn_points<1>(w, "w", n_w);
    if (n_op != n || n_y != n || n_w != n) throw py::value_error("x, op, y and w must describe the same points");
    double* pv = nullptr;
    py::array varr;
    if (!values.is_none()) {
        varr = values.cast<py::array>();
        pv = pinn_writable(varr, "values", n);
    }
    const size_t L = spec.net.W.size();
    if (grad_W.size() != L || grad_b.size() != L) throw py::value_error("grad_W / grad_b need one array per layer");
    std::vector<double*> gW, gb;
    std::vector<py::array> keep;
    for (size_t l = 0; l < L; ++l) {
        py::array a = grad_W[l].cast<py::array>(), c = grad_b[l].cast<py::array>();
        gW.push_back(pinn_writable(a, "grad_W", spec.net.width[l + 1] * spec.net.width[l]));
        gb.push_back(pinn_writable(c, "grad_b", spec.net.width[l + 1]));
        keep.push_back(a);
        keep.push_back(c);
    }
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(spec.busy);
    return pinn_loss_grad(spec.net, px, pop, py_, pw, n, pv, gW, gb, spec.workspace, n_threads);
}

void pinn_ntk_py(const PinnSpec& spec, py::array x1, py::array op1, py::array x2, py::array op2, py::array out,
                 bool symmetric, int64_t tile, int n_threads) {
    int64_t n1, n2, m1, m2;
    const double* px1 = pinn_points<1>(x1, "x1", n1);
    const double* po1 = pinn_points<3>(op1, "op1", m1);
    const double* px2 = pinn_points<1>(x2, "x2", n2);
    const double* po2 = pinn_points<3>(op2, "op2", m2);
    if (m1 != n1 || m2 != n2) throw py::value_error("x and op must describe the same points");
    if (symmetric && n1 != n2) throw py::value_error("symmetric Gram needs x2 = x1");
    if (tile < 1) throw py::value_error("tile must be >= 1");
    auto o = view2d<double>(out, "out", true);
    if (o.rows != n1 || o.cols != n2) throw py::value_error("out has the wrong shape");
    const Poll poll = python_poll();
    bool done;
    {
        py::gil_scoped_release release;
        done = pinn_ntk(spec.net, px1, po1, n1, px2, po2, n2, o.data, o.ld, symmetric, tile, n_threads, poll);
    }
    if (!done) throw py::error_already_set();
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "fastntk C++ core (private; use the fastntk package)";
#ifdef _OPENMP
    m.attr("openmp") = true;
#else
    m.attr("openmp") = false;
#endif
    m.def("max_threads", []() { return resolve_threads(0); });
    m.def("isa", []() { return std::string(isa_name()); },
          "Instruction set the hot loops run with: avx512, avx2, baseline or native (isa.hpp).");

    // The vectorisable elementary functions of simd_math.hpp, exposed for accuracy tests.
    m.def("simd_acos", &apply_elementwise<double, acos_fast<double>>);
    m.def("simd_asin", &apply_elementwise<double, asin_fast<double>>);
    m.def("simd_exp", &apply_elementwise<double, exp_fast<double>>);
    m.def("simd_sin", &apply_elementwise<double, sin_of<double>>);
    m.def("simd_cos", &apply_elementwise<double, cos_of<double>>);
    m.def("simd_acos_f32", &apply_elementwise<float, acos_fast<float>>);

    py::class_<ActivationSpec>(m, "ActivationSpec")
        .def(py::init<>())
        .def_readwrite("kind", &ActivationSpec::kind)
        .def_readwrite("fn", &ActivationSpec::fn)
        .def_readwrite("neg_slope", &ActivationSpec::neg_slope)
        .def_readwrite("pos_slope", &ActivationSpec::pos_slope)
        .def_readwrite("nodes", &ActivationSpec::nodes)
        .def_readwrite("weights", &ActivationSpec::weights)
        .def_readwrite("table_f", &ActivationSpec::table_f)
        .def_readwrite("table_df", &ActivationSpec::table_df)
        .def_readwrite("table_lo", &ActivationSpec::table_lo)
        .def_readwrite("table_step", &ActivationSpec::table_step);

    py::class_<FCSpec>(m, "FCSpec")
        .def(py::init<int, int, double, double, double, double, ActivationSpec>(), py::arg("depth"), py::arg("fix"),
             py::arg("w0"), py::arg("b0"), py::arg("w"), py::arg("b"), py::arg("activation"))
        .def_readonly("depth", &FCSpec::depth)
        .def_readonly("fix", &FCSpec::fix);

    m.def(
        "fc_point_pass",
        [](const FCSpec& spec, py::array X, py::array stats, py::array nngp_diag, py::array ntk_diag, int n_threads) {
            dispatch(X, [&] { fc_point_pass_t<double>(spec, X, stats, nngp_diag, ntk_diag, n_threads); },
                     [&] { fc_point_pass_t<float>(spec, X, stats, nngp_diag, ntk_diag, n_threads); });
        },
        py::arg("spec"), py::arg("X"), py::arg("stats"), py::arg("nngp_diag"), py::arg("ntk_diag"),
        py::arg("n_threads") = 0,
        "Per-point pass: row statistics (3*depth, n) and the NNGP/NTK diagonals (as (1, n) arrays).");
    m.def(
        "fc_gram",
        [](const FCSpec& spec, py::array X1, py::array stats1, py::array X2, py::array stats2, py::object out_nngp,
           py::object out_ntk, bool symmetric, int64_t tile, int n_threads, py::object progress) {
            dispatch(X1, [&] { fc_gram_t<double>(spec, X1, stats1, X2, stats2, out_nngp, out_ntk, symmetric, tile, n_threads, progress); },
                     [&] { fc_gram_t<float>(spec, X1, stats1, X2, stats2, out_nngp, out_ntk, symmetric, tile, n_threads, progress); });
        },
        py::arg("spec"), py::arg("X1"), py::arg("stats1"), py::arg("X2"), py::arg("stats2"), py::arg("out_nngp"),
        py::arg("out_ntk"), py::arg("symmetric"), py::arg("tile"), py::arg("n_threads") = 0,
        py::arg("progress") = py::none(),
        "Fill out_nngp / out_ntk (N1×N2 blocks, any row stride; None to skip) with the FC Gram; progress(done, "
        "total) is called about every 50 ms with the tiles finished.");
    // ---- Convolutional NTK (MATH §8; fastntk/cntk.py) ----
    struct CNTKSpec {
        int depth, H, W, C;
        bool gap, fix;
        double w0, b0, w, b, w_out, b_out;
    };
    py::class_<CNTKSpec>(m, "CNTKSpec")
        .def(py::init([](int depth, int H, int W, int C, bool gap, bool fix, double w0, double b0, double w, double b,
                         double w_out, double b_out) {
                 if (depth < 2 || H < 1 || W < 1 || C < 1) throw py::value_error("CNTKSpec: bad sizes");
                 return CNTKSpec{depth, H, W, C, gap, fix, w0, b0, w, b, w_out, b_out};
             }),
             py::arg("depth"), py::arg("H"), py::arg("W"), py::arg("C"), py::arg("gap"), py::arg("fix"), py::arg("w0"),
             py::arg("b0"), py::arg("w"), py::arg("b"), py::arg("w_out"), py::arg("b_out"))
        .def_readonly("depth", &CNTKSpec::depth);
    // Images as (n, H·W·C) arrays (channels last), norms as contiguous-row (n, (depth−1)·H·W) arrays.
    auto cntk_images = [](const CNTKSpec& s, py::array& X, py::array& N, const char* xn, const char* nn, bool writable_norms,
                          auto tag) {
        using T = decltype(tag);
        auto x = view2d<T>(X, xn, false);
        auto nv = view2d<T>(N, nn, writable_norms);
        const int64_t P = int64_t(s.H) * s.W;
        if (x.cols != P * s.C) throw py::value_error(std::string(xn) + ": expected H*W*C columns");
        if (nv.rows != x.rows || nv.cols != (s.depth - 1) * P) throw py::value_error(std::string(nn) + ": wrong shape");
        return Images<T>{x.data, x.rows, x.ld, nv.data, nv.ld};
    };
    auto cntk_params = [](const CNTKSpec& s, auto tag) {
        using T = decltype(tag);
        CNTKParams<T> p;
        p.depth = s.depth; p.H = s.H; p.W = s.W; p.C = s.C; p.gap = s.gap; p.fix = s.fix;
        p.w0 = T(s.w0); p.b0 = T(s.b0); p.w = T(s.w); p.b = T(s.b); p.w_out = T(s.w_out); p.b_out = T(s.b_out);
        return p;
    };
    m.def(
        "cntk_prepare",
        [cntk_images, cntk_params](const CNTKSpec& spec, py::array X, py::array norms, py::array nngp_diag,
                                   py::array ntk_diag, bool gap_diagonal, int n_threads) {
            auto run = [&](auto tag) {
                using T = decltype(tag);
                const Images<T> im = cntk_images(spec, X, norms, "X", "norms", true, tag);
                auto nd = view2d<T>(nngp_diag, "nngp_diag", true);
                auto td = view2d<T>(ntk_diag, "ntk_diag", true);
                if (nd.rows != 1 || nd.cols != im.n || td.rows != 1 || td.cols != im.n)
                    throw py::value_error("diag arrays must be (1, n)");
                const CNTKParams<T> p = cntk_params(spec, tag);
                const Poll poll = python_poll();
                bool done;
                {
                    py::gil_scoped_release release;
                    done = cntk_prepare(p, im, const_cast<T*>(im.norms), nd.data, td.data, gap_diagonal, n_threads,
                                        poll);
                }
                if (!done) throw py::error_already_set();
            };
            dispatch(X, [&] { run(double()); }, [&] { run(float()); });
        },
        py::arg("spec"), py::arg("X"), py::arg("norms"), py::arg("nngp_diag"), py::arg("ntk_diag"),
        py::arg("gap_diagonal") = true, py::arg("n_threads") = 0,
        "Per-image pass: per-layer pixel norms (n, (depth-1)*H*W) and the NNGP/NTK diagonals ((1, n) arrays; "
        "with GAP only if gap_diagonal).");
    m.def(
        "cntk_gram",
        [cntk_images, cntk_params](const CNTKSpec& spec, py::array X1, py::array norms1, py::array X2, py::array norms2,
                                   py::object out_nngp, py::object out_ntk, bool symmetric, int64_t tile, int n_threads,
                                   py::object progress) {
            auto run = [&](auto tag) {
                using T = decltype(tag);
                CNTKGramArgs<T> g;
                g.p = cntk_params(spec, tag);
                g.x1 = cntk_images(spec, X1, norms1, "X1", "norms1", false, tag);
                g.x2 = cntk_images(spec, X2, norms2, "X2", "norms2", false, tag);
                if (symmetric && g.x1.n != g.x2.n) throw py::value_error("symmetric Gram needs X2 = X1");
                if (tile < 1) throw py::value_error("tile must be >= 1");
                g.symmetric = symmetric;
                g.nngp = g.ntk = nullptr;
                g.ld_nngp = g.ld_ntk = 0;
                py::array keep[2];
                for (int which = 0; which < 2; ++which) {
                    py::object o = which == 0 ? out_nngp : out_ntk;
                    if (o.is_none()) continue;
                    keep[which] = o.cast<py::array>();
                    auto v = view2d<T>(keep[which], which == 0 ? "out_nngp" : "out_ntk", true);
                    if (v.rows != g.x1.n || v.cols != g.x2.n) throw py::value_error("output block has the wrong shape");
                    (which == 0 ? g.nngp : g.ntk) = v.data;
                    (which == 0 ? g.ld_nngp : g.ld_ntk) = v.ld;
                }
                const Poll poll = python_poll(progress);
                bool done;
                {
                    py::gil_scoped_release release;
                    done = cntk_gram(g, tile, n_threads, poll);
                }
                if (!done) throw py::error_already_set();
            };
            dispatch(X1, [&] { run(double()); }, [&] { run(float()); });
        },
        py::arg("spec"), py::arg("X1"), py::arg("norms1"), py::arg("X2"), py::arg("norms2"), py::arg("out_nngp"),
        py::arg("out_ntk"), py::arg("symmetric"), py::arg("tile"), py::arg("n_threads") = 0,
        py::arg("progress") = py::none(),
        "Fill out_nngp / out_ntk (N1×N2 blocks, any row stride; None to skip) with the CNTK Gram; progress(done, "
        "total) is called about every 50 ms with the tasks finished.");

    m.def(
        "entk_gram",
        [](py::list feats1, py::list cots1, py::list feats2, py::list cots2, std::vector<double> alpha2,
           std::vector<double> beta2, int O, int mode, py::array out, bool symmetric, int64_t tile, int n_threads,
           py::object progress) {
            dispatch(out, [&] { entk_gram_t<double>(feats1, cots1, feats2, cots2, alpha2, beta2, O, mode, out, symmetric, tile, n_threads, progress); },
                     [&] { entk_gram_t<float>(feats1, cots1, feats2, cots2, alpha2, beta2, O, mode, out, symmetric, tile, n_threads, progress); });
        },
        py::arg("feats1"), py::arg("cots1"), py::arg("feats2"), py::arg("cots2"), py::arg("alpha2"), py::arg("beta2"),
        py::arg("O"), py::arg("mode"), py::arg("out"), py::arg("symmetric"), py::arg("tile"), py::arg("n_threads") = 0,
        py::arg("progress") = py::none(),
        "Empirical NTK contraction of MATH §5 into out (n1, n2*K), K = O*O (full), 1 (trace) or O (diagonal).");
    m.def(
        "gntk_prepare",
        [](int blocks, int mlp_layers, py::tuple graphs, int n_threads) {
            const GNTKParams p = gntk_params(blocks, mlp_layers, true, false);
            const int64_t count = graphs[0].cast<py::array>().shape(0) - 1;
            GraphSet s = gntk_graph_set(graphs, 0, count, blocks, int64_t(blocks) * mlp_layers);
            const Poll poll = python_poll();
            bool done;
            {
                py::gil_scoped_release release;
                done = gntk_prepare(p, s, n_threads, poll);
            }
            if (!done) throw py::error_already_set();
        },
        py::arg("blocks"), py::arg("mlp_layers"), py::arg("graphs"), py::arg("n_threads") = 0,
        "GNTK per-graph pass: fill the norm / inv_norm arrays and the level classes of a packed graph set.");
    m.def(
        "gntk_gram",
        [](int blocks, int mlp_layers, bool jk, bool mean_pooling, py::tuple graphs1, int64_t a0, int64_t a1,
           py::tuple graphs2, int64_t b0, int64_t b1, py::object out_nngp, py::object out_ntk, bool symmetric,
           int64_t tile_nodes, int n_threads, py::object progress) {
            const int64_t steps = int64_t(blocks) * mlp_layers;
            GNTKGramArgs g;
            g.p = gntk_params(blocks, mlp_layers, jk, mean_pooling);
            const GraphSet A = gntk_graph_set(graphs1, a0, a1, blocks, steps);
            const GraphSet B = gntk_graph_set(graphs2, b0, b1, blocks, steps);
            g.A = &A;
            g.B = &B;
            g.symmetric = symmetric;
            if (symmetric && (a0 != b0 || a1 != b1 || !graphs1.is(graphs2)))
                throw py::value_error("symmetric GNTK Gram needs the same graphs on both sides");
            if (tile_nodes < 1) throw py::value_error("tile_nodes must be >= 1");
            py::array keep[2];
            for (int which = 0; which < 2; ++which) {
                py::object o = which == 0 ? out_nngp : out_ntk;
                if (o.is_none()) continue;
                keep[which] = o.cast<py::array>();
                auto v = view2d<double>(keep[which], which == 0 ? "out_nngp" : "out_ntk", true);
                if (v.rows != A.count || v.cols != B.count) throw py::value_error("output block has the wrong shape");
                (which == 0 ? g.nngp : g.ntk) = v.data;
                (which == 0 ? g.ld_nngp : g.ld_ntk) = v.ld;
            }
            const Poll poll = python_poll(progress);
            bool done;
            {
                py::gil_scoped_release release;
                done = gntk_gram(g, tile_nodes, n_threads, poll);
            }
            if (!done) throw py::error_already_set();
        },
        py::arg("blocks"), py::arg("mlp_layers"), py::arg("jumping_knowledge"), py::arg("mean_pooling"),
        py::arg("graphs1"), py::arg("a0"), py::arg("a1"), py::arg("graphs2"), py::arg("b0"), py::arg("b1"),
        py::arg("out_nngp"), py::arg("out_ntk"), py::arg("symmetric"), py::arg("tile_nodes"), py::arg("n_threads") = 0,
        py::arg("progress") = py::none(),
        "Fill out_nngp / out_ntk (graphs1[a0:a1] × graphs2[b0:b1], float64, None to skip) with the GNTK Gram; "
        "progress(done, total) is called about every 50 ms with the tasks finished.");

    // ---- physics-informed network NTK (MATH §6), float64 ----
    py::class_<PinnSpec>(m, "PinnSpec")
        .def(py::init<int, py::list, py::list, py::list, py::list, double, double>(),
             py::arg("activation"), py::arg("W"), py::arg("b"), py::arg("alpha"), py::arg("beta"), py::arg("shift"),
             py::arg("scale"),
             "An MLP u(x) of a scalar input: W[l] (width[l+1], width[l]) and b[l] (width[l+1],) float64 "
             "C-contiguous arrays (referenced, not copied), z_l = alpha[l] W[l] g_l + beta[l] b[l], "
             "input (x - shift)/scale; activation 0 = tanh, 1 = sin.");
    m.def("pinn_forward", &pinn_forward_py, py::arg("spec"), py::arg("x"), py::arg("out"), py::arg("n_threads") = 0,
          "Write (u, u_x, u_xx) of every point of x (n,) into out (n, 3).");
    m.def("pinn_loss_grad", &pinn_loss_grad_py, py::arg("spec"), py::arg("x"), py::arg("op"), py::arg("y"),
          py::arg("w"), py::arg("values"), py::arg("grad_W"), py::arg("grad_b"), py::arg("n_threads") = 0,
          "loss = sum_i w_i (v_i - y_i)^2 with v_i = op[i] . (u, u_x, u_xx)(x_i); writes its gradient into the "
          "arrays grad_W / grad_b (shaped like W / b) and v into values (or None). Returns the loss.");
    m.def("pinn_ntk", &pinn_ntk_py, py::arg("spec"), py::arg("x1"), py::arg("op1"), py::arg("x2"), py::arg("op2"),
          py::arg("out"), py::arg("symmetric"), py::arg("tile"), py::arg("n_threads") = 0,
          "Fill out (n1 x n2 block, any row stride) with the empirical NTK between the functionals "
          "v = op . (u, u_x, u_xx) at x1 and at x2.");
}
