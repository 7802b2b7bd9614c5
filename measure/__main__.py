"""``python -m measure``: see measure/cli.py."""

import sys

from measure.cli import main

sys.exit(main())
