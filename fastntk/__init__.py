"""fastntk: Neural Tangent Kernels of infinitely wide networks, fast, on multicore CPUs."""
import os as _os
import warnings as _warnings

from . import _core
from . import activations, batching, datasets, distributed, empirical, graphs, pinn, predict, progress, solvers
from .cntk import Convolutional
from .empirical import MLP, entk, init_mlp, monte_carlo_ntk, pntk
from .fc import FullyConnected
from .gntk import GraphNTK
from .graphs import Graph

__version__ = "0.1.0"
openmp = _core.openmp

# FASTNTK_ISA caps the instruction set of the hot loops (src_cpp/fastntk/isa.hpp); other values are ignored there.
if _os.environ.get("FASTNTK_ISA", "avx512") not in ("baseline", "avx2", "avx512"):
    _warnings.warn(f"FASTNTK_ISA={_os.environ['FASTNTK_ISA']!r} is not one of 'baseline', 'avx2', 'avx512': "
                   f"ignored, the {_core.isa()} copy runs", RuntimeWarning, stacklevel=2)

__all__ = ["FullyConnected", "GraphNTK", "Convolutional", "Graph", "MLP", "entk", "pntk", "init_mlp",
           "monte_carlo_ntk", "activations", "batching", "datasets", "distributed", "empirical", "graphs", "pinn",
           "predict", "progress", "solvers", "openmp", "__version__"]
