"""Shared test set-up: make tests/ importable for helper modules such as conformance_configs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# Tests never reach the Hugging Face Hub: loading code must fail fast and clearly without it.
import os  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
