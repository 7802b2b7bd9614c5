"""Section 4.3, dimensional crowding: models with a high head density rho = H / d_head dampen.

The rule tested is the notebooks' H25: predict "dampen" when rho >= 0.2, observed "dampen" when
the mean gain is < 1 (strict). Published data: every model with an R1 gain (the penultimate
block's gain, "excluding the final LayerNorm"): HRH's 16 models (fp16, 5 prompts), the other 7
Pythia models of PFS (fp16, 25 prompts) and CRG (fp32, 3 prompts); the pair claim also uses the
R2 per-prompt gains (true last block) of GUB and GJP. Our data: the canonical last-block gain.
rho comes from the registry (H / d_head, as the notebooks computed it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from analysis.claims.common import describe, drop_twins, model_gains, require, robust_decision
from analysis.claims.registry import Outcome, claim
from analysis.sources import PublishedSource, Source
from analysis.stats import (
    auc,
    bootstrap_ci,
    decide,
    one_sample,
    paired,
    reproduces,
    rounding_interval,
    threshold_estimate,
    wilson_ci,
)

SECTION = "4.3 Dimensional crowding"
RHO_CRIT = 0.2
PAIR = {"pythia-6.9b": "less", "gpt-j-6b": "greater"}  # rho 0.25 dampens, rho 0.0625 expands
PAIR_PROMPTS = {"pythia-6.9b": "GUB", "gpt-j-6b": "GJP"}  # published per-prompt R2 gains
PAPER_RANGE = "0.15-0.20"


def predict(rho: pd.Series) -> pd.Series:
    return np.where(rho >= RHO_CRIT, "dampen", "expand")


def rule_table(src: Source) -> pd.DataFrame:
    """Per model: gain, observed sign, predicted sign and whether the rule got it right."""
    models = drop_twins(model_gains(src, "R1"))
    models["predicted"] = predict(models["rho"])
    models["correct"] = models["predicted"] == models["sign"]
    return models


def gain_label(src: Source) -> str:
    if src.name == "published":
        return "R1 penultimate-block gain (HRH, then PFS, then CRG); "
    return "canonical true last-block gain" + (", random weights; " if src.name == "controls" else "; ")


def accuracy_test(frame: pd.DataFrame) -> pd.DataFrame:
    """Rule accuracy and the one-sided exact binomial test against 50% (for leave-one-out)."""
    k, n = int(frame["correct"].sum()), len(frame)
    p = scipy.stats.binomtest(k, n, 0.5, alternative="greater").pvalue
    return pd.DataFrame({"statistic": [k / n], "p_value": [p]})


def share(frame: pd.DataFrame) -> str:
    return f"{int(frame['correct'].sum())}/{len(frame)}"


def t_from_summary(mean: float, sd_population: float, n: int, alternative: str) -> float:
    """One-sample t-test p of mean = 1 from a stored mean and population SD (ddof = 0) of n prompts."""
    t = (mean - 1) / (sd_population / np.sqrt(n - 1))
    return float(scipy.stats.t.sf(t, n - 1) if alternative == "greater" else scipy.stats.t.cdf(t, n - 1))


def pair_rows(src: Source) -> pd.DataFrame:
    """Per-prompt gains of the pair: published R2 (GUB for Pythia-6.9B, GJP for GPT-J-6B), else ours."""
    if isinstance(src, PublishedSource):
        rows = pd.concat([src.get("gain_last_block", notebook=nb, aggregate="value", model=model)
                          for model, nb in PAIR_PROMPTS.items()])
        return rows.rename(columns={"value": "gain"})[["model", "prompt_id", "notebook", "gain"]]
    names = src.named(PAIR)
    missing = sorted(set(PAIR) - set(names))
    require(not missing, f"needs {' and '.join(PAIR)}; missing {', '.join(missing)} (not in this source's panel)")
    rows = src.prompt_gains(models=list(names.values()))
    require(rows["model"].nunique() == 2, f"needs per-prompt gains of {' and '.join(PAIR)} on one prompt set")
    return rows.assign(notebook=None, model=rows["model"].map({m: r for r, m in names.items()}))


def summary_signs(src: PublishedSource) -> tuple[list[str], bool]:
    """The pair under the stored R1 summaries (CRG fp32 3 prompts, HRH fp16 5 prompts): sign and
    one-sided t from mean and population SD; and whether every sign agrees with the claim."""
    lines, agree = [], True
    for notebook in ("CRG", "HRH"):
        parts = []
        for model, alternative in PAIR.items():
            mean = src.get("gain_penultimate_block", notebook, "mean", model=model).iloc[0]
            sd = src.get("gain_penultimate_block", notebook, "sd_population", model=model)["value"].iloc[0]
            p = t_from_summary(mean["value"], sd, int(mean["n_prompts"]), alternative)
            agree &= (mean["value"] < 1) == (alternative == "less")
            parts.append(f"{model} {mean['value']:.4f} (one-sided p = {p:.2g})")
        lines.append(f"{notebook} R1: {', '.join(parts)}")
    return lines, agree


@claim("crowding_pair", section=SECTION, statement=(
    "Dimensional crowding: Pythia-6.9B (rho = 0.25) dampens while GPT-J-6B (rho = 0.0625) expands."),
    paper_value=None, paper_test="none (two gains; CRG, R1 fp32, 3 prompts: 0.987 vs 1.133)",
    needs="per-prompt gains of pythia-6.9b and gpt-j-6b")
def crowding_pair(src: Source, settings) -> Outcome:
    """Hypothesis: Pythia-6.9B (rho 0.25) dampens (gain < 1) while GPT-J-6B (rho 0.0625) expands (gain > 1).
    Unit: prompt (the prompts run through each of the two models).
    Test: one-sided one-sample t-tests of each model's per-prompt gains against 1 (Pythia: less, GPT-J:
    greater), p = the larger of the two (intersection-union test); paired t CI of the difference.
    Rule: holds if both one-sided tests are significant at alpha; fails if either model's mean gain is on
    the other side of 1; inconclusive otherwise.

    Per model a one-sided t-test of the per-prompt gains vs 1 (Pythia: less, GPT-J: greater);
    both must hold, so p = the larger of the two (intersection-union test). value: the paired
    difference Pythia - GPT-J over the shared prompts, with its t CI. Published: R2 per-prompt
    (GUB fp16, GJP bf16, both GU25); the stored R1 summaries (CRG, HRH) are checked for the sign.
    """
    rows = pair_rows(src)
    tests = {model: one_sample(rows[rows["model"] == model], "gain", mu=1.0, alternative=alternative,
                               confidence=settings.confidence).iloc[0] for model, alternative in PAIR.items()}
    p_both = max(t["p_value"] for t in tests.values())
    wrong = [m for m, t in tests.items() if (t["mean"] < 1) != (PAIR[m] == "less")]
    difference = paired(rows, "gain", within="model", subject="prompt_id", order=list(PAIR),
                        confidence=settings.confidence).iloc[0]
    if p_both < settings.alpha:
        holds, why = "holds", "Pythia-6.9B dampens and GPT-J-6B expands, both significantly over prompts"
    elif wrong:
        holds, why = "fails", f"{', '.join(wrong)} is on the other side of 1"
    else:
        holds, why = "inconclusive", "the signs are as claimed but not both significant"
    lines = [f"{m} {t['mean']:.4f} (one-sided p = {t['p_value']:.2g}, d = {t['cohen_d']:.2f}, n = {t['n']})"
             for m, t in tests.items()]
    label = "R2 per prompt" if src.name == "published" else "canonical per prompt"
    notes = [why, f"{label}: {', '.join(lines)}"]
    reproduced = None
    if isinstance(src, PublishedSource):
        summaries, agree = summary_signs(src)
        notes += summaries
        agree &= not wrong
        reproduced = ("yes" if agree else "no",
                      f"the claimed signs (Pythia-6.9B < 1 < GPT-J-6B) {'hold' if agree else 'do not all hold'} "
                      f"under CRG R1, HRH R1 and GUB/GJP R2")
    notes.append("two models differ in far more than rho (family, attention form, d_head, depth): the pair "
                 "illustrates the rule but cannot attribute the difference to rho (see crowding_rule)")
    return Outcome(
        statistic="paired difference of mean gains, Pythia-6.9B - GPT-J-6B", value=difference["mean_difference"],
        ci_low=difference["ci_low"], ci_high=difference["ci_high"], p_value=p_both, n=int(difference["n"]),
        test="one-sided one-sample t-tests vs 1 per model (Pythia: less, GPT-J: greater), p = max "
             "(intersection-union); paired t CI of the difference over prompts",
        holds=holds, comparable=False, reproduced=reproduced, note="; ".join(notes),
        data=f"{'R2 true last-block gain, GU25 (GUB fp16, GJP bf16)' if src.name == 'published' else label}; "
             f"{int(difference['n'])} prompts x 2 models",
    )


@claim("crowding_rule", section=SECTION, statement=(
    "The rule 'rho >= 0.2 => dampen' classifies models correctly (validated with 100% accuracy)."),
    paper_value="100%", paper_test="accuracy (CRG: 2 models; HRH: 16 models, 43.75%)",
    needs="mean gain and rho of at least 4 models")
def crowding_rule(src: Source, settings) -> Outcome:
    """Hypothesis: the rule "rho >= 0.2 => dampen" classifies models better than chance (paper: 100% accuracy).
    Unit: model (its mean gain over prompts, sign strict at 1).
    Test: accuracy with a Wilson CI; exact one-sided binomial test of accuracy > 50%.
    Rule: holds if p < alpha and robust to leaving any one model out; fails if not significant and the CI
    excludes the stated 100% (or significantly below chance); inconclusive otherwise.

    value: the rule's accuracy over every model with a gain (published: all 23 R1 models;
    "100%" is the accuracy the paper reports for the rule, CRG's 2 models). Wilson CI; p: exact
    one-sided binomial test of accuracy > 50%. holds: significantly better than chance (robust to
    leaving a model out); fails: not, and the CI excludes the stated 100%.
    """
    models = rule_table(src)
    require(len(models) >= 4, f"needs a gain and rho for at least 4 models, has {describe(models)}")
    k, n = int(models["correct"].sum()), len(models)
    ci = wilson_ci(k, n, settings.confidence).iloc[0]
    test = accuracy_test(models).iloc[0]
    decision = decide(k / n, ci["ci_low"], ci["ci_high"], test["p_value"], direction="greater", null=0.5,
                      claimed=1.0, alpha=settings.alpha)
    holds, reason = robust_decision(decision, models, accuracy_test, alpha=settings.alpha)
    majority = models["sign"].value_counts()
    wrong = models[~models["correct"]]
    notes = [reason, f"always predicting '{majority.idxmax()}' scores {majority.max()}/{n}",
             f"dampen predicted {int((models['predicted'] == 'dampen').sum())}, observed "
             f"{int((models['sign'] == 'dampen').sum())}",
             f"misclassified: {', '.join(f'{r.model} (rho {r.rho:.3g}, {r.gain:.4f})' for r in wrong.itertuples())}"]
    if isinstance(src, PublishedSource):
        hrh = models[models["notebook"] == "HRH"]
        notes.insert(1, f"HRH's 16 models {share(hrh)}; the other PFS Pythia models "
                        f"{share(models[models['notebook'] == 'PFS'])}")
        r2 = drop_twins(model_gains(src, "R2"))
        r2["correct"] = predict(r2["rho"]) == r2["sign"]
        notes.append(f"under R2 (true last block; GUB/G2L/GJP base models) {share(r2)}")
    return Outcome(
        statistic="accuracy of 'rho >= 0.2 => dampen'", value=k / n, ci_low=ci["ci_low"], ci_high=ci["ci_high"],
        p_value=test["p_value"], n=n,
        test="accuracy over models, Wilson CI; exact binomial test vs 50% (one-sided: greater)",
        holds=holds, note="; ".join(notes), data=describe(models, gain_label(src)),
    )


@claim("crowding_threshold", section=SECTION, statement=(
    "A critical head density rho_crit of about 0.15-0.20 separates dampening from expanding models."),
    paper_value=PAPER_RANGE, paper_test="none (the code uses the fixed threshold 0.2; no estimation)",
    needs="mean gain and rho of at least 2 dampening and 2 expanding models")
def crowding_threshold(src: Source, settings) -> Outcome:
    """Hypothesis: a critical head density rho_crit of about 0.15-0.20 separates dampening from expanding models.
    Unit: model (its rho and the sign of its mean gain).
    Test: the cut on rho maximising Youden's J with a bootstrap CI over models; one-sided Mann-Whitney test
    of AUC > 1/2 for rho predicting dampening.
    Rule: fails if neither the bootstrap CI nor the equivalent cuts meet 0.15-0.20; holds if they meet it and
    the AUC is significant; inconclusive otherwise.

    value: the cut c on rho maximising Youden's J (sensitivity + specificity - 1; accuracy ties
    with 'everyone expands' when the classes are unbalanced), with a bootstrap CI over models.
    The printed range is compared with the interval of cuts that classify exactly like c (any
    of them is "the" estimate): reproduces if the two overlap. p: one-sided Mann-Whitney test of
    AUC > 1/2 (do dampeners have higher rho at all?). holds: AUC significant and the bootstrap CI,
    widened to those equivalent cuts, meets 0.15-0.20; fails: it misses the range; inconclusive
    otherwise.
    """
    models = rule_table(src)
    counts = models["sign"].value_counts()
    require(counts.get("dampen", 0) >= 2 and counts.get("expand", 0) >= 2,
            f"needs at least 2 dampening and 2 expanding models; has {counts.get('dampen', 0)} dampening "
            f"and {counts.get('expand', 0)} expanding")
    options = dict(positive="dampen", direction="greater", confidence=settings.confidence,
                   n_resamples=settings.n_resamples, seed=settings.seed)
    cut = threshold_estimate(models, "rho", "sign", criterion="youden", **options).iloc[0]
    by_accuracy = threshold_estimate(models, "rho", "sign", criterion="accuracy", **options).iloc[0]
    area = auc(models, "rho", "sign", positive="dampen", alternative="greater", confidence=settings.confidence).iloc[0]
    paper = rounding_interval(PAPER_RANGE)
    low, high = cut["cut_low"], cut["cut_high"]
    overlap = low <= paper.high and high >= paper.low
    meets = overlap or (cut["ci_low"] <= paper.high and cut["ci_high"] >= paper.low)
    if not meets:
        holds, why = "fails", f"neither the bootstrap CI of the cut nor the equivalent cuts meet {PAPER_RANGE}"
    elif area["p_value"] < settings.alpha:
        holds, why = "holds", f"rho separates the classes (AUC significant), compatible with {PAPER_RANGE}"
    else:
        holds, why = "inconclusive", "rho does not separate dampening from expanding models significantly"
    base_rate = counts.max() / counts.sum()
    notes = [why, f"every cut in ({low:.4g}, {high:.4g}] classifies alike (Youden J = {cut['score']:.3f}); "
             f"AUC of rho = {area['auc']:.3f} [{area['ci_low']:.3f}, {area['ci_high']:.3f}]",
             f"the accuracy-maximising cut {by_accuracy['statistic']:.4g} scores {by_accuracy['score']:.1%} in sample, "
             f"{'no better than' if by_accuracy['score'] <= base_rate + 1e-12 else 'against'} {base_rate:.1%} "
             "for putting every model in the larger class", cut["note"]]
    reproduced = None
    if src.name == "published":
        reproduced = ("yes" if overlap else "no",
                      f"equivalent cuts ({low:.4g}, {high:.4g}] {'overlap' if overlap else 'miss'} {paper} from "
                      f"{PAPER_RANGE!r}")
    return Outcome(
        statistic="estimated rho_crit (cut maximising Youden's J, dampen if rho >= c)", value=cut["statistic"],
        ci_low=cut["ci_low"], ci_high=cut["ci_high"], p_value=area["p_value"], n=int(cut["n"]),
        test=f"{cut['test']}; {area['test']} (one-sided: dampeners have higher rho)", holds=holds,
        reproduced=reproduced, note="; ".join(notes), data=describe(models, gain_label(src)),
    )


def final_norm_table(src: Source, notebook: str = "HRH") -> pd.DataFrame:
    """Per model: rho, the gain with the final norm (F(x_{L-1}) / x_{L-2}) and without it.

    Published: one notebook's models (R1 gain_with_final_norm vs gain_penultimate_block, the
    paper's "excluded" gain). Ours: R1 gain_with_ln vs the canonical true last-block gain.
    """
    if isinstance(src, PublishedSource):
        frames = [src.get(q, notebook=notebook, aggregate="mean").set_index("model")["value"].rename(name)
                  for q, name in (("gain_with_final_norm", "with_norm"), ("gain_penultimate_block", "without_norm"))]
        table = src.with_facts(pd.concat(frames, axis=1).reset_index())
    else:
        with_norm = src.prompt_gains(quantity="gain_with_ln", convention="R1")
        with_norm = with_norm.groupby("model", as_index=False)["gain"].mean().rename(columns={"gain": "with_norm"})
        without = src.model_gains()[["model", "gain"]].rename(columns={"gain": "without_norm"})
        table = with_norm.merge(without, on="model").merge(src.models, on="model")
    table = drop_twins(table)
    predicted = predict(table["rho"])
    for column in ("with_norm", "without_norm"):
        table[f"correct_{column}"] = (table[column] < 1) == (predicted == "dampen")
    table["improvement"] = table["correct_without_norm"].astype(float) - table["correct_with_norm"].astype(float)
    return table


@claim("final_ln_accuracy", section="App. B Final-LayerNorm artefact", statement=(
    "Excluding the final LayerNorm from the gain raised the rule's validation accuracy from 43.75% to 100%."),
    paper_value="43.75% -> 100%", paper_test="accuracy (no test)",
    needs="gains with and without the final norm for at least 4 models")
def final_ln_accuracy(src: Source, settings) -> Outcome:
    """Hypothesis: excluding the final LayerNorm from the gain raises the accuracy of "rho >= 0.2 => dampen".
    Unit: model (classified with and without the final norm).
    Test: accuracy change on the same models with a bootstrap CI; exact one-sided McNemar test.
    Rule: fails if the accuracy does not rise; holds if it rises with McNemar p < alpha; inconclusive otherwise.

    value: the accuracy change of 'rho >= 0.2 => dampen' on the SAME models when the final norm
    is excluded (without - with), bootstrap CI over models; p: exact one-sided McNemar test
    (binomial test on the models whose classification changes). The paper's two numbers are
    checked one by one: 43.75% = HRH's 16 models without the final norm, 100% = CRG's 2 models.
    holds: a significant improvement; fails: none (<= 0) on the same models.
    """
    table = final_norm_table(src)
    require(len(table) >= 4,
            f"needs gains with and without the final norm for at least 4 models, has {describe(table)}")
    n = len(table)
    with_acc, without_acc = table["correct_with_norm"].mean(), table["correct_without_norm"].mean()
    gained = int((table["improvement"] > 0).sum())
    lost = int((table["improvement"] < 0).sum())
    p = scipy.stats.binomtest(gained, gained + lost, 0.5, alternative="greater").pvalue if gained + lost else 1.0
    boot = bootstrap_ci(table, "improvement", confidence=settings.confidence, n_resamples=settings.n_resamples,
                        seed=settings.seed).iloc[0]
    change = without_acc - with_acc
    if change <= 0:
        holds, why = "fails", f"excluding the final norm does not raise the accuracy on the same {n} models"
    elif p < settings.alpha:
        holds, why = "holds", "excluding the final norm raises the accuracy significantly on the same models"
    else:
        holds, why = "inconclusive", "the accuracy rises, but not significantly"
    notes = [f"{why}: with the final norm {with_acc:.2%}, without {without_acc:.2%} ({gained} model(s) become "
             f"correct, {lost} become wrong)"]
    reproduced = None
    if isinstance(src, PublishedSource):
        crg = final_norm_table(src, "CRG")
        crg_with, crg_without = crg["correct_with_norm"].mean(), crg["correct_without_norm"].mean()
        before, after = reproduces("43.75%", without_acc), reproduces("100%", crg_without)
        reproduced = ("yes" if before[0] == after[0] == "yes" else "no",
                      f"43.75% = HRH {n} models without the final norm: {before[1]}; 100% = CRG "
                      f"{len(crg)} models ({', '.join(crg['model'])}): {after[1]}")
        notes.append(f"the 100% is CRG's {len(crg)} models ({', '.join(crg['model'])}), a different model set, on "
                     f"which the same change gives {crg_with:.0%} -> {crg_without:.0%}")
    label = ("HRH: R1 gain_with_final_norm vs gain_penultimate_block; " if src.name == "published" else
             "R1 gain with the final norm vs canonical true last-block gain; ")
    return Outcome(
        statistic="accuracy without minus with the final norm, same models", value=change,
        ci_low=boot["ci_low"], ci_high=boot["ci_high"], p_value=p, n=n,
        test="rule accuracy with and without the final norm on the same models; exact McNemar test (one-sided); "
             "bootstrap CI over models",
        holds=holds, comparable=False, reproduced=reproduced, note="; ".join(notes),
        data=describe(table, label),
    )
