"""Dimensional-crowding and final-LayerNorm claims: recomputed from the authors' numbers against
independent computations, and checked on synthetic sources with a planted rho rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from analysis.claims import CLAIMS, Settings
from analysis.claims.registry import InsufficientData
from analysis.run import _reproduces
from claims_fixtures import facts, measured_source, published, residual_rows  # noqa: F401

SETTINGS = Settings(n_resamples=2000)


def run_claim(claim_id, source):
    return CLAIMS[claim_id].compute(source, SETTINGS)


def notebook_means(published, notebook, quantity="gain_penultimate_block"):  # noqa: F811
    """A notebook's per-model mean gains with the rho that notebook stored."""
    gains = published.get(quantity, notebook=notebook, aggregate="mean")[["model", "value"]]
    rho = published.get("rho", notebook=notebook, aggregate="value")[["model", "value"]]
    return gains.merge(rho.rename(columns={"value": "rho"}), on="model")


def rule_correct(frame: pd.DataFrame) -> pd.Series:
    return (frame["value"] < 1) == (frame["rho"] >= 0.2)


def test_pair_matches_one_sided_t_tests_on_the_stored_prompts(published):  # noqa: F811
    pythia = published.get("gain_last_block", notebook="GUB", aggregate="value", model="pythia-6.9b")
    gptj = published.get("gain_last_block", notebook="GJP", aggregate="value", model="gpt-j-6b")
    pythia, gptj = pythia.set_index("prompt_id")["value"], gptj.set_index("prompt_id")["value"]
    p_pythia = scipy.stats.ttest_1samp(pythia, 1.0, alternative="less").pvalue
    t_gptj = scipy.stats.ttest_1samp(gptj, 1.0, alternative="greater")
    stored_t = published.get("gain_last_block_vs_1", notebook="GJP", aggregate="t_statistic")["value"].iloc[0]
    outcome = run_claim("crowding_pair", published)
    assert t_gptj.statistic == pytest.approx(stored_t, rel=1e-6)  # GJP's t; its stored p (0.9993) is the wrong tail
    assert outcome.p_value == pytest.approx(max(p_pythia, t_gptj.pvalue)) == pytest.approx(6.6e-4, rel=0.01)
    assert outcome.value == pytest.approx((pythia - gptj.loc[pythia.index]).mean())
    assert outcome.holds == "holds"
    assert _reproduces(CLAIMS["crowding_pair"], "published", outcome)[0] == "yes"
    crg = notebook_means(published, "CRG").set_index("model")["value"]
    assert f"pythia-6.9b {crg['pythia-6.9b']:.4f}" in outcome.note and f"gpt-j-6b {crg['gpt-j-6b']:.4f}" in outcome.note


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


def test_threshold_is_the_youden_optimal_cut_and_meets_the_printed_range(published):  # noqa: F811
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
    assert outcome.p_value == pytest.approx(mann_whitney.pvalue)
    assert _reproduces(CLAIMS["crowding_threshold"], "published", outcome)[0] == "yes"
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
    with pytest.raises(InsufficientData, match="has 0 dampening and 6 expanding"):
        run_claim("crowding_threshold", source)
    source.models = source.models.iloc[:3]
    with pytest.raises(InsufficientData, match=r"at least 4 models, has 3 models \(m0, m1, m2\)"):
        run_claim("crowding_rule", source)


def test_claims_are_deterministic(published):  # noqa: F811
    for claim_id in ("crowding_threshold", "final_ln_accuracy", "crowding_rule"):
        assert repr(run_claim(claim_id, published)) == repr(run_claim(claim_id, published))
