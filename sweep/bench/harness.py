"""Run the benchmark: every implementation on the same sweeps, in one process, interleaved.

For each case, every implementation first runs once and must agree with sweep's kernel on
every run's n_iter and outcome (and w, where the arithmetic is the same) before anything is
timed. Then repetitions are interleaved (A B C, A B C, ...) so that a slow patch of the
machine hits all of them alike; each figure is a median, and each ratio is the median of the
per-repetition ratios of two implementations timed side by side.

Steps are the gradient updates applied (the sum of n_iter): only steps of runs still running
count, whatever an implementation spends on finished ones.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sweep.bench.baselines import bare_lockstep_runs, bare_update_rate, jax_runs_factory, numpy_runs, plain_numba_runs, python_runs
from sweep.problems.losses import Loss, make_loss
from sweep.run.executor import descend_runs, threads

TEACHING = "quadratic"
#: Seconds of timed repetitions one implementation may take per case (at least 2 repetitions).
TIME_BUDGET = 20.0
COSINE = "(w-1)**2 + 0.1*cos(8*w)"
#: Implementations whose worker threads spin on after a call returns (XLA's pool), and the
#: untimed pause after each of their calls: on 2 cores, sweep timed right after a JAX call
#: ran 1.7x slower (0.38 s against 0.22 s on case (a)); after a 0.05 s pause, not at all.
SPINNING = {"jax"}
SETTLE = 0.1


@dataclass
class Case:
    """One sweep to time: a grid of n_lr log-spaced learning rates x n_w0 initial weights."""

    name: str
    loss: str
    n_lr: int
    n_w0: int
    max_iter: int
    tol: float
    lr_range: tuple[float, float] = (1e-4, 10.0)
    w0_range: tuple[float, float] = (-2.0, 3.0)
    python_runs: int = 2_000  # the plain Python loop times a slice of the grid only
    numpy_runs: int | None = None  # a slice for NumPy too, where a whole grid takes minutes
    skip: tuple[str, ...] = ()

    @property
    def n_runs(self) -> int:
        return self.n_lr * self.n_w0

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        lr = np.geomspace(*self.lr_range, self.n_lr)
        w0 = np.linspace(*self.w0_range, self.n_w0)
        return np.repeat(lr, self.n_w0), np.tile(w0, self.n_lr)


@dataclass
class Row:
    case: str
    implementation: str
    n_runs: int
    threads: int
    seconds: float
    steps: float
    agree: str
    note: str = ""
    ratios: dict = field(default_factory=dict)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds

    @property
    def runs_per_second(self) -> float:
        return self.n_runs / self.seconds


def _sweep_runs(lr, w0, loss, max_iter, tol, div_factor):
    result = descend_runs(lr, w0, loss, max_iter, tol, div_factor)
    return result["n_iter"], result["w"], result["outcome"]


def _legacy_runs(lr, w0, max_iter, tol):
    """sweep 0.1's gd kernel (before the generator) on the teaching loss: the "unchanged"
    baseline, timed beside today's kernel."""
    import numba

    from sweep.bench import legacy

    n = lr.size
    n_iter, w, outcome, crossed = np.empty(n, np.int64), np.empty(n), np.empty(n, np.int8), np.empty(n, np.bool_)
    legacy.descend(np.ascontiguousarray(lr), np.ascontiguousarray(w0), np.array([1.0, 1.0, 2.0]), max_iter, tol, 1e8, numba.get_num_threads(), n_iter, w, outcome, crossed)
    return n_iter, w, outcome


def implementations(case: Case, loss: Loss) -> dict:
    """name -> callable(lr, w0) for one case; JAX only when installed."""
    settings = (loss, case.max_iter, case.tol, 1e8)
    chosen = {
        "sweep": lambda lr, w0: _sweep_runs(lr, w0, *settings),
        "numba-plain": lambda lr, w0: plain_numba_runs(lr, w0, *settings),
        "numpy": lambda lr, w0: numpy_runs(lr, w0, *settings),
        "python": lambda lr, w0: python_runs(lr, w0, *settings),
    }
    if case.loss == TEACHING:
        chosen["sweep-0.1"] = lambda lr, w0: _legacy_runs(lr, w0, case.max_iter, case.tol)
        chosen["bare-lockstep"] = lambda lr, w0: bare_lockstep_runs(lr, w0, *settings)
    build, _ = jax_runs_factory()
    if build is not None:
        jax_runs = build(*settings)
        chosen["jax"] = jax_runs
    return {name: run for name, run in chosen.items() if name not in case.skip}


def _agreement(name, result, reference) -> str:
    n_iter, w, outcome = result
    if name == "bare-lockstep":
        # It knows converged, diverged and max_iter only: compared on the runs that ended so.
        from sweep.outcomes import CONVERGED, DIVERGED, MAX_ITER

        known = np.isin(reference[2], (CONVERGED, DIVERGED, MAX_ITER))
        text = _agreement("", tuple(a[known] for a in result), tuple(a[known] for a in reference))
        other = int((~known).sum())
        return text + (f" on its 3 outcomes ({other:,} runs stalled, cycled or hit NaN, which it runs on)" if other else "")
    same_count = np.array_equal(n_iter, reference[0]) and np.array_equal(outcome, reference[2])
    if not same_count:
        differ = int(np.sum((n_iter != reference[0]) | (outcome != reference[2])))
        return f"DIFFERS on {differ} of {n_iter.size} runs"
    return "exact (n_iter, outcome, w)" if np.array_equal(w, reference[1]) else "n_iter and outcome exact; w within rounding"


def time_case(case: Case, repeats: int, n_threads: int, log=print) -> list[Row]:
    """Time every implementation on one case; returns one Row per implementation."""
    loss = make_loss(case.loss)
    lr, w0 = case.grid()
    runs = implementations(case, loss)
    # At least one whole turn of the order (below), so that each implementation follows each
    # other once: a call runs slower right after a heavy vector workload (benchmarks/README.md).
    repeats = max(repeats, len(runs))
    limits = {"python": case.python_runs, "numpy": case.numpy_runs}
    # A slice is spread over the whole grid (every k-th run), so it holds slow and fast runs alike.
    slices = {name: (slice(None, None, max(1, case.n_runs // limits[name])) if limits.get(name) else slice(None)) for name in runs}
    rows = {}
    wanted = {}
    with threads(n_threads):
        reference = runs["sweep"](lr, w0)
        for name, run in runs.items():
            part = slices[name]
            started = time.perf_counter()
            result = run(lr[part], w0[part])  # also compiles: never timed
            # A slow implementation is repeated less (never under 2), to keep the run short.
            wanted[name] = max(2, min(repeats, int(TIME_BUDGET / max(time.perf_counter() - started, 1e-9))))
            ref_part = tuple(array[part] for array in reference)
            rows[name] = Row(case.name, name, lr[part].size, n_threads, 0.0, float(ref_part[0].sum()), _agreement(name, result, ref_part))
            log(f"  {case.name:<22} {name:<12} agreement: {rows[name].agree}")
        samples = {name: [] for name in runs}
        names = list(runs)
        for repetition in range(repeats):
            # The order turns by one each repetition, so that no implementation always follows
            # the same one.
            for name in names[repetition % len(names) :] + names[: repetition % len(names)]:
                run = runs[name]
                if repetition >= wanted[name]:
                    continue
                part = slices[name]
                started = time.perf_counter()
                run(lr[part], w0[part])
                samples[name].append(time.perf_counter() - started)
                if name in SPINNING:
                    time.sleep(SETTLE)
    for name, row in rows.items():
        row.seconds = statistics.median(samples[name])
        for other in runs:
            if other != name:
                # per-repetition ratio of steps/s, each pair timed side by side in one repetition
                per_rep = [(rows[name].steps / a) / (rows[other].steps / b) for a, b in zip(samples[name], samples[other])]
                row.ratios[other] = statistics.median(per_rep)
        log(f"  {case.name:<22} {name:<12} {row.seconds:9.4f} s  {row.steps_per_second:10.3e} steps/s")
    return list(rows.values())


def compile_and_cache_times() -> dict:
    """First-call time in a new process with an empty cache, then in a second new process.

    The second process must load every kernel from the cache: its Numba dispatchers report
    cache hits and no misses, and that is checked here, not assumed.
    """
    script = (
        "import json, time; t = time.perf_counter(); import sweep; from sweep.run.executor import kernel_of; "
        "from sweep.run.plan import plan_sweep; t1 = time.perf_counter(); "
        "sweep.run_sweep([0.1], [2.0], loss=LOSS); t2 = time.perf_counter(); "
        "m = kernel_of(plan_sweep([0.1], [2.0], loss=LOSS)); fs = (m._worker, m._evaluate, m._evaluate_exact, m._update); "
        "print(json.dumps({'import': t1 - t, 'first_call': t2 - t1, "
        "'hits': sum(sum(f.stats.cache_hits.values()) for f in fs), "
        "'misses': sum(sum(f.stats.cache_misses.values()) for f in fs)}))"
    )
    found = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SWEEP_CACHE_DIR=cache)
        for loss in (TEACHING, COSINE):
            for attempt in ("cold", "cached"):
                out = subprocess.run([sys.executable, "-c", script.replace("LOSS", repr(loss))], env=env, capture_output=True, text=True, check=True)
                found[(loss, attempt)] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def memory_per_run(n_runs: int = 1_000_000) -> dict:
    """Peak bytes allocated per run by run_sweep (tracemalloc), and the table's bytes per run."""
    from sweep import run_sweep

    side = int(round(np.sqrt(n_runs)))
    lr, w0 = np.geomspace(1e-3, 10, side), np.linspace(-2, 3, side)
    run_sweep(lr[:2], w0[:2])
    tracemalloc.start()
    frame = run_sweep(lr, w0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"runs": len(frame), "peak_bytes_per_run": peak / len(frame), "table_bytes_per_run": frame.memory_usage(index=False, deep=True).sum() / len(frame)}


def machine() -> str:
    """A short description of this machine: CPU model, cores, vector extensions and the
    vector width the kernels were compiled for."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            info = handle.read()
        model = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        flags = next(line for line in info.splitlines() if line.startswith("flags"))
        vector = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")
    except (OSError, StopIteration):
        vector = "unknown vector extensions"
    from sweep.kernels.target import vector_width

    return f"{model}, {os.cpu_count()} cores, {vector} ({vector_width()}), Python {platform.python_version()}, numpy {np.__version__}"


CASES_FULL = [
    Case("(a) quadratic tol=1e-12", TEACHING, 1000, 1000, 1000, 1e-12),
    Case("(b) teaching max_iter=100", TEACHING, 1000, 1000, 100, 0.0),
    # NumPy evaluates sweep's branch-free sin (about 40 array operations) on a 1-in-10 slice.
    Case("(a) cosine tol=1e-12", COSINE, 1000, 1000, 1000, 1e-12, numpy_runs=100_000),
]
CASES_QUICK = [
    Case("(a) quadratic tol=1e-12", TEACHING, 200, 200, 1000, 1e-12, python_runs=500),
    Case("(b) teaching max_iter=100", TEACHING, 200, 200, 100, 0.0, python_runs=500),
    Case("(a) cosine tol=1e-12", COSINE, 200, 200, 1000, 1e-12, python_runs=500),
]
SCALING_SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)


def scaling_cases(sizes) -> list[Case]:
    """Case (b)'s settings on square grids of each size; slow implementations stop early."""
    cases = []
    for size in sizes:
        side = int(round(np.sqrt(size)))
        skip = tuple(name for name, limit in (("python", 10_000), ("numpy", 1_000_000), ("numba-plain", 10_000_000), ("jax", 1_000_000)) if size > limit)
        cases.append(Case(f"(c) {size:.0e} runs", TEACHING, side, side, 100, 0.0, python_runs=side * side, skip=skip))
    return cases


def optimizer_speed(quick: bool, log=print) -> list[dict]:
    """Steps/s of each optimizer through the API, on case (a)'s quadratic at a third of its
    size per axis (every optimizer converges from some of the grid and diverges from some).
    The optimizers' timings are interleaved (gd, momentum, ..., gd, momentum, ...), five
    rounds; each steps/s is a median, and each ratio to gd the median of the rounds' ratios."""
    from sweep.optim.optimizers import OPTIMIZERS

    side = 100 if quick else 333
    lr = np.repeat(np.geomspace(1e-4, 10, side), side)
    w0 = np.tile(np.linspace(-2, 3, side), side)
    loss = make_loss(TEACHING)
    steps = {}
    for name in OPTIMIZERS:
        steps[name] = float(descend_runs(lr, w0, loss, 1000, 1e-12, 1e8, name)["n_iter"].sum())
    times = {name: [] for name in OPTIMIZERS}
    for _ in range(5):
        for name in OPTIMIZERS:
            started = time.perf_counter()
            descend_runs(lr, w0, loss, 1000, 1e-12, 1e8, name)
            times[name].append(time.perf_counter() - started)
    found = []
    gd_rate = [steps["gd"] / t for t in times["gd"]]
    for name in OPTIMIZERS:
        rate = [steps[name] / t for t in times[name]]
        row = {"optimizer": name, "runs": lr.size, "steps": steps[name], "steps_per_second": statistics.median(rate), "x_gd": statistics.median(r / g for r, g in zip(rate, gd_rate))}
        log(f"  optimizer {name}: {row['steps_per_second']:.3g} steps/s, {row['x_gd']:.2f}x gd")
        found.append(row)
    return found


def dynamics_cost(quick: bool, log=print) -> list[dict]:
    """Steps/s of gd and adam on the quadratic with the dynamics columns (loss_max,
    n_increase, first_increase, sharpness_max, eos_step; the default) and without, on case
    (a)'s grid at a third of its size per axis: timings interleaved, medians of three."""
    from sweep.run.executor import descend
    from sweep.run.plan import plan_sweep

    side = 100 if quick else 333
    lr, w0 = np.geomspace(1e-4, 10, side), np.linspace(-2, 3, side)
    found = []
    for optimizer in ("gd", "adam"):
        plans = {dynamics: plan_sweep(lr, w0, optimizer=optimizer, max_iter=1000, tol=1e-12, dynamics=dynamics) for dynamics in (True, False)}
        values = plans[True].values_of(0, plans[True].n_runs)
        for plan in plans.values():
            descend(plan, plans[True].values_of(0, 1))
        times = {True: [], False: []}
        for _ in range(3):
            for dynamics, plan in plans.items():
                started = time.perf_counter()
                result = descend(plan, values)
                times[dynamics].append(time.perf_counter() - started)
        steps = float(result["n_iter"].sum())
        row = {"optimizer": optimizer, "with": steps / statistics.median(times[True]), "without": steps / statistics.median(times[False])}
        row["ratio"] = row["with"] / row["without"]
        log(f"  dynamics on {optimizer}: {row['with']:.3g} steps/s with, {row['without']:.3g} without ({row['ratio']:.2f}x)")
        found.append(row)
    return found


def model_speed(quick: bool, log=print) -> list[dict]:
    """Steps/s and floating-point work of the block kernel per model, with the dynamics (the
    default) and without, against sweep 0.1's model kernel (``sweep.bench.legacy``: one run
    per task, no dynamics) and a batched NumPy descent (``numpy_model_runs``: the runs as the
    columns of one matrix, BLAS products) on the same grid in the same process: timings
    interleaved, medians of five, and the runs' n_iter checked equal before any time counts.
    GFLOP/s is set against the machine's matrix-multiply rate, measured here too."""
    import numba

    from sweep.bench import legacy
    from sweep.bench.baselines import matmul_gflops, numpy_model_runs
    from sweep.run.executor import descend, model_data
    from sweep.run.plan import plan_sweep

    found = []
    peak = matmul_gflops()
    log(f"  matrix multiply (NumPy's BLAS, all threads): {peak:.1f} GFLOP/s")
    for name, max_iter in (("mse-linear", 2000), ("logloss-logistic", 200)):
        side = (40, 10) if quick else (200, 20)
        lr, w0 = np.geomspace(1e-3, 1.0, side[0]), np.linspace(-2, 2, side[1])
        plans = {dynamics: plan_sweep(lr, w0, loss=name, max_iter=max_iter, tol=1e-8, dynamics=dynamics) for dynamics in (True, False)}
        model = plans[True].problem
        values = plans[True].values_of(0, plans[True].n_runs)
        X, y, H, b, _ = model_data(model)
        n = plans[True].n_runs
        out = (np.zeros(n, np.int64), np.zeros((n, model.n_weights)), np.zeros(n, np.int64))

        args = (model.kind, values["lr"], values["w0"], H, b, X, y, max_iter, 1e-8, 1e8)

        def old(args=args, out=out):
            legacy.descend_model(*args, numba.get_num_threads(), *out)

        def batched(values=values, model=model, max_iter=max_iter):
            return numpy_model_runs(model, values["lr"], values["w0"], max_iter, 1e-8, 1e8)

        results = {dynamics: descend(plan, values) for dynamics, plan in plans.items()}  # compiles
        old()
        if not all(np.array_equal(result["n_iter"], out[0]) for result in results.values()):
            raise AssertionError(f"{name}: the block kernel and sweep 0.1's model kernel disagree on n_iter")
        n_iter, _, outcome = batched()
        # NumPy's exp and summation order are not the kernel's: near the tolerance a run may
        # stop a step apart, so agreement is a share of runs, printed, not a condition.
        agree = float(np.mean((n_iter == results[True]["n_iter"]) & (outcome == results[True]["outcome"])))
        times = {True: [], False: [], "old": [], "numpy": []}
        for _ in range(5):
            for dynamics, plan in plans.items():
                started = time.perf_counter()
                descend(plan, values)
                times[dynamics].append(time.perf_counter() - started)
            started = time.perf_counter()
            old()
            times["old"].append(time.perf_counter() - started)
            started = time.perf_counter()
            batched()
            times["numpy"].append(time.perf_counter() - started)
        steps = float(out[0].sum())
        rate = {key: steps / statistics.median(value) for key, value in times.items()}
        row = {
            "model": name, "runs": n, "weights": model.n_weights, "samples": model.n_samples,
            "steps_per_second": rate[True], "steps_per_second_no_dynamics": rate[False], "legacy_steps_per_second": rate["old"],
            "ratio": rate[True] / rate["old"], "ratio_no_dynamics": rate[False] / rate["old"],
            "flops_per_step": model.flops_per_step(), "gflops": rate[False] * model.flops_per_step() / 1e9,
            # NumPy's steps are its runs' steps too (the same n_iter, up to the agreement)
            "numpy_steps_per_second": rate["numpy"], "ratio_numpy": rate[True] / rate["numpy"], "ratio_numpy_no_dynamics": rate[False] / rate["numpy"],
            "numpy_agreement": agree, "matmul_gflops": peak,
        }
        log(
            f"  model {name}: {rate[True]:.3g} steps/s with dynamics, {rate[False]:.3g} without, sweep 0.1's kernel {rate['old']:.3g}: {row['ratio']:.2f}x and {row['ratio_no_dynamics']:.2f}x; "
            f"batched NumPy {rate['numpy']:.3g}: {row['ratio_numpy']:.2f}x and {row['ratio_numpy_no_dynamics']:.2f}x; {row['gflops']:.2f} GFLOP/s of {peak:.1f}"
        )
        found.append(row)
    return found


def estimate_bounds(quick: bool, log=print) -> list[dict]:
    """The bound ``sweep run`` prints before it starts (``sweep.run.estimate``) against the
    kernel time that follows, for gd and adam on case (a)'s quadratic, the cosine loss and
    logistic regression: compiled first, as the command does (it reports compiling in a line
    of its own), then the bound, then the median of three whole runs of the grid."""
    from sweep.run.estimate import worst_case_seconds
    from sweep.run.executor import compile_kernel, descend
    from sweep.run.plan import plan_sweep

    side = 200 if quick else 1000
    grid = (np.geomspace(1e-4, 10, side), np.linspace(-2, 3, side))
    plans = [
        ("gd, case (a)", plan_sweep(*grid, max_iter=1000, tol=1e-12)),
        ("adam, case (a)", plan_sweep(grid[0][:: 3], grid[1][:: 3], optimizer="adam", max_iter=1000, tol=1e-12)),
        ("cosine", plan_sweep(grid[0][:: 3], grid[1][:: 3], loss="cosine", max_iter=1000, tol=1e-12)),
        ("logloss-logistic", plan_sweep(np.geomspace(1e-3, 1.0, 40 if quick else 200), np.linspace(-2, 2, 10), loss="logloss-logistic", max_iter=200, tol=1e-8)),
    ]
    found = []
    for name, plan in plans:
        compile_kernel(plan)
        bound = worst_case_seconds(plan)
        values = plan.values_of(0, plan.n_runs)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            descend(plan, values)
            times.append(time.perf_counter() - started)
        row = {"sweep": name, "runs": plan.n_runs, "bound": bound, "seconds": statistics.median(times)}
        log(f"  estimate {name}: bound {bound:.2f} s, kernel {row['seconds']:.2f} s")
        found.append(row)
    return found


def streaming_series(quick: bool, log=print) -> list[dict]:
    """Peak RSS of a whole `sweep run` process, streamed in chunks against in one piece, and
    the Dask backend's throughput on a local cluster. Each point is a fresh process, so its
    peak is its own; max_iter is small because this measures memory and I/O, not the kernel."""
    sizes = (10**5, 10**6) if quick else (10**6, 10**7, 10**8)
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its forking parent's size.
    script = (
        "import sys, time; from sweep.cli import main; t = time.perf_counter(); "
        "code = main(sys.argv[1:]); "
        "peak = next(int(line.split()[1]) * 1024 for line in open('/proc/self/status') if line.startswith('VmHWM')); "
        "print('PEAK', peak, time.perf_counter() - t, code)"
    )
    found = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            side = int(round(np.sqrt(size)))
            modes = [("streamed", ["--chunk-size", str(2**18)]), ("one piece", ["--chunk-size", str(size)])]
            if not quick and size == 10**7:
                modes.append(("dask", ["--chunk-size", str(2**20), "--scheduler", "dask"]))
            for mode, extra in modes:
                if mode == "one piece" and size > 10**7:
                    continue  # would need about 16 GB: the linear growth is clear from the smaller sizes
                out = Path(folder) / f"{mode}-{size}"
                args = ["run", "--lr", f"1e-3:10:{side}:log", "--w0", f"-2:3:{side}", "--max-iter", "10", "--no-report", "--quiet", "--out", str(out), *extra]
                done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True)
                _, peak, seconds, _ = done.stdout.strip().splitlines()[-1].split()
                row = {"runs": side * side, "mode": mode, "peak_mb": int(peak) / 1e6, "seconds": float(seconds)}
                log(f"  memory: {row['runs']:.0e} runs {mode}: peak {row['peak_mb']:.0f} MB, {row['seconds']:.1f} s")
                found.append(row)
                shutil.rmtree(out, ignore_errors=True)
    return found


def thread_scaling(case: Case, repeats: int, log=print) -> dict[str, float]:
    """Steps/s with all threads over steps/s with one, for sweep and for the plain kernel:
    the ratio of the median times, from one- and all-thread runs interleaved in this process
    (a per-repetition ratio is noisier: the single-thread run of a pair swings with the clock)."""
    loss = make_loss(case.loss)
    lr, w0 = case.grid()
    settings = (loss, case.max_iter, case.tol, 1e8)
    found = {}
    for name, run in (("sweep", lambda: _sweep_runs(lr, w0, *settings)), ("numba-plain", lambda: plain_numba_runs(lr, w0, *settings))):
        times = {1: [], max_threads(): []}
        for _ in range(max(repeats, 7)):
            for n_threads in times:
                with threads(n_threads):
                    started = time.perf_counter()
                    run()
                    times[n_threads].append(time.perf_counter() - started)
        found[name] = statistics.median(times[1]) / statistics.median(times[max_threads()])
        log(f"  thread scaling 1 -> {max_threads()}: {name} {found[name]:.2f}x")
    return found


def max_threads() -> int:
    import numba

    return numba.config.NUMBA_NUM_THREADS


def _plot(rows: list[Row], path: Path) -> None:
    from sweep.plots.figures import subplots

    fig, ax = subplots(figsize=(7, 4.2))
    for name in ("sweep", "numba-plain", "jax", "numpy", "python"):
        series = sorted((row.n_runs, row.steps_per_second) for row in rows if row.implementation == name and row.case.startswith("(c)"))
        if series:
            ax.plot(*zip(*series), "-o", label=name, markersize=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("runs in the sweep")
    ax.set_ylabel("gradient steps per second")
    ax.set_title("Case (c): teaching settings (max_iter 100, tol 0), all threads", loc="left", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def verdict(ok: bool, quick: bool) -> str:
    """PASS or FAIL; at the --quick sizes the requirements do not apply, and it says so."""
    if quick:
        return "not checked at --quick sizes"
    return "PASS" if ok else "FAIL"


def _markdown(rows, scaling, ceiling, compile_times, memory, checks, where: str, models: list[dict], series: list[dict], optimizers: list[dict], quick: bool = False, dynamics: list[dict] = (), estimates: list[dict] = ()) -> str:
    lines = [
        "# sweep benchmark",
        "",
        f"Machine: {where}. Threads: {max_threads()}. Produced by `sweep bench` (see benchmarks/README.md).",
        "",
        "| case | implementation | runs | median s | steps/s | runs/s | sweep is x faster | agreement with sweep |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        faster = "" if row.implementation == "sweep" else f"{1 / row.ratios['sweep']:.1f}"
        lines.append(
            f"| {row.case} | {row.implementation} | {row.n_runs:,} | {row.seconds:.4f} | {row.steps_per_second:.3g} | {row.runs_per_second:.3g} | {faster} | {row.agree} |"
        )
    _, jax_missing = jax_runs_factory()
    lines += ["", f"JAX: {'skipped: ' + jax_missing if jax_missing else 'jit(vmap(while_loop)) in float64; XLA contracts multiply-adds into FMAs, so its w can differ from the others in the last bits'}."]
    lines += ["", "## Requirements (case (a), ratios measured in the same run)", ""]
    lines += [f"- {verdict(ok, quick)}: {text}" for text, ok in checks]
    lines += [
        "",
        "## Threads",
        "",
        f"Case (a), 1 -> {max_threads()} threads: sweep {scaling['sweep']:.2f}x, plain prange kernel {scaling['numba-plain']:.2f}x.",
        "",
        "## Ceiling",
        "",
        f"The teaching update alone (`w - lr*(2*(w - 1))`, lockstep blocks, no stopping tests, all threads) runs at "
        f"{ceiling:.3g} steps/s here: what the vector units give for this arithmetic. sweep reaches "
        f"{rows[0].steps_per_second / ceiling:.0%} of it on case (a) while testing every step for all six outcomes.",
        "",
        "## Compile time and cache",
        "",
        "| loss | new process, empty cache: first call s | new process, warm cache: first call s | cache hits / misses in the warm process |",
        "|---|---:|---:|---|",
    ]
    for loss in (TEACHING, COSINE):
        cold, warm = compile_times[(loss, "cold")], compile_times[(loss, "cached")]
        lines.append(f"| `{loss}` | {cold['first_call']:.2f} | {warm['first_call']:.2f} | {warm['hits']} / {warm['misses']} |")
    lines += [
        "",
        "## Optimizers (quadratic, 333 x 333 runs of case (a)'s grid, max_iter 1000, tol 1e-12)",
        "",
        "| optimizer | runs | steps | steps/s | x gd |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {o['optimizer']} | {o['runs']:,} | {o['steps']:.3g} | {o['steps_per_second']:.3g} | {o['x_gd']:.2f} |" for o in optimizers]
    lines += [
        "",
        "## What the dynamics columns cost (quadratic, same grid)",
        "",
        "| optimizer | steps/s with dynamics (default) | without (--no-dynamics) | ratio |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {d['optimizer']} | {d['with']:.3g} | {d['without']:.3g} | {d['ratio']:.2f}x |" for d in dynamics]
    lines += [
        "",
        "## Models on real data (full-batch gradient descent, blocks of runs in lockstep)",
        "",
        "Against sweep 0.1's model kernel (one run per task, no dynamics) and a batched NumPy descent (the runs as the columns of one matrix, BLAS products; converged, NaN, max_iter and diverged tests), on the same grid in this process. GFLOP/s is without the dynamics, against the machine's matrix-multiply rate (NumPy's BLAS, all threads) measured in the same run.",
        "",
        "| model | runs | weights | samples | steps/s | without dynamics | sweep 0.1 | ratio | ratio without dynamics | batched NumPy | ratio | ratio without dynamics | runs agreeing with NumPy | flop per step | GFLOP/s | of matmul |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {m['model']} | {m['runs']} | {m['weights']} | {m['samples']} | {m['steps_per_second']:.3g} | {m['steps_per_second_no_dynamics']:.3g} | {m['legacy_steps_per_second']:.3g} | {m['ratio']:.2f}x | {m['ratio_no_dynamics']:.2f}x | "
        f"{m['numpy_steps_per_second']:.3g} | {m['ratio_numpy']:.2f}x | {m['ratio_numpy_no_dynamics']:.2f}x | {m['numpy_agreement']:.1%} | {m['flops_per_step']:,} | {m['gflops']:.2f} | {m['gflops'] / m['matmul_gflops']:.0%} of {m['matmul_gflops']:.1f} |"
        for m in models
    ]
    lines += [
        "",
        "## The run-time bound printed before a sweep",
        "",
        "`sweep run` compiles first (in a line of its own), then times a sample of the grid and prints a bound for every run taking all max_iter steps. Against the kernel time that follows (median of three):",
        "",
        "| sweep | runs | bound s | kernel s | bound / kernel |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {e['sweep']} | {e['runs']:,} | {e['bound']:.2f} | {e['seconds']:.2f} | {e['bound'] / e['seconds']:.1f}x |" for e in estimates]
    lines += [
        "",
        "## Streaming: peak memory of a whole `sweep run` process (max_iter 10: memory and I/O, not the kernel)",
        "",
        "| runs | mode | peak RSS MB | wall s | runs/s |",
        "|---:|---|---:|---:|---:|",
    ]
    lines += [f"| {r['runs']:,} | {r['mode']} | {r['peak_mb']:.0f} | {r['seconds']:.1f} | {r['runs'] / r['seconds']:.3g} |" for r in series]
    lines += [
        "",
        "## Memory",
        "",
        f"run_sweep on {memory['runs']:,} runs: peak {memory['peak_bytes_per_run']:.0f} bytes allocated per run (tracemalloc), "
        f"{memory['table_bytes_per_run']:.0f} bytes per run in the returned DataFrame.",
        "",
    ]
    return "\n".join(lines)


def run_benchmark(out: Path, quick: bool = False, repeats: int = 5, log=print) -> Path:
    """Run every case and write ``benchmarks.md``, ``benchmarks.csv`` and ``benchmarks.png``.

    Args:
        out: folder for the three files (created if needed).
        quick: small grids (a smoke test of the whole benchmark, seconds instead of minutes).
        repeats: timed repetitions per implementation (medians are reported).

    Returns:
        Path of ``benchmarks.md``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    where = machine()
    log(f"machine: {where}")
    cases = CASES_QUICK if quick else CASES_FULL
    sizes = SCALING_SIZES[:3] if quick else SCALING_SIZES
    rows: list[Row] = []
    for case in cases + scaling_cases(sizes):
        rows += time_case(case, repeats if not case.name.startswith("(c)") else max(3, repeats // 2), max_threads(), log)
    scaling = thread_scaling(cases[0], repeats, log)
    ceiling_seconds, ceiling_steps = bare_update_rate()
    ceiling = ceiling_steps / ceiling_seconds
    optimizers = optimizer_speed(quick, log)
    dynamics = dynamics_cost(quick, log)
    models = model_speed(quick, log)
    estimates = estimate_bounds(quick, log)
    series = streaming_series(quick, log)
    compile_times = compile_and_cache_times()
    memory = memory_per_run(40_000 if quick else 1_000_000)
    first = {row.implementation: row for row in rows if row.case == cases[0].name}
    cosine = {row.implementation: row for row in rows if row.case == cases[2].name}
    checks = [
        (f"sweep >= 30x NumPy on the quadratic: {1 / first['numpy'].ratios['sweep']:.1f}x", 1 / first["numpy"].ratios["sweep"] >= 30),
        (f"gd on the quadratic at least as fast as sweep 0.1's kernel (within 10%): {1 / first['sweep-0.1'].ratios['sweep']:.2f}x", 1 / first["sweep-0.1"].ratios["sweep"] >= 0.9),
        (f"gd (every outcome test and the dynamics) >= 0.85x the bare lockstep kernel (converged, diverged, max_iter only): {1 / first['bare-lockstep'].ratios['sweep']:.2f}x", 1 / first["bare-lockstep"].ratios["sweep"] >= 0.85),
        (f"sweep >= 10x plain Numba on the quadratic: {1 / first['numba-plain'].ratios['sweep']:.1f}x", 1 / first["numba-plain"].ratios["sweep"] >= 10),
        (f"thread scaling 1 -> {max_threads()} >= 1.7x: {scaling['sweep']:.2f}x", scaling["sweep"] >= 1.7),
        (f"cosine loss, sweep vs NumPy on the same loss: {1 / cosine['numpy'].ratios['sweep']:.1f}x", 1 / cosine["numpy"].ratios["sweep"] >= 30),
        (f"no recompilation in a second process: {all(compile_times[(loss, 'cached')]['misses'] == 0 for loss in (TEACHING, COSINE))}", all(compile_times[(loss, "cached")]["misses"] == 0 for loss in (TEACHING, COSINE))),
        *(
            (
                f"{m['model']} >= 4x sweep 0.1's model kernel on the same work (no per-step loss or sharpness, which sweep 0.1 does not compute): "
                f"{m['ratio_no_dynamics']:.2f}x ({m['ratio']:.2f}x with sweep's dynamics on)",
                m["ratio_no_dynamics"] >= 4,
            )
            for m in models
        ),
        *(
            (
                f"{m['model']} >= 4x a batched NumPy descent of the same work (every outcome test, no per-step loss or sharpness, which the NumPy descent does not compute): "
                f"{m['ratio_numpy_no_dynamics']:.2f}x ({m['ratio_numpy']:.2f}x with sweep's dynamics on)",
                m["ratio_numpy_no_dynamics"] >= 4,
            )
            for m in models
            if m["model"] == "logloss-logistic"
        ),
        (
            "the printed run-time bound is at least the kernel time: " + ", ".join(f"{e['sweep']} {e['bound'] / e['seconds']:.1f}x" for e in estimates),
            all(e["bound"] >= e["seconds"] for e in estimates),
        ),
        *((f"{o['optimizer']} >= 0.5x gd's steps/s on the same grid: {o['x_gd']:.2f}x", o["x_gd"] >= 0.5) for o in optimizers[1:]),
        (f"DataFrame bytes per run <= 76 (47 for the end state, 28 for the dynamics): {memory['table_bytes_per_run']:.0f}", memory["table_bytes_per_run"] <= 76),
    ]
    with open(out / "benchmarks.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "implementation", "n_runs", "threads", "median_seconds", "steps", "steps_per_second", "runs_per_second", "agreement"])
        for row in rows:
            writer.writerow([row.case, row.implementation, row.n_runs, row.threads, f"{row.seconds:.6f}", int(row.steps), f"{row.steps_per_second:.6g}", f"{row.runs_per_second:.6g}", row.agree])
    _plot(rows, out / "benchmarks.png")
    report = out / "benchmarks.md"
    report.write_text(_markdown(rows, scaling, ceiling, compile_times, memory, checks, where, models, series, optimizers, quick, dynamics, estimates))
    for text, ok in checks:
        log(f"{verdict(ok, quick)}: {text}")
    return report
