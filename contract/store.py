"""Measured data as run partitions: each run is one folder, committed whole or not at all.

A *run* is one model measured on one prompt set (its dtype, device and options are recorded in
its ``runs`` row). Its tables live in one folder under ``<measured>/runs/``::

    runs/<slug>@<version>/       MANIFEST.json, runs.csv, models.csv, prompts.csv, heads.csv,
                                 residual.csv, sublayers.csv, outputs.csv [, attention.csv]

``commit_run`` checks the tables (every schema and the cross-table consistency below), writes
them into a hidden staging folder ``runs/.staging-...``, reads the staged folder back with the
same checks, and renames it into place: one atomic rename. A run exists if and only if its
folder is complete. Re-measuring writes a new version (``@<time_ns>-<pid>``) and then removes
the older ones, so a kill at any point leaves the old run or the new one, never a mixture; two
processes measuring the same run both commit and the later version wins; processes measuring
different runs never touch each other's folders (nothing is merged, nothing locked).

A table of the measured data is the union of the latest version of every run. The per-model
tables (``models``, ``heads``) come from each model's most recent run. Readers refuse a damaged
partition, naming the file, the row and the problem: the manifest records each file's row count
and SHA-256, so a truncated or edited file is caught even when it still parses.

Cross-table consistency of a run: one ``runs`` and one ``models`` row for the run's model; the
prompts of ``prompts`` are those of ``outputs`` (one row each, ``n_prompts`` of them); ``residual``
has layers -1..L per prompt, ``sublayers`` 2 L rows per prompt, ``heads`` L x H rows, and
``attention`` (present iff ``attention_metrics``) L x H rows per prompt; every row carries the
run's model and prompt set; ``nonfinite_prompts`` is at most ``n_prompts``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from contract.atomic import fsync_directory, remove_orphans
from contract.errors import StorageError, TableError
from contract.folders import MANIFEST, checked, read_file, read_manifest, write_folder
from contract.tables import MEASURED_TABLES, RUN_PROMPTS_TABLE, Table, check_table

RUNS_DIR = "runs"
STAGING_PREFIX = ".staging-"
# Every table of a run; attention only when the run measured attention statistics.
RUN_TABLES: dict[str, Table] = {**MEASURED_TABLES, "prompts": RUN_PROMPTS_TABLE}
REQUIRED = tuple(name for name in RUN_TABLES if name != "attention")
# The per-model tables: the union takes them from each model's most recent run.
PER_MODEL = ("models", "heads")


@dataclass(frozen=True)
class Partition:
    """One committed run folder: its run key, version and manifest."""

    path: Path
    model: str
    prompt_set: str
    version: str
    manifest: dict

    @property
    def tables(self) -> list[str]:
        return list(self.manifest["files"])


def slug(text: str) -> str:
    """A file-name-safe form of ``text`` (the exact key is in the manifest)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:80] or "run"


def run_dirname(model: str, prompt_set: str) -> str:
    digest = hashlib.sha1(f"{model}\0{prompt_set}".encode()).hexdigest()[:8]
    return f"{slug(model)}--{slug(prompt_set)}--{digest}"


def _new_version() -> str:
    return f"{time.time_ns():020d}-{os.getpid()}"


# ---------------------------------------------------------------------------------------------
# checks shared by the writer and the reader


def _run_row(tables: dict[str, pd.DataFrame], where: str) -> pd.Series:
    runs = tables["runs"]
    if len(runs) != 1:
        raise TableError(f"{where}: a run has exactly one 'runs' row, found {len(runs)}")
    return runs.iloc[0]


def check_run(tables: dict[str, pd.DataFrame], where: str) -> None:
    """Cross-table consistency of one run's (already schema-checked) tables; see the module doc."""
    missing = [name for name in REQUIRED if name not in tables]
    if missing:
        raise TableError(f"{where}: missing table(s) {', '.join(missing)}")
    run = _run_row(tables, where)
    model, prompt_set = run["model"], run["prompt_set"]
    for name, frame in tables.items():
        if "model" in frame and not (frame["model"] == model).all():
            bad = frame.index[frame["model"] != model][0]
            raise TableError(
                f"{where}/{name}.csv, row {bad + 1}: model '{frame['model'].iloc[bad]}' in a run of '{model}'"
            )
        if "prompt_set" in frame and not (frame["prompt_set"] == prompt_set).all():
            bad = frame.index[frame["prompt_set"] != prompt_set][0]
            raise TableError(
                f"{where}/{name}.csv, row {bad + 1}: prompt set '{frame['prompt_set'].iloc[bad]}' "
                f"in a run on '{prompt_set}'"
            )
    if len(tables["models"]) != 1:
        raise TableError(f"{where}/models.csv: a run has exactly one models row, found {len(tables['models'])}")
    arch = tables["models"].iloc[0]
    n_layers, n_heads, n_prompts = int(arch["n_layers"]), int(arch["n_heads"]), int(run["n_prompts"])
    prompt_ids = set(tables["prompts"]["prompt_id"])

    def expect(name: str, rows: int, what: str) -> None:
        if len(tables[name]) != rows:
            raise TableError(f"{where}/{name}.csv: {len(tables[name])} rows, expected {rows} ({what})")

    expect("prompts", n_prompts, "n_prompts of the runs row")
    expect("outputs", n_prompts, "one per prompt")
    expect("heads", n_layers * n_heads, f"{n_layers} layers x {n_heads} heads")
    expect("residual", n_prompts * (n_layers + 2), f"layers -1..{n_layers} for each of {n_prompts} prompts")
    expect("sublayers", n_prompts * n_layers * 2, "attention and mlp of every block for every prompt")
    for name in ("outputs", "residual", "sublayers"):
        unknown = set(tables[name]["prompt_id"]) - prompt_ids
        if unknown:
            raise TableError(f"{where}/{name}.csv: prompt(s) {sorted(unknown)[:3]} not in the run's prompts")
    if bool(run["attention_metrics"]) != ("attention" in tables):
        state = "has" if "attention" in tables else "lacks"
        raise TableError(
            f"{where}: the run {state} an attention table but attention_metrics is {bool(run['attention_metrics'])}"
        )
    if "attention" in tables:
        expect("attention", n_prompts * n_layers * n_heads, "every head of every block for every prompt")
    if int(run["nonfinite_prompts"]) > n_prompts:
        raise TableError(
            f"{where}/runs.csv: nonfinite_prompts {run['nonfinite_prompts']} exceeds n_prompts {n_prompts}"
        )


# ---------------------------------------------------------------------------------------------
# writing


def validated(tables: dict[str, pd.DataFrame], where: str) -> dict[str, pd.DataFrame]:
    """Every table checked against its schema (coerced, in column order), then the run as a whole."""
    from contract.tables import validate

    unknown = set(tables) - set(RUN_TABLES)
    if unknown:
        raise TableError(f"{where}: unknown table(s) {', '.join(sorted(unknown))}")
    frames = {
        name: validate(frame.reset_index(drop=True), RUN_TABLES[name], f"{where}/{name}.csv")
        for name, frame in tables.items()
    }
    check_run(frames, where)
    return frames


def commit_run(measured_dir: Path, tables: dict[str, pd.DataFrame]) -> Partition:
    """Commit one run's tables as a partition of ``measured_dir`` (all or nothing; see the module doc).

    Raises TableError (nothing is written) when the tables break the contract; an OSError while
    writing (a full disk) leaves the measured data as they were.
    """
    runs_dir = Path(measured_dir) / RUNS_DIR
    run = _run_row(tables, "new run")
    model, prompt_set = str(run["model"]), str(run["prompt_set"])
    tables = validated(tables, f"run {model} / {prompt_set}")
    _check_against_committed(measured_dir, tables["models"], tables["runs"])
    version = _new_version()
    staging = runs_dir / f"{STAGING_PREFIX}{version}-{socket.gethostname()}"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        remove_orphans(runs_dir, STAGING_PREFIX, keep=set())
        staging.mkdir()
        manifest = write_folder(
            staging,
            {name: (frame, RUN_TABLES[name].float_format) for name, frame in tables.items()},
            model=model,
            prompt_set=prompt_set,
            version=version,
        )
        read_partition(_partition(staging, manifest))  # what is committed is what readers accept
        final = runs_dir / f"{run_dirname(model, prompt_set)}@{version}"
        os.rename(staging, final)
        fsync_directory(runs_dir)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise StorageError(
            f"could not write the run of {model} on {prompt_set} into {runs_dir} "
            f"({err.strerror or err}); nothing of this run was written"
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    committed = _partition(final, manifest)
    _remove_older_versions(runs_dir, committed)
    return committed


def check_new_run(measured_dir: Path, model_row: dict | None, prompt_set: str, prompt_set_sha256: str) -> None:
    """Refuse, before any work, a run that would make the measured data inconsistent: its model
    name already stands for another model (``model_row``'s identity columns; skipped when None),
    or its prompt-set name for other prompts, in committed runs other than its own."""
    runs = pd.DataFrame(
        [
            {
                "model": None if model_row is None else model_row["model"],
                "prompt_set": prompt_set,
                "prompt_set_sha256": prompt_set_sha256,
            }
        ]
    )
    models = pd.DataFrame([model_row]) if model_row is not None else pd.DataFrame(columns=["model", *IDENTITY])
    _check_against_committed(measured_dir, models, runs)


def _check_against_committed(measured_dir: Path, models: pd.DataFrame, runs: pd.DataFrame) -> None:
    model, prompt_set = runs["model"].iloc[0], runs["prompt_set"].iloc[0]
    others = _related_runs(measured_dir, model, prompt_set)
    if not others:
        return
    models = pd.concat(
        [models.assign(_partition=-1)]
        + [_checked_file(part, "models").assign(_partition=i) for i, part in enumerate(others)],
        ignore_index=True,
    )
    runs = pd.concat(
        [runs.assign(_partition=-1)]
        + [_checked_file(part, "runs").assign(_partition=i) for i, part in enumerate(others)],
        ignore_index=True,
    )
    conflict = conflicts(models, runs)
    if conflict:
        other = others[max(conflict[:2])]
        raise TableError(
            f"a run of {model or 'this model'} on {prompt_set} would conflict with the committed run "
            f"{other.path}: {conflict[2]}"
        )


def _related_runs(measured_dir: Path, model: str | None, prompt_set: str) -> list[Partition]:
    """The committed runs a new run of ``model`` on ``prompt_set`` must agree with: every other run of
    the model, and one run of another model on the prompt set (they all agree with each other)."""
    model_slug, set_slug = (None if model is None else slug(model)), slug(prompt_set)
    same_model, same_set = [], []
    for stem, path in _latest_folders(measured_dir).items():
        maybe_model = model_slug is not None and stem.startswith(f"{model_slug}--")
        maybe_set = not same_set and f"--{set_slug}--" in stem
        if not (maybe_model or maybe_set):
            continue  # folder names carry the slugs: only candidates' manifests are read
        part = _load_manifest(path)
        if (part.model, part.prompt_set) == (model, prompt_set):
            continue
        if part.model == model:
            same_model.append(part)
        elif part.prompt_set == prompt_set and not same_set:
            same_set.append(part)
    return same_model + same_set


def _remove_older_versions(runs_dir: Path, committed: Partition) -> None:
    """Move the superseded versions of a run out of sight (one rename each), then delete them."""
    stem = committed.path.name.split("@")[0]
    for path in runs_dir.glob(f"{stem}@*"):
        if path.name.split("@")[1] < committed.version:
            hidden = runs_dir / f"{STAGING_PREFIX}{_new_version()}-superseded"
            try:
                os.rename(path, hidden)
            except FileNotFoundError:  # another writer removed it first
                continue
            shutil.rmtree(hidden, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# reading


def _partition(path: Path, manifest: dict) -> Partition:
    return Partition(path, manifest["model"], manifest["prompt_set"], manifest["version"], manifest)


def _load_manifest(path: Path) -> Partition:
    manifest = read_manifest(path)
    if not {"model", "prompt_set", "version"} <= set(manifest):
        raise TableError(f"{path / MANIFEST}: not the manifest of a run")
    return _partition(path, manifest)


def _latest_folders(measured_dir: Path) -> dict[str, Path]:
    """Run folder name stem (``<model>--<prompt set>--<hash>``) -> the folder of its latest version."""
    runs_dir = Path(measured_dir) / RUNS_DIR
    if not runs_dir.is_dir():
        return {}
    latest: dict[str, Path] = {}
    for path in runs_dir.iterdir():
        if path.name.startswith(".") or "@" not in path.name or not path.is_dir():
            continue
        stem, version = path.name.split("@", 1)
        if stem not in latest or version > latest[stem].name.split("@", 1)[1]:
            latest[stem] = path
    return dict(sorted(latest.items()))


def partitions(measured_dir: Path) -> list[Partition]:
    """The latest committed version of every run in ``measured_dir``, sorted by folder name."""
    return [_load_manifest(path) for path in _latest_folders(measured_dir).values()]


def _read_file(partition: Partition, name: str) -> pd.DataFrame:
    remedy = (
        f"re-measure the run, remove it (thermo-audit measure rm --model {partition.model} --prompt-set "
        f"{partition.prompt_set}), or restore the file"
    )
    return read_file(partition.path, partition.manifest, name, RUN_TABLES[name], remedy)


def _checked_file(partition: Partition, name: str) -> pd.DataFrame:
    return checked(_read_file(partition, name), RUN_TABLES[name], [partition.path / f"{name}.csv"])


def read_partition(partition: Partition) -> dict[str, pd.DataFrame]:
    """All tables of one partition, checked (manifest, schemas, cross-table consistency)."""
    tables = {name: _checked_file(partition, name) for name in partition.tables}
    check_run(tables, str(partition.path))
    return tables


def read_measured_tables(measured_dir: Path, names: tuple[str, ...] = tuple(RUN_TABLES)) -> dict[str, pd.DataFrame]:
    """The measured data of ``measured_dir`` as the union of its run partitions, every partition
    checked; the per-model tables from each model's most recent run. Empty tables (with the
    schema's columns) where there are no runs."""
    _refuse_flat_layout(Path(measured_dir))
    parts = partitions(measured_dir)
    tables = {}
    for name in names:
        table = RUN_TABLES[name]
        frames, files, numbers = [], [], []
        for number, partition in enumerate(parts):
            if name in partition.manifest["files"]:
                frames.append(_read_file(partition, name))
                files.append(partition.path / f"{name}.csv")
                numbers.append(number)
        if not frames:
            empty = pd.DataFrame({column: pd.Series(dtype=object) for column in table.columns})
            tables[name] = check_table(empty, table).assign(_partition=pd.Series(dtype=int))
            continue
        file_of_row = np.repeat(np.arange(len(frames)), [len(frame) for frame in frames])
        frame = pd.concat(frames, ignore_index=True).assign(_partition=np.asarray(numbers)[file_of_row])
        per_run = replace(table, key=(*table.key, "_partition"))  # keys are unique within each run
        tables[name] = checked(frame, per_run, files, file_of_row)
    _check_partitions(tables, parts)
    return _union(tables, parts)


def _refuse_flat_layout(measured_dir: Path) -> None:
    if (measured_dir / "models.csv").is_file() and not (measured_dir / RUNS_DIR).is_dir():
        raise TableError(
            f"{measured_dir} holds tables of the older single-file layout; convert them once with: "
            f"thermo-audit measure migrate {measured_dir}"
        )


def _check_partitions(tables: dict[str, pd.DataFrame], parts: list[Partition]) -> None:
    """Cross-table consistency of every partition (on the concatenated tables), and across them:
    one model name is one model, one prompt-set name is one set of prompts."""
    if set(REQUIRED) - set(tables):
        return
    by_part = {name: dict(tuple(frame.groupby("_partition"))) for name, frame in tables.items()}
    for number, partition in enumerate(parts):
        subset = {
            name: groups[number].drop(columns="_partition").reset_index(drop=True)
            for name, groups in by_part.items()
            if number in groups
        }
        check_run(subset, str(partition.path))
        run = subset["runs"].iloc[0]
        if (run["model"], run["prompt_set"]) != (partition.model, partition.prompt_set):
            raise TableError(
                f"{partition.path}/runs.csv: the run is of {run['model']} / {run['prompt_set']}, "
                f"its manifest says {partition.model} / {partition.prompt_set}"
            )
    conflict = conflicts(tables["models"], tables["runs"])
    if conflict:
        first, second, what = conflict
        raise TableError(f"{parts[first].path} and {parts[second].path}: {what}")


# Columns that identify the model a name stands for: runs of one name must agree on them.
IDENTITY = (
    "hf_id",
    "source",
    "revision",
    "quantization",
    "seed",
    "family",
    "n_layers",
    "n_heads",
    "n_kv_heads",
    "d_model",
    "d_head",
)


def conflicts(models: pd.DataFrame, runs: pd.DataFrame) -> tuple[int, int, str] | None:
    """The first pair of partitions (``_partition`` numbers) that disagree, with what they disagree on:
    two runs named alike of different models, or one prompt-set name with two sets of prompts."""
    identity = models[["model", *IDENTITY, "_partition"]].astype(str)
    for model, group in identity.groupby("model"):
        distinct = group.drop_duplicates(list(IDENTITY))
        if len(distinct) > 1:
            a, b = distinct.iloc[0], distinct.iloc[1]
            differ = [c for c in IDENTITY if a[c] != b[c]]
            return (
                int(a["_partition"]),
                int(b["_partition"]),
                f"the model name '{model}' stands for two different models "
                f"({', '.join(f'{c} {a[c]} vs {b[c]}' for c in differ)}); "
                "measure one under another --name, or remove one run (thermo-audit measure rm)",
            )
    for prompt_set, group in runs.groupby("prompt_set"):
        distinct = group.drop_duplicates("prompt_set_sha256")
        if len(distinct) > 1:
            a, b = distinct.iloc[0], distinct.iloc[1]
            return (
                int(a["_partition"]),
                int(b["_partition"]),
                f"the prompt set '{prompt_set}' was measured with two different sets of prompts (models "
                f"{a['model']} and {b['model']}); give one another name (--prompt-set NAME) or re-measure",
            )
    return None


def _union(tables: dict[str, pd.DataFrame], parts: list[Partition]) -> dict[str, pd.DataFrame]:
    """Concatenated tables; the per-model tables from each model's most recent run."""
    if "models" in tables and len(tables["models"]):
        models = tables["models"].assign(_version=[parts[i].version for i in tables["models"]["_partition"]])
        latest = models.sort_values(["measured_at", "_version"]).groupby("model")["_partition"].last()
        for name in PER_MODEL:
            if name in tables:
                frame = tables[name]
                tables[name] = frame[frame["_partition"].to_numpy() == frame["model"].map(latest).to_numpy()]
    out = {}
    for name, frame in tables.items():
        frame = frame.drop(columns="_partition")
        if name == "prompts":
            frame = frame.drop_duplicates(list(RUN_TABLES[name].key))
        out[name] = frame.sort_values(list(RUN_TABLES[name].key), kind="stable").reset_index(drop=True)
    return out


def verify(measured_dir: Path) -> list[tuple[Partition, str | None]]:
    """Every run with what is wrong with it (None when it reads back whole and consistent)."""
    checked = []
    for partition in partitions(measured_dir):
        try:
            read_partition(partition)
            checked.append((partition, None))
        except TableError as err:
            checked.append((partition, str(err)))
    return checked


def remove_run(measured_dir: Path, model: str, prompt_set: str) -> Path:
    """Remove the run of ``model`` on ``prompt_set`` (every version): each folder is first renamed out
    of sight, so a kill never leaves half a run visible. Returns the removed folder's path."""
    runs_dir = Path(measured_dir) / RUNS_DIR
    matches = [part for part in partitions(measured_dir) if (part.model, part.prompt_set) == (model, prompt_set)]
    if not matches:
        known = sorted(f"{part.model} / {part.prompt_set}" for part in partitions(measured_dir))
        raise TableError(f"{measured_dir}: no run of {model} on {prompt_set}. Runs: {', '.join(known) or 'none'}")
    stem = matches[0].path.name.split("@")[0]
    for path in runs_dir.glob(f"{stem}@*"):
        hidden = runs_dir / f"{STAGING_PREFIX}{_new_version()}-removed"
        os.rename(path, hidden)
        shutil.rmtree(hidden, ignore_errors=True)
    fsync_directory(runs_dir)
    return matches[0].path


def export_tables(measured_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Write the union of the measured data as one CSV per table into ``out_dir`` (for users who
    want single files); returns table -> path. Nothing is written unless every run reads back whole."""
    from contract.atomic import write_atomically
    from contract.paths import writable_folder

    tables = read_measured_tables(measured_dir)
    writable_folder(out_dir, "the export folder")
    written = {}
    for name, frame in tables.items():
        path = Path(out_dir) / f"{name}.csv"
        write_atomically(frame, path, RUN_TABLES[name].float_format)
        written[name] = path
    return written
