"""The ``sweep`` console command's first, light step: everything heavy is imported inside a
guard, so Ctrl-C at any moment ends in one line, never a traceback."""

import sys


def main() -> int:
    """Choose Numba's vector width (``sweep.kernels.target``), then import the command line
    and run it; Ctrl-C while importing exits 130 quietly."""
    try:
        from sweep.kernels.target import prefer_wide_vectors

        prefer_wide_vectors()
        from sweep.cli import main as run
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    return run()
