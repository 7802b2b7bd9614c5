"""Convert measured data of the older single-file layout (one CSV per table holding every run)
into run partitions (``contract.store``): ``thermo-audit measure migrate DIR``.

Each ``runs`` row becomes one partition with its rows of every table; the model's ``models`` and
``heads`` rows go into each of its runs. Prompt categories and text hashes come from the named
prompt set where it is available here (the project's sets, or the paper's once imported); they
are left empty otherwise. The old files are moved into ``DIR/.single-file-layout/`` only after
every partition is committed, so an interruption loses nothing: run the command again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pandas as pd

from contract.errors import PromptError, TableError
from contract.folders import checked
from contract.store import RUNS_DIR, commit_run, partitions
from contract.tables import MEASURED_TABLES, parse_csv

log = logging.getLogger(__name__)
BACKUP = ".single-file-layout"


def _prompt_rows(prompt_set: str, prompt_ids: pd.Series) -> pd.DataFrame:
    from measure.prompts import load_prompt_set

    ids = pd.DataFrame({"prompt_id": prompt_ids.astype(str).to_numpy(), "prompt_set": prompt_set})
    try:
        known = load_prompt_set(prompt_set)
    except PromptError:
        log.warning("prompt set %s is not available here: its categories and text hashes stay empty", prompt_set)
        return ids.assign(category=pd.NA, complexity=pd.NA, text_sha256=pd.NA)
    known = known.assign(text_sha256=[hashlib.sha256(t.encode("utf-8")).hexdigest() for t in known["text"]])
    rows = ids.merge(known[["prompt_id", "category", "complexity", "text_sha256"]], on="prompt_id", how="left")
    if rows["text_sha256"].isna().any():
        raise TableError(
            f"prompt set {prompt_set}: the measured prompt ids "
            f"{list(rows.loc[rows['text_sha256'].isna(), 'prompt_id'][:3])} are not in the set"
        )
    return rows


def migrate(measured_dir: Path) -> list[Path]:
    """Commit one partition per run of the single-file tables in ``measured_dir``; returns their paths."""
    measured_dir = Path(measured_dir)
    flat = {name: measured_dir / table.filename for name, table in MEASURED_TABLES.items()}
    if not flat["runs"].is_file():
        raise TableError(f"{measured_dir}: no runs.csv of the single-file layout to convert")
    tables = {
        name: parse_csv(path.read_bytes(), MEASURED_TABLES[name], path) for name, path in flat.items() if path.is_file()
    }
    if "nonfinite_weights" not in tables["heads"]:  # the older layout had no such column: its norms were all finite
        tables["heads"]["nonfinite_weights"] = 0
    tables = {name: checked(frame, MEASURED_TABLES[name], [flat[name]]) for name, frame in tables.items()}
    done = {(part.model, part.prompt_set) for part in partitions(measured_dir)}
    committed = []
    for _, run in tables["runs"].iterrows():
        model, prompt_set = run["model"], run["prompt_set"]
        if (model, prompt_set) in done:
            continue
        run_tables = {}
        for name, frame in tables.items():
            rows = frame[frame["model"] == model]
            if "prompt_set" in frame:
                rows = rows[rows["prompt_set"] == prompt_set]
            if name != "attention" or len(rows):
                run_tables[name] = rows.reset_index(drop=True)
        run_tables["prompts"] = _prompt_rows(prompt_set, run_tables["outputs"]["prompt_id"])
        committed.append(commit_run(measured_dir, run_tables).path)
        log.info("%s / %s -> %s", model, prompt_set, committed[-1])
    backup = measured_dir / BACKUP
    backup.mkdir(exist_ok=True)
    for path in flat.values():
        if path.is_file():
            os.replace(path, backup / path.name)
    log.info("the single-file tables are kept in %s; %s holds the runs", backup, measured_dir / RUNS_DIR)
    return committed
