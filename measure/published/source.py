"""Reading the authors' files: lookups whose errors name the file and key, and the rows they yield.

``Node`` wraps a parsed JSON value (or one CSV row) with its file name and key path, so a missing
key or a non-numeric value is a ``PublishedFileError`` that names both. ``Rows`` collects the
tidy rows of one source file: it resolves model spellings to registry names and labs, looks the
quantity's convention up in the catalogue, and keeps one copy of a number the file states twice
(a summary table restating the results, a CSV restating the JSON), noting any disagreement.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from contract.errors import TableError
from measure.published.aliases import canonical_model, lab_of
from measure.published.catalogue import AGGREGATES, LABEL_KINDS, PROMPT_FREE_KINDS, QUANTITIES, UNMEASURED_KINDS

log = logging.getLogger("measure.published")


class PublishedFileError(TableError):
    """An authors' result file is missing, unreadable, or lacks a key or column the importer needs."""


def load_json(path: Path) -> Node:
    """Parse one JSON file (NaN literals allowed, as the authors' files use them)."""
    if not path.is_file():
        raise PublishedFileError(f"{path.name}: expected file not found in {path.parent}")
    log.debug("reading %s", path.name)
    try:
        return Node(json.loads(path.read_text(encoding="utf-8")), path.name)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PublishedFileError(f"{path.name}: not valid JSON ({err})") from None


def load_csv(path: Path, columns: list[str]) -> list[Node]:
    """The rows of one CSV file as Nodes of strings; every name in ``columns`` must be a column."""
    if not path.is_file():
        raise PublishedFileError(f"{path.name}: expected file not found in {path.parent}")
    log.debug("reading %s", path.name)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise PublishedFileError(f"{path.name}: not a readable CSV file ({err})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PublishedFileError(f"{path.name}: missing column(s) {', '.join(map(repr, missing))}")
    return [Node(row, path.name, f"row {i + 2}") for i, row in enumerate(frame.to_dict("records"))]


class Node:
    """A value read from ``file`` at key path ``path``."""

    def __init__(self, value: Any, file: str, path: str = ""):
        self.raw, self.file, self.path = value, file, path

    def _child(self, key: str | int) -> str:
        return f"{self.path}[{key}]" if isinstance(key, int) else f"{self.path}.{key}".lstrip(".")

    def __getitem__(self, key: str | int) -> Node:
        try:
            return Node(self.raw[key], self.file, self._child(key))
        except (KeyError, IndexError, TypeError):
            raise PublishedFileError(f"{self.file}: missing key '{self._child(key)}'") from None

    def __contains__(self, key: str) -> bool:
        return isinstance(self.raw, dict) and key in self.raw

    def __iter__(self) -> Iterator[Node]:
        if not isinstance(self.raw, list):
            raise PublishedFileError(f"{self.file}: '{self.path}' is not a list")
        return (Node(v, self.file, self._child(i)) for i, v in enumerate(self.raw))

    def __len__(self) -> int:
        return len(self.raw)

    def items(self) -> Iterator[tuple[str, Node]]:
        if not isinstance(self.raw, dict):
            raise PublishedFileError(f"{self.file}: '{self.path}' is not an object")
        return ((k, Node(v, self.file, self._child(k))) for k, v in self.raw.items())

    def is_null(self) -> bool:
        return self.raw is None

    def num(self) -> float:
        """The value as a float; numbers stored as strings (e.g. '4.9601235') are accepted."""
        value = self.raw
        if isinstance(value, bool) or value is None:
            raise PublishedFileError(f"{self.file}: '{self.path}' is not a number ({value!r})")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise PublishedFileError(f"{self.file}: '{self.path}' is not a number ({value!r})") from None

    def text(self) -> str:
        if isinstance(self.raw, (dict, list)) or self.raw is None:
            raise PublishedFileError(f"{self.file}: '{self.path}' is not a text value ({self.raw!r})")
        return str(self.raw)

    def tolerance(self) -> float:
        """Half a unit in the last printed digit when the number was stored as text, else 0."""
        if not isinstance(self.raw, str) or "." not in self.raw or "e" in self.raw.lower():
            return 0.0
        return 0.5 * 10.0 ** -len(self.raw.strip().split(".")[1])


def _same(a: float, b: float, tolerance: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(tolerance, 1e-12 * max(abs(a), abs(b)))


_VALUE_KEY = ("model", "prompt_set", "prompt_id", "layer", "head", "quantity", "aggregate")


class Rows:
    """The value and label rows of one source file, as run by ``notebook``.

    ``dtype``, ``prompt_set`` and ``n_prompts`` are the notebook's defaults (catalogue.NOTEBOOKS);
    ``add`` leaves the prompt set and dtype out for quantities that are not measured on prompts.
    """

    def __init__(self, file: str, notebook: str, dtype: str | None, prompt_set: str | None, n_prompts: int | None):
        self.file, self.notebook, self.dtype = file, notebook, dtype
        self.prompt_set, self.n_prompts = prompt_set, n_prompts
        self._values: dict[tuple, dict] = {}
        self._labels: dict[tuple, dict] = {}
        self.prompts: list[dict] = []

    def model(self, spelling: str) -> str:
        return canonical_model(spelling, self.file)

    def add(
        self,
        quantity: str,
        value: float | Node | None,
        *,
        model: str | None = None,
        lab: str | None = None,
        prompt_id: str | None = None,
        layer: int | None = None,
        head: int | None = None,
        aggregate: str = "value",
        n_prompts: int | None = -1,
        prompt_set: str | None = "",
        note: str | None = None,
        restates: str | None = None,
    ) -> None:
        """Add one number (a Node or a float; ``None`` = null in the file, no row).

        ``model`` is the file's spelling. ``prompt_set`` "" means the notebook's set (none for
        weights, architecture and constants); ``n_prompts`` -1 means 1 for one prompt's value, else
        the notebook's count. ``restates`` names where the file states the number again (e.g. the
        CSV): if the row exists the two must agree within the printed precision (a disagreement is
        logged and noted on the row); if not, the row is added with a note saying where it is from.
        """
        tolerance = value.tolerance() if isinstance(value, Node) else 0.0
        if isinstance(value, Node):
            value = None if value.is_null() else value.num()
        if value is None:
            return
        kind = QUANTITIES[quantity].kind
        if aggregate.split(":")[0] not in AGGREGATES:
            raise ValueError(f"unknown aggregate '{aggregate}' for {quantity}")
        name = self.model(model) if model is not None else None
        if prompt_set == "":
            prompt_set = None if kind in PROMPT_FREE_KINDS else self.prompt_set
        if n_prompts == -1:
            n_prompts = 1 if prompt_id else (self.n_prompts if prompt_set else None)
        row = {
            "notebook": self.notebook,
            "source_file": self.file,
            "model": name,
            "lab": lab if lab is not None else (lab_of(name) if name else None),
            "prompt_set": prompt_set,
            "prompt_id": prompt_id,
            "layer": layer,
            "head": head,
            "quantity": quantity,
            "convention": kind if kind.startswith("R") else None,
            "aggregate": aggregate,
            "value": float(value),
            "dtype": None if kind in UNMEASURED_KINDS else self.dtype,
            "n_prompts": n_prompts,
            "note": note,
        }
        key = tuple(row[k] for k in _VALUE_KEY)
        existing = self._values.get(key)
        if existing is None:
            if restates:
                row["note"] = "; ".join(filter(None, [note, f"only in {restates}"]))
            self._values[key] = row
        elif not _same(existing["value"], row["value"], tolerance):
            message = f"{restates or 'a second entry'} states {row['value']!r}"
            log.warning(
                "%s: %s %s of %s disagree: kept %r, %s",
                self.file,
                quantity,
                aggregate,
                name,
                existing["value"],
                message,
            )
            existing["note"] = "; ".join(filter(None, [existing["note"], message]))

    def add_layers(self, quantity: str, values: Node, *, first_layer: int = 0, **coords) -> None:
        """One row per element of a per-layer vector; element i has layer ``first_layer + i``."""
        for i, value in enumerate(values):
            self.add(quantity, value, layer=first_layer + i, **coords)

    def label(self, model: str, kind: str, label: Node | str) -> None:
        """A categorical label the notebook assigns to ``model`` (booleans become 'True'/'False')."""
        if kind not in LABEL_KINDS:
            raise ValueError(f"unknown label kind '{kind}'")
        text = label.text() if isinstance(label, Node) else label
        name = self.model(model)
        existing = self._labels.get((name, kind))
        if existing is None:
            self._labels[(name, kind)] = {
                "notebook": self.notebook,
                "source_file": self.file,
                "model": name,
                "label_kind": kind,
                "label": text,
            }
        elif existing["label"] != text:
            log.warning(
                "%s: %s label of %s disagrees: kept %r, also %r", self.file, kind, name, existing["label"], text
            )

    def prompt(
        self,
        prompt_set: str,
        number: int,
        text: str,
        category: str | None = None,
        complexity: int | None = None,
        difficulty: str | None = None,
    ) -> str:
        """Record a prompt text the file contains; returns its id ``<SET>-<nn>`` (1-based)."""
        prompt_id = prompt_id_of(prompt_set, number)
        self.prompts.append(
            {
                "prompt_id": prompt_id,
                "prompt_set": prompt_set,
                "category": category,
                "complexity": complexity,
                "text": text,
                "difficulty": difficulty,
                "source_file": self.file,
                "notebook": self.notebook,
            }
        )
        return prompt_id

    def values_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self._values.values()))

    def labels_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self._labels.values()))


def prompt_id_of(prompt_set: str, number: int) -> str:
    """The project's prompt id: ``<SET>-<nn>``, 1-based in the authors' order."""
    return f"{prompt_set}-{number:02d}"
