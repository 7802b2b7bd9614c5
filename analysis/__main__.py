"""``python -m analysis``: an alias of ``analysis.cli.main`` (see there)."""

import sys

from analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
