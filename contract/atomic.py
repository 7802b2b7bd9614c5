"""All-or-nothing writes: a file through a temporary file and a rename, a folder through a
staging folder and a symbolic-link swap.

Readers never see a half-written file or folder: a writer killed at any point leaves the
previous version in place (and, at worst, a temporary entry whose name starts with a dot,
which no reader lists).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


def fsync_directory(path: Path) -> None:
    """Make a rename inside ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomically(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def csv_bytes(frame: pd.DataFrame, float_format: str | None) -> bytes:
    """The CSV serialisation every table uses: no index, '\\n' line ends, UTF-8."""
    return frame.to_csv(index=False, float_format=float_format, lineterminator="\n").encode("utf-8")


def write_atomically(frame: pd.DataFrame, path: Path, float_format: str | None = None) -> None:
    """Write a CSV table through a temporary file and a rename: an interruption leaves the old file."""
    write_bytes_atomically(csv_bytes(frame, float_format), path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(parent: Path, prefix: str, keep: set[Path]) -> None:
    """Remove hidden entries ``<prefix><time_ns>-<pid>[-<host or tag>]`` left by writers that were
    killed (their process is gone); entries of live writers, of other hosts and in ``keep`` stay."""
    for entry in parent.glob(f"{prefix}*"):
        parts = entry.name[len(prefix) :].split(".")[0].split("-")
        if entry.resolve() in keep or len(parts) < 2 or not parts[1].isdigit():
            continue
        host = "-".join(parts[2:])
        if host not in ("", "previous", "superseded", "removed", socket.gethostname()):
            continue
        if not _pid_alive(int(parts[1])):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


@contextmanager
def staged_directory(target: Path):
    """Yield an empty staging folder beside ``target``; on normal exit it replaces ``target``.

    ``target`` becomes a symbolic link to a hidden versioned folder (``.<name>-<version>``) and is
    swapped in one atomic rename, so readers see either the old folder or the new one, whole.
    On an exception the staging folder is removed and ``target`` is untouched; after a kill the
    staging folder stays hidden and the next writer removes it. A ``target`` that is a real
    folder (an older layout) is moved aside before the swap and removed after it.
    """
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    parent = Path(target).parent.resolve()
    target = parent / Path(target).name
    prefix = f".{target.name}-"
    version = f"{time.time_ns():020d}-{os.getpid()}"
    staging = parent / f"{prefix}{version}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.is_symlink():
        previous = target.resolve()
    elif target.is_dir():
        previous = parent / f"{prefix}{version}-previous"
        os.rename(target, previous)
    elif target.exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise FileExistsError(f"{target} exists and is not a folder")
    else:
        previous = None
    link = parent / f"{prefix}{version}.link"
    os.symlink(staging.name, link)
    os.replace(link, target)
    fsync_directory(parent)
    if previous is not None and previous.parent == parent and previous.name.startswith(prefix):
        shutil.rmtree(previous, ignore_errors=True)
    remove_orphans(parent, prefix, keep={staging.resolve()})
