"""Section 4.2, heritage dominance: the lab a model comes from, not its geometry, sets its gain.

Published data: the authors' heritage data are the 16-model hunt (notebook HRH: convention R1 =
the penultimate block's gain, fp16, 5 HUNT5 prompts, per-model means and population SDs only;
5 labs). HRH stores no per-prompt gains, so the mixed model uses the only per-prompt gains the
authors stored across labs: R2 (the true last block's gain, last token) on the 25 GU25 prompts
of GUB, TWN, G2L and GJP. Our data: the canonical last-block gain (last token). On the controls
(random weights) a lab difference could only come from the architecture: they test whether
"heritage" exists before any training.

"Heritage" is EleutherAI vs every other lab (registry lab facts, never model names); a "lineage"
is lab/family: models of one family share architecture and training recipe, so they are not
independent evidence about a lab, and the lineage is the unit of the most conservative tests.
An instruct model whose base model is in the same data is left out (it is not a new model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.claims.common import describe, drop_twins, model_gains, require, robust_decision
from analysis.claims.registry import Outcome, claim
from analysis.sources import HERITAGE_LAB, PublishedSource, Source
from analysis.stats import (
    bootstrap_ci,
    bootstrap_contrast,
    decide,
    fisher_exact_2x2,
    group_proportions,
    mixed_model,
    ols_model,
    one_sample,
    permutation_test,
    reproduces,
    table_2x2,
    variance_decomposition,
    wilson_ci,
)

SECTION = "4.2 Heritage dominance"
GROUPS = [HERITAGE_LAB, "other"]
R2_NOTEBOOKS = ("GUB", "TWN", "G2L", "GJP")  # a model in two of them counts once, from the first
HERITAGE_TERM = 'C(heritage, Treatment("other"))'  # coefficient = EleutherAI - other
COVARIATES = ("n_layers", "log_params")
DECOMPOSITION = {"heritage": ["heritage"], "geometry": ["rho", "n_layers"], "scale": ["log_params"]}
CLAIMED_ORDER = ["heritage", "geometry", "scale"]
CONTROLS_NOTE = ("controls have random weights: a lab difference here would be architectural, present "
                 "before training")


def heritage_gains(src: Source) -> pd.DataFrame:
    """One row per model: mean gain, sign ("dampen" if < 1) and facts. Published: HRH's 16 models."""
    gains = model_gains(src, "R1")
    if isinstance(src, PublishedSource):
        gains = gains[gains["notebook"] == "HRH"]
    return drop_twins(gains)


def heritage_prompt_gains(src: Source) -> pd.DataFrame:
    """One row per (model, prompt): the gain and facts. Published: R2 per-prompt gains (GU25)."""
    if isinstance(src, PublishedSource):
        rows = pd.concat([src.get("gain_last_block", notebook=nb, aggregate="value") for nb in R2_NOTEBOOKS],
                         ignore_index=True)
        rows = rows[rows["notebook"] == rows.groupby("model")["notebook"].transform("first")]
        rows = src.with_facts(rows.rename(columns={"value": "gain"})[["model", "prompt_id", "notebook", "gain"]])
    else:
        rows = src.prompt_gains()
    return drop_twins(rows)


def convention(src: Source, published: str) -> str:
    """What the gain is, for the data column (ends with "; ")."""
    if src.name == "published":
        return published
    text = "canonical true last-block gain, last token"
    return f"{text}, random weights; " if src.name == "controls" else f"{text}; "


def require_groups(models: pd.DataFrame, minimum: int, what: str) -> None:
    """Stop unless there are ``minimum`` EleutherAI and ``minimum`` other-lab models; name what there is."""
    per_model = models.drop_duplicates("model")
    counts = per_model["heritage"].value_counts()
    labs = "; ".join(f"{lab}: {', '.join(sorted(group['model']))}" for lab, group in per_model.groupby("lab"))
    require(all(counts.get(g, 0) >= minimum for g in GROUPS),
            f"{what} needs at least {minimum} {HERITAGE_LAB} and {minimum} other-lab model(s); has "
            f"{counts.get(HERITAGE_LAB, 0)} and {counts.get('other', 0)} ({labs or 'no models'})")


def with_lineage(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(lineage=frame["lab"] + "/" + frame["family"])


def lineage_permutation(frame: pd.DataFrame, dv: str, settings) -> pd.Series:
    """Permutation test of EleutherAI - other with lineages (lab/family) as the units."""
    return permutation_test(with_lineage(frame), dv, "heritage", subject="lineage", levels=GROUPS,
                            n_resamples=settings.n_resamples, seed=settings.seed).iloc[0]


def lineage_check(decision: tuple[str, str], lineage: pd.Series, alpha: float) -> tuple[str, str]:
    """Downgrade 'holds' when the lineage-level permutation test can reach ``alpha`` but does not."""
    holds, reason = decision
    n, p = int(lineage["n_units"]), lineage["p_value"]
    if lineage["min_attainable_p"] >= alpha:
        floor = lineage["min_attainable_p"]
        return holds, f"{reason}; with {n} lineages (lab/family) as units p cannot go below {floor:.3g}"
    if holds == "holds" and p >= alpha:
        return "inconclusive", f"{reason}; but not significant with the {n} lineages (lab/family) as units " \
                               f"(p = {p:.3g})"
    return holds, f"{reason}; with the {n} lineages as units p = {p:.3g}"


def model_list(frame: pd.DataFrame) -> str:
    return ", ".join(f"{r.model} {r.gain:.4f}" for r in frame.sort_values("gain").itertuples())


@claim("heritage_dampen_share", section=SECTION, statement=(
    "80% of EleutherAI models dampen (mean gain < 1), while Meta/OpenAI models expand (100%); tested as: "
    "the models of every other lab expand."),
    paper_value="80%", paper_test="shares per lab (no test)",
    needs="mean gain per model for EleutherAI and other-lab models")
def heritage_dampen_share(src: Source, settings) -> Outcome:
    """Hypothesis: about 80% of EleutherAI models dampen (mean gain < 1) and every other lab's model expands.
    Unit: model (its mean gain over prompts, sign strict at 1).
    Test: share of dampening models per lab group, Wilson score intervals.
    Rule: fails if any other-lab model dampens (a universal statement) or EleutherAI's Wilson CI excludes
    0.8; holds if no other-lab model dampens and EleutherAI's Wilson CI lies above 1/2; inconclusive
    otherwise.

    value: EleutherAI's share of dampening models (statcheck reads "80%" as 0.80); Wilson CIs.
    Both printed numbers are checked: "80%" against EleutherAI's dampening share, "100%" against
    the other labs' expansion share (of "Meta/OpenAI" only Meta is in HRH, and it expands 4/5).

    holds: fails when any other-lab model dampens (the "100% expansion" half is a universal
    statement: one counterexample contradicts it) or when the Wilson CI of EleutherAI's share
    excludes 0.8; holds when no other-lab model dampens and EleutherAI's share is above 1/2 with 95%
    confidence; inconclusive otherwise. Post-LN models (norm_placement "post", e.g. opt-350m:
    every block output is normalised, so its gain is ~1 by construction) are reported apart.
    """
    models = heritage_gains(src)
    require_groups(models, 1, "a share per lab group")
    models["dampens"] = models["sign"] == "dampen"
    shares = group_proportions(models, "dampens", "heritage", confidence=settings.confidence).set_index("group")
    eleuther, other = shares.loc[HERITAGE_LAB], shares.loc["other"]
    others = models[models["heritage"] == "other"]
    dampeners = others[others["dampens"]]
    pre_ln = others[others["norm_placement"] != "post"]
    other_pre = wilson_ci(int(pre_ln["dampens"].sum()), len(pre_ln), settings.confidence).iloc[0]

    if len(dampeners):
        holds, why = "fails", (f"'others 100% expansion' is contradicted: {len(dampeners)} of {len(others)} other-lab "
                               f"models dampen ({model_list(dampeners)})")
    elif eleuther["ci_high"] < 0.8:
        holds, why = "fails", "EleutherAI's Wilson CI excludes the stated 80%"
    elif eleuther["ci_low"] > 0.5:
        holds, why = "holds", "no other-lab model dampens and most EleutherAI models do (Wilson CI above 1/2)"
    else:
        holds, why = "inconclusive", (f"no other-lab model dampens, but {int(eleuther['n'])} EleutherAI models cannot "
                                      "show that most of them dampen")
    per_lab = group_proportions(models, "dampens", "lab", confidence=settings.confidence)
    labs = ", ".join(f"{r.group} {r.k}/{r.n}" for r in per_lab.itertuples())
    notes = [why, f"dampening share EleutherAI {eleuther['k']}/{eleuther['n']} [{eleuther['ci_low']:.2f}, "
             f"{eleuther['ci_high']:.2f}], other labs {other['k']}/{other['n']} [{other['ci_low']:.2f}, "
             f"{other['ci_high']:.2f}]; per lab: {labs}",
             f"other labs without post-LN models: {other_pre['k']}/{other_pre['n']} dampen "
             f"[{other_pre['ci_low']:.2f}, {other_pre['ci_high']:.2f}]"]
    near_one = dampeners[(dampeners["gain"] - 1).abs() < 0.005]
    if len(near_one):
        notes.append(f"{len(near_one)} of the other-lab dampeners lie within 0.5% of 1, where the sign depends on "
                     "fp16 rounding and the convention")
    if src.name == "published":
        eleuther_r1 = model_gains(src, "R1")
        eleuther_r1 = eleuther_r1[eleuther_r1["heritage"] == HERITAGE_LAB]
        notes.append(f"adding the other Pythia models of PFS (same R1 convention, 25 prompts): EleutherAI "
                     f"{int((eleuther_r1['sign'] == 'dampen').sum())}/{len(eleuther_r1)} dampen")
        r2 = drop_twins(model_gains(src, "R2"))
        r2_labs = ", ".join(f"{lab} {int((g['sign'] == 'dampen').sum())}/{len(g)}" for lab, g in r2.groupby("lab"))
        notes.append(f"labs under R2 (true last block; GUB/G2L/GJP/TWN base models, e.g. OpenAI, absent from HRH) "
                     f"dampen: {r2_labs}")
    if src.name == "controls":
        notes.append(CONTROLS_NOTE)
    checks = [reproduces("80%", eleuther["proportion"]), reproduces("100%", 1 - other["proportion"])]
    reproduced = ("yes" if all(c[0] == "yes" for c in checks) else "no",
                  f"EleutherAI dampening: {checks[0][1]}; other labs' expansion: {checks[1][1]}")
    return Outcome(
        statistic="share of EleutherAI models that dampen", value=eleuther["proportion"],
        ci_low=eleuther["ci_low"], ci_high=eleuther["ci_high"], n=int(eleuther["n"]),
        test="share of models with mean gain < 1 per lab group, Wilson score intervals", holds=holds,
        reproduced=reproduced if src.name == "published" else None, note="; ".join(notes),
        data=describe(models, convention(src, "HRH (the paper's heritage data): R1 penultimate-block gain, "
                                               "fp16, 5 prompts; ")),
    )


def sign_table(models: pd.DataFrame) -> pd.DataFrame:
    return table_2x2(models, "heritage", "sign", row_order=GROUPS, col_order=["dampen", "expand"])


@claim("heritage_fisher", section=SECTION, statement=(
    "EleutherAI models dampen and the other labs' models expand: Fisher's exact test, p < 0.001."),
    paper_value="p < 0.001", paper_p="p < 0.001", paper_test="Fisher's exact test (no such test in the notebooks)",
    needs="mean gain per model for at least 2 EleutherAI and 2 other-lab models")
def heritage_fisher(src: Source, settings) -> Outcome:
    """Hypothesis: EleutherAI models dampen more often than other labs' models (odds ratio > 1; paper p < 0.001).
    Unit: model (one row of the 2x2 table per model).
    Test: two-sided Fisher exact test on the stored 2x2 table heritage x sign, with the conditional odds ratio
    and its exact CI.
    Rule: holds if p < alpha with odds ratio > 1, robust to leaving any one model out, to leaving out the
    post-LN models and significant with lineages (lab/family) as units where that test can reach alpha;
    fails if significant with odds ratio < 1; inconclusive otherwise.

    Fisher's exact test on the explicit 2x2 table heritage (EleutherAI, other) x sign (dampen, expand).

    Encoding: the paper printed only "p < 0.001", so the printed statistic is the p-value itself:
    ``value`` = ``p_value`` = ``p_paper_method`` = the two-sided Fisher p, compared by statcheck with
    the interval (0, 0.001) that "p < 0.001" stands for (value check) and at alpha = 0.05 (decision
    check). A p has no CI: ci_low/ci_high stay empty; the odds ratio and its CI are in the note.
    Sensitivity: post-LN models left out, leave-one-model-out, and a permutation test of the
    dampening share with lineages (lab/family) as units.
    """
    models = heritage_gains(src)
    require_groups(models, 2, "Fisher's test")

    def fisher(frame: pd.DataFrame) -> pd.DataFrame:
        return fisher_exact_2x2(sign_table(frame), confidence=settings.confidence)

    test = fisher(models).iloc[0]
    one_sided = fisher_exact_2x2(sign_table(models), alternative="greater").iloc[0]["p_value"]
    decision = decide(test["odds_ratio"], test["ci_low"], test["ci_high"], test["p_value"], direction="greater",
                      null=1.0, alpha=settings.alpha)
    holds, reason = robust_decision(decision, models, fisher, alpha=settings.alpha)
    pre_ln = models[models["norm_placement"] != "post"]
    post_ln = sorted(set(models["model"]) - set(pre_ln["model"]))
    notes = [f"table {test['table']}"]
    if post_ln and (pre_ln["heritage"].value_counts() >= 2).sum() == 2:
        without = fisher(pre_ln).iloc[0]
        notes.append(f"without post-LN {', '.join(post_ln)}: {without['table']}, p = {without['p_value']:.3g}")
        if holds == "holds" and without["p_value"] >= settings.alpha:
            holds, reason = "inconclusive", f"{reason}; not significant without the post-LN models"
    models["dampens"] = (models["sign"] == "dampen").astype(float)
    holds, reason = lineage_check((holds, reason), lineage_permutation(models, "dampens", settings), settings.alpha)
    notes.append(f"one-sided (EleutherAI dampens more) p = {one_sided:.3g}; conditional odds ratio "
                 f"{test['odds_ratio']:.3g}, exact 95% CI [{test['ci_low']:.3g}, {test['ci_high']:.3g}] (the "
                 "minimum-likelihood two-sided p and the central CI need not agree)")
    if src.name == "controls":
        notes.append(CONTROLS_NOTE)
    return Outcome(
        statistic="two-sided Fisher exact p (EleutherAI vs other labs x dampen vs expand)",
        value=test["p_value"], p_value=test["p_value"],
        p_paper_method=test["p_value"], n=int(test["n"]),
        test="Fisher's exact test (two-sided) on the stored 2x2 table, models as units",
        holds=holds, note=f"{reason}; " + "; ".join(notes),
        data=describe(models, convention(src, "HRH: R1 penultimate-block gain, fp16, 5 prompts; ")),
    )


@claim("heritage_lab_means", section=SECTION, statement=(
    "Mean gain by lab (Fig. 2, +-1 SE): EleutherAI's mean lies below 1 (drawn at about 0.99), the other "
    "labs' above."),
    paper_value="0.99", paper_test="none (means and SE bars in Fig. 2)",
    needs="mean gain per model for at least 2 EleutherAI models (and other labs for the contrast)")
def heritage_lab_means(src: Source, settings) -> Outcome:
    """Hypothesis: the mean gain of the EleutherAI models lies below 1 (Fig. 2: about 0.99).
    Unit: model (its mean gain over prompts).
    Test: bootstrap CI over models of the mean of model means; two-sided one-sample t-test of the model
    means against 1.
    Rule: holds if p < alpha with the mean below 1, the bootstrap CI below 1 and robust to leaving any one
    model out; fails if significantly above 1; inconclusive otherwise.

    value: the unweighted mean of EleutherAI's model means; SE per lab = sample SD / sqrt(n).

    paper_value "0.99" is the EleutherAI point as drawn in Fig. 2 (no number is printed; the other
    labs' points and SE bars match HRH). CI: bootstrap over models; p: two-sided t-test of the
    model means against 1. holds: significantly below 1 (and the bootstrap CI below 1), robust to
    leaving one model out.
    """
    models = heritage_gains(src)
    eleuther = models[models["heritage"] == HERITAGE_LAB]
    require(len(eleuther) >= 2, f"needs at least 2 {HERITAGE_LAB} models, has {len(eleuther)}")
    boot = bootstrap_ci(eleuther, "gain", cluster="model", confidence=settings.confidence,
                        n_resamples=settings.n_resamples, seed=settings.seed).iloc[0]

    def t_test(frame: pd.DataFrame) -> pd.DataFrame:
        return one_sample(frame, "gain", mu=1.0, confidence=settings.confidence)

    test = t_test(eleuther).iloc[0]
    decision = decide(boot["statistic"], boot["ci_low"], boot["ci_high"], test["p_value"], direction="less",
                      null=1.0, alpha=settings.alpha)
    holds, reason = robust_decision(decision, eleuther, t_test, alpha=settings.alpha)
    if holds == "holds" and boot["ci_high"] >= 1:
        holds, reason = "inconclusive", f"{reason}; but the bootstrap CI reaches 1"
    labs = models.groupby("lab")["gain"].agg(["mean", "std", "size"]).sort_values("mean")
    per_lab = ", ".join(f"{lab} {r['mean']:.3f}" + (f" +- {r['std'] / np.sqrt(r['size']):.3f}" if r["size"] > 1 else "")
                        + f" (n = {int(r['size'])})" for lab, r in labs.iterrows())
    notes = [reason, f"mean +- SE per lab: {per_lab}"]
    if models["heritage"].nunique() == 2 and (models["heritage"].value_counts() >= 2).all():
        contrast = bootstrap_contrast(models, "gain", "heritage", cluster="model", levels=GROUPS,
                                      confidence=settings.confidence, n_resamples=settings.n_resamples,
                                      seed=settings.seed).iloc[0]
        notes.append(f"EleutherAI - other = {contrast['statistic']:.3f} [{contrast['ci_low']:.3f}, "
                     f"{contrast['ci_high']:.3f}] (bootstrap within groups)")
    notes.append(f"t-test of the model means vs 1: t = {test['statistic']:.3g}, Cohen's d = {test['cohen_d']:.2f}")
    if src.name == "controls":
        notes.append(CONTROLS_NOTE)
    return Outcome(
        statistic="mean gain of the EleutherAI models (unweighted mean of model means)", value=boot["statistic"],
        ci_low=boot["ci_low"], ci_high=boot["ci_high"], p_value=test["p_value"], n=len(eleuther),
        test=f"{boot['test']}; two-sided one-sample t-test of the model means vs 1",
        holds=holds, note="; ".join(notes),
        data=describe(models, convention(src, "HRH: R1 penultimate-block gain, fp16, 5 prompts; ")),
    )


@claim("heritage_mixed", section=SECTION, statement=(
    "Heritage determines the gain: EleutherAI models have a lower gain than other labs' models, beyond "
    "depth and size."),
    paper_value=None, paper_test="none (lab means and a Fisher test)",
    needs="per-prompt gains of at least 2 EleutherAI and 2 other-lab models")
def heritage_mixed(src: Source, settings) -> Outcome:
    """Hypothesis: heritage sets the gain: EleutherAI models have a lower gain than other labs' models.
    Unit: model (prompts are repeated measures within a model).
    Test: linear mixed model of the per-prompt gain with a random intercept per model (estimate and Wald
    CI of the heritage coefficient); p from a permutation test shuffling heritage across models.
    Rule: holds if the permutation p < alpha with a negative coefficient, robust to leaving any one model out
    and significant with lineages as units where that test can reach alpha; fails if significant with a
    positive coefficient; inconclusive otherwise.

    Linear mixed model (random intercept per model, REML) of the per-prompt gain on heritage,
    depth and log10 parameters; covariates unknown for some model (e.g. n_params of gpt-j-6b) or
    constant are left out and named. value: the heritage coefficient (EleutherAI - other, gain
    units). p: permutation test shuffling heritage across models (difference of model means);
    the naive prompt-level OLS is reported alongside to show what pseudo-replication does.
    Published: R2 per-prompt gains (GUB/TWN/G2L/GJP, GU25): the only per-prompt gains across labs.
    Heritage is constant within a family, so labels cannot be shuffled within family strata; the
    conservative version shuffles them across lineages (lab/family) instead.
    """
    rows = heritage_prompt_gains(src)
    require_groups(rows, 2, "the mixed model")
    per_model = rows.drop_duplicates("model")
    covariates, dropped = [], []
    for column in COVARIATES:
        missing = sorted(per_model.loc[per_model[column].isna(), "model"])
        if missing:
            dropped.append(f"{column} (unknown for {', '.join(missing)})")
        elif per_model[column].nunique() < 2:
            dropped.append(f"{column} (the same for every model)")
        else:
            covariates.append(column)
    formula = " + ".join([f"gain ~ {HERITAGE_TERM}", *covariates])
    fit = mixed_model(rows, formula, groups="model", confidence=settings.confidence)
    term = fit[fit["term"].str.startswith(HERITAGE_TERM)].iloc[0]

    def permutation(frame: pd.DataFrame) -> pd.DataFrame:
        return permutation_test(frame, "gain", "heritage", subject="model", levels=GROUPS,
                                n_resamples=settings.n_resamples, seed=settings.seed)

    perm = permutation(rows).iloc[0]
    decision = decide(term["estimate"], term["ci_low"], term["ci_high"], perm["p_value"], direction="less",
                      alpha=settings.alpha)
    holds, reason = robust_decision(decision, rows, permutation, alpha=settings.alpha)
    holds, reason = lineage_check((holds, reason), lineage_permutation(rows, "gain", settings), settings.alpha)
    naive = ols_model(rows, f"gain ~ {HERITAGE_TERM}", confidence=settings.confidence)
    naive = naive[naive["term"].str.startswith(HERITAGE_TERM)].iloc[0]
    notes = [reason,
             f"permutation across models: EleutherAI - other = {perm['mean_difference']:.3g} "
             f"({perm['n_a']} vs {perm['n_b']} models, {perm['n_relabellings']} relabellings)",
             f"naive prompt-level OLS: {naive['estimate']:.3g}, p = {naive['p_value']:.3g} with {int(naive['n'])} "
             "prompts treated as independent"]
    if naive["p_value"] < settings.alpha <= perm["p_value"]:
        notes.append("the naive OLS is significant only through pseudo-replication: prompts are repeated "
                     "measures of a model, and with models as units the difference is not significant")
    if dropped:
        notes.append(f"covariates left out: {'; '.join(dropped)}")
    notes.append(f"random-intercept variance {term['group_var']:.3g}, residual {term['residual_var']:.3g}")
    if term["note"]:
        notes.append(f"MixedLM: {term['note']}")
    if src.name == "controls":
        notes.append(CONTROLS_NOTE)
    published = "R2 true last-block gain, last token, GU25 prompts (GUB/TWN/G2L/GJP; HRH stores no per-prompt gains); "
    return Outcome(
        statistic="heritage coefficient EleutherAI - other (mixed model, gain units)", value=term["estimate"],
        ci_low=term["ci_low"], ci_high=term["ci_high"], p_value=perm["p_value"], n=int(term["n_groups"]),
        test=f"{term['test']} (Wald CI); {perm['test']}", holds=holds, comparable=False, note="; ".join(notes),
        data=describe(rows, f"{convention(src, published)}{len(rows)} prompt gains of "), formula=term["formula"],
    )


@claim("heritage_geometry_scale", section=SECTION, statement=(
    "Heritage explains more of the gain than geometry (rho, depth), and geometry more than scale "
    "(parameters): Heritage > Geometry > Scale."),
    paper_value=None, paper_test="none (ranking stated)",
    needs="mean gain, lab, rho, depth and parameter count of at least 8 models, 2 per lab group")
def heritage_geometry_scale(src: Source, settings) -> Outcome:
    """Hypothesis: heritage explains more of the gain than geometry (rho, depth), and geometry more than scale.
    Unit: model (its mean gain over prompts).
    Test: LMG (Shapley) shares of R^2 of an OLS of the model means, bootstrap over models.
    Rule: holds if the observed order is heritage > geometry > scale and is kept in >= 95% of bootstrap
    resamples; fails if another order is kept in >= 95%; inconclusive otherwise.

    LMG (Shapley) shares of the R^2 of an OLS of the model means over heritage, geometry (rho,
    n_layers) and scale (log10 parameters); models without a parameter count are left out.

    value: heritage's share of R^2 with its bootstrap CI over models. holds: the observed order is
    heritage > geometry > scale and is kept in >= 95% of bootstrap resamples; fails: another order
    kept in >= 95%; inconclusive otherwise.
    """
    models = heritage_gains(src)
    unknown = sorted(models.loc[models["log_params"].isna(), "model"])
    models = models[models["log_params"].notna()]
    require_groups(models, 2, "the decomposition")
    require(len(models) >= 8, f"the decomposition needs at least 8 models with a parameter count, has {len(models)}")

    def decompose(frame: pd.DataFrame) -> pd.DataFrame:
        return variance_decomposition(frame, "gain", DECOMPOSITION, confidence=settings.confidence,
                                      n_resamples=settings.n_resamples, seed=settings.seed).set_index("group")

    shares = decompose(models)
    order = list(shares["rank"].sort_values().index)
    agreement = shares["order_agreement"].iloc[0]
    observed = " > ".join(order)
    if agreement < 0.95:
        holds, why = "inconclusive", f"the observed order {observed} is kept in only {agreement:.1%} of resamples"
    elif order == CLAIMED_ORDER:
        holds, why = "holds", f"the order {observed} is kept in {agreement:.1%} of bootstrap resamples"
    else:
        holds, why = "fails", f"the order is {observed}, kept in {agreement:.1%} of bootstrap resamples"
    detail = ", ".join(f"{g} {r['r2_share']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" for g, r in shares.iterrows())
    notes = [why, f"R^2 = {shares['r2_full'].iloc[0]:.3f} split as {detail}"]
    if unknown:
        notes.append(f"left out (no parameter count): {', '.join(unknown)}")
    if src.name == "published":
        wider = model_gains(src, "R1")
        wider = wider[wider["log_params"].notna()]
        more = decompose(wider)
        notes.append(f"with the other Pythia models of PFS ({len(wider)} models): order "
                     f"{' > '.join(more['rank'].sort_values().index)}, kept in {more['order_agreement'].iloc[0]:.1%}")
    if src.name == "controls":
        notes.append(CONTROLS_NOTE)
    heritage = shares.loc["heritage"]
    return Outcome(
        statistic="heritage's share of R^2 (LMG) in an OLS of the model means", value=heritage["r2_share"],
        ci_low=heritage["ci_low"], ci_high=heritage["ci_high"], n=len(models),
        test=f"{heritage['test']}; groups: heritage (EleutherAI vs other), geometry (rho, n_layers), scale "
             "(log10 n_params)", holds=holds, comparable=False, note="; ".join(notes),
        data=describe(models, convention(src, "HRH: R1 penultimate-block gain, fp16, 5 prompts; ")),
        formula=heritage["formula"],
    )
