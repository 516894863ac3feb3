"""``fastntk pinn-study``: the PINN NTK study of Wang, Yu & Perdikaris (2022) on the 1-D Poisson
problem u_xx = f, u(x) = sin(aπx) (MATH §6).

Part 1 (the paper's width study, NTK parameterisation): for each width, full-batch gradient descent
and, every ``record_every`` steps, the relative change of the parameters ‖θ_n − θ_0‖/‖θ_0‖ and of
the NTK ‖K_n − K_0‖/‖K_0‖ (both should shrink like width^{-1/2}), plus the eigenvalues of K, K_uu
and K_rr at initialisation and at the end.

Part 2 (adaptive weights): one net trained with the plain loss and with the NTK trace-ratio weights
λ_b = Tr K / Tr K_uu, λ_r = Tr K / Tr K_rr; by default in the standard parameterisation with
normalised inputs of the authors' released code, where λ_b ≈ 100 at width 100.

Writes ``pinn_study.json`` (all curves), ``pinn_study.md`` (summary tables) and, when matplotlib is
installed (``pip install fastntk[plot]``), ``pinn_ntk_change.png``, ``pinn_eigenvalues.png`` and
``pinn_adaptive.png`` into ``--out-dir``.
"""
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._validation import check_n_threads
from ..pinn import PINN, Poisson1D, train


def add_arguments(parser):
    parser.add_argument("--widths", type=int, nargs="+", default=[10, 100, 500], help="hidden widths of part 1")
    parser.add_argument("--parameterizations", nargs="+", choices=["ntk", "standard"], default=["ntk", "standard"],
                        help="part 1: 'ntk' = the paper (all N(0,1), 1/sqrt(fan-in) in the forward pass); "
                             "'standard' = the released code (W ~ N(0, 1/fan-in), b ~ N(0,1), normalised inputs)")
    parser.add_argument("--steps", type=int, default=10_000, help="gradient-descent steps")
    parser.add_argument("--lr", type=float, default=1e-5, help="learning rate")
    parser.add_argument("--record-every", type=int, default=100, help="record curves (and the NTK) every k steps")
    parser.add_argument("--a", type=float, default=1.0, help="frequency of the exact solution sin(a pi x) in part 1")
    parser.add_argument("--n-boundary", type=int, default=100, help="boundary points (half at each end)")
    parser.add_argument("--n-collocation", type=int, default=100, help="equispaced collocation points")
    parser.add_argument("--adaptive-width", type=int, default=100, help="width of the part-2 net (0 skips part 2)")
    parser.add_argument("--adaptive-a", type=float, default=4.0, help="frequency a of part 2")
    parser.add_argument("--adaptive-parameterization", choices=["standard", "ntk"], default="standard",
                        help="part 2: 'standard' = the released code (W ~ N(0, 1/fan-in), normalised inputs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="parallel training runs (default: all cores)")
    parser.add_argument("--out-dir", default="pinn_study", help="where the JSON, markdown and PNG files go")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def _jsonable(hist):
    out = {}
    for k, v in hist.items():
        if isinstance(v, dict):
            out[k] = {name: np.asarray(e).tolist() for name, e in v.items()}
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def _slope(widths, values):
    """Least-squares slope of log(value) against log(width)."""
    w, v = np.log(np.asarray(widths, float)), np.log(np.asarray(values, float))
    return float(np.polyfit(w, v, 1)[0]) if len(w) >= 2 and np.all(np.isfinite(v)) else None


def _net(width, parameterization, problem, seed):
    if parameterization == "standard":  # the released code normalises by the collocation points' mean and std
        x_r = problem.points()[2]
        return PINN((width,), parameterization="standard", input_shift=float(x_r.mean()),
                    input_scale=float(x_r.std()), seed=seed)
    return PINN((width,), parameterization="ntk", seed=seed)


def run_study(widths=(10, 100, 500), parameterizations=("ntk", "standard"), steps=10_000, lr=1e-5,
              record_every=100, a=1.0, n_boundary=100, n_collocation=100, adaptive_width=100, adaptive_a=4.0,
              adaptive_parameterization="standard", seed=0, n_threads=None, log=print):
    """Run both parts; returns a JSON-able dict. The independent training runs are spread over
    ``n_threads`` worker threads (None: all cores), each run single-threaded, so the results do not
    depend on the thread count."""
    if len(widths) == 0:
        raise ValueError("widths must not be empty")
    for p in parameterizations:
        if p not in ("ntk", "standard"):
            raise ValueError(f"unknown parameterization {p!r}")
    result = {"config": dict(widths=list(widths), parameterizations=list(parameterizations), steps=steps, lr=lr,
                             record_every=record_every, a=a, n_boundary=n_boundary, n_collocation=n_collocation,
                             adaptive_width=adaptive_width, adaptive_a=adaptive_a,
                             adaptive_parameterization=adaptive_parameterization, seed=seed),
              "width_study": {p: {} for p in parameterizations}, "adaptive": {}, "slopes": {}}
    t_start = time.perf_counter()
    problem = Poisson1D(a=a, n_boundary=n_boundary, n_collocation=n_collocation)
    adaptive_problem = Poisson1D(a=adaptive_a, n_boundary=n_boundary, n_collocation=n_collocation)

    def width_run(param, width):
        t0 = time.perf_counter()
        hist = train(_net(width, param, problem, seed), problem, lr=lr, steps=steps, record_every=record_every,
                     n_threads=1)
        hist["seconds"] = time.perf_counter() - t0
        return hist

    def adaptive_run(adaptive):
        t0 = time.perf_counter()
        net = _net(adaptive_width, adaptive_parameterization, adaptive_problem, seed)
        hist = train(net, adaptive_problem, lr=lr, steps=steps, record_every=record_every, adaptive=adaptive,
                     n_threads=1)
        hist["seconds"] = time.perf_counter() - t0
        x_plot = np.linspace(0, 1, 201)
        hist["x_plot"] = x_plot.tolist()
        hist["u_plot"] = net.forward(x_plot, n_threads=1)[:, 0].tolist()
        return hist

    jobs = [(("width", p, w), width_run, (p, w)) for p in parameterizations for w in widths]
    if adaptive_width:
        jobs += [(("adaptive", name), adaptive_run, (name == "adaptive",)) for name in ("plain", "adaptive")]
    jobs.sort(key=lambda j: -(j[0][2] if j[0][0] == "width" else adaptive_width))  # longest first
    workers = check_n_threads(n_threads) or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:  # the core releases the GIL
        done = {key: pool.submit(fn, *args) for key, fn, args in jobs}
        done = {key: fut.result() for key, fut in done.items()}

    for p in parameterizations:
        for width in widths:
            hist = done[("width", p, width)]
            result["width_study"][p][str(width)] = _jsonable(hist)
            log(f"width {width:5d} ({p} param., a={a:g}): |θ−θ0|/|θ0| = {hist['param_change'][-1]:.3e}, "
                f"|K−K0|/|K0| = {hist['ntk_change'][-1]:.3e}, rel. L2 error {hist['rel_l2_error'][-1]:.3f}, "
                f"λ_b/λ_r at init {hist['trace_weights_init'][0]:.2f}/{hist['trace_weights_init'][1]:.2f} "
                f"({hist['seconds']:.1f} s)")
        ws = [int(w) for w in widths]
        runs = result["width_study"][p]
        result["slopes"][p] = {
            "param_change_vs_width": _slope(ws, [runs[str(w)]["param_change"][-1] for w in ws]),
            "ntk_change_vs_width": _slope(ws, [runs[str(w)]["ntk_change"][-1] for w in ws]),
        }
        if len(ws) >= 2:
            log(f"{p} param.: log-log slope vs width of the parameter change "
                f"{result['slopes'][p]['param_change_vs_width']:.2f}, of the NTK change "
                f"{result['slopes'][p]['ntk_change_vs_width']:.2f}")
    if adaptive_width:
        for name in ("plain", "adaptive"):
            hist = done[("adaptive", name)]
            result["adaptive"][name] = _jsonable(hist)
            log(f"{name:8s} weights (width {adaptive_width}, {adaptive_parameterization} param., a={adaptive_a:g}): "
                f"rel. L2 error {hist['rel_l2_error'][-1]:.3e}, λ_b {hist['lambda_b'][-1]:.1f}, "
                f"λ_r {hist['lambda_r'][-1]:.3f} (trace ratio at init: λ_b = {hist['trace_weights_init'][0]:.1f}) "
                f"({hist['seconds']:.1f} s)")
    result["seconds_total"] = time.perf_counter() - t_start
    return result


def write_markdown(result, path):
    cfg = result["config"]
    lines = [
        "# PINN NTK study (MATH §6; Wang, Yu & Perdikaris 2022)",
        "",
        f"1-D Poisson u_xx = f on [0, 1], u = sin(aπx); {cfg['n_boundary']} boundary points (half at each end), "
        f"{cfg['n_collocation']} equispaced collocation points; one hidden tanh layer; full-batch gradient descent, "
        f"lr {cfg['lr']:g}, {cfg['steps']} steps; generated by `fastntk pinn-study`.",
    ]
    names = {"ntk": "NTK parameterisation of the paper (all parameters N(0, 1))",
             "standard": "standard parameterisation with normalised inputs (the authors' released code)"}
    for p, runs in result["width_study"].items():
        lines += ["", f"## Width study: {names[p]}, a = {cfg['a']:g}", "",
                  "| width | ‖θ−θ₀‖/‖θ₀‖ | ‖K−K₀‖/‖K₀‖ | λ_max(K) init → end | λ_b, λ_r at init | rel. L² error | seconds |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for w, h in runs.items():
            lines.append(f"| {w} | {h['param_change'][-1]:.3e} | {h['ntk_change'][-1]:.3e} | "
                         f"{h['eigenvalues_init']['K'][0]:.4g} → {h['eigenvalues_final']['K'][0]:.4g} | "
                         f"{h['trace_weights_init'][0]:.2f}, {h['trace_weights_init'][1]:.2f} | "
                         f"{h['rel_l2_error'][-1]:.3f} | {h['seconds']:.1f} |")
        sl = result["slopes"][p]
        if sl["param_change_vs_width"] is not None:
            lines += ["", f"Log-log slope of the final relative changes against width: parameters "
                          f"{sl['param_change_vs_width']:.2f}, NTK {sl['ntk_change_vs_width']:.2f}."]
    if result["adaptive"]:
        lines += ["", f"## Adaptive weights (width {cfg['adaptive_width']}, {cfg['adaptive_parameterization']} "
                      f"parameterisation, a = {cfg['adaptive_a']:g})", "",
                  "| loss weights | λ_b, λ_r (end) | loss_b | loss_r | rel. L² error |", "|---|---:|---:|---:|---:|"]
        for name, h in result["adaptive"].items():
            lines.append(f"| {name} | {h['lambda_b'][-1]:.1f}, {h['lambda_r'][-1]:.3f} | {h['loss_b'][-1]:.3e} | "
                         f"{h['loss_r'][-1]:.3e} | {h['rel_l2_error'][-1]:.3e} |")
        h = next(iter(result["adaptive"].values()))
        lines += ["", f"Trace ratios at initialisation: λ_b = {h['trace_weights_init'][0]:.1f}, "
                      f"λ_r = {h['trace_weights_init'][1]:.3f}."]
    lines += ["", f"Total time {result['seconds_total']:.1f} s.", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def plot(result, out_dir):
    """Write the three PNG figures; needs matplotlib (the `plot` extra)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("the PINN study plots need matplotlib: pip install 'fastntk[plot]' "
                          "(or pass --no-plots)") from exc
    paths = []
    studies = result["width_study"]
    n_widths = max(len(runs) for runs in studies.values())
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(n_widths, 1)))
    labels = {"ntk": "NTK param.", "standard": "standard param., normalised input"}
    fig, ax = plt.subplots(len(studies), 2, figsize=(10, 3.4 * len(studies)), squeeze=False)
    for row, (p, runs) in enumerate(studies.items()):
        for c, (w, h) in zip(colors, runs.items()):
            ax[row, 0].plot(h["step"][1:], h["param_change"][1:], color=c, label=f"width {w}")
            ax[row, 1].plot(h["step"][1:], h["ntk_change"][1:], color=c, label=f"width {w}")
        ax[row, 0].set_title(r"$\|\theta_n-\theta_0\| / \|\theta_0\|$, " + labels[p])
        ax[row, 1].set_title(r"$\|K_n-K_0\|_F / \|K_0\|_F$, " + labels[p])
        for a in ax[row]:
            a.set_yscale("log")
            a.legend(fontsize=8)
    for a in ax[-1]:
        a.set_xlabel("gradient-descent step")
    fig.suptitle(f"PINN NTK during training (1-D Poisson, sin({result['config']['a']:g}πx), "
                 f"lr {result['config']['lr']:g})")
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "pinn_ntk_change.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(len(studies), 3, figsize=(13, 3.4 * len(studies)), squeeze=False)
    for row, (p, runs) in enumerate(studies.items()):
        for k, name in enumerate(("K", "K_uu", "K_rr")):
            for c, (w, h) in zip(colors, runs.items()):
                e0 = np.clip(h["eigenvalues_init"][name], 1e-16, None)
                e1 = np.clip(h["eigenvalues_final"][name], 1e-16, None)
                ax[row, k].loglog(np.arange(1, len(e0) + 1), e0, color=c, label=f"width {w}, init")
                ax[row, k].loglog(np.arange(1, len(e1) + 1), e1, color=c, ls="--", label=f"width {w}, end")
            tex = name.replace("_", "_{") + ("}" if "_" in name else "")
            ax[row, k].set_title(f"eigenvalues of ${tex}$, {labels[p]}", fontsize=9)
        ax[row, 0].legend(fontsize=6)
    for a in ax[-1]:
        a.set_xlabel("index")
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "pinn_eigenvalues.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    if result["adaptive"]:
        cfg = result["config"]
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        for name, h in result["adaptive"].items():
            ls = "-" if name == "adaptive" else ":"
            ax[0].semilogy(h["step"], h["loss_b"], ls=ls, color="C0", label=f"boundary loss, {name}")
            ax[0].semilogy(h["step"], h["loss_r"], ls=ls, color="C1", label=f"residual loss, {name}")
            ax[1].plot(h["x_plot"], h["u_plot"], ls=ls,
                       label=f"{name} (rel. L² error {h['rel_l2_error'][-1]:.2g})")
        x = np.linspace(0, 1, 201)
        ax[1].plot(x, np.sin(cfg["adaptive_a"] * np.pi * x), color="k", lw=0.8, label="exact")
        ax[0].set_xlabel("gradient-descent step")
        ax[0].legend(fontsize=7)
        ax[1].set_xlabel("x")
        ax[1].legend(fontsize=7)
        fig.suptitle(f"NTK trace-ratio loss weights (width {cfg['adaptive_width']}, "
                     f"{cfg['adaptive_parameterization']} param., a = {cfg['adaptive_a']:g})")
        fig.tight_layout()
        paths.append(os.path.join(out_dir, "pinn_adaptive.png"))
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def run(args):
    os.makedirs(args.out_dir, exist_ok=True)
    result = run_study(widths=args.widths, parameterizations=args.parameterizations, steps=args.steps, lr=args.lr, record_every=args.record_every, a=args.a,
                       n_boundary=args.n_boundary, n_collocation=args.n_collocation,
                       adaptive_width=args.adaptive_width, adaptive_a=args.adaptive_a,
                       adaptive_parameterization=args.adaptive_parameterization, seed=args.seed,
                       n_threads=args.threads)
    json_path = os.path.join(args.out_dir, "pinn_study.json")
    with open(json_path, "w") as f:
        json.dump(result, f)
    md_path = os.path.join(args.out_dir, "pinn_study.md")
    write_markdown(result, md_path)
    written = [json_path, md_path]
    if not args.no_plots:
        written += plot(result, args.out_dir)
    print(f"total {result['seconds_total']:.1f} s; wrote " + ", ".join(written))
