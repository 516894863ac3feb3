"""Ctrl-C during a long in-memory Gram: the C++ tile loop polls for signals between tiles, so SIGINT
returns control to Python with KeyboardInterrupt within a second, for one thread and for several."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import fastntk

REPO = os.path.dirname(os.path.dirname(os.path.abspath(fastntk.__file__)))

# A Gram that takes many seconds (6000 points, 300 layers: ~5·10⁹ dual-layer evaluations), so that an
# answer within a second can only come from the interrupt, not from the computation finishing.
_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import fastntk
    X = np.random.default_rng(0).standard_normal((6000, 32)).astype(np.float32)
    k = fastntk.FullyConnected(300)
    k.ntk(X[:64], n_threads=1)  # load the extension and start the thread pool before timing
    print("start", flush=True)
    t0 = time.perf_counter()
    try:
        k.{method}(X, n_threads=int(sys.argv[1]))
    except KeyboardInterrupt:
        print("KeyboardInterrupt", time.perf_counter() - t0, flush=True)
        sys.exit(0)
    print("finished", time.perf_counter() - t0, flush=True)
""")


@pytest.mark.parametrize("method,n_threads", [("ntk", 1), ("ntk", 2), ("kernels", 2)])
def test_sigint_interrupts_a_long_gram_within_a_second(tmp_path, method, n_threads):
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(method=method))
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(script), str(n_threads)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "start"
        time.sleep(0.5)  # inside the tile loop by now
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline().split()
        latency = time.monotonic() - sent
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert line and line[0] == "KeyboardInterrupt", f"child printed {line}"
    assert proc.returncode == 0
    assert latency < 1.0, f"KeyboardInterrupt took {latency:.2f} s after SIGINT"
