"""The abstract's claims about the whole study: the panel ("23+ models from 7 labs") and "three empirical
laws validated (all p < 0.05)".

The panel is counted per metric (one analysis's quantity) in the published result files and per
table in our measurements. The meta-claim reads the rows of the three laws' own claims on the same
source (the runner computes it after them).
"""

from __future__ import annotations

import numpy as np

from analysis.claims.registry import Outcome, claim
from analysis.needs import Dataset, Needs

SECTION = "Abstract"
PANEL_MODELS, PANEL_LABS = 23, 7
# The three laws of the abstract and the claim whose proper test stands for each.
LAWS = {
    "Kleiber's law (gain falls with depth)": "kleiber_depth_r",
    "heritage dominance (EleutherAI dampens, the other labs expand)": "heritage_fisher",
    "spectral signature (||W_V|| / ||W_O|| separates dampening from expansion)": "spectral_ratio_predicts_sign",
}


@claim(
    "panel_size",
    section=SECTION,
    statement=("The laws are validated across 23+ models from 7 labs."),
    paper_value="23+ models from 7 labs",
    paper_test="none (a count)",
    kind="count",
    needs=Needs("panel"),
    about_the_paper=True,
)
def panel_size(data: Dataset, settings) -> Outcome:
    """Hypothesis: one analysis of the study covers at least 23 models from at least 7 labs.

    Unit: model (distinct models with data for a metric; labs from the model registry or models.csv).
    Test: count of distinct models and labs per metric (one quantity of one analysis, e.g. the R1 gain), and
    over every file together.
    Rule: holds if at least one metric covers >= 23 models from >= 7 labs; fails otherwise. A statement about the
    paper's own panel: decided on the authors' data only, inconclusive on any other source (its count is shown).
    """
    frame = data.frame
    counts = frame.groupby("metric", sort=False).agg(models=("model", "nunique"), labs=("lab", "nunique"))
    every = counts.loc["any quantity"] if "any quantity" in counts.index else None
    metrics = counts.drop(index="any quantity", errors="ignore")
    enough = metrics[(metrics["models"] >= PANEL_MODELS) & (metrics["labs"] >= PANEL_LABS)]
    holds = "holds" if len(enough) else "fails"
    largest = metrics["models"].idxmax() if len(metrics) else None
    per_metric = "; ".join(
        f"{metric}: {int(r['models'])} models, {int(r['labs'])} lab{'s' if r['labs'] != 1 else ''}"
        for metric, r in metrics.iterrows()
    )
    labs = ", ".join(sorted(frame["lab"].dropna().unique()))
    union = (
        f"all files together: {int(every['models'])} models from {int(every['labs'])} labs ({labs})"
        if every is not None
        else ""
    )
    verdict = (
        "yes" if len(enough) else "no",
        f"{'some' if len(enough) else 'no'} single metric covers {PANEL_MODELS}+ models from {PANEL_LABS} labs; "
        f"{per_metric}; {union}",
    )
    return Outcome(
        statistic="largest number of models one metric covers",
        n=int(every["models"]) if every is not None else None,
        value=float(metrics["models"].max()) if len(metrics) else np.nan,
        holds=holds,
        comparable=False,
        reproduced=verdict,
        test="count of distinct models and labs per metric",
        note="; ".join(
            filter(
                None,
                [
                    f"{'at least one' if len(enough) else 'no'} metric reaches {PANEL_MODELS} models "
                    f"from {PANEL_LABS} labs (largest: {largest})"
                    if largest
                    else "no metric",
                    per_metric,
                    union,
                ],
            )
        ),
    )


@claim(
    "laws_validated",
    section=SECTION,
    statement=(
        "Three empirical laws are validated (all p < 0.05): Kleiber's law, heritage dominance and the spectral "
        "signature."
    ),
    paper_value="all p < 0.05",
    paper_test="none (a summary of the laws' tests)",
    kind="count",
    needs=Needs("claims", models=0),
    about_the_paper=True,
)
def laws_validated(data: Dataset, settings) -> Outcome:
    """Hypothesis: each of the three laws holds, every one with p < 0.05 under its proper test.

    Unit: none (a claim about the rows of three other claims on the same source).
    Test: the laws' own rows (kleiber_depth_r, heritage_fisher, spectral_ratio_predicts_sign): their verdicts
    and p-values; "all hold" is an intersection-union test, so its p is the largest of the three.
    Rule: holds if all three laws hold with p < alpha; fails if any law fails; inconclusive otherwise. Its p
    is derived from other rows, so it stays out of the Holm family. A statement about the paper's own
    validation: decided on the authors' data only, inconclusive on any other source (its count is shown).
    """
    rows = data.frame.set_index("claim_id")
    laws = rows.reindex(list(LAWS.values()))
    verdicts = laws["holds"].fillna("inconclusive")
    p = laws["p_value"].to_numpy(float)
    significant = int(np.sum(p < settings.alpha))
    if (verdicts == "fails").any():
        holds = "fails"
    elif (verdicts == "holds").all() and significant == len(LAWS):
        holds = "holds"
    else:
        holds = "inconclusive"
    detail = "; ".join(
        f"{law}: {claim_id} {verdicts[claim_id]}, p = {rows.at[claim_id, 'p_value']:.3g}"
        if claim_id in rows.index
        else f"{law}: {claim_id} not computed"
        for law, claim_id in LAWS.items()
    )
    tested = data.frame[data.frame["p_value"].notna()]
    below = int((tested["p_value"] < settings.alpha).sum())
    below_holm = int((tested["p_holm"] < settings.alpha).sum()) if "p_holm" in tested else None
    summary = f"of the {len(tested)} claims with a p-value on this source, {below} have p < {settings.alpha}" + (
        f", {below_holm} after Holm's adjustment" if below_holm is not None else ""
    )
    return Outcome(
        statistic="number of the three laws significant at alpha under their proper tests",
        value=float(significant),
        p_value=float(np.max(p)) if np.isfinite(p).all() else np.nan,
        n=len(LAWS),
        holds=holds,
        comparable=False,
        reproduced=(
            "yes" if significant == len(LAWS) else "no",
            f"{significant} of the 3 laws have p < {settings.alpha} under their proper tests",
        ),
        test="the three laws' rows; intersection-union p = the largest of their p-values",
        note="; ".join([detail, summary]),
    )
