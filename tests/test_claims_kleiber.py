"""Kleiber claims: recomputed from the authors' numbers and checked on planted synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from analysis.claims import CLAIMS, Settings
from analysis.claims.registry import InsufficientData
from analysis.run import _reproduces
from claims_fixtures import facts, measured_source, published, residual_rows  # noqa: F401

SETTINGS = Settings(n_resamples=2000)


def run_claim(claim_id, source):
    return CLAIMS[claim_id].compute(source, SETTINGS)


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


def test_gmax_bound_is_exceeded_by_seven_of_eight_pythia_models(published):  # noqa: F811
    outcome = run_claim("kleiber_gmax_bound", published)
    assert outcome.value == pytest.approx(7 / 8) and outcome.holds == "fails"


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


def test_gmax_bound_holds_when_every_block_stays_below_it():
    models, rows = [], []
    for i, depth in enumerate([6, 12, 24]):
        models.append(facts(f"m{i}", n_layers=depth))
        rows += residual_rows(f"m{i}", depth, [10 ** (0.5 / depth)] * 5, block_gain=10 ** (0.5 / depth))
    assert run_claim("kleiber_gmax_bound", measured_source(models, rows)).value == 0
    rows_above = rows + residual_rows("m3", 12, [1.5] * 5, block_gain=1.5)
    above = run_claim("kleiber_gmax_bound", measured_source(models + [facts("m3")], rows_above))
    assert above.value == pytest.approx(1 / 4) and above.holds == "fails"


def test_total_gain_of_about_ten_is_not_rejected():
    models, rows = [], []
    rng = np.random.default_rng(1)
    for i, depth in enumerate([6, 12, 24, 30]):
        per_block = 10 ** (1 / (depth - 1)) * np.exp(0.01 * rng.standard_normal())
        models.append(facts(f"m{i}", n_layers=depth))
        rows += residual_rows(f"m{i}", depth, [per_block] * 5, block_gain=per_block)
    outcome = run_claim("kleiber_total_gain", measured_source(models, rows))
    assert outcome.value == pytest.approx(10, rel=0.05) and outcome.holds == "holds"


def test_too_few_models_is_insufficient_data():
    source = synthetic_family(-0.01, 0.01)
    source.models = source.models.iloc[:2]
    with pytest.raises(InsufficientData, match="at least 4"):
        run_claim("kleiber_depth_r", source)
