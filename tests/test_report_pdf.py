"""The check that no two words of a PDF overlap, used on the rendered report (tests/test_report.py),
tested here on PDFs made for it: one with a row printed on top of another, one without."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import typst

# Math italic letters and norm bars: their sub- and superscripts stack by design.
MATH_CHARACTERS = re.compile("[\U0001d400-\U0001d7ff\u2016\u210e]")


def overlapping_words(pdf_path: Path, min_share: float = 0.3) -> list[str]:
    """'page N: "a" at x,y over "b"' wherever two letters or digits are printed over each other: on nearly the
    same line (tops closer than 0.7 of the height) and overlapping by more than ``min_share`` of the
    narrower width. pdfplumber would merge such characters into one garbled word, so characters are
    compared, not words."""
    pdfplumber = pytest.importorskip("pdfplumber")
    found = []
    with pdfplumber.open(pdf_path) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            # letters and digits only: punctuation is kerned into its neighbours (V. or ." by design)
            chars = [
                c
                for c in page.chars
                if c["text"].isalnum() and not MATH_CHARACTERS.search(c["text"]) and "Math" not in c["fontname"]
            ]
            chars.sort(key=lambda c: c["top"])
            tops = np.array([c["top"] for c in chars])
            x0 = np.array([c["x0"] for c in chars])
            x1 = np.array([c["x1"] for c in chars])
            for i, char in enumerate(chars):
                height = char["bottom"] - char["top"]
                end = np.searchsorted(tops, char["top"] + 0.7 * height, side="right")
                if end <= i + 1:
                    continue
                others = slice(i + 1, end)
                overlap = np.minimum(x1[others], char["x1"]) - np.maximum(x0[others], char["x0"])
                narrower = np.minimum(x1[others] - x0[others], char["x1"] - char["x0"])
                hits = np.nonzero(overlap > min_share * np.maximum(narrower, 1e-6))[0]
                if len(hits):
                    other = chars[i + 1 + hits[0]]
                    found.append(
                        f"page {number}: {char['text']!r} at {char['x0']:.0f},{char['top']:.0f} over {other['text']!r}"
                    )
    return found


def pdf(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "doc.pdf"
    typst.compile(("#set page(width: 12cm, height: 6cm)\n" + body).encode(), output=str(path))
    return path


def test_rows_printed_on_top_of_each_other_are_found(tmp_path: Path):
    # the second row is drawn 3 pt below the first, as an unbreakable table spilling past a page does
    collided = pdf(
        tmp_path,
        "#place(dy: 0pt, table(columns: 2, [claim_one], [holds]))\n"
        "#place(dy: 3pt, table(columns: 2, [claim_two], [fails]))",
    )
    assert overlapping_words(collided)


def test_a_clean_table_passes(tmp_path: Path):
    clean = pdf(tmp_path, "#table(columns: 2, [claim_one], [holds], [claim_two], [fails])\n$norm(W_V^h)_F^2$")
    assert overlapping_words(clean) == []
