"""The report's one way of writing numbers (report/numbers.py) and its sentences about claims
(report/refs.py), on a small claims table written here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contract.atomic import write_atomically
from contract.tables import CLAIMS_TABLE
from report.numbers import ci_level, interval, is_missing, number, p_value, percent, points
from report.refs import Claims, paper_number, paper_text, value_scale


@pytest.mark.parametrize("value, digits, expected", [
    (0.125, 3, "0.125"),
    (0.125, 2, "0.13"),  # half away from zero, not the binary 0.12
    (-0.25, 3, "−0.250"),  # trailing zeros kept, real minus
    (1.4, 3, "1.40"),
    (0.2, 2, "0.20"),
    (9.995, 3, "10.0"),  # rounding up adds a digit: still three significant
    (26.48, 3, "26.5"),
    (62696.0, 3, "62,696"),  # integers at or above 10^digits in full
    (1.786e-8, 3, "1.79 × 10⁻⁸"),
    (0.0, 3, "0"),
    (float("inf"), 3, "∞"),
])
def test_number_keeps_significant_digits(value, digits, expected):
    assert number(value, digits) == expected


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NA])
def test_a_missing_value_is_never_nan(missing):
    assert is_missing(missing)
    assert number(missing) == p_value(missing) == percent(missing) == points(missing) == "–"
    assert interval(missing, 1.0) == ""


def test_p_values_follow_one_rule():
    assert p_value(0.2) == "p = 0.20"
    assert p_value(0.0088) == "p = 0.0088"
    assert p_value(0.05) == "p = 0.050"
    assert p_value(1.0) == "p = 1.0"
    assert p_value(0.000999) == "p < 0.001"
    assert p_value(3e-47) == "p < 0.001"
    assert p_value(0.02, "Holm-adjusted p") == "Holm-adjusted p = 0.020"


def test_percentages_and_percentage_points():
    assert percent(0.8) == "80.0%"
    assert percent(1.0) == "100%" and percent(0.0) == "0%"
    assert percent(0.4375) == "43.8%"
    assert percent(0.157) == "15.7%"
    assert points(0.0) == "0 percentage points"
    assert points(1 / 6) == "+16.7 percentage points"
    assert points(-0.3125) == "−31.3 percentage points"
    assert ci_level(0.95) == "95%" and ci_level(0.999) == "99.9%"


def test_paper_values_keep_their_meaning():
    assert paper_text("0.15-0.20") == "0.15–0.20"  # a range, not a minus
    assert paper_text("-0.81") == "−0.81"
    assert paper_text("43.75% -> 100%") == "43.75% → 100%"
    assert paper_text(float("nan")) == "–"
    assert paper_number("80%") == (0.8, 0.8)
    assert paper_number("~300x") == (300.0, 300.0)
    assert paper_number("0.15-0.20") == (0.15, 0.20)
    assert paper_number("p < 0.001") is None and paper_number("0.80 < 1.11 < 1.48") is None


def claims_row(claim_id: str, source: str, **values) -> dict:
    row = {column: np.nan for column in CLAIMS_TABLE.columns}
    row.update(claim_id=claim_id, source=source, section="1 Test", claim=f"The claim {claim_id}.",
               statistic="Pearson r", reproduces="not recomputable", holds="inconclusive",
               function="tests.claim")
    row.update(values)
    return row


@pytest.fixture
def claims(tmp_path: Path) -> Claims:
    rows = [
        claims_row("depth_r", "published", value=-0.8784, ci_low=-0.9778, ci_high=-0.4561, ci_level=0.95,
                   p_value=0.0088, p_holm=0.13, n=8, unit="model", holds="holds", reproduces="no",
                   paper_value="-0.81", paper_p="0.014", test="permutation test", rule="holds if p < alpha"),
        claims_row("depth_r", "controls", value=0.1, ci_low=-0.2, ci_high=0.4, ci_level=0.9, p_value=0.6,
                   p_holm=0.9, n=6, unit="model", holds="fails"),
        claims_row("pair", "published", value=-0.26, ci_low=-0.29, ci_high=-0.24, ci_level=0.95, p_value=6e-4,
                   n=25, unit="prompt", holds="holds", statistic="paired difference"),
        claims_row("pair", "controls", holds="inconclusive", note="not enough data: needs two models"),
        claims_row("share", "published", value=0.8, ci_low=0.38, ci_high=0.96, ci_level=0.95, n=5, unit="model",
                   statistic="share of models that dampen", paper_value="80%", holds="fails"),
        claims_row("share", "controls", holds="error", note="ValueError: boom"),
        claims_row("size", "published", value=23.0, n=36, unit="model", statistic="largest number of models",
                   holds="fails"),
    ]
    path = tmp_path / "claims.csv"
    write_atomically(pd.DataFrame(rows, columns=list(CLAIMS_TABLE.columns)), path)
    return Claims(path)


def test_a_citation_gives_ci_level_p_and_n_and_links_to_its_source_row(claims):
    text = claims.cite("depth_r").data
    assert text == ("[−0.878 (95% CI −0.978 to −0.456); p = 0.0088, Holm-adjusted p = 0.13; n = 8 models]"
                    "(#claim-depth_r-published)")
    assert claims.cite("depth_r", "controls").data.startswith("[0.100 (90% CI −0.200 to 0.400)")
    assert claims.cite("pair", "controls").data == "[not computable on the random-init controls](#claim-pair-controls)"


def test_verdicts_on_random_weights_read_before_training(claims):
    assert claims.verdict("depth_r").data == "[holds](#claim-depth_r-published)"
    assert claims.verdict("depth_r", "controls").data == "[absent before training](#claim-depth_r-controls)"
    statements = claims.statements("depth_r").data
    assert "absent before training" in statements and "fails" not in statements
    assert "The printed value does not reproduce" in statements and "holds if p \\< alpha" in statements


def test_a_within_model_comparison_says_so(claims):
    assert "within-model comparison" in claims.statements("pair").data
    assert "within-model comparison" not in claims.statements("depth_r").data


def test_shares_are_percentages_and_summaries_name_the_claims(claims):
    claims.statements("depth_r")
    assert value_scale(claims.row("share")) == "percent"
    assert claims.estimate("share") == "80.0% (95% CI 38.0% to 96.0%)"
    assert claims.estimate("size") == "23"
    findings = claims.findings("published").data
    assert "the claims that hold (2 of 4): [depth_r](#claim-depth_r-published) and [pair](#claim-pair-published)" \
        in findings
    assert "those that fail (2 of 4): [share](#claim-share-published) and [size](#claim-size-published)" in findings
    controls = claims.findings("controls").data
    assert "absent before training (1 of 3)" in controls and "the computation failed for [share]" in controls
    assert claims.remaining() == ["pair", "share", "size"]  # depth_r was stated above
    assert not math.isnan(claims.row("depth_r")["value"])


def test_claims_are_selected_by_prefix_or_paper_section_once(claims):
    assert claims.select(("pair", "share")) == ["pair", "share"]
    assert claims.select(paper_sections=("1 Test",)) == ["depth_r", "pair", "share", "size"]
    claims.statements("pair")
    assert claims.select(("pair", "share")) == ["share"]  # a stated claim is not selected again
