import os

import matplotlib

# Two steps per vector pass: kernels compile in about half the time, with the same results
# (tests/test_core.py checks that against the default of eight).
os.environ.setdefault("SWEEP_SUBSTEPS", "2")

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")
