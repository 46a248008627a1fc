"""``sweep bench``: the benchmarks, written to a folder of tables and figures."""

from __future__ import annotations

import json

import click

from sweep.cli.output import say
from sweep.errors import SweepError


@click.command("bench")
# Not results/ by default: that folder holds the committed benchmarks, which only a
# deliberate `--out results` replaces.
@click.option("--out", default="sweep-bench", show_default=True, help="Folder for benchmarks.md, .csv and .png (--out results regenerates the committed ones).")
@click.option("--quick", is_flag=True, help="Small grids: checks the whole benchmark quickly (2 to 5 minutes for the kernel suite on 2 cores, under a minute for fractal once its kernels are compiled). The requirements are not checked at this size.")
@click.option("--repeats", type=click.IntRange(1, 100), default=5, show_default=True, help="Timed repetitions per implementation.")
@click.option("--suite", type=click.Choice(["kernel", "fractal"]), default="kernel", show_default=True, help="kernel: the descent kernels against their baselines; fractal: the trainability images' sizes, FLOP/s and trig cost.")
def bench_command(out, quick, repeats, suite):
    """Time sweep's kernels against plain Python, NumPy, plain Numba, the previous version
    of the kernel and JAX (--suite kernel), or the trainability images (--suite fractal).

    \b
    Examples:
      sweep bench --out results                   # 12 to 25 minutes on 2 cores
      sweep bench --suite fractal --out results   # 5 to 15 minutes on 2 cores
    """
    from sweep.store.folder import check_name

    out_dir = check_name(out)
    names = FRACTAL_FILES if suite == "fractal" else KERNEL_FILES
    # Replace only what an earlier `sweep bench` wrote there (its record says so).
    record = _read_record(out_dir)
    for name in names:
        path = out_dir / name
        if path.exists() and record.get(name) != _digest(path):
            raise SweepError(f"--out {str(out_dir)!r}: {name} there was not written by sweep bench (or was changed since); move it away or choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    if suite == "fractal":
        from sweep.bench.trainability import run_fractal_benchmark

        report = run_fractal_benchmark(out_dir, quick=quick, log=say)
    else:
        from sweep.bench.harness import run_benchmark

        report = run_benchmark(out_dir, quick=quick, repeats=repeats, log=say)
    record.update({name: _digest(out_dir / name) for name in names if (out_dir / name).is_file()})
    (out_dir / BENCH_RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    say(f"wrote {report}")


KERNEL_FILES = ("benchmarks.md", "benchmarks.csv", "benchmarks.png")
FRACTAL_FILES = ("fractal-benchmarks.md", "fractal-benchmarks.csv")
#: The files `sweep bench` wrote into a folder, with their SHA-256.
BENCH_RECORD = "sweep-bench-files.json"


def _digest(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_record(out_dir) -> dict:
    path = out_dir / BENCH_RECORD
    try:
        found = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
