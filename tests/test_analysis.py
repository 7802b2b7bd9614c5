"""The analysis stage as a whole: every registered claim on every source, deterministic output, a run
without the published data, the stated decision rules, Holm's adjustment, the error verdict and the
command line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from claims_fixtures import PUBLISHED_RESULTS

import analysis.run as analysis_run
from analysis.claims import CLAIMS, Settings, claim
from analysis.claims.registry import decision_rule
from analysis.cli import list_claims, main
from analysis.needs import Needs
from analysis.run import claim_rows, inputs, run
from analysis.sources import load_sources
from contract.errors import TableError
from contract.tables import CLAIMS_TABLE, read_table
from contract.vocab import KINDS, UNITS
from measure.published import import_published
from report import prerender

ROOT = Path(__file__).resolve().parent.parent
MEASURED = ROOT / "data" / "measured"
DESIGN_IDS = {
    "kleiber_depth_r",
    "kleiber_rho_r",
    "kleiber_gmax_bound",
    "kleiber_total_gain",
    "heritage_dampen_share",
    "heritage_fisher",
    "heritage_lab_means",
    "heritage_mixed",
    "heritage_geometry_scale",
    "spectral_wv_lab_ratio",
    "spectral_ratio_predicts_sign",
    "sheaf_eq4",
    "sheaf_trace_gpt2_opt",
    "sheaf_trace_discriminates",
    "trace_proxy_late_layers",
    "lstar_formula",
    "crowding_pair",
    "crowding_rule",
    "crowding_threshold",
    "twin_gemma",
    "twin_sign",
    "hierarchy",
    "final_ln_accuracy",
    "input_robustness",
    "convention_sensitivity",
}
# Claims added to the design: the abstract's, every analysis of a claim as its own row, and the paper's
# remaining statements (methods.md 5.2 and 7).
ADDED_IDS = {
    "panel_size",
    "laws_validated",
    "kleiber_partial_depth",
    "kleiber_partial_rho",
    "kleiber_mixed",
    "heritage_fisher_implied",
    "heritage_mixed_adjusted",
    "heritage_mixed_unadjusted",
    "sheaf_multihead_additivity",
    "sheaf_restriction_contraction",
    "sheaf_spectral_gap",
    "lstar_definitions",
    "crowding_rho_gain_r",
    "gain_sign_per_model",
}
SETTINGS = Settings(n_resamples=500)


def test_the_registry_holds_exactly_the_designed_claims():
    assert set(CLAIMS) == DESIGN_IDS | ADDED_IDS
    for registered in CLAIMS.values():
        assert registered.section and registered.statement and registered.paper_test and registered.needs
        assert registered.hypothesis and registered.test and registered.rule and registered.kind in KINDS
        assert registered.unit in UNITS or (registered.unit == "" and registered.needs.dataset == "claims")


def test_a_claim_without_a_stated_decision_rule_cannot_be_registered():
    def undecided(src, settings):
        """Hypothesis: something.

        Unit: model.
        Test: a test.
        """

    with pytest.raises(ValueError, match="lacks its decision rule paragraph.*Rule:"):
        claim(
            "undecided",
            section="x",
            statement="x",
            paper_value=None,
            paper_test="x",
            kind="correlation",
            needs=Needs("pythia_gains"),
        )(undecided)
    assert "undecided" not in CLAIMS
    undecided.__doc__ += "Rule: holds if it holds.\n"
    with pytest.raises(ValueError, match="kind must be one of correlation, slope, ratio"):
        claim(
            "undecided",
            section="x",
            statement="x",
            paper_value=None,
            paper_test="x",
            kind="percentage",
            needs=Needs("pythia_gains"),
        )(undecided)
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
    assert decision_rule(bad_unit) == {
        "Hypothesis": "something.",
        "Unit": "prompt (tokens averaged).",
        "Test": "a test.",
        "Rule": "holds if it holds.",
        "unit": "prompt",
    }


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
    assert len(claims) == 3 * len(CLAIMS)
    assert set(claims["holds"]) <= {"holds", "fails", "inconclusive"}  # no claim errs on the shipped data
    assert set(claims["reproduces"]) <= {"yes", "no", "not recomputable"}
    assert (claims.loc[claims["source"] != "published", "reproduces"] == "not recomputable").all()
    for source, rows in claims.groupby("source"):
        tested = rows[rows["p_value"].notna() & (rows["claim_id"] != "laws_validated")]  # derived p: not a test
        assert np.allclose(tested["p_holm"], holm_by_hand(tested["p_value"].to_numpy()), rtol=1e-9), source
        assert rows.loc[rows["p_value"].isna(), "p_holm"].isna().all()
    with_ci = claims["ci_low"].notna()
    assert (claims.loc[with_ci, "ci_level"] == 0.95).all() and claims.loc[~with_ci, "ci_level"].isna().all()
    assert (claims["rule"] == claims["claim_id"].map({i: c.rule for i, c in CLAIMS.items()})).all()


def test_a_claim_that_raises_is_an_error_row_and_the_run_goes_on(monkeypatch, tmp_path):
    def broken(src, settings):
        raise ZeroDivisionError("planted failure")

    monkeypatch.setitem(
        CLAIMS,
        "kleiber_depth_r",
        CLAIMS["kleiber_depth_r"].__class__(**{**CLAIMS["kleiber_depth_r"].__dict__, "compute": broken}),
    )
    sources = load_sources(MEASURED, tmp_path / "absent")
    rows = claim_rows(sources, SETTINGS, log=lambda *_: None).set_index(["claim_id", "source"])
    broken_row = rows.loc[("kleiber_depth_r", "controls")]
    assert broken_row["holds"] == "error" and broken_row["note"] == "error: ZeroDivisionError: planted failure"
    assert broken_row["statistic"] == "kleiber_depth_r"  # the row still names what it was to compute
    assert rows.loc[("kleiber_depth_r", "published"), "holds"] == "inconclusive"  # no data: not even called
    assert rows.loc[("kleiber_rho_r", "controls"), "holds"] in ("holds", "fails", "inconclusive")
    assert len(rows) == 3 * len(CLAIMS)


def test_without_published_data_every_published_row_says_so(tmp_path):
    written = run(MEASURED, tmp_path / "absent", tmp_path / "derived", SETTINGS, log=lambda *_: None)
    claims = pd.read_csv(written["claims"])
    published = claims[claims["source"] == "published"]
    assert published["value"].isna().all() and published["note"].str.contains("no published data").all()
    controls = claims[claims["source"] == "controls"]
    assert controls["value"].notna().sum() >= 15  # our data decide most claims that need no named model


def test_the_formula_column_is_the_fitted_models_formula(published_dir, tmp_path):
    claims = pd.read_csv(run(MEASURED, published_dir, tmp_path, SETTINGS, log=lambda *_: None)["claims"])
    fitted = claims.set_index(["claim_id", "source"])["formula"].dropna()
    assert fitted[("heritage_mixed_adjusted", "published")] == (
        'gain ~ C(heritage, Treatment("other")) + n_layers + log_params'
    )
    assert fitted[("kleiber_mixed", "controls")] == "gain ~ n_layers"
    assert set(fitted.index.get_level_values("claim_id")) <= {
        "kleiber_mixed",
        "kleiber_gmax_bound",
        "heritage_mixed_adjusted",
        "heritage_mixed_unadjusted",
        "heritage_geometry_scale",
    }


def test_listing_names_every_claim_in_paper_order(capsys):
    assert main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert list(list_claims()["claim_id"]) == list(CLAIMS)
    assert all(claim_id in listing for claim_id in CLAIMS) and "4.2 Heritage dominance" in listing


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--claim", "heritage_mixd"], "Unknown claim 'heritage_mixd'. Did you mean: heritage_mixed"),
        (["--resamples", "0"], "--resamples must be at least 1, got 0"),
        (["--resamples", "-5"], "--resamples must be at least 1, got -5"),
        (["--seed", "-1"], "--seed must be at least 0"),
        (["--resamples", "many"], "invalid int value"),
        (["--bogus"], "unknown option --bogus"),
    ],
)
def test_user_errors_exit_2_with_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "derived")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err and captured.out == ""
    assert not (tmp_path / "derived").exists()  # refused before any work


def test_one_claim_prints_data_test_model_and_verdict_per_source(capsys, tmp_path):
    assert (
        main(
            ["--claim", "kleiber_mixed", "--measured", str(MEASURED), "--data-dir", str(tmp_path), "--resamples", "50"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("=== kleiber_mixed on the") == 3
    assert "rule: holds if" in out and "Mixed Linear Model Regression Results" in out
    assert "formula: gain ~ n_layers" in out and "verdict: " in out and "data: Pythia family" in out


def test_a_claim_about_other_claims_runs_alone(capsys, tmp_path):
    assert (
        main(
            ["--claim", "laws_validated", "--measured", str(MEASURED), "--data-dir", str(tmp_path), "--resamples", "50"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "verdict: error" not in out and "kleiber_depth_r" in out


def test_the_fingerprinted_inputs_are_the_ones_the_prerender_step_checks(tmp_path):
    """The analysis records a fingerprint of its inputs; the report's pre-render step recomputes it from the
    manifest to decide whether the results are stale, so both must name the same labelled folders."""
    measured, published = tmp_path / "measured", tmp_path / "published"
    recorded = inputs(measured, published)
    assert recorded == prerender._inputs(tmp_path, {"measured": str(measured), "published": str(published)})
    assert recorded["analysis"] == ROOT / "analysis" and recorded["contract"] == ROOT / "contract"


def test_run_logs_through_log_validates_naming_the_file_and_hands_its_claims_on(monkeypatch, tmp_path, capsys):
    import analysis.figures
    import analysis.retest.derived

    handed = []
    monkeypatch.setattr(analysis.figures, "figure_tables", lambda sources, settings: {})
    monkeypatch.setattr(
        analysis.retest.derived, "retest_tables", lambda sources, settings, claims=None: handed.append(claims) or {}
    )
    lines = []
    written = run(MEASURED, tmp_path / "absent", tmp_path / "derived", SETTINGS, log=lines.append)
    assert capsys.readouterr().out == "" and len(lines) == 3 * len(CLAIMS)  # one line per claim and source
    claims = read_table(written["claims"], CLAIMS_TABLE)
    assert len(handed) == 1 and handed[0] is not None
    pd.testing.assert_series_equal(handed[0]["claim_id"], claims["claim_id"])
    with pytest.raises(TableError, match="no imported published data"):
        run(MEASURED, tmp_path / "absent", tmp_path / "other", SETTINGS, log=lines.append, required=("published",))
    broken = claim_rows(load_sources(MEASURED, tmp_path / "absent"), SETTINGS, log=lambda *_: None)
    broken.loc[0, "holds"] = "perhaps"
    monkeypatch.setattr(analysis_run, "claim_rows", lambda sources, settings, log: broken)
    with pytest.raises(TableError, match=re.escape(str(tmp_path / "derived" / "claims.csv"))):
        run(MEASURED, tmp_path / "absent", tmp_path / "derived", SETTINGS, log=lines.append)


def test_claims_about_claims_come_last_and_stay_out_of_the_holm_family(published_dir, monkeypatch):
    """laws_validated is computed after the claims it summarises (from their rows) and is not one more test of
    the Holm family, whose adjusted p-values are those of the other claims alone."""
    ids = ["laws_validated", "kleiber_depth_r", "kleiber_rho_r", "heritage_fisher", "crowding_rule"]
    computed, handed = [], []
    compute = analysis_run.compute
    monkeypatch.setattr(
        analysis_run,
        "compute",
        lambda claim, src, settings, rows=None: handed.append((claim.id, rows)) or compute(claim, src, settings, rows),
    )
    rows = claim_rows(
        load_sources(MEASURED, published_dir), SETTINGS, log=computed.append, claims=[CLAIMS[i] for i in ids]
    )
    assert [line.split()[0] for line in computed[-3:]] == ["laws_validated"] * 3  # one line per source, last
    for claim_id, given in handed:  # laws_validated reads the rows computed before it, on its own source only
        if claim_id == "laws_validated":
            assert sorted(given["claim_id"]) == sorted(ids[1:]) and given["source"].nunique() == 1
        else:
            assert given is None
    assert rows["claim_id"].drop_duplicates().tolist() == ids  # registry order kept in the table
    meta = rows[rows["claim_id"] == "laws_validated"]
    assert meta["holds"].ne("error").all() and meta["p_holm"].isna().all()
    for _, source in rows[rows["claim_id"] != "laws_validated"].groupby("source"):
        tested = source[source["p_value"].notna()]
        if len(tested):
            np.testing.assert_allclose(tested["p_holm"], holm_by_hand(tested["p_value"].to_numpy(float)), rtol=1e-12)


def test_the_derived_folder_records_where_its_results_come_from(tmp_path, monkeypatch):
    """The manifest of data/derived names the data folders, the settings and the inputs' fingerprint that the
    report's pre-render step compares."""
    import analysis.figures
    import analysis.retest.derived
    from contract.folders import read_manifest
    from contract.hashing import fingerprint

    monkeypatch.setattr(analysis.figures, "figure_tables", lambda sources, settings: {})
    monkeypatch.setattr(analysis.retest.derived, "retest_tables", lambda sources, settings, claims=None: {})
    settings = Settings(n_resamples=200, seed=7)
    published = tmp_path / "absent"
    run(MEASURED, published, tmp_path / "derived", settings, log=lambda *_: None)
    manifest = read_manifest(tmp_path / "derived")
    assert manifest["measured"] == str(MEASURED.resolve()) and manifest["published"] == str(published.resolve())
    assert (manifest["n_resamples"], manifest["seed"]) == (200, 7)
    assert manifest["inputs_sha256"] == fingerprint(inputs(MEASURED, published))
