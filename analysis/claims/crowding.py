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

from analysis.claims.common import robust_decision, source_note
from analysis.claims.registry import Outcome, claim
from analysis.needs import Dataset, InsufficientData, Needs
from analysis.sources import CROWDING_PAIR
from analysis.stats import (
    auc,
    bootstrap_ci,
    correlation,
    decide,
    permutation_correlation,
    reproduces,
    rounding_interval,
    threshold_estimate,
    wilson_ci,
)

SECTION = "4.3 Dimensional crowding"
RHO_CRIT = 0.2
PAIR = dict(zip(CROWDING_PAIR, ("less", "greater")))  # Pythia-6.9B (rho 0.25) dampens, GPT-J-6B (rho 0.0625) expands
PAPER_RANGE = "0.15-0.20"


def predict(rho: pd.Series) -> np.ndarray:
    """The notebooks' H25 rule: "dampen" when rho >= 0.2, else "expand"."""
    return np.where(rho >= RHO_CRIT, "dampen", "expand")


def with_rule(models: pd.DataFrame) -> pd.DataFrame:
    """Per model: the rule's prediction and whether it matches the observed sign."""
    models = models.assign(predicted=predict(models["rho"]))
    return models.assign(correct=models["predicted"] == models["sign"])


def accuracy_test(frame: pd.DataFrame) -> pd.DataFrame:
    """Rule accuracy and the one-sided exact binomial test against 50% (for leave-one-out)."""
    k, n = int(frame["correct"].sum()), len(frame)
    p = scipy.stats.binomtest(k, n, 0.5, alternative="greater").pvalue
    return pd.DataFrame({"statistic": [k / n], "p_value": [p]})


def share(frame: pd.DataFrame) -> str:
    return f"{int(frame['correct'].sum())}/{len(frame)}"


def t_from_summary(mean: float, sd: float, n: int, alternative: str) -> float:
    """One-sample t-test p of mean = 1 from a mean and sample SD (ddof = 1) of n prompts."""
    t = (mean - 1) / (sd / np.sqrt(n))
    return float(scipy.stats.t.sf(t, n - 1) if alternative == "greater" else scipy.stats.t.cdf(t, n - 1))


def welch_difference(a: pd.Series, b: pd.Series, confidence: float) -> tuple[float, float, float]:
    """Difference of two means with Welch's CI, from their means, sample SDs and n."""
    var_a, var_b = a["sd"] ** 2 / a["n_prompts"], b["sd"] ** 2 / b["n_prompts"]
    df = (var_a + var_b) ** 2 / (var_a**2 / (a["n_prompts"] - 1) + var_b**2 / (b["n_prompts"] - 1))
    half = scipy.stats.t.ppf((1 + confidence) / 2, df) * np.sqrt(var_a + var_b)
    difference = a["mean"] - b["mean"]
    return difference, difference - half, difference + half


def pair_tests(rows: pd.DataFrame) -> dict[str, float]:
    """Per model of the pair: the one-sided p of its claimed side of 1 (Pythia: less, GPT-J: greater)."""
    return {r.model: t_from_summary(r.mean, r.sd, int(r.n_prompts), PAIR[r.model]) for r in rows.itertuples()}


def pair_line(rows: pd.DataFrame) -> str:
    tests = pair_tests(rows)
    return ", ".join(
        f"{r.model} {r.mean:.4f} (one-sided p = {tests[r.model]:.2g}, n = {int(r.n_prompts)})"
        for r in rows.itertuples()
    )


@claim(
    "crowding_pair",
    section=SECTION,
    statement=("Dimensional crowding: Pythia-6.9B (rho = 0.25) dampens while GPT-J-6B (rho = 0.0625) expands."),
    paper_value=None,
    paper_test="none (two gains; CRG, R1 fp32, 3 prompts: 0.987 vs 1.133)",
    kind="difference",
    needs=Needs("pair_summaries", models=2, named=CROWDING_PAIR),
)
def crowding_pair(data: Dataset, settings) -> Outcome:
    """Hypothesis: Pythia-6.9B (rho 0.25) dampens (gain < 1) while GPT-J-6B (rho 0.0625) expands (gain > 1).

    Unit: prompt (the prompts run through each of the two models).
    Test: in the paper's convention R1 (the penultimate block's gain; published: the pair's own file CRG),
    one-sided one-sample t-tests of each model's gain against 1 from its mean and SD over prompts (Pythia:
    less, GPT-J: greater), p = the larger of the two (intersection-union test); Welch CI of the difference.
    The other conventions and files are sensitivity analyses, in the note.
    Rule: holds if both one-sided tests are significant at alpha; fails if either model's mean gain is on
    the other side of 1; inconclusive otherwise.
    """
    rows = data.frame.set_index("model", drop=False).loc[list(CROWDING_PAIR)]
    if (rows["n_prompts"] < 2).any():
        raise InsufficientData("needs at least 2 prompts per model for a t-test")
    tests = pair_tests(rows)
    p_both = max(tests.values())
    wrong = [m for m in CROWDING_PAIR if (rows.loc[m, "mean"] < 1) != (PAIR[m] == "less")]
    difference, low, high = welch_difference(
        rows.loc[CROWDING_PAIR[0]], rows.loc[CROWDING_PAIR[1]], settings.confidence
    )
    if wrong:
        holds, why = "fails", f"{', '.join(wrong)} is on the other side of 1"
    elif p_both < settings.alpha:
        holds, why = "holds", "Pythia-6.9B dampens and GPT-J-6B expands, both significantly over prompts"
    else:
        holds, why = "inconclusive", "the signs are as claimed but not both significant"
    notes = [why, f"{rows['dataset'].iloc[0]}: {pair_line(rows)}"]
    sensitivity = data.extras.get("sensitivity", pd.DataFrame())
    agree = not wrong
    for (convention, dataset), group in sensitivity.groupby(["convention", "dataset"], sort=False):
        usable = group[group["n_prompts"] >= 2]
        if len(usable):
            notes.append(f"sensitivity, {convention} {dataset}: {pair_line(usable)}")
            agree &= all((r.mean < 1) == (PAIR[r.model] == "less") for r in usable.itertuples())
    notes.append(
        "two models differ in far more than rho (family, attention form, d_head, depth): the pair "
        "illustrates the rule but cannot attribute the difference to rho (see crowding_rule)"
    )
    return Outcome(
        statistic="difference of mean gains, Pythia-6.9B - GPT-J-6B (R1)",
        value=difference,
        ci_low=low,
        ci_high=high,
        p_value=p_both,
        n=int(rows["n_prompts"].sum()),
        test="one-sided one-sample t-tests vs 1 per model from the mean and SD over prompts (Pythia: less, GPT-J: "
        "greater), p = max (intersection-union); Welch CI of the difference",
        holds=holds,
        comparable=False,
        reproduced=(
            "yes" if agree else "no",
            f"the claimed signs (Pythia-6.9B < 1 < GPT-J-6B) {'hold' if agree else 'do not all hold'} in every "
            "stored file and convention",
        ),
        note="; ".join(notes + source_note(data)),
    )


@claim(
    "crowding_rule",
    section=SECTION,
    statement=("The rule 'rho >= 0.2 => dampen' classifies models correctly (validated with 100% accuracy)."),
    paper_value="100%",
    paper_test="accuracy (CRG: 2 models; HRH: 16 models, 43.75%)",
    kind="accuracy",
    needs=Needs("rule_models", models=4),
)
def crowding_rule(data: Dataset, settings) -> Outcome:
    """Hypothesis: the rule "rho >= 0.2 => dampen" classifies models better than chance (paper: 100% accuracy).

    Unit: model (its mean gain over prompts, sign strict at 1).
    Test: accuracy with a Wilson CI; exact one-sided binomial test of accuracy > 50%.
    Rule: holds if p < alpha and robust to leaving any one model out; fails if not significant and the CI
    excludes the stated 100% (or significantly below chance); inconclusive otherwise.

    Published: every model with an R1 gain (HRH's 16, the other PFS Pythia models and CRG); "100%" is the
    accuracy the paper reports for CRG's 2 models.
    """
    models = with_rule(data.frame)
    k, n = int(models["correct"].sum()), len(models)
    ci = wilson_ci(k, n, settings.confidence).iloc[0]
    test = accuracy_test(models).iloc[0]
    decision = decide(
        k / n,
        ci["ci_low"],
        ci["ci_high"],
        test["p_value"],
        direction="greater",
        null=0.5,
        claimed=1.0,
        alpha=settings.alpha,
    )
    holds, reason = robust_decision(decision, models, accuracy_test, alpha=settings.alpha)
    majority = models["sign"].value_counts()
    wrong = models[~models["correct"]]
    notes = [
        reason,
        f"always predicting '{majority.idxmax()}' scores {majority.max()}/{n}",
        f"dampen predicted {int((models['predicted'] == 'dampen').sum())}, observed "
        f"{int((models['sign'] == 'dampen').sum())}",
        f"misclassified: {', '.join(f'{r.model} (rho {r.rho:.3g}, {r.gain:.4f})' for r in wrong.itertuples())}",
    ]
    if "notebook" in models and models["notebook"].notna().any():
        notes.insert(
            1,
            f"HRH's 16 models {share(models[models['notebook'] == 'HRH'])}; the other PFS Pythia models "
            f"{share(models[models['notebook'] == 'PFS'])}",
        )
    if "r2" in data.extras:
        notes.append(f"under R2 (true last block; GUB/G2L/GJP base models) {share(with_rule(data.extras['r2']))}")
    return Outcome(
        statistic="accuracy of 'rho >= 0.2 => dampen'",
        value=k / n,
        ci_low=ci["ci_low"],
        ci_high=ci["ci_high"],
        p_value=test["p_value"],
        n=n,
        test="accuracy over models, Wilson CI; exact binomial test vs 50% (one-sided: greater)",
        holds=holds,
        note="; ".join(notes + source_note(data)),
    )


@claim(
    "crowding_threshold",
    section=SECTION,
    statement=("A critical head density rho_crit of about 0.15-0.20 separates dampening from expanding models."),
    paper_value=PAPER_RANGE,
    paper_test="none (the code uses the fixed threshold 0.2; no estimation)",
    kind="other",
    needs=Needs("rule_models", groups={"sign": {"dampen": 2, "expand": 2}}),
)
def crowding_threshold(data: Dataset, settings) -> Outcome:
    """Hypothesis: a critical head density rho_crit of about 0.15-0.20 separates dampening from expanding models.

    Unit: model (its rho and the sign of its mean gain).
    Test: the cut on rho maximising Youden's J with a bootstrap CI over models; one-sided Mann-Whitney test
    of AUC > 1/2 for rho predicting dampening.
    Rule: inconclusive if the AUC is not significant (a predictor that does not discriminate has no threshold;
    the printed range cannot reproduce either); otherwise holds if the bootstrap CI or the equivalent cuts
    meet 0.15-0.20 and fails if they miss it.

    value: the cut c on rho maximising Youden's J (sensitivity + specificity - 1; accuracy ties with
    'everyone expands' when the classes are unbalanced). The printed range is compared with the interval
    of cuts that classify exactly like c (any of them is "the" estimate).
    """
    models = data.frame
    counts = models["sign"].value_counts()
    options = dict(
        positive="dampen",
        direction="greater",
        confidence=settings.confidence,
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    )
    cut = threshold_estimate(models, "rho", "sign", criterion="youden", **options).iloc[0]
    by_accuracy = threshold_estimate(models, "rho", "sign", criterion="accuracy", **options).iloc[0]
    area = auc(models, "rho", "sign", positive="dampen", alternative="greater", confidence=settings.confidence).iloc[0]
    paper = rounding_interval(PAPER_RANGE)
    low, high = cut["cut_low"], cut["cut_high"]
    overlap = low <= paper.high and high >= paper.low
    meets = overlap or (cut["ci_low"] <= paper.high and cut["ci_high"] >= paper.low)
    discriminates = area["p_value"] < settings.alpha
    if not discriminates:
        holds, why = (
            "inconclusive",
            (
                f"rho does not separate dampening from expanding models (AUC p = "
                f"{area['p_value']:.3g}): there is no threshold to estimate"
            ),
        )
    elif meets:
        holds, why = "holds", f"rho separates the classes (AUC significant), compatible with {PAPER_RANGE}"
    else:
        holds, why = "fails", f"neither the bootstrap CI of the cut nor the equivalent cuts meet {PAPER_RANGE}"
    base_rate = counts.max() / counts.sum()
    notes = [
        why,
        f"every cut in ({low:.4g}, {high:.4g}] classifies alike (Youden J = {cut['score']:.3f}); "
        f"AUC of rho = {area['auc']:.3f} [{area['ci_low']:.3f}, {area['ci_high']:.3f}]",
        f"the accuracy-maximising cut {by_accuracy['statistic']:.4g} scores {by_accuracy['score']:.1%} in sample, "
        f"{'no better than' if by_accuracy['score'] <= base_rate + 1e-12 else 'against'} {base_rate:.1%} "
        "for putting every model in the larger class",
        cut["note"],
    ]
    if not discriminates:
        reproduced = (
            "no",
            f"a threshold cannot reproduce when its predictor does not discriminate (AUC "
            f"{area['auc']:.3f}, p = {area['p_value']:.3g}); the equivalent cuts "
            f"({low:.4g}, {high:.4g}] "
            f"{'fall in' if overlap else 'miss'} {paper} by chance",
        )
    else:
        reproduced = (
            "yes" if overlap else "no",
            f"equivalent cuts ({low:.4g}, {high:.4g}] {'overlap' if overlap else 'miss'} {paper} from {PAPER_RANGE!r}",
        )
    return Outcome(
        statistic="estimated rho_crit (cut maximising Youden's J, dampen if rho >= c)",
        value=cut["statistic"],
        ci_low=cut["ci_low"],
        ci_high=cut["ci_high"],
        p_value=area["p_value"],
        n=int(cut["n"]),
        test=f"{cut['test']}; {area['test']} (one-sided: dampeners have higher rho)",
        holds=holds,
        reproduced=reproduced,
        note="; ".join(notes + source_note(data)),
    )


@claim(
    "crowding_rho_gain_r",
    section=SECTION,
    statement=(
        "Across the heritage panel, the gain falls with the head density rho (the Pythia correlation, r = -0.81, "
        "carried to every lab)."
    ),
    paper_value=None,
    paper_test="none (the correlation is computed on Pythia only)",
    kind="correlation",
    needs=Needs("heritage_gains", models=4),
)
def crowding_rho_gain_r(data: Dataset, settings) -> Outcome:
    """Hypothesis: across the models of the heritage panel (every lab), the mean gain falls with rho (r < 0).

    Unit: model (its mean gain over prompts; instruct twins of models in the data left out).
    Test: Pearson r with its Fisher-z CI; p from a permutation test shuffling the gains across models.
    Rule: holds if the permutation p < alpha with r < 0 and leaving any one model out keeps p < alpha; fails
    if r is significantly positive; inconclusive otherwise.
    """
    frame = data.frame

    def pearson(rows: pd.DataFrame) -> pd.DataFrame:
        return correlation(rows, "rho", "gain")

    corr = pearson(frame).iloc[0]
    perm = permutation_correlation(frame, "rho", "gain", n_resamples=settings.n_resamples, seed=settings.seed).iloc[0]
    decision = decide(
        corr["r"], corr["ci_low"], corr["ci_high"], perm["p_value"], direction="less", alpha=settings.alpha
    )
    holds, reason = robust_decision(decision, frame, pearson, alpha=settings.alpha)
    notes = [reason, f"parametric p = {corr['p_value']:.3g}"]
    if "r1_all" in data.extras:
        wider = data.extras["r1_all"]
        more = correlation(wider, "rho", "gain").iloc[0]
        notes.append(
            f"with the other Pythia models of PFS and CRG ({len(wider)} R1 models): r = {more['r']:.3g} "
            f"[{more['ci_low']:.3g}, {more['ci_high']:.3g}], parametric p = {more['p_value']:.3g}"
        )
    return Outcome(
        statistic="Pearson r (rho, mean gain) across the heritage panel",
        value=corr["r"],
        ci_low=corr["ci_low"],
        ci_high=corr["ci_high"],
        p_value=perm["p_value"],
        n=len(frame),
        comparable=False,
        test=f"Pearson r across models; {perm['test']}; Fisher-z CI",
        holds=holds,
        note="; ".join(notes + source_note(data)),
    )


def final_norm_correct(table: pd.DataFrame) -> pd.DataFrame:
    """Whether 'rho >= 0.2 => dampen' is right with and without the final norm, and the change (without - with)."""
    predicted = predict(table["rho"])
    table = table.copy()
    for column in ("with_norm", "without_norm"):
        table[f"correct_{column}"] = (table[column] < 1) == (predicted == "dampen")
    table["improvement"] = table["correct_without_norm"].astype(float) - table["correct_with_norm"].astype(float)
    return table


@claim(
    "final_ln_accuracy",
    section="App. B Final-LayerNorm artefact",
    statement=(
        "Excluding the final LayerNorm from the gain raised the rule's validation accuracy from 43.75% to 100%."
    ),
    paper_value="43.75% -> 100%",
    paper_test="accuracy (no test)",
    kind="proportion_difference",
    needs=Needs("final_norm", models=4),
)
def final_ln_accuracy(data: Dataset, settings) -> Outcome:
    """Hypothesis: excluding the final LayerNorm from the gain raises the accuracy of "rho >= 0.2 => dampen".

    Unit: model (classified with and without the final norm).
    Test: accuracy change on the same models with a bootstrap CI; exact one-sided McNemar test.
    Rule: fails if the accuracy does not rise; holds if it rises with McNemar p < alpha; inconclusive otherwise.

    The paper's two numbers are checked one by one: 43.75% = HRH's 16 models without the final norm,
    100% = CRG's 2 models.
    """
    table = final_norm_correct(data.frame)
    n = len(table)
    with_acc, without_acc = table["correct_with_norm"].mean(), table["correct_without_norm"].mean()
    gained = int((table["improvement"] > 0).sum())
    lost = int((table["improvement"] < 0).sum())
    p = scipy.stats.binomtest(gained, gained + lost, 0.5, alternative="greater").pvalue if gained + lost else 1.0
    boot = bootstrap_ci(
        table, "improvement", confidence=settings.confidence, n_resamples=settings.n_resamples, seed=settings.seed
    ).iloc[0]
    change = without_acc - with_acc
    if change <= 0:
        holds, why = "fails", f"excluding the final norm does not raise the accuracy on the same {n} models"
    elif p < settings.alpha:
        holds, why = "holds", "excluding the final norm raises the accuracy significantly on the same models"
    else:
        holds, why = "inconclusive", "the accuracy rises, but not significantly"
    notes = [
        f"{why}: with the final norm {with_acc:.2%}, without {without_acc:.2%} ({gained} model(s) become "
        f"correct, {lost} become wrong)"
    ]
    reproduced = None
    if "crg" in data.extras:
        crg = final_norm_correct(data.extras["crg"])
        crg_with, crg_without = crg["correct_with_norm"].mean(), crg["correct_without_norm"].mean()
        before, after = reproduces("43.75%", without_acc), reproduces("100%", crg_without)
        reproduced = (
            "yes" if before[0] == after[0] == "yes" else "no",
            f"43.75% = HRH {n} models without the final norm: {before[1]}; 100% = CRG "
            f"{len(crg)} models ({', '.join(crg['model'])}): {after[1]}",
        )
        notes.append(
            f"the 100% is CRG's {len(crg)} models ({', '.join(crg['model'])}), a different model set, on "
            f"which the same change gives {crg_with:.0%} -> {crg_without:.0%}"
        )
    return Outcome(
        statistic="accuracy without minus with the final norm, same models",
        value=change,
        ci_low=boot["ci_low"],
        ci_high=boot["ci_high"],
        p_value=p,
        n=n,
        test="rule accuracy with and without the final norm on the same models; exact McNemar test (one-sided); "
        "bootstrap CI over models",
        holds=holds,
        comparable=False,
        reproduced=reproduced,
        note="; ".join(notes + source_note(data)),
    )
