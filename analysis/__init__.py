"""Analysis stage of thermo-audit: statistics library (`analysis.stats`) and the claims registry.

Every claim of D'Elia (2026) is re-tested on the authors' published numbers and on our own
measurements, with the model as the unit of analysis (prompts are repeated measures).
"""
