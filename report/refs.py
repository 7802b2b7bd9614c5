"""Numbers in the report's prose, always read from data/derived/claims.csv and linked to the audit.

Every helper returns an IPython ``Markdown`` object (so the renderer inserts it as markdown) whose
link points to the claim's row in the audit appendix (``#claim-<id>``). A value that a source
cannot compute prints as "n/a" with the reason in the appendix, never as a typed-in number.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

# Relative to the document's directory (report/), where Quarto and the fallback renderer run cells.
DERIVED = Path("..") / "data" / "derived"
SOURCE_NAMES = {"published": "the authors' data", "measured": "our pretrained models",
                "controls": "the random-init controls"}
VERDICT_WORDS = {"holds": "holds", "fails": "fails", "inconclusive": "is inconclusive"}


def number(value: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, a real minus sign, thousands separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value != 0 and (abs(value) >= 10 ** digits or abs(value) < 1e-3):
        text = f"{value:,.0f}" if abs(value) >= 10 ** digits else f"{value:.{digits - 1}e}"
    else:
        text = f"{value:.{digits}g}"
    return text.replace("-", "−")


def p_value(p: float) -> str:
    if p is None or math.isnan(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {number(p, 2)}"


class Claims:
    """The claims table with formatting helpers; ``Claims()`` reads data/derived/claims.csv."""

    def __init__(self, path: Path = DERIVED / "claims.csv"):
        self.table = pd.read_csv(path).set_index(["claim_id", "source"], drop=False)

    def row(self, claim_id: str, source: str = "published") -> pd.Series:
        return self.table.loc[(claim_id, source)]

    def value(self, claim_id: str, source: str = "published", digits: int = 3, percent: bool = False) -> str:
        value = self.row(claim_id, source)["value"]
        return f"{number(100 * value, digits)}%" if percent and not math.isnan(value) else number(value, digits)

    def link(self, claim_id: str, text: str) -> Markdown:
        return Markdown(f"[{text}](#claim-{claim_id})")

    def cite(self, claim_id: str, source: str = "published", digits: int = 3, percent: bool = False,
             ci: bool = True, p: bool = True, paper: bool = True) -> Markdown:
        """'value [CI], p (paper: printed)' linked to the claim's audit row."""
        row = self.row(claim_id, source)
        if math.isnan(row["value"]):
            return self.link(claim_id, f"n/a for {SOURCE_NAMES[source]}")
        scale = 100 if percent else 1
        suffix = "%" if percent else ""
        parts = [f"{number(scale * row['value'], digits)}{suffix}"]
        if ci and not math.isnan(row["ci_low"]):
            parts[0] += f" [{number(scale * row['ci_low'], digits)}, {number(scale * row['ci_high'], digits)}]"
        if p and not math.isnan(row["p_value"]):
            parts.append(p_value(row["p_value"]))
        if paper and isinstance(row["paper_value"], str) and source == "published":
            parts.append(f"paper: {re.sub(r'-(?=[0-9.])', '−', row['paper_value'])}")
        return self.link(claim_id, "; ".join(parts))

    def verdict(self, claim_id: str, source: str = "published") -> Markdown:
        """'holds' / 'fails' / 'is inconclusive', linked."""
        return self.link(claim_id, VERDICT_WORDS[self.row(claim_id, source)["holds"]])

    def reproduces(self, claim_id: str) -> Markdown:
        verdict = self.row(claim_id, "published")["reproduces"]
        words = {"yes": "reproduces", "no": "does not reproduce", "not recomputable": "cannot be recomputed"}
        return self.link(claim_id, words[verdict])

    def count(self, column: str, value: str, source: str = "published") -> int:
        rows = self.table[self.table["source"] == source]
        return int((rows[column] == value).sum())

    @property
    def ids(self) -> list[str]:
        return list(dict.fromkeys(self.table["claim_id"]))
