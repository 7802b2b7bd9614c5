"""Spectral-signature and trace-proxy claims: recomputed from the authors' numbers and checked on planted
per-head weight norms."""

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


def heads_rows(model: str, n_layers: int, n_heads: int, wv, wo=1.0, ov=None) -> list[dict]:
    """Per-head norm rows: ``wv``/``wo``/``ov`` spectral norms, a number or one value per layer
    (Frobenius = 8 x spectral; ``ov`` defaults to wv x wo)."""
    wv, wo = np.broadcast_to(wv, n_layers), np.broadcast_to(wo, n_layers)
    ov = wv * wo if ov is None else np.broadcast_to(ov, n_layers)
    return [
        dict(
            model=model,
            layer=layer,
            head=head,
            kv_head=head,
            wv_spectral=wv[layer],
            wv_frobenius=8 * wv[layer],
            wo_spectral=wo[layer],
            wo_frobenius=8 * wo[layer],
            ov_spectral=ov[layer],
            ov_frobenius=8 * ov[layer],
        )
        for layer in range(n_layers)
        for head in range(n_heads)
    ]


def weight_source(specs: list[tuple[str, str, float, float]], n_layers: int = 8, seed: int = 0):
    """A source of (model, lab, W_V norm, last-block gain) models, 4 heads per layer, per-head noise-free."""
    models, residual, heads = [], [], []
    rng = np.random.default_rng(seed)
    for name, lab, wv, gain in specs:
        models.append(
            facts(name, lab=lab, family={"EleutherAI": "gpt_neox"}.get(lab, "opt"), n_layers=n_layers, n_heads=4)
        )
        residual += residual_rows(name, n_layers, gain + 0.001 * rng.standard_normal(5))
        heads += heads_rows(name, n_layers, 4, wv)
    return measured_source(models, residual, heads=pd.DataFrame(heads))


def lab_source(ratio: float, seed: int = 0):
    """Six EleutherAI and six Meta models whose mean ||W_V^h||_2 differ by ``ratio`` (lognormal spread)."""
    rng = np.random.default_rng(seed)
    spread = np.exp(0.2 * rng.standard_normal(12))
    specs = [(f"e{i}", "EleutherAI", ratio * spread[i], 1.1) for i in range(6)]
    specs += [(f"m{i}", "Meta", spread[6 + i], 1.1) for i in range(6)]
    return weight_source(specs)


def csv_norms(published, quantity):  # noqa: F811
    rows = published.get(quantity, notebook="CSV", aggregate="value")
    return published.with_facts(rows).set_index("model")


def test_lab_ratio_reproduces_the_ten_fold_gap_on_the_papers_numbers(published):  # noqa: F811
    wv = csv_norms(published, "wv_spectral_mean")
    expected = wv.loc[wv["lab"] == "EleutherAI", "value"].mean() / wv.loc[wv["lab"] == "Meta", "value"].mean()
    outcome = run_claim("spectral_wv_lab_ratio", published)
    assert outcome.value == pytest.approx(expected)
    assert outcome.value == pytest.approx((22.146688 + 16.925121 + 25.803930) / 3 / ((1.607602 + 2.751520) / 2))
    assert _reproduces(CLAIMS["spectral_wv_lab_ratio"], "published", outcome)[0] == "yes"
    assert outcome.ci_low < outcome.value < outcome.ci_high
    assert outcome.p_value == pytest.approx(0.1)  # exact: 1 of the C(5, 2) = 10 relabellings
    assert outcome.holds == "inconclusive" and "mis-sliced" in outcome.note


def test_signature_auc_on_the_papers_numbers(published):  # noqa: F811
    wv, wo = csv_norms(published, "wv_spectral_mean"), csv_norms(published, "wo_mean")
    ratio = wv["value"] / wo["value"]
    dampen = ["pythia-410m", "gpt-neo-125m", "opt-350m"]  # R1 gains < 1 (HRH, PFS)
    expand = [m for m in ratio.index if m not in dampen]  # gpt2 by the H4 notebooks' known gain 1.05
    u = scipy.stats.mannwhitneyu(ratio[dampen], ratio[expand], alternative="greater")
    outcome = run_claim("spectral_ratio_predicts_sign", published)
    assert outcome.n == 7
    assert outcome.value == pytest.approx(u.statistic / 12) and outcome.value == pytest.approx(5 / 12)
    assert outcome.p_value == pytest.approx(u.pvalue)
    assert outcome.holds == "inconclusive"


def test_trace_proxy_on_the_papers_numbers_is_not_comparable(published):  # noqa: F811
    wv = csv_norms(published, "wv_spectral_mean")
    squared = wv["value"] ** 2
    eleuther = wv["lab"] == "EleutherAI"
    outcome = run_claim("trace_proxy_late_layers", published)
    assert outcome.value == pytest.approx(squared[eleuther].mean() / squared[~eleuther].mean())
    assert not outcome.comparable and outcome.holds == "inconclusive"
    assert outcome.note.startswith("the verdict overrides the test (holds -> inconclusive)")
    assert _reproduces(CLAIMS["trace_proxy_late_layers"], "published", outcome)[0] == "not recomputable"


def test_planted_lab_ratio_is_recovered_with_a_covering_ci():
    outcome = run_claim("spectral_wv_lab_ratio", lab_source(10.0))
    assert outcome.ci_low < 10 < outcome.ci_high
    assert outcome.value == pytest.approx(10, rel=0.25)
    assert outcome.holds == "holds" and outcome.p_value == pytest.approx(1 / 924)  # exact: C(12, 6) relabellings
    assert "OV ratio" in outcome.note


def test_equal_labs_do_not_hold():
    outcome = run_claim("spectral_wv_lab_ratio", lab_source(1.0, seed=2))
    assert outcome.holds == "fails"  # the CI excludes the stated 10
    assert outcome.ci_low < 1 < outcome.ci_high


def test_ratio_that_separates_signs_gives_auc_one_and_unrelated_ratio_does_not_hold():
    separating = [(f"d{i}", "EleutherAI", 5.0 + i, 0.9) for i in range(4)]
    separating += [(f"x{i}", "Meta", 1.0 + 0.1 * i, 1.1) for i in range(4)]
    outcome = run_claim("spectral_ratio_predicts_sign", weight_source(separating))
    assert outcome.value == 1.0 and outcome.holds == "holds"
    assert outcome.p_value == pytest.approx(1 / 70)  # exact Mann-Whitney, 4 vs 4
    unrelated = [(f"d{i}", "EleutherAI", w, 0.9) for i, w in enumerate([1, 4, 2, 3])]
    unrelated += [(f"x{i}", "Meta", w, 1.1) for i, w in enumerate([0.5, 1.5, 3.5, 5.5])]
    null = run_claim("spectral_ratio_predicts_sign", weight_source(unrelated))
    assert null.value == pytest.approx(0.5) and null.holds == "inconclusive"


def test_planted_late_layer_gap_is_found_only_in_late_layers():
    n_layers = 8
    # EleutherAI: 300x the others' ||W_V^h||_2^2 in layers 6 and 7 (the last quarter), smaller before
    eleuther = np.where(np.arange(n_layers) >= 6, np.sqrt(300.0), 0.5)
    models, heads, residual = [], [], []
    for i in range(4):
        scale = 1 + 0.05 * i
        models += [
            facts(f"e{i}", n_layers=n_layers, n_heads=4),
            facts(f"o{i}", lab="OpenAI", family="gpt2", n_layers=n_layers, n_heads=4),
        ]
        heads += heads_rows(f"e{i}", n_layers, 4, eleuther * scale) + heads_rows(f"o{i}", n_layers, 4, scale)
        residual += residual_rows(f"e{i}", n_layers, [1.1] * 3) + residual_rows(f"o{i}", n_layers, [1.1] * 3)
    outcome = run_claim("trace_proxy_late_layers", measured_source(models, residual, heads=pd.DataFrame(heads)))
    assert outcome.value == pytest.approx(300, rel=1e-9)
    assert outcome.ci_low < 300 < outcome.ci_high
    assert outcome.holds == "holds" and outcome.p_value == pytest.approx(1 / 70)  # exact, 4 vs 4


def test_missing_labs_or_tables_are_insufficient_data():
    only_meta = weight_source([(f"m{i}", "Meta", 1.0, 1.1) for i in range(3)])
    with pytest.raises(InsufficientData, match="has 0 EleutherAI and 3 Meta"):
        run_claim("spectral_wv_lab_ratio", only_meta)
    with pytest.raises(InsufficientData, match="has 0 dampen and 3 expand"):
        run_claim("spectral_ratio_predicts_sign", only_meta)
    no_heads = measured_source([facts("e0")], residual_rows("e0", 12, [1.1]))
    with pytest.raises(InsufficientData, match="heads table"):
        run_claim("trace_proxy_late_layers", no_heads)


@pytest.mark.parametrize(
    "claim_id", ["spectral_wv_lab_ratio", "spectral_ratio_predicts_sign", "trace_proxy_late_layers"]
)
def test_claims_are_deterministic(claim_id):
    specs = [(f"e{i}", "EleutherAI", 3.0 + i, 0.9 + 0.1 * (i % 2)) for i in range(4)]
    specs += [(f"m{i}", "Meta", 1.0 + 0.3 * i, 1.1 - 0.2 * (i % 2)) for i in range(4)]
    source = weight_source(specs)
    assert repr(run_claim(claim_id, source)) == repr(run_claim(claim_id, source))
