"""Run sweep's benchmark; the same as `sweep bench`. Usage: python benchmarks/run.py [--quick]."""

import sys

from sweep.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
