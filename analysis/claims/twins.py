"""Section 6, "RLHF invariance": base vs instruct twins (notebook TWN; R2 true last-block gain, bf16, GU25).

The unit of a twin comparison is the prompt within one pair of models (the same 25 prompts run
through both); a statement about fine-tuning in general needs many pairs, and the paper has three
(the Mistral pair is mismatched: v0.1 base vs v0.2 instruct, which derives from the v0.2 base).
"""

from __future__ import annotations

import pandas as pd
import scipy.stats

from analysis.claims.registry import Outcome, claim
from analysis.needs import Dataset, InsufficientData, Needs
from analysis.stats import one_sample, paired, reproduces

SECTION = "6 RLHF invariance"


def pair_summary(rows: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per pair: base and instruct means, relative change, same sign, paired t-test over prompts."""
    out = []
    for pair, group in rows.groupby("pair"):
        test = paired(group, "gain", within="variant", subject="prompt_id", order=["instruct", "base"]).iloc[0]
        base = group.loc[group["variant"] == "base", "gain"].mean()
        instruct = group.loc[group["variant"] == "instruct", "gain"].mean()
        out.append(
            {
                "pair": pair,
                "base": base,
                "instruct": instruct,
                "change": instruct / base - 1,
                "same_sign": (base < 1) == (instruct < 1),
                "p_value": test["p_value"],
                "significant": test["p_value"] < alpha,
                "n_prompts": test["n"],
            }
        )
    return pd.DataFrame(out)


@claim(
    "twin_gemma",
    section=SECTION,
    statement=("Instruction tuning roughly halves Gemma-7B's gain: 2.32 (base) -> 1.15 (instruct)."),
    paper_value="1.15",
    paper_test="none (means only)",
    kind="ratio",
    needs=Needs("twin_gains", models=2, named=("gemma-7b", "gemma-7b-it"), prompts=2),
)
def twin_gemma(data: Dataset, settings) -> Outcome:
    """Hypothesis: instruction tuning lowers Gemma-7B's gain, 2.32 (base) -> 1.15 (instruct).

    Unit: prompt (the same prompts run through both models).
    Test: one-sided paired t-test (instruct - base < 0) over prompts; t CI of the instruct mean.
    Rule: holds if p < alpha; inconclusive otherwise.
    """
    rows = data.frame
    base = rows.loc[rows["registry_model"].fillna(rows["model"]) == "gemma-7b", "model"].unique()
    rows = rows[rows["pair"].isin(base)]
    if rows["variant"].nunique() < 2:
        raise InsufficientData("needs gemma-7b and gemma-7b-it on the same prompts")
    summary = pair_summary(rows, settings.alpha).iloc[0]
    test = paired(
        rows, "gain", within="variant", subject="prompt_id", order=["instruct", "base"], alternative="less"
    ).iloc[0]
    instruct_ci = one_sample(rows[rows["variant"] == "instruct"], "gain", confidence=settings.confidence).iloc[0]
    base_check = reproduces("2.32", summary["base"])
    instruct_check = reproduces("1.15", summary["instruct"])
    both = "yes" if base_check[0] == instruct_check[0] == "yes" else "no"
    holds = "holds" if test["p_value"] < settings.alpha else "inconclusive"
    return Outcome(
        statistic="mean gain of gemma-7b-it (instruct)",
        value=summary["instruct"],
        ci_low=instruct_ci["ci_low"],
        ci_high=instruct_ci["ci_high"],
        p_value=test["p_value"],
        n=int(test["n"]),
        test=f"{test['test']} (instruct - base, one-sided: less), prompts paired",
        holds=holds,
        reproduced=(
            both,
            f"base {summary['base']:.4f} vs 2.32: {base_check[1]}; "
            f"instruct {summary['instruct']:.4f} vs 1.15: {instruct_check[1]}",
        ),
        note=(
            f"base {summary['base']:.4f} -> instruct {summary['instruct']:.4f} ({summary['change']:+.1%}); "
            f"paired mean difference {summary['instruct'] - summary['base']:.3g}, 95% CI "
            f"[{test['ci_low']:.3g}, {test['ci_high']:.3g}]; "
            "one pair of models: a within-pair effect, not a law of fine-tuning"
        ),
        data=f"{data.label}; {int(test['n'])} prompts x 2 models (gemma-7b, gemma-7b-it)",
    )


@claim(
    "twin_sign",
    section=SECTION,
    statement=("Fine-tuning changes the gain's magnitude (by up to 50%) but never its sign (dampen vs expand)."),
    paper_value="50%",
    paper_test="sign agreement of 3 pairs; no test",
    kind="proportion",
    needs=Needs("twin_gains", models=2, prompts=2),
)
def twin_sign(data: Dataset, settings) -> Outcome:
    """Hypothesis: fine-tuning never changes the sign of the gain (dampen vs expand), only its magnitude.

    Unit: pair (a base model and its instruct twin).
    Test: per pair a paired t-test over prompts; across pairs a one-sided binomial test of sign agreement.
    Rule: fails if any pair's sign flips; holds if sign agreement is significantly above chance;
    inconclusive otherwise.
    """
    rows = data.frame
    summary = pair_summary(rows, settings.alpha)
    largest = summary.loc[summary["change"].abs().idxmax()]
    same = int(summary["same_sign"].sum())
    binom = scipy.stats.binomtest(same, len(summary), 0.5, alternative="greater")
    flips = summary.loc[~summary["same_sign"], "pair"].tolist()
    if flips:
        holds, why = "fails", f"the sign flips in {', '.join(flips)}"
    elif binom.pvalue < settings.alpha:
        holds, why = "holds", "the sign is kept in significantly more pairs than chance"
    else:
        holds, why = (
            "inconclusive",
            (
                f"{same} of {len(summary)} pairs keep their sign, but with "
                f"{len(summary)} pairs that is not evidence (binomial p = {binom.pvalue:.3g})"
            ),
        )
    all_expand = bool((summary[["base", "instruct"]] > 1).all().all())
    per_pair = "; ".join(
        f"{r.pair} {r.base:.3f} -> {r.instruct:.3f} ({r.change:+.1%}, paired p = {r.p_value:.2g})"
        for r in summary.itertuples()
    )
    note = f"{why}; {per_pair}"
    if all_expand:
        note += "; every model of every pair expands, so no pair could show a dampen/expand flip"
    mismatched = rows.loc[(rows["variant"] == "instruct") & rows["model"].str.contains("v0.2"), "model"].unique()
    if len(mismatched):
        note += f"; {', '.join(mismatched)} is not the instruct twin of its base (different base version)"
    return Outcome(
        statistic="largest relative change of the mean gain, instruct vs base",
        value=abs(largest["change"]),
        p_value=binom.pvalue,
        n=len(summary),
        test="per pair: paired t over prompts; across pairs: one-sided binomial test of sign agreement vs 50%",
        holds=holds,
        note=note,
        data=f"{data.label}; {len(summary)} pairs ({', '.join(summary['pair'])}), "
        f"{int(summary['n_prompts'].min())}+ prompts each",
    )
