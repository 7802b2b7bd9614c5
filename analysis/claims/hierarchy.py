"""Section 5, the hierarchy Pythia 0.80 < Mistral 1.11 < LLaMA 1.48 < Gemma 2.31 ("100 measurements").

Published data: notebook GUB, R2 (the true last block's gain, last token), fp16, the 25 GU25
prompts run through 4 models. The 100 measurements are 4 models x 25 prompts: prompts are
repeated measures, so the ordering is tested with prompts as blocks (Friedman) and its stability
by resampling prompts; the four means are a statement about these four models only.
"""

from __future__ import annotations

from analysis.claims.registry import Outcome, claim
from analysis.needs import Dataset, Needs
from analysis.sources import HIERARCHY as MODELS
from analysis.stats import friedman, order_robustness, reproduces

HIERARCHY = dict(zip(MODELS, ("0.80", "1.11", "1.48", "2.31")))


@claim(
    "hierarchy",
    section="5 Thermodynamic hierarchy",
    statement=(
        "The last-block gain orders the four models Pythia-6.9B 0.80 < Mistral-7B 1.11 < LLaMA-3.1-8B 1.48 "
        "< Gemma-7B 2.31, from 100 measurements."
    ),
    paper_value="0.80 < 1.11 < 1.48 < 2.31",
    paper_test="means only",
    kind="proportion",
    needs=Needs("hierarchy_gains", models=4, named=MODELS, prompts=2),
)
def hierarchy(data: Dataset, settings) -> Outcome:
    """Hypothesis: the last-block gain orders the four models Pythia-6.9B < Mistral-7B < LLaMA-3.1-8B < Gemma-7B.

    Unit: prompt (the blocks of a repeated-measures design: each prompt runs through the four models).
    Test: Friedman test with prompts as blocks; paired bootstrap over prompts of the order of the four means.
    Rule: fails if the observed order differs from the claimed one; holds if the Friedman p < alpha and the
    claimed order is kept in >= 95% of prompt resamples; inconclusive otherwise.
    """
    rows = data.frame
    order = order_robustness(
        rows,
        "gain",
        group="model",
        subject="prompt_id",
        expected=list(HIERARCHY),
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    ).iloc[0]
    test = friedman(rows, "gain", within="model", subject="prompt_id").iloc[0]
    means = rows.groupby("model")["gain"].mean()
    checks = {model: reproduces(printed, means[model]) for model, printed in HIERARCHY.items()}
    all_yes = all(verdict == "yes" for verdict, _ in checks.values())
    if not order["matches_expected"]:
        holds, why = "fails", f"the observed order is {order['order']}"
    elif test["p_value"] < settings.alpha and order["expected_share"] >= 0.95:
        holds, why = "holds", "the order is significant (Friedman) and kept in >= 95% of prompt resamples"
    else:
        holds, why = "inconclusive", f"the order is kept in only {order['expected_share']:.1%} of prompt resamples"
    return Outcome(
        statistic="share of prompt resamples keeping the order",
        value=order["expected_share"],
        p_value=test["p_value"],
        n=int(test["n_blocks"]),
        test=f"{test['test']} (prompts as blocks, Kendall's W = {test['kendall_w']:.3f}); paired bootstrap over "
        "prompts",
        holds=holds,
        comparable=False,
        reproduced=(
            "yes" if all_yes else "no",
            "; ".join(f"{m} {means[m]:.4f} vs {p}: {checks[m][0]}" for m, p in HIERARCHY.items()),
        ),
        note=(
            f"{why}; {int(test['n_conditions']) * int(test['n_blocks'])} measurements ({int(test['n_conditions'])} "
            f"models x {int(test['n_blocks'])} prompts); means "
            f"{', '.join(f'{m} {means[m]:.3f}' for m in HIERARCHY)}; "
            f"weakest adjacent pair {order['weakest_pair']} kept in {order['weakest_pair_share']:.1%}; Pythia's 0.80 "
            "is its true last block (R2), while the rho analysis uses its penultimate block (R1, 0.99)"
        ),
        data=f"{data.label}; {int(test['n_conditions'])} models x {int(test['n_blocks'])} prompts",
    )
