"""Measurement stage: probe Hugging Face causal LMs and write tidy per-layer CSV tables.

Run ``thermo-audit measure --help`` for the command line. The stages of the project are
``measure`` (this package) -> ``data/*.csv`` -> ``analysis`` -> ``report``.
"""
