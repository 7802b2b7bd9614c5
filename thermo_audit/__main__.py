"""``python -m thermo_audit``: the same as the ``thermo-audit`` console script."""

import sys

from thermo_audit.cli import main

sys.exit(main())
