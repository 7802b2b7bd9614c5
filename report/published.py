"""Get the authors' published results for the report, as well as this machine allows.

    python -m report.published [--local FOLDER] [--out data/published]

1. the local copy of the result files (``--local``, default ``../shared/paper3/Results``) when it exists;
2. else a download from the pinned commit, every file SHA-256 checked (``measure.published``);
3. else nothing: the report is built from our measurements only, and this says so in one line.

It prints one line saying which happened; the report says the same when the data are missing.
Already imported tables (``data/published/values.csv``) are kept when neither source is reachable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from contract.errors import ThermoAuditError
from contract.paths import data_paths
from measure.published import import_published
from measure.published.download import fetch_url

DEFAULT_LOCAL = Path("..") / "shared" / "paper3" / "Results"
FULL_AUDIT = (
    "For the full audit, put the authors' result files at {local} (or elsewhere, with "
    "`make report PUBLISHED=folder`), or run `python -m measure import-published download` where "
    "the network is reachable."
)


def obtain(
    local: Path = DEFAULT_LOCAL, out: Path | None = None, fetch: Callable[[str], bytes] = fetch_url
) -> tuple[str, str]:
    """Import the published results (into ``out``, default the data folder's published/); return
    (how, message) with how in local | download | kept | none."""
    out = data_paths().published if out is None else out
    if Path(local).is_dir():
        import_published(local, out)
        return "local", f"Published results: imported from the local copy {local}."
    try:
        import_published("download", out, fetch=fetch)
        return (
            "download",
            "Published results: downloaded from the authors' pinned commit, SHA-256 checked, and imported.",
        )
    except ThermoAuditError as error:
        if (Path(out) / "values.csv").is_file():
            return "kept", (
                f"Published results: no local copy and no download ({error}); "
                f"keeping the tables imported earlier in {out}."
            )
        return "none", (
            f"Published results: not available (no local copy at {local}; download failed: {error}); "
            "the report is built from our measurements only. " + FULL_AUDIT.format(local=local)
        )


def main(argv: list[str] | None = None) -> int:
    from thermo_audit.cli import guarded

    parser = argparse.ArgumentParser(prog="python -m report.published", description=__doc__.split("\n\n")[0])
    parser.add_argument("--local", type=Path, default=DEFAULT_LOCAL, help=f"local copy (default: {DEFAULT_LOCAL})")
    parser.add_argument("--out", type=Path, default=None, help="where to import (default: <data dir>/published)")
    args = parser.parse_args(argv)
    return guarded(lambda: print(obtain(args.local, args.out)[1]) or 0)


if __name__ == "__main__":
    sys.exit(main())
