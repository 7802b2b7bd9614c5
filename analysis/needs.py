"""What a claim needs from a source, and what a source gives it.

A source (``analysis.sources``) answers a claim's request for a named ``Dataset``: the rows the
claim's statistics run on (one per model, or per model and prompt, with the model facts), what
the values are (``label``: convention, notebook, prompt set), the models left out because their
data are incomplete or non-finite (``left_out``: model -> why) and, where only that source holds
them, the data of sensitivity analyses (``extras``). A claim declares ``Needs``: the dataset's
name and the structured minima (models, models per group, named models, prompts per model) that
the runner checks before calling the claim, so the claim function holds only its statistics and
its decision rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


def count(n: int, noun: str) -> str:
    """'1 model', '3 models'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


class InsufficientData(Exception):
    """A source lacks the data a claim needs (the message says what is missing and what there is)."""


@dataclass
class Dataset:
    """The rows a claim is computed on, from one source."""

    frame: pd.DataFrame
    label: str
    source: str = ""
    left_out: dict[str, str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return sorted(self.frame["model"].unique()) if "model" in self.frame else []

    def describe(self) -> str:
        """'<label>; 8 models (pythia-70m, ...)' for the data column of claims.csv."""
        models = self.models
        return f"{self.label}; {count(len(models), 'model')} ({', '.join(models)})" if models else self.label


def _counts(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame.drop_duplicates("model")[column].value_counts()


@dataclass(frozen=True)
class Needs:
    """Structured minima of a claim's data: checked by the runner before the claim is called.

    ``dataset``: the name of the Source method that selects the data. ``models``: distinct models
    at least. ``groups``: per column, the levels that must each have at least that many models
    (e.g. {"heritage": {"EleutherAI": 2, "other": 2}}). ``named``: registry models that must be
    present. ``prompts``: prompts per model at least (prompt-level datasets).
    """

    dataset: str
    models: int = 1
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    named: tuple[str, ...] = ()
    prompts: int = 0

    def describe(self) -> str:
        """The needs column of claims.csv."""
        parts = [
            f"{self.dataset}: at least {self.models} model{'s' if self.models != 1 else ''}"
            if self.models
            else self.dataset
        ]
        for column, levels in self.groups.items():
            parts.append(" and ".join(f"{k} with {column} = {level}" for level, k in levels.items()))
        if self.named:
            parts.append(f"the models {', '.join(self.named)}")
        if self.prompts:
            parts.append(f"at least {self.prompts} prompts per model")
        return "; ".join(parts)

    def check(self, data: Dataset) -> None:
        """Raise InsufficientData saying what is missing and what the dataset has."""
        frame = data.frame
        have = data.models
        listing = f"{count(len(have), 'model')} ({', '.join(have)})" if have else "no models"
        left = f"; left out: {left_out_note(data.left_out)}" if data.left_out else ""
        if len(have) < self.models:
            raise InsufficientData(f"needs at least {self.models} models, has {listing}{left}")
        known = set(have) | (set(frame["registry_model"].dropna()) if "registry_model" in frame else set())
        missing = sorted(set(self.named) - known)
        if missing:
            raise InsufficientData(f"needs {' and '.join(self.named)}; missing {', '.join(missing)}{left}")
        for column, levels in self.groups.items():
            counts = _counts(frame, column)
            if any(counts.get(level, 0) < k for level, k in levels.items()):
                wanted = " and ".join(f"{k} with {column} = {level}" for level, k in levels.items())
                found = " and ".join(f"{int(counts.get(level, 0))} {level}" for level in levels)
                members = "; ".join(
                    f"{level}: {', '.join(sorted(group['model'].unique()))}" for level, group in frame.groupby(column)
                )
                raise InsufficientData(f"needs at least {wanted}; has {found} ({members or 'no models'}){left}")
        if self.prompts and "prompt_id" in frame:
            per_model = frame.groupby("model")["prompt_id"].nunique()
            short = per_model[per_model < self.prompts]
            if len(short):
                raise InsufficientData(
                    f"needs at least {self.prompts} prompts per model; "
                    + ", ".join(f"{m} has {n}" for m, n in short.items())
                )


def left_out_note(left_out: dict[str, str]) -> str:
    """'m1 (why); m2 (why)' in model order."""
    return "; ".join(f"{model} ({why})" for model, why in sorted(left_out.items()))
