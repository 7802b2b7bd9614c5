"""Pre-render step: rebuild data/derived/ (`python -m analysis`) when it is out of date.

The report reads every number from data/derived/claims.csv. That file is stale when it is
missing or older than any file under data/measured/, data/published/ (absent unless the
authors' results were imported) or the analysis/ package sources.

Run by Quarto as the project's `pre-render` script (working directory: the project; also
QUARTO_PROJECT_DIR), and the same way by the fallback renderer. Standard library only: it
runs as a plain script, outside the `report` package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TARGET = Path("data/derived/claims.csv")
SOURCES = (Path("data/measured"), Path("data/published"), Path("analysis"))


def stale_reason(root: Path, target: Path = TARGET, sources: tuple[Path, ...] = SOURCES) -> str | None:
    """Why `target` must be rebuilt (missing, or which source is newer), or None when it is up to date."""
    target = root / target
    if not target.exists():
        return f"{target.relative_to(root)} is missing"
    built = target.stat().st_mtime
    for source in sources:
        for path in sorted((root / source).rglob("*")):  # an absent directory yields nothing
            if path.is_file() and "__pycache__" not in path.parts and path.stat().st_mtime > built:
                return f"{path.relative_to(root)} is newer than {target.relative_to(root)}"
    return None


def refresh(root: Path, command: list[str] | None = None) -> bool:
    """Run `command` (default: `python -m analysis`) in `root` if the derived data are stale.

    Return True if it ran. Raise RuntimeError if it failed.
    """
    reason = stale_reason(root)
    if reason is None:
        print(f"pre-render: {TARGET} is up to date")
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
