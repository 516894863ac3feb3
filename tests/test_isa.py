"""The hot loops are compiled for AVX-512, AVX2 + FMA and the x86-64 baseline and picked at run time
(src_cpp/fastntk/isa.hpp). Every copy must give the same bits: each kernel family is computed in a
subprocess per copy (FASTNTK_ISA caps the choice) and the results are compared exactly."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import fastntk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastntk.__file__)))

# Small problems with ragged sizes (so that every GEMM remainder path runs) for each kernel family.
SCRIPT = r"""
import sys
import numpy as np
import fastntk
rng = np.random.default_rng(0)
X = rng.standard_normal((37, 11))
Y = rng.standard_normal((23, 11))
out = {"isa": np.array(fastntk._core.isa())}
for act in ["relu", "erf", "gelu", "tanh"]:
    k = fastntk.FullyConnected(3, act, W_std=1.3, b_std=0.2)
    out["fc_" + act], out["fc_ntk_" + act] = k.kernels(X)
    out["fc_cross_" + act] = k.ntk(X, Y)
out["fc_f32"] = fastntk.FullyConnected(2).ntk(X.astype(np.float32))
imgs = rng.standard_normal((5, 6, 6, 2))
out["cntk"] = fastntk.Convolutional(2, readout="gap").ntk(imgs)
graphs, _, _ = fastntk.datasets.load_tu("MUTAG")
out["gntk"] = fastntk.GraphNTK(num_blocks=2, num_mlp_layers=2).ntk(graphs[:9])
mlp = fastntk.init_mlp([11, 33, 17, 3], "relu", seed=1)
out["entk"] = fastntk.entk(mlp, X)
net = fastntk.pinn.PINN((19, 13), "tanh", seed=2)
x = np.linspace(-1, 1, 29)
out["pinn"] = net.ntk(x, fastntk.pinn.operator(c2=1.0))
np.savez(sys.argv[1], **out)
"""


def _run(isa, path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("FASTNTK_ISA", None)
    if isa is not None:
        env["FASTNTK_ISA"] = isa
    with tempfile.TemporaryDirectory() as cwd:
        r = subprocess.run([sys.executable, "-c", SCRIPT, path], capture_output=True, text=True, env=env, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return dict(np.load(path))


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def test_the_best_copy_for_this_cpu_is_chosen():
    isa = fastntk._core.isa()
    assert isa in ("avx512", "avx2", "baseline", "native")
    flags = _cpu_flags()
    if isa == "native" or flags is None or "FASTNTK_ISA" in os.environ:
        return  # one copy only, or no /proc/cpuinfo (not Linux), or a cap set by the caller
    expected = "baseline"
    if {"avx2", "fma"} <= flags:
        expected = "avx512" if "avx512f" in flags else "avx2"
    assert isa == expected, f"CPU flags allow {expected} but the {isa} copy runs"


def test_unknown_isa_cap_warns_and_is_ignored():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), FASTNTK_ISA="avx3")
    code = "import fastntk; print(fastntk._core.isa())"
    with tempfile.TemporaryDirectory() as cwd:
        r = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, env=env,
                           cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert "FASTNTK_ISA='avx3'" in r.stderr and "ignored" in r.stderr
    if "FASTNTK_ISA" not in os.environ:
        assert r.stdout.strip() == fastntk._core.isa()


def test_every_instruction_set_gives_the_same_bits(tmp_path):
    best = _run(None, str(tmp_path / "best.npz"))
    if best["isa"] == "native":
        pytest.skip("built with FASTNTK_NATIVE=1: a single instruction set is compiled in")
    copies = {"baseline": _run("baseline", str(tmp_path / "baseline.npz"))}
    assert copies["baseline"]["isa"] == "baseline"
    if best["isa"] == "avx512":
        copies["avx2"] = _run("avx2", str(tmp_path / "avx2.npz"))
        assert copies["avx2"]["isa"] == "avx2"
    for name, got in copies.items():
        for key, ref in best.items():
            if key == "isa":
                continue
            assert got[key].dtype == ref.dtype and got[key].shape == ref.shape, (name, key)
            np.testing.assert_array_equal(got[key], ref, err_msg=f"{key}: {name} vs {best['isa']}")
