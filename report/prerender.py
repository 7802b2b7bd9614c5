"""Pre-render step: rebuild data/derived/ (`python -m analysis`) when it is out of date, and refuse
damaged derived tables.

The report reads every number from data/derived/. The analysis records in
data/derived/MANIFEST.json the SHA-256 of each file it wrote and a fingerprint of its inputs
(the measured and published data and the analysis code, see analysis.run.inputs). The derived
data are stale when the manifest is missing or the inputs' fingerprint changed (content hashes,
not modification times); a derived file whose content no longer matches the manifest is damaged
and the render stops, naming it.

Run by Quarto as the project's `pre-render` script (working directory: the project; also
QUARTO_PROJECT_DIR), and the same way by the fallback renderer. It runs as a plain script, so
it uses the standard library and the project's `contract.hashing` only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from contract.hashing import fingerprint, sha256_file  # noqa: E402

DERIVED = Path("data/derived")
MANIFEST = DERIVED / "MANIFEST.json"


class DamagedError(Exception):
    """A derived file differs from what the analysis wrote."""


def _inputs(root: Path, manifest: dict) -> dict[str, Path]:
    code = Path(__file__).resolve().parent.parent
    return {
        "measured": Path(manifest.get("measured", root / "data/measured")),
        "published": Path(manifest.get("published", root / "data/published")),
        "analysis": code / "analysis",
        "contract": code / "contract",
    }


def stale_reason(root: Path) -> str | None:
    """Why data/derived must be rebuilt (missing, or its inputs changed), or None when it is up to
    date. Raises DamagedError when a derived file does not match the manifest."""
    path = root / MANIFEST
    if not path.is_file():
        return f"{MANIFEST} is missing"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise DamagedError(f"{MANIFEST}: damaged; rebuild with `python -m analysis`") from None
    for name, entry in sorted(files.items()):
        table = root / DERIVED / f"{name}.csv"
        if not table.is_file() or sha256_file(table) != entry.get("sha256"):
            raise DamagedError(
                f"{DERIVED / (name + '.csv')}: damaged or edited (it differs from what the analysis "
                "wrote); rebuild with `python -m analysis`"
            )
    if fingerprint(_inputs(root, manifest)) != manifest.get("inputs_sha256"):
        return "the measured or published data or the analysis code changed since the analysis ran"
    return None


def refresh(root: Path, command: list[str] | None = None) -> bool:
    """Run `command` (default: `python -m analysis`) in `root` if the derived data are stale.

    Return True if it ran. Raise RuntimeError if it failed or a derived file is damaged.
    """
    try:
        reason = stale_reason(root)
    except DamagedError as error:
        raise RuntimeError(f"pre-render: {error}") from None
    if reason is None:
        print(f"pre-render: {DERIVED} is up to date")
        return False
    command = command or [sys.executable, "-m", "analysis"]
    print(f"pre-render: {reason}; running {' '.join(command)}", flush=True)
    status = subprocess.run(command, cwd=root).returncode
    if status != 0:
        raise RuntimeError(f"pre-render: `{' '.join(command)}` failed with exit status {status}")
    return True


def main() -> int:
    root = Path(os.environ.get("QUARTO_PROJECT_DIR") or Path.cwd())
    try:
        refresh(root)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
