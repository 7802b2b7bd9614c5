"""Section 4.1, the "Kleiber" law: gain falls with depth, G_max = 10^(1/L), total gain ~ 10.

Published data: the Pythia sweep (notebook PFS, convention R1 = the penultimate block's gain,
fp16, 25 PYTHIA25 prompts) and, for the total gain, the block-hook runs (R2 total_amplification:
GUB, G2L, GJP, TWN). Our data: the true last block's gain (canonical view), one prompt set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from analysis.claims.common import describe, pythia_family, require, robust_decision
from analysis.claims.registry import Outcome, claim
from analysis.sources import MeasuredSource, PublishedSource, Source
from analysis.stats import (
    correlation,
    decide,
    n_for_correlation,
    one_sample,
    permutation_correlation,
    wilson_ci,
)

R2_NOTEBOOKS = ("GUB", "G2L", "GJP", "TWN")


def pythia_gains(src: Source) -> pd.DataFrame:
    """One row per Pythia model: mean gain over prompts, with n_layers and rho."""
    if isinstance(src, PublishedSource):
        rows = src.get("gain_penultimate_block", notebook="PFS", aggregate="value")
        gains = rows.groupby("model", as_index=False)["value"].mean().rename(columns={"value": "gain"})
        gains = src.with_facts(gains)
    else:
        gains = src.model_gains(models=pythia_family(src.models)["model"])
    require(len(gains) >= 4, f"needs at least 4 Pythia-family models, has {len(gains)}")
    return gains


def _depth_or_rho(src: Source, settings, x: str, claimed: float) -> Outcome:
    data = pythia_gains(src)
    seed, n_resamples = settings.seed, settings.n_resamples

    def pearson(frame):
        return correlation(frame, x, "gain")

    corr = pearson(data).iloc[0]
    perm = permutation_correlation(data, x, "gain", n_resamples=n_resamples, seed=seed).iloc[0]
    decision = decide(corr["r"], corr["ci_low"], corr["ci_high"], perm["p_value"], direction="less",
                      claimed=claimed, alpha=settings.alpha, n_needed=n_for_correlation(claimed))
    holds, reason = robust_decision(decision, data, pearson, alpha=settings.alpha)
    convention = "R1 penultimate-block gain (PFS, fp16)" if src.name == "published" else \
        "true last-block gain, last token (fp32)"
    return Outcome(
        statistic=f"Pearson r ({x}, mean gain)", value=corr["r"], ci_low=corr["ci_low"], ci_high=corr["ci_high"],
        p_value=perm["p_value"], p_paper_method=corr["p_value"], n=len(data),
        test=f"Pearson r across models (prompt means); {perm['test']}; Fisher-z CI",
        holds=holds, note=f"{reason}; parametric p = {corr['p_value']:.3g}",
        data=describe(data, f"{convention}; "),
    )


@claim("kleiber_depth_r", section="4.1 Kleiber's law", statement=(
    "Gain falls with depth across the Pythia family: Pearson r between depth L and the gain."),
    paper_value="-0.81", paper_p="0.014", paper_test="Pearson correlation, 8 Pythia models",
    needs="mean gain per model for at least 4 Pythia models, with L")
def kleiber_depth_r(src: Source, settings) -> Outcome:
    """Hypothesis: across the Pythia family the mean gain falls with depth L (r < 0; paper: r = -0.81).

    Unit: model (the mean gain over prompts of each Pythia model).
    Test: Pearson r with its Fisher-z CI; p from a permutation test shuffling the gains across models.
    Rule: holds if the permutation p < alpha with r < 0 and leaving any one model out keeps p < alpha;
    fails if r is significantly positive, or not significant with the stated -0.81 outside the CI;
    inconclusive otherwise.
    """
    return _depth_or_rho(src, settings, "n_layers", -0.81)


@claim("kleiber_rho_r", section="4.1 Kleiber's law", statement=(
    "The same correlation with the head density rho = H / d_head in place of L: the computation "
    "the paper's r = -0.81 actually came from (notebook PFS)."),
    paper_value="-0.81", paper_p="0.014", paper_test="Pearson correlation, 8 Pythia models",
    needs="mean gain per model for at least 4 Pythia models, with rho")
def kleiber_rho_r(src: Source, settings) -> Outcome:
    """Hypothesis: across the Pythia family the mean gain falls with the head density rho (r < 0).

    Unit: model (the mean gain over prompts of each Pythia model).
    Test: Pearson r with its Fisher-z CI; p from a permutation test shuffling the gains across models.
    Rule: holds if the permutation p < alpha with r < 0 and leaving any one model out keeps p < alpha;
    fails if r is significantly positive, or not significant with the stated -0.81 outside the CI;
    inconclusive otherwise.
    """
    return _depth_or_rho(src, settings, "rho", -0.81)


def block_layer_gains(src: Source) -> pd.DataFrame:
    """Per model and block b >= 1: the mean over prompts of the block's gain x_b / x_{b-1}.

    Block 0 (the step from the embedding) is left out; published R1 vectors stop at block L-2
    (their last element mixes the final norm in).
    """
    if isinstance(src, PublishedSource):
        rows = src.get("layer_gain", notebook="PFS", aggregate="mean")
        rows = rows[rows["layer"] >= 1].rename(columns={"value": "gain"})
        return src.with_facts(rows[["model", "layer", "gain"]])
    models = list(src.models["model"])
    prompt_set = src.prompt_set_for(models)
    require(prompt_set is not None, "no prompt set measured for every model")
    residual = src.tables["residual"]
    rows = residual[(residual["site"] == "block") & (residual["layer"] >= 1) & (residual["prompt_set"] == prompt_set)]
    means = rows.groupby(["model", "layer"], as_index=False)["gain_last"].mean().rename(columns={"gain_last": "gain"})
    return means.merge(src.models, on="model")


@claim("kleiber_gmax_bound", section="4.1 Kleiber's law", statement=(
    "No layer's gain exceeds G_max = 10^(1/L), so that G_max^L = 10; equivalently "
    "log10 G = a / L + b with a = 1, b = 0."),
    paper_value=None, paper_test="none (the bound is drawn as a curve, never fitted or tested)",
    needs="per-layer gains of several models of different depth")
def kleiber_gmax_bound(src: Source, settings) -> Outcome:
    """Hypothesis: no block's mean gain exceeds G_max = 10^(1/L), and log10 G = a / L + b with a = 1, b = 0.

    Unit: model (its largest mean block gain over blocks 1..L-1, and its mean block gain).
    Test: share of models above the bound with a Wilson CI; F test of a = 1, b = 0 in the OLS of log10
    mean block gain on 1/L over models.
    Rule: fails if any model's block gain exceeds its bound (a bound admits no exception) or the F test
    rejects a = 1, b = 0 at alpha; holds otherwise.
    """
    layers = block_layer_gains(src)
    require(layers["model"].nunique() >= 3, "needs per-layer gains of at least 3 models")
    layers["bound"] = 10 ** (1 / layers["n_layers"])
    per_model = layers.groupby("model").agg(max_gain=("gain", "max"), bound=("bound", "first"),
                                            n_layers=("n_layers", "first"))
    above = int((per_model["max_gain"] > per_model["bound"]).sum())
    share = wilson_ci(above, len(per_model), settings.confidence).iloc[0]
    layer_share = (layers["gain"] > layers["bound"]).mean()
    means = layers.groupby("model", as_index=False).agg(gain=("gain", "mean"), n_layers=("n_layers", "first"))
    means["inv_depth"] = 1 / means["n_layers"]
    fit = smf.ols("np.log10(gain) ~ inv_depth", data=means).fit()
    law = fit.f_test("inv_depth = 1, Intercept = 0")
    p_law = float(law.pvalue)
    holds = "fails" if above > 0 else ("holds" if p_law >= settings.alpha else "fails")
    worst = (per_model["max_gain"] / per_model["bound"]).idxmax()
    return Outcome(
        statistic="share of models with a block gain above 10^(1/L)", value=share["proportion"],
        ci_low=share["ci_low"], ci_high=share["ci_high"], p_value=p_law, n=len(per_model),
        test="count of models whose largest mean block gain (blocks 1..L-1) exceeds 10^(1/L), Wilson CI; "
             "F test of a = 1, b = 0 in the OLS fit log10 G = a/L + b over model means",
        holds=holds, comparable=False,
        note=(f"{above} of {len(per_model)} models and {layer_share:.0%} of their blocks exceed the bound "
              f"(largest excess: {worst}, {per_model.loc[worst, 'max_gain']:.3f} vs "
              f"{per_model.loc[worst, 'bound']:.3f}); fit a = {fit.params['inv_depth']:.3g}, "
              f"b = {fit.params['Intercept']:.3g}, F-test p = {p_law:.3g}"),
        data=describe(layers, "mean block gains over prompts; "), formula=fit.model.formula,
    )


def total_gains(src: Source) -> pd.DataFrame:
    """Per model and prompt: total gain over the blocks x_{L-1} / x_0 (embedding step and final norm excluded)."""
    if isinstance(src, PublishedSource):
        rows = pd.concat([src.get("total_amplification", notebook=nb, aggregate="value") for nb in R2_NOTEBOOKS])
        # a model measured by two notebooks (e.g. GUB fp16 and TWN bf16) counts once: its first notebook
        first = rows.groupby("model")["notebook"].transform("first")
        rows = rows[rows["notebook"] == first].rename(columns={"value": "total_gain"})
        return src.with_facts(rows[["model", "prompt_id", "notebook", "total_gain"]])
    conventions = src.conventions
    rows = conventions[(conventions["convention"] == "R2") & (conventions["quantity"] == "total_amp")]
    prompt_set = src.prompt_set_for(src.models["model"])
    rows = rows[rows["prompt_set"] == prompt_set].rename(columns={"value": "total_gain"})
    return rows[["model", "prompt_id", "total_gain"]].merge(src.models, on="model")


@claim("kleiber_total_gain", section="4.1 Kleiber's law", statement=(
    "The total gain over the blocks is about 10 (G_max^L = 10)."),
    paper_value="10", paper_test="none", needs="total gain x_{L-1} / x_0 per prompt for at least 3 models")
def kleiber_total_gain(src: Source, settings) -> Outcome:
    """Hypothesis: the total gain over the blocks, x_{L-1} / x_0, is about 10.

    Unit: model (the mean over prompts of log10 total gain).
    Test: one-sample t-test of the model means of log10 total gain against 1, with its t CI.
    Rule: fails if p < alpha; holds if the CI of the geometric mean lies within a factor sqrt(10) of 10;
    inconclusive otherwise.
    """
    data = total_gains(src)
    require(data["model"].nunique() >= 3, f"needs at least 3 models, has {data['model'].nunique()}")
    data["log10_total"] = np.log10(data["total_gain"])
    test = one_sample(data, "log10_total", mu=1.0, unit="model", confidence=settings.confidence).iloc[0]
    per_model = data.groupby("model")["log10_total"].mean()
    geo, low, high = 10 ** per_model.mean(), 10 ** test["ci_low"], 10 ** test["ci_high"]
    if test["p_value"] < settings.alpha:
        holds, why = "fails", "the geometric mean differs significantly from 10"
    elif low >= 10 ** 0.5 and high <= 10 ** 1.5:
        holds, why = "holds", "the 95% CI lies within a factor sqrt(10) of 10"
    else:
        holds, why = "inconclusive", "the CI is too wide to tell"
    spread = ", ".join(f"{m} {10 ** v:.3g}" for m, v in per_model.sort_values().items())
    return Outcome(
        statistic="geometric mean total gain x_{L-1}/x_0 across models", value=geo, ci_low=low, ci_high=high,
        p_value=test["p_value"], n=len(per_model), test=f"{test['test']} on log10 of model means vs log10(10)",
        holds=holds, comparable=False, note=f"{why}; per model: {spread}", data=describe(data, "R2 total amplification; "),
    )
