"""``python -m analysis``: an alias of ``thermo-audit analyse`` (see analysis/cli.py)."""

import sys

from analysis.cli import main

sys.exit(main())
