"""Content hashes: of one file, and of everything an output was computed from (standard library only,
so the report's pre-render script can use it without the project's dependencies)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(inputs: dict[str, Path]) -> str:
    """SHA-256 over the content of every file under ``inputs`` (label -> folder or file; absent ones
    count as empty), each file named by its label and its path inside that folder. Hidden entries
    and caches are skipped, so only what a reader sees counts, wherever the folders are."""
    digest = hashlib.sha256()
    for label, base in sorted(inputs.items()):
        base = Path(base)
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
        for path in files:
            relative = path.relative_to(base) if path != base else Path(base.name)
            if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
                continue
            digest.update(f"{label}/{relative.as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()
