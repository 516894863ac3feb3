"""Smoke test of ``fastntk pinn-study`` at tiny sizes: the CLI runs, writes the JSON / markdown
(and the PNGs when matplotlib is installed), and the recorded curves are consistent."""
import json

import numpy as np
import pytest

from fastntk.cli import main
from fastntk.studies.pinn_study import run_study


def test_cli_writes_json_markdown_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    argv = ["pinn-study", "--widths", "8", "32", "--steps", "200", "--record-every", "50", "--n-boundary", "10",
            "--n-collocation", "20", "--adaptive-width", "16", "--threads", "2", "--out-dir", str(tmp_path)]
    assert main(argv) == 0
    result = json.loads((tmp_path / "pinn_study.json").read_text())
    for name in ("pinn_ntk_change.png", "pinn_eigenvalues.png", "pinn_adaptive.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    md = (tmp_path / "pinn_study.md").read_text()
    assert "Width study" in md and "Adaptive weights" in md
    assert set(result["width_study"]) == {"ntk", "standard"}
    for runs in result["width_study"].values():
        assert set(runs) == {"8", "32"}
        for h in runs.values():
            assert h["step"] == [0, 50, 100, 150, 200]
            assert h["param_change"][0] == 0 and h["ntk_change"][0] == 0
            assert all(v > 0 for v in h["param_change"][1:] + h["ntk_change"][1:])
            assert len(h["eigenvalues_init"]["K"]) == 30 and len(h["eigenvalues_final"]["K_rr"]) == 20
            ev = np.array(h["eigenvalues_init"]["K"])
            assert np.all(np.diff(ev) <= 0) and ev[-1] > -1e-8 * ev[0]  # a Gram: PSD, sorted descending
    plain, adaptive = result["adaptive"]["plain"], result["adaptive"]["adaptive"]
    assert plain["lambda_b"] == [1.0] * 5
    assert adaptive["lambda_b"][0] == pytest.approx(adaptive["trace_weights_init"][0])
    assert len(adaptive["u_plot"]) == len(adaptive["x_plot"]) == 201


def test_study_is_independent_of_worker_count():
    kw = dict(widths=(6, 12), parameterizations=("ntk",), steps=60, record_every=30, n_boundary=4,
              n_collocation=8, adaptive_width=0, log=lambda *a: None)
    one = run_study(n_threads=1, **kw)
    two = run_study(n_threads=2, **kw)
    for w in ("6", "12"):
        a, b = one["width_study"]["ntk"][w], two["width_study"]["ntk"][w]
        assert a["param_change"] == b["param_change"] and a["ntk_change"] == b["ntk_change"]
        assert a["rel_l2_error"] == b["rel_l2_error"]


def test_study_rejects_bad_configuration():
    with pytest.raises(ValueError, match="widths"):
        run_study(widths=(), log=lambda *a: None)
    with pytest.raises(ValueError, match="parameterization"):
        run_study(widths=(4,), parameterizations=("mup",), log=lambda *a: None)
