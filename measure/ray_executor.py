"""Panels on Ray: one task per model, across the GPUs and machines of a Ray cluster.

Each task loads, measures and commits its own run partition (``measure.panels.measure_item``):
nothing is merged by hand, a retried task replaces only its own run, and two tasks never touch
the same files (``contract.store``). The data folder must be one that every node sees (a shared
file system) when the cluster has more than one machine.

Resource requests per task: ``gpus_per_task`` GPUs when the panel runs on CUDA (0 on CPU), one
CPU, and the registry's (or the config's) memory estimate as Ray ``memory`` on CPU runs. A task
that dies (a lost node, an out-of-memory kill) or raises a runtime error is retried up to
``max_retries`` times; a user error (a ``ThermoAuditError``: unsupported architecture, missing
model) is reported at once, not retried. Progress covers the whole cluster.

Ray is an optional dependency: ``pip install 'thermo-audit[ray]'``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from contract.errors import ThermoAuditError, UsageError
from measure.panels import PanelItem, measure_item, plan

log = logging.getLogger(__name__)


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'thermo-audit[ray]' (or pip install ray)") from None
    return ray


def _measure_task(item: PanelItem, prompts: pd.DataFrame, out_dir: str, options: dict) -> str:
    """The body of one Ray task; a ThermoAuditError comes back as a message (no retry)."""
    try:
        return str(measure_item(item, prompts, Path(out_dir), **options))
    except ThermoAuditError as err:
        return f"error: {err}"


def run_panel_on_ray(
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
    address: str | None = None,
    max_retries: int = 2,
    gpus_per_task: float = 1.0,
    device_map: str | None = None,
    offload_folder: Path | None = None,
) -> list[str]:
    """Measure every item not yet done, one Ray task each; returns the failures' messages."""
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UsageError(
                f"could not start or reach a Ray cluster at {address or 'a new local instance'}: {err}"
            ) from None
    on_gpu = device.startswith("cuda") or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
    remote = ray.remote(_measure_task)
    options = {
        "dtype": dtype,
        "device": device,
        "attention": attention,
        "batch_size": batch_size,
        "progress": False,
        "command": command,
        "device_map": device_map,
        "offload_folder": offload_folder,
    }
    prompts_ref = ray.put(prompts)
    pending, names, failures = [], {}, []
    for item in plan(items, prompts, dtype, device, attention, out_dir, force, batch_size):
        if not item.status.startswith("measure"):
            log.info("%s: %s", item.model, item.status)
            continue
        resources = {
            "num_cpus": 1,
            "num_gpus": gpus_per_task if on_gpu else 0,
            "max_retries": max_retries,
            "retry_exceptions": [RuntimeError, OSError, MemoryError],
        }
        if not on_gpu and not math.isnan(item.memory_gb):
            resources["memory"] = int(item.memory_gb * 2**30)
        ref = remote.options(**resources).remote(item, prompts_ref, str(Path(out_dir).resolve()), options)
        pending.append(ref)
        names[ref] = item.model
    with tqdm(total=len(pending), desc="panel on Ray", unit="model", disable=not progress) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            ref = done[0]
            try:
                result = ray.get(ref)
            except Exception as err:  # a task that failed after its retries: reported, the others go on
                result = f"error: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            if result.startswith("error: "):
                failures.append(f"{names[ref]}: {result.removeprefix('error: ')}")
                log.error("%s: %s", names[ref], result)
            else:
                log.info("%s: committed %s", names[ref], result)
            bar.update()
    return failures
