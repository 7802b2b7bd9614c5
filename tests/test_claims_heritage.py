"""Heritage claims: recomputed from the authors' numbers against independent computations, and
checked on synthetic sources with and without a planted lab effect."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf
from claims_fixtures import facts, measured_source, published, residual_rows  # noqa: F401

from analysis.claims import CLAIMS, Settings
from analysis.claims.registry import InsufficientData
from analysis.run import _reproduces

SETTINGS = Settings(n_resamples=2000)


def run_claim(claim_id, source):
    return CLAIMS[claim_id].run(source, SETTINGS)


def hrh(published):  # noqa: F811
    """HRH's per-model R1 means with the lab the notebook assigned and its own rho and L."""
    rows = published.get("gain_penultimate_block", notebook="HRH", aggregate="mean")[["model", "lab", "value"]]
    for quantity in ("rho", "n_layers"):
        stored = published.get(quantity, notebook="HRH", aggregate="value")[["model", "value"]]
        rows = rows.merge(stored.rename(columns={"value": quantity}), on="model")
    rows["eleutherai"] = rows["lab"] == "EleutherAI"
    rows["dampens"] = rows["value"] < 1
    return rows


Z_975 = scipy.stats.norm.ppf(0.975)


def wilson(k, n, z=Z_975):
    centre = (k + z**2 / 2) / (n + z**2)
    half = z / (n + z**2) * np.sqrt(k * (n - k) / n + z**2 / 4)
    return centre - half, centre + half


def test_dampen_share_reproduces_80_percent_but_other_labs_do_not_all_expand(published):  # noqa: F811
    rows = hrh(published)
    eleuther = rows[rows["eleutherai"]]
    outcome = run_claim("heritage_dampen_share", published)
    assert outcome.value == pytest.approx(eleuther["dampens"].mean()) == pytest.approx(0.8)
    assert (outcome.ci_low, outcome.ci_high) == pytest.approx(wilson(4, 5))
    verdict, reason = _reproduces(CLAIMS["heritage_dampen_share"], "published", outcome)
    assert verdict == "no" and "0.8 within" in reason and "0.818182 outside" in reason  # 9/11 expand, not 100%
    other_dampeners = rows.loc[~rows["eleutherai"] & rows["dampens"], "model"]
    assert sorted(other_dampeners) == ["bloom-3b", "opt-350m"]
    assert outcome.holds == "fails" and all(m in outcome.note for m in other_dampeners)
    assert "without post-LN models: 1/10" in outcome.note


def test_fisher_matches_scipy_on_the_hand_built_table(published):  # noqa: F811
    rows = hrh(published)
    table = np.array(
        [
            [((rows["eleutherai"] == lab) & (rows["dampens"] == dampens)).sum() for dampens in (True, False)]
            for lab in (True, False)
        ]
    )
    expected = scipy.stats.fisher_exact(table).pvalue
    outcome = run_claim("heritage_fisher", published)
    assert table.tolist() == [[4, 1], [2, 9]]
    assert outcome.value == pytest.approx(expected) == pytest.approx(0.0357, abs=1e-4)
    assert "EleutherAI: 4 dampen / 1 expand; other: 2 / 9" in outcome.note
    without_post_ln = scipy.stats.fisher_exact([[4, 1], [1, 9]]).pvalue
    assert f"p = {without_post_ln:.3g}" in outcome.note
    verdict, reason = _reproduces(CLAIMS["heritage_fisher"], "published", outcome)
    assert verdict == "no" and "agrees with printed 'p < 0.001'" in reason
    # leaving out gpt-neo-2.7b gives 3/1 vs 2/9, p = 0.077: the decision is not robust
    assert scipy.stats.fisher_exact([[3, 1], [2, 9]]).pvalue > 0.05
    assert outcome.holds == "inconclusive" and "gpt-neo-2.7b" in outcome.note


def test_lab_means_match_hrh_and_a_t_test(published):  # noqa: F811
    rows = hrh(published)
    eleuther = rows.loc[rows["eleutherai"], "value"]
    stored = published.get("gain_penultimate_block", notebook="HRH", aggregate="model_mean:EleutherAI")["value"].iloc[0]
    outcome = run_claim("heritage_lab_means", published)
    assert outcome.value == pytest.approx(eleuther.mean()) == pytest.approx(stored)
    assert outcome.p_value == pytest.approx(scipy.stats.ttest_1samp(eleuther, 1.0).pvalue)
    assert outcome.ci_low < eleuther.mean() < outcome.ci_high
    meta = rows.loc[rows["lab"] == "Meta", "value"]
    assert f"Meta {meta.mean():.3f} +- {meta.std(ddof=1) / np.sqrt(len(meta)):.3f}" in outcome.note
    assert _reproduces(CLAIMS["heritage_lab_means"], "published", outcome)[0] == "no"  # drawn at 0.99
    assert outcome.holds == "inconclusive"


def r2_base_prompts(published):  # noqa: F811
    frames = [published.get("gain_last_block", notebook=nb, aggregate="value") for nb in ("GUB", "G2L", "GJP")]
    rows = pd.concat(frames, ignore_index=True).rename(columns={"value": "gain"})
    rows = rows.merge(
        published.models[["model", "lab", "family", "n_layers", "log_params"]], on="model", suffixes=("_nb", "")
    )
    rows["eleutherai"] = (rows["lab"] == "EleutherAI").astype(int)
    return rows


def test_headline_is_an_exact_permutation_across_lineages(published):  # noqa: F811
    rows = r2_base_prompts(published)
    models = rows.groupby("model").agg(gain=("gain", "mean"), lab=("lab", "first"), family=("family", "first"))
    lineages = models.groupby(["lab", "family"])["gain"].mean().reset_index()
    eleuther = (lineages["lab"] == "EleutherAI").to_numpy()
    gains = lineages["gain"].to_numpy()
    observed = gains[eleuther].mean() - gains[~eleuther].mean()
    null = [
        gains[list(c)].mean() - np.delete(gains, list(c)).mean()
        for c in itertools.combinations(range(len(gains)), int(eleuther.sum()))
    ]
    outcome = run_claim("heritage_mixed", published)
    assert outcome.n == len(lineages) == 6 and len(null) == 15
    assert outcome.value == pytest.approx(observed)
    assert outcome.p_value == pytest.approx(np.mean(np.array(null) <= observed + 1e-12))  # one-sided: lower
    assert outcome.holds == "inconclusive" and "p cannot go below" in outcome.note


def between_within_t(fit, term: str, df: int) -> float:
    return 2 * scipy.stats.t.sf(abs(fit.params[term] / fit.bse[term]), df)


def test_mixed_models_each_report_their_own_estimate_ci_and_p(published):  # noqa: F811
    rows = r2_base_prompts(published)
    adjusted = smf.mixedlm("gain ~ eleutherai + n_layers + log_params", rows, groups="model").fit(reml=True)
    unadjusted = smf.mixedlm("gain ~ eleutherai", rows, groups="model").fit(reml=True)
    is_eleutherai = rows["eleutherai"] == 1
    naive_p = scipy.stats.ttest_ind(rows.loc[is_eleutherai, "gain"], rows.loc[~is_eleutherai, "gain"]).pvalue
    with_covariates = run_claim("heritage_mixed_adjusted", published)
    without = run_claim("heritage_mixed_unadjusted", published)
    assert with_covariates.n == without.n == 8
    assert with_covariates.value == pytest.approx(adjusted.params["eleutherai"], rel=1e-3)
    assert with_covariates.p_value == pytest.approx(between_within_t(adjusted, "eleutherai", 8 - 1 - 3), rel=1e-2)
    assert without.value == pytest.approx(unadjusted.params["eleutherai"], rel=1e-3)
    assert without.p_value == pytest.approx(between_within_t(unadjusted, "eleutherai", 8 - 1 - 1), rel=1e-2)
    assert with_covariates.ci_low < with_covariates.value < with_covariates.ci_high
    assert "n_layers + log_params" in with_covariates.formula and "+" not in without.formula
    assert f"p = {naive_p:.3g}" in without.note and "pseudo-replication" in without.note
    assert without.holds == with_covariates.holds == "inconclusive"


def lmg_shares(data: pd.DataFrame, groups: dict[str, list[str]]) -> dict[str, float]:
    """Shapley shares of R^2 by brute force: every order of entering the groups, OLS by lstsq."""
    y = data["gain"].to_numpy(float)

    def r2(names) -> float:
        x = np.column_stack([np.ones(len(y))] + [data[c].to_numpy(float) for g in names for c in groups[g]])
        residual = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        return 1 - residual @ residual / ((y - y.mean()) @ (y - y.mean()))

    orders = list(itertools.permutations(groups))
    shares = dict.fromkeys(groups, 0.0)
    for order in orders:
        for i, name in enumerate(order):
            shares[name] += (r2(order[: i + 1]) - r2(order[:i])) / len(orders)
    return shares


def test_heritage_geometry_scale_matches_brute_force_shapley(published):  # noqa: F811
    rows = hrh(published).merge(published.models[["model", "n_params"]], on="model")
    rows = rows[rows["n_params"].notna()].rename(columns={"value": "gain"})
    rows["log_params"] = np.log10(rows["n_params"].astype(float))
    rows["heritage"] = rows["eleutherai"].astype(float)
    shares = lmg_shares(rows, {"heritage": ["heritage"], "geometry": ["rho", "n_layers"], "scale": ["log_params"]})
    outcome = run_claim("heritage_geometry_scale", published)
    assert outcome.n == len(rows) == 16
    assert outcome.value == pytest.approx(shares["heritage"])
    assert shares["heritage"] > shares["geometry"] > shares["scale"]
    assert outcome.holds == "inconclusive"


def lab_panel(effect: float, offsets=None, n_per_lab: int = 6, noise: float = 0.01, seed: int = 0):
    """n_per_lab EleutherAI and n_per_lab other-lab models, each its own family, 10 prompts each;
    gain = 1 - effect (EleutherAI) or 1 + effect (other) + a per-model offset + prompt noise."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0, 0.02, 2 * n_per_lab) if offsets is None else offsets
    models, rows = [], []
    for i in range(2 * n_per_lab):
        eleuther = i < n_per_lab
        name, depth = f"m{i}", [12, 16, 24, 32][i % 4]
        models.append(
            facts(
                name,
                lab="EleutherAI" if eleuther else "Meta",
                family=f"fam{i}",
                n_layers=depth,
                n_heads=8 + i,
                n_params=10 ** (8 + (i % 3) / 2),
            )
        )
        centre = 1 + (-effect if eleuther else effect) + offsets[i]
        rows += residual_rows(name, depth, centre + noise * rng.standard_normal(10))
    return measured_source(models, rows)


def test_planted_lab_effect_holds_and_no_effect_does_not():
    for claim_id in ("heritage_mixed", "heritage_mixed_unadjusted", "heritage_mixed_adjusted"):
        planted = run_claim(claim_id, lab_panel(effect=0.1))
        assert planted.holds == "holds" and planted.value == pytest.approx(-0.2, abs=0.05), claim_id
        assert run_claim(claim_id, lab_panel(effect=0.0, seed=1)).holds != "holds", claim_id


def test_naive_ols_significant_but_model_level_not_is_called_pseudo_replication():
    source = lab_panel(effect=0.0, offsets=[0.05, -0.02, 0.03, -0.04, 0.01, -0.03], n_per_lab=3, noise=0.001)
    outcome = run_claim("heritage_mixed_unadjusted", source)
    assert outcome.p_value >= 0.05 and outcome.holds != "holds"
    assert "pseudo-replication" in outcome.note


def test_one_eleutherai_family_cannot_show_that_the_lab_sets_the_gain():
    """Regression: six EleutherAI models of ONE family against six models of three other families. Counted as
    models, the difference is significant, and the former rule said "holds" (its lineage check only noted
    that 4 lineages cannot reach alpha). With lineages as the units there are 4 of them, p >= 1/4: the
    headline is inconclusive."""
    source = lab_panel(effect=0.1)
    source.models["family"] = ["gpt_neox"] * 6 + ["opt", "opt", "bloom", "bloom", "llama", "llama"]
    source.models["lineage"] = source.models["lab"] + "/" + source.models["family"]
    models = source.prompt_gains().groupby("model").agg(gain=("gain", "mean"), heritage=("heritage", "first"))
    by_model = scipy.stats.mannwhitneyu(
        models.loc[models["heritage"] == "EleutherAI", "gain"],
        models.loc[models["heritage"] == "other", "gain"],
        alternative="less",
    )
    assert by_model.pvalue < 0.01  # what counting models as independent evidence shows
    outcome = run_claim("heritage_mixed", source)
    assert outcome.n == 4 and outcome.p_value == pytest.approx(1 / 4)
    assert outcome.holds == "inconclusive" and "p cannot go below 0.25" in outcome.note


def test_share_and_fisher_hold_when_every_eleutherai_model_dampens_and_no_other_does():
    source = lab_panel(effect=0.1)
    share = run_claim("heritage_dampen_share", source)
    assert share.value == 1 and share.holds == "holds"
    fisher = run_claim("heritage_fisher", source)
    assert fisher.value == pytest.approx(scipy.stats.fisher_exact([[6, 0], [0, 6]]).pvalue)
    assert fisher.holds == "holds"


def test_missing_lab_groups_are_insufficient_data():
    source = lab_panel(effect=0.1)
    source.models = source.models[source.models["lab"] != "EleutherAI"]
    for claim_id in ("heritage_dampen_share", "heritage_fisher", "heritage_mixed", "heritage_mixed_adjusted"):
        with pytest.raises(InsufficientData, match="has 0 EleutherAI and 6 other .*other: m10"):
            run_claim(claim_id, source)
    with pytest.raises(InsufficientData, match="needs at least 8 models, has 6 models"):
        run_claim("heritage_geometry_scale", source)
    with pytest.raises(InsufficientData, match="needs at least 2 with heritage = EleutherAI; has 0 EleutherAI"):
        run_claim("heritage_lab_means", source)


def test_the_printed_shares_cannot_give_the_printed_p(published):  # noqa: F811
    outcome = run_claim("heritage_fisher_implied", published)
    assert outcome.value == pytest.approx(scipy.stats.fisher_exact([[4, 1], [0, 11]]).pvalue)
    assert outcome.value > 0.001 and outcome.holds == "fails" and np.isnan(outcome.p_value)
    assert _reproduces(CLAIMS["heritage_fisher_implied"], "published", outcome)[0] == "no"
    assert "EleutherAI: 4 dampen / 1 expand; other: 0 / 11" in outcome.note


def test_claims_are_deterministic(published):  # noqa: F811
    for claim_id in (
        "heritage_mixed",
        "heritage_mixed_adjusted",
        "heritage_geometry_scale",
        "heritage_fisher",
        "heritage_lab_means",
    ):
        assert repr(run_claim(claim_id, published)) == repr(run_claim(claim_id, published))
