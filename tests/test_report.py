"""The real report, rendered without Quarto from a copy of the project, with and without the
authors' published data: every claim linked into the audit appendix, nothing unresolved, every
figure embedded, a valid PDF."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from claims_fixtures import PUBLISHED_RESULTS

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def render_copy(tmp_path: Path, with_published: bool) -> Path:
    """Copy what the report needs into ``tmp_path``, render it there, return the project dir."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "report", project / "report", ignore=shutil.ignore_patterns("__pycache__", "*_files"))
    shutil.copy(ROOT / "_quarto.yml", project)
    shutil.copytree(ROOT / "data" / "measured", project / "data" / "measured")
    if with_published:
        if not PUBLISHED_RESULTS.is_dir():
            pytest.skip(f"the authors' published results are not at {PUBLISHED_RESULTS}")
        subprocess.run([sys.executable, "-m", "measure", "import-published", str(PUBLISHED_RESULTS),
                        "--out", str(project / "data" / "published")], check=True, cwd=ROOT)
    result = subprocess.run([sys.executable, "-m", "report", "--no-quarto", "--project", str(project)],
                            capture_output=True, text=True, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project


@pytest.fixture(scope="module", params=[True, False], ids=["published", "measurements-only"])
def rendered(request, tmp_path_factory):
    return request.param, render_copy(tmp_path_factory.mktemp("report"), request.param)


def test_every_claim_links_into_the_appendix(rendered):
    with_published, project = rendered
    html = (project / "_output" / "report" / "index.html").read_text()
    claims = pd.read_csv(project / "data" / "derived" / "claims.csv")
    for claim_id in claims["claim_id"].unique():
        assert f'id="claim-{claim_id}"' in html, claim_id
        assert f'href="#claim-{claim_id}"' in html, f"no link from the text to {claim_id}"
    targets = set(re.findall(r'href="#([^"]+)"', html))
    ids = set(re.findall(r'id="([^"]+)"', html))
    assert targets <= ids, f"links to missing anchors: {sorted(targets - ids)[:5]}"


def test_nothing_is_left_unresolved_and_figures_are_embedded(rendered):
    with_published, project = rendered
    html = (project / "_output" / "report" / "index.html").read_text()
    assert "{python}" not in html and "?@" not in html
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert len(images) >= 8 and all(src.startswith("data:image/") for src in images)
    for number in range(1, 9):
        assert f"Figure {number}" in html
    assert ("Published data not imported" in html) != with_published


def test_published_numbers_appear_only_with_the_published_data(rendered):
    with_published, project = rendered
    html = (project / "_output" / "report" / "index.html").read_text()
    claims = pd.read_csv(project / "data" / "derived" / "claims.csv")
    published = claims[claims["source"] == "published"]
    assert published["value"].notna().any() == with_published
    assert ("paper: −0.81" in html) == with_published  # the printed value beside the recomputed one


def test_pdf_is_a_valid_pdf(rendered):
    _, project = rendered
    pdf = (project / "_output" / "report" / "index.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"%%EOF" in pdf[-1024:] and len(pdf) > 100_000
