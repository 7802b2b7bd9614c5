"""The model registry: every model the paper used and the offline demo models, one reviewed CSV.

``contract/data/registry.csv`` (package data) holds one row per model: HF id, lab, family (HF
``model_type``), base/instruct twin, architecture (L, H, KV heads, d_model, d_head, ...), and the
panels the model belongs to. Lab and heritage labels come from this file, never from substrings
of names. Building a model from a row needs torch and lives in ``measure.registry``.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

import pandas as pd

from contract.errors import UnknownNameError
from contract.tables import REGISTRY_TABLE, read_table
from contract.vocab import PANELS

REGISTRY_PATH = Path(__file__).resolve().parent / "data" / "registry.csv"


@lru_cache(maxsize=4)
def _checked_registry(path: Path) -> pd.DataFrame:
    return read_table(path, REGISTRY_TABLE).set_index("model", drop=False)


def load_registry(path: Path = REGISTRY_PATH) -> pd.DataFrame:
    """The registry (checked against ``REGISTRY_TABLE``) as a DataFrame indexed by ``model``, the
    canonical short model name. A copy: callers may change it."""
    return _checked_registry(Path(path)).copy()


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


def panel_members(panel: str, registry: pd.DataFrame | None = None) -> pd.DataFrame:
    """The registry rows whose ``panels`` cell (';'-separated) names ``panel``, in registry order."""
    if panel not in PANELS:
        raise UnknownNameError(
            f"Unknown panel '{panel}'. Known panels: {', '.join(PANELS)}.{suggest(panel, list(PANELS))}"
        )
    registry = load_registry() if registry is None else registry
    return registry[registry["panels"].fillna("").str.split(";").apply(lambda names: panel in names)]
