"""``python -m tests.mutation``: run the mutation test from the command line (see runner.py)."""

import sys

from .runner import main

sys.exit(main())
