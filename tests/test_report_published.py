"""`make report` on a fresh machine (report/published.py): the local copy of the authors' files,
else a checksummed download, else a report without them, said in one line. The network is never
used: the download's fetch is injected."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
from claims_fixtures import PUBLISHED_RESULTS

from report.published import obtain


def offline(url: str) -> bytes:
    raise urllib.error.URLError("no network")


def from_local_copy(url: str) -> bytes:
    """A download that serves the files of the local copy, as the pinned commit would."""
    return (PUBLISHED_RESULTS / url.rsplit("/", 1)[-1]).read_bytes()


needs_results = pytest.mark.skipif(
    not PUBLISHED_RESULTS.is_dir(), reason=f"the authors' published results are not at {PUBLISHED_RESULTS}"
)


@needs_results
def test_the_local_copy_is_used_when_present(tmp_path: Path):
    how, message = obtain(PUBLISHED_RESULTS, tmp_path / "published", fetch=offline)
    assert how == "local" and str(PUBLISHED_RESULTS) in message
    assert (tmp_path / "published" / "values.csv").is_file()


@needs_results
def test_without_a_local_copy_the_files_are_downloaded_and_checked(tmp_path: Path):
    how, message = obtain(tmp_path / "absent", tmp_path / "published", fetch=from_local_copy)
    assert how == "download" and "SHA-256" in message
    assert (tmp_path / "published" / "values.csv").is_file()


def test_a_corrupted_download_is_refused(tmp_path: Path):
    how, message = obtain(tmp_path / "absent", tmp_path / "published", fetch=lambda url: b"not the file")
    assert how == "none" and "SHA-256 mismatch" in message
    assert not (tmp_path / "published" / "values.csv").exists()


def test_without_network_the_report_is_built_without_them_and_says_so(tmp_path: Path):
    how, message = obtain(tmp_path / "absent", tmp_path / "published", fetch=offline)
    assert how == "none"
    assert "\n" not in message and "our measurements only" in message and "import-published download" in message
    assert not (tmp_path / "published" / "values.csv").exists()


def test_tables_imported_earlier_are_kept_offline(tmp_path: Path):
    (tmp_path / "published").mkdir()
    (tmp_path / "published" / "values.csv").write_text("imported earlier\n")
    how, message = obtain(tmp_path / "absent", tmp_path / "published", fetch=offline)
    assert how == "kept" and "imported earlier" in message
    assert (tmp_path / "published" / "values.csv").read_text() == "imported earlier\n"
