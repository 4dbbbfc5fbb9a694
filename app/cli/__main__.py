"""``python -m app.cli``: the same as the ``mlwb`` console script (the tests and benchmarks run it so)."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
