"""Small helpers shared by the claim modules: data requirements, model lists, robustness."""

from __future__ import annotations

import pandas as pd

from analysis.claims.registry import InsufficientData
from analysis.stats import leave_one_out


def require(condition: bool, why: str) -> None:
    """Stop a claim computation with ``why`` as the reason its source cannot decide it."""
    if not condition:
        raise InsufficientData(why)


def describe(frame: pd.DataFrame, prefix: str = "") -> str:
    """'8 models (pythia-70m, ...)' for the data column of claims.csv."""
    models = sorted(frame["model"].unique())
    return f"{prefix}{len(models)} models ({', '.join(models)})"


def pythia_family(models: pd.DataFrame) -> pd.DataFrame:
    """EleutherAI's GPT-NeoX models (Pythia), selected by registry facts, not by names."""
    return models[(models["family"] == "gpt_neox") & (models["lab"] == "EleutherAI")]


def robust_decision(decision: tuple[str, str], data: pd.DataFrame, func, unit: str = "model",
                    alpha: float = 0.05) -> tuple[str, str]:
    """Downgrade 'holds' to 'inconclusive' when leaving one unit out changes the significance decision."""
    holds, reason = decision
    if holds != "holds" or data[unit].nunique() < 4:
        return holds, reason
    loo = leave_one_out(data, unit, func, alpha=alpha).iloc[0]
    if loo["flips"]:
        return "inconclusive", f"{reason}; but leaving out {loo['flipping_units']} changes the decision"
    return holds, f"{reason}; robust to leaving any one {unit} out"
