"""Prompt sets: the project's own (contract/data/prompts.csv), the paper's (imported), or any CSV file.

A prompt set is a DataFrame with the ``prompts`` schema columns: prompt_id, prompt_set,
category, complexity, text. The paper's prompt texts are not committed: sets such as GU25 are
read from ``data/published/prompts.csv`` once ``python -m measure import-published`` has run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

import contract

from contract.errors import PromptError
from contract.registry import suggest
from contract.tables import PROMPTS_TABLE, validate

DEFAULT_PROMPTS = Path(contract.__file__).resolve().parent / "data" / "prompts.csv"
PUBLISHED_PROMPTS = Path(__file__).resolve().parent.parent / "data" / "published" / "prompts.csv"
DEFAULT_SET = "core25"
# The paper's prompt sets (methods.md section 4); their texts come from the imported results.
PAPER_SETS = ("GU25", "PYTHIA25", "HUNT5", "CANON3", "SCALING4", "FFN8", "H4_4", "LSTAR5", "OPT2",
              "INPUTDEP5", "RMAP1", "SINGLE1", "BENTOV1")
# Column names accepted for files written by hand or by the paper's reference list.
ALIASES = {"prompt": "text", "set_id": "prompt_set"}


def prompt_set_sha256(prompts: pd.DataFrame) -> str:
    """A hash of the prompt ids and texts, recorded with every run (provenance)."""
    payload = "\n".join(f"{pid}\t{text}" for pid, text in zip(prompts["prompt_id"], prompts["text"]))
    return hashlib.sha256(payload.encode()).hexdigest()


def _checked(prompts: pd.DataFrame, source: str) -> pd.DataFrame:
    if prompts.empty:
        raise PromptError(f"{source}: no prompts.")
    blank = prompts["text"].isna() | (prompts["text"].astype(str).str.strip() == "")
    if blank.any():
        raise PromptError(f"{source}: empty prompt text in row(s) {list(prompts.index[blank] + 1)}.")
    return validate(prompts.reset_index(drop=True), PROMPTS_TABLE, source)


def read_prompt_file(path: str | Path, prompt_set: str | None = None) -> pd.DataFrame:
    """Prompts from any CSV with a ``text`` (or ``prompt``) column.

    Missing prompt_set / prompt_id / category / complexity columns are filled in (the set is
    named after the file, ids are ``<set>-<nn>``). If the file holds several sets, ``prompt_set``
    selects one.
    """
    path = Path(path)
    if not path.is_file():
        raise PromptError(f"{path}: prompt file not found.")
    try:
        frame = pd.read_csv(path).rename(columns=ALIASES)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise PromptError(f"{path}: not a readable CSV file ({err}).") from None
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
        raise PromptError(f"{path}: holds several prompt sets ({', '.join(sorted(frame['prompt_set'].unique()))}); "
                          "choose one with --prompt-set.")
    if "prompt_id" not in frame:
        frame["prompt_id"] = [f"{s}-{i:02d}" for s, i in zip(frame["prompt_set"], frame.groupby("prompt_set").cumcount() + 1)]
    for column in ("category", "complexity"):
        if column not in frame:
            frame[column] = pd.NA
    return _checked(frame[list(PROMPTS_TABLE.columns)], str(path))


def known_prompt_sets() -> dict[str, Path]:
    """Every named set available here: set name -> the CSV it is read from."""
    sets = {}
    for path in (DEFAULT_PROMPTS, PUBLISHED_PROMPTS):
        if path.is_file():
            for name in pd.read_csv(path, usecols=["prompt_set"])["prompt_set"].unique():
                sets.setdefault(name, path)
    return sets


def load_prompt_set(name: str = DEFAULT_SET) -> pd.DataFrame:
    """A named prompt set: the project's own, or one of the paper's after the import."""
    sets = known_prompt_sets()
    if name in sets:
        return read_prompt_file(sets[name], prompt_set=name)
    if name in PAPER_SETS:
        raise PromptError(
            f"The paper's prompt set '{name}' has not been imported. Import the authors' published results "
            f"first: python -m measure import-published ../shared/paper3/Results (or: import-published download)."
        )
    raise PromptError(f"Unknown prompt set '{name}'.{suggest(name, list(sets) + list(PAPER_SETS))} "
                      f"Available here: {', '.join(sorted(sets))}.")
