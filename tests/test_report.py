"""The real report, rendered without Quarto from a copy of the project, with and without the
authors' published data: every claim's verdict in the text and linked to the row it came from,
the claims table, SVG figures with alt text, downloads, references, no "nan", a PDF whose text
lines never overlap, and the HTML in headless Chromium (links land on their rows, no console
errors, no network).

Screenshots of the browser test go to $REPORT_SCREENSHOTS when it is set (else a temporary folder).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from claims_fixtures import PUBLISHED_RESULTS
from test_render import HtmlIndex
from test_report_pdf import overlapping_words

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.slow


def render_copy(tmp_path: Path, with_published: bool) -> Path:
    """Copy what the report needs into ``tmp_path``, render it there, return the project dir."""
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*_files")
    for package in ("report", "contract", "analysis"):
        shutil.copytree(ROOT / package, project / package, ignore=ignore)
    shutil.copy(ROOT / "_quarto.yml", project)
    shutil.copytree(ROOT / "data" / "measured", project / "data" / "measured")
    if with_published:
        if not PUBLISHED_RESULTS.is_dir():
            pytest.skip(f"the authors' published results are not at {PUBLISHED_RESULTS}")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "measure",
                "import-published",
                str(PUBLISHED_RESULTS),
                "--out",
                str(project / "data" / "published"),
            ],
            check=True,
            cwd=ROOT,
        )
    result = subprocess.run(
        [sys.executable, "-m", "report", "--no-quarto", "--project", str(project)],
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return project


@pytest.fixture(scope="module", params=[True, False], ids=["published", "measurements-only"])
def rendered(request, tmp_path_factory):
    return request.param, render_copy(tmp_path_factory.mktemp("report"), request.param)


def html_of(project: Path) -> str:
    return (project / "_output" / "report" / "index.html").read_text()


def claims_of(project: Path) -> pd.DataFrame:
    return pd.read_csv(project / "data" / "derived" / "claims.csv")


def main_text(html: str) -> str:
    """The HTML before the audit appendix."""
    return html.split('id="sec-audit"')[0]


def test_every_claim_is_stated_in_the_text_and_linked_to_its_row(rendered):
    _, project = rendered
    html, claims = html_of(project), claims_of(project)
    ids = set(re.findall(r'id="([^"]+)"', html))
    for claim_id, source in claims[["claim_id", "source"]].itertuples(index=False):
        assert f"claim-{claim_id}-{source}" in ids, f"no appendix row for {claim_id} on {source}"
    for claim_id in claims["claim_id"].unique():
        assert f"claim-{claim_id}" in ids
        assert f'href="#claim-{claim_id}-published"' in main_text(html), f"no verdict of {claim_id} in the text"
        assert f'<a href="#claim-{claim_id}">' in html, f"{claim_id} is not in the claims table"
    targets = set(re.findall(r'href="#([^"]+)"', html))
    assert targets <= ids, f"links to missing anchors: {sorted(targets - ids)[:5]}"


def test_figures_are_svg_with_alt_text_and_nothing_is_unresolved(rendered):
    with_published, project = rendered
    html = html_of(project)
    assert "{python}" not in html and "?@" not in html
    images = re.findall(r"<img[^>]*>", html)
    figures = len(re.findall(r"#\| label: fig-", (ROOT / "report" / "index.qmd").read_text()))
    assert len(images) == figures
    for image in images:
        assert 'src="data:image/svg+xml' in image and re.search(r'alt="[^"]{20,}"', image), image[:200]
    text = HtmlIndex(html).plain_text
    # a formatted missing value reads "nan"; "NaN" in a note describes the authors' files
    assert not re.search(r"\bnan\b", text), "a missing value was written as nan"
    assert ("Built without the authors" in text) != with_published


def test_recomputed_published_values_appear_only_with_the_published_data(rendered):
    with_published, project = rendered
    sys.path.insert(0, str(project))
    from report.refs import Claims

    claims = Claims(project / "data" / "derived" / "claims.csv")
    assert claims.source_has_data("published") == with_published
    text = HtmlIndex(html_of(project)).plain_text
    if with_published:
        computed = [c for c in claims.ids if claims.has_value(c)]
        assert all(claims.estimate(c) in text for c in computed)
        assert claims.paper("kleiber_depth_r") in text


def test_the_claims_table_sorts_offline_and_the_data_download(rendered):
    _, project = rendered
    html = html_of(project)
    assert 'id="claims-table"' in html and "makeSortable" in html  # the script is inlined
    assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="https?:', html), "a resource from the network"
    claims = project / "data" / "derived" / "claims.csv"
    match = re.search(r'download="claims.csv" href="data:text/csv;base64,([^"]+)"', html)
    assert match and base64.b64decode(match[1]) == claims.read_bytes()
    for table in (project / "data" / "derived").glob("*.csv"):
        assert f'download="{table.name}"' in html


def test_the_paper_and_the_software_are_cited(rendered):
    _, project = rendered
    text = HtmlIndex(html_of(project)).plain_text
    assert "D’Elia" in text or "D'Elia" in text
    assert "10.5281/zenodo.18165365" in text and "Pingouin" in text and "SciPy" in text


def test_the_abstract_opens_the_page_with_the_findings_and_the_counts(rendered):
    with_published, project = rendered
    html, claims = html_of(project), claims_of(project)
    abstract = html[html.index('class="abstract"') : html.index('id="TOC"')]  # before the table of contents
    assert f"Of the {claims['claim_id'].nunique()} claims" in abstract or not with_published
    if with_published:
        from report.findings import STORY

        for claim_id in STORY:
            assert f'href="#claim-{claim_id}-published"' in abstract, f"{claim_id} is not among the findings"


def headings_and_figures(pdf_path: Path) -> list[tuple[int, float, str]]:
    """(page, top, text) of every numbered first-level heading and every figure caption, in reading order."""
    pdfplumber = pytest.importorskip("pdfplumber")
    found = []
    with pdfplumber.open(pdf_path) as pdf:
        body_size = 10
        for number, page in enumerate(pdf.pages):
            for line in page.extract_text_lines():
                if re.match(r"^Figure \d+:", line["text"]) or (
                    re.match(r"^\d+ [A-Z]", line["text"]) and line["chars"][0]["size"] > 1.3 * body_size
                ):
                    found.append((number, line["top"], line["text"]))
    return sorted(found)


def test_every_figure_lands_in_its_own_section(rendered):
    """A floating figure comes after its section's heading and before the next one (the PDF's reading order
    matches the document's)."""
    _, project = rendered
    document = (ROOT / "report" / "index.qmd").read_text()
    expected, section = [], None
    for line in document.splitlines():
        if re.match(r"^# [^{]*\{#sec-", line):
            section = line[2 : line.index("{")].strip()
        elif line.startswith("#| label: fig-"):
            expected.append(section)
    order = headings_and_figures(project / "_output" / "report" / "index.pdf")
    sections = [text for _, _, text in order if not text.startswith("Figure")]
    current = None
    for _, _, text in order:
        if text.startswith("Figure"):
            number = int(re.match(r"Figure (\d+)", text)[1])
            assert current is not None and _same(current, expected[number - 1]), (
                f"Figure {number} lands in section {current!r}, not in {expected[number - 1]!r} ({sections})"
            )
        else:
            current = text


def _same(pdf_heading: str, qmd_heading: str) -> bool:
    """A PDF heading ("4 Law one: ... (“Kleiber’s law”)") is the document's heading, numbers and quotes aside."""

    def plain(text):
        return re.sub(r"[^a-z]", "", re.sub(r"^\d+(\.\d+)* ", "", text.lower()))

    return plain(pdf_heading)[:30] == plain(qmd_heading)[:30]


def test_pdf_text_lines_never_overlap(rendered):
    """No two words of the PDF overlap (tables that spill over a page, colliding headers), math aside."""
    _, project = rendered
    pdf_path = project / "_output" / "report" / "index.pdf"
    assert pdf_path.read_bytes().startswith(b"%PDF")
    collisions = overlapping_words(pdf_path)
    assert not collisions, collisions[:10]
    pdfplumber = pytest.importorskip("pdfplumber")
    with pdfplumber.open(pdf_path) as pdf:
        text = "".join(page.extract_text() or "" for page in pdf.pages)
    assert "10.5281/zenodo.18165365" in text and "nan" not in re.findall(r"\w+", text)


# --- the HTML in a browser ----------------------------------------------------------------------


def chromium() -> Path:
    """Debian's Chromium, installed with apt-get where it is missing and this user may; else skip."""
    if CHROMIUM.is_file():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "chromium"],
            capture_output=True,
            timeout=900,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not CHROMIUM.is_file():
        pytest.skip("no Chromium at /usr/bin/chromium and it could not be installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the test extra's playwright is not installed")
    executable = chromium()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def test_in_a_browser_claim_links_land_on_their_rows(rendered, browser, tmp_path):
    with_published, project = rendered
    if not with_published:
        pytest.skip("the browser test reads the report with the published data")
    shots = Path(os.environ.get("REPORT_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, requests = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("file:", "data:"))
            else (requests.append(route.request.url), route.abort())
        ),
    )
    page.goto((project / "_output" / "report" / "index.html").as_uri())
    page.screenshot(path=str(shots / "01-top.png"))

    def landed(anchor: str) -> dict:
        return page.evaluate(
            """id => { const el = document.getElementById(id); const box = el.getBoundingClientRect();
                     return {hash: location.hash, top: box.top, text: el.textContent,
                             background: getComputedStyle(el).backgroundColor}; }""",
            anchor,
        )

    # the claims table: sort by n, filter, follow a claim to its appendix entry
    table = page.locator("#claims-table")
    table.scroll_into_view_if_needed()
    table.locator("th button", has_text=re.compile(r"^n$")).click()
    n_values = [
        float(v)
        for v in table.locator("tbody tr td:nth-child(8)").evaluate_all(
            "cells => cells.map(c => c.getAttribute('data-sort'))"
        )
        if v
    ]
    assert n_values == sorted(n_values)
    page.locator('input[data-filters="claims-table"]').fill("heritage")
    visible = table.locator("tbody tr:visible")
    assert visible.count() >= 1 and all("heritage" in t.lower() for t in visible.all_text_contents())
    page.screenshot(path=str(shots / "02-claims-table-filtered.png"))
    claim_id = visible.first.locator("a").text_content()
    visible.first.locator("a").click()
    where = landed(f"claim-{claim_id}")
    assert where["hash"] == f"#claim-{claim_id}" and -5 <= where["top"] < 80
    page.screenshot(path=str(shots / "03-from-table-to-appendix.png"))

    # the prose: a verdict's link lands on the published row of that claim, highlighted
    page.goto((project / "_output" / "report" / "index.html").as_uri())
    page.locator('a[href="#claim-kleiber_depth_r-published"]').first.click()
    where = landed("claim-kleiber_depth_r-published")
    assert where["hash"] == "#claim-kleiber_depth_r-published" and -5 <= where["top"] < 80
    assert where["text"].strip().startswith("Authors’ data") and where["background"] != "rgba(0, 0, 0, 0)"
    page.screenshot(path=str(shots / "04-from-prose-to-row.png"))
    page.locator("#fig-forest").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "05-forest.png"))

    # the abstract opens the page: above the table of contents, or beside it on a wide screen
    def box(selector: str) -> dict:
        return page.evaluate(
            "s => { const r = document.querySelector(s).getBoundingClientRect(); "
            "return {top: r.top + scrollY, left: r.left, right: r.right}; }",
            selector,
        )

    page.goto((project / "_output" / "report" / "index.html").as_uri())
    assert box(".abstract")["top"] < box("#TOC")["top"]
    page.set_viewport_size({"width": 1700, "height": 900})
    assert box("#TOC")["right"] <= box(".claims-glance")["left"]  # a column of its own, clear of the text
    page.screenshot(path=str(shots / "06-wide-screen.png"))
    assert not errors, errors
    assert not requests, f"the page asked the network for {requests}"
