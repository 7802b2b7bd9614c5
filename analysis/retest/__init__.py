"""Re-test the paper's laws on your own models: a claim card per model and the shift of the panel claims.

* ``claim_card(sources, models, settings)``: one row per (model, law that predicts something for a
  single model): the law's prediction in the convention it was stated in, with the law's own
  uncertainty from the published panel, against the model's measured value (``laws.LAWS``);
* ``panel_shift(sources, models, settings)``: every claim of the registry re-run on the published
  panel and on ``published+yours`` (the published panel with the new models added in the matching
  convention), and how each statistic, p and verdict moves (``shift_and_joined`` adds which published
  notebooks each model joined).

The analysis stage writes both for our measured pretrained models into data/derived/
(``derived.retest_tables``), for the report.

``sources`` is what ``analysis.sources.load_sources(measured_dir, published_dir)`` returns; the
models are names in its measured (or controls) source.
"""

from analysis.retest.card import claim_card
from analysis.retest.panel import combined_source, panel_shift, shift_and_joined

__all__ = ["claim_card", "combined_source", "panel_shift", "shift_and_joined"]
