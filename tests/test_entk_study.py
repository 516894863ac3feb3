"""The pntk-quality study (small sizes) and its command line."""
import numpy as np
import pytest

from fastntk import empirical as E
from fastntk.cli import main
from fastntk.studies import pntk_quality as pq


def test_study_metrics_against_direct_computation():
    rows = pq.run_study(widths=(16, 512), depth=1, n_outputs=4, n_train=24, n_test=8, dim=5, seeds=2,
                        ridges=(0.0, 0.5), seed=3)
    assert [r["width"] for r in rows] == [16, 512]
    # the Frobenius error shrinks with width (≈ (512/16)^-1/2 ≈ 0.18 in theory)
    assert rows[1]["fro"] < 0.5 * rows[0]["fro"]
    assert all(0 <= r["eig_gap"] < 1 for r in rows)
    assert rows[1]["agreement"][0.0] < rows[0]["agreement"][0.0]
    # recompute the first network's metrics independently
    Xtr, Ytr, Xte, _ = pq._task(24, 8, 5, 4, np.random.default_rng(3))
    mlp = E.init_mlp([5, 16, 4], "relu", seed=[3, 16, 0])
    K = E.entk(mlp, Xtr)
    P = E.pntk(mlp, Xtr)
    fro = np.linalg.norm(K - np.einsum("ij,op->ijop", P, np.eye(4))) / np.linalg.norm(K)
    lam_K = np.linalg.eigvalsh(K.transpose(0, 2, 1, 3).reshape(96, 96))[-1]
    gap = abs(lam_K - np.linalg.eigvalsh(P)[-1]) / lam_K
    ridge_K = 0.5 * np.trace(K.transpose(0, 2, 1, 3).reshape(96, 96)) / 96
    ridge_P = 0.5 * np.trace(P) / 24
    Kmat = K.transpose(0, 2, 1, 3).reshape(96, 96) + ridge_K * np.eye(96)
    fK = E.entk(mlp, Xte, Xtr).transpose(0, 2, 1, 3).reshape(32, 96) @ np.linalg.solve(Kmat, Ytr.reshape(-1))
    fP = E.pntk(mlp, Xte, Xtr) @ np.linalg.solve(P + ridge_P * np.eye(24), Ytr)
    agree = np.linalg.norm(fK - fP.reshape(-1)) / np.linalg.norm(fK)
    f, g, a = pq._one(mlp, Xtr, Ytr, Xte, (0.5,), None)
    np.testing.assert_allclose([f, g, a[0.5]], [fro, gap, agree], rtol=1e-8)


def test_cli_writes_table_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "pq.md", tmp_path / "pq.png"
    assert main(["pntk-quality", "--widths", "8", "32", "--n-train", "12", "--n-test", "4", "--dim", "3",
                 "--outputs", "3", "--seeds", "2", "--ridges", "0", "1", "--out", str(out), "--plot", str(png)]) == 0
    text = out.read_text()
    assert "| 32 |" in text and "ridgeless" in text and "slope" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "width    32" in capsys.readouterr().out
