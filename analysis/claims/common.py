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


# Which published notebooks give a model's mean gain, by convention, in order of preference:
# R1 (the penultimate block's gain): the 16-model heritage hunt, the Pythia sweep, the clean check;
# R2 (the true last block's gain): the benchmark, the twin test, the GPT-2 and GPT-J checks.
PUBLISHED_GAINS = {
    "R1": ("gain_penultimate_block", ("HRH", "PFS", "CRG")),
    "R2": ("gain_last_block", ("GUB", "TWN", "G2L", "GJP")),
}


def published_model_gains(src, convention: str = "R1") -> pd.DataFrame:
    """Per model: the published mean gain under ``convention`` from the first notebook that has it.

    Columns: model, gain, notebook, convention, n_prompts, and the registry facts.
    """
    quantity, notebooks = PUBLISHED_GAINS[convention]
    frames = []
    for notebook in notebooks:
        rows = src.get(quantity, notebook=notebook, aggregate="mean")
        frames.append(rows.assign(rank=len(frames)))
    rows = pd.concat(frames).sort_values(["model", "rank"]).drop_duplicates("model")
    rows = rows.rename(columns={"value": "gain"})[["model", "gain", "notebook", "convention", "n_prompts"]]
    return src.with_facts(rows.reset_index(drop=True))


def model_gains(src, convention: str = "R1") -> pd.DataFrame:
    """Per model mean gain with a ``sign`` column ("dampen" if < 1, else "expand", strict as the paper).

    Published: ``published_model_gains(convention)``; our data: the canonical last-block gain
    (``convention`` is ignored and recorded as "canonical").
    """
    from analysis.sources import PublishedSource

    if isinstance(src, PublishedSource):
        gains = published_model_gains(src, convention)
    else:
        gains = src.model_gains().assign(notebook=None, convention="canonical")
    return gains.assign(sign=lambda d: d["gain"].lt(1).map({True: "dampen", False: "expand"}))


def model_signs(src, convention: str = "R1") -> pd.DataFrame:
    """``model_gains`` (with ``sign``) plus, on the published source, the H4 notebooks' hard-coded
    ``known_gain`` for models that have no gain under ``convention`` (e.g. gpt2: 1.05, a number
    those notebooks cite without a producing run); ``notebook`` says where each gain came from."""
    from analysis.sources import PublishedSource

    gains = model_gains(src, convention)
    if not isinstance(src, PublishedSource):
        return gains
    known = src.get("known_gain", aggregate="value").drop_duplicates("model")
    known = known[~known["model"].isin(gains["model"])].rename(columns={"value": "gain"})
    known = src.with_facts(known[["model", "gain", "notebook"]].assign(convention="hard-coded known_gain"))
    known["notebook"] += " known_gain"
    known["sign"] = known["gain"].lt(1).map({True: "dampen", False: "expand"})
    return pd.concat([gains, known], ignore_index=True)


def n_for_auc(auc: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Units per class to detect this AUC with a one-sided test: binormal equal-variance model, Cohen's
    d = sqrt(2) Phi^-1(AUC), normal approximation n = 2 (z_(1-alpha) + z_power)^2 / d^2 (at least 2);
    None when the AUC is 0.5 (no effect)."""
    import math

    import scipy.stats

    d = math.sqrt(2) * scipy.stats.norm.ppf(min(max(auc, 1e-6), 1 - 1e-6))
    if abs(d) < 1e-9:
        return None
    z = scipy.stats.norm.ppf(1 - alpha) + scipy.stats.norm.ppf(power)
    return max(2, math.ceil(2 * (z / d) ** 2))


def drop_twins(rows: pd.DataFrame) -> pd.DataFrame:
    """Leave out instruct models whose base model (``twin_of``) is also in ``rows``: a fine-tuned twin
    is not a new, independent model in a comparison across models."""
    return rows[~rows["twin_of"].isin(rows["model"])].reset_index(drop=True)
