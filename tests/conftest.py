import os

import pytest

from fastntk.data_path import data_dir


@pytest.fixture(scope="session")
def shared_data():
    """The shared benchmark data folder. Missing data skips the test, except under CI, where it fails."""
    d = data_dir()
    if d is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shared data folder missing under CI (set FASTNTK_DATA or place ../shared/data)")
        pytest.skip("shared benchmark data not found (set FASTNTK_DATA or place ../shared/data)")
    return d
