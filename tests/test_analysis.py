"""The analysis stage as a whole: every registered claim on every source, deterministic output,
and a run without the published data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.claims import CLAIMS, Settings
from analysis.run import run
from claims_fixtures import PUBLISHED_RESULTS
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
    for claim in CLAIMS.values():
        assert claim.section and claim.statement and claim.paper_test and claim.needs


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
    claims = pd.read_csv(first["claims"])
    assert len(claims) == 3 * len(DESIGN_IDS)
    assert set(claims["holds"]) <= {"holds", "fails", "inconclusive"}
    assert set(claims["reproduces"]) <= {"yes", "no", "not recomputable"}
    assert (claims.loc[claims["source"] != "published", "reproduces"] == "not recomputable").all()


def test_without_published_data_every_published_row_says_so(tmp_path):
    written = run(MEASURED, tmp_path / "absent", tmp_path / "derived", SETTINGS, log=lambda *_: None)
    claims = pd.read_csv(written["claims"])
    published = claims[claims["source"] == "published"]
    assert published["value"].isna().all() and published["note"].str.contains("no published data").all()
    controls = claims[claims["source"] == "controls"]
    assert controls["value"].notna().sum() >= 15  # our data decide most claims that need no named model
