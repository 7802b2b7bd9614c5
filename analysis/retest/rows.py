"""One line of a claim card, and the exception that makes a line "not applicable"."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from contract.vocab import CARD_VERDICTS

DAMPEN, EXPAND = "dampen", "expand"


class NotApplicable(Exception):
    """A law makes no prediction for this model, or the data to check it are missing (message: why)."""


def sign_of(gain: float) -> str:
    """The paper's sign of a mean gain: "dampen" if < 1 (strict), else "expand"."""
    return DAMPEN if gain < 1 else EXPAND


@dataclass
class CardRow:
    """A law confronted with one model.

    ``predicted`` with ``pi_low``/``pi_high`` is what the law, fitted on or stated for the published
    models, says about this model (the interval is the law's own uncertainty); ``measured`` with
    ``measured_low``/``measured_high`` is what the model does (its CI over prompts, or a bootstrap
    over prompts). ``quantity`` says what the numbers are. Sign laws also fill ``predicted_sign``
    and ``measured_sign``. ``consistent`` is one of ``CARD_VERDICTS``; ``note`` says why.
    """

    claim_id: str
    law: str
    convention: str
    quantity: str
    predicted: float = math.nan
    pi_low: float = math.nan
    pi_high: float = math.nan
    measured: float = math.nan
    measured_low: float = math.nan
    measured_high: float = math.nan
    predicted_sign: str | None = None
    measured_sign: str | None = None
    consistent: str = "not applicable"
    note: str = ""

    def __post_init__(self):
        if self.consistent not in CARD_VERDICTS:
            raise ValueError(f"consistent must be one of {CARD_VERDICTS}, got {self.consistent!r}")

    def as_dict(self, model: str) -> dict:
        return {"model": model, **asdict(self)}


def within(value: float, low: float, high: float) -> bool:
    """``low <= value <= high``; a NaN bound is open on that side."""
    return (math.isnan(low) or value >= low) and (math.isnan(high) or value <= high)


def verdict(ok: bool) -> str:
    return "consistent" if ok else "inconsistent"


def join(*parts: str | None, sep: str = "; ") -> str:
    """Join the non-empty parts of a note (with "; ")."""
    return sep.join(p for p in parts if p)
