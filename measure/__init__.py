"""Measurement stage: probe Hugging Face causal LMs and write tidy per-layer CSV tables.

Run ``python -m measure --help`` for the command line. The stages of the project are
``measure`` (this package) -> ``data/*.csv`` -> ``analysis`` -> ``report``.
"""

__version__ = "0.1.0"
