"""Twin, hierarchy, input-robustness and convention-sensitivity claims against independent computations."""

from __future__ import annotations

import numpy as np
import pingouin
import pytest
import scipy.stats
from claims_fixtures import facts, measured_source, published, residual_rows  # noqa: F401

from analysis.claims import CLAIMS, Settings
from analysis.run import _reproduces

SETTINGS = Settings(n_resamples=2000)


def run_claim(claim_id, source):
    return CLAIMS[claim_id].run(source, SETTINGS)


def twn(published, model):  # noqa: F811
    rows = published.get("gain_last_block", notebook="TWN", aggregate="value", model=model)
    return rows.sort_values("prompt_id")["value"].to_numpy()


def test_gemma_twin_matches_a_paired_t_test(published):  # noqa: F811
    base, instruct = twn(published, "gemma-7b"), twn(published, "gemma-7b-it")
    outcome = run_claim("twin_gemma", published)
    assert outcome.value == pytest.approx(instruct.mean())
    assert outcome.p_value == pytest.approx(scipy.stats.ttest_rel(instruct, base, alternative="less").pvalue)
    assert outcome.holds == "holds"
    assert _reproduces(CLAIMS["twin_gemma"], "published", outcome)[0] == "yes"


def test_twin_sign_is_inconclusive_with_three_pairs(published):  # noqa: F811
    outcome = run_claim("twin_sign", published)
    gemma = twn(published, "gemma-7b-it").mean() / twn(published, "gemma-7b").mean() - 1
    assert outcome.value == pytest.approx(abs(gemma))
    assert outcome.p_value == pytest.approx(0.5**3)
    assert outcome.holds == "inconclusive" and "v0.2" in outcome.note


def test_hierarchy_matches_friedman_and_reproduces(published):  # noqa: F811
    order = ["pythia-6.9b", "mistral-7b-v0.1", "llama-3.1-8b", "gemma-7b"]
    rows = published.get("gain_last_block", notebook="GUB", aggregate="value")
    table = rows.pivot(index="prompt_id", columns="model", values="value")[order]
    outcome = run_claim("hierarchy", published)
    assert outcome.p_value == pytest.approx(scipy.stats.friedmanchisquare(*table.T.to_numpy()).pvalue)
    assert list(table.mean().sort_values().index) == order
    assert outcome.holds == "holds" and outcome.reproduced[0] == "yes"


def test_input_robustness_icc_equals_pingouin(published):  # noqa: F811
    rows = published.get("gain_penultimate_block", notebook="PFS", aggregate="value")
    expected = pingouin.intraclass_corr(rows, targets="model", raters="prompt_id", ratings="value")
    outcome = run_claim("input_robustness", published)
    assert outcome.value == pytest.approx(expected.set_index("Type").loc["ICC(A,1)", "ICC"])


def models_with_prompt_noise(noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    models, rows = [], []
    for i, level in enumerate(np.linspace(0.8, 1.2, 10)):
        models.append(facts(f"m{i}"))
        rows += residual_rows(f"m{i}", 12, level + noise * rng.standard_normal(20))
    return measured_source(models, rows)


def test_input_robustness_separates_stable_from_noisy_gains():
    assert run_claim("input_robustness", models_with_prompt_noise(0.005)).holds == "holds"
    assert run_claim("input_robustness", models_with_prompt_noise(1.0)).holds == "fails"


def test_convention_sensitivity_detects_a_label_flip():
    # penultimate block expands (R1 > 1) while the last block dampens (R2 < 1): the label flips
    flip = residual_rows("flip", 6, [0.9] * 5, block_gain=1.2)
    steady = residual_rows("steady", 6, [1.2] * 5, block_gain=1.2)
    source = measured_source([facts("flip", n_layers=6), facts("steady", n_layers=6)], flip + steady)
    outcome = run_claim("convention_sensitivity", source)
    assert outcome.value == pytest.approx(0.5) and outcome.holds == "fails" and "flip" in outcome.note
    calm = measured_source([facts("steady", n_layers=6)], steady)
    assert run_claim("convention_sensitivity", calm).holds == "holds"


def test_hierarchy_finds_its_models_by_registry_name_not_by_label():
    """Our controls are named e.g. 'gemma-7b-random-init'; claims find them through the registry."""
    levels = {"pythia-6.9b": 0.8, "mistral-7b-v0.1": 1.1, "llama-3.1-8b": 1.5, "gemma-7b": 2.3}
    rng = np.random.default_rng(0)
    models, rows = [], []
    for name, level in levels.items():
        label = f"{name}-random-init"
        models.append(facts(label, registry_model=name))
        rows += residual_rows(label, 12, level + 0.01 * rng.standard_normal(25))
    outcome = run_claim("hierarchy", measured_source(models, rows))
    assert outcome.holds == "holds" and outcome.value == pytest.approx(1.0)
