"""fastntk.uci: loaders, dataset selection, the kernels of the protocol (against a numpy reference of
MATH §9's recursion), validation-only selection, the metrics, resumable runs and the CLI."""
import json
import math
import os

import numpy as np
import pytest

from fastntk import uci
from fastntk.cli import main as cli_main


def _write_dataset(root, name, X, y, train, val, folds, n_test=0):
    d = os.path.join(root, name)
    os.makedirs(d)
    lines = [f"n_entradas= {X.shape[1]}", f"n_clases= {len(np.unique(y))}", "n_arquivos= 1",
             f"fich1= {name}_R.dat", f"n_patrons1= {len(X)}", f"n_patrons_entrena= {len(train)}",
             f"n_patrons_valida= {len(val)}", "n_conxuntos= 1"]
    if n_test:
        lines += [f"fich2= {name}_test_R.dat", f"n_patrons2= {n_test}"]
    with open(os.path.join(d, f"{name}.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, f"{name}_R.dat"), "w") as f:
        f.write("\t" + "\t".join(f"f{i + 1}" for i in range(X.shape[1])) + "\tclase\n")
        for i, (row, label) in enumerate(zip(X, y)):
            f.write(f"{i + 1}\t" + "\t".join(f"{v:.10g}" for v in row) + f"\t{label}\n")
    with open(os.path.join(d, "conxuntos.dat"), "w") as f:
        f.write(" ".join(map(str, train)) + " \n" + " ".join(map(str, val)) + " \n")
    with open(os.path.join(d, "conxuntos_kfold.dat"), "w") as f:
        for tr, te in folds:
            f.write(" ".join(map(str, tr)) + " \n" + " ".join(map(str, te)) + " \n")


@pytest.fixture()
def mini_uci(tmp_path):
    """Three datasets: 'blobs' (kept), 'withtest' (separate test file: excluded), 'huge' (N > 5000)."""
    rng = np.random.default_rng(0)
    n = 40
    y = np.repeat([0, 1], n // 2)
    X = rng.standard_normal((n, 3)) + 3.0 * y[:, None]
    perm = rng.permutation(n)
    train, val = perm[:20], perm[20:]
    folds = [(np.setdiff1d(np.arange(n), part), part) for part in np.array_split(rng.permutation(n), 4)]
    root = str(tmp_path / "uci")
    os.makedirs(root)
    _write_dataset(root, "blobs", X, y, train, val, folds)
    _write_dataset(root, "withtest", X, y, train, val, folds, n_test=10)
    os.makedirs(os.path.join(root, "huge"))
    with open(os.path.join(root, "huge", "huge.txt"), "w") as f:
        f.write("n_entradas= 2\nn_clases= 2\nfich1= huge_R.dat\nn_patrons1= 6000\n")
    os.makedirs(os.path.join(root, "notadataset"))
    return root, X, y, train, val, folds


def test_selection_and_loading(mini_uci):
    root, X, y, train, val, folds = mini_uci
    assert uci.dataset_names(root) == ["blobs"]
    assert uci.dataset_names(root, max_samples=10000) == ["blobs", "huge"]
    ds = uci.load("blobs", root)
    np.testing.assert_allclose(ds.X, X, rtol=1e-9)
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_array_equal(ds.train, train)
    np.testing.assert_array_equal(ds.val, val)
    assert ds.n_classes == 2 and len(ds.folds) == 4
    for (tr, te), (tr2, te2) in zip(ds.folds, folds):
        np.testing.assert_array_equal(tr, tr2)
        np.testing.assert_array_equal(te, te2)
    with pytest.raises(ValueError, match="unknown UCI dataset"):
        uci.load("nope", root)
    with pytest.raises(FileNotFoundError):
        uci.dataset_names(os.path.join(root, "missing"))


def _official_recursion(X, dep, fix):
    """MATH §9: Σ⁰ = XXᵀ, ReLU dual without c_σ, NTK sum starting at layer `fix` (numpy, independent)."""
    S = X @ X.T
    H = np.zeros_like(S)
    for h in range(dep + 1):
        if h >= fix:
            H = H + S
        if h == dep:
            return H
        norm = np.sqrt(np.diag(S))
        P = np.maximum(np.outer(norm, norm), 1e-9)
        rho = np.clip(S / P, -1.0, 1.0)
        theta = np.arccos(rho)
        S = P * (np.sin(theta) + (np.pi - theta) * rho) / (2 * np.pi)
        H = H * (np.pi - theta) / (2 * np.pi)


def test_protocol_kernels_match_the_recursion():
    X = np.random.default_rng(1).standard_normal((25, 6))
    cands = uci.arora_candidates()
    assert len(cands) == 15
    assert [c.label for c in cands[:4]] == ["ntk dep=0 fix=0", "ntk dep=1 fix=0", "ntk dep=1 fix=1",
                                            "ntk dep=2 fix=0"]
    for dep in range(5):
        for fix in range(dep + 1):
            K = uci.arora_kernel(dep, fix).ntk(X)
            R = _official_recursion(X, dep, fix)
            np.testing.assert_allclose(K, R, rtol=1e-7, atol=1e-9 * np.abs(R).max())
            assert (K == K.T).all()
    # fix = dep is the NNGP
    np.testing.assert_allclose(uci.arora_kernel(3, 3).ntk(X), uci.arora_kernel(3, 0).nngp(X), rtol=1e-12)


def test_validation_selection_is_strict_and_in_order(mini_uci, monkeypatch):
    root = mini_uci[0]
    ds = uci.load("blobs", root)
    table = {("a", 1.0): 0.5, ("a", 2.0): 0.9, ("b", 1.0): 0.9, ("b", 2.0): 0.7}
    fold_acc = iter([0.6, 0.7, 0.8, 0.9])
    calls = []

    def fake_svc(K, y, train, test, C, cache_mb=0):
        calls.append((K[0, 0], C))
        if len(train) == len(ds.train) and (train == ds.train).all():
            return table[("a" if K[0, 0] == 1.0 else "b", C)]
        return next(fold_acc)

    monkeypatch.setattr(uci, "svc_accuracy", fake_svc)
    cands = [uci.Candidate("a", lambda X: np.ones((len(X), len(X))), "svc", (1.0, 2.0)),
             uci.Candidate("b", lambda X: 2 * np.ones((len(X), len(X))), "svc", (1.0, 2.0))]
    r = uci.evaluate(ds, cands)
    assert r["selected"] == "a" and r["param"] == 2.0  # the tie with ("b", 1.0) keeps the earlier one
    assert r["val_acc"] == pytest.approx(90.0)
    assert r["test_acc"] == pytest.approx(75.0)  # mean over the 4 test folds
    assert calls[-4:] == [(1.0, 2.0)] * 4  # the folds use the selected kernel and C
    assert r["grid"]["b"]["1.0"] == 0.9
    assert r["kernel_s"] >= 0 and r["fit_s"] >= 0


def test_evaluate_with_svc_and_ridge(mini_uci):
    pytest.importorskip("sklearn")
    ds = uci.load("blobs", mini_uci[0])
    r = uci.evaluate(ds, uci.arora_candidates(max_depth=2))
    assert r["test_acc"] >= 95.0 and len(r["fold_acc"]) == 4
    ridge = [c for c in uci.extra_candidates() if c.learner == "ridge"][:1]
    r2 = uci.evaluate(ds, ridge)
    assert r2["learner"] == "ridge" and r2["test_acc"] >= 75.0
    # the ridge learner is one-hot kernel ridge regression with the ridge relative to the mean diagonal
    from fastntk.predict import KernelClassifier
    K = ridge[0].gram(ds.X)
    tr, te = ds.folds[0]
    lam = r2["param"] * np.trace(K[np.ix_(tr, tr)]) / len(tr)
    pred = KernelClassifier(K[np.ix_(tr, tr)], ds.y[tr], ridge=lam).predict(K[np.ix_(te, tr)])
    assert r2["fold_acc"][0] == pytest.approx(100 * np.mean(pred == ds.y[te]))


def test_svc_accuracy_matches_sklearn_directly(mini_uci):
    from sklearn.svm import SVC
    ds = uci.load("blobs", mini_uci[0])
    K = uci.arora_kernel(2, 1).ntk(ds.X)
    tr, te = ds.folds[0]
    clf = SVC(kernel="precomputed", C=0.1).fit(K[np.ix_(tr, tr)], ds.y[tr])
    expect = np.mean(clf.predict(K[np.ix_(te, tr)]) == ds.y[te])
    assert uci.svc_accuracy(K, ds.y, tr, te, 0.1) == expect


def _reference_file(path, names):
    header = ["problema", "clfA", "clfB", "min", "max", "mean", "std"]
    rows = {names[0]: ["90.0", "--"], names[1]: ["50.0", "80.0"], names[2]: ["70.0", "60.0"]}
    with open(path, "w") as f:
        f.write(" ".join(f"{h:>10}" for h in header) + "\n")
        for n in names:
            f.write(f"{n:>10} " + " ".join(f"{v:>10}" for v in rows[n]) + "  0 0 0 0\n")
        f.write("-" * 40 + "\n")
        f.write(f"{'mean':>10} 70.0 70.0\n")


def test_reference_and_metrics(tmp_path):
    names = ["d1", "d2", "d3"]
    path = str(tmp_path / "res.txt")
    _reference_file(path, names)
    ref = uci.load_reference(path)
    assert ref.datasets == names and ref.classifiers == ["clfA", "clfB"]
    assert math.isnan(ref.acc[0, 1]) and ref.acc[1, 1] == 80.0
    ours = {"d1": 85.0, "d2": 80.0, "d3": 35.0}
    m = uci.metrics(ours, ref, names)
    # best per dataset: 90, 80, 70
    assert m["fastntk"]["avg_acc"] == pytest.approx(200.0 / 3)
    assert m["fastntk"]["PMA"] == pytest.approx(100 * (85 / 90 + 1.0 + 0.5) / 3)
    assert m["fastntk"]["P95"] == pytest.approx(100 / 3)  # 85/90 = 0.944 < 0.95 and 35/70 = 0.5
    assert m["fastntk"]["P90"] == pytest.approx(100 * 2 / 3)
    # clfB's missing d1 becomes its mean over d2, d3 (70): ranks d1 (clfA 90, ours 85, B 70) → 3,
    # d2 (A 50, B 80, ours 80) → B and ours tie at 1.5, d3 (A 70, B 60, ours 35) → 2
    assert m["clfB"]["rank"] == pytest.approx((3 + 1.5 + 2) / 3)
    assert m["fastntk"]["rank"] == pytest.approx((2 + 1.5 + 3) / 3)
    assert m["clfA"]["avg_acc"] == pytest.approx(70.0)


def test_combine_prefers_strictly_better_validation():
    base = {"a": {"val_acc": 90.0, "test_acc": 80.0}, "b": {"val_acc": 70.0, "test_acc": 60.0}}
    extra = {"a": {"val_acc": 90.0, "test_acc": 99.0}, "b": {"val_acc": 75.0, "test_acc": 50.0}}
    out = uci.combine(base, extra)
    assert out["a"]["test_acc"] == 80.0 and out["b"]["test_acc"] == 50.0


def test_resumable_run_and_cli(mini_uci, tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    root = mini_uci[0]
    out = str(tmp_path / "results")
    monkeypatch.setattr(uci, "SUITES", {"arora": lambda: uci.arora_candidates(max_depth=2),
                                        "extra": lambda: uci.arora_candidates(max_depth=1)})
    r = uci.run_dataset("blobs", "arora", out, root)
    path = os.path.join(out, "arora", "blobs.json")
    with open(path) as f:
        assert json.load(f)["test_acc"] == r["test_acc"]

    def boom(*a, **k):
        raise AssertionError("a finished dataset must not be recomputed")
    monkeypatch.setattr(uci, "evaluate", boom)
    assert uci.run_dataset("blobs", "arora", out, root)["test_acc"] == r["test_acc"]
    monkeypatch.undo()
    monkeypatch.setattr(uci, "SUITES", {"arora": lambda: uci.arora_candidates(max_depth=2),
                                        "extra": lambda: uci.arora_candidates(max_depth=1)})
    refpath = str(tmp_path / "ref.txt")
    _reference_file(refpath, ["blobs", "x2", "x3"])
    report = str(tmp_path / "uci.md")
    assert cli_main(["uci", "--suite", "both", "--data", root, "--out", out, "--reference", refpath,
                     "--report", report]) == 0
    text = open(report).read()
    assert "Datasets finished: 1 of 1" in text and "| blobs |" in text
    assert "protocol + extra kernels (validation-selected)" in text
    with pytest.raises(SystemExit):
        cli_main(["uci", "--data", root, "--out", out, "--datasets", "withtest"])


def test_shared_uci_data(shared_data):
    root = os.path.join(str(shared_data), "uci")
    names = uci.dataset_names(root)
    assert len(names) == 90  # MATH §9: no separate test file, N ≤ 5000
    assert "adult" not in names and "abalone" in names
    ds = uci.load("iris", root)
    assert ds.X.shape == (150, 4) and ds.n_classes == 3 and set(ds.y) == {0, 1, 2}
    assert len(ds.folds) == 4 and all(len(tr) + len(te) == 150 for tr, te in ds.folds)
    ref = uci.load_reference()
    assert len(ref.classifiers) == 179 and set(names) <= set(ref.datasets)
    assert uci.metrics({n: 0.0 for n in names}, ref, names)["rf_caret"]["avg_acc"] == pytest.approx(81.56, abs=0.01)
