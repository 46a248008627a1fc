"""The vector width the sweep command compiles for: where it applies, and that it changes no
result."""

import json
import os
import subprocess
import sys

import llvmlite.binding
import numpy as np
import pytest

from sweep.kernels.target import PREFER_256, prefer_wide_vectors, vector_width, wide_vector_features


class _Features(dict):
    def flatten(self):
        return ",".join(f"{'+' if on else '-'}{name}" for name, on in self.items())


@pytest.mark.parametrize(
    ("name", "features", "environ", "wide"),
    [
        ("rocketlake", {"avx2": True, "avx512f": True}, {}, True),
        ("icelake-server", {"avx2": True, "avx512f": True}, {}, True),
        ("znver4", {"avx2": True, "avx512f": True}, {}, False),  # AMD: LLVM's own choice
        ("skylake", {"avx2": True, "avx512f": False}, {}, False),
        ("rocketlake", {"avx2": True, "avx512f": True}, {"NUMBA_CPU_NAME": "generic"}, False),
        ("rocketlake", {"avx2": True, "avx512f": True}, {"NUMBA_CPU_FEATURES": "+avx2"}, False),
        ("rocketlake", {"avx2": True, "avx512f": True}, {"NUMBA_CPU_FEATURES": ""}, False),  # empty: no extra features, the user's choice
    ],
)
def test_512_bit_vectors_are_chosen_on_intels_avx512_cores_only(monkeypatch, tmp_path, name, features, environ, wide):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(llvmlite.binding, "get_host_cpu_name", lambda: name)
    monkeypatch.setattr(llvmlite.binding, "get_host_cpu_features", lambda: _Features(features))
    chosen = wide_vector_features(environ)
    if wide:
        assert chosen == _Features(features).flatten() + f",-{PREFER_256}"
    else:
        assert chosen is None


def test_the_choice_is_written_where_it_applies_and_nothing_else_is(monkeypatch, tmp_path):
    monkeypatch.setattr(llvmlite.binding, "get_host_cpu_name", lambda: "rocketlake")
    monkeypatch.setattr(llvmlite.binding, "get_host_cpu_features", lambda: _Features({"avx512f": True}))
    monkeypatch.chdir(tmp_path)
    environ = {}
    prefer_wide_vectors(environ)
    assert environ == {"NUMBA_CPU_FEATURES": f"+avx512f,-{PREFER_256}"}
    chosen = {"NUMBA_CPU_NAME": "generic"}
    prefer_wide_vectors(chosen)
    assert chosen == {"NUMBA_CPU_NAME": "generic"}


def test_a_numba_settings_file_in_the_working_folder_is_left_to_numba(monkeypatch, tmp_path):
    monkeypatch.setattr(llvmlite.binding, "get_host_cpu_name", lambda: "rocketlake")
    monkeypatch.setattr(llvmlite.binding, "get_host_cpu_features", lambda: _Features({"avx512f": True}))
    monkeypatch.chdir(tmp_path)
    assert wide_vector_features({}) is not None
    (tmp_path / ".numba_config.yaml").write_text("cpu_name: generic\n")
    assert wide_vector_features({}) is None


_SWEEPS = """
import json, sys
import numpy as np
from sweep import run_sweep
lr, w0 = np.geomspace(1e-3, 3, 30), np.linspace(-2, 3, 11)
runs = {
    "teaching": run_sweep(lr, w0, max_iter=300, tol=1e-12),
    "cosine": run_sweep(lr, w0, loss="cosine", schedule="cosine", max_iter=300, tol=1e-12),
    "adam": run_sweep(lr, w0, optimizer="adam", max_iter=300, tol=1e-12),
    "rosenbrock": run_sweep(lr[:8], {"x": w0[:4], "y": w0[4:8]}, loss="rosenbrock", max_iter=300, tol=1e-12),
    "mse": run_sweep(lr[:10], w0[:4], loss="mse-linear", max_iter=200, tol=1e-8),
    "logloss": run_sweep(lr[:10], w0[:4], loss="logloss-logistic", max_iter=50, tol=1e-8),
}
print(json.dumps({name: frame.astype(str).to_dict("list") for name, frame in runs.items()}))
"""


@pytest.mark.skipif(vector_width() != "512-bit vectors preferred", reason="the host is not an Intel AVX-512 core: one vector width only")
def test_512_bit_vectors_change_not_a_bit():
    """The same sweeps compiled with 512-bit vectors (the command's choice here) and with
    LLVM's 256-bit one, each in a process of its own, must end every run the same."""
    wide = subprocess.run([sys.executable, "-c", _SWEEPS], capture_output=True, text=True, check=True)
    narrow_features = os.environ["NUMBA_CPU_FEATURES"].replace(f",-{PREFER_256}", "")
    narrow = subprocess.run([sys.executable, "-c", _SWEEPS], capture_output=True, text=True, check=True, env={**os.environ, "NUMBA_CPU_FEATURES": narrow_features})
    wide_runs, narrow_runs = json.loads(wide.stdout), json.loads(narrow.stdout)
    assert set(wide_runs) == {"teaching", "cosine", "adam", "rosenbrock", "mse", "logloss"}
    for name, columns in wide_runs.items():
        assert columns == narrow_runs[name], name
        assert len(set(columns["outcome"])) >= 2 or name in ("mse", "logloss"), name
    assert np.isfinite(np.array(wide_runs["teaching"]["w"], float)).any()
