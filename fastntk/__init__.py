"""fastntk: Neural Tangent Kernels of infinitely wide networks, fast, on multicore CPUs."""
from . import _core
from . import activations
from .fc import FullyConnected
from . import predict

__version__ = "0.1.0"
openmp = _core.openmp

__all__ = ["FullyConnected", "activations", "openmp", "__version__", "predict"]
