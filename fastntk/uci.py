"""The UCI small-data protocol of Arora et al. 2020 (MATH §9): loaders, the kernel grid, SVC and
kernel-ridge evaluation with validation-only selection, and the metrics over datasets.

The data are the 121 pre-processed UCI datasets of Fernández-Delgado et al. 2014 (one folder per
dataset with ``<name>.txt`` (sizes), ``<name>_R.dat`` (z-scored features, label last),
``conxuntos.dat`` (train / validation indices) and ``conxuntos_kfold.dat`` (4 train / test pairs)).
The protocol uses the 90 datasets without a separate test file and with at most 5000 samples.

Per dataset (:func:`evaluate`):

1. for every candidate kernel and every hyperparameter (SVC's C, or the ridge of the NTK kernel
   regressor), fit on the ``conxuntos.dat`` train indices and score on its validation indices;
   candidates are visited in order (dep = 0..4, then fix = 0..dep, then C = 1e-2, 1e-1, ..., 1e4: the
   7 values of the official code) and only a strictly better validation accuracy replaces the current
   choice, so ties keep the earliest, as the official code does;
2. with the selected (kernel, hyperparameter), report the mean accuracy over the 4 train / test
   pairs of ``conxuntos_kfold.dat``.

scikit-learn is needed for the SVC (``pip install fastntk[sklearn]``).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .data_path import require_data_dir
from .fc import FullyConnected

MAX_SAMPLES = 5000
PROTOCOL_C = tuple(10.0 ** k for k in range(-2, 5))  # 1e-2, 1e-1, ..., 1e4 (7 values)
PUBLISHED_FC_NTK = {"avg_acc": 81.95, "P95": 72.2, "PMA": 95.7}  # Arora et al. 2020, 90 datasets


# -- data -------------------------------------------------------------------------------------------
def uci_root(root=None):
    """The folder holding the UCI dataset folders (default: <shared data>/uci)."""
    path = os.path.join(str(require_data_dir()), "uci") if root is None else str(root)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"UCI data folder not found: {path}")
    return path


def _read_info(folder, name):
    info = {}
    with open(os.path.join(folder, f"{name}.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                info[parts[0].rstrip("=")] = parts[1]
    return info


def dataset_names(root=None, max_samples=MAX_SAMPLES):
    """Sorted names of the protocol's datasets: no separate test file and at most ``max_samples``
    samples (90 of the 121 for the default 5000)."""
    root = uci_root(root)
    names = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isfile(os.path.join(folder, f"{name}.txt")):
            continue
        info = _read_info(folder, name)
        n_test = int(info.get("n_patrons2", 0))
        if n_test == 0 and int(info["n_patrons1"]) <= max_samples:
            names.append(name)
    return names


@dataclass
class UCIDataset:
    """One dataset: features X (n, d), integer labels y, the validation split and the 4 test splits."""
    name: str
    X: np.ndarray
    y: np.ndarray
    n_classes: int
    train: np.ndarray
    val: np.ndarray
    folds: list = field(default_factory=list)  # [(train_idx, test_idx)] × 4


def _read_index_lines(path):
    with open(path) as f:
        return [np.array(line.split(), dtype=np.int64) for line in f if line.strip()]


def load(name, root=None):
    """Load dataset ``name`` (features as given in ``<name>_R.dat``, labels 0..c-1)."""
    root = uci_root(root)
    folder = os.path.join(root, name)
    if not os.path.isdir(folder):
        raise ValueError(f"unknown UCI dataset {name!r} (no folder {folder})")
    info = _read_info(folder, name)
    table = np.loadtxt(os.path.join(folder, info.get("fich1", f"{name}_R.dat")), skiprows=1, ndmin=2)
    X = np.ascontiguousarray(table[:, 1:-1], dtype=np.float64)
    y = table[:, -1].astype(np.int64)
    train, val = _read_index_lines(os.path.join(folder, "conxuntos.dat"))[:2]
    kfold = _read_index_lines(os.path.join(folder, "conxuntos_kfold.dat"))
    folds = [(kfold[2 * r], kfold[2 * r + 1]) for r in range(len(kfold) // 2)]
    return UCIDataset(name, X, y, int(info["n_clases"]), train, val, folds)


# -- candidates -------------------------------------------------------------------------------------
class _Linear:
    """dep = 0 of the protocol: Θ = Σ⁽⁰⁾ = XXᵀ (FullyConnected(0) is not usable yet: its per-point pass
    rejects the empty statistics array of depth 0)."""

    @staticmethod
    def ntk(X):
        return X @ X.T

    nngp = ntk


def arora_kernel(depth, fix):
    """The ReLU NTK of the UCI code at its scale (MATH §9): Σ⁽⁰⁾ = XXᵀ, E[relu relu] and
    E[relu' relu'] without c_σ, ``depth`` hidden layers, the bottom ``fix`` layers frozen."""
    if depth == 0:
        return _Linear()
    return FullyConnected(depth, "relu", W_std=1.0, b_std=0.0, fix=fix, input_scale=1.0)


@dataclass
class Candidate:
    """A Gram-matrix recipe and the learner evaluated on it.

    ``gram(X)`` returns the (n, n) Gram of all samples; ``learner`` is "svc" (params: C values) or
    "ridge" (params: ridges relative to the mean diagonal of the training Gram; one-hot kernel
    regression with fastntk.predict)."""
    label: str
    gram: object
    learner: str = "svc"
    params: tuple = PROTOCOL_C


def arora_candidates(max_depth=5, C=PROTOCOL_C):
    """The 15 kernels of the protocol (dep = 0..max_depth-1, fix = 0..dep), in the official order."""
    out = []
    for dep in range(max_depth):
        for fix in range(dep + 1):
            k = arora_kernel(dep, fix)
            out.append(Candidate(f"ntk dep={dep} fix={fix}", k.ntk, "svc", tuple(C)))
    return out


class _Rescaled:
    """Gram of ``kernel`` scaled so that its mean diagonal equals mean ‖x‖² (the scale of the protocol's
    dep = 0 kernel XXᵀ), so the same C grid fits every kernel. ``get`` is 'ntk' or 'nngp'."""

    def __init__(self, kernel, get):
        self.kernel, self.get = kernel, get

    def __call__(self, X):
        K = getattr(self.kernel, self.get)(X)
        K *= float(np.einsum("ij,ij->", X, X)) / float(np.trace(K))
        return K


def extra_candidates(C=PROTOCOL_C, ridges=(1e-4, 1e-3, 1e-2, 1e-1, 1.0)):
    """Kernels that fastntk makes cheap, beyond the protocol's 15, under the same validation-only
    selection and C grid: deeper ReLU NTKs (dep 6, 8), ReLU NTK and NNGP with a bias (σ_b² = 1 on the
    'ntk' parameterisation W_std = √2, dep 1..3), erf NTKs (W_std = 2, σ_b = 0.1, dep 1 and 3), and
    the ReLU NTK kernel ridge regressor on one-hot targets (dep 1..4, ridge relative to the mean
    diagonal). The non-protocol Grams are rescaled to the protocol's scale (mean diagonal = mean ‖x‖²,
    a label-free statistic of all inputs) so that one C grid fits all."""
    out = []
    for dep in (6, 8):
        out.append(Candidate(f"ntk dep={dep} fix=0", arora_kernel(dep, 0).ntk, "svc", tuple(C)))
    for dep in (1, 2, 3):
        k = FullyConnected(dep, "relu", W_std=math.sqrt(2.0), b_std=1.0)
        out.append(Candidate(f"ntk relu+bias dep={dep}", _Rescaled(k, "ntk"), "svc", tuple(C)))
        out.append(Candidate(f"nngp relu+bias dep={dep}", _Rescaled(k, "nngp"), "svc", tuple(C)))
    for dep in (1, 3):
        k = FullyConnected(dep, "erf", W_std=2.0, b_std=0.1)
        out.append(Candidate(f"ntk erf dep={dep}", _Rescaled(k, "ntk"), "svc", tuple(C)))
    for dep in (1, 2, 3, 4):
        out.append(Candidate(f"ntk ridge dep={dep}", arora_kernel(dep, 0).ntk, "ridge", tuple(ridges)))
    return out


SUITES = {"arora": arora_candidates, "extra": extra_candidates}


# -- learners ----------------------------------------------------------------------------------------
def svc_accuracy(K, y, train, test, C, cache_mb=2000):
    """Accuracy of SVC(kernel='precomputed', C) fitted on K[train, train], scored on K[test, train]."""
    from sklearn.svm import SVC  # lazy: optional dependency (pip install fastntk[sklearn])
    clf = SVC(kernel="precomputed", C=C, cache_size=cache_mb)
    clf.fit(K[np.ix_(train, train)], y[train])
    return float(np.mean(clf.predict(K[np.ix_(test, train)]) == y[test]))


def ridge_accuracy(K, y, train, test, ridge, n_classes):
    """Accuracy of NTK kernel ridge regression on centred one-hot targets (MATH §4), the ridge relative
    to the mean diagonal of the training Gram."""
    from .predict import KernelRegression
    Ktr = K[np.ix_(train, train)]
    Y = np.eye(n_classes)[y[train]] - 1.0 / n_classes
    model = KernelRegression(Ktr, Y, ridge=ridge * float(np.trace(Ktr)) / len(train))
    return float(np.mean(model.predict(K[np.ix_(test, train)]).argmax(axis=1) == y[test]))


def _accuracy(cand, K, ds, train, test, param, cache_mb):
    if cand.learner == "svc":
        return svc_accuracy(K, ds.y, train, test, param, cache_mb)
    if cand.learner == "ridge":
        return ridge_accuracy(K, ds.y, train, test, param, ds.n_classes)
    raise ValueError(f"unknown learner {cand.learner!r}")


def evaluate(ds, candidates, cache_mb=2000):
    """Run the protocol on one dataset. Returns a dict: validation accuracy of every (candidate,
    parameter), the selection, its 4 test accuracies and their mean, and the seconds spent computing
    kernels and fitting learners."""
    if any(c.learner == "svc" for c in candidates):
        from sklearn.svm import SVC  # noqa: F401  (import once, outside the timed fits)
    t_kernel = t_fit = 0.0
    grid, fit_times, best = {}, {}, None
    for idx, cand in enumerate(candidates):
        t0 = time.perf_counter()
        K = cand.gram(ds.X)
        t_kernel += time.perf_counter() - t0
        t0 = time.perf_counter()
        accs = [_accuracy(cand, K, ds, ds.train, ds.val, p, cache_mb) for p in cand.params]
        fit_times[cand.label] = time.perf_counter() - t0
        t_fit += fit_times[cand.label]
        grid[cand.label] = dict(zip(map(repr, cand.params), accs))
        for p, acc in zip(cand.params, accs):
            if best is None or acc > best[0]:
                best = (acc, idx, p)
    val_acc, idx, param = best
    cand = candidates[idx]
    t0 = time.perf_counter()
    K = cand.gram(ds.X)
    t_kernel += time.perf_counter() - t0
    t0 = time.perf_counter()
    fold_acc = [_accuracy(cand, K, ds, tr, te, param, cache_mb) for tr, te in ds.folds]
    t_fit += time.perf_counter() - t0
    return {"dataset": ds.name, "n": int(ds.X.shape[0]), "d": int(ds.X.shape[1]), "classes": ds.n_classes,
            "selected": cand.label, "learner": cand.learner, "param": param, "val_acc": 100 * val_acc,
            "fold_acc": [100 * a for a in fold_acc], "test_acc": 100 * float(np.mean(fold_acc)),
            "kernel_s": t_kernel, "fit_s": t_fit, "grid": grid, "fit_s_per_candidate": fit_times}


def run_dataset(name, suite, out_dir, root=None, cache_mb=2000):
    """Evaluate one dataset with one suite and write ``<out_dir>/<suite>/<name>.json`` (skipped if present:
    the run is resumable). Returns the result dict."""
    path = os.path.join(out_dir, suite, f"{name}.json")
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    result = evaluate(load(name, root), SUITES[suite](), cache_mb=cache_mb)
    result["suite"] = suite
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, path)
    return result


def load_results(out_dir, suite):
    """{dataset: result} of the finished datasets of a suite."""
    folder = os.path.join(out_dir, suite)
    if not os.path.isdir(folder):
        return {}
    out = {}
    for fn in sorted(os.listdir(folder)):
        if fn.endswith(".json"):
            with open(os.path.join(folder, fn)) as f:
                r = json.load(f)
            out[r["dataset"]] = r
    return out


def combine(base, extra):
    """Validation-only selection over the union of two suites' candidates: the extra suite's choice
    replaces the base choice only when its validation accuracy is strictly higher."""
    out = {}
    for name, r in base.items():
        e = extra.get(name)
        out[name] = e if e is not None and e["val_acc"] > r["val_acc"] else r
    return out


# -- metrics over datasets ---------------------------------------------------------------------------
@dataclass
class Reference:
    """Per-dataset accuracies (%) of the 179 classifiers of Fernández-Delgado et al. 2014 (NaN where the
    classifier failed)."""
    datasets: list
    classifiers: list
    acc: np.ndarray  # (n_datasets, n_classifiers)

    def column(self, classifier):
        return self.acc[:, self.classifiers.index(classifier)]


def load_reference(path=None):
    """Parse ``uci_results/delgado14_results.txt`` (whitespace table, '--' = missing; the summary rows and
    the min/max/mean/std columns are dropped)."""
    if path is None:
        path = os.path.join(str(require_data_dir()), "uci_results", "delgado14_results.txt")
    with open(path) as f:
        lines = [line.split() for line in f if line.strip()]
    header = lines[0][1:]
    n_cls = header.index("min") if "min" in header else len(header)
    names, rows = [], []
    for parts in lines[1:]:
        if len(parts) != len(header) + 1 or parts[0] in ("mean", "std", "min", "max"):
            continue
        names.append(parts[0])
        rows.append([math.nan if v == "--" else float(v) for v in parts[1:n_cls + 1]])
    return Reference(names, header[:n_cls], np.array(rows))


def metrics(acc, reference, datasets, others=None):
    """Average accuracy, P90, P95, PMA and Friedman rank of the per-dataset accuracies ``acc`` (dict
    name -> %) among the reference classifiers (plus ``others``: {label: {name: %}}) on ``datasets``.

    The best accuracy of a dataset is the maximum over all compared classifiers including ``acc``
    (missing entries ignored). P90/P95: % of datasets where acc ≥ 90%/95% of that best; PMA: mean of
    acc/best (%); for a reference classifier, averages skip its missing entries.
    Friedman rank: the mean over datasets of the rank among all classifiers (1 = best, ties share the
    mean rank). A classifier's missing accuracy ('--') is replaced by its mean over all the reference
    datasets it ran on (a choice of ours: the papers do not say how they treat missing entries).
    Returns {label: {avg_acc, P90, P95, PMA, rank}} for 'fastntk' and every reference classifier."""
    from scipy.stats import rankdata
    rows = [reference.datasets.index(n) for n in datasets]
    labels = list(reference.classifiers)
    cols = [reference.acc[rows]]
    for label, values in [("fastntk", acc)] + list((others or {}).items()):
        labels.append(label)
        cols.append(np.array([values[n] for n in datasets], dtype=np.float64)[:, None])
    A = np.hstack(cols)  # NaN where a reference classifier failed
    best = np.nanmax(A, axis=1, keepdims=True)
    ratio = A / best
    col_mean = np.array([np.nanmean(c) if np.isfinite(c).any() else 0.0 for c in reference.acc.T])
    col_mean = np.concatenate([col_mean, np.nanmean(A[:, len(reference.classifiers):], axis=0)])
    filled = np.where(np.isnan(A), col_mean[None, :], A)
    ranks = np.vstack([rankdata(-row) for row in filled])
    def nanmean(v):  # NaN, without a warning, for a classifier missing on every dataset
        return float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else math.nan
    return {lab: {"avg_acc": nanmean(A[:, j]), "P90": 100 * float(np.mean(ratio[:, j] >= 0.9)),
                  "P95": 100 * float(np.mean(ratio[:, j] >= 0.95)), "PMA": 100 * nanmean(ratio[:, j]),
                  "rank": float(ranks[:, j].mean())}
            for j, lab in enumerate(labels)}


# -- running many datasets ---------------------------------------------------------------------------
def _progress(total, desc):
    """A tqdm bar when tqdm is installed (optional extra 'progress'), else a line per dataset."""
    try:
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, unit="dataset")
    except ImportError:
        class _Lines:
            n = 0

            def update(self, k=1):
                self.n += k
                print(f"{desc}: {self.n}/{total}", flush=True)

            def set_postfix_str(self, s):
                print(f"  {s}", flush=True)

            def close(self):
                pass
        return _Lines()


def run_all(names, suite, out_dir, root=None, jobs=1, cache_mb=2000, progress=True):
    """Evaluate ``names`` with ``suite`` (resumable: finished datasets are read back), ``jobs`` datasets in
    parallel processes (fewer when the available memory cannot hold ~4 Grams of 5000² per worker).
    Returns {name: result}."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from ._validation import available_memory
    avail = available_memory()
    if jobs > 1 and avail is not None:  # a worker holds ~4 Grams of the largest protocol dataset
        jobs = max(1, min(jobs, int(avail // (4 * 8 * MAX_SAMPLES ** 2))))
    bar = _progress(len(names), f"uci/{suite}") if progress else None
    results = {}
    if jobs <= 1:
        for name in names:
            results[name] = run_dataset(name, suite, out_dir, root, cache_mb)
            if bar:
                bar.set_postfix_str(f"{name}: {results[name]['test_acc']:.1f}%")
                bar.update(1)
    else:
        with ProcessPoolExecutor(jobs) as pool:
            futures = {pool.submit(run_dataset, n, suite, out_dir, root, cache_mb): n for n in names}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if bar:
                    bar.update(1)
    if bar:
        bar.close()
    return results


def report(out_dir, names, reference=None):
    """A markdown report of the finished results under ``out_dir`` (both suites when present)."""
    reference = load_reference() if reference is None else reference
    base = load_results(out_dir, "arora")
    extra = load_results(out_dir, "extra")
    done = [n for n in names if n in base]
    lines = ["# UCI benchmark (Arora et al. 2020 protocol, MATH §9)", ""]
    lines.append(f"Datasets finished: {len(done)} of {len(names)} (protocol: no separate test file, N ≤ {MAX_SAMPLES}).")
    missing = [n for n in names if n not in base]
    if missing:
        lines.append(f"Not finished (rerun to resume): {', '.join(missing)}.")
    if not done:
        return "\n".join(lines) + "\n"
    acc = {n: base[n]["test_acc"] for n in done}
    both = [n for n in done if n in extra]
    m = metrics(acc, reference, done)
    header = ["| classifier | avg acc (%) | P90 | P95 | PMA | Friedman rank |", "|---|---|---|---|---|---|"]

    def row(title, v):
        return f"| {title} | {v['avg_acc']:.2f} | {v['P90']:.1f} | {v['P95']:.1f} | {v['PMA']:.1f} | {v['rank']:.2f} |"
    lines += ["", f"## Summary ({len(done)} datasets)", ""] + header
    lines.append(row("fastntk FC-NTK (15 kernels, SVC)", m["fastntk"]))
    for title, key in (("rf_caret (Delgado et al.)", "rf_caret"), ("svm_C, RBF SVM (Delgado et al.)", "svm_C")):
        if key in m:
            lines.append(row(title, m[key]))
    p = PUBLISHED_FC_NTK
    lines.append(f"| published FC-NTK (Arora et al. 2020, 90 datasets) | {p['avg_acc']} | | {p['P95']} | {p['PMA']} | |")
    lines += ["", "Best per dataset = maximum over the 179 reference classifiers and the row itself; "
              "Friedman rank among the 179 + this row (missing reference entries: the classifier's mean)."]
    if both:
        union = combine({n: base[n] for n in both}, extra)
        mu = metrics({n: base[n]["test_acc"] for n in both}, reference, both,
                     {"union": {n: union[n]["test_acc"] for n in both},
                      "extra": {n: extra[n]["test_acc"] for n in both}})
        switched = sum(union[n] is extra[n] for n in both)
        lines += ["", f"## Richer search ({len(both)} datasets with both suites)", "",
                  "Validation-only selection over the 15 protocol kernels plus the extra candidates "
                  "(fastntk.uci.extra_candidates); the extra choice replaces the protocol one only when its "
                  f"validation accuracy is strictly higher ({switched} of {len(both)} datasets).", ""] + header
        lines.append(row("protocol kernels only", mu["fastntk"]))
        lines.append(row("protocol + extra kernels (validation-selected)", mu["union"]))
        lines.append(row("extra kernels only", mu["extra"]))
    extra_done = [n for n in names if n in extra]
    if len(extra_done) > len(both):
        me = metrics({n: extra[n]["test_acc"] for n in extra_done}, reference, extra_done)
        lines += ["", f"## Extra kernels alone ({len(extra_done)} datasets)", "",
                  "The extra candidates on their own (no linear dep = 0 kernel, so their SVC fits are fast), "
                  "same validation-only selection:", ""] + header
        lines.append(row("extra kernels only", me["fastntk"]))
        for title, key in (("rf_caret (Delgado et al.)", "rf_caret"), ("svm_C, RBF SVM (Delgado et al.)", "svm_C")):
            if key in me:
                lines.append(row(title, me[key]))
        ke = sum(extra[n]["kernel_s"] for n in extra_done)
        fe = sum(extra[n]["fit_s"] for n in extra_done)
        lines.append("")
        lines.append(f"Wall time: kernels {ke:.1f} s, fits {fe:.1f} s ({100 * ke / (ke + fe):.0f}% kernels).")
    k_s = sum(base[n]["kernel_s"] for n in done)
    f_s = sum(base[n]["fit_s"] for n in done)
    lines += ["", "## Wall time", "", f"Protocol run ({len(done)} datasets): kernels {k_s:.1f} s, SVC fits {f_s:.1f} s "
              f"({100 * k_s / (k_s + f_s):.1f}% kernels)."]
    per = [base[n]["fit_s_per_candidate"] for n in done if "fit_s_per_candidate" in base[n]]
    if per:
        tot = {}
        for d in per:
            for label, sec in d.items():
                tot[label] = tot.get(label, 0.0) + sec
        top = max(tot, key=tot.get)
        lines.append(f"Of the validation-grid SVC time ({len(per)} datasets with a per-kernel record), "
                     f"'{top}' takes {100 * tot[top] / sum(tot.values()):.0f}%"
                     + (" (dep = 0 is the linear kernel XXᵀ: libsvm converges slowly on it at large C)."
                        if top.startswith("ntk dep=0") else "."))
    if both:
        ke = sum(extra[n]["kernel_s"] for n in both)
        fe = sum(extra[n]["fit_s"] for n in both)
        lines.append(f"Extra suite on the same {len(both)} datasets: kernels {ke:.1f} s, fits {fe:.1f} s.")
    lines += ["", "## Per dataset", "", "| dataset | n | d | c | selected | C / ridge | val acc | test acc (mean of 4) |"
              + (" extra: selected | extra val | extra test |" if both else ""),
              "|---|---|---|---|---|---|---|---|" + ("---|---|---|" if both else "")]
    for n in done:
        r = base[n]
        line = (f"| {n} | {r['n']} | {r['d']} | {r['classes']} | {r['selected']} | {r['param']:g} | "
                f"{r['val_acc']:.2f} | {r['test_acc']:.2f} |")
        if both:
            e = extra.get(n)
            line += f" {e['selected']} ({e['param']:g}) | {e['val_acc']:.2f} | {e['test_acc']:.2f} |" if e else " | | |"
        lines.append(line)
    return "\n".join(lines) + "\n"


# -- command line: ``fastntk uci`` ------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--suite", choices=["arora", "extra", "both"], default="arora",
                        help="'arora': the 15 kernels of the protocol; 'extra': the richer search; 'both'")
    parser.add_argument("--datasets", nargs="*", default=None, help="dataset names (default: the 90 of the protocol)")
    parser.add_argument("--out", default="uci_results", help="folder of the per-dataset result files (resumable)")
    parser.add_argument("--report", default=None, help="write the markdown report to this file")
    parser.add_argument("--jobs", type=int, default=1, help="datasets evaluated in parallel processes")
    parser.add_argument("--cache-mb", type=int, default=2000, help="SVC kernel cache (MB)")
    parser.add_argument("--data", default=None, help="UCI folder (default: $FASTNTK_DATA/uci)")
    parser.add_argument("--reference", default=None,
                        help="results table of the 179 classifiers (default: $FASTNTK_DATA/uci_results/delgado14_results.txt)")


def run(args):
    names = dataset_names(args.data)
    if args.datasets:
        unknown = sorted(set(args.datasets) - set(names))
        if unknown:
            raise SystemExit(f"not protocol datasets: {', '.join(unknown)}")
        names = [n for n in names if n in args.datasets]
    suites = ["arora", "extra"] if args.suite == "both" else [args.suite]
    for suite in suites:
        run_all(names, suite, args.out, args.data, jobs=args.jobs, cache_mb=args.cache_mb)
    text = report(args.out, dataset_names(args.data), load_reference(args.reference))
    if args.report:
        with open(args.report, "w") as f:
            f.write(text)
    print(text)
