"""fastntk: Neural Tangent Kernels of infinitely wide networks, fast, on multicore CPUs."""
from . import _core
from . import activations, batching, datasets, distributed, empirical, graphs, pinn, predict, progress, solvers
from .cntk import Convolutional
from .empirical import MLP, entk, init_mlp, monte_carlo_ntk, pntk
from .fc import FullyConnected
from .gntk import GraphNTK
from .graphs import Graph

__version__ = "0.1.0"
openmp = _core.openmp

__all__ = ["FullyConnected", "GraphNTK", "Convolutional", "Graph", "MLP", "entk", "pntk", "init_mlp",
           "monte_carlo_ntk", "activations", "batching", "datasets", "distributed", "empirical", "graphs", "pinn",
           "predict", "progress", "solvers", "openmp", "__version__"]
