"""Dimensional-crowding and final-LayerNorm claims: recomputed from the authors' numbers against
independent computations, and checked on synthetic sources with a planted rho rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from claims_fixtures import facts, measured_source, published, residual_rows  # noqa: F401

from analysis.claims import CLAIMS, Settings
from analysis.claims.registry import InsufficientData
from analysis.run import _reproduces

SETTINGS = Settings(n_resamples=2000)


def run_claim(claim_id, source):
    return CLAIMS[claim_id].run(source, SETTINGS)


def notebook_means(published, notebook, quantity="gain_penultimate_block"):  # noqa: F811
    """A notebook's per-model mean gains with the rho that notebook stored."""
    gains = published.get(quantity, notebook=notebook, aggregate="mean")[["model", "value"]]
    rho = published.get("rho", notebook=notebook, aggregate="value")[["model", "value"]]
    return gains.merge(rho.rename(columns={"value": "rho"}), on="model")


def rule_correct(frame: pd.DataFrame) -> pd.Series:
    return (frame["value"] < 1) == (frame["rho"] >= 0.2)


def test_pair_is_decided_in_the_papers_convention_r1(published):  # noqa: F811
    """Regression: the verdict rests on the pair's own R1 file (CRG, 3 prompts), no longer on the R2 last-block
    gains, which are significant for both models and gave "holds" before."""
    crg = {}
    for model in ("pythia-6.9b", "gpt-j-6b"):
        mean = published.get("gain_penultimate_block", "CRG", "mean", model=model)["value"].iloc[0]
        sd = published.get("gain_penultimate_block", "CRG", "sd_population", model=model)["value"].iloc[0]
        crg[model] = (mean, sd * np.sqrt(3 / 2), 3)
    p_pythia = scipy.stats.t.cdf((crg["pythia-6.9b"][0] - 1) / (crg["pythia-6.9b"][1] / np.sqrt(3)), 2)
    p_gptj = scipy.stats.t.sf((crg["gpt-j-6b"][0] - 1) / (crg["gpt-j-6b"][1] / np.sqrt(3)), 2)
    (_, s1, n1), (_, s2, n2) = crg["pythia-6.9b"], crg["gpt-j-6b"]
    v1, v2 = s1**2 / n1, s2**2 / n2
    welch_df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))  # Welch-Satterthwaite
    outcome = run_claim("crowding_pair", published)
    assert outcome.p_value == pytest.approx(max(p_pythia, p_gptj)) and outcome.p_value > 0.05
    assert outcome.value == pytest.approx(crg["pythia-6.9b"][0] - crg["gpt-j-6b"][0])
    half = (outcome.ci_high - outcome.ci_low) / 2
    assert half == pytest.approx(scipy.stats.t.ppf(0.975, welch_df) * np.sqrt(v1 + v2))
    assert outcome.holds == "inconclusive"
    gub = published.get("gain_last_block", notebook="GUB", aggregate="value", model="pythia-6.9b")["value"]
    gjp = published.get("gain_last_block", notebook="GJP", aggregate="value", model="gpt-j-6b")["value"]
    r2_p = max(
        scipy.stats.ttest_1samp(gub, 1.0, alternative="less").pvalue,
        scipy.stats.ttest_1samp(gjp, 1.0, alternative="greater").pvalue,
    )
    assert r2_p == pytest.approx(6.6e-4, rel=0.01)  # significant under R2: the former headline
    assert "sensitivity, R2 GUB" in outcome.note and "sensitivity, R1 PFS" in outcome.note
    assert _reproduces(CLAIMS["crowding_pair"], "published", outcome)[0] == "yes"  # the signs are as printed


def pair_source(r1_noise: float, r1_shift: float, last_block: dict[str, float], seed: int = 0):
    """Pythia-6.9B and GPT-J-6B controls: the last block's gain as given (tight), the penultimate block's (R1)
    1 -+ ``r1_shift`` with prompt noise ``r1_noise``."""
    rng = np.random.default_rng(seed)
    models, rows = [], []
    for name, sign in (("pythia-6.9b", -1), ("gpt-j-6b", 1)):
        label = f"{name}-random-init"
        models.append(facts(label, registry_model=name, n_layers=8))
        rows += residual_rows(
            label,
            8,
            last_block[name] + 0.01 * rng.standard_normal(10),
            penultimate=1 + sign * r1_shift + r1_noise * rng.standard_normal(10),
        )
    return measured_source(models, rows)


def test_pair_verdict_follows_r1_not_the_last_block():
    """Regression: the last block separates the pair clearly, the penultimate block (R1) does not: the former
    rule (canonical last-block gains) said "holds"; in the paper's convention the pair is inconclusive."""
    source = pair_source(r1_noise=0.05, r1_shift=0.001, last_block={"pythia-6.9b": 0.8, "gpt-j-6b": 1.2})
    outcome = run_claim("crowding_pair", source)
    assert outcome.holds == "inconclusive" and "sensitivity, canonical" in outcome.note
    planted = run_claim(
        "crowding_pair", pair_source(r1_noise=0.01, r1_shift=0.1, last_block={"pythia-6.9b": 1.0, "gpt-j-6b": 1.0})
    )
    assert planted.holds == "holds"


def test_rule_accuracy_over_every_r1_model(published):  # noqa: F811
    hrh = notebook_means(published, "HRH")
    pfs = notebook_means(published, "PFS")
    models = pd.concat([hrh, pfs[~pfs["model"].isin(hrh["model"])]], ignore_index=True)
    k, n = int(rule_correct(models).sum()), len(models)
    stored = published.get("h25_rule_accuracy", notebook="HRH", aggregate="value")["value"].iloc[0]
    assert rule_correct(hrh).mean() == pytest.approx(stored / 100) == pytest.approx(0.4375)
    outcome = run_claim("crowding_rule", published)
    assert (k, n) == (14, 23) and outcome.value == pytest.approx(k / n)
    assert outcome.p_value == pytest.approx(scipy.stats.binomtest(k, n, 0.5, alternative="greater").pvalue)
    z = scipy.stats.norm.ppf(0.975)
    centre, half = (k + z**2 / 2) / (n + z**2), z / (n + z**2) * np.sqrt(k * (n - k) / n + z**2 / 4)
    assert (outcome.ci_low, outcome.ci_high) == pytest.approx((centre - half, centre + half))
    assert "HRH's 16 models 7/16" in outcome.note and "always predicting 'expand' scores 14/23" in outcome.note
    assert outcome.holds == "fails"
    assert _reproduces(CLAIMS["crowding_rule"], "published", outcome)[0] == "no"


def test_threshold_of_a_predictor_that_does_not_discriminate_does_not_reproduce(published):  # noqa: F811
    hrh = notebook_means(published, "HRH")
    pfs = notebook_means(published, "PFS")
    models = pd.concat([hrh, pfs[~pfs["model"].isin(hrh["model"])]], ignore_index=True)
    rho, dampens = models["rho"].to_numpy(), (models["value"] < 1).to_numpy()
    distinct = np.unique(rho)
    cuts = (distinct[:-1] + distinct[1:]) / 2
    youden = [np.mean(rho[dampens] >= c) + np.mean(rho[~dampens] < c) - 1 for c in cuts]
    best = cuts[int(np.argmax(youden))]
    mann_whitney = scipy.stats.mannwhitneyu(rho[dampens], rho[~dampens], alternative="greater")
    outcome = run_claim("crowding_threshold", published)
    assert outcome.value == pytest.approx(best) and outcome.ci_low <= best <= outcome.ci_high
    assert outcome.p_value == pytest.approx(mann_whitney.pvalue) and outcome.p_value > 0.05
    assert _reproduces(CLAIMS["crowding_threshold"], "published", outcome)[0] == "no"
    assert outcome.holds == "inconclusive"


def test_a_cut_that_falls_in_the_range_by_chance_does_not_reproduce():
    """Regression: rho does not discriminate (AUC 0.53) but the Youden cut's equivalent interval touches
    0.15-0.20: the former rule said "reproduces: yes"."""
    heads = [4, 8, 10, 11, 12, 13, 14, 16, 20, 24, 28, 32]
    dampens = {8, 11, 14, 16, 20, 24}
    models, rows = [], []
    for i, h in enumerate(heads):
        models.append(facts(f"m{i}", lab="Meta", family=f"fam{i}", n_heads=h, d_head=64))
        rows += residual_rows(f"m{i}", 12, [0.9 if h in dampens else 1.1] * 3)
    outcome = run_claim("crowding_threshold", measured_source(models, rows))
    assert outcome.p_value > 0.05 and outcome.holds == "inconclusive"
    verdict, reason = outcome.reproduced
    assert verdict == "no" and "does not discriminate" in reason and "by chance" in reason


def test_rho_gain_correlation_across_the_heritage_panel(published):  # noqa: F811
    hrh = notebook_means(published, "HRH")
    expected = scipy.stats.pearsonr(hrh["rho"], hrh["value"]).statistic
    outcome = run_claim("crowding_rho_gain_r", published)
    assert outcome.n == 16 and outcome.value == pytest.approx(expected)
    assert outcome.holds == "inconclusive"


def test_final_ln_correction_does_not_raise_accuracy_on_the_same_models(published):  # noqa: F811
    without = notebook_means(published, "HRH")
    with_norm = notebook_means(published, "HRH", "gain_with_final_norm")
    both = without.merge(with_norm, on=["model", "rho"], suffixes=("", "_with"))
    correct_without = rule_correct(both)
    correct_with = (both["value_with"] < 1) == (both["rho"] >= 0.2)
    gained = int((correct_without & ~correct_with).sum())
    lost = int((~correct_without & correct_with).sum())
    crg = notebook_means(published, "CRG")
    outcome = run_claim("final_ln_accuracy", published)
    assert correct_without.mean() == pytest.approx(0.4375) and rule_correct(crg).mean() == 1
    assert outcome.value == pytest.approx(correct_without.mean() - correct_with.mean())
    mcnemar = scipy.stats.binomtest(gained, gained + lost, 0.5, alternative="greater").pvalue
    assert outcome.p_value == pytest.approx(mcnemar)
    assert outcome.holds == "fails"
    assert _reproduces(CLAIMS["final_ln_accuracy"], "published", outcome)[0] == "yes"  # both numbers, two model sets
    assert "different model set" in outcome.note


HEADS = [4, 8, 12, 16, 20, 32, 4, 8, 12, 16, 24, 32]  # rho = heads / 64: six below 0.2, six at or above


def rho_panel(follows_rule: bool, seed: int = 0):
    """Twelve models whose last-block gain dampens exactly when rho >= 0.2 (or at random)."""
    rng = np.random.default_rng(seed)
    models, rows = [], []
    for i, heads in enumerate(HEADS):
        dampens = heads / 64 >= 0.2 if follows_rule else rng.random() < 0.5
        models.append(facts(f"m{i}", lab="Meta", family=f"fam{i}", n_heads=heads, d_head=64))
        rows += residual_rows(f"m{i}", 12, (0.9 if dampens else 1.1) + 0.01 * rng.standard_normal(5))
    return measured_source(models, rows)


def test_planted_rule_holds_and_a_random_sign_does_not():
    planted = run_claim("crowding_rule", rho_panel(follows_rule=True))
    assert planted.value == 1 and planted.holds == "holds"
    threshold = run_claim("crowding_threshold", rho_panel(follows_rule=True))
    assert 0.1875 < threshold.value <= 0.25 and threshold.holds == "holds"
    null = run_claim("crowding_rule", rho_panel(follows_rule=False, seed=2))
    assert null.holds != "holds"


def test_final_ln_improvement_holds_when_excluding_the_norm_fixes_the_low_rho_models():
    # residual_rows puts the final norm's output at 0.1 x the last block: every gain "with the norm" dampens,
    # so only the six high-rho models are right with it, all twelve without it
    outcome = run_claim("final_ln_accuracy", rho_panel(follows_rule=True))
    assert outcome.value == pytest.approx(0.5)
    assert outcome.p_value == pytest.approx(0.5**6) and outcome.holds == "holds"


def test_missing_models_and_classes_are_insufficient_data():
    source = rho_panel(follows_rule=True)
    with pytest.raises(InsufficientData, match="missing gpt-j-6b, pythia-6.9b"):
        run_claim("crowding_pair", source)
    source.models = source.models[source.models["n_heads"] < 16]
    with pytest.raises(InsufficientData, match="has 0 dampen and 6 expand"):
        run_claim("crowding_threshold", source)
    source.models = source.models.iloc[:3]
    with pytest.raises(InsufficientData, match=r"at least 4 models, has 3 models \(m0, m1, m2\)"):
        run_claim("crowding_rule", source)


def test_claims_are_deterministic(published):  # noqa: F811
    for claim_id in ("crowding_threshold", "final_ln_accuracy", "crowding_rule"):
        assert repr(run_claim(claim_id, published)) == repr(run_claim(claim_id, published))
