"""Small helpers shared by the claim modules: robustness of a decision, verdict overrides, sample sizes."""

from __future__ import annotations

import math

import pandas as pd
import scipy.stats

from analysis.needs import Dataset
from analysis.stats import leave_one_out

CONTROLS_NOTE = "controls have random weights: a difference here is architectural, present before any training"
ABOUT_THE_PAPER_NOTE = (
    "a statement about the paper's own panel and printed numbers, decided on the authors' data "
    "only: on this source the value is shown for reference and the verdict is inconclusive"
)
OVERRIDE = "the verdict overrides the test"


def robust_decision(
    decision: tuple[str, str],
    data: pd.DataFrame,
    func,
    unit: str = "model",
    alpha: float = 0.05,
    verdicts: tuple[str, ...] = ("holds",),
) -> tuple[str, str]:
    """Downgrade a verdict in ``verdicts`` (resting on significance) to 'inconclusive' when leaving one unit out
    changes the significance decision."""
    holds, reason = decision
    if holds not in verdicts or data[unit].nunique() < 4:
        return holds, reason
    loo = leave_one_out(data, unit, func, alpha=alpha).iloc[0]
    if loo["flips"]:
        return "inconclusive", f"{reason}; but leaving out {loo['flipping_units']} changes the decision"
    return holds, f"{reason}; robust to leaving any one {unit} out"


def override(decision: tuple[str, str], verdict: str, why: str) -> tuple[str, str]:
    """Set the verdict by the rule instead of the test's decision, saying so in the reason."""
    holds, reason = decision
    if holds == verdict:
        return holds, f"{reason}; {why}"
    return verdict, f"{OVERRIDE} ({holds} -> {verdict}): {why}; the test alone: {reason}"


def about_the_paper(outcome, data: Dataset):
    """A claim about the paper's own panel or printed numbers is decided on the authors' data only: on any other
    source its verdict is 'inconclusive' (the value stays, for reference) and the note says why."""
    if data.source == "published":
        return outcome
    outcome.holds = "inconclusive"
    outcome.note = "; ".join(filter(None, [ABOUT_THE_PAPER_NOTE, outcome.note]))
    return outcome


def source_note(data: Dataset) -> list[str]:
    """What a reader must know about the source (random weights for the controls)."""
    return [CONTROLS_NOTE] if data.source == "controls" else []


def n_for_auc(auc: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Units per class to detect this AUC with a one-sided test: binormal equal-variance model, Cohen's
    d = sqrt(2) Phi^-1(AUC), normal approximation n = 2 (z_(1-alpha) + z_power)^2 / d^2 (at least 2);
    None when the AUC is 0.5 (no effect)."""
    d = math.sqrt(2) * scipy.stats.norm.ppf(min(max(auc, 1e-6), 1 - 1e-6))
    if abs(d) < 1e-9:
        return None
    z = scipy.stats.norm.ppf(1 - alpha) + scipy.stats.norm.ppf(power)
    return max(2, math.ceil(2 * (z / d) ** 2))
