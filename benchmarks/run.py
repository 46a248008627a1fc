"""Run sweep's benchmark; the same as `sweep bench`. Usage: python benchmarks/run.py [--quick]."""

import sys

from sweep.entry import main

if __name__ == "__main__":
    sys.argv[1:1] = ["bench"]
    sys.exit(main())
