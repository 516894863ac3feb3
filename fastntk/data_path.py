"""Where the benchmark data lives: $FASTNTK_DATA, else ../shared/data beside the repository."""
import os
from pathlib import Path


def data_dir():
    """The shared data folder (TU graphs, UCI, MNIST), or None if it is absent."""
    env = os.environ.get("FASTNTK_DATA")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parent.parent
    candidates += [repo.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def require_data_dir():
    d = data_dir()
    if d is None:
        raise FileNotFoundError("benchmark data not found: set FASTNTK_DATA to the shared data folder "
                                "(default ../shared/data beside the repository)")
    return d
