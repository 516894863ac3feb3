"""fastntk: Neural Tangent Kernels of infinitely wide networks, fast, on multicore CPUs."""
from . import _core
from . import activations
from .fc import FullyConnected
from .cntk import Convolutional
from . import empirical
from .empirical import MLP, entk, init_mlp, monte_carlo_ntk, pntk

__version__ = "0.1.0"
openmp = _core.openmp

__all__ = ["FullyConnected", "Convolutional", "activations", "empirical", "MLP", "entk", "pntk", "init_mlp",
           "monte_carlo_ntk", "openmp", "__version__"]
