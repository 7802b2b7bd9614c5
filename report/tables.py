"""The report's tables and appendix, written as markdown with raw HTML and Typst blocks.

* ``glance``: the claims at a glance. HTML: every column, sortable and searchable with the
  bundled script assets/claims-table.js (no network); PDF: fewer columns in a Typst table that
  breaks across pages and repeats its header.
* ``appendix``: one entry per claim (``#claim-<id>``) with one block per source
  (``#claim-<id>-<source>``): everything the row of claims.csv says.
* ``markdown_table``: a DataFrame as a pipe table, "–" for missing values.
* ``downloads``: files embedded in the HTML as data URIs (download links); the PDF names the paths.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from contract.vocab import DATA_SOURCES
from report.numbers import MISSING, ci_level, is_missing
from report.refs import (CONTROL_VERDICTS, REPRODUCES, SOURCE_TITLES, UNIT_PLURALS, VERDICTS, Claims, _escape,
                         html_text, n_with_unit, paper_text)

GLANCE_COLUMNS = ["Claim", "Paper's value", "Recomputed on the authors' data", "Reproduces", "Holds",
                  "Before training", "Test", "n", "Unit of analysis"]


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
        rows.append({
            "claim_id": claim_id,
            "paper": paper_text(published["paper_value"]),
            "recomputed": C.estimate(claim_id, "published"),
            "sort_value": published["value"],
            "reproduces": published["reproduces"],
            "holds": _verdict_cell(published, VERDICTS).removeprefix("is "),
            "before_training": (MISSING if controls is None else
                                _verdict_cell(controls, CONTROL_VERDICTS).removesuffix(" before training")),
            "test": MISSING if is_missing(published["test"]) else published["test"],
            "n": published["n"],
            "n_text": n_with_unit(published),
            "unit": MISSING if is_missing(published["unit"]) else published["unit"],
        })
    return rows


def _verdict_cell(row: pd.Series, words: dict) -> str:
    """The verdict word; "–" where nothing could be computed (an inconclusive row without a value)."""
    return MISSING if is_missing(row["value"]) and row["holds"] == "inconclusive" else words[row["holds"]]


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
        + "\n".join(body) + "\n</tbody>\n</table>\n</div>\n"
        '<script src="assets/claims-table.js"></script>'
    )


def _glance_typst(rows: list[dict], caption: str) -> str:
    header = ["Claim", "Paper", "Recomputed on the authors' data", "n", "Reproduces", "Holds", "Before training"]
    cells = []
    for r in rows:
        label = Claims.anchor(r["claim_id"])
        cells += [f"link(<{label}>)[#{_typst_string(r['claim_id'])}]",
                  *(f"[#{_typst_string(text)}]" for text in
                    (r["paper"], r["recomputed"], r["n_text"], r["reproduces"], r["holds"], r["before_training"]))]
    return (
        "#block(breakable: true)[\n#set text(size: 7.5pt, hyphenate: false)\n#set par(justify: false)\n"
        f"#strong[{_typst_string(caption)[1:-1]}]\n"
        "#table(columns: (1.45fr, 1fr, 1.6fr, 0.8fr, 0.9fr, 0.85fr, 0.85fr), align: left + top, stroke: none,\n"
        "  inset: (x: 3pt, y: 2.5pt),\n  table.hline(),\n"
        f"  table.header({', '.join(f'[*{name}*]' for name in header)}),\n  table.hline(stroke: 0.5pt),\n"
        + "".join(f"  {', '.join(cells[i:i + len(header)])},\n" for i in range(0, len(cells), len(header)))
        + "  table.hline(),\n)\n]"
    )


def appendix(C: Claims) -> Markdown:
    """The audit appendix: per claim, the paper's statement, then one anchored block per source."""
    parts = []
    for claim_id in C.ids:
        rows = C.table.loc[claim_id]
        first = rows.iloc[0]
        parts.append(f"## {claim_id} {{#{Claims.anchor(claim_id)} .unnumbered .unlisted}}\n\n*{_escape(first['claim'])}* "
                     f"({_escape(first['section'])})\n")
        facts = [f"Paper: {_escape(C.paper(claim_id))}" if C.paper(claim_id) != MISSING else "Paper: no number",
                 f"Test the paper names: {_escape(first['paper_test'])}" if not is_missing(first["paper_test"]) else None,
                 f"Needs: {_escape(first['needs'])}" if not is_missing(first["needs"]) else None,
                 f"Model formula: `{first['formula']}`" if not is_missing(first["formula"]) else None,
                 f"Computed by: `{first['function']}`"]
        parts.append("".join(f"- {fact}\n" for fact in facts if fact) + "\n")
        for source in DATA_SOURCES:
            if source in rows.index:
                parts.append(_appendix_source(C, claim_id, source))
    return Markdown("\n".join(parts))


def _appendix_source(C: Claims, claim_id: str, source: str) -> str:
    row = C.row(claim_id, source)
    verdicts = CONTROL_VERDICTS if source == "controls" else VERDICTS
    if is_missing(row["value"]):
        summary = f"{_escape(row['statistic'])}: not computable."
    else:
        extra = "; ".join(filter(None, [C.p(claim_id, source),
                                        None if is_missing(row["n"]) else f"n = {n_with_unit(row)}"]))
        summary = f"{_escape(row['statistic'])} = {C.estimate(claim_id, source)}" + (f"; {extra}" if extra else "") + "."
    lines = [f"**{SOURCE_TITLES[source]}**: {summary} "
             + (f"The printed value **{REPRODUCES[row['reproduces']]}**. " if source == "published" else "")
             + f"Verdict: **{verdicts[row['holds']].removeprefix('is ')}**."]
    details = [
        ("Test", row["test"]),
        ("Unit of analysis", None if is_missing(row["unit"]) else
         f"{row['unit']} (n counts {UNIT_PLURALS.get(row['unit'], row['unit'])})"),
        ("CI level", None if is_missing(row["ci_low"]) else ci_level(row["ci_level"])),
        ("Decision rule", row["rule"]),
        ("Data", row["data"]),
        ("Note", row["note"]),
        ("Reproduction", row["reproduces_reason"] if source == "published" else None),
    ]
    lines += [f"- {name}: {_escape(text)}" for name, text in details if not is_missing(text)]
    body = "\n".join(lines[:1]) + "\n\n" + "\n".join(lines[1:])
    return f"::: {{#{Claims.anchor(claim_id, source)} .claim-source}}\n{body}\n:::\n"


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
        links.append(f'<li><a download="{path.name}" href="data:text/csv;base64,{data}">{path.name}</a> '
                     f"({path.stat().st_size / 1024:,.0f} KiB)</li>")
    listing = ", ".join(f"#raw({json.dumps(path.name)})" for path in paths)
    return Markdown(_raw("html", '<ul class="downloads">\n' + "\n".join(links) + "\n</ul>")
                    + "\n" + _raw("typst", f'#par[The HTML version embeds these files for download; here they are '
                                           f'in #raw("data/derived/"): {listing}.]'))
