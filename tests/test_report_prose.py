"""No typed numbers in the report: every number of the prose and the captions of report/index.qmd
comes from the derived tables through inline expressions or cells.

The scan reads the prose outside code cells, fenced blocks, inline expressions and code spans,
and the caption and alt-text options of the cells. Allowed: years, the DOI, the names of the
paper's gain conventions (R1-R4), section numbers, citation keys, and in math only one-digit indices and
exponents (x_{b-1}, ||W||_F^2) and the bound's own definition 10^{1/L}.
"""

from __future__ import annotations

import re
from pathlib import Path

from report import qmd

INDEX = Path(__file__).resolve().parents[1] / "report" / "index.qmd"
CAPTION_OPTIONS = ("fig-cap", "tbl-cap", "fig-alt")
ALLOWED = [
    re.compile(r"\b(?:19|20)\d\d\b"),  # years
    re.compile(r"\b10\.\d{4,9}/\S+"),  # DOIs
    re.compile(r"\bR[1-4]\b"),  # convention names
    re.compile(r"\b[Ss]ection \d+(?:\.\d+)*"),  # section numbers
    re.compile(r"-?@[\w:-]+"),  # citation keys and cross-references
]
MATH = re.compile(r"\$[^$]+\$")
MATH_NOTATION = [re.compile(r"10\^\{1/L\}"), re.compile(r"[_^]\{?-?\d\}?"), re.compile(r"[-+]\s?1\}")]
CODE_SPAN = re.compile(r"`[^`]*`")
COMMENT = re.compile(r"<!--.*?-->", re.S)


def typed_numbers(text: str) -> list[str]:
    """The digit runs of prose ``text`` that are not allowed (see the module docstring)."""
    text = COMMENT.sub(" ", CODE_SPAN.sub(" ", qmd.INLINE.sub(" ", text)))

    def math_digits(match: re.Match) -> str:
        formula = match.group(0)
        for pattern in MATH_NOTATION:
            formula = pattern.sub(" ", formula)
        return formula

    text = MATH.sub(math_digits, text)
    for pattern in ALLOWED:
        text = pattern.sub(" ", text)
    return re.findall(r"[^\s]*\d[^\s]*", text)


def prose_and_captions(path: Path) -> list[tuple[str, str]]:
    """(where, text) for every prose chunk and every caption/alt option of ``path``."""
    document = qmd.parse(path)
    found = [(f"prose at line {chunk.line}", chunk.text) for chunk in document.chunks if isinstance(chunk, qmd.Prose)]
    for cell in document.cells:
        found += [
            (f"{option} of {cell.name}", str(cell.options[option]))
            for option in CAPTION_OPTIONS
            if option in cell.options
        ]
    return found


def test_the_report_types_no_numbers():
    offending = [(where, numbers) for where, text in prose_and_captions(INDEX) if (numbers := typed_numbers(text))]
    assert not offending, f"typed numbers in report/index.qmd (read them from the derived tables): {offending}"


def test_the_scan_finds_typed_numbers_and_allows_the_exceptions(tmp_path: Path):
    document = tmp_path / "doc.qmd"
    document.write_text(
        "---\ntitle: T\n---\n"
        "The paper reports r = -0.81 over eight models (R1, R4), see Section 3 and doi 10.5281/zenodo.18165365 "
        "of 2026. Inline `{python} C.cite('x', digits=3)` and `code 42` and $\\lVert W \\rVert_F^2$, "
        "$x_{b-1}$, $G = 10^{1/L}$ but $L (0.11 + 4.9/H)$.\n"
        "<!-- a comment with 7 -->\n"
        '```{python}\n#| label: fig-x\n#| fig-cap: "The 16-model table."\nx = 12345\n```\n'
        "```\nverbatim 99\n```\n"
    )
    found = {where.split(" ")[0]: typed_numbers(text) for where, text in prose_and_captions(document)}
    assert found["prose"] == ["-0.81", "(0.11", "4.9/H)$."]
    assert found["fig-cap"] == ["16-model"]
