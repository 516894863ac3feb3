"""Data set loaders (TU graph benchmarks)."""
from .tu import SOCIAL_DATASETS, TUDataset, TUFormatError, load_tu

__all__ = ["load_tu", "TUDataset", "TUFormatError", "SOCIAL_DATASETS"]
