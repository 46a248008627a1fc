"""The ``sweep`` console command's first, light step: everything heavy is imported inside a
guard, so Ctrl-C at any moment ends in one line, never a traceback."""

import sys


def main() -> int:
    """Import the command line and run it; Ctrl-C while importing exits 130 quietly."""
    try:
        from sweep.cli import main as run
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    return run()
