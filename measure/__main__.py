"""``python -m measure``: an alias of ``thermo-audit measure`` (see measure/cli.py)."""

import sys

from measure.cli import main

sys.exit(main())
