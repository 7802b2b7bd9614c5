"""Kleiber claims: recomputed from the authors' numbers and checked on planted synthetic data."""

from __future__ import annotations

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


def pfs_means(published):  # noqa: F811
    rows = published.get("gain_penultimate_block", notebook="PFS", aggregate="value")
    return published.with_facts(rows.groupby("model", as_index=False)["value"].mean())


def test_rho_correlation_reproduces_the_papers_number(published):  # noqa: F811
    means = pfs_means(published)
    expected = scipy.stats.pearsonr(means["rho"], means["value"])
    outcome = run_claim("kleiber_rho_r", published)
    assert outcome.value == pytest.approx(expected.statistic)
    assert outcome.value == pytest.approx(-0.8116, abs=1e-4)
    assert outcome.p_paper_method == pytest.approx(expected.pvalue)
    assert _reproduces(CLAIMS["kleiber_rho_r"], "published", outcome)[0] == "yes"


def test_depth_correlation_is_not_the_papers_number(published):  # noqa: F811
    means = pfs_means(published)
    expected = scipy.stats.pearsonr(means["n_layers"], means["value"]).statistic
    outcome = run_claim("kleiber_depth_r", published)
    assert outcome.value == pytest.approx(expected) and outcome.value == pytest.approx(-0.878, abs=1e-3)
    assert _reproduces(CLAIMS["kleiber_depth_r"], "published", outcome)[0] == "no"


def residual_partial(frame: pd.DataFrame, x: str, covariate: str) -> tuple[float, float]:
    """Partial r by regressing x and the gain on the covariate and correlating the residuals; p from t on
    n - 3 df (the closed form)."""

    def residual(column):
        slope, intercept = np.polyfit(frame[covariate], frame[column], 1)
        return frame[column] - (slope * frame[covariate] + intercept)

    r = np.corrcoef(residual(x), residual("gain"))[0, 1]
    df = len(frame) - 3
    t = r * np.sqrt(df / (1 - r**2))
    return r, 2 * scipy.stats.t.sf(abs(t), df)


def test_partial_correlations_match_residual_regressions(published):  # noqa: F811
    means = pfs_means(published).rename(columns={"value": "gain"})
    for claim_id, x, covariate in (
        ("kleiber_partial_depth", "n_layers", "rho"),
        ("kleiber_partial_rho", "rho", "n_layers"),
    ):
        r, p = residual_partial(means, x, covariate)
        outcome = run_claim(claim_id, published)
        assert outcome.value == pytest.approx(r) and outcome.p_value == pytest.approx(p)
        assert outcome.ci_low < r < outcome.ci_high and outcome.n == 8


@pytest.mark.filterwarnings("ignore:The MLE may be on the boundary")
def test_prompt_level_mixed_model_matches_statsmodels_with_between_within_df(published):  # noqa: F811
    rows = published.with_facts(published.get("gain_penultimate_block", notebook="PFS", aggregate="value"))
    fit = smf.mixedlm("value ~ n_layers", rows, groups="model").fit(reml=True, method="bfgs")
    t = fit.params["n_layers"] / fit.bse["n_layers"]
    outcome = run_claim("kleiber_mixed", published)
    assert outcome.value == pytest.approx(fit.params["n_layers"], rel=1e-3)
    assert outcome.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(t), 8 - 2), rel=1e-2)  # nlme's df: 8 models - 2
    assert outcome.formula == "gain ~ n_layers" and "Mixed Linear Model" in outcome.summary
    assert outcome.holds == "holds" and outcome.n == 8


def test_gmax_bound_is_exceeded_by_seven_of_eight_pythia_models(published):  # noqa: F811
    outcome = run_claim("kleiber_gmax_bound", published)
    assert outcome.value == pytest.approx(7 / 8) and outcome.holds == "fails"
    assert outcome.formula == "np.log10(gain) ~ inv_depth"


def synthetic_family(slope: float, noise: float, seed: int = 0):
    """Six Pythia-like models whose last-block gain is 1 + slope * (L - 20) plus prompt noise."""
    rng = np.random.default_rng(seed)
    models, rows = [], []
    for i, depth in enumerate([6, 12, 16, 24, 32, 36]):
        name = f"p{i}"
        models.append(facts(name, n_layers=depth, n_heads=8 + i, d_head=64))
        gains = 1 + slope * (depth - 20) + noise * rng.standard_normal(10)
        rows += residual_rows(name, depth, gains)
    return measured_source(models, rows)


def test_planted_depth_effect_is_found_and_null_is_not():
    planted = run_claim("kleiber_depth_r", synthetic_family(slope=-0.01, noise=0.01))
    assert planted.holds == "holds" and planted.value < -0.9
    null = run_claim("kleiber_depth_r", synthetic_family(slope=0.0, noise=0.05, seed=3))
    assert null.holds != "holds"
    assert run_claim("kleiber_mixed", synthetic_family(slope=-0.01, noise=0.01)).holds == "holds"
    assert run_claim("kleiber_mixed", synthetic_family(slope=0.0, noise=0.05, seed=3)).holds != "holds"


def test_gmax_bound_holds_when_every_block_stays_below_it():
    models, rows = [], []
    for i, depth in enumerate([6, 12, 24]):
        models.append(facts(f"m{i}", n_layers=depth))
        rows += residual_rows(f"m{i}", depth, [10 ** (0.5 / depth)] * 5, block_gain=10 ** (0.5 / depth))
    assert run_claim("kleiber_gmax_bound", measured_source(models, rows)).value == 0
    rows_above = rows + residual_rows("m3", 12, [1.5] * 5, block_gain=1.5)
    above = run_claim("kleiber_gmax_bound", measured_source(models + [facts("m3")], rows_above))
    assert above.value == pytest.approx(1 / 4) and above.holds == "fails"


def total_gain_source(totals: dict[str, float], noise: float = 0.01, seed: int = 1, extra: list | None = None):
    """Models whose total gain x_{L-1} / x_0 is ``totals[name]`` times prompt noise (5 prompts each)."""
    rng = np.random.default_rng(seed)
    models, rows = [], []
    for i, (name, total) in enumerate(totals.items()):
        depth = [6, 12, 24, 30, 16, 20][i % 6]
        per_block = total ** (1 / (depth - 1))
        models.append(facts(name, n_layers=depth, **(extra[i] if extra else {})))
        rows += residual_rows(name, depth, per_block * np.exp(noise * rng.standard_normal(5)), block_gain=per_block)
    return measured_source(models, rows)


def test_total_gain_of_ten_in_every_model_holds():
    outcome = run_claim("kleiber_total_gain", total_gain_source({"a": 10, "b": 10, "c": 10, "d": 10}))
    assert outcome.value == 0 and outcome.holds == "holds"


def test_total_gain_is_a_per_model_constant_so_a_spread_around_ten_fails():
    """Regression: totals of 1, 10 and 100 average to 10 on the log scale. The former rule (a t-test of the
    mean of the model means against 10) cannot reject that mean and called the claim inconclusive; the
    claim is that every model's total is 10, and two of the three models refute it."""
    source = total_gain_source({"a": 1, "b": 10, "c": 100})
    model_means = np.log10([1, 10, 100])
    assert scipy.stats.ttest_1samp(model_means, 1.0).pvalue > 0.05  # what the former rule saw
    outcome = run_claim("kleiber_total_gain", source)
    assert outcome.holds == "fails" and outcome.value == pytest.approx(2 / 3) and outcome.p_value < 0.05


def test_total_gain_leaves_out_instruct_twins():
    """Regression: an instruct twin is not an independent model (drop_twins, as every other cross-model claim);
    the former rule counted it."""
    twins = [{}, {}, {}, {"variant": "instruct", "twin_of": "a"}]
    source = total_gain_source({"a": 10, "b": 10, "c": 10, "a-it": 100}, extra=twins)
    outcome = run_claim("kleiber_total_gain", source)
    assert outcome.holds == "holds" and outcome.n == 3
    assert "left out: a-it (instruct twin of a, which is in the data)" in outcome.note


def test_too_few_models_is_insufficient_data():
    source = synthetic_family(-0.01, 0.01)
    source.models = source.models.iloc[:2]
    with pytest.raises(InsufficientData, match=r"needs at least 4 models, has 2 models \(p0, p1\)"):
        run_claim("kleiber_depth_r", source)
