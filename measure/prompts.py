"""Prompt sets: the project's own (contract/data/prompts.csv), the paper's (imported), or any CSV file.

A prompt set is a DataFrame with the ``prompts`` schema columns: prompt_id, prompt_set,
category, complexity, text. The paper's prompt texts are not committed: sets such as GU25 are
read from the imported published data (``<data>/published/prompts.csv``) once
``thermo-audit measure import-published`` has run.

Prompt files are read as UTF-8 text, every cell as written: ids such as ``001`` stay ``001`` and a
prompt whose text is ``NA`` is the text "NA"; only an empty cell is missing.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd

import contract
from contract.errors import PromptError, TableError
from contract.folders import REIMPORT, read_folder_table
from contract.paths import data_paths
from contract.registry import suggest
from contract.tables import PROMPTS_TABLE, validate

DEFAULT_PROMPTS = Path(contract.__file__).resolve().parent / "data" / "prompts.csv"
DEFAULT_SET = "core25"
# The paper's prompt sets (methods.md section 4); their texts come from the imported results.
PAPER_SETS = (
    "GU25",
    "PYTHIA25",
    "HUNT5",
    "CANON3",
    "SCALING4",
    "FFN8",
    "H4_4",
    "LSTAR5",
    "OPT2",
    "INPUTDEP5",
    "RMAP1",
    "SINGLE1",
    "BENTOV1",
)
# Column names accepted for files written by hand or by the paper's reference list.
ALIASES = {"prompt": "text", "set_id": "prompt_set"}


def prompt_set_sha256(prompts: pd.DataFrame) -> str:
    """A hash of the prompt ids and texts, recorded with every run (provenance)."""
    payload = "\n".join(f"{pid}\t{text}" for pid, text in zip(prompts["prompt_id"], prompts["text"]))
    return hashlib.sha256(payload.encode()).hexdigest()


def _checked(prompts: pd.DataFrame, source: str) -> pd.DataFrame:
    if prompts.empty:
        raise PromptError(f"{source}: no prompts.")
    lines = prompts.index + 2  # the header is line 1
    blank = prompts["text"].isna() | (prompts["text"].astype(str).str.strip() == "")
    if blank.any():
        raise PromptError(f"{source}: empty prompt text on line(s) {list(lines[blank])}.")
    duplicated = prompts.duplicated(["prompt_set", "prompt_id"], keep=False)
    if duplicated.any():
        raise PromptError(
            f"{source}: prompt id {prompts.loc[duplicated, 'prompt_id'].iloc[0]!r} is used twice "
            f"(lines {list(lines[duplicated])})."
        )
    complexity = pd.to_numeric(prompts["complexity"], errors="coerce")
    bad = prompts["complexity"].notna() & (complexity.isna() | (complexity != complexity.round()))
    if bad.any():
        raise PromptError(
            f"{source}, line {lines[bad][0]}: complexity {prompts.loc[bad, 'complexity'].iloc[0]!r} "
            "is not a whole number."
        )
    try:
        return validate(prompts.assign(complexity=complexity).reset_index(drop=True), PROMPTS_TABLE, source)
    except TableError as err:
        raise PromptError(str(err)) from None


def read_prompt_file(path: str | Path, prompt_set: str | None = None) -> pd.DataFrame:
    """Prompts from any UTF-8 CSV with a ``text`` (or ``prompt``) column.

    Missing prompt_set / prompt_id / category / complexity columns are filled in (the set is
    named ``prompt_set`` or after the file, ids are ``<set>-<nn>``). If the file holds several
    sets, ``prompt_set`` selects one.
    """
    path = Path(path)
    if not path.is_file():
        raise PromptError(f"{path}: prompt file not found.")
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise PromptError(
            f"{path}, line {line}: not UTF-8 text (byte {raw[err.start]:#04x} at offset {err.start}); "
            "save the file as UTF-8."
        ) from None
    try:
        frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise PromptError(f"{path}: not a readable CSV file ({str(err).strip()}).") from None
    frame = frame.rename(columns=ALIASES).replace({"": pd.NA})
    if "text" not in frame:
        raise PromptError(f"{path}: needs a 'text' (or 'prompt') column; found {list(frame.columns)}.")
    if "prompt_set" not in frame:
        frame["prompt_set"] = prompt_set or path.stem
    if prompt_set is not None:
        known = sorted(frame["prompt_set"].dropna().unique())
        frame = frame[frame["prompt_set"] == prompt_set]
        if frame.empty:
            raise PromptError(f"{path}: no prompts of set '{prompt_set}'. Sets in the file: {', '.join(known)}.")
    elif frame["prompt_set"].nunique() > 1:
        raise PromptError(
            f"{path}: holds several prompt sets ({', '.join(sorted(frame['prompt_set'].unique()))}); "
            "choose one with --prompt-set."
        )
    if "prompt_id" not in frame:
        frame["prompt_id"] = [
            f"{s}-{i:02d}" for s, i in zip(frame["prompt_set"], frame.groupby("prompt_set").cumcount() + 1)
        ]
    for column in ("category", "complexity"):
        if column not in frame:
            frame[column] = pd.NA
    return _checked(frame[list(PROMPTS_TABLE.columns)], str(path))


def _published_prompts(published_dir: Path) -> pd.DataFrame | None:
    if not published_dir.exists():
        return None
    return read_folder_table(published_dir, "prompts", PROMPTS_TABLE, remedy=REIMPORT)


def known_prompt_sets(published_dir: Path | None = None) -> dict[str, str]:
    """Every named set available here: set name -> where it is read from."""
    published_dir = data_paths().published if published_dir is None else published_dir
    sets = {name: str(DEFAULT_PROMPTS) for name in pd.read_csv(DEFAULT_PROMPTS, usecols=["prompt_set"])["prompt_set"]}
    published = _published_prompts(published_dir)
    if published is not None:
        for name in published["prompt_set"].unique():
            sets.setdefault(name, str(published_dir / "prompts.csv"))
    return sets


def load_prompt_set(name: str = DEFAULT_SET, published_dir: Path | None = None) -> pd.DataFrame:
    """A named prompt set: the project's own, or one of the paper's after the import."""
    published_dir = data_paths().published if published_dir is None else published_dir
    if name in pd.read_csv(DEFAULT_PROMPTS, usecols=["prompt_set"])["prompt_set"].unique():
        return read_prompt_file(DEFAULT_PROMPTS, prompt_set=name)
    published = _published_prompts(published_dir)
    if published is not None and name in set(published["prompt_set"]):
        return published[published["prompt_set"] == name][list(PROMPTS_TABLE.columns)].reset_index(drop=True)
    sets = known_prompt_sets(published_dir)
    if name in PAPER_SETS:
        raise PromptError(
            f"The paper's prompt set '{name}' has not been imported into {published_dir}. Import the authors' "
            "published results first: thermo-audit measure import-published FOLDER (or: import-published download)."
        )
    raise PromptError(
        f"Unknown prompt set '{name}'.{suggest(name, list(sets) + list(PAPER_SETS))} "
        f"Available here: {', '.join(sorted(sets))}."
    )
