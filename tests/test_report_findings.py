"""The report's findings in words (report/findings.py), the forest figure's grouping by kind
(report/plots.py) and the compact audit appendix (report/tables.py), on small claims tables written
here: the wording follows the verdicts and the values, so it stays true when they change."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report_numbers import claims_row

from analysis.claims.common import ABOUT_THE_PAPER_NOTE, CONTROLS_NOTE
from contract.atomic import write_atomically
from contract.tables import CLAIMS_TABLE
from report import findings
from report.plots import comparable_printed, drawn_kinds
from report.refs import Claims
from report.tables import PDF_NOTE_CHARACTERS, appendix, not_drawn

SUBJECT = "Law one, gain falls with depth"


def write_claims(tmp_path: Path, rows: list[dict]) -> Claims:
    path = tmp_path / "claims.csv"
    write_atomically(pd.DataFrame(rows, columns=list(CLAIMS_TABLE.columns)), path)
    return Claims(path)


def depth_rows(holds="holds", reproduces="no", value=-0.8784, **published) -> list[dict]:
    return [
        claims_row(
            "depth_r",
            "published",
            value=value,
            ci_low=-0.9778,
            ci_high=-0.4561,
            ci_level=0.95,
            p_value=0.0088,
            p_holm=0.18,
            n=8,
            unit="model",
            holds=holds,
            reproduces=reproduces,
            paper_value="-0.81",
            paper_p="0.014",
            rule="holds if p < alpha",
            **published,
        ),
        claims_row("depth_r", "measured", holds="inconclusive", note="not enough data: needs 4 models"),
        claims_row("depth_r", "controls", value=-0.86, p_value=0.003, n=6, unit="model", holds="fails"),
    ]


@pytest.mark.parametrize(
    "holds, reproduces, says, never",
    [
        ("holds", "no", ["the claim holds", "which does not reproduce the printed value"], ["fails", "inconclusive"]),
        ("fails", "yes", ["the claim fails", "which reproduces the printed value"], ["holds", "not reproduce"]),
        ("inconclusive", "no", ["the claim is inconclusive"], ["holds", "fails"]),
        ("error", "no", ["the computation failed"], ["holds", "fails", "inconclusive"]),
    ],
)
def test_a_finding_says_what_the_verdict_and_the_reproduction_are(tmp_path, holds, reproduces, says, never):
    C = write_claims(tmp_path, depth_rows(holds, reproduces))
    sentence = findings.finding(C, "depth_r", SUBJECT)
    assert sentence.startswith(f"{SUBJECT}: the paper prints −0.81 (p = 0.014); ")
    for words in says:
        assert words in sentence
    for word in never:
        assert word not in sentence
    if holds != "error":
        assert (
            "[−0.878 (95% CI −0.978 to −0.456); p = 0.0088, Holm-adjusted p = 0.18; n = 8 models]"
            "(#claim-depth_r-published)"
        ) in sentence


def test_a_finding_without_a_value_or_a_printed_number_says_so(tmp_path):
    C = write_claims(tmp_path, depth_rows(value=np.nan, holds="inconclusive"))
    assert findings.finding(C, "depth_r", SUBJECT).endswith(
        "it [cannot be computed](#claim-depth_r-published) from the authors' data."
    )
    C = write_claims(tmp_path, [{**row, "paper_value": np.nan, "paper_p": np.nan} for row in depth_rows()])
    sentence = findings.finding(C, "depth_r", SUBJECT)
    assert "the paper prints no number" in sentence and "reproduce" not in sentence


def test_the_story_lists_only_the_claims_the_table_has(tmp_path):
    C = write_claims(tmp_path, depth_rows())
    text = findings.story(C, {"depth_r": SUBJECT, "absent_claim": "Not in the table"}).data
    assert text.count("\n- ") == 0 and text.startswith(f"- {SUBJECT}") and "Not in the table" not in text
    without = write_claims(
        tmp_path, [{**row, "value": np.nan} if row["source"] == "published" else row for row in depth_rows()]
    )
    assert findings.story(without, {"depth_r": SUBJECT}).data.startswith("None of them can be computed")


def test_counts_follow_the_verdicts_and_the_sources_words(tmp_path):
    rows = depth_rows() + [
        claims_row(
            "share", "published", value=0.8, kind="proportion", n=5, holds="fails", reproduces="yes", paper_value="80%"
        ),
        claims_row("share", "measured", value=0.5, kind="proportion", n=2, holds="fails"),
        claims_row("share", "controls", value=0.0, kind="proportion", n=9, holds="holds"),
        claims_row("panel", "published", value=23, kind="count", n=36, holds="fails", reproduces="no"),
        claims_row(
            "panel",
            "measured",
            value=2,
            kind="count",
            n=2,
            holds="inconclusive",
            note=f"{ABOUT_THE_PAPER_NOTE}; 2 models",
        ),
        claims_row(
            "panel",
            "controls",
            value=18,
            kind="count",
            n=18,
            holds="inconclusive",
            note=f"{ABOUT_THE_PAPER_NOTE}; 18 models",
        ),
    ]
    C = write_claims(tmp_path, rows)
    assert findings.counts(C, "published") == "1 holds and 2 fail"
    assert findings.counts(C, "measured") == (
        "1 fails, 1 cannot be computed and 1 is a statement about the paper's own panel"
    )
    assert findings.counts(C, "controls") == (
        "1 is present before training, 1 is absent before training and 1 is a statement about the paper's own panel"
    )
    assert findings.reproduction(C) == (
        "of the 3 printed values that the authors' data let us recompute, 1 reproduces and 2 do not"
    )
    table = findings.verdict_table(C).set_index("verdict")
    assert table.loc[table.index[0], "authors' data"] == "1" and table.iloc[1]["random-init controls"] == "1"
    assert C.verdict_word("panel", "controls") == "not applicable" and C.verdict_word("panel") == "fails"
    assert "a statement about the paper's own panel" in C.source_line("panel", "measured")


def test_tests_that_differ_in_one_stretch_are_said_once(tmp_path):
    rows = depth_rows()
    rows[0]["test"] = "Pearson r; permutation test (Monte Carlo) of r; Fisher-z CI"
    rows[2]["test"] = "Pearson r; permutation test (exact) of r; Fisher-z CI"
    C = write_claims(tmp_path, rows)
    assert C._shared("depth_r", "test") == (
        "Pearson r; permutation test (Monte Carlo on the authors' data, exact on "
        "the random-init controls) of r; Fisher-z CI"
    )
    rows[2]["test"] = "a bootstrap of something else entirely"
    C = write_claims(tmp_path, rows)
    assert C._shared("depth_r", "test") is None
    assert "(test: a bootstrap of something else entirely)" in C.source_line("depth_r", "controls")


def test_the_forest_groups_by_kind_and_draws_the_printed_value_only_where_comparable(tmp_path):
    rows = depth_rows() + [
        claims_row("total", "published", value=1.0, kind="proportion", paper_value="10", reproduces="not recomputable"),
        claims_row("share", "published", value=0.8, kind="proportion", paper_value="80%", reproduces="yes"),
        claims_row(
            "fisher", "published", value=0.036, p_value=0.036, kind="p_value", paper_value="p < 0.001", reproduces="no"
        ),
        claims_row("size", "published", value=23, kind="count", holds="fails"),
    ]
    C = write_claims(tmp_path, rows)
    assert drawn_kinds(C) == {"correlation": ["depth_r"], "proportion": ["total", "share"]}
    assert comparable_printed(C.row("share")) == (0.8, 0.8)
    assert comparable_printed(C.row("total")) is None  # a share of models is not the printed total gain
    listed = not_drawn(C).data
    assert "[fisher](#claim-fisher-published) | p-value | p \\< 0.001 | p = 0.036" in listed
    assert "[size](#claim-size-published) | count" in listed and "depth" not in listed


def test_the_appendix_has_a_row_anchor_per_source_and_shortens_only_the_pdfs_long_notes(tmp_path):
    rows = depth_rows()
    long_note = "; ".join(f"model m{i} has {i} layers" for i in range(200))
    rows[2]["note"] = f"{long_note}; {CONTROLS_NOTE}"
    markdown = appendix(write_claims(tmp_path, rows)).data
    html = "\n".join(re.findall(r"````\{=html\}\n(.*?)\n````", markdown, re.DOTALL))
    typst = "\n".join(re.findall(r"````\{=typst\}\n(.*?)\n````", markdown, re.DOTALL))
    for source in ("published", "measured", "controls"):
        assert f'<tr id="claim-depth_r-{source}"' in html and f"<claim-depth_r-{source}>" in typst
    assert "## depth_r {#claim-depth_r .unnumbered .unlisted}" in markdown
    assert markdown.count("*Decision rule*") == 1
    assert long_note in html  # the HTML: in full
    assert "model m199 has" not in typst and "the note goes on in the HTML version and in claims.csv" in typst
    assert len(max(re.findall(r'note: ([^"]*)', typst), key=len)) < PDF_NOTE_CHARACTERS + 100
    assert CONTROLS_NOTE not in html  # said once in the appendix's introduction
