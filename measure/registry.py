"""The model registry: every model the paper used and the offline demo models, one reviewed CSV.

``data/panels/registry.csv`` holds one row per model: HF id, lab, family (HF ``model_type``),
base/instruct twin, architecture (L, H, KV heads, d_model, d_head, ...), and the panels the
model belongs to. Lab and heritage labels come from this file, never from substrings of names.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pandas as pd

from measure.errors import UnknownNameError

REGISTRY_PATH = Path(__file__).resolve().parent.parent / "data" / "panels" / "registry.csv"


def load_registry(path: Path = REGISTRY_PATH) -> pd.DataFrame:
    """The registry as a DataFrame indexed by ``model`` (the canonical short model name)."""
    return pd.read_csv(path, dtype={"alt_hf_ids": str, "twin_of": str}).set_index("model", drop=False)


def suggest(name: str, known: list[str]) -> str:
    """A hint naming the known names closest to ``name``."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def get_entry(name: str, registry: pd.DataFrame | None = None) -> pd.Series:
    """The registry row of ``name`` (canonical name, HF id or alternative HF id)."""
    registry = load_registry() if registry is None else registry
    if name in registry.index:
        return registry.loc[name]
    for _, row in registry.iterrows():
        ids = [row["hf_id"]] + (str(row["alt_hf_ids"]).split(";") if pd.notna(row["alt_hf_ids"]) else [])
        if name in ids or name.lower() in (i.lower() for i in ids):
            return row
    raise UnknownNameError(f"Unknown model '{name}' in the registry.{suggest(name, list(registry.index))}")
