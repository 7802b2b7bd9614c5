"""A folder of tables with a manifest: the unit every stage writes and checks on reading.

``write_folder`` writes each table as CSV into an empty (staging) folder, then ``MANIFEST.json``
with each file's row count and SHA-256 and any provenance the writer adds. ``read_folder_table``
refuses a file that is missing, truncated, edited or that breaks its schema, naming the file and
the line. Committing the folder (a rename, or ``contract.atomic.staged_directory``) is the
caller's.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from contract.atomic import csv_bytes, fsync_directory
from contract.errors import TableError
from contract.tables import SchemaProblem, Table, check_table, parse_csv

FORMAT = 1
MANIFEST = "MANIFEST.json"


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_folder(folder: Path, tables: dict[str, tuple[pd.DataFrame, str | None]], **meta) -> dict:
    """Write ``tables`` (name -> (frame, float format)) and the manifest into ``folder``; return the manifest."""
    files = {}
    for name, (frame, float_format) in tables.items():
        data = csv_bytes(frame, float_format)
        _write_synced(folder / f"{name}.csv", data)
        files[name] = {"rows": len(frame), "sha256": hashlib.sha256(data).hexdigest()}
    manifest = {"format": FORMAT, **meta, "files": files}
    _write_synced(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True, default=str).encode())
    fsync_directory(folder)
    return manifest


def read_manifest(folder: Path) -> dict:
    where = Path(folder) / MANIFEST
    try:
        manifest = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TableError(f"{where}: missing: the folder is incomplete or damaged") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TableError(f"{where}: damaged ({err})") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("files"), dict)
    ):
        raise TableError(f"{where}: not a manifest of format {FORMAT}")
    return manifest


def read_file(
    folder: Path, manifest: dict, name: str, table: Table, remedy: str = "rebuild it, or restore the file"
) -> pd.DataFrame:
    """One table of ``folder`` parsed (not yet schema-checked), checked against the manifest; a
    damaged file is a TableError naming it, the first bad line and ``remedy``."""
    path = Path(folder) / f"{name}.csv"
    if name not in manifest["files"]:
        raise TableError(f"{path}: not listed in {Path(folder) / MANIFEST}")
    expected = manifest["files"][name]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TableError(f"{path}: missing (listed in {MANIFEST})") from None
    frame = parse_csv(data, table, path)
    if len(frame) != expected["rows"]:
        raise TableError(
            f"{path}: {len(frame)} rows where {expected['rows']} were written (the file is "
            f"truncated or damaged after line {min(len(frame), expected['rows']) + 1}); {remedy}"
        )
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise TableError(
            f"{path}{_first_problem(frame, table)}: the file differs from what was written "
            f"(SHA-256 mismatch: edited or damaged); {remedy}"
        )
    return frame


def _first_problem(frame: pd.DataFrame, table: Table) -> str:
    """', line N (problem)' for the first row that breaks the schema, or '' when none does."""
    try:
        check_table(frame, table)
    except SchemaProblem as problem:
        return "" if problem.row is None else f", line {problem.row + 2} ({problem})"
    return ""


def checked(
    frame: pd.DataFrame, table: Table, files: list[Path], file_of_row: np.ndarray | None = None
) -> pd.DataFrame:
    """Schema-check a table read from ``files`` (concatenated in that order, ``file_of_row`` saying
    which file each row came from; one file when None); an error names the file and its line."""
    file_of_row = np.zeros(len(frame), dtype=int) if file_of_row is None else file_of_row
    try:
        return check_table(frame, table)
    except SchemaProblem as problem:
        if problem.row is None:
            raise TableError(f"{files[0] if len(files) == 1 else table.name + ' tables'}: {problem}") from None
        line = int(np.sum(file_of_row[: problem.row] == file_of_row[problem.row])) + 2
        raise TableError(f"{files[file_of_row[problem.row]]}, line {line}: {problem}") from None


def read_folder_table(
    folder: Path, name: str, table: Table, manifest: dict | None = None, remedy: str = "rebuild it, or restore the file"
) -> pd.DataFrame:
    """One table of a manifest folder, fully checked."""
    manifest = read_manifest(folder) if manifest is None else manifest
    return checked(read_file(folder, manifest, name, table, remedy), table, [Path(folder) / f"{name}.csv"])


# What to do about a damaged import of the authors' published results.
REIMPORT = "import the published results again (thermo-audit measure import-published FOLDER | download)"
