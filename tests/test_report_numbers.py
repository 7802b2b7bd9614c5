"""The report's one way of writing numbers (report/numbers.py: by a claim's kind, and in the analysis'
notes) and its sentences about claims (report/refs.py), on a small claims table written here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contract.atomic import write_atomically
from contract.tables import CLAIMS_TABLE
from contract.vocab import KINDS
from report.numbers import (
    by_kind,
    ci_level,
    interval,
    is_missing,
    number,
    numbers_in_text,
    p_value,
    percent,
    points,
)
from report.refs import Claims, paper_number, paper_text


@pytest.mark.parametrize(
    "value, digits, expected",
    [
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
    ],
)
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


def test_a_value_is_written_by_its_kind():
    assert by_kind(0.8, "proportion") == "80.0%" and by_kind(0.6087, "accuracy") == "60.9%"
    assert by_kind(0.0, "proportion_difference") == "0 percentage points"
    assert by_kind(23.0, "count") == "23" and by_kind(2.5, "count") == "2.50"
    assert by_kind(0.0357, "p_value") == "p = 0.036" and by_kind(4e-7, "p_value") == "p < 0.001"
    for kind in ("correlation", "slope", "ratio", "difference", "auc", "relative_error", "other"):
        assert by_kind(-0.8784, kind) == "−0.878"
    assert all(by_kind(np.nan, kind) == "–" for kind in KINDS)


@pytest.mark.parametrize(
    "note, expected",
    [
        # an estimate and its interval: three significant digits, real minus signs
        ("significant: -0.8784 [-0.9778, -0.4561], p = 0.0088", "significant: −0.878 [−0.978, −0.456], p = 0.0088"),
        ("F-test p = 4.72e-07; t p = 0.0144", "F-test p < 0.001; t p = 0.014"),  # the p rule
        ("residual 5.78e-05, mean 1.133e+04", "residual 5.78 × 10⁻⁵, mean 11,330"),
        ("bloom-3b 0.9980, opt-350m 0.9995", "bloom-3b 0.998, opt-350m 0.9995"),  # 1.00 would hide the side of 1
        ("dampens (< 0.995) or expands (> 1.005)", "dampens (< 0.995) or expands (> 1.005)"),  # thresholds as stated
        ("the printed 43.75% and p < 0.05", "the printed 43.75% and p < 0.05"),  # quoted values stay
        (
            "pythia-6.9b, llama-3.1-8b, Q4_K_M, x_{L-1}, 0.15-0.20, 4.57.1, v0.1, ICC(2,1), 20260106_014132",
            "pythia-6.9b, llama-3.1-8b, Q4_K_M, x_{L-1}, 0.15-0.20, 4.57.1, v0.1, ICC(2,1), 20260106_014132",
        ),
        ("ratio 26.48x, mean 0.945 +- 0.058 (n = 5), p = 1", "ratio 26.5x, mean 0.945 ± 0.058 (n = 5), p = 1.0"),
    ],
)
def test_numbers_in_notes_follow_the_rules_where_that_is_safe(note, expected):
    assert numbers_in_text(note) == expected


def test_without_rounding_only_the_typography_changes():
    assert (
        numbers_in_text("outside [0.43745, 0.43755] from '-0.81'", rounding=False)
        == "outside [0.43745, 0.43755] from '−0.81'"
    )


def claims_row(claim_id: str, source: str, **values) -> dict:
    row = {column: np.nan for column in CLAIMS_TABLE.columns}
    row.update(
        claim_id=claim_id,
        source=source,
        section="1 Test",
        claim=f"The claim {claim_id}.",
        statistic="Pearson r",
        kind="correlation",
        reproduces="not recomputable",
        holds="inconclusive",
        function="tests.claim",
    )
    row.update(values)
    return row


@pytest.fixture
def claims(tmp_path: Path) -> Claims:
    rows = [
        claims_row(
            "depth_r",
            "published",
            value=-0.8784,
            ci_low=-0.9778,
            ci_high=-0.4561,
            ci_level=0.95,
            p_value=0.0088,
            p_holm=0.13,
            n=8,
            unit="model",
            holds="holds",
            reproduces="no",
            paper_value="-0.81",
            paper_p="0.014",
            test="permutation test",
            rule="holds if p < alpha",
        ),
        claims_row(
            "depth_r",
            "controls",
            value=0.1,
            ci_low=-0.2,
            ci_high=0.4,
            ci_level=0.9,
            p_value=0.6,
            p_holm=0.9,
            n=6,
            unit="model",
            holds="fails",
        ),
        claims_row(
            "pair",
            "published",
            value=-0.26,
            ci_low=-0.29,
            ci_high=-0.24,
            ci_level=0.95,
            p_value=6e-4,
            n=25,
            unit="prompt",
            holds="holds",
            statistic="paired difference",
            kind="difference",
        ),
        claims_row("pair", "controls", holds="inconclusive", note="not enough data: needs two models"),
        claims_row(
            "share",
            "published",
            value=0.8,
            ci_low=0.38,
            ci_high=0.96,
            ci_level=0.95,
            n=5,
            unit="model",
            statistic="share of models that dampen",
            kind="proportion",
            paper_value="80%",
            holds="fails",
        ),
        claims_row("share", "controls", holds="error", note="ValueError: boom"),
        claims_row(
            "size",
            "published",
            value=23.0,
            n=36,
            unit="model",
            statistic="largest number of models",
            kind="count",
            holds="fails",
        ),
    ]
    path = tmp_path / "claims.csv"
    write_atomically(pd.DataFrame(rows, columns=list(CLAIMS_TABLE.columns)), path)
    return Claims(path)


def test_a_citation_gives_ci_level_p_and_n_and_links_to_its_source_row(claims):
    text = claims.cite("depth_r").data
    assert text == (
        "[−0.878 (95% CI −0.978 to −0.456); p = 0.0088, Holm-adjusted p = 0.13; n = 8 models](#claim-depth_r-published)"
    )
    assert claims.cite("depth_r", "controls").data.startswith("[0.100 (90% CI −0.200 to 0.400)")
    assert claims.cite("pair", "controls").data == "[not computable on the random-init controls](#claim-pair-controls)"


def test_verdicts_on_random_weights_read_before_training(claims):
    assert claims.verdict("depth_r").data == "[holds](#claim-depth_r-published)"
    assert claims.verdict("depth_r", "controls").data == "[absent before training](#claim-depth_r-controls)"
    statements = claims.statements("depth_r").data
    assert "absent before training" in statements and "fails" not in statements
    assert "the printed value does not reproduce" in statements and "holds if p \\< alpha" in statements


def test_a_claim_states_its_method_once_and_one_line_per_source(claims):
    statements = claims.statements("depth_r").data
    assert statements.count("*Decision rule*") == 1 and statements.count("holds if p") == 1
    assert statements.count("*Test*: permutation test") == 1  # shared by the sources: said once
    lines = [line for line in statements.splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in lines] == ["- *Authors' data*", "- *Random-init controls*"]
    assert "n = 8 models" in lines[0] and "(#claim-depth_r-published)" in lines[0]


def test_a_within_model_comparison_says_so(claims):
    assert "within-model comparison" in claims.statements("pair").data
    assert "n = 25 prompts, within the named models" in claims.result("pair")
    assert "within-model comparison" not in claims.statements("depth_r").data


def test_values_are_written_by_kind(claims):
    assert claims.estimate("share") == "80.0% (95% CI 38.0% to 96.0%)"
    assert claims.estimate("size") == "23"
    assert not math.isnan(claims.row("depth_r")["value"])


def test_claims_are_selected_by_prefix_or_paper_section_once(claims):
    assert claims.select(("pair", "share")) == ["pair", "share"]
    assert claims.select(paper_sections=("1 Test",)) == ["depth_r", "pair", "share", "size"]
    claims.statements("pair")
    assert claims.select(("pair", "share")) == ["share"]  # a stated claim is not selected again
    assert claims.remaining() == ["depth_r", "share", "size"]
