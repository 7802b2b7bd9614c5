"""The report's tables and appendix, written as markdown with raw HTML and Typst blocks.

* ``glance``: the claims at a glance. HTML: every column, sortable and searchable with the
  bundled script assets/claims-table.js (no network); PDF: fewer columns in a Typst table that
  breaks across pages and repeats its header.
* ``appendix``: one entry per claim (``#claim-<id>``): the printed value, the test and rule once, a
  small table with a row per source (``#claim-<id>-<source>``: estimate, p, n, reproduction, verdict)
  and the analysis' notes per source; everything the rows of claims.csv say.
* ``markdown_table``: a DataFrame as a pipe table, "–" for missing values.
* ``downloads``: files embedded in the HTML as data URIs (download links); the PDF names the paths.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from analysis.claims.common import CONTROLS_NOTE
from contract.vocab import DATA_SOURCES
from report.numbers import MISSING, is_missing, numbers_in_text
from report.refs import (
    SOURCE_TITLES,
    Claims,
    _escape,
    html_text,
    n_with_unit,
    note_text,
    paper_text,
)

GLANCE_COLUMNS = [
    "Claim",
    "Paper's value",
    "Recomputed on the authors' data",
    "Reproduces",
    "Holds",
    "Before training",
    "Test",
    "n",
    "Unit of analysis",
]


def _raw(fmt: str, text: str) -> str:
    fence = "`" * 4
    return f"{fence}{{={fmt}}}\n{text}\n{fence}\n"


def _typst_string(text) -> str:
    """A Typst string literal; zero-width spaces after underscores let long ids break."""
    return json.dumps(str(text), ensure_ascii=False).replace("_", "_\u200b")


def glance_rows(C: Claims) -> list[dict]:
    """One dict per claim: what the glance table shows, on the authors' data and the controls."""
    rows = []
    for claim_id in C.ids:
        published = C.row(claim_id, "published")
        controls = C.row(claim_id, "controls") if (claim_id, "controls") in C.table.index else None
        rows.append(
            {
                "claim_id": claim_id,
                "paper": paper_text(published["paper_value"]),
                "recomputed": C.estimate(claim_id, "published"),
                "sort_value": published["value"],
                "reproduces": published["reproduces"],
                "holds": _verdict_cell(C, claim_id, "published"),
                "before_training": (
                    MISSING
                    if controls is None
                    else _verdict_cell(C, claim_id, "controls").removesuffix(" before training")
                ),
                "test": MISSING if is_missing(published["test"]) else published["test"],
                "n": published["n"],
                "n_text": n_with_unit(published),
                "unit": MISSING if is_missing(published["unit"]) else published["unit"],
            }
        )
    return rows


def _verdict_cell(C: Claims, claim_id: str, source: str) -> str:
    """The verdict word; "–" where nothing could be computed (an inconclusive row without a value)."""
    row = C.row(claim_id, source)
    if is_missing(row["value"]) and row["holds"] == "inconclusive":
        return MISSING
    return C.verdict_word(claim_id, source).removeprefix("is ")


def glance(C: Claims, caption: str) -> Markdown:
    rows = glance_rows(C)
    return Markdown(_raw("html", _glance_html(rows, caption)) + "\n" + _raw("typst", _glance_typst(rows, caption)))


def _glance_html(rows: list[dict], caption: str) -> str:
    head = "".join(f'<th scope="col"><button type="button">{html_text(name)}</button></th>' for name in GLANCE_COLUMNS)
    body = []
    for r in rows:
        sort_value = "" if is_missing(r["sort_value"]) else repr(float(r["sort_value"]))
        n_value = "" if is_missing(r["n"]) else str(int(r["n"]))
        cells = [
            f'<td><a href="#{Claims.anchor(r["claim_id"])}">{html_text(r["claim_id"])}</a></td>',
            f"<td>{html_text(r['paper'])}</td>",
            f'<td data-sort="{sort_value}">{html_text(r["recomputed"])}</td>',
            f"<td>{html_text(r['reproduces'])}</td>",
            f'<td class="verdict-{html_text(r["holds"]).replace(" ", "-")}">{html_text(r["holds"])}</td>',
            f"<td>{html_text(r['before_training'])}</td>",
            f'<td class="test">{html_text(r["test"])}</td>',
            f'<td data-sort="{n_value}">{html_text(MISSING if is_missing(r["n"]) else int(r["n"]))}</td>',
            f"<td>{html_text(r['unit'])}</td>",
        ]
        body.append(f'<tr id="glance-{html_text(r["claim_id"])}">{"".join(cells)}</tr>')
    return (
        '<div class="claims-glance">\n'
        '<label class="table-filter">Filter: <input type="search" data-filters="claims-table" '
        'placeholder="claim, verdict or test" aria-label="Filter the claims table"></label> '
        '<span class="table-count" data-counts="claims-table"></span>\n'
        '<table id="claims-table" class="sortable" data-quarto-disable-processing="true">\n'
        f"<caption>{html_text(caption)}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>\n</div>\n"
        '<script src="assets/claims-table.js"></script>'
    )


def _glance_typst(rows: list[dict], caption: str) -> str:
    header = ["Claim", "Paper", "Recomputed on the authors' data", "n", "Reproduces", "Holds", "Before training"]
    cells = []
    for r in rows:
        label = Claims.anchor(r["claim_id"])
        cells += [
            f"link(<{label}>)[#{_typst_string(r['claim_id'])}]",
            *(
                f"[#{_typst_string(text)}]"
                for text in (
                    r["paper"],
                    r["recomputed"],
                    r["n_text"],
                    r["reproduces"],
                    r["holds"],
                    r["before_training"],
                )
            ),
        ]
    return (
        "#block(breakable: true)[\n#set text(size: 7.5pt, hyphenate: false)\n#set par(justify: false)\n"
        f"#block(sticky: true)[#strong[{_typst_string(caption)[1:-1]}]]\n"
        "#table(columns: (1.45fr, 1fr, 1.6fr, 0.8fr, 0.9fr, 0.85fr, 0.85fr), align: left + top, stroke: none,\n"
        "  inset: (x: 3pt, y: 2.5pt),\n  table.hline(),\n"
        f"  table.header({', '.join(f'[*{name}*]' for name in header)}),\n  table.hline(stroke: 0.5pt),\n"
        + "".join(f"  {', '.join(cells[i : i + len(header)])},\n" for i in range(0, len(cells), len(header)))
        + "  table.hline(),\n)\n]"
    )


APPENDIX_COLUMNS = ["Source", "Estimate (CI)", "p; Holm-adjusted p", "n", "Reproduces", "Verdict"]


def appendix(C: Claims) -> Markdown:
    """The audit appendix: per claim (``#claim-<id>``) what the paper printed and how the claim is tested,
    a small table with a row per source (``#claim-<id>-<source>``) and the analysis' notes per source."""
    parts = [_raw("typst", "#set text(size: 8.5pt)\n#set par(leading: 0.5em)")]
    for claim_id in C.ids:
        rows = C.table.loc[claim_id]
        first = rows.iloc[0]
        printed = C.paper(claim_id)
        facts = [
            f"*{note_text(first['claim'], rounding=False)}* (paper: {_escape(first['section'])}).",
            f"Printed: {_escape(printed)}." if printed != MISSING else "Printed: no number.",
            "" if is_missing(first["paper_test"]) else f"Test the paper names: {_escape(first['paper_test'])}.",
            f"Needs: {_escape(first['needs'])}." if not is_missing(first["needs"]) else "",
            f"Model formula: `{first['formula']}`." if not is_missing(first["formula"]) else "",
            f"Computed by `{first['function']}`.",
        ]
        parts.append(
            f"## {claim_id} {{#{Claims.anchor(claim_id)} .unnumbered .unlisted}}\n\n"
            + " ".join(fact for fact in facts if fact)
            + "\n\n"
            + C.method(claim_id)
            + "\n"
        )
        sources = [source for source in DATA_SOURCES if source in rows.index]
        table = [_appendix_row(C, claim_id, source) for source in sources]
        parts.append(
            _raw("html", _appendix_html(claim_id, table)) + "\n" + _raw("typst", _appendix_typst(claim_id, table))
        )
        parts.append(_appendix_notes(C, claim_id, sources))
    return Markdown("\n".join(parts))


def _appendix_row(C: Claims, claim_id: str, source: str) -> dict:
    row = C.row(claim_id, source)
    computed = not is_missing(row["value"])
    return {
        "source": source,
        "title": SOURCE_TITLES[source].replace("'", "’"),
        "estimate": C.estimate(claim_id, source)
        if computed
        else ("computation failed" if row["holds"] == "error" else "not computable"),
        "p": "; ".join(filter(None, [C.p(claim_id, source)])) or MISSING,
        "n": n_with_unit(row),
        "reproduces": row["reproduces"] if source == "published" else MISSING,
        "verdict": C.verdict_word(claim_id, source).removeprefix("is ") if computed else MISSING,
    }


def _appendix_html(claim_id: str, table: list[dict]) -> str:
    head = "".join(f'<th scope="col">{html_text(name)}</th>' for name in APPENDIX_COLUMNS)
    body = "".join(
        f'<tr id="{Claims.anchor(claim_id, r["source"])}" class="claim-source">'
        + "".join(f"<td>{html_text(r[key])}</td>" for key in ("title", "estimate", "p", "n", "reproduces"))
        + f'<td class="verdict-{html_text(r["verdict"]).replace(" ", "-")}">{html_text(r["verdict"])}</td></tr>\n'
        for r in table
    )
    return f'<table class="claim-rows">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>'


def _appendix_typst(claim_id: str, table: list[dict]) -> str:
    cells = []
    for r in table:
        cells.append(f"[#box[{_typst_string(r['title'])[1:-1]}]<{Claims.anchor(claim_id, r['source'])}>]")
        cells += [f"[#{_typst_string(r[key])}]" for key in ("estimate", "p", "n", "reproduces", "verdict")]
    width = len(APPENDIX_COLUMNS)
    return (
        "#block(breakable: false, above: 0.6em, below: 0.6em)[\n#set text(size: 7.5pt, hyphenate: false)\n"
        "#table(columns: (1fr, 2.3fr, 2fr, 0.8fr, 0.85fr, 1fr), align: left + top, stroke: none,\n"
        "  inset: (x: 3pt, y: 2pt),\n  table.hline(),\n"
        f"  table.header({', '.join(f'[*{name}*]' for name in APPENDIX_COLUMNS)}),\n  table.hline(stroke: 0.5pt),\n"
        + "".join(f"  {', '.join(cells[i : i + width])},\n" for i in range(0, len(cells), width))
        + "  table.hline(),\n)\n]"
    )


def _appendix_notes(C: Claims, claim_id: str, sources: list[str]) -> str:
    """What the rows say beyond their numbers, per source: the test (where the sources differ), the data, the
    analysis' note and the reproduction check. HTML shows every note in full; the PDF shortens a note longer
    than ``PDF_NOTE_CHARACTERS`` at a clause, saying so (the full note is in the HTML and in claims.csv)."""
    items = []
    for source in sources:
        row = C.row(claim_id, source)
        details = [
            ("test", None if C._shared(claim_id, "test") else row["test"]),
            ("data", row["data"]),
            ("note", _without_controls_note(row["note"])),
            ("reproduction", row["reproduces_reason"] if source == "published" else None),
        ]
        texts = [
            (name, numbers_in_text(" ".join(str(value).split()), rounding=name == "note"))
            for name, value in details
            if not is_missing(value) and str(value).strip()
        ]
        if texts:
            items.append((SOURCE_TITLES[source].replace("'", "’"), texts))
    if not items:
        return ""
    html_items = "".join(
        f"<li><em>{html_text(title)}</em>. "
        + "; ".join(f"{name}: {html_text(_undefined(text))}" for name, text in texts)
        + ".</li>\n"
        for title, texts in items
    )

    def pdf_text(name: str, text: str) -> str:
        return _shortened(_undefined(text)) if name == "note" else _undefined(text)

    typst_items = "".join(
        f"  [#emph[{_typst_string(title)[1:-1]}]. #"
        + _typst_string("; ".join(f"{name}: {pdf_text(name, text)}" for name, text in texts) + ".")
        + "],\n"
        for title, texts in items
    )
    return (
        _raw("html", f'<ul class="claim-notes">\n{html_items}</ul>')
        + "\n"
        + _raw("typst", f"#block[#set text(size: 7.5pt)\n#list(tight: true,\n{typst_items})]")
    )


PDF_NOTE_CHARACTERS = 1200


def _shortened(note: str) -> str:
    """A note cut after its last clause ("; ") within PDF_NOTE_CHARACTERS, saying where the rest is."""
    if len(note) <= PDF_NOTE_CHARACTERS:
        return note
    cut = note.rfind("; ", 0, PDF_NOTE_CHARACTERS)
    return (
        note[: cut if cut > 0 else PDF_NOTE_CHARACTERS] + " … (the note goes on in the HTML version and in claims.csv)"
    )


def _undefined(text: str) -> str:
    """ "nan" and "inf" of a note as "undefined" and "∞" (as ``refs._escape`` writes them in markdown)."""
    return re.sub(r"(?<![\w.])inf\b", "∞", re.sub(r"\bnan\b", "undefined", text))


def _without_controls_note(note):
    """A controls note without the sentence every controls row repeats (the appendix says it once)."""
    if is_missing(note):
        return note
    return "; ".join(part for part in str(note).split("; ") if part != CONTROLS_NOTE) or None


def markdown_table(frame: pd.DataFrame, widths: list[float]) -> Markdown:
    """A left-aligned pipe table with relative column ``widths`` (fractions of the text width), "–" in
    empty cells (never "nan"); long names may break after an underscore or a hyphen."""

    def cell(value) -> str:
        text = MISSING if is_missing(value) else str(value)
        return _escape(text).replace("\\_", "\\_\u200b").replace("-", "-\u200b")

    # Pandoc reads relative widths from the dashes when the separator line is longer than its 72 columns.
    separator = "|" + "|".join(":" + "-" * max(3, round(100 * width)) for width in widths) + "|"
    lines = ["| " + " | ".join(cell(name) for name in frame.columns) + " |", separator]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in frame.itertuples(index=False)]
    return Markdown("\n".join(lines) + "\n")


def downloads(paths: list[Path]) -> Markdown:
    """Download links with the files embedded as data URIs (HTML); the PDF names where the files are."""
    links = []
    for path in paths:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        links.append(
            f'<li><a download="{path.name}" href="data:text/csv;base64,{data}">{path.name}</a> '
            f"({path.stat().st_size / 1024:,.0f} KiB)</li>"
        )
    listing = ", ".join(f"#raw({json.dumps(path.name)})" for path in paths)
    return Markdown(
        _raw("html", '<ul class="downloads">\n' + "\n".join(links) + "\n</ul>")
        + "\n"
        + _raw(
            "typst",
            f"#par[The HTML version embeds these files for download; here they are "
            f'in #raw("data/derived/"): {listing}.]',
        )
    )


# Words for the kinds of value the forest figure does not draw (contract.vocab.KINDS).
LISTED_KINDS = {"count": "count", "p_value": "p-value", "relative_error": "numerical check", "other": "other quantity"}


def not_drawn(C: Claims) -> Markdown:
    """The claims whose value is not an effect (a count, a p-value, a numerical check, another quantity), which
    the forest figure leaves out: a pipe table of claim (linked to its row), kind, printed and recomputed
    value and verdict on the authors' data."""
    lines = [
        "| Claim | Kind | Paper's value | Recomputed on the authors' data | Verdict |",
        "|:" + "-" * 22 + "|:" + "-" * 14 + "|:" + "-" * 16 + "|:" + "-" * 30 + "|:" + "-" * 14 + "|",
    ]
    for claim_id in C.ids:
        row = C.row(claim_id, "published")
        if row["kind"] not in LISTED_KINDS:
            continue
        target = f"#{Claims.anchor(claim_id, 'published')}"
        recomputed = C.estimate(claim_id) if C.has_value(claim_id) else MISSING
        claim = _escape(claim_id).replace("\\_", "\\_\u200b")
        lines.append(
            f"| [{claim}]({target}) | {LISTED_KINDS[row['kind']]} | {_escape(paper_text(row['paper_value']))} "
            f"| {_escape(recomputed)} | {_verdict_cell(C, claim_id, 'published')} |"
        )
    return Markdown("\n".join(lines) + "\n")
