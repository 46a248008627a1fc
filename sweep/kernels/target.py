"""The vector width the ``sweep`` command asks Numba to compile for.

LLVM tunes Intel's AVX-512 cores (Skylake-X to Sapphire Rapids, Rocket Lake) to prefer 256-bit
vectors, so a Numba kernel there runs on half its registers. Numba takes its target from the
environment once, when it starts (``NUMBA_CPU_FEATURES``), so the command sets it before
anything imports Numba; a Python session that imports sweep keeps its own settings. The width
changes no result: without ``fastmath`` each lane does the same IEEE operations in either
width (tests compare the bits).
"""

from __future__ import annotations

import functools
import os

#: LLVM's tuning flag that keeps AVX-512 code to 256-bit vectors.
PREFER_256 = "prefer-256-bit"

#: Numba's settings file, read from the working folder when Numba starts.
NUMBA_CONFIG_FILE = ".numba_config.yaml"


def wide_vector_features(environ=os.environ) -> str | None:
    """The host's LLVM feature string with 512-bit vectors preferred, for
    ``NUMBA_CPU_FEATURES``, or None where it does not apply: no AVX-512, an AMD core (its
    512-bit units are measured with LLVM's own choice only), or a Numba target the user
    chose: ``NUMBA_CPU_NAME`` or ``NUMBA_CPU_FEATURES`` set (even to an empty value), or a
    ``.numba_config.yaml`` in the working folder, which Numba reads.

    Measured on case (a) of the benchmark (Intel Rocket Lake, 2 cores, benchmarks/README.md):
    the gd kernel 1.34x faster, the MSE model's 1.05x.
    """
    if "NUMBA_CPU_NAME" in environ or "NUMBA_CPU_FEATURES" in environ or os.path.exists(NUMBA_CONFIG_FILE):
        return None
    try:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features()
        name = llvm.get_host_cpu_name()
    except (RuntimeError, OSError, AttributeError):
        return None
    if not features.get("avx512f", False) or name.startswith("znver"):
        return None
    return f"{features.flatten()},-{PREFER_256}"


@functools.cache
def has_avx512() -> bool:
    """Whether this host's cores have AVX-512 (False where LLVM cannot tell): the kernels
    then choose the forms of code that its mask registers run fastest."""
    try:
        import llvmlite.binding as llvm

        return bool(llvm.get_host_cpu_features().get("avx512f", False))
    except (RuntimeError, OSError, AttributeError):
        return False


def prefer_wide_vectors(environ=os.environ) -> None:
    """Set ``NUMBA_CPU_FEATURES`` in ``environ`` to ``wide_vector_features()`` where that
    applies; call it before Numba is imported (the ``sweep`` command and the test suite do)."""
    features = wide_vector_features(environ)
    if features:
        environ["NUMBA_CPU_FEATURES"] = features


def vector_width() -> str:
    """How this process's kernels are vectorized, for the benchmark's record: "512-bit vectors
    preferred" where the ``sweep`` command chose them, else "LLVM's default vector width"."""
    features = os.environ.get("NUMBA_CPU_FEATURES", "")
    return "512-bit vectors preferred" if f"-{PREFER_256}" in features.split(",") else "LLVM's default vector width"
