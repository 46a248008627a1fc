import os

import matplotlib

# Two steps per vector pass: kernels compile in about half the time, with the same results
# (tests/test_core.py checks that against the default of eight).
os.environ.setdefault("SWEEP_SUBSTEPS", "2")

# The vector width the sweep command compiles for (sweep.kernels.target), chosen before Numba
# starts: the suite's own kernels and those of the commands it runs in subprocesses are then
# the same, compiled once.
from sweep.kernels.target import prefer_wide_vectors  # noqa: E402

prefer_wide_vectors()

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "two_threads: compares thread counts, so needs Numba to allow two threads")


def pytest_collection_modifyitems(config, items):
    import numba

    # NUMBA_NUM_THREADS defaults to the machine's cores: on one core these cannot run.
    if numba.config.NUMBA_NUM_THREADS < 2:
        skip = pytest.mark.skip(reason="needs NUMBA_NUM_THREADS >= 2")
        for item in items:
            if "two_threads" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")
