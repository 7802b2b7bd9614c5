"""The report's layout rules, on small documents converted here: the abstract opens the page before the
table of contents (report/filters/abstract.lua), a figure never floats past the next heading
(report/assets/report.typ) nor above its own (report/filters/sections.lua), and a short table is never
split across pages (report/assets/report.typ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from report.convert import to_html, to_pdf

REPORT_TYPST = Path(__file__).resolve().parents[1] / "report" / "assets" / "report.typ"
FILLER = " ".join(["A sentence of filler text that takes up some room on the page."] * 12)
# A 1 x 1 inch grey square: a figure too tall for the room left on a page.
SQUARE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400">'
    '<rect width="400" height="400" fill="#999"/></svg>'
)


def convert(tmp_path: Path, body: str, to, toc: bool = False) -> Path:
    markdown = tmp_path / "doc.md"
    markdown.write_text(body)
    output = tmp_path / ("doc.html" if to is to_html else "doc.pdf")
    options = {"title": "T", "toc": toc, "number-sections": True, "include-in-header": str(REPORT_TYPST)}
    to(markdown, output, options, tmp_path)
    return output


def pdf_pages(path: Path) -> list[tuple[str, list[dict]]]:
    """(text, words with their positions) of every page."""
    pdfplumber = pytest.importorskip("pdfplumber")
    with pdfplumber.open(path) as pdf:
        return [(page.extract_text() or "", page.extract_words()) for page in pdf.pages]


def where(pages, word: str) -> tuple[int, float]:
    """(page, top) of the first occurrence of ``word``."""
    return next((i, w["top"]) for i, (_, words) in enumerate(pages) for w in words if w["text"] == word)


DOCUMENT = "# Abstract {#abstract .unnumbered .unlisted}\n\nFindings first.\n\n# Introduction\n\nBody text.\n"


def test_the_abstract_comes_before_the_table_of_contents(tmp_path):
    html = convert(tmp_path, DOCUMENT, to_html, toc=True).read_text()
    assert html.index("Findings first.") < html.index('id="TOC"') < html.index("Body text.")
    assert 'class="abstract"' in html and 'id="abstract"' not in html  # moved, not copied
    text = pdf_pages(convert(tmp_path, DOCUMENT, to_pdf, toc=True))[0][0]
    assert text.index("Findings first.") < text.index("Contents") < text.index("Body text.")


def test_a_figure_never_floats_past_the_next_heading(tmp_path):
    # the figure does not fit under the filler, so it floats to the next page; the heading would stay behind
    (tmp_path / "square.svg").write_text(SQUARE)
    body = "\n\n".join([FILLER] * 3) + "\n\n![A tallfigure](square.svg){width=60%}\n\n# Next section\n\nAfter.\n"
    pages = pdf_pages(convert(tmp_path, body, to_pdf))
    assert where(pages, "tallfigure") < where(pages, "Next")  # the caption (under the figure) before the heading


def test_a_figure_never_floats_above_its_own_heading(tmp_path):
    # the heading falls on the second page, where the figure would otherwise rise to the top, above it
    (tmp_path / "square.svg").write_text(SQUARE)
    body = (
        "# First\n\n" + "\n\n".join([FILLER] * 5) + "\n\n# Second section\n\nShort.\n\n"
        "![A tallfigure](square.svg){width=40%}\n\n" + "\n\n".join([FILLER] * 6) + "\n"
    )
    pages = pdf_pages(convert(tmp_path, body, to_pdf))
    assert where(pages, "Second") < where(pages, "tallfigure")


def test_a_short_table_is_not_split_across_pages(tmp_path):
    # under this filler the table starts near the page's foot: without the rule its rows split over two pages
    rows = "\n".join(f"| row{i} | value {i} |" for i in range(8))
    body = "\n\n".join([FILLER] * 4) + f"\n\n| name | value |\n|:--|:--|\n{rows}\n\nAfter the table.\n"
    pages = [text for text, _ in pdf_pages(convert(tmp_path, body, to_pdf))]
    holding = [i for i, text in enumerate(pages) if "row" in text]
    assert len(holding) == 1 and all(f"row{i}" in pages[holding[0]] for i in range(8))
