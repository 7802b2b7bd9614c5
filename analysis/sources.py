"""The three data sources every claim is re-tested on, behind one small interface.

* ``published``: the authors' own numbers, imported by ``python -m measure import-published``
  into ``data/published/`` (long ``values`` table; see ``measure.published.catalogue``);
* ``measured``: our measurements of pretrained models (``data/measured/``, source != random-init);
* ``controls``: our measurements of the same architectures with random weights (source =
  random-init): what the architecture alone does, before any training.

Model facts (lab, heritage, depth, rho, parameter count, twins) come from ``models.csv`` for our
measurements and from the model registry for the published models: never from model names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from contract.conventions import all_conventions
from contract.registry import load_registry
from contract.errors import TableError
from contract.folders import read_folder_table, read_manifest
from contract.store import read_measured_tables
from contract.tables import PROMPTS_TABLE, PUBLISHED_TABLES

HERITAGE_LAB = "EleutherAI"
# Prompt sets tried in this order for measured claims: the paper's GU25 first (comparable with
# the published numbers), then the project's own set.
PROMPT_SET_PREFERENCE = ("GU25", "core25")
# The gain this project reports: the true last block's gain x_{L-1}/x_{L-2}, last token.
CANONICAL_GAIN = "gain_last_block_last"
MODEL_FACTS = ["model", "registry_model", "lab", "family", "variant", "twin_of", "n_layers", "n_heads", "n_kv_heads", "d_model",
               "d_head", "rho", "n_params", "norm_placement", "parallel_residual"]


def registry_names(hf_ids: pd.Series) -> pd.Series:
    """The registry model each HF id (or alternative id) is, NaN for a model not in the registry."""
    registry = load_registry()
    ids = {row["hf_id"].lower(): name for name, row in registry.iterrows()}
    for name, alternatives in registry["alt_hf_ids"].dropna().items():
        ids.update({alt.lower(): name for alt in alternatives.split(";")})
    return hf_ids.str.lower().map(ids)


def with_derived_facts(models: pd.DataFrame) -> pd.DataFrame:
    """Add heritage (EleutherAI vs other), log10 parameters and 1/L to a model-facts table."""
    models = models.copy()
    models["heritage"] = np.where(models["lab"] == HERITAGE_LAB, HERITAGE_LAB, "other")
    models["log_params"] = np.log10(models["n_params"].astype(float))
    models["inv_depth"] = 1.0 / models["n_layers"].astype(float)
    return models


def registry_facts() -> pd.DataFrame:
    """Model facts of every registry model (for the published source), rho = H / d_head."""
    registry = load_registry().reset_index(drop=True)
    registry["rho"] = registry["n_heads"] / registry["d_head"]
    registry["registry_model"] = registry["model"]
    return with_derived_facts(registry[MODEL_FACTS])


@dataclass
class Source:
    """One data source: its name, whether it holds data, and the model facts of its models."""

    name: str
    models: pd.DataFrame = field(repr=False)

    @property
    def available(self) -> bool:
        return not self.models.empty

    def named(self, registry_models) -> dict[str, str]:
        """{registry name: this source's model name} for the registry models present here (a
        random-init control of pythia-6.9b is named pythia-6.9b-random-init)."""
        present = self.models.dropna(subset=["registry_model"])
        return {r: m for r, m in zip(present["registry_model"], present["model"]) if r in set(registry_models)}


@dataclass
class PublishedSource(Source):
    """The authors' numbers: ``values`` in long form, ``labels``, ``prompts``."""

    values: pd.DataFrame = field(default=None, repr=False)
    labels: pd.DataFrame = field(default=None, repr=False)
    prompts: pd.DataFrame = field(default=None, repr=False)

    def get(self, quantity: str, notebook: str | None = None, aggregate: str | None = None,
            **where) -> pd.DataFrame:
        """Rows of ``values`` with this quantity (and notebook / aggregate / column filters)."""
        rows = self.values[self.values["quantity"] == quantity]
        if notebook is not None:
            rows = rows[rows["notebook"] == notebook]
        if aggregate is not None:
            rows = rows[rows["aggregate"] == aggregate]
        for column, value in where.items():
            rows = rows[rows[column] == value]
        return rows.reset_index(drop=True)

    def with_facts(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Join model facts onto rows that have a ``model`` column."""
        return rows.merge(self.models, on="model", how="left", suffixes=("", "_registry"))


@dataclass
class MeasuredSource(Source):
    """Our measurement tables restricted to this source's models."""

    tables: dict[str, pd.DataFrame] = field(default=None, repr=False)

    @cached_property
    def conventions(self) -> pd.DataFrame:
        """Every gain convention per (model, prompt): see contract.conventions."""
        if self.tables["residual"].empty:
            return pd.DataFrame(columns=["model", "prompt_set", "prompt_id", "convention", "quantity", "value"])
        return all_conventions(self.tables["residual"])

    def prompt_set_for(self, models) -> str | None:
        """The first preferred prompt set measured for every one of ``models``."""
        runs = self.tables["runs"]
        for prompt_set in PROMPT_SET_PREFERENCE + tuple(sorted(runs["prompt_set"].unique())):
            done = set(runs.loc[runs["prompt_set"] == prompt_set, "model"])
            if set(models) <= done:
                return prompt_set
        return None

    def prompt_gains(self, models=None, quantity: str = CANONICAL_GAIN, convention: str = "canonical",
                     prompt_set: str | None = None) -> pd.DataFrame:
        """Per (model, prompt): ``gain`` under a convention, with model facts; prompts with
        non-finite activations are left out. One prompt set for all models (see prompt_set_for)."""
        models = list(self.models["model"]) if models is None else list(models)
        prompt_set = prompt_set or self.prompt_set_for(models)
        if prompt_set is None:
            return pd.DataFrame(columns=["model", "prompt_set", "prompt_id", "gain"])
        rows = self.conventions
        rows = rows[(rows["convention"] == convention) & (rows["quantity"] == quantity)
                    & (rows["prompt_set"] == prompt_set) & rows["model"].isin(models)]
        clean = self.tables["residual"].groupby(["model", "prompt_set", "prompt_id"])["nonfinite_tokens"].sum() == 0
        rows = rows[rows.set_index(["model", "prompt_set", "prompt_id"]).index.map(clean).fillna(False).astype(bool)]
        rows = rows.rename(columns={"value": "gain"})[["model", "prompt_set", "prompt_id", "gain"]]
        return rows.merge(self.models, on="model").reset_index(drop=True)

    def model_gains(self, models=None, **kwargs) -> pd.DataFrame:
        """Per model: mean gain over prompts, n_prompts, and the model facts."""
        prompts = self.prompt_gains(models, **kwargs)
        means = prompts.groupby("model", as_index=False).agg(gain=("gain", "mean"), n_prompts=("gain", "size"))
        return means.merge(self.models, on="model")


def read_published(directory: Path) -> dict[str, pd.DataFrame] | None:
    """The imported published tables, every file checked against its manifest and schema; None
    when nothing was imported there."""
    if not directory.exists():
        return None
    manifest = read_manifest(directory)
    tables = {name: PUBLISHED_TABLES.get(name, PROMPTS_TABLE) for name in ("values", "labels", "prompts")}
    return {name: read_folder_table(directory, name, table, manifest) for name, table in tables.items()}


def _subset(tables: dict[str, pd.DataFrame], models: set[str]) -> dict[str, pd.DataFrame]:
    return {name: frame[frame["model"].isin(models)].reset_index(drop=True) if "model" in frame else frame
            for name, frame in tables.items()}


def load_sources(measured_dir: Path, published_dir: Path, *, required: tuple[str, ...] = ()) -> dict[str, Source]:
    """The three sources from the data directories. A folder that does not exist gives an empty
    source, unless its kind ("measured", "published") is ``required`` (the user named the folder):
    then a missing or empty folder is an error. Damaged data are always an error naming the file."""
    sources: dict[str, Source] = {}
    empty = pd.DataFrame(columns=MODEL_FACTS + ["heritage", "log_params", "inv_depth"])
    published = read_published(published_dir)
    if published is None and "published" in required:
        raise TableError(f"{published_dir}: no imported published data there (import them with: "
                         "thermo-audit measure import-published FOLDER | download)")
    if published is not None:
        facts = registry_facts()
        facts = facts[facts["model"].isin(published["values"]["model"].dropna())].reset_index(drop=True)
        sources["published"] = PublishedSource("published", facts, published["values"], published["labels"],
                                               published["prompts"])
    else:
        sources["published"] = PublishedSource("published", empty)
    tables = read_measured_tables(measured_dir)
    if tables["runs"].empty and "measured" in required:
        raise TableError(f"{measured_dir}: no measured runs there (measure one with: thermo-audit measure run ...)")
    for name, random_init in (("measured", False), ("controls", True)):
        models = tables["models"][(tables["models"]["source"] == "random-init") == random_init]
        models = models.assign(registry_model=registry_names(models["hf_id"]))
        facts = with_derived_facts(models[MODEL_FACTS].reset_index(drop=True))
        sources[name] = MeasuredSource(name, facts, _subset(tables, set(facts["model"])))
    return sources
