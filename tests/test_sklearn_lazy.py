"""scikit-learn stays optional: ``import fastntk`` never imports it, and ``import fastntk.sklearn`` without it
fails with an error naming the pip extra."""
import os
import subprocess
import sys
import tempfile

import fastntk

# the folder holding the fastntk under test (the source tree after an in-place build, or site-packages)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastntk.__file__)))


def _run(code):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as cwd:  # not the repository root, whose fastntk/ may be unbuilt
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd)


def test_import_fastntk_does_not_import_sklearn():
    r = _run("import sys, fastntk, fastntk.predict, fastntk.uci; print('sklearn' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_missing_sklearn_names_the_extra():
    r = _run("import sys; sys.modules['sklearn'] = None\n"
             "try:\n    import fastntk.sklearn\nexcept ImportError as e:\n    print('ERR', e)\n")
    assert r.returncode == 0, r.stderr
    assert "ERR" in r.stdout and "fastntk[sklearn]" in r.stdout
