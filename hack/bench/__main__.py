"""``python -m hack.bench [flags]`` from the repository root: see :mod:`hack.bench`."""

import sys

from hack.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
