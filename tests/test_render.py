"""Tests of `python -m report` and the project's own renderer (report/), which renders the
Quarto sources where the `quarto` binary is absent. Quarto is never needed: every render
here forces the fallback with --no-quarto.

The fixture tests/fixtures/report_min/ is a tiny Quarto project with the features the real
report uses; renders happen in a temporary copy of it.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from contract.folders import write_folder
from contract.hashing import fingerprint
from report import RenderError, prerender, qmd
from report.convert import to_html, to_pdf

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "report_min"
# A 1x1 PNG, for tests that need an image file but no kernel.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def run_report(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m report` as a user runs it, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "report", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the fixture project."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "project"))


class HtmlIndex(HTMLParser):
    """The parts of a rendered page the tests look at: ids, links, images, captions, text."""

    def __init__(self, html: str):
        super().__init__()
        self.ids, self.links, self.images, self.captions, self.text = set(), [], [], [], []
        self._link, self._caption, self._in_style = None, None, False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "style":
            self._in_style = True
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self._link = [attrs["href"], ""]
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("figcaption", "caption"):
            self._caption = ""

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        if tag == "a" and self._link:
            self.links.append((" ".join(self._link[1].split()), self._link[0]))
            self._link = None
        if tag in ("figcaption", "caption") and self._caption is not None:
            self.captions.append(" ".join(self._caption.split()))
            self._caption = None

    def handle_data(self, data):
        if self._in_style:
            return
        self.text.append(data)
        if self._link:
            self._link[1] += data
        if self._caption is not None:
            self._caption += data

    @property
    def plain_text(self) -> str:
        return " ".join(" ".join(self.text).split())


# --- parsing: which blocks execute ------------------------------------------------------


def test_only_braced_python_blocks_are_cells(tmp_path: Path):
    source = tmp_path / "doc.qmd"
    source.write_text(
        "---\ntitle: T\n---\n"
        "Prose with `{python} 1 + 1` in it.\n"
        "```python\nraise SystemExit  # `{python} not_inline`\n```\n"
        "````markdown\n```{python}\nnot_a_cell()\n```\n````\n"
        "```{python}\n#| label: fig-x\n#| fig-cap: |\n#|   Two words\nx = 1\n```\n"
        "~~~{python}\ny = 2\n~~~\n"
    )
    document = qmd.parse(source)

    assert document.meta == {"title": "T"}
    assert [(cell.source, cell.line, cell.number) for cell in document.cells] == [("x = 1", 13, 1), ("y = 2", 19, 2)]
    assert document.cells[0].options == {"label": "fig-x", "fig-cap": "Two words"}
    assert document.cells[0].name == "cell 'fig-x' (cell 1 at line 13)"
    verbatim = [chunk.text for chunk in document.chunks if isinstance(chunk, qmd.Verbatim)]
    assert verbatim[0].startswith("```python\nraise SystemExit") and "not_a_cell()" in verbatim[1]
    inline = [
        (m["expr"], line)
        for chunk in document.chunks
        if isinstance(chunk, qmd.Prose)
        for m, line in chunk.inline_expressions()
    ]
    assert inline == [("1 + 1", 4)]


def test_bad_cell_options_and_other_languages_are_errors(tmp_path: Path):
    bad_options = tmp_path / "options.qmd"
    bad_options.write_text("Text\n\n```{python}\n#| label: [unclosed\nx = 1\n```\n")
    with pytest.raises(RenderError, match=r"cell 1 at line 3: invalid '#\|' options"):
        qmd.parse(bad_options)
    other_language = tmp_path / "r.qmd"
    other_language.write_text("```{r}\nx <- 1\n```\n")
    with pytest.raises(RenderError, match=r"only \{python\} cells"):
        qmd.parse(other_language)


def test_execute_defaults_apply_under_cell_options(tmp_path: Path):
    source = tmp_path / "doc.qmd"
    source.write_text("```{python}\n#| echo: true\nx = 1\n```\n")
    document = qmd.parse(source)
    qmd.apply_defaults(document, {"echo": False, "warning": False, "freeze": "auto"})
    assert document.cells[0].options == {
        "eval": True,
        "echo": True,
        "output": True,
        "include": True,
        "warning": False,
        "error": False,
    }


# --- the Lua filters, through pandoc and Typst (no kernel) ---------------------------------


def _markdown_document(tmp_path: Path, body: str) -> Path:
    """A woven-markdown file in <dir>/doc_files/, as report.render writes it, with one image."""
    files = tmp_path / "doc_files"
    files.mkdir()
    (files / "plot.png").write_bytes(PIXEL)
    markdown = files / "doc.md"
    markdown.write_text(body)
    return markdown


CROSSREF_BODY = """
# Results {#sec-results}

See @fig-plot, [@tbl-numbers], @sec-results and panel -@fig-plot.

::: {#fig-plot fig-cap="A *plot*."}
![](doc_files/plot.png)
:::

| a | b |
|---|---|
| 1 | 2 |

: Numbers. {#tbl-numbers}

::: {.callout-important title="Read me"}
Callout body.
:::
"""


def test_crossrefs_and_callouts_in_html(tmp_path: Path):
    markdown = _markdown_document(tmp_path, CROSSREF_BODY)
    output = tmp_path / "out" / "doc.html"
    to_html(markdown, output, {"title": "T", "number-sections": True}, tmp_path)
    page = HtmlIndex(output.read_text())

    assert page.captions == ["Figure 1: A plot.", "Table 1: Numbers."]
    assert ("Figure 1", "#fig-plot") in page.links and ("Table 1", "#tbl-numbers") in page.links
    assert ("Section 1", "#sec-results") in page.links and ("1", "#fig-plot") in page.links
    assert {"fig-plot", "tbl-numbers", "sec-results"} <= page.ids
    assert page.images == ["data:image/png;base64," + base64.b64encode(PIXEL).decode()]
    assert 'class="callout callout-important"' in output.read_text() and "Read me Callout body." in page.plain_text


def test_crossrefs_and_callouts_in_typst(tmp_path: Path):
    markdown = _markdown_document(tmp_path, CROSSREF_BODY)
    output = tmp_path / "out" / "doc.pdf"
    to_pdf(markdown, output, {"title": "T", "number-sections": True}, tmp_path)
    typst_source = markdown.with_suffix(".typ").read_text()

    assert output.read_bytes().startswith(b"%PDF")
    assert "#link(<fig-plot>)[Figure 1]" in typst_source and "#link(<tbl-numbers>)[Table 1]" in typst_source
    assert "Figure 1: A #emph[plot]." in typst_source and "<fig-plot>" in typst_source
    assert "#set figure(numbering: none)" in typst_source  # Typst must not number a second time
    assert "#block(width: 100%" in typst_source and "#strong[Read me]" in typst_source


BIBLIOGRAPHY = """@misc{delia2026, author = {D'Elia, Davide}, title = {Thermodynamic Constraints}, year = {2026},
  publisher = {Zenodo}, doi = {10.5281/zenodo.18165365}}
"""


def test_citations_and_the_reference_list_offline(tmp_path: Path):
    """A `bibliography:` runs pandoc's citeproc (offline) in both formats; the list goes into #refs."""
    (tmp_path / "refs.bib").write_text(BIBLIOGRAPHY)
    markdown = _markdown_document(
        tmp_path,
        "As @delia2026 says [see @fig-plot].\n\n![A plot.](doc_files/plot.png){#fig-plot}\n\n"
        "# References {.unnumbered}\n\n::: {#refs}\n:::\n\n# After\n\nEnd.\n",
    )
    options = {
        "title": "T",
        "bibliography": "refs.bib",
        "link-citations": True,
        "include-in-header": str(REPO / "report" / "assets" / "report.typ"),
    }
    to_html(markdown, tmp_path / "doc.html", options, tmp_path)
    html = (tmp_path / "doc.html").read_text()
    page = HtmlIndex(html)
    assert "D’Elia ( 2026 ) says" in page.plain_text and "10.5281/zenodo.18165365" in page.plain_text
    assert html.index("ref-delia2026") < html.index("End.")  # the list is where #refs is
    assert ("Figure 1", "#fig-plot") in page.links  # cross-references still resolve beside citations
    to_pdf(markdown, tmp_path / "doc.pdf", options, tmp_path)
    typst_source = markdown.with_suffix(".typ").read_text()
    assert "zenodo.18165365" in typst_source and "#show table: set par(justify: false)" in typst_source
    assert (tmp_path / "doc.pdf").read_bytes().startswith(b"%PDF")


def test_table_label_without_a_table_is_an_error(tmp_path: Path):
    markdown = _markdown_document(tmp_path, '::: {#tbl-empty tbl-cap="Nothing"}\nJust text.\n:::\n')
    with pytest.raises(RenderError, match="#tbl-empty has a table label but contains no table"):
        to_html(markdown, tmp_path / "doc.html", {}, tmp_path)


def test_broken_internal_link_is_an_error(tmp_path: Path):
    """Numbers link to the audit appendix: a link to an id that does not exist must not pass silently."""
    markdown = _markdown_document(
        tmp_path, "Gain [0.81](#claim-kleiber) and [ok](#claim-ok).\n\n[]{#claim-ok} A claim.\n"
    )
    with pytest.raises(RenderError, match=r"Unresolved cross-reference\(s\): \[0.81\]\(#claim-kleiber\) \("):
        to_html(markdown, tmp_path / "doc.html", {}, tmp_path)


def test_section_reference_uses_the_title_when_sections_are_unnumbered(tmp_path: Path):
    markdown = _markdown_document(tmp_path, "# Data and methods {#sec-data}\n\nSee [as in @sec-data].\n")
    to_html(markdown, tmp_path / "doc.html", {}, tmp_path)
    page = HtmlIndex((tmp_path / "doc.html").read_text())
    assert ("Data and methods", "#sec-data") in page.links and "See as in Data and methods" in page.plain_text


def test_unresolved_reference_fails_the_render(project: Path):
    result = run_report("--no-quarto", "--project", str(project), str(project / "report" / "missing-ref.qmd"))

    assert result.returncode == 2
    assert "Unresolved cross-reference(s): @fig-missing" in result.stderr
    assert "@sec-only" not in result.stderr and "Traceback" not in result.stderr
    assert not (project / "report" / "missing-ref_files").exists()


# --- choosing Quarto or the fallback ---------------------------------------------------------


def test_quarto_is_used_when_on_path(tmp_path: Path, project: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    fake = bin_dir / "quarto"
    fake.write_text(f'#!/bin/sh\necho "$PWD $* QUARTO_PYTHON=$QUARTO_PYTHON" >> {calls}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("QUARTO_PYTHON", None)

    assert run_report("--project", str(project), "--to", "pdf", env=env).returncode == 0
    assert calls.read_text().split() == [str(project), "render", "--to", "typst", f"QUARTO_PYTHON={sys.executable}"]
    assert (
        run_report(
            "--no-quarto", "--project", str(project), str(project / "report" / "missing-ref.qmd"), env=env
        ).returncode
        == 2
    )
    assert len(calls.read_text().splitlines()) == 1  # --no-quarto did not call it


def test_quarto_required_but_absent_is_a_clean_error(tmp_path: Path, project: Path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no quarto there
    result = run_report("--quarto", "--project", str(project), env=env)
    assert result.returncode == 2
    assert "no `quarto` on PATH" in result.stderr and "Traceback" not in result.stderr


# --- a full render of the fixture project ----------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    root = Path(shutil.copytree(FIXTURE, tmp_path_factory.mktemp("render") / "project"))
    started = time.perf_counter()
    result = run_report("--no-quarto", "--project", str(root))
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    print(f"\nfixture render: {seconds:.1f} s (python -m report, HTML and PDF)")
    html = (root / "_output" / "report" / "paper.html").read_text()
    return {"root": root, "stdout": result.stdout, "html": html, "page": HtmlIndex(html)}


@pytest.mark.slow
def test_outputs_where_quarto_puts_them(rendered):
    root = rendered["root"]
    assert (root / "_output" / "report" / "paper.pdf").read_bytes().startswith(b"%PDF")
    assert "pre-render: prepare.py" in rendered["stdout"] and (root / "data" / "values.csv").exists()
    assert not (root / "report" / "paper_files").exists()  # intermediate files are cleaned up
    assert not (root / "_output" / "report" / "failing-cell.html").exists()  # only the render list


@pytest.mark.slow
def test_figures_and_tables_are_numbered(rendered):
    assert rendered["page"].captions == [
        "Figure 1: Gain per model.",
        "Figure 2: Squared gains.",
        "Table 1: Gains as a markdown table.",
        "Table 2: Gains as a pandas DataFrame.",
    ]


@pytest.mark.slow
def test_cross_references_link_to_existing_ids(rendered):
    page = rendered["page"]
    for text, target in [
        ("Figure 1", "#fig-gain"),
        ("Figure 2", "#fig-square"),
        ("Table 1", "#tbl-gains"),
        ("Table 2", "#tbl-frame"),
        ("Section 2", "#sec-methods"),
        ("Section 1", "#sec-intro"),
        ("2", "#fig-square"),
    ]:
        assert (text, target) in page.links
    assert all(target[1:] in page.ids for _, target in page.links)


@pytest.mark.slow
def test_inline_expressions(rendered):
    page = rendered["page"]
    assert "The mean gain is 4.25 over 3 models" in page.plain_text  # values computed in a cell
    assert '<a href="https://example.org/data">the data source</a>' in rendered["html"]  # a Markdown object
    assert "keeps its stars: a*b*c." in page.plain_text  # a str is escaped, not read as markdown


@pytest.mark.slow
def test_no_unrendered_syntax_left(rendered):
    for leftover in ("{python}", "?@", "@fig-", "@tbl-", "@sec-", "@Fig-", ":::"):
        assert leftover not in rendered["html"]


@pytest.mark.slow
def test_html_is_self_contained(rendered):
    images = rendered["page"].images
    assert len(images) == 2 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "<script src=" not in rendered["html"] and '<link rel="stylesheet" href=' not in rendered["html"]
    assert "<math" in rendered["html"] and "mathjax" not in rendered["html"].lower()


@pytest.mark.slow
def test_cell_options(rendered):
    html, text = rendered["html"], rendered["page"].plain_text
    assert "SystemExit" in text and "never be executed" in text  # the ```python listing is shown, not run
    assert "plt.plot(values" in text  # echo: true
    assert "read_csv" not in text  # echo: false (the project default)
    assert "must not reach the report" not in text  # warning: false and include: false
    assert "<strong>asis text</strong>" in html  # output: asis


@pytest.mark.slow
def test_callouts(rendered):
    html, text = rendered["html"], rendered["page"].plain_text
    assert 'class="callout callout-note"' in html and "How the gain is computed Each gain" in text
    assert 'class="callout callout-warning"' in html and "Warning Fixture data" in text


@pytest.mark.slow
def test_failing_cell_names_the_cell(project: Path):
    result = run_report("--no-quarto", "--project", str(project), str(project / "report" / "failing-cell.qmd"))

    assert result.returncode == 2
    assert "report/failing-cell.qmd: cell 'divide-by-zero' (cell 2 at line 11) failed" in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert "report/execute.py" not in result.stderr  # the cell's traceback, not the renderer's
    assert not (project / "_output" / "report" / "failing-cell.html").exists()


@pytest.mark.slow
def test_failing_inline_expression_names_its_line(project: Path):
    result = run_report("--no-quarto", "--project", str(project), str(project / "report" / "failing-inline.qmd"))

    assert result.returncode == 2
    assert (
        "report/failing-inline.qmd: inline expression `{python} undefined_name + 1` at line 7 failed" in result.stderr
    )
    assert "NameError: name 'undefined_name' is not defined" in result.stderr


# --- pre-render: rebuild data/derived/ only when stale ---------------------------------------


def _write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _analysed(root: Path) -> dict:
    """data/derived/ as the analysis writes it: claims.csv and a manifest with the inputs' fingerprint."""
    folder = root / "data" / "derived"
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"measured": str(root / "data" / "measured"), "published": str(root / "data" / "published")}
    meta["inputs_sha256"] = fingerprint(prerender._inputs(root, meta))
    return write_folder(folder, {"claims": (pd.DataFrame({"claim_id": ["c"], "value": [1.0]}), None)}, **meta)


# A stand-in for `python -m analysis`: it records that it ran.
FAKE_ANALYSIS = [sys.executable, "-c", "import pathlib; pathlib.Path('ran').write_text('rebuilt')"]


def test_prerender_runs_analysis_when_never_run(tmp_path: Path):
    _write(tmp_path / "data" / "measured" / "runs" / "a" / "residual.csv")
    assert prerender.stale_reason(tmp_path) == "data/derived/MANIFEST.json is missing"
    assert prerender.refresh(tmp_path, FAKE_ANALYSIS) is True
    assert (tmp_path / "ran").read_text() == "rebuilt"


def test_prerender_skips_when_up_to_date_without_published_data(tmp_path: Path):
    _write(tmp_path / "data" / "measured" / "runs" / "a" / "residual.csv")
    _analysed(tmp_path)
    assert not (tmp_path / "data" / "published").exists()
    assert prerender.stale_reason(tmp_path) is None
    assert prerender.refresh(tmp_path, [sys.executable, "-c", "raise SystemExit('must not run')"]) is False


def test_prerender_compares_content_not_modification_times(tmp_path: Path):
    measured = _write(tmp_path / "data" / "measured" / "runs" / "a" / "residual.csv", "x")
    _analysed(tmp_path)
    os.utime(measured, (4_000_000_000, 4_000_000_000))  # newer, same content: up to date
    assert prerender.stale_reason(tmp_path) is None
    measured.write_text("y")
    os.utime(measured, (1_000_000, 1_000_000))  # older, other content: stale
    assert prerender.stale_reason(tmp_path) == (
        "the measured or published data or the analysis code changed since the analysis ran"
    )
    _write(tmp_path / "data" / "measured" / "runs" / ".staging-1-2" / "residual.csv", "z")  # hidden: ignored
    _analysed(tmp_path)
    assert prerender.stale_reason(tmp_path) is None
    _write(tmp_path / "data" / "published" / "values.csv")  # an import appears: stale
    assert prerender.stale_reason(tmp_path) is not None


def test_prerender_refuses_a_damaged_derived_table(tmp_path: Path):
    _analysed(tmp_path)
    claims = tmp_path / "data" / "derived" / "claims.csv"
    claims.write_text(claims.read_text()[:-3])
    with pytest.raises(RuntimeError, match=r"data/derived/claims\.csv: damaged or edited"):
        prerender.refresh(tmp_path, [sys.executable, "-c", "raise SystemExit('must not run')"])


def test_prerender_failure_is_reported(tmp_path: Path):
    with pytest.raises(RuntimeError, match="failed with exit status 3"):
        prerender.refresh(tmp_path, [sys.executable, "-c", "raise SystemExit(3)"])


def test_prerender_runs_as_a_plain_script(tmp_path: Path):
    """Quarto runs it as `python report/prerender.py` in the project directory."""
    _analysed(tmp_path)
    env = {**os.environ, "QUARTO_PROJECT_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(REPO / "report" / "prerender.py")], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "data/derived is up to date" in result.stdout
