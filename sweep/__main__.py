"""``python -m sweep`` is the ``sweep`` command."""

import sys

from sweep.entry import main

sys.exit(main())
