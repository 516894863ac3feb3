"""What the kernels predict (MATH §4): kernel regression, the NNGP Gaussian-process posterior, the
gradient-descent MSE dynamics of the infinitely wide net, and spectral diagnostics. Every function
takes precomputed Gram matrices (numpy arrays) from any fastntk kernel."""
from ._linalg import CholeskyFactor, JitterWarning
from .dynamics import GradientDescentMSE
from .gp import GaussianProcess, gp_posterior
from .regression import KernelClassifier, KernelRegression, kernel_regression, one_hot
from .spectral import Spectrum, complexity, eigenvalues, label_projections, loss_curve

__all__ = ["CholeskyFactor", "JitterWarning", "GradientDescentMSE", "GaussianProcess", "gp_posterior",
           "KernelClassifier", "KernelRegression", "kernel_regression", "one_hot", "Spectrum", "complexity",
           "eigenvalues", "label_projections", "loss_curve"]
