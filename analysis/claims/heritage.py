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
import scipy.stats

from analysis.claims.common import robust_decision, source_note
from analysis.claims.registry import Outcome, claim
from analysis.needs import Dataset, InsufficientData, Needs
from analysis.sources import HERITAGE_LAB
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
HERITAGE_TERM = 'C(heritage, Treatment("other"))'  # coefficient = EleutherAI - other
COVARIATES = ("n_layers", "log_params")
DECOMPOSITION = {"heritage": ["heritage"], "geometry": ["rho", "n_layers"], "scale": ["log_params"]}
CLAIMED_ORDER = ["heritage", "geometry", "scale"]
# The paper's "EleutherAI 80% dampening vs Meta/OpenAI 100% expansion".
STATED_SHARES = (0.8, 1.0)


def both_groups(minimum: int) -> dict[str, dict[str, int]]:
    """Needs.groups for at least ``minimum`` EleutherAI and ``minimum`` other-lab models."""
    return {"heritage": {group: minimum for group in GROUPS}}


def lineage_permutation(frame: pd.DataFrame, dv: str, settings, alternative: str = "two-sided") -> pd.Series:
    """Permutation test of EleutherAI - other with lineages (lab/family) as the units."""
    return permutation_test(
        frame,
        dv,
        "heritage",
        subject="lineage",
        levels=GROUPS,
        alternative=alternative,
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    ).iloc[0]


def lineage_check(decision: tuple[str, str], lineage: pd.Series, alpha: float) -> tuple[str, str]:
    """Downgrade 'holds' when the lineage-level permutation test can reach ``alpha`` but does not."""
    holds, reason = decision
    n, p = int(lineage["n_units"]), lineage["p_value"]
    if lineage["min_attainable_p"] >= alpha:
        floor = lineage["min_attainable_p"]
        return holds, f"{reason}; with {n} lineages (lab/family) as units p cannot go below {floor:.3g}"
    if holds == "holds" and p >= alpha:
        return (
            "inconclusive",
            f"{reason}; but not significant with the {n} lineages (lab/family) as units (p = {p:.3g})",
        )
    return holds, f"{reason}; with the {n} lineages as units p = {p:.3g}"


def model_list(frame: pd.DataFrame) -> str:
    return ", ".join(f"{r.model} {r.gain:.4f}" for r in frame.sort_values("gain").itertuples())


def model_means(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per model of per-prompt rows: the mean gain and the model's heritage and lineage."""
    return rows.groupby("model", as_index=False).agg(
        gain=("gain", "mean"), heritage=("heritage", "first"), lineage=("lineage", "first"), lab=("lab", "first")
    )


@claim(
    "heritage_dampen_share",
    section=SECTION,
    statement=(
        "80% of EleutherAI models dampen (mean gain < 1), while Meta/OpenAI models expand (100%); tested as: "
        "the models of every other lab expand."
    ),
    paper_value="80%",
    paper_test="shares per lab (no test)",
    kind="proportion",
    needs=Needs("heritage_gains", groups=both_groups(1)),
)
def heritage_dampen_share(data: Dataset, settings) -> Outcome:
    """Hypothesis: about 80% of EleutherAI models dampen (mean gain < 1) and every other lab's model expands.

    Unit: model (its mean gain over prompts, sign strict at 1).
    Test: share of dampening models per lab group, Wilson score intervals.
    Rule: fails if any other-lab model dampens (a universal statement) or EleutherAI's Wilson CI excludes
    0.8; holds if no other-lab model dampens and EleutherAI's Wilson CI lies above 1/2; inconclusive
    otherwise.

    value: EleutherAI's share of dampening models (statcheck reads "80%" as 0.80). Both printed numbers
    are checked: "80%" against EleutherAI's dampening share, "100%" against the other labs' expansion
    share (of "Meta/OpenAI" only Meta is in HRH, and it expands 4/5). Post-LN models (norm_placement
    "post", e.g. opt-350m: every block output is normalised, so its gain is ~1 by construction) are
    reported apart.
    """
    models = data.frame.assign(dampens=data.frame["sign"] == "dampen")
    shares = group_proportions(models, "dampens", "heritage", confidence=settings.confidence).set_index("group")
    eleuther, other = shares.loc[HERITAGE_LAB], shares.loc["other"]
    others = models[models["heritage"] == "other"]
    dampeners = others[others["dampens"]]
    pre_ln = others[others["norm_placement"] != "post"]
    other_pre = wilson_ci(int(pre_ln["dampens"].sum()), len(pre_ln), settings.confidence).iloc[0]
    if len(dampeners):
        holds, why = (
            "fails",
            (
                f"'others 100% expansion' is contradicted: {len(dampeners)} of {len(others)} other-lab "
                f"models dampen ({model_list(dampeners)})"
            ),
        )
    elif eleuther["ci_high"] < STATED_SHARES[0]:
        holds, why = "fails", "EleutherAI's Wilson CI excludes the stated 80%"
    elif eleuther["ci_low"] > 0.5:
        holds, why = "holds", "no other-lab model dampens and most EleutherAI models do (Wilson CI above 1/2)"
    else:
        holds, why = (
            "inconclusive",
            (
                f"no other-lab model dampens, but {int(eleuther['n'])} EleutherAI models cannot "
                "show that most of them dampen"
            ),
        )
    per_lab = group_proportions(models, "dampens", "lab", confidence=settings.confidence)
    labs = ", ".join(f"{r.group} {r.k}/{r.n}" for r in per_lab.itertuples())
    notes = [
        why,
        f"dampening share EleutherAI {eleuther['k']}/{eleuther['n']} [{eleuther['ci_low']:.2f}, "
        f"{eleuther['ci_high']:.2f}], other labs {other['k']}/{other['n']} [{other['ci_low']:.2f}, "
        f"{other['ci_high']:.2f}]; per lab: {labs}",
        f"other labs without post-LN models: {other_pre['k']}/{other_pre['n']} dampen "
        f"[{other_pre['ci_low']:.2f}, {other_pre['ci_high']:.2f}]",
    ]
    near_one = dampeners[(dampeners["gain"] - 1).abs() < 0.005]
    if len(near_one):
        notes.append(
            f"{len(near_one)} of the other-lab dampeners lie within 0.5% of 1, where the sign depends on "
            "fp16 rounding and the convention"
        )
    if "r1_all" in data.extras:
        r1 = data.extras["r1_all"]
        r1 = r1[r1["heritage"] == HERITAGE_LAB]
        notes.append(
            f"adding the other Pythia models of PFS (same R1 convention, 25 prompts): EleutherAI "
            f"{int((r1['sign'] == 'dampen').sum())}/{len(r1)} dampen"
        )
    if "r2" in data.extras:
        r2_labs = ", ".join(
            f"{lab} {int((g['sign'] == 'dampen').sum())}/{len(g)}" for lab, g in data.extras["r2"].groupby("lab")
        )
        notes.append(
            f"labs under R2 (true last block; GUB/G2L/GJP/TWN base models, e.g. OpenAI, absent from HRH) "
            f"dampen: {r2_labs}"
        )
    checks = [reproduces("80%", eleuther["proportion"]), reproduces("100%", 1 - other["proportion"])]
    reproduced = (
        "yes" if all(c[0] == "yes" for c in checks) else "no",
        f"EleutherAI dampening: {checks[0][1]}; other labs' expansion: {checks[1][1]}",
    )
    return Outcome(
        statistic="share of EleutherAI models that dampen",
        value=eleuther["proportion"],
        ci_low=eleuther["ci_low"],
        ci_high=eleuther["ci_high"],
        n=int(eleuther["n"]),
        test="share of models with mean gain < 1 per lab group, Wilson score intervals",
        holds=holds,
        reproduced=reproduced,
        note="; ".join(notes + source_note(data)),
    )


def sign_table(models: pd.DataFrame) -> pd.DataFrame:
    return table_2x2(models, "heritage", "sign", row_order=GROUPS, col_order=["dampen", "expand"])


@claim(
    "heritage_fisher",
    section=SECTION,
    statement=("EleutherAI models dampen and the other labs' models expand: Fisher's exact test, p < 0.001."),
    paper_value="p < 0.001",
    paper_p="p < 0.001",
    paper_test="Fisher's exact test (no such test in the notebooks)",
    kind="p_value",
    needs=Needs("heritage_gains", groups=both_groups(2)),
)
def heritage_fisher(data: Dataset, settings) -> Outcome:
    """Hypothesis: EleutherAI models dampen more often than other labs' models (odds ratio > 1; paper p < 0.001).

    Unit: model (one row of the 2x2 table per model).
    Test: two-sided Fisher exact test on the stored 2x2 table heritage x sign, with the conditional odds ratio
    and its exact CI.
    Rule: holds if p < alpha with odds ratio > 1, robust to leaving any one model out, to leaving out the
    post-LN models and significant with lineages (lab/family) as units where that test can reach alpha;
    fails if significant with odds ratio < 1; inconclusive otherwise.

    Encoding: the paper printed only "p < 0.001", so the printed statistic is the p-value itself:
    ``value`` = ``p_value`` = ``p_paper_method`` = the two-sided Fisher p, compared by statcheck with
    the interval (0, 0.001) that "p < 0.001" stands for (value check) and at alpha = 0.05 (decision
    check). A p has no CI: ci_low/ci_high stay empty; the odds ratio and its CI are in the note.
    """
    models = data.frame.copy()

    def fisher(frame: pd.DataFrame) -> pd.DataFrame:
        return fisher_exact_2x2(sign_table(frame), confidence=settings.confidence)

    test = fisher(models).iloc[0]
    one_sided = fisher_exact_2x2(sign_table(models), alternative="greater").iloc[0]["p_value"]
    decision = decide(
        test["odds_ratio"],
        test["ci_low"],
        test["ci_high"],
        test["p_value"],
        direction="greater",
        null=1.0,
        alpha=settings.alpha,
    )
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
    notes.append(
        f"one-sided (EleutherAI dampens more) p = {one_sided:.3g}; conditional odds ratio "
        f"{test['odds_ratio']:.3g}, exact 95% CI [{test['ci_low']:.3g}, {test['ci_high']:.3g}] (the "
        "minimum-likelihood two-sided p and the central CI need not agree)"
    )
    return Outcome(
        statistic="two-sided Fisher exact p (EleutherAI vs other labs x dampen vs expand)",
        value=test["p_value"],
        p_value=test["p_value"],
        p_paper_method=test["p_value"],
        n=int(test["n"]),
        test="Fisher's exact test (two-sided) on the stored 2x2 table, models as units",
        holds=holds,
        note="; ".join([reason, *notes, *source_note(data)]),
    )


@claim(
    "heritage_fisher_implied",
    section=SECTION,
    statement=(
        "The printed shares and p agree: '80% vs 100%' on the heritage panel's group sizes gives Fisher p < 0.001."
    ),
    paper_value="p < 0.001",
    paper_p="p < 0.001",
    paper_test="Fisher's exact test implied by the printed shares",
    kind="p_value",
    needs=Needs("heritage_gains", groups=both_groups(1)),
    about_the_paper=True,
)
def heritage_fisher_implied(data: Dataset, settings) -> Outcome:
    """Hypothesis: the printed "80% dampening vs 100% expansion", on this panel's group sizes, gives p < 0.001.

    Unit: model (the group sizes of the panel; the shares are the paper's, not the data's).
    Test: two-sided Fisher exact test on the table the printed shares imply: EleutherAI round(0.8 n) dampen of
    n, other labs 0 of m (HRH: 4/5 vs 0/11). No data are tested, so the row has no p-value of its own.
    Rule: holds if the implied p < 0.001 (the printed p is consistent with the printed shares); fails otherwise.
    A statement about the paper's printed numbers: decided on the authors' data only, inconclusive on any other
    source (the p at its group sizes is shown).
    """
    counts = data.frame.drop_duplicates("model")["heritage"].value_counts()
    n_eleuther, n_other = int(counts.get(HERITAGE_LAB, 0)), int(counts.get("other", 0))
    dampen = int(round(STATED_SHARES[0] * n_eleuther))
    table = pd.DataFrame(
        [[dampen, n_eleuther - dampen], [round((1 - STATED_SHARES[1]) * n_other), round(STATED_SHARES[1] * n_other)]],
        index=GROUPS,
        columns=["dampen", "expand"],
    )
    test = fisher_exact_2x2(table).iloc[0]
    holds = "holds" if test["p_value"] < 0.001 else "fails"
    observed = sign_table(data.frame)
    as_printed = scipy.stats.fisher_exact(table.to_numpy()).pvalue
    largest_other = next(
        (
            m
            for m in range(n_other, 200)
            if scipy.stats.fisher_exact([[dampen, n_eleuther - dampen], [0, m]]).pvalue < 0.001
        ),
        None,
    )
    return Outcome(
        statistic="two-sided Fisher p of the table implied by '80% vs 100%' at this panel's group sizes",
        value=as_printed,
        n=n_eleuther + n_other,
        holds=holds,
        comparable=True,
        p_paper_method=as_printed,
        test="Fisher's exact test (two-sided) on the implied table (no data tested)",
        note="; ".join(
            [
                f"implied table {test['table']}: p = {as_printed:.3g} "
                f"({'below' if holds == 'holds' else 'not below'} the printed 0.001)",
                f"the observed table is {observed.loc[HERITAGE_LAB, 'dampen']}/{n_eleuther} vs "
                f"{observed.loc['other', 'dampen']}/{n_other} (see heritage_fisher)",
                f"with {dampen}/{n_eleuther} EleutherAI dampeners, p < 0.001 needs at least "
                f"{largest_other} other-lab models that all expand"
                if largest_other
                else "no number of other-lab models reaches p < 0.001 with these EleutherAI counts",
            ]
        ),
    )


@claim(
    "heritage_lab_means",
    section=SECTION,
    statement=(
        "Mean gain by lab (Fig. 2, +-1 SE): EleutherAI's mean lies below 1 (drawn at about 0.99), the other "
        "labs' above."
    ),
    paper_value="0.99",
    paper_test="none (means and SE bars in Fig. 2)",
    kind="ratio",
    needs=Needs("heritage_gains", groups={"heritage": {HERITAGE_LAB: 2}}),
)
def heritage_lab_means(data: Dataset, settings) -> Outcome:
    """Hypothesis: the mean gain of the EleutherAI models lies below 1 (Fig. 2: about 0.99).

    Unit: model (its mean gain over prompts).
    Test: bootstrap CI over models of the mean of model means; two-sided one-sample t-test of the model
    means against 1.
    Rule: holds if p < alpha with the mean below 1, the bootstrap CI below 1 and robust to leaving any one
    model out; fails if significantly above 1; inconclusive otherwise.

    value: the unweighted mean of EleutherAI's model means; SE per lab = sample SD / sqrt(n). paper_value
    "0.99" is the EleutherAI point as drawn in Fig. 2 (no number is printed; the other labs' points and SE
    bars match HRH).
    """
    models = data.frame
    eleuther = models[models["heritage"] == HERITAGE_LAB]
    boot = bootstrap_ci(
        eleuther,
        "gain",
        cluster="model",
        confidence=settings.confidence,
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    ).iloc[0]

    def t_test(frame: pd.DataFrame) -> pd.DataFrame:
        return one_sample(frame, "gain", mu=1.0, confidence=settings.confidence)

    test = t_test(eleuther).iloc[0]
    decision = decide(
        boot["statistic"],
        boot["ci_low"],
        boot["ci_high"],
        test["p_value"],
        direction="less",
        null=1.0,
        alpha=settings.alpha,
    )
    holds, reason = robust_decision(decision, eleuther, t_test, alpha=settings.alpha)
    if holds == "holds" and boot["ci_high"] >= 1:
        holds, reason = "inconclusive", f"{reason}; but the bootstrap CI reaches 1"
    labs = models.groupby("lab")["gain"].agg(["mean", "std", "size"]).sort_values("mean")
    per_lab = ", ".join(
        f"{lab} {r['mean']:.3f}"
        + (f" +- {r['std'] / np.sqrt(r['size']):.3f}" if r["size"] > 1 else "")
        + f" (n = {int(r['size'])})"
        for lab, r in labs.iterrows()
    )
    notes = [reason, f"mean +- SE per lab: {per_lab}"]
    if (models["heritage"].value_counts().reindex(GROUPS, fill_value=0) >= 2).all():
        contrast = bootstrap_contrast(
            models,
            "gain",
            "heritage",
            cluster="model",
            levels=GROUPS,
            confidence=settings.confidence,
            n_resamples=settings.n_resamples,
            seed=settings.seed,
        ).iloc[0]
        notes.append(
            f"EleutherAI - other = {contrast['statistic']:.3f} [{contrast['ci_low']:.3f}, "
            f"{contrast['ci_high']:.3f}] (bootstrap within groups)"
        )
    notes.append(f"t-test of the model means vs 1: t = {test['statistic']:.3g}, Cohen's d = {test['cohen_d']:.2f}")
    return Outcome(
        statistic="mean gain of the EleutherAI models (unweighted mean of model means)",
        value=boot["statistic"],
        ci_low=boot["ci_low"],
        ci_high=boot["ci_high"],
        p_value=test["p_value"],
        n=len(eleuther),
        test=f"{boot['test']}; two-sided one-sample t-test of the model means vs 1",
        holds=holds,
        note="; ".join(notes + source_note(data)),
    )


@claim(
    "heritage_mixed",
    section=SECTION,
    statement=("The lab sets the gain: EleutherAI's lineages have a lower gain than the other labs' lineages."),
    paper_value=None,
    paper_test="none (lab means and a Fisher test)",
    kind="difference",
    needs=Needs("heritage_prompt_gains", groups=both_groups(2)),
)
def heritage_mixed(data: Dataset, settings) -> Outcome:
    """Hypothesis: heritage sets the gain: EleutherAI's lineages (lab/family) have a lower gain than other labs'.

    Unit: family (a lineage, lab/family: models of one family share architecture and training recipe, so they
    are not independent evidence about a lab).
    Test: exact one-sided permutation test shuffling heritage across lineages of the difference of mean lineage
    gains (lineage gain = mean of its models' mean gains); bootstrap CI over lineages within heritage groups.
    Rule: holds if p < alpha with EleutherAI lower and leaving any one lineage out keeps p < alpha; fails if
    EleutherAI is significantly higher; inconclusive otherwise, including when the lineages are too few for
    p to reach alpha.

    The mixed models of the per-prompt gain are their own rows (heritage_mixed_adjusted,
    heritage_mixed_unadjusted); this row is the headline because it does not count a family's models as
    independent labs.
    """
    models = model_means(data.frame)
    lineages = models.groupby("lineage", as_index=False).agg(
        gain=("gain", "mean"), heritage=("heritage", "first"), n_models=("model", "size")
    )

    def permutation(frame: pd.DataFrame, alternative: str = "less") -> pd.DataFrame:
        return permutation_test(
            frame,
            "gain",
            "heritage",
            subject="lineage",
            levels=GROUPS,
            alternative=alternative,
            n_resamples=settings.n_resamples,
            seed=settings.seed,
        )

    perm = permutation(lineages).iloc[0]
    notes = []
    if min(lineages["heritage"].value_counts().reindex(GROUPS, fill_value=0)) >= 2:
        boot = bootstrap_contrast(
            lineages,
            "gain",
            "heritage",
            levels=GROUPS,
            confidence=settings.confidence,
            n_resamples=settings.n_resamples,
            seed=settings.seed,
        ).iloc[0]
        ci = (boot["ci_low"], boot["ci_high"])
    else:
        ci = (np.nan, np.nan)
        notes.append("one lineage in a heritage group: no bootstrap CI")
    decision = decide(perm["statistic"], *ci, perm["p_value"], direction="less", alpha=settings.alpha)
    if perm["min_attainable_p"] >= settings.alpha:
        holds, reason = (
            "inconclusive",
            (f"with {len(lineages)} lineages p cannot go below {perm['min_attainable_p']:.3g}: {decision[1]}"),
        )
    else:
        holds, reason = robust_decision(decision, lineages, permutation, unit="lineage", alpha=settings.alpha)
    by_model = permutation_test(
        models,
        "gain",
        "heritage",
        subject="model",
        levels=GROUPS,
        alternative="less",
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    ).iloc[0]
    notes += [
        "lineages: "
        + ", ".join(
            f"{r.lineage} {r.gain:.3f} ({r.n_models} model{'s' if r.n_models > 1 else ''})"
            for r in lineages.sort_values("gain").itertuples()
        ),
        f"with models as units (the family's models counted as independent): p = {by_model['p_value']:.3g}",
    ]
    if "hrh" in data.extras:
        hrh = data.extras["hrh"]
        hrh_lineages = hrh.groupby("lineage", as_index=False).agg(gain=("gain", "mean"), heritage=("heritage", "first"))
        hrh_perm = permutation(hrh_lineages).iloc[0]
        notes.append(
            f"on HRH's R1 model means ({hrh['model'].nunique()} models, {len(hrh_lineages)} lineages): "
            f"EleutherAI - other = {hrh_perm['statistic']:.3g}, one-sided p = {hrh_perm['p_value']:.3g}"
        )
    return Outcome(
        statistic="difference of mean lineage gains, EleutherAI - other",
        value=perm["statistic"],
        ci_low=ci[0],
        ci_high=ci[1],
        p_value=perm["p_value"],
        n=len(lineages),
        test=f"{perm['test']} (one-sided: EleutherAI lower); bootstrap percentile CI over lineages within groups",
        holds=holds,
        comparable=False,
        note="; ".join([reason, *notes, *source_note(data)]),
        data=f"{data.describe()}; lineage = lab/family",
    )


def _mixed_row(data: Dataset, settings, covariates: list[str], dropped: list[str]) -> Outcome:
    """The heritage coefficient of one mixed model of the per-prompt gain (random intercept per model)."""
    rows = data.frame
    formula = " + ".join([f"gain ~ {HERITAGE_TERM}", *covariates])
    fit = mixed_model(rows, formula, groups="model", confidence=settings.confidence)
    term = fit[fit["term"].str.startswith(HERITAGE_TERM)].iloc[0]
    holds, reason = decide(
        term["estimate"], term["ci_low_t"], term["ci_high_t"], term["p_value_t"], direction="less", alpha=settings.alpha
    )
    notes = [
        reason,
        f"Wald z p (statsmodels, normal reference, anti-conservative with {int(term['n_groups'])} "
        f"models) = {term['p_value']:.3g}",
        f"random-intercept variance {term['group_var']:.3g}, residual {term['residual_var']:.3g}",
        "heritage_mixed tests the lab with lineages as units",
    ]
    if dropped:
        notes.append(f"covariates left out: {'; '.join(dropped)}")
    if term["note"]:
        notes.append(f"MixedLM: {term['note']}")
    if not covariates:
        naive = ols_model(rows, f"gain ~ {HERITAGE_TERM}", confidence=settings.confidence)
        naive = naive[naive["term"].str.startswith(HERITAGE_TERM)].iloc[0]
        notes.append(
            f"naive prompt-level OLS: {naive['estimate']:.3g}, p = {naive['p_value']:.3g} with "
            f"{int(naive['n'])} prompts treated as independent"
        )
        if naive["p_value"] < settings.alpha <= term["p_value_t"]:
            notes.append(
                "the naive OLS is significant only through pseudo-replication: prompts are repeated "
                "measures of a model, and with a random intercept per model the difference is not significant"
            )
    return Outcome(
        statistic="heritage coefficient EleutherAI - other (mixed model, gain units)",
        value=term["estimate"],
        ci_low=term["ci_low_t"],
        ci_high=term["ci_high_t"],
        p_value=term["p_value_t"],
        n=int(term["n_groups"]),
        test=f"{term['test']}; Wald t test and CI on {term['df']:.0f} df (between-within, as nlme::lme)",
        holds=holds,
        comparable=False,
        formula=term["formula"],
        summary=fit.attrs.get("summary", ""),
        note="; ".join(notes + source_note(data)),
        data=f"{data.describe()}; {len(rows)} prompt gains",
    )


@claim(
    "heritage_mixed_adjusted",
    section=SECTION,
    statement=(
        "Heritage determines the gain beyond depth and size: the heritage coefficient of a mixed model of the "
        "per-prompt gain adjusted for depth and log parameters."
    ),
    paper_value=None,
    paper_test="none (lab means and a Fisher test)",
    kind="difference",
    needs=Needs("heritage_prompt_gains", groups=both_groups(2), prompts=2),
)
def heritage_mixed_adjusted(data: Dataset, settings) -> Outcome:
    """Hypothesis: EleutherAI models have a lower per-prompt gain than other labs' at equal depth and size.

    Unit: model (the random intercept's groups; prompts are repeated measures within a model).
    Test: linear mixed model gain ~ heritage + n_layers + log10 params, random intercept per model, REML; the
    Wald statistic of the heritage coefficient on a t distribution with the between-within df of nlme::lme
    (models - 1 - between terms), and its t CI. A covariate unknown for some model or the same for every
    model is left out and named.
    Rule: holds if that p < alpha with a negative coefficient; fails if significantly positive; inconclusive
    otherwise.
    """
    per_model = data.frame.drop_duplicates("model")
    covariates, dropped = [], []
    for column in COVARIATES:
        unknown = sorted(per_model.loc[per_model[column].isna(), "model"])
        if unknown:
            dropped.append(f"{column} (unknown for {', '.join(unknown)})")
        elif per_model[column].nunique() < 2:
            dropped.append(f"{column} (the same for every model)")
        else:
            covariates.append(column)
    if len(covariates) >= per_model["model"].nunique() - 2:
        dropped += [f"{c} (too few models for it)" for c in covariates]
        covariates = []
    return _mixed_row(data, settings, covariates, dropped)


@claim(
    "heritage_mixed_unadjusted",
    section=SECTION,
    statement=(
        "EleutherAI models have a lower gain than other labs' models: the heritage coefficient of a mixed model of the "
        "per-prompt gain with a random intercept per model, without covariates."
    ),
    paper_value=None,
    paper_test="none (lab means and a Fisher test)",
    kind="difference",
    needs=Needs("heritage_prompt_gains", groups=both_groups(2), prompts=2),
)
def heritage_mixed_unadjusted(data: Dataset, settings) -> Outcome:
    """Hypothesis: EleutherAI models have a lower per-prompt gain than other labs' models.

    Unit: model (the random intercept's groups; prompts are repeated measures within a model).
    Test: linear mixed model gain ~ heritage, random intercept per model, REML; the Wald statistic of the
    heritage coefficient on a t distribution with the between-within df of nlme::lme (models - 2), and its t
    CI (the naive prompt-level OLS alongside, in the note).
    Rule: holds if that p < alpha with a negative coefficient; fails if significantly positive; inconclusive
    otherwise.
    """
    return _mixed_row(data, settings, [], [])


@claim(
    "heritage_geometry_scale",
    section=SECTION,
    statement=(
        "Heritage explains more of the gain than geometry (rho, depth), and geometry more than scale "
        "(parameters): Heritage > Geometry > Scale."
    ),
    paper_value=None,
    paper_test="none (ranking stated)",
    kind="proportion",
    needs=Needs("heritage_gains", models=8, groups=both_groups(2)),
)
def heritage_geometry_scale(data: Dataset, settings) -> Outcome:
    """Hypothesis: heritage explains more of the gain than geometry (rho, depth), and geometry more than scale.

    Unit: model (its mean gain over prompts).
    Test: LMG (Shapley) shares of R^2 of an OLS of the model means, bootstrap over models.
    Rule: holds if the observed order is heritage > geometry > scale and is kept in >= 95% of bootstrap
    resamples; fails if another order is kept in >= 95%; inconclusive otherwise.

    Models without a parameter count are left out and named.
    """
    models = data.frame
    unknown = sorted(models.loc[models["log_params"].isna(), "model"])
    models = models[models["log_params"].notna()]
    if len(models) < 8 or (models["heritage"].value_counts().reindex(GROUPS, fill_value=0) < 2).any():
        raise InsufficientData(
            f"{len(models)} models with a parameter count (without one: {', '.join(unknown)}); "
            "the decomposition needs 8, 2 per heritage group"
        )

    def decompose(frame: pd.DataFrame) -> pd.DataFrame:
        return variance_decomposition(
            frame,
            "gain",
            DECOMPOSITION,
            confidence=settings.confidence,
            n_resamples=settings.n_resamples,
            seed=settings.seed,
        ).set_index("group")

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
    if "r1_all" in data.extras:
        wider = data.extras["r1_all"]
        more = decompose(wider[wider["log_params"].notna()])
        notes.append(
            f"with the other Pythia models of PFS ({wider['log_params'].notna().sum()} models): order "
            f"{' > '.join(more['rank'].sort_values().index)}, kept in {more['order_agreement'].iloc[0]:.1%}"
        )
    heritage = shares.loc["heritage"]
    return Outcome(
        statistic="heritage's share of R^2 (LMG) in an OLS of the model means",
        value=heritage["r2_share"],
        ci_low=heritage["ci_low"],
        ci_high=heritage["ci_high"],
        n=len(models),
        test=f"{heritage['test']}; groups: heritage (EleutherAI vs other), geometry (rho, n_layers), scale "
        "(log10 n_params)",
        holds=holds,
        comparable=False,
        note="; ".join(notes + source_note(data)),
        formula=heritage["formula"],
    )
