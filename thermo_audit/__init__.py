"""thermo-audit: measure residual-stream gain, attention value/output spectra and attention
statistics of Hugging Face causal LMs, and re-test the claims of D'Elia (2026).

The stages are packages of their own: ``contract`` (the data contract) -> ``measure`` ->
``analysis`` -> ``report``; this package holds the one command line, ``thermo-audit``.
"""

__version__ = "0.2.0"
