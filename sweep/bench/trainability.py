"""Benchmark of the trainability images: ``sweep bench --suite fractal``.

Times the three sizes the trainability explorer must reach on 2 cores, puts the network
kernel's floating-point rate next to the machine's measured vector peak, times a batched
NumPy version of the same network on a slice of the grid and, when it is installed, the
paper's JAX engine on the same grids, and measures what sin and cos
cost in the loss kernel and whether they vectorize. Writes ``fractal-benchmarks.md`` and
``fractal-benchmarks.csv``.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

from sweep.bench.baselines import matmul_gflops
from sweep.bench.harness import machine
from sweep.fractal import compute, loss_experiment, network_experiment
from sweep.fractal.network import Network, train_grid, train_reference
from sweep.kernels.trig import vcos, vsin
from sweep.store.results import atomic_path

#: The issue's limits, in seconds on 2 cores.
LIMITS = {"network width 8": 120.0, "network width 16": 300.0, "line 2**20": 10.0, "serve loss zoom": 1.0, "serve network view": 10.0}


@njit(cache=True, parallel=True, fastmath={"contract"})
def _fma_peak(repeats, out):
    """128 independent multiply-add chains per thread: LLVM unrolls the constant inner loop
    into 16 AVX-512 registers, so this is the vector units' rate with no memory traffic
    (2 flops per multiply-add)."""
    for worker in prange(out.size):
        acc = np.zeros(128)
        for _ in range(repeats):
            for k in range(128):
                acc[k] = acc[k] * 0.999999 + 1e-9
        out[worker] = acc.sum()


def fma_peak_gflops(seconds: float = 1.0) -> float:
    """Measured multiply-add rate of all threads, GFLOP/s."""
    out = np.zeros(numba.get_num_threads())
    _fma_peak(10, out)
    repeats = 1_000_000
    start = time.perf_counter()
    _fma_peak(repeats, out)
    elapsed = time.perf_counter() - start
    return 2 * 128 * repeats * out.size / elapsed / 1e9


@njit(cache=True, error_model="numpy")
def _ours(x, out):
    for i in range(x.size):
        out[i] = vsin(x[i]) + vcos(x[i])


@njit(cache=True, error_model="numpy")
def _libm(x, out):
    for i in range(x.size):
        out[i] = math.sin(x[i]) + math.cos(x[i])


def trig_cost(n: int = 1 << 20) -> dict:
    """ns per sin + cos pair in a Numba loop over L2-resident data: sweep's branch-free
    versions (which LLVM vectorizes) against libm's (a call per element)."""
    x = np.random.default_rng(0).uniform(-20, 20, n)
    out = np.empty(n)
    result = {}
    for name, kernel in (("sweep vsin + vcos", _ours), ("libm sin + cos", _libm)):
        kernel(x, out)
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            kernel(x, out)
            best = min(best, time.perf_counter() - start)
        result[name] = best / n * 1e9
    return result


def _row(case: str, what: str, seconds: float, limit: float | None, extra: str = "") -> dict:
    return {"case": case, "what": what, "seconds": seconds, "limit": limit, "pass": None if limit is None else seconds < limit, "note": extra}


def serve_seconds(experiment, zoom: float = 4.0) -> float:
    """Seconds ``sweep serve`` takes to answer a zoom into ``experiment``'s centre, ``zoom``
    times narrower on each axis, at its resolution: the window checked, every cell trained in
    the server's pieces, the PNG encoded and the dimension counted (the work of the route,
    without the network between page and server). The path is warmed first: the kernel compiled,
    the drawing's imports loaded."""
    from sweep.serve.fractalview import compute_view, view_payload, windowed

    def centre(axis):
        inner = axis.around(math.sqrt(axis.lo * axis.hi) if axis.log else (axis.lo + axis.hi) / 2, zoom)
        return inner.lo, inner.hi

    # Warm the whole path once (the kernel, and the first drawing's imports), as a running
    # server is by its first view.
    view_payload(compute_view(windowed(experiment, (experiment.x.lo, experiment.x.hi), (experiment.y.lo, experiment.y.hi), 16)))
    started = time.perf_counter()
    view_payload(compute_view(windowed(experiment, centre(experiment.x), centre(experiment.y))))
    return time.perf_counter() - started


def jax_network_training(network: Network, steps: int):
    """The same network trained in JAX the way Sohl-Dickstein's engine does it:
    ``jax.value_and_grad`` of the mean squared error inside ``lax.scan`` over the steps,
    ``vmap`` over learning-rate pairs, ``jit``, float64. Returns ``train(lr_in, lr_out)`` ->
    ``(seconds, converged)`` (compiled ahead of the timed call; the paper's measure classifies
    the loss histories), or None when JAX is not installed.
    """
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from sweep.fractal.network import convergence_measure

    w1, w2, x, y = (jnp.asarray(a) for a in network.arrays())
    n = network.width
    activation = {"tanh": lambda z: jnp.tanh(math.sqrt(2.0) * z), "relu": lambda z: math.sqrt(2.0) * jnp.maximum(z, 0.0), "identity": lambda z: z}[network.nonlinearity]

    def loss(params):
        first, second = params
        out = activation(x @ first / math.sqrt(n)) @ second / n
        return jnp.mean((out - y) ** 2)

    value_and_grad = jax.value_and_grad(loss)

    def one(lr_in, lr_out):
        def step(params, _):
            value, (g1, g2) = value_and_grad(params)
            return (params[0] - lr_in * g1, params[1] - lr_out * g2), value

        return jax.lax.scan(step, (w1, w2), None, length=steps)[1]

    batched = jax.jit(jax.vmap(one))

    def train(lr_in, lr_out):
        lr_in, lr_out = jnp.asarray(lr_in), jnp.asarray(lr_out)
        compiled = batched.lower(lr_in, lr_out).compile()
        started = time.perf_counter()
        losses = np.asarray(compiled(lr_in, lr_out))
        seconds = time.perf_counter() - started
        with np.errstate(all="ignore"):
            return seconds, convergence_measure(losses)[1]

    return train


def against_jax(quick: bool, log=print) -> list[dict]:
    """sweep's network images against the JAX engine on the same grids (the issue's sizes:
    width 8 at 128 x 128 and 100 steps, width 16 at 64 x 64 and 500 steps), with the share of
    pixels whose class agrees; empty when JAX is not installed."""
    found = []
    for width, resolution, steps in ((8, 128, 100), (16, 64, 500)):
        resolution //= 4 if quick else 1
        train = jax_network_training(Network(width), steps)
        if train is None:
            return []
        e = network_experiment(width=width, steps=steps, resolution=resolution)
        ours = compute(e)
        lr_out, lr_in = np.meshgrid(e.y.values(), e.x.values(), indexing="ij")
        seconds, converged = train(lr_in.ravel(), lr_out.ravel())
        agree = float(np.mean(converged.reshape(ours.converged.shape) == ours.converged))
        row = {"width": width, "resolution": resolution, "steps": steps, "sweep": ours.seconds, "jax": seconds, "agree": agree}
        log(f"width {width}, {resolution} x {resolution}, {steps} steps: sweep {ours.seconds:.1f} s, JAX {seconds:.1f} s ({seconds / ours.seconds:.1f}x), classes agree on {agree:.2%}")
        found.append(row)
    return found


def run_fractal_benchmark(out: Path, quick: bool = False, log=print) -> Path:
    """Run the benchmark and write its tables into ``out``; returns the Markdown path."""
    scale = 8 if quick else 1
    rows = []
    peak = fma_peak_gflops()
    log(f"vector multiply-add peak: {peak:.1f} GFLOP/s on {numba.get_num_threads()} threads")

    cases = [("network width 8", 8, 512 // scale, 100), ("network width 16", 16, 256 // scale, 500)]
    rates = {}
    for name, width, resolution, steps in cases:
        e = network_experiment(width=width, steps=steps, resolution=resolution)
        compute(network_experiment(width=width, steps=2, resolution=8))  # compile or load
        picture = compute(e)
        log(f"{name}: {resolution}x{resolution}, {steps} steps: {picture.seconds:.1f} s")
        limit = None if quick else LIMITS[name]
        rows.append(_row(name, f"{resolution} x {resolution} grid, lr 1e-3..1e6 both axes, {steps} steps, tanh", picture.seconds, limit, f"{picture.converged.mean():.1%} converged"))
        # The sustained rate: a window where every run trains all its steps (no early stop).
        net = Network(width)
        n = 2048 if not quick else 256
        lr = np.full(n, 1e-3)
        start = time.perf_counter()
        train_grid(net, lr, lr, 50)
        elapsed = time.perf_counter() - start
        rates[name] = net.flops_per_step() * n * 50 / elapsed / 1e9
    # Batched NumPy, the same arithmetic as the kernel's reference, on a slice of the width-8 grid.
    net = Network(8)
    slice_runs = 4096 if not quick else 512
    lr = np.logspace(-3, 6, slice_runs)
    start = time.perf_counter()
    train_reference(net, lr, lr[::-1].copy(), 100)
    numpy_seconds = (time.perf_counter() - start) * (512 * 512 / slice_runs)
    rows.append(_row("network width 8", f"batched NumPy (matmul), {slice_runs} runs timed, scaled to 512 x 512", numpy_seconds, None))

    line = loss_experiment("cosine-mult", None, steps=1000, resolution=(1 << 20) // scale)
    compute(loss_experiment("cosine-mult", None, steps=10, resolution=64))
    picture = compute(line)
    log(f"line of {line.x.n:,}: {picture.seconds:.1f} s")
    rows.append(_row(f"line {line.x.n:,}", f"{line.x.n:,} learning rates 0..1.5, cosine-mult from w0 = 5, at most 1000 steps", picture.seconds, None if quick else LIMITS["line 2**20"], f"{picture.converged.mean():.1%} stay bounded"))
    # Liu's own window lets most runs escape early; in this one nearly all run 1000 steps.
    slow = loss_experiment("cosine-mult", None, steps=1000, resolution=(1 << 20) // scale, x_range=(0.0, 0.05, False))
    picture = compute(slow)
    log(f"line of {slow.x.n:,}, lr 0..0.05: {picture.seconds:.1f} s")
    rows.append(_row(f"line {slow.x.n:,}", f"the same, lr 0..0.05: {picture.converged.mean():.0%} of the runs stay bounded and take all 1000 steps", picture.seconds, None if quick else LIMITS["line 2**20"], "the worst case"))
    # The browser view: a zoom, as `sweep serve` answers it.
    loss_view = loss_experiment("cosine-mult", "delta", steps=1000, resolution=256 // scale)
    seconds = serve_seconds(loss_view)
    log(f"sweep serve, cosine-mult zoom {loss_view.x.n}x{loss_view.x.n}: {seconds:.2f} s")
    rows.append(_row("serve loss zoom", f"sweep serve: a 4x zoom of cosine-mult (lr x delta), {loss_view.x.n} x {loss_view.x.n}, at most 1000 steps, PNG and dimension included", seconds, None if quick else LIMITS["serve loss zoom"]))
    network_view = network_experiment(width=8, steps=100, resolution=128 // scale)
    seconds = serve_seconds(network_view)
    log(f"sweep serve, width-8 network zoom {network_view.x.n}x{network_view.x.n}: {seconds:.2f} s")
    rows.append(_row("serve network view", f"sweep serve: a 4x zoom of the width-8 network, {network_view.x.n} x {network_view.x.n}, 100 steps, in pieces of about 0.1 s (progress shown)", seconds, None if quick else LIMITS["serve network view"]))
    trig = trig_cost()
    blas = matmul_gflops()
    jax_rows = against_jax(quick, log)
    for j in jax_rows:
        what = f"JAX jit(vmap) of lax.scan, {j['resolution']} x {j['resolution']}, {j['steps']} steps, the same grid as sweep's {j['sweep']:.1f} s"
        note = f"sweep is {j['jax'] / j['sweep']:.1f}x faster (at least 6x asked); classes agree on {j['agree']:.2%} of pixels"
        rows.append({**_row(f"network width {j['width']}", what, j["jax"], None, note), "pass": None if quick else j["jax"] >= 6 * j["sweep"]})

    md = out / "fractal-benchmarks.md"
    lines = [
        "# sweep trainability benchmark",
        "",
        f"Machine: {machine()}. Threads: {numba.get_num_threads()}. Produced by `sweep bench --suite fractal`{' --quick (small sizes: limits not checked)' if quick else ''}.",
        "",
        "| case | what | seconds | limit | result | note |",
        "|---|---|---:|---:|---|---|",
    ]
    for r in rows:
        verdict = "" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        limit = "" if r["limit"] is None else f"{r['limit']:.0f}"
        lines.append(f"| {r['case']} | {r['what']} | {r['seconds']:.1f} | {limit} | {verdict} | {r['note']} |")
    kernel8 = next(r["seconds"] for r in rows if r["case"] == "network width 8" and "NumPy" not in r["what"])
    lines += [
        "",
        f"The compiled kernel is {numpy_seconds / kernel8:.1f}x the batched NumPy version on the width-8 image.",
        "",
        *(
            ["Against JAX (the paper's engine, float64, compiled before it is timed): " + "; ".join(f"width {j['width']} {j['jax'] / j['sweep']:.1f}x" for j in jax_rows) + ".", ""]
            if jax_rows
            else ["JAX is not installed, so the comparison with the paper's engine was skipped (`pip install -e '.[bench]'` adds it).", ""]
        ),
        "## Floating-point rate of the network kernel",
        "",
        f"Measured vector multiply-add peak of this machine: **{peak:.1f} GFLOP/s** (independent FMA chains in registers on every thread). "
        + (
            f"NumPy's BLAS multiplies two 1500 x 1500 matrices at {blas:.1f} GFLOP/s here: a tuned product keeps more FMAs in flight than these chains do, so the share below understates what is left."
            if blas > peak
            else f"NumPy's BLAS multiplies two 1500 x 1500 matrices at {blas:.1f} GFLOP/s here, {blas / peak:.0%} of that peak: even a tuned product is held back by moving its operands."
        ),
        "",
        "| width | sustained GFLOP/s (every run trains all its steps) | share of the measured peak |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name.split()[-1]} | {rate:.1f} | {rate / peak:.0%} |" for name, rate in rates.items()]
    lines += [
        "",
        "Counted: the two layers' multiply-adds forward and backward (4 n^2 per data point) and the output layer's; "
        "tanh is not counted, though it costs about as much as a quarter of the products. The images' own runs are faster "
        "than this rate suggests: blocks of runs that overflow stop computing (their remaining losses are known).",
        "",
        "## What sin and cos cost",
        "",
        "| implementation, in a Numba loop | ns per sin + cos pair |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {ns:.2f} |" for name, ns in trig.items()]
    lines += [
        "",
        f"sweep's branch-free sin and cos (fdlibm's polynomials, `sweep/kernels/trig.py`) vectorize; libm's are a call per "
        f"element: sweep's pair costs {trig['libm sin + cos'] / trig['sweep vsin + vcos']:.1f}x less. The multiplicative cosine loss needs both "
        "per step, so they are most of the line's cost.",
    ]
    with atomic_path(md) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(out / "fractal-benchmarks.csv") as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return md
