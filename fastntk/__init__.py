"""fastntk: Neural Tangent Kernels of infinitely wide networks, fast, on multicore CPUs."""
from . import _core
from . import activations
from .fc import FullyConnected
from .gntk import GraphNTK
from .graphs import Graph
from . import datasets, graphs

__version__ = "0.1.0"
openmp = _core.openmp

__all__ = ["FullyConnected", "GraphNTK", "Graph", "graphs", "datasets", "activations", "openmp", "__version__"]
