"""Download the authors' result files from the pinned commit and check each file's SHA-256.

The pinned commit and the checksum table (``SHA256SUMS`` beside this module, the project's own
copy of ``../shared/paper3/SHA256SUMS``) fix exactly which bytes are imported. ``fetch`` is
injectable so the checks can be tested without a network.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from contract.atomic import write_bytes_atomically
from contract.errors import ThermoAuditError

REPOSITORY = "buk81/uniformity-asymmetry"
COMMIT = "660747c27b7a34a3c1dc45412397339bba3a8fdb"
URL = "https://raw.githubusercontent.com/{repository}/{commit}/paper3/Results/{name}"
CHECKSUMS = Path(__file__).with_name("SHA256SUMS")
TIMEOUT_S = 60


class DownloadError(ThermoAuditError):
    """A result file could not be fetched, or its bytes do not match the pinned SHA-256."""


def read_checksums(path: Path = CHECKSUMS) -> dict[str, str]:
    """File name -> expected SHA-256 (hex), from a ``sha256sum``-style table."""
    table = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DownloadError(f"{path}: line {number} is not '<sha256>  <file>'")
        table[parts[1].lstrip("*")] = parts[0].lower()
    return table


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_url(url: str) -> bytes:
    """GET ``url`` (no retries)."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        return response.read()


def url_of(name: str) -> str:
    return URL.format(repository=REPOSITORY, commit=COMMIT, name=name)


def download_results(dest: Path, fetch: Callable[[str], bytes] = fetch_url, checksums: Path = CHECKSUMS) -> Path:
    """Fetch every file of the checksum table into ``dest`` and return ``dest``.

    A file already in ``dest`` with the right checksum is not fetched again. A network failure or
    a checksum mismatch raises DownloadError naming the file; nothing unverified is written.
    """
    for name, expected in read_checksums(checksums).items():
        target = dest / name
        if target.is_file() and sha256(target.read_bytes()) == expected:
            continue
        url = url_of(name)
        try:
            data = fetch(url)
        except (urllib.error.URLError, OSError) as err:
            raise DownloadError(f"{name}: download from {url} failed ({err})") from None
        actual = sha256(data)
        if actual != expected:
            raise DownloadError(f"{name}: SHA-256 mismatch (expected {expected}, got {actual}) for {url}")
        write_bytes_atomically(data, target)
    return dest
