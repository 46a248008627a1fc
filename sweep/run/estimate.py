"""How long a sweep takes at most on this machine: measured on a sample, never assumed.

A rate from a benchmark on another machine can be several times off (AVX2 against AVX-512,
a busy machine against a quiet one), so the bound printed before a sweep comes from timing
the compiled kernel here, on runs spread over the grid, and scaling it to every run taking
all max_iter steps, with a margin.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from sweep.run.plan import Plan

#: Margin on a measured time: timings on a shared machine vary by about a fifth.
TIME_MARGIN = 1.5
#: Seconds added for a call's own cost (threads started, outputs allocated), which no rate
#: of steps scales: without it a sweep of a few milliseconds could take longer than its bound.
CALL_SECONDS = 0.02


def worst_case_seconds(plan: Plan, budget: float = 0.05) -> float:
    """An upper bound on the plan's kernel time on this machine.

    Runs a sample spread over the grid (capped at 64 steps a run at first), growing it until
    it takes about ``budget`` seconds, and scales its rate of steps to every run taking all
    max_iter steps, times ``TIME_MARGIN``, plus ``CALL_SECONDS``. Compile the kernel first
    (``sweep.run.executor.compile_kernel``): compiling is not kernel time.
    """
    import numba

    from sweep.run.executor import descend

    n = min(plan.n_runs, 256 * numba.get_num_threads())
    steps_cap = max(1, min(plan.max_iter, 64))
    while True:
        index = np.unique(np.linspace(0, plan.n_runs - 1, n).round().astype(np.int64))
        probe = replace(plan, max_iter=steps_cap)
        started = time.perf_counter()
        n_iter = descend(probe, plan.values_at(index))["n_iter"]
        seconds = time.perf_counter() - started
        if seconds >= budget or (n >= plan.n_runs and steps_cap >= plan.max_iter) or n >= 1 << 20:
            break
        grow = 4 if seconds < budget / 4 else 2
        if n < plan.n_runs:
            n = min(plan.n_runs, n * grow)
        else:
            steps_cap = min(max(1, plan.max_iter), steps_cap * grow)
    # Every evaluated iterate is a step of work, the last one (the stop) included.
    rate = float((n_iter + 1).sum()) / max(seconds, 1e-9)
    return plan.n_runs * (plan.max_iter + 1) / rate * TIME_MARGIN + CALL_SECONDS
