"""Scale benchmark: out-of-core FC NTK Grams, Dask LocalCluster vs the local engine, resume after kill.

    flock /tmp/fastntk-heavy.lock python benchmarks/bench_scale.py            # full sizes (N = 50,000 / 20,000)
    python benchmarks/bench_scale.py --quick --out /tmp/scale_quick.md       # small sizes (CI smoke run)

Every out-of-core case runs in a fresh subprocess, which reports its wall time, its resident set just
before the Gram (after imports and the inputs) and its peak resident set during the Gram (VmHWM after
resetting it), so the growth due to the Gram can be compared with the budget. Memmaps go to --dir (default /tmp) and are deleted.
Throughput is kernel evaluations per second: N(N+1)/2 for a symmetric Gram (each pair once; the mirror is
a copy).
"""
import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

import fastntk  # noqa: E402
from fastntk import batching  # noqa: E402

DEPTH, D, DTYPE = 3, 64, np.float32


def points(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, D)).astype(DTYPE)


def rss_now():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss():
    """Start a new peak-RSS window (Linux ≥ 4.0; ru_maxrss cannot be used: a child inherits its parent's)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- child: one out-of-core Gram -------------------------------------------------------------------------
def child(args):
    X = points(args.n)
    kernel = fastntk.FullyConnected(DEPTH)
    kernel.ntk(X[:256])  # load code pages and the thread pool
    out = batching.open_memmap(args.path, (args.n, args.n), DTYPE, resume=args.checkpoint is not None)
    before = rss_now()
    reset_peak_rss()
    t = time.perf_counter()
    batching.gram(kernel, X, out=out, max_memory=args.max_memory, checkpoint=args.checkpoint, progress=False,
                  n_threads=args.threads)
    wall = time.perf_counter() - t
    peak = peak_rss()
    print(json.dumps({"wall": wall, "peak_rss": peak, "rss_before": before,
                      "block": batching.block_size_for(args.max_memory, 4, 1, args.n)}), flush=True)


def run_child(n, path, max_memory, threads, checkpoint=None, kill_after_blocks=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--n", str(n), "--path", path,
           "--max-memory", max_memory, "--threads", str(threads)]
    if checkpoint:
        cmd += ["--checkpoint", checkpoint]
    env = dict(os.environ, PYTHONPATH=REPO)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    if kill_after_blocks is not None:
        while True:
            time.sleep(0.05)
            try:
                with open(checkpoint) as f:
                    if len(json.load(f)["done"]) >= kill_after_blocks:
                        break
            except (OSError, ValueError):
                pass
            if proc.poll() is not None:
                raise RuntimeError("child finished before it could be killed")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return {"wall": time.perf_counter() - t, "killed": True}
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def evals(n):
    return n * (n + 1) / 2


# -- cases ---------------------------------------------------------------------------------------------
def in_memory(n, threads, repeats=2):
    X = points(n)
    k = fastntk.FullyConnected(DEPTH)
    k.ntk(X[:256], n_threads=threads)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        K = k.ntk(X, n_threads=threads)
        best = min(best, time.perf_counter() - t)
        del K
    return best


def out_of_core(n, directory, max_memory, threads):
    path = os.path.join(directory, f"fastntk_bench_{n}.npy")
    try:
        return run_child(n, path, max_memory, threads)
    finally:
        if os.path.exists(path):
            os.remove(path)


def resume_case(n, directory, max_memory, threads, fraction=0.4):
    work = tempfile.mkdtemp(dir=directory, prefix="fastntk_resume_")
    try:
        path, ckpt = os.path.join(work, "K.npy"), os.path.join(work, "K.ckpt")
        block = batching.block_size_for(max_memory, 4, 1, n)
        nb = -(-n // block)
        total = nb * (nb + 1) // 2
        killed = run_child(n, path, max_memory, threads, checkpoint=ckpt, kill_after_blocks=int(fraction * total))
        with open(ckpt) as f:
            done_at_kill = len(json.load(f)["done"])
        resumed = run_child(n, path, max_memory, threads, checkpoint=ckpt)
        ref_path = os.path.join(work, "ref.npy")
        plain = run_child(n, ref_path, max_memory, threads)
        a, b = np.load(path, mmap_mode="r"), np.load(ref_path, mmap_mode="r")
        equal = all(np.array_equal(a[i:i + 1000], b[i:i + 1000]) for i in range(0, n, 1000))
        return {"total_blocks": total, "done_at_kill": done_at_kill, "killed_wall": killed["wall"],
                "resumed_wall": resumed["wall"], "plain_wall": plain["wall"], "bitwise_equal": equal}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def dask_case(n, threads, block, repeats=2):
    from dask.distributed import Client, LocalCluster, wait

    from fastntk import distributed as fd
    X = points(n)
    k = fastntk.FullyConnected(DEPTH)
    res = {}
    with LocalCluster(n_workers=threads, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster):
        fd.gram(k, X[:512], block_size=256, n_threads=1).compute()  # warm the workers
        for label in ("persist", "compute"):
            best = np.inf
            for _ in range(repeats):
                K = fd.gram(k, X, block_size=block, n_threads=1)
                t = time.perf_counter()
                if label == "persist":  # blocks computed and kept on the workers
                    K = K.persist()
                    wait(K)
                else:  # ... and gathered into one numpy array on the client
                    R = K.compute()
                best = min(best, time.perf_counter() - t)
                del K
            res[label] = best
        equal = np.array_equal(R, k.ntk(X))
        del R
    res["bitwise_equal"] = equal
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--checkpoint", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="small sizes (CI)")
    ap.add_argument("--n-large", type=int, default=50_000)
    ap.add_argument("--n-medium", type=int, default=20_000)
    ap.add_argument("--max-memory", default="2GB")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--dir", default="/tmp", help="folder for the memmaps (needs 4·N² bytes free)")
    ap.add_argument("--shm", default="/dev/shm", help="RAM-backed folder to separate blocking overhead from disk")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "scale.md"))
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.quick:
        args.n_large, args.n_medium = 3000, 2000
    nl, nm, th = args.n_large, args.n_medium, args.threads
    need = 4 * nl * nl * 1.05
    free = shutil.disk_usage(args.dir).free
    if free < need:
        sys.exit(f"{args.dir} has {free / 1e9:.1f} GB free, the N={nl} memmap needs {need / 1e9:.1f} GB")

    rows = []
    print(f"in-memory N={nm}", flush=True)
    t_mem = in_memory(nm, th)
    rate_mem = evals(nm) / t_mem
    rows.append(("in-memory `ntk(X)`", nm, "—", t_mem, None, 1.0))
    shm_ok = os.path.isdir(args.shm) and shutil.disk_usage(args.shm).free > 4 * nm * nm * 1.5
    if shm_ok:
        print(f"out-of-core N={nm} on {args.shm}", flush=True)
        r = out_of_core(nm, args.shm, args.max_memory, th)
        rows.append((f"out-of-core, memmap on {args.shm} (RAM)", nm, args.max_memory, r["wall"], r,
                     evals(nm) / r["wall"] / rate_mem))
    print(f"out-of-core N={nm} on {args.dir}", flush=True)
    r = out_of_core(nm, args.dir, args.max_memory, th)
    rows.append((f"out-of-core, memmap on {args.dir} (disk)", nm, args.max_memory, r["wall"], r,
                 evals(nm) / r["wall"] / rate_mem))
    print(f"out-of-core N={nl} on {args.dir}", flush=True)
    r = out_of_core(nl, args.dir, args.max_memory, th)
    rows.append((f"out-of-core, memmap on {args.dir} (disk)", nl, args.max_memory, r["wall"], r,
                 evals(nl) / r["wall"] / rate_mem))

    print(f"dask N={nm}", flush=True)
    dask_block = 2048 if not args.quick else 512
    dres = dask_case(nm, th, dask_block)
    print(f"resume N={nm}", flush=True)
    rres = resume_case(nm, args.dir, "256MB" if not args.quick else "4MB", th)

    lines = [
        "# Scale: out-of-core Grams, Dask, resume", "",
        f"FC NTK, depth {DEPTH}, ReLU, d = {D}, float32; {th} threads; machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other jobs, so timings are noisy). "
        f"Produced by `benchmarks/bench_scale.py{' --quick' if args.quick else ''}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "## Out-of-core (fastntk.batching.gram into a numpy.memmap)", "",
        "Throughput = N(N+1)/2 kernel evaluations per second; ratio = throughput / in-memory throughput (N = "
        f"{nm}). Peak RSS is the subprocess's VmHWM during the Gram; growth = peak − resident set just before the Gram.", "",
        "| case | N | budget | time (s) | Meval/s | ratio vs in-memory | block | peak RSS (MB) | RSS growth (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, n, budget, wall, r, ratio in rows:
        extra = ("—", "—", "—") if r is None else (r["block"], f"{r['peak_rss'] / 1e6:.0f}",
                                                    f"{(r['peak_rss'] - r['rss_before']) / 1e6:.0f}")
        lines.append(f"| {label} | {n:,} | {budget} | {wall:.2f} | {evals(n) / wall / 1e6:.1f} | {ratio:.2f} | "
                     f"{extra[0]} | {extra[1]} | {extra[2]} |")
    write_rate = 4 * nl * nl / rows[-1][3] / 1e6
    lines += ["", f"The N = {nl:,} Gram is {4 * nl * nl / 1e9:.1f} GB; written at {write_rate:.0f} MB/s on average.", ""]
    lines += [
        f"## Dask LocalCluster vs local engine (N = {nm:,})", "",
        f"LocalCluster(n_workers={th}, processes=True, threads_per_worker=1), blocks of {dask_block}, "
        "`n_threads=1` per task, vs the local engine `ntk(X)` on the same cores.", "",
        "| case | time (s) | overhead vs local |", "|---|---:|---:|",
        f"| local engine `ntk(X, n_threads={th})` | {t_mem:.1f} | — |",
        f"| Dask, blocks kept on the workers (`persist`) | {dres['persist']:.1f} | {dres['persist'] / t_mem - 1:+.0%} |",
        f"| Dask, gathered to the client (`compute`) | {dres['compute']:.1f} | {dres['compute'] / t_mem - 1:+.0%} |",
        "", f"Dask result equal to the local engine bit for bit: {dres['bitwise_equal']}.", "",
        f"## Resume after kill (N = {nm:,}, budget {'256MB' if not args.quick else '4MB'})", "",
        "| total blocks | done when killed (SIGKILL) | killed run (s) | resumed run (s) | uninterrupted run (s) | "
        "result equal bit for bit |", "|---:|---:|---:|---:|---:|---|",
        f"| {rres['total_blocks']} | {rres['done_at_kill']} | {rres['killed_wall']:.1f} | {rres['resumed_wall']:.1f} | "
        f"{rres['plain_wall']:.1f} | {rres['bitwise_equal']} |", "",
    ]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
