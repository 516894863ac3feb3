"""Build script: the C++17 core (pybind11 + OpenMP) and any Cython modules.

Environment switches:
  FASTNTK_NATIVE=1   compile with -march=native (fastest on the build machine, not portable).
  FASTNTK_NO_OPENMP=1  force the serial build (also chosen automatically when OpenMP is missing).
Without FASTNTK_NATIVE the core is built for the portable x86-64 baseline and every hot tile
function is compiled three times (AVX-512, AVX2+FMA, baseline), one chosen at run time
(src_cpp/fastntk/isa.hpp). -fno-trapping-math lets GCC turn the guarded selects of the dual
activations into vector blends without AVX-512 masking; it changes no result.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup


def _compiler_accepts(flags):
    """True if the C++ compiler builds and links a tiny OpenMP program with ``flags``."""
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        return False
    src = "#include <omp.h>\nint main(){int n=0;\n#pragma omp parallel reduction(+:n)\nn+=1;\nreturn n>0?0:1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.cpp")
        with open(path, "w") as f:
            f.write(src)
        cmd = [cxx, path, "-o", os.path.join(tmp, "t")] + flags
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def _flags():
    compile_args = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"]
    link_args = []
    if sys.platform == "darwin":
        openmp = ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    else:
        openmp = ["-fopenmp"], ["-fopenmp"]
    if os.environ.get("FASTNTK_NO_OPENMP") != "1" and _compiler_accepts(openmp[0] + openmp[1]):
        compile_args += openmp[0]
        link_args += openmp[1]
    else:
        print("fastntk: OpenMP not available, building the serial core", file=sys.stderr)
        compile_args += ["-fopenmp-simd"] if _compiler_accepts(["-fopenmp-simd"]) else []
    if os.environ.get("FASTNTK_NATIVE") == "1":
        compile_args += ["-march=native", "-DFASTNTK_NATIVE=1"]
    return compile_args, link_args


def _extensions():
    compile_args, link_args = _flags()
    exts = [
        Pybind11Extension(
            "fastntk._core",
            sources=["src_cpp/bindings.cpp"],
            include_dirs=["src_cpp"],
            depends=sorted(glob.glob("src_cpp/fastntk/*.hpp")),
            cxx_std=17,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    ]
    pyx = sorted(glob.glob("fastntk/**/*.pyx", recursive=True))
    if pyx:
        import numpy
        from Cython.Build import cythonize
        from setuptools import Extension

        cy = [
            Extension(p[:-4].replace("/", "."), [p], include_dirs=[numpy.get_include()],
                      extra_compile_args=["-O3"], define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
            for p in pyx
        ]
        exts += cythonize(cy, language_level=3, quiet=True)
    return exts


setup(ext_modules=_extensions(), cmdclass={"build_ext": build_ext})
