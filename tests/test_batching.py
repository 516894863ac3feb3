"""Out-of-core Grams (fastntk.batching): bitwise agreement with the in-memory engine for every block
size and output type, memory budget, checkpoints and resume (in process and after killing a process),
progress bar, and input errors."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastntk
from fastntk import batching

REPO = os.path.dirname(os.path.dirname(os.path.abspath(fastntk.__file__)))


def _points(n, d=6, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


KERNEL = fastntk.FullyConnected(3, b_std=0.2)


# -- memory sizes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("2GB", 2 * 10**9), ("2 GB", 2 * 10**9), ("512MiB", 512 * 2**20), ("1.5e9", 1_500_000_000),
    ("64kb", 64_000), ("3G", 3 * 10**9), ("1TiB", 2**40), (10**8, 10**8), (2.5e6, 2_500_000)])
def test_parse_memory(text, expected):
    assert batching.parse_memory(text) == expected


@pytest.mark.parametrize("bad", ["", "GB", "2 parsecs", "-1GB", "0", 0, -5, float("inf"), "nanGB"])
def test_parse_memory_rejects(bad):
    with pytest.raises(ValueError):
        batching.parse_memory(bad)


@pytest.mark.parametrize("bad", [None, [1], True])
def test_parse_memory_rejects_types(bad):
    with pytest.raises(TypeError):
        batching.parse_memory(bad)


@pytest.mark.parametrize("budget", ["1MB", "20MB", "300MB", "2GB", "100GB"])
@pytest.mark.parametrize("itemsize,n_out", [(4, 1), (8, 1), (8, 2)])
def test_block_size_respects_budget(budget, itemsize, n_out):
    B = batching.block_size_for(budget, itemsize, n_out)
    assert 16 <= B <= batching.MAX_BLOCK
    # two staging buffers + the block and its mirror in the output, plus partial pages of touched memmap rows
    assert 4 * n_out * itemsize * B * B + 4 * n_out * os.sysconf("SC_PAGE_SIZE") * B <= batching.parse_memory(budget)


def test_block_size_grows_with_budget_and_is_capped_by_n():
    sizes = [batching.block_size_for(b, 8) for b in ("2MB", "20MB", "200MB")]
    assert sizes[0] < sizes[1] < sizes[2]
    assert batching.block_size_for("2GB", 8, n_max=300) == 300
    with pytest.raises(ValueError, match="too small"):
        batching.block_size_for("10kB", 8)


# -- results equal the in-memory engine, bit for bit ------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block", [19, 64, 1000])
def test_symmetric_gram_bitwise(dtype, block):
    X = _points(230, dtype=dtype)
    nngp, ntk = KERNEL.kernels(X)
    got_nngp, got_ntk = batching.gram(KERNEL, X, get="both", block_size=block)
    assert got_ntk.dtype == dtype
    np.testing.assert_array_equal(got_nngp, nngp)
    np.testing.assert_array_equal(got_ntk, ntk)
    np.testing.assert_array_equal(got_ntk, got_ntk.T)
    np.testing.assert_array_equal(batching.gram(KERNEL, X, get="nngp", block_size=block), nngp)


@pytest.mark.parametrize("block", [16, 50, 500])
def test_cross_gram_bitwise(block):
    X1, X2 = _points(130, seed=1), _points(77, seed=2)
    np.testing.assert_array_equal(batching.gram(KERNEL, X1, X2, block_size=block), KERNEL.ntk(X1, X2))
    np.testing.assert_array_equal(batching.gram(KERNEL, X2, X1, get="nngp", block_size=block), KERNEL.nngp(X2, X1))


def test_custom_activation_blocks_equal_the_in_memory_gram():
    # A Custom activation's quadrature table spans the inputs' variances, so both sides of a cross Gram
    # are prepared with one recursion (prepare_pair), as ntk(X1, X2) does; each block carries it.
    k = fastntk.FullyConnected(2, fastntk.activations.Custom(np.tanh, lambda x: 1 - np.tanh(x) ** 2, grid=2048))
    X1, X2 = _points(60, seed=3), 3.0 * _points(45, seed=4)
    np.testing.assert_array_equal(batching.gram(k, X1, X2, block_size=16), k.ntk(X1, X2))
    np.testing.assert_array_equal(batching.gram(k, X2, block_size=16), k.ntk(X2))


def test_equal_copy_of_x1_gives_the_symmetric_gram():
    X = _points(90)
    got = batching.gram(KERNEL, X, X.copy(), block_size=40)
    np.testing.assert_array_equal(got, KERNEL.ntk(X))
    np.testing.assert_array_equal(got, got.T)


def test_budget_chooses_blocks_and_fill_options_pass_through():
    X = _points(300)
    calls = []

    class Counting:
        def prepare(self, X):
            return KERNEL.prepare(X)

        def fill(self, P1, P2, out_nngp=None, out_ntk=None, **kw):
            calls.append((len(P1), len(P2), kw))
            KERNEL.fill(P1, P2, out_nngp, out_ntk, **kw)

    got = batching.gram(Counting(), X, max_memory="2MB", tile_size=7, n_threads=1)
    np.testing.assert_array_equal(got, KERNEL.ntk(X))
    B = batching.block_size_for("2MB", 8, 1, 300)
    nb = -(-300 // B)
    assert len(calls) == nb * (nb + 1) // 2  # upper triangle only
    assert all(max(a, b) <= B for a, b, _ in calls)
    assert all(kw["tile_size"] == 7 and kw["n_threads"] == 1 for *_, kw in calls)
    assert sum(kw["symmetric"] for *_, kw in calls) == nb


def test_memmap_output(tmp_path):
    X = _points(300, dtype=np.float32)
    path = tmp_path / "K.npy"
    mm = batching.open_memmap(path, (300, 300), np.float32)
    batching.gram(KERNEL, X, out=mm, block_size=64)
    del mm
    np.testing.assert_array_equal(np.load(path), KERNEL.ntk(X))
    # reopening keeps the content; another shape is refused
    np.testing.assert_array_equal(batching.open_memmap(path, (300, 300), np.float32), KERNEL.ntk(X))
    with pytest.raises(ValueError, match="shape"):
        batching.open_memmap(path, (300, 301), np.float32)


def test_zarr_output(tmp_path):
    zarr = pytest.importorskip("zarr")
    X = _points(210)
    z = zarr.open_array(str(tmp_path / "K.zarr"), mode="w", shape=(210, 210), chunks=(64, 64), dtype="f8")
    batching.gram(KERNEL, X, out=z, block_size=100)
    np.testing.assert_array_equal(z[:], KERNEL.ntk(X))


def test_hdf5_output(tmp_path):
    h5py = pytest.importorskip("h5py")
    X = _points(150)
    with h5py.File(tmp_path / "K.h5", "w") as f:
        nngp = f.create_dataset("nngp", shape=(150, 150), dtype="f8")
        ntk = f.create_dataset("ntk", shape=(150, 150), dtype="f8")
        batching.gram(KERNEL, X, get="both", out=(nngp, ntk), block_size=40)
    with h5py.File(tmp_path / "K.h5", "r") as f:
        ref = KERNEL.kernels(X)
        np.testing.assert_array_equal(f["nngp"][:], ref[0])
        np.testing.assert_array_equal(f["ntk"][:], ref[1])


# -- errors -------------------------------------------------------------------------------------------
def test_bad_outputs_and_arguments():
    X = _points(20)
    with pytest.raises(ValueError, match="shape"):
        batching.gram(KERNEL, X, out=np.empty((20, 21)))
    with pytest.raises(ValueError, match="dtype"):
        batching.gram(KERNEL, X, out=np.empty((20, 20), np.float32))
    ro = np.empty((20, 20))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        batching.gram(KERNEL, X, out=ro)
    with pytest.raises(TypeError, match="array-like"):
        batching.gram(KERNEL, X, out=[[0.0] * 20] * 20)
    with pytest.raises(ValueError, match="needs out="):
        batching.gram(KERNEL, X, get="both", out=(np.empty((20, 20)),))
    with pytest.raises(ValueError, match="get"):
        batching.gram(KERNEL, X, get="ntkk")
    with pytest.raises(TypeError, match="block protocol"):
        batching.gram(object(), X)
    with pytest.raises(ValueError, match="block_size"):
        batching.gram(KERNEL, X, block_size=0)
    with pytest.raises(ValueError, match="NaN"):
        batching.gram(KERNEL, np.full((3, 2), np.nan))
    with pytest.raises(TypeError, match="progress"):
        batching.gram(KERNEL, X, progress="yes")


def test_too_large_request_names_out_and_max_memory():
    # 10⁶ points: the (N, N) float64 result would need 8 TB.
    X = np.ones((1_000_000, 1))
    with pytest.raises(MemoryError, match=r"out=.*max_memory"):
        KERNEL.ntk(X)
    with pytest.raises(MemoryError, match=r"out=.*max_memory"):
        batching.gram(KERNEL, X)


# -- checkpoints ------------------------------------------------------------------------------------------
class FailingKernel:
    """FullyConnected that, after `fail_after` blocks, writes garbage into half of the next block and raises
    (a crash in the middle of a block); also counts the blocks it computes."""

    def __init__(self, fail_after=None):
        self.fail_after, self.blocks = fail_after, []

    def __repr__(self):
        return repr(KERNEL)  # the same computation as KERNEL, for the checkpoint

    def prepare(self, X):
        return KERNEL.prepare(X)

    def fill(self, P1, P2, out_nngp=None, out_ntk=None, **kw):
        if self.fail_after is not None and len(self.blocks) == self.fail_after:
            out_ntk[: len(P1) // 2] = -1.0
            raise RuntimeError("simulated crash")
        self.blocks.append((len(P1), len(P2)))
        KERNEL.fill(P1, P2, out_nngp, out_ntk, **kw)


@pytest.mark.parametrize("get", ["ntk", "both"])
def test_resume_after_crash_mid_block(tmp_path, get):
    X = _points(250)
    ckpt = tmp_path / "K.ckpt"
    shape = (250, 250)
    outs = [batching.open_memmap(tmp_path / f"{name}.npy", shape, np.float64) for name in ("nngp", "ntk")]
    out = tuple(outs) if get == "both" else outs[1]
    with pytest.raises(RuntimeError, match="simulated"):
        batching.gram(FailingKernel(fail_after=7), X, get=get, out=out, block_size=50, checkpoint=ckpt)
    state = json.loads(ckpt.read_text())
    assert len(state["done"]) == 7 and state["block"] == 50
    resumed = FailingKernel()
    batching.gram(resumed, X, get=get, out=out, block_size=50, checkpoint=ckpt)
    assert len(resumed.blocks) == 15 - 7  # 5 row blocks → 15 upper blocks; finished ones not recomputed
    ref = KERNEL.kernels(X)
    np.testing.assert_array_equal(outs[1], ref[1])
    if get == "both":
        np.testing.assert_array_equal(outs[0], ref[0])
    # a finished checkpoint computes nothing more
    again = FailingKernel()
    batching.gram(again, X, get=get, out=out, block_size=50, checkpoint=ckpt)
    assert again.blocks == []


class FlakyStorage:
    """An array-like whose writes fail after `ok` assignments (a full disk, a lost network store)."""

    def __init__(self, shape, ok):
        self.data, self.ok = np.zeros(shape), ok
        self.shape, self.dtype = self.data.shape, self.data.dtype

    def __setitem__(self, key, value):
        if self.ok == 0:
            raise OSError("No space left on device")
        self.ok -= 1
        self.data[key] = value


def test_write_errors_propagate_and_are_not_recorded(tmp_path):
    X = _points(120)
    ckpt = tmp_path / "K.ckpt"
    # writes: (0,0) 1, (0,1) (0,2) (0,3) 2 each (block + mirror), (1,1) 1, then (1,2) fails at its mirror
    store = FlakyStorage((120, 120), ok=9)
    with pytest.raises(OSError, match="No space"):
        batching.gram(KERNEL, X, out=store, block_size=30, checkpoint=ckpt)
    assert sorted(map(tuple, json.loads(ckpt.read_text())["done"])) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 1)]
    store.ok = 10**6
    batching.gram(KERNEL, X, out=store, block_size=30, checkpoint=ckpt)
    np.testing.assert_array_equal(store.data, KERNEL.ntk(X))


def test_checkpoint_of_another_computation_is_refused(tmp_path):
    X = _points(60)
    ckpt = tmp_path / "K.ckpt"
    out = np.empty((60, 60))
    batching.gram(KERNEL, X, out=out, block_size=32, checkpoint=ckpt)
    with pytest.raises(ValueError, match="different computation"):
        batching.gram(KERNEL, X + 1.0, out=out, block_size=32, checkpoint=ckpt)
    with pytest.raises(ValueError, match="different computation"):
        batching.gram(fastntk.FullyConnected(2), X, out=out, block_size=32, checkpoint=ckpt)
    with pytest.raises(ValueError, match="different computation"):
        batching.gram(KERNEL, X, get="nngp", out=out, block_size=32, checkpoint=ckpt)
    with pytest.raises(ValueError, match="needs out="):
        batching.gram(KERNEL, X, checkpoint=tmp_path / "new.ckpt")
    mm = batching.open_memmap(tmp_path / "other.npy", (60, 60), np.float64)
    with pytest.raises(ValueError, match="different computation"):  # same computation, other storage
        batching.gram(KERNEL, X, out=mm, block_size=32, checkpoint=ckpt)
    bad = tmp_path / "bad.ckpt"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="not a fastntk checkpoint"):
        batching.gram(KERNEL, X, out=out, checkpoint=bad)


_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import fastntk
    from fastntk import batching

    class Slow:
        # FullyConnected, slowed down so that the parent can stop the run in the middle
        def __init__(self):
            self.k = fastntk.FullyConnected(3, b_std=0.2)
        def __repr__(self):
            return repr(self.k)
        def prepare(self, X):
            return self.k.prepare(X)
        def fill(self, P1, P2, out_nngp=None, out_ntk=None, **kw):
            self.k.fill(P1, P2, out_nngp, out_ntk, **kw)
            time.sleep(0.05)

    out_path, ckpt = sys.argv[1], sys.argv[2]
    X = np.random.default_rng(0).standard_normal((400, 6)).astype(np.float32)
    out = batching.open_memmap(out_path, (400, 400), np.float32)
    print("start", flush=True)
    try:
        batching.gram(Slow(), X, out=out, block_size=25, checkpoint=ckpt, progress=False)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
    print("finished", flush=True)
""")


def _spawn(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "K.npy"), str(tmp_path / "K.ckpt")],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "start"
    return proc


def _wait_for_blocks(ckpt, count, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ckpt.exists():
            done = len(json.loads(ckpt.read_text())["done"])
            if done >= count:
                return done
        assert proc.poll() is None, "child ended early"
        time.sleep(0.02)
    raise AssertionError("child made no progress")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_kill_subprocess_and_resume(tmp_path, sig):
    X = np.random.default_rng(0).standard_normal((400, 6)).astype(np.float32)
    ckpt = tmp_path / "K.ckpt"
    proc = _spawn(tmp_path)
    _wait_for_blocks(ckpt, 20, proc)
    proc.send_signal(sig)
    rest = proc.stdout.read()
    proc.wait(timeout=30)
    if sig == signal.SIGINT:
        assert "interrupted" in rest and proc.returncode == 3
    else:
        assert proc.returncode == -signal.SIGKILL
    done = len(json.loads(ckpt.read_text())["done"])
    total = 16 * 17 // 2
    assert 20 <= done < total  # stopped in the middle
    counted = FailingKernel()
    out = batching.open_memmap(tmp_path / "K.npy", (400, 400), np.float32)
    batching.gram(counted, X, out=out, block_size=25, checkpoint=ckpt)
    assert len(counted.blocks) == total - done
    np.testing.assert_array_equal(out, KERNEL.ntk(X))


# -- memory ------------------------------------------------------------------------------------------
def test_peak_rss_stays_within_budget(tmp_path):
    """A 4000² float64 Gram (128 MB) written to a memmap under a 16 MB budget: the child's peak resident
    set grows by about the budget, not by the Gram's size."""
    script = tmp_path / "rss.py"
    script.write_text(textwrap.dedent("""
        import sys
        import numpy as np
        import fastntk
        from fastntk import batching

        def vm(key):  # this process's own counters (ru_maxrss would include the parent's peak)
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

        X = np.random.default_rng(0).standard_normal((4000, 8))
        k = fastntk.FullyConnected(1)
        k.ntk(X[:200])  # warm up (thread pools, code pages)
        out = batching.open_memmap(sys.argv[1], (4000, 4000), np.float64)
        before = vm("VmRSS:")
        batching.gram(k, X, out=out, max_memory="16MB")
        print(vm("VmHWM:") - before, vm("VmRSS:") - before)
    """))
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, str(script), str(tmp_path / "K.npy")], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    growth, _ = map(int, res.stdout.split()[-2:])
    assert growth < 16e6 + 12e6, f"peak RSS grew by {growth / 1e6:.1f} MB"  # budget + slack (allocator, stats)
    X = np.random.default_rng(0).standard_normal((4000, 8))
    np.testing.assert_array_equal(np.load(tmp_path / "K.npy", mmap_mode="r")[::97], fastntk.FullyConnected(1).ntk(X)[::97])


# -- progress ------------------------------------------------------------------------------------------
def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    X = _points(100)
    batching.gram(KERNEL, X, block_size=25, progress=True)
    err = capsys.readouterr().err
    assert "10/10" in err and "block" in err  # 4 row blocks → 10 upper blocks
    batching.gram(KERNEL, X, block_size=25, progress=False)
    batching.gram(KERNEL, X, block_size=25)  # auto: stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""


def test_progress_helpers():
    from fastntk import progress
    b = progress.bar(3, progress=False)
    b.update(2)
    assert b.n == 2
    assert list(progress.track(range(4), progress=False)) == [0, 1, 2, 3]
    with pytest.raises(TypeError):
        progress.bar(3, progress="auto")
