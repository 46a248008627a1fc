"""``sweep bench``: the benchmarks, written to a folder of tables and figures."""

from __future__ import annotations

import click

from sweep.cli.output import say


@click.command("bench")
@click.option("--out", default="results", show_default=True, help="Folder for benchmarks.md, .csv and .png.")
@click.option("--quick", is_flag=True, help="Small grids: checks the whole benchmark quickly (under a minute for the kernel suite, about two for fractal). The requirements are not checked at this size.")
@click.option("--repeats", type=click.IntRange(1, 100), default=5, show_default=True, help="Timed repetitions per implementation.")
@click.option("--suite", type=click.Choice(["kernel", "fractal"]), default="kernel", show_default=True, help="kernel: the descent kernels against their baselines; fractal: the trainability images' sizes, FLOP/s and trig cost.")
def bench_command(out, quick, repeats, suite):
    """Time sweep's kernels against plain Python, NumPy, plain Numba, the previous version
    of the kernel and JAX (--suite kernel), or the trainability images (--suite fractal).

    \b
    Examples:
      sweep bench --out results                   # a few minutes on 2 cores
      sweep bench --suite fractal --out results   # about 7 minutes on 2 cores
    """
    from sweep.store.folder import check_name

    out_dir = check_name(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if suite == "fractal":
        from sweep.bench.trainability import run_fractal_benchmark

        say(f"wrote {run_fractal_benchmark(out_dir, quick=quick, log=say)}")
        return
    from sweep.bench.harness import run_benchmark

    say(f"wrote {run_benchmark(out_dir, quick=quick, repeats=repeats, log=say)}")
