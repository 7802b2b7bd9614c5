"""The analysis stage as a whole: every registered claim on every source, deterministic output,
and a run without the published data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import numpy as np

from analysis.claims import CLAIMS, Settings, claim
from analysis.claims.registry import decision_rule
from analysis.run import claim_rows, run
from analysis.sources import load_sources
from claims_fixtures import PUBLISHED_RESULTS
from contract.tables import CLAIMS_TABLE, read_table
from contract.vocab import UNITS
from measure.published import import_published

ROOT = Path(__file__).resolve().parent.parent
MEASURED = ROOT / "data" / "measured"
DESIGN_IDS = {
    "kleiber_depth_r", "kleiber_rho_r", "kleiber_gmax_bound", "kleiber_total_gain", "heritage_dampen_share",
    "heritage_fisher", "heritage_lab_means", "heritage_mixed", "heritage_geometry_scale", "spectral_wv_lab_ratio",
    "spectral_ratio_predicts_sign", "sheaf_eq4", "sheaf_trace_gpt2_opt", "sheaf_trace_discriminates",
    "trace_proxy_late_layers", "lstar_formula", "crowding_pair", "crowding_rule", "crowding_threshold",
    "twin_gemma", "twin_sign", "hierarchy", "final_ln_accuracy", "input_robustness", "convention_sensitivity",
}
SETTINGS = Settings(n_resamples=500)


def test_the_registry_holds_exactly_the_designed_claims():
    assert set(CLAIMS) == DESIGN_IDS
    for registered in CLAIMS.values():
        assert registered.section and registered.statement and registered.paper_test and registered.needs
        assert registered.hypothesis and registered.test and registered.rule and registered.unit in UNITS


def test_a_claim_without_a_stated_decision_rule_cannot_be_registered():
    def undecided(src, settings):
        """Hypothesis: something.

        Unit: model.
        Test: a test.
        """

    with pytest.raises(ValueError, match="lacks its decision rule paragraph.*Rule:"):
        claim("undecided", section="x", statement="x", paper_value=None, paper_test="x", needs="x")(undecided)
    assert "undecided" not in CLAIMS

    def bad_unit(src, settings):
        """Hypothesis: something.
        Unit: tokens of the prompt.
        Test: a test.
        Rule: holds if it holds.
        """

    with pytest.raises(ValueError, match="'Unit:' must start with one of"):
        decision_rule(bad_unit)
    bad_unit.__doc__ = bad_unit.__doc__.replace("tokens of the prompt", "prompt (tokens averaged)")
    assert decision_rule(bad_unit) == {"Hypothesis": "something.", "Unit": "prompt (tokens averaged).",
                                       "Test": "a test.", "Rule": "holds if it holds.", "unit": "prompt"}


def holm_by_hand(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: sorted p_(i) times (m - i), running maximum, capped at 1."""
    order = np.argsort(p)
    stepped = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1)
    return adjusted


@pytest.fixture(scope="module")
def published_dir(tmp_path_factory):
    if not PUBLISHED_RESULTS.is_dir():
        pytest.skip(f"the authors' published results are not at {PUBLISHED_RESULTS}")
    out = tmp_path_factory.mktemp("published")
    import_published(PUBLISHED_RESULTS, out)
    return out


def test_same_inputs_give_the_same_files_byte_for_byte(published_dir, tmp_path):
    first = run(MEASURED, published_dir, tmp_path / "a", SETTINGS, log=lambda *_: None)
    second = run(MEASURED, published_dir, tmp_path / "b", SETTINGS, log=lambda *_: None)
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name
    claims = read_table(first["claims"], CLAIMS_TABLE)  # the contract's schema
    assert len(claims) == 3 * len(DESIGN_IDS)
    assert set(claims["holds"]) <= {"holds", "fails", "inconclusive"}  # no claim errs on the shipped data
    assert set(claims["reproduces"]) <= {"yes", "no", "not recomputable"}
    assert (claims.loc[claims["source"] != "published", "reproduces"] == "not recomputable").all()
    for source, rows in claims.groupby("source"):
        tested = rows[rows["p_value"].notna()]
        assert np.allclose(tested["p_holm"], holm_by_hand(tested["p_value"].to_numpy()), rtol=1e-9), source
        assert rows.loc[rows["p_value"].isna(), "p_holm"].isna().all()
    with_ci = claims["ci_low"].notna()
    assert (claims.loc[with_ci, "ci_level"] == 0.95).all() and claims.loc[~with_ci, "ci_level"].isna().all()
    assert (claims["rule"] == claims["claim_id"].map({i: c.rule for i, c in CLAIMS.items()})).all()


def test_a_claim_that_raises_is_an_error_row_and_the_run_goes_on(monkeypatch, tmp_path):
    def broken(src, settings):
        raise ZeroDivisionError("planted failure")

    monkeypatch.setitem(CLAIMS, "kleiber_depth_r", CLAIMS["kleiber_depth_r"].__class__(
        **{**CLAIMS["kleiber_depth_r"].__dict__, "compute": broken}))
    sources = load_sources(MEASURED, tmp_path / "absent")
    rows = claim_rows(sources, SETTINGS, log=lambda *_: None).set_index(["claim_id", "source"])
    broken_row = rows.loc[("kleiber_depth_r", "controls")]
    assert broken_row["holds"] == "error" and "ZeroDivisionError: planted failure" in broken_row["note"]
    assert rows.loc[("kleiber_depth_r", "published"), "holds"] == "inconclusive"  # no data: not even called
    assert rows.loc[("kleiber_rho_r", "controls"), "holds"] in ("holds", "fails", "inconclusive")
    assert len(rows) == 3 * len(DESIGN_IDS)


def test_without_published_data_every_published_row_says_so(tmp_path):
    written = run(MEASURED, tmp_path / "absent", tmp_path / "derived", SETTINGS, log=lambda *_: None)
    claims = pd.read_csv(written["claims"])
    published = claims[claims["source"] == "published"]
    assert published["value"].isna().all() and published["note"].str.contains("no published data").all()
    controls = claims[claims["source"] == "controls"]
    assert controls["value"].notna().sum() >= 15  # our data decide most claims that need no named model
