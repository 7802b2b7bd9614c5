"""Section 4.1, the "Kleiber" law: gain falls with depth, G_max = 10^(1/L), total gain ~ 10.

Published data: the Pythia sweep (notebook PFS, convention R1 = the penultimate block's gain,
fp16, 25 PYTHIA25 prompts) and, for the total gain, the block-hook runs (R2 total_amplification:
GUB, G2L, GJP, TWN). Our data: the true last block's gain (canonical view), one prompt set. The
sources select the data (``analysis.sources``); this module holds the statistics and the rules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin
import scipy.stats
import statsmodels.formula.api as smf

from analysis.claims.common import robust_decision, source_note
from analysis.claims.registry import Outcome, claim
from analysis.needs import Dataset, Needs
from analysis.stats import (
    correlation,
    decide,
    mixed_model,
    model_summary,
    n_for_correlation,
    permutation_correlation,
    wilson_ci,
)
from analysis.stats._common import pingouin_full_precision

SECTION = "4.1 Kleiber's law"
CLAIMED_R = -0.81


def _correlation(data: Dataset, settings, x: str) -> Outcome:
    """Pearson r of ``x`` with the model mean gain, Fisher-z CI, permutation p, leave-one-out robustness."""
    frame = data.frame

    def pearson(rows: pd.DataFrame) -> pd.DataFrame:
        return correlation(rows, x, "gain")

    corr = pearson(frame).iloc[0]
    perm = permutation_correlation(frame, x, "gain", n_resamples=settings.n_resamples, seed=settings.seed).iloc[0]
    decision = decide(
        corr["r"],
        corr["ci_low"],
        corr["ci_high"],
        perm["p_value"],
        direction="less",
        claimed=CLAIMED_R,
        alpha=settings.alpha,
        n_needed=n_for_correlation(CLAIMED_R),
    )
    holds, reason = robust_decision(decision, frame, pearson, alpha=settings.alpha)
    return Outcome(
        statistic=f"Pearson r ({x}, mean gain)",
        value=corr["r"],
        ci_low=corr["ci_low"],
        ci_high=corr["ci_high"],
        p_value=perm["p_value"],
        p_paper_method=corr["p_value"],
        n=len(frame),
        test=f"Pearson r across models (prompt means); {perm['test']}; Fisher-z CI",
        holds=holds,
        note="; ".join([reason, f"parametric p = {corr['p_value']:.3g}", *source_note(data)]),
    )


@claim(
    "kleiber_depth_r",
    section=SECTION,
    statement=("Gain falls with depth across the Pythia family: Pearson r between depth L and the gain."),
    paper_value="-0.81",
    paper_p="0.014",
    paper_test="Pearson correlation, 8 Pythia models",
    kind="correlation",
    needs=Needs("pythia_gains", models=4),
)
def kleiber_depth_r(data: Dataset, settings) -> Outcome:
    """Hypothesis: across the Pythia family the mean gain falls with depth L (r < 0; paper: r = -0.81).

    Unit: model (the mean gain over prompts of each Pythia model).
    Test: Pearson r with its Fisher-z CI; p from a permutation test shuffling the gains across models.
    Rule: holds if the permutation p < alpha with r < 0 and leaving any one model out keeps p < alpha;
    fails if r is significantly positive, or not significant with the stated -0.81 outside the CI;
    inconclusive otherwise.
    """
    return _correlation(data, settings, "n_layers")


@claim(
    "kleiber_rho_r",
    section=SECTION,
    statement=(
        "The same correlation with the head density rho = H / d_head in place of L: the computation "
        "the paper's r = -0.81 actually came from (notebook PFS)."
    ),
    paper_value="-0.81",
    paper_p="0.014",
    paper_test="Pearson correlation, 8 Pythia models",
    kind="correlation",
    needs=Needs("pythia_gains", models=4),
)
def kleiber_rho_r(data: Dataset, settings) -> Outcome:
    """Hypothesis: across the Pythia family the mean gain falls with the head density rho (r < 0).

    Unit: model (the mean gain over prompts of each Pythia model).
    Test: Pearson r with its Fisher-z CI; p from a permutation test shuffling the gains across models.
    Rule: holds if the permutation p < alpha with r < 0 and leaving any one model out keeps p < alpha;
    fails if r is significantly positive, or not significant with the stated -0.81 outside the CI;
    inconclusive otherwise.
    """
    return _correlation(data, settings, "rho")


def _partial(data: Dataset, settings, x: str, covariate: str) -> Outcome:
    """Partial Pearson correlation of ``x`` with the gain controlling for ``covariate`` (pingouin)."""
    frame = data.frame

    def partial(rows: pd.DataFrame) -> pd.DataFrame:
        with pingouin_full_precision():
            result = pingouin.partial_corr(rows, x=x, y="gain", covar=covariate, method="pearson").iloc[0]
        low, high = result["CI95"]
        return pd.DataFrame(
            {
                "statistic": [float(result["r"])],
                "p_value": [float(result["p_val"])],
                "ci_low": [float(low)],
                "ci_high": [float(high)],
            }
        )

    result = partial(frame).iloc[0]
    decision = decide(
        result["statistic"],
        result["ci_low"],
        result["ci_high"],
        result["p_value"],
        direction="less",
        alpha=settings.alpha,
    )
    holds, reason = robust_decision(decision, frame, partial, alpha=settings.alpha)
    both = correlation(frame, "n_layers", "rho").iloc[0]
    return Outcome(
        statistic=f"partial Pearson r ({x}, mean gain | {covariate})",
        value=result["statistic"],
        ci_low=result["ci_low"],
        ci_high=result["ci_high"],
        p_value=result["p_value"],
        n=len(frame),
        ci_level=0.95,
        test=f"partial Pearson correlation across models controlling for {covariate} (pingouin.partial_corr: t test "
        f"on n - 3 df, Fisher-z 95% CI)",
        holds=holds,
        comparable=False,
        note="; ".join(
            [
                reason,
                f"depth and rho correlate at r = {both['r']:.3g} across these models, so their "
                "separate effects are hard to tell apart",
                *source_note(data),
            ]
        ),
    )


@claim(
    "kleiber_partial_depth",
    section=SECTION,
    statement=(
        "Depth, not head density, carries the Kleiber correlation: the partial correlation of depth with the gain, "
        "rho held fixed."
    ),
    paper_value=None,
    paper_test="none (depth and rho are never separated)",
    kind="correlation",
    needs=Needs("pythia_gains", models=5),
)
def kleiber_partial_depth(data: Dataset, settings) -> Outcome:
    """Hypothesis: the gain falls with depth L when rho is held fixed (partial r < 0).

    Unit: model (the mean gain over prompts of each Pythia model).
    Test: partial Pearson correlation of L with the mean gain controlling for rho, t test on n - 3 df.
    Rule: holds if p < alpha with a negative partial r and leaving any one model out keeps p < alpha; fails
    if significantly positive; inconclusive otherwise.
    """
    return _partial(data, settings, "n_layers", "rho")


@claim(
    "kleiber_partial_rho",
    section=SECTION,
    statement=(
        "Head density carries the correlation the paper printed: the partial correlation of rho with the gain, "
        "depth held fixed."
    ),
    paper_value=None,
    paper_test="none (depth and rho are never separated)",
    kind="correlation",
    needs=Needs("pythia_gains", models=5),
)
def kleiber_partial_rho(data: Dataset, settings) -> Outcome:
    """Hypothesis: the gain falls with rho when depth L is held fixed (partial r < 0).

    Unit: model (the mean gain over prompts of each Pythia model).
    Test: partial Pearson correlation of rho with the mean gain controlling for L, t test on n - 3 df.
    Rule: holds if p < alpha with a negative partial r and leaving any one model out keeps p < alpha; fails
    if significantly positive; inconclusive otherwise.
    """
    return _partial(data, settings, "rho", "n_layers")


@claim(
    "kleiber_mixed",
    section=SECTION,
    statement=(
        "Gain falls with depth, estimated from every prompt: a linear mixed model of the per-prompt gain on depth "
        "with a random intercept per model."
    ),
    paper_value=None,
    paper_test="none (a correlation of 8 model means)",
    kind="slope",
    needs=Needs("pythia_prompt_gains", models=4, prompts=2),
)
def kleiber_mixed(data: Dataset, settings) -> Outcome:
    """Hypothesis: the per-prompt gain falls with depth L (slope < 0), prompts nested in models.

    Unit: model (depth varies between models only; prompts are repeated measures).
    Test: linear mixed model gain ~ n_layers, random intercept per model, REML; the Wald statistic of the slope
    on a t distribution with the between-within df of nlme::lme (models - 2), and its t CI.
    Rule: holds if that p < alpha with a negative slope and leaving any one model out keeps p < alpha; fails
    if significantly positive; inconclusive otherwise.
    """
    frame = data.frame

    def fit(rows: pd.DataFrame) -> pd.DataFrame:
        table = mixed_model(rows, "gain ~ n_layers", groups="model", confidence=settings.confidence)
        slope = table[table["term"] == "n_layers"]
        return slope.assign(
            slope=slope["estimate"],
            statistic=slope["estimate"],
            p_value=slope["p_value_t"],
            ci_low=slope["ci_low_t"],
            ci_high=slope["ci_high_t"],
            p_wald_z=slope["p_value"],
        )

    fitted = fit(frame)
    term, term_summary = fitted.iloc[0], fitted.attrs.get("summary", "")
    decision = decide(
        term["slope"], term["ci_low"], term["ci_high"], term["p_value"], direction="less", alpha=settings.alpha
    )
    holds, reason = robust_decision(decision, frame, fit, alpha=settings.alpha)
    by_rho = mixed_model(frame, "gain ~ rho", groups="model", confidence=settings.confidence)
    by_rho = by_rho[by_rho["term"] == "rho"].iloc[0]
    notes = [
        reason,
        f"Wald z p (statsmodels, normal reference) = {term['p_wald_z']:.3g}",
        f"random-intercept variance {term['group_var']:.3g}, residual {term['residual_var']:.3g}",
        f"the same model with rho: slope {by_rho['estimate']:.3g} [{by_rho['ci_low_t']:.3g}, "
        f"{by_rho['ci_high_t']:.3g}], t p = {by_rho['p_value_t']:.3g}",
    ]
    if term["note"]:
        notes.append(f"MixedLM: {term['note']}")
    return Outcome(
        statistic="slope of the gain on depth L (per layer, mixed model)",
        value=term["slope"],
        ci_low=term["ci_low"],
        ci_high=term["ci_high"],
        p_value=term["p_value"],
        n=int(term["n_groups"]),
        test=f"{term['test']}; Wald t on {term['df']:.0f} df (between-within, as nlme::lme)",
        holds=holds,
        comparable=False,
        formula=term["formula"],
        summary=term_summary,
        note="; ".join(notes + source_note(data)),
        data=f"{data.describe()}; {len(frame)} prompt gains",
    )


@claim(
    "kleiber_gmax_bound",
    section=SECTION,
    statement=(
        "No layer's gain exceeds G_max = 10^(1/L), so that G_max^L = 10; equivalently "
        "log10 G = a / L + b with a = 1, b = 0."
    ),
    paper_value=None,
    paper_test="none (the bound is drawn as a curve, never fitted or tested)",
    kind="proportion",
    needs=Needs("block_gains", models=3),
)
def kleiber_gmax_bound(data: Dataset, settings) -> Outcome:
    """Hypothesis: no block's mean gain exceeds G_max = 10^(1/L), and log10 G = a / L + b with a = 1, b = 0.

    Unit: model (its largest mean block gain over blocks 1..L-1, and its mean block gain).
    Test: share of models above the bound with a Wilson CI; F test of a = 1, b = 0 in the OLS of log10
    mean block gain on 1/L over models.
    Rule: fails if any model's block gain exceeds its bound (a bound admits no exception) or the F test
    rejects a = 1, b = 0 at alpha; holds otherwise.
    """
    layers = data.frame.assign(bound=10 ** (1 / data.frame["n_layers"]))
    per_model = layers.groupby("model").agg(
        max_gain=("gain", "max"), bound=("bound", "first"), n_layers=("n_layers", "first")
    )
    above = int((per_model["max_gain"] > per_model["bound"]).sum())
    share = wilson_ci(above, len(per_model), settings.confidence).iloc[0]
    layer_share = (layers["gain"] > layers["bound"]).mean()
    means = layers.groupby("model", as_index=False).agg(gain=("gain", "mean"), n_layers=("n_layers", "first"))
    means["inv_depth"] = 1 / means["n_layers"]
    fit = smf.ols("np.log10(gain) ~ inv_depth", data=means).fit()
    p_law = float(fit.f_test("inv_depth = 1, Intercept = 0").pvalue)
    holds = "fails" if above > 0 or p_law < settings.alpha else "holds"
    worst = (per_model["max_gain"] / per_model["bound"]).idxmax()
    return Outcome(
        statistic="share of models with a block gain above 10^(1/L)",
        value=share["proportion"],
        ci_low=share["ci_low"],
        ci_high=share["ci_high"],
        p_value=p_law,
        n=len(per_model),
        test="count of models whose largest mean block gain (blocks 1..L-1) exceeds 10^(1/L), Wilson CI; "
        "F test of a = 1, b = 0 in the OLS fit log10 G = a/L + b over model means",
        holds=holds,
        comparable=False,
        formula=fit.model.formula,
        summary=model_summary(fit),
        note="; ".join(
            [
                f"{above} of {len(per_model)} models and {layer_share:.0%} of their blocks exceed the bound "
                f"(largest excess: {worst}, {per_model.loc[worst, 'max_gain']:.3f} vs "
                f"{per_model.loc[worst, 'bound']:.3f}); fit a = {fit.params['inv_depth']:.3g}, "
                f"b = {fit.params['Intercept']:.3g}, F-test p = {p_law:.3g}",
                *source_note(data),
            ]
        ),
    )


@claim(
    "kleiber_total_gain",
    section=SECTION,
    statement=("The total gain over the blocks is about 10 (G_max^L = 10): every model's total gain is 10."),
    paper_value="10",
    paper_test="none",
    kind="proportion",
    needs=Needs("total_gains", models=2, prompts=2),
)
def kleiber_total_gain(data: Dataset, settings) -> Outcome:
    """Hypothesis: every model's total gain over the blocks, x_{L-1} / x_0, is 10 (a per-model constant).

    Unit: model (each model's own test over its prompts; instruct twins of models in the data left out).
    Test: per model a one-sample t-test of log10 total gain over prompts against 1; the law (every model at
    10) is rejected by the Holm step-down over models, whose global p is min(1, m min p); the statistic is
    the share of models whose total gain differs from 10 at Holm-adjusted alpha, with a Wilson CI.
    Rule: fails if any model's total gain differs from 10 at Holm-adjusted alpha; holds if every model's 95%
    CI of its total gain lies within a factor sqrt(10) of 10; inconclusive otherwise.
    """
    frame = data.frame.assign(log10_total=np.log10(data.frame["total_gain"]))
    tests = {}
    for model, group in frame.groupby("model"):
        values = group["log10_total"].to_numpy(float)
        test = scipy.stats.ttest_1samp(values, 1.0)
        ci = test.confidence_interval(settings.confidence)
        tests[model] = {
            "mean": values.mean(),
            "p_value": float(test.pvalue),
            "ci_low": float(ci.low),
            "ci_high": float(ci.high),
        }
    p = np.array([t["p_value"] for t in tests.values()])
    m = len(tests)
    order = np.argsort(p)
    holm = np.minimum(1, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    adjusted = dict(zip(np.array(list(tests))[order], holm))
    differ = sorted(model for model, q in adjusted.items() if q < settings.alpha)
    share = wilson_ci(len(differ), m, settings.confidence).iloc[0]
    within = all(t["ci_low"] >= 0.5 and t["ci_high"] <= 1.5 for t in tests.values())
    if differ:
        holds, why = "fails", f"{len(differ)} of {m} models' total gain differs from 10 (Holm-adjusted)"
    elif within:
        holds, why = "holds", "every model's CI lies within a factor sqrt(10) of 10"
    else:
        holds, why = "inconclusive", "no model differs significantly, but some CIs are too wide to tell"
    per_model = ", ".join(
        f"{model} {10 ** t['mean']:.3g} [{10 ** t['ci_low']:.3g}, {10 ** t['ci_high']:.3g}]"
        for model, t in sorted(tests.items(), key=lambda item: item[1]["mean"])
    )
    geo = 10 ** np.mean([t["mean"] for t in tests.values()])
    return Outcome(
        statistic="share of models whose total gain x_{L-1}/x_0 differs from 10 (Holm over models)",
        value=share["proportion"],
        ci_low=share["ci_low"],
        ci_high=share["ci_high"],
        p_value=float(holm.min()),
        n=m,
        test="per model: one-sample t-test of log10 total gain over prompts vs 1; Holm step-down over models "
        "(global p = smallest Holm-adjusted p); Wilson CI of the share",
        holds=holds,
        comparable=False,
        note="; ".join(
            [
                why,
                f"geometric mean over models {geo:.3g} (the mean alone hides the spread)",
                f"per model (geometric mean and 95% CI over prompts): {per_model}",
                *source_note(data),
            ]
        ),
    )
