"""Where the data live: one rule for every command.

The data folder is ``--data-dir`` when given, else ``$THERMO_AUDIT_DATA``, else ``data/`` in the
project folder: the nearest folder at or above the working directory that holds ``_quarto.yml``
(a checkout of this project), or the working directory itself. Inside it: ``measured/`` (run
partitions), ``published/`` (the imported published results) and ``derived/`` (the analysis).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from contract.errors import UsageError

PROJECT_MARKER = "_quarto.yml"


def project_root(start: Path | None = None) -> Path:
    start = (start or Path.cwd()).resolve()
    return next((folder for folder in (start, *start.parents) if (folder / PROJECT_MARKER).is_file()), start)


@dataclass(frozen=True)
class DataPaths:
    root: Path

    @property
    def measured(self) -> Path:
        return self.root / "measured"

    @property
    def published(self) -> Path:
        return self.root / "published"

    @property
    def derived(self) -> Path:
        return self.root / "derived"


def data_paths(data_dir: Path | None = None) -> DataPaths:
    """The data folders, resolved by the rule of the module docstring."""
    if data_dir is None and os.environ.get("THERMO_AUDIT_DATA"):
        data_dir = Path(os.environ["THERMO_AUDIT_DATA"])
    return DataPaths(Path(data_dir) if data_dir is not None else project_root() / "data")


def writable_folder(path: Path, what: str) -> Path:
    """``path`` as a folder this process can write into (created if missing), else a UsageError
    naming ``what`` (the option that gave it) and why."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as err:
        raise UsageError(f"{what} {path} is not a writable folder ({err.strerror or err})") from None
    return path
