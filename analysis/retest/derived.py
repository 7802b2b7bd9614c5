"""The re-test tables the analysis stage writes into data/derived/, for the report's section "Re-testing with
new models": the claim card and the panel shift of every pretrained model we measured (the measured source;
random-init controls are the architecture's baseline, not a model a researcher brings).

* ``retest_card``: ``claim_card`` of those models (``CLAIM_CARD_TABLE``);
* ``retest_shift``: how the panel claims move when they join the published panel (``PANEL_SHIFT_TABLE``);
* ``retest_joined``: per model, the published notebooks it joined in the combined panel, and why not others
  (``FIGURE_TABLES["retest_joined"]``).

Without measured pretrained models the tables are empty; without published data the shift and the joined
notebooks are (the card then shows the measurements with every prediction not applicable).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from analysis.claims import Settings
from analysis.retest.card import claim_card
from analysis.retest.panel import shift_and_joined
from analysis.sources import Source
from contract.tables import CLAIM_CARD_TABLE, FIGURE_TABLES, PANEL_SHIFT_TABLE, validate

RETEST_TABLES = {
    "retest_card": CLAIM_CARD_TABLE,
    "retest_shift": PANEL_SHIFT_TABLE,
    "retest_joined": FIGURE_TABLES["retest_joined"],
}


def retest_tables(
    sources: Mapping[str, Source], settings: Settings, claims: pd.DataFrame | None = None
) -> dict[str, tuple[pd.DataFrame, str | None]]:
    """{name: (frame, float format)} of the three re-test tables (see the module docstring), each validated
    against its schema. ``claims``: the claims' rows already computed (claims.csv's), whose
    published rows the panel shift reuses instead of computing them again."""
    models = list(sources["measured"].models["model"])
    if models:
        card = claim_card(sources, models, settings)
        shift, joined = shift_and_joined(sources, models, settings, published_claims=claims)
    else:
        card, shift, joined = (pd.DataFrame(columns=list(t.columns)) for t in RETEST_TABLES.values())
    return {
        name: (validate(frame, table, f"{name}.csv"), table.float_format)
        for (name, table), frame in zip(RETEST_TABLES.items(), (card, shift, joined))
    }
