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
