"""The three data sources every claim is re-tested on, and the data each one gives a claim.

* ``published``: the authors' own numbers, imported by ``python -m measure import-published``
  into ``data/published/`` (long ``values`` table; see ``measure.published.catalogue``);
* ``measured``: our measurements of pretrained models (``data/measured/``, source != random-init);
* ``controls``: our measurements of the same architectures with random weights (source =
  random-init): what the architecture alone does, before any training.

Model facts (lab, heritage, depth, rho, parameter count, twins) come from ``models.csv`` for our
measurements and from the model registry for the published models: never from model names.

Data selection lives here, per source: a claim asks for a named dataset (``Source.dataset``, one
method per name in ``DATASETS``) and gets an ``analysis.needs.Dataset``: the rows, what they are,
and the models left out because their data are incomplete or non-finite. On our data, prompts
with non-finite activations are dropped (and said so); a model with nothing finite left, or not
measured on the prompt set the other models share, is left out of that claim with the reason.
``load_sources`` is the one entry that reads data from disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import transition
from analysis.needs import Dataset, InsufficientData
from contract.conventions import all_conventions
from contract.errors import TableError
from contract.folders import REIMPORT, read_folder_table, read_manifest
from contract.registry import load_registry
from contract.store import read_measured_tables
from contract.tables import PROMPTS_TABLE, PUBLISHED_TABLES

HERITAGE_LAB = "EleutherAI"
# Prompt sets tried in this order for measured claims: the paper's GU25 first (comparable with
# the published numbers), then the project's own set.
PROMPT_SET_PREFERENCE = ("GU25", "core25")
# The gain this project reports: the true last block's gain x_{L-1}/x_{L-2}, last token.
CANONICAL_GAIN = "gain_last_block_last"
MODEL_FACTS = [
    "model",
    "registry_model",
    "lab",
    "family",
    "variant",
    "twin_of",
    "n_layers",
    "n_heads",
    "n_kv_heads",
    "d_model",
    "d_head",
    "rho",
    "n_params",
    "norm_placement",
    "parallel_residual",
]

# Which published notebooks give a model's mean gain, by convention, in order of preference:
# R1 (the penultimate block's gain): the 16-model heritage hunt, the Pythia sweep, the clean check;
# R2 (the true last block's gain): the benchmark, the twin test, the GPT-2 and GPT-J checks.
PUBLISHED_GAINS = {
    "R1": ("gain_penultimate_block", ("HRH", "PFS", "CRG")),
    "R2": ("gain_last_block", ("GUB", "TWN", "G2L", "GJP")),
}
R2_PROMPT_NOTEBOOKS = ("GUB", "TWN", "G2L", "GJP")  # per-prompt R2 gains; a model in two counts once, from the first
R2_TOTAL_NOTEBOOKS = ("GUB", "G2L", "GJP", "TWN")
R3_NOTEBOOKS = ("4MV", "MPI", "IDT")
# Our views of the conventions (contract.conventions): R1 = the penultimate block's gain, R2 = the true last
# block's (last token), R3 = the last block's over all positions (Frobenius).
MEASURED_CONVENTIONS = {"R1": ("R1", "gain_no_ln"), "R2": ("R2", "last_gain"), "R3": ("R3", "last_gain")}
# Families whose published "W_V" is rows 2d:3d of the fused QKV, not a value matrix (methods.md 2.5).
MIS_SLICED_FAMILIES = ("gpt_neox", "bloom")
NORMS = ["wv_spectral", "wv_frobenius", "wo_spectral", "wo_frobenius", "ov_spectral", "ov_frobenius"]
# The paper's named models of the claims about a given set of models.
CROWDING_PAIR = ("pythia-6.9b", "gpt-j-6b")
HIERARCHY = ("pythia-6.9b", "mistral-7b-v0.1", "llama-3.1-8b", "gemma-7b")
# The paper's GPT-2 vs OPT-125m trace pair, found by architecture facts (family, depth, width), not by name.
TRACE_PAIR = {
    "gpt2_small": {"family": "gpt2", "n_layers": 12, "d_model": 768},
    "opt_125m": {"family": "opt", "n_layers": 12, "d_model": 768},
}
# Published quantities counted for the panel, per metric.
PANEL_METRICS = {
    "R1 gain (penultimate block)": ("gain_penultimate_block",),
    "R2 gain (last block)": ("gain_last_block",),
    "R3 gain (Frobenius)": ("frobenius_gain",),
    "R4 sublayer gain": ("sublayer_attention_gain", "sublayer_mlp_gain"),
    "W_V norms": ("wv_spectral_mean", "wv_spectral", "wv_frobenius_mean"),
    "sheaf traces": ("trace_multihead", "trace_full", "dense_laplacian_trace"),
    "L*": (
        "l_star_trace",
        "l_star_trace_multihead",
        "l_star_sign_change",
        "l_star_min_contraction",
        "l_star_attention_min",
        "l_star_gap_max",
    ),
    "W_U norms": ("wu_spectral",),
}
# Every dataset a claim can ask a source for (one method of that name on each source class).
DATASETS = (
    "panel",
    "claims",
    "pythia_gains",
    "pythia_prompt_gains",
    "block_gains",
    "total_gains",
    "heritage_gains",
    "heritage_prompt_gains",
    "weight_norms",
    "signed_weight_norms",
    "late_layer_proxy",
    "eq4_traces",
    "trace_pair",
    "signed_traces",
    "multihead_traces",
    "contraction",
    "spectral_gaps",
    "lstar",
    "lstar_definitions",
    "pair_summaries",
    "rule_models",
    "final_norm",
    "twin_gains",
    "hierarchy_gains",
    "robustness_gains",
    "convention_gains",
    "prompt_summaries",
)


def registry_names(hf_ids: pd.Series) -> pd.Series:
    """The registry model each HF id (or alternative id) is, NaN for a model not in the registry."""
    registry = load_registry()
    ids = {row["hf_id"].lower(): name for name, row in registry.iterrows()}
    for name, alternatives in registry["alt_hf_ids"].dropna().items():
        ids.update({alt.lower(): name for alt in alternatives.split(";")})
    return hf_ids.str.lower().map(ids)


def with_derived_facts(models: pd.DataFrame) -> pd.DataFrame:
    """Add heritage (EleutherAI vs other), log10 parameters, 1/L and the lineage (lab/family)."""
    models = models.copy()
    models["heritage"] = np.where(models["lab"] == HERITAGE_LAB, HERITAGE_LAB, "other")
    models["log_params"] = np.log10(models["n_params"].astype(float))
    models["inv_depth"] = 1.0 / models["n_layers"].astype(float)
    models["lineage"] = models["lab"].fillna("unknown lab") + "/" + models["family"].astype(str)
    return models


def registry_facts() -> pd.DataFrame:
    """Model facts of every registry model (for the published source), rho = H / d_head."""
    registry = load_registry().reset_index(drop=True)
    registry["rho"] = registry["n_heads"] / registry["d_head"]
    registry["registry_model"] = registry["model"]
    return with_derived_facts(registry[MODEL_FACTS])


def drop_twins(rows: pd.DataFrame) -> pd.DataFrame:
    """Leave out instruct models whose base model (``twin_of``) is also in ``rows``: a fine-tuned twin
    is not a new, independent model in a comparison across models."""
    if rows.empty or "twin_of" not in rows:
        return rows.reset_index(drop=True)
    return rows[~rows["twin_of"].isin(rows["model"])].reset_index(drop=True)


def twins_left_out(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, str]:
    gone = sorted(set(before.get("model", [])) - set(after.get("model", [])))
    twin_of = before.drop_duplicates("model").set_index("model")["twin_of"] if gone else {}
    return {m: f"instruct twin of {twin_of[m]}, which is in the data" for m in gone}


def with_sign(gains: pd.DataFrame) -> pd.DataFrame:
    """Add ``sign``: "dampen" if the gain is < 1, else "expand" (strict, as the paper)."""
    return gains.assign(sign=gains["gain"].lt(1).map({True: "dampen", False: "expand"}))


def pythia_family(models: pd.DataFrame) -> pd.DataFrame:
    """EleutherAI's GPT-NeoX models (Pythia), selected by registry facts, not by names."""
    return models[(models["family"] == "gpt_neox") & (models["lab"] == HERITAGE_LAB)]


def pick(models: pd.DataFrame, facts: dict) -> str | None:
    """The one model with these architecture facts (None if absent or ambiguous)."""
    match = models.loc[(models[list(facts)] == pd.Series(facts)).all(axis=1), "model"]
    return match.iloc[0] if len(match) == 1 else None


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

    def dataset(self, name: str) -> Dataset:
        """The data of dataset ``name`` (one of DATASETS) from this source, labelled with the source's name."""
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
        data = getattr(self, name)()
        data.source = self.name
        return data

    def claims(self) -> Dataset:
        """The rows of the other claims on this source: filled in by the runner (see analysis.run)."""
        raise InsufficientData("the rows of the other claims are given by the runner")

    def _models(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Join model facts onto rows that have a ``model`` column."""
        return rows.merge(self.models, on="model", how="left", suffixes=("", "_registry"))


@dataclass
class PublishedSource(Source):
    """The authors' numbers: ``values`` in long form, ``labels``, ``prompts``."""

    values: pd.DataFrame = field(default=None, repr=False)
    labels: pd.DataFrame = field(default=None, repr=False)
    prompts: pd.DataFrame = field(default=None, repr=False)

    def get(self, quantity: str, notebook: str | None = None, aggregate: str | None = None, **where) -> pd.DataFrame:
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
        return self._models(rows)

    # --- gains by convention -----------------------------------------------------------------

    def model_gains(self, convention: str = "R1") -> pd.DataFrame:
        """Per model: the published mean gain under ``convention`` from the first notebook that has it,
        with ``sign``; columns model, gain, notebook, convention, n_prompts and the registry facts."""
        quantity, notebooks = PUBLISHED_GAINS[convention]
        frames = [self.get(quantity, notebook=nb, aggregate="mean").assign(rank=i) for i, nb in enumerate(notebooks)]
        rows = pd.concat(frames).sort_values(["model", "rank"]).drop_duplicates("model")
        rows = rows.rename(columns={"value": "gain"})[["model", "gain", "notebook", "convention", "n_prompts"]]
        return with_sign(self.with_facts(rows.reset_index(drop=True)))

    def model_signs(self, convention: str = "R1") -> pd.DataFrame:
        """``model_gains`` plus the H4 notebooks' hard-coded ``known_gain`` for models without a gain under
        ``convention`` (e.g. gpt2: 1.05, cited without a producing run); ``notebook`` says where each came from."""
        gains = self.model_gains(convention)
        known = self.get("known_gain", aggregate="value").drop_duplicates("model")
        known = known[~known["model"].isin(gains["model"])].rename(columns={"value": "gain"})
        known = self.with_facts(known[["model", "gain", "notebook"]].assign(convention="hard-coded known_gain"))
        known["notebook"] += " known_gain"
        return pd.concat([gains, with_sign(known)], ignore_index=True)

    def r2_prompt_gains(self) -> pd.DataFrame:
        """Per (model, prompt): the R2 gain of GUB/TWN/G2L/GJP (a model in two notebooks counts once)."""
        rows = pd.concat(
            [self.get("gain_last_block", notebook=nb, aggregate="value") for nb in R2_PROMPT_NOTEBOOKS],
            ignore_index=True,
        )
        rows = rows[rows["notebook"] == rows.groupby("model")["notebook"].transform("first")]
        return self.with_facts(rows.rename(columns={"value": "gain"})[["model", "prompt_id", "notebook", "gain"]])

    def convention_table(self) -> pd.DataFrame:
        """Per model and convention (R1, R2, R3): the mean gain over the prompts that convention used."""
        frames = [self.model_gains(c)[["model", "gain", "notebook"]].assign(convention=c) for c in ("R1", "R2")]
        r3 = self.with_facts(
            pd.concat([self.get("frobenius_gain", notebook=nb, aggregate="value") for nb in R3_NOTEBOOKS])
        )
        last = r3[r3["layer"] == r3["n_layers"] - 1]
        last = last.groupby(["model", "notebook"], as_index=False)["value"].mean().rename(columns={"value": "gain"})
        frames.append(last.drop_duplicates("model").assign(convention="R3"))
        return pd.concat(frames, ignore_index=True)

    # --- datasets ----------------------------------------------------------------------------

    def panel(self) -> Dataset:
        rows = []
        for metric, quantities in PANEL_METRICS.items():
            models = self.values.loc[self.values["quantity"].isin(quantities), "model"].dropna().unique()
            rows += [{"metric": metric, "model": m} for m in models]
        every = self.values["model"].dropna().unique()
        rows += [{"metric": "any quantity", "model": m} for m in every]
        frame = self._models(pd.DataFrame(rows))
        return Dataset(frame, "models and labs per quantity in the published result files")

    def pythia_gains(self) -> Dataset:
        rows = self.get("gain_penultimate_block", notebook="PFS", aggregate="value")
        gains = rows.groupby("model", as_index=False)["value"].mean().rename(columns={"value": "gain"})
        return Dataset(self.with_facts(gains), "R1 penultimate-block gain (PFS, fp16, 25 prompts), model means")

    def pythia_prompt_gains(self) -> Dataset:
        rows = self.get("gain_penultimate_block", notebook="PFS", aggregate="value").rename(columns={"value": "gain"})
        return Dataset(
            self.with_facts(rows[["model", "prompt_id", "gain"]]),
            "R1 penultimate-block gain per prompt (PFS, fp16, 25 prompts)",
        )

    def block_gains(self) -> Dataset:
        rows = self.get("layer_gain", notebook="PFS", aggregate="mean")
        rows = rows[rows["layer"] >= 1].rename(columns={"value": "gain"})
        return Dataset(
            self.with_facts(rows[["model", "layer", "gain"]]),
            "PFS R1 per-block gains, mean over 25 prompts (blocks 1..L-2; the last element mixes the final norm in)",
        )

    def total_gains(self) -> Dataset:
        rows = pd.concat([self.get("total_amplification", notebook=nb, aggregate="value") for nb in R2_TOTAL_NOTEBOOKS])
        rows = rows[rows["notebook"] == rows.groupby("model")["notebook"].transform("first")]
        rows = self.with_facts(
            rows.rename(columns={"value": "total_gain"})[["model", "prompt_id", "notebook", "total_gain"]]
        )
        kept = drop_twins(rows)
        return Dataset(
            kept,
            "R2 total amplification x_{L-1} / x_0 per prompt (GUB, G2L, GJP, TWN; GU25)",
            left_out=twins_left_out(rows, kept),
        )

    def heritage_gains(self) -> Dataset:
        gains = self.model_gains("R1")
        gains = gains[gains["notebook"] == "HRH"]
        kept = drop_twins(gains)
        return Dataset(
            kept,
            "HRH (the paper's heritage data): R1 penultimate-block gain, fp16, 5 prompts",
            left_out=twins_left_out(gains, kept),
            extras={"r1_all": drop_twins(self.model_gains("R1")), "r2": drop_twins(self.model_gains("R2"))},
        )

    def heritage_prompt_gains(self) -> Dataset:
        rows = self.r2_prompt_gains()
        kept = drop_twins(rows)
        return Dataset(
            kept,
            "R2 true last-block gain, last token, GU25 prompts (GUB/TWN/G2L/GJP; HRH stores no per-prompt gains)",
            left_out=twins_left_out(rows, kept),
            extras={"hrh": self.heritage_gains().frame},
        )

    def weight_norms(self) -> Dataset:
        wv = self.get("wv_spectral_mean", notebook="CSV", aggregate="value")[["model", "value"]]
        wo = self.get("wo_mean", notebook="CSV", aggregate="value")[["model", "value"]]
        rows = wv.merge(wo, on="model", suffixes=("_wv", "_wo")).rename(
            columns={"value_wv": "wv_spectral", "value_wo": "wo_spectral"}
        )
        rows = self.with_facts(rows)
        rows["valid_wv"] = ~rows["family"].isin(MIS_SLICED_FAMILIES)
        opa = self.with_facts(self.get("wv_spectral_mean", notebook="OPA", aggregate="value"))
        return Dataset(
            rows,
            "restriction-map CSV 'W_V Mean' (mean over layers of the full-matrix ||W_V||_2) and "
            "'W_O Mean' (norm of unknown kind)",
            extras={"opa": opa, "valid_extraction": False},
        )

    def signed_weight_norms(self) -> Dataset:
        norms = self.weight_norms()
        return _signed(norms, self.model_signs())

    def late_layer_proxy(self) -> Dataset:
        norms = self.weight_norms()
        frame = norms.frame.assign(wv_sq=norms.frame["wv_spectral"] ** 2)
        rme = self.get("wv_spectral", notebook="RME", aggregate="value")
        n_layers = rme["layer"].max() + 1
        squared = rme["value"] ** 2
        late_over_early = (
            squared[rme["layer"] >= np.floor(0.75 * n_layers)].mean() / squared[rme["layer"] < n_layers / 4].mean()
        )
        return Dataset(
            frame,
            "restriction-map CSV 'W_V Mean' squared (all layers: the per-layer curves are not stored)",
            extras={"per_layer": False, "rme_late_over_early": late_over_early},
        )

    def eq4_traces(self) -> Dataset:
        lsc = self.get("l_star_sign_change", notebook="LSC", aggregate="mean")[["model", "value"]]
        h4 = self.get("l_star_trace", notebook="H4V2", aggregate="value")[["model", "value"]]
        frame = lsc.merge(h4, on="model", suffixes=("_printed", "_corrected"))
        frame = frame.rename(columns={"value_printed": "l_star_printed", "value_corrected": "l_star_corrected"})
        return Dataset(
            self.with_facts(frame),
            "LSC l_star_sign_change (the printed eq. 4) and H4V2 l_star_trace (the corrected trace)",
        )

    def trace_pair(self) -> Dataset:
        means = self.get("trace_multihead", notebook="H4V2", aggregate="layer_mean").rename(columns={"value": "trace"})
        frame = self.with_facts(means[["model", "trace"]]).merge(trace_pair_roles(self.models), on="model")
        frobenius = self.get("wv_frobenius_mean", notebook="OPA", aggregate="value").set_index("model")["value"]
        frame["wv_frobenius_mean"] = frame["model"].map(frobenius)
        return Dataset(_with_signs(frame, self.model_signs()), "H4V2 trace_multihead layer means (fp32, 4 prompts)")

    def signed_traces(self) -> Dataset:
        rows = self.get("trace_multihead", notebook="H4V2", aggregate="layer_mean").rename(columns={"value": "trace"})
        traces = Dataset(
            self.with_facts(rows[["model", "trace"]]),
            "H4V2 layer-mean multi-head trace (fp32, 4 prompts); H4X (4-bit) excluded: its traces are of "
            "packed uint8 bytes",
            extras={"normalised": False},
        )
        return _signed(traces, self.model_signs())

    def multihead_traces(self) -> Dataset:
        multi = self.get("trace_multihead", notebook="H4V2", aggregate="mean")[["model", "layer", "value"]]
        full = self.get("trace_full", notebook="H4V2", aggregate="mean")[["model", "layer", "value"]]
        frame = multi.merge(full, on=["model", "layer"], suffixes=("_multihead", "_full"))
        frame = frame.rename(columns={"value_multihead": "trace_multihead", "value_full": "trace_full"})
        return Dataset(
            self.with_facts(frame),
            "H4V2 per-layer traces, mean over 4 prompts: multi-head (sum over "
            "heads) and 'full' (head-averaged A with head 0's W_V)",
        )

    def contraction(self) -> Dataset:
        rows = self.get("contraction_ratio", notebook="RME", aggregate="value").rename(columns={"value": "ratio"})
        stored = {
            q: self.get(q, notebook="RME", aggregate="value")["value"].iloc[0]
            for q in ("l_star_min_contraction", "l_star_contraction_inflection")
        }
        return Dataset(
            self.with_facts(rows[["model", "layer", "ratio"]]),
            "RME restriction-map contraction ratio per layer (pythia-1.4b, fp16, head 0, 1 prompt)",
            extras={"stored": stored},
        )

    def spectral_gaps(self) -> Dataset:
        frames = [
            self.get("dense_laplacian_spectral_gap", notebook=nb)[["notebook", "model", "layer", "value"]].assign(
                construction="dense"
            )
            for nb in ("H4L", "RME")
        ]
        frames.append(
            self.get("nystrom_spectral_gap", notebook="H4V2")[["notebook", "model", "layer", "value"]].assign(
                construction="Nystrom"
            )
        )
        rows = pd.concat(frames, ignore_index=True).rename(columns={"value": "gap"})
        traces = pd.concat([self.get("dense_laplacian_trace", notebook=nb) for nb in ("H4L", "RME")])
        rows = rows.merge(
            traces[["notebook", "model", "layer", "value"]].rename(columns={"value": "trace"}),
            on=["notebook", "model", "layer"],
            how="left",
        )
        return Dataset(
            self.with_facts(rows),
            "sheaf-Laplacian spectral gaps per layer: dense construction (H4L: "
            "4 models, mean over prompts; RME: pythia-1.4b) and Nystrom (H4V2)",
        )

    def lstar(self) -> Dataset:
        def rows(quantity, notebook, aggregate):
            found = self.get(quantity, notebook=notebook, aggregate=aggregate).rename(columns={"value": "l_star"})
            return self.with_facts(found[["model", "l_star"]])

        stored = self.get("l_star_mape", notebook="LSC", aggregate="value")["value"].iloc[0]
        return Dataset(
            rows("l_star_sign_change", "LSC", "mean"),
            "LSC v3 sign-change L* of the printed eq. 4 (mean over 5 prompts, fp16)",
            extras={
                "calibration": rows("l_star_trace", "H4V2", "value"),
                "stored_mape_pct": stored,
                "valid_l_star": False,
            },
        )

    def lstar_definitions(self) -> Dataset:
        stored = [
            ("H4V2", "l_star_trace", "argmax |gradient| of the head-averaged trace (H4V2)", False),
            ("H4X", "l_star_trace_multihead", "argmax |gradient| of the 4-bit multi-head trace (H4X)", True),
            ("H4V2", "l_star_spectral", "argmax Nystrom spectral gap (H4V2)", True),
            ("H4L", "l_star_gap_max", "argmax dense spectral gap (H4L)", True),
            ("H4L", "l_star_lambda2_max", "argmax dense lambda_2 (H4L)", True),
            ("H4L", "l_star_gap_inflection", "argmax |second difference| of the dense gap + 1 (H4L)", True),
            ("LSC", "l_star_sign_change", "first interior maximum of the printed eq. 4 (LSC v3)", True),
            ("RME", "l_star_min_contraction", "argmin contraction ratio (RME, stored)", True),
            (
                "RME",
                "l_star_contraction_inflection",
                "argmax |second difference| of the contraction ratio + 1 (RME)",
                False,
            ),
            ("FFN", "l_star_attention_min", "argmin attention sublayer gain (FFN)", False),
            ("FFN", "l_star_mlp_max", "argmax MLP sublayer gain (FFN)", False),
            ("H4V2", "l_star_apriori", "a-priori (L/2)(1 + tanh(5 (G - 1))) from a hard-coded gain (H4V2)", True),
        ]
        frames = []
        for notebook, quantity, definition, artefact in stored:
            aggregate = "mean" if quantity == "l_star_sign_change" else "value"
            rows = self.get(quantity, notebook=notebook, aggregate=aggregate)[["model", "value"]]
            frames.append(rows.assign(definition=definition, origin="stored", artefact=artefact))
        recomputed = []
        for notebook, quantity, definition in (
            ("H4V2", "trace_full", "argmax |gradient| of the head-averaged trace (H4V2), recomputed"),
            ("H4X", "trace_multihead", "argmax |gradient| of the 4-bit multi-head trace (H4X), recomputed"),
        ):
            for model, group in self.get(quantity, notebook=notebook, aggregate="mean").groupby("model"):
                profile = group.sort_values("layer")["value"].to_numpy()
                recomputed.append(
                    {
                        "model": model,
                        "value": float(transition.steepest(profile)),
                        "definition": definition,
                        "origin": "recomputed",
                        "artefact": notebook == "H4X",
                    }
                )
        ratio = self.get("contraction_ratio", notebook="RME", aggregate="value").sort_values("layer")
        profile = ratio["value"].to_numpy()
        recomputed += [
            {
                "model": "pythia-1.4b",
                "value": float(np.argmin(profile)),
                "origin": "recomputed",
                "definition": "np.argmin of the contraction ratio, as RME ran it (lands on NaN)"
                if transition.lands_on_nan(profile, "argmin")
                else "np.argmin of the contraction ratio",
                "artefact": transition.lands_on_nan(profile, "argmin"),
            },
            {
                "model": "pythia-1.4b",
                "value": float(transition.least(profile)),
                "origin": "recomputed",
                "definition": "argmin of the contraction ratio, NaN layers ignored",
                "artefact": False,
            },
        ]
        frame = pd.concat(frames + [pd.DataFrame(recomputed)], ignore_index=True).rename(columns={"value": "l_star"})
        return Dataset(
            self.with_facts(frame),
            "every stored L* of the notebooks and those recomputed from the stored per-layer profiles",
        )

    def pair_summaries(self) -> Dataset:
        rows = []
        for notebook, dtype, _ in (("CRG", "fp32", 3), ("HRH", "fp16", 5)):
            for model in CROWDING_PAIR:
                mean = self.get("gain_penultimate_block", notebook, "mean", model=model).iloc[0]
                sd = self.get("gain_penultimate_block", notebook, "sd_population", model=model)["value"].iloc[0]
                n = int(mean["n_prompts"])
                rows.append(
                    {
                        "model": model,
                        "convention": "R1",
                        "dataset": f"{notebook} ({dtype}, {n} prompts)",
                        "mean": mean["value"],
                        "sd": sd * np.sqrt(n / (n - 1)),
                        "n_prompts": n,
                    }
                )
        per_prompt = pd.concat(
            [
                self.get("gain_penultimate_block", notebook="PFS", aggregate="value").assign(
                    convention="R1", dataset="PFS (fp16, 25 prompts)"
                ),
                self.get("gain_last_block", notebook="GUB", aggregate="value").assign(
                    convention="R2", dataset="GUB (fp16, GU25)"
                ),
                self.get("gain_last_block", notebook="GJP", aggregate="value").assign(
                    convention="R2", dataset="GJP (bf16, GU25)"
                ),
            ]
        )
        per_prompt = per_prompt[per_prompt["model"].isin(CROWDING_PAIR)]
        rows += _summaries(per_prompt.rename(columns={"value": "gain"}), ["model", "convention", "dataset"])
        frame = self.with_facts(pd.DataFrame(rows))
        headline = frame["dataset"].str.startswith("CRG")
        return Dataset(
            frame[headline].reset_index(drop=True),
            "R1 penultimate-block gain of the paper's pair file (CRG, fp32, 3 prompts; mean and SD)",
            extras={"sensitivity": frame[~headline].reset_index(drop=True)},
        )

    def rule_models(self) -> Dataset:
        gains = self.model_gains("R1")
        kept = drop_twins(gains)
        return Dataset(
            kept,
            "R1 penultimate-block gain (HRH, then PFS, then CRG)",
            left_out=twins_left_out(gains, kept),
            extras={"r2": drop_twins(self.model_gains("R2"))},
        )

    def final_norm(self) -> Dataset:
        def table(notebook: str) -> pd.DataFrame:
            frames = [
                self.get(q, notebook=notebook, aggregate="mean").set_index("model")["value"].rename(name)
                for q, name in (("gain_with_final_norm", "with_norm"), ("gain_penultimate_block", "without_norm"))
            ]
            return drop_twins(self.with_facts(pd.concat(frames, axis=1).reset_index()))

        return Dataset(
            table("HRH"), "HRH: R1 gain_with_final_norm vs gain_penultimate_block", extras={"crg": table("CRG")}
        )

    def twin_gains(self) -> Dataset:
        rows = self.get("gain_last_block", notebook="TWN", aggregate="value").rename(columns={"value": "gain"})
        return Dataset(
            _pairs(self.with_facts(rows[["model", "prompt_id", "gain"]])),
            "TWN: R2 true last-block gain, bf16, GU25 prompts",
        )

    def hierarchy_gains(self) -> Dataset:
        rows = self.get("gain_last_block", notebook="GUB", aggregate="value").rename(columns={"value": "gain"})
        rows = rows[rows["model"].isin(HIERARCHY)]
        return Dataset(
            self.with_facts(rows[["model", "prompt_id", "gain"]]), "GUB: R2 true last-block gain, fp16, GU25 prompts"
        )

    def robustness_gains(self) -> Dataset:
        rows = self.get("gain_penultimate_block", notebook="PFS", aggregate="value").rename(columns={"value": "gain"})
        return Dataset(
            self.with_facts(rows[["model", "prompt_id", "gain"]]),
            "PFS: R1 penultimate-block gain per prompt (fp16, 25 prompts; Fig. 7)",
        )

    def convention_gains(self) -> Dataset:
        return Dataset(
            self.convention_table(),
            "published mean gains under R1 (HRH/PFS/CRG), R2 (GUB/TWN/G2L/GJP) and R3 (4MV/MPI/IDT, last block)",
        )

    def prompt_summaries(self) -> Dataset:
        rows = []
        for convention, (quantity, notebooks) in PUBLISHED_GAINS.items():
            for notebook in notebooks:
                prompts = self.get(quantity, notebook=notebook, aggregate="value")
                if len(prompts):
                    rows += _summaries(
                        prompts.rename(columns={"value": "gain"}).assign(convention=convention, dataset=notebook),
                        ["model", "convention", "dataset"],
                    )
                    continue
                means = self.get(quantity, notebook=notebook, aggregate="mean")
                sds = self.get(quantity, notebook=notebook, aggregate="sd_population").set_index("model")["value"]
                for mean in means.itertuples():
                    n = int(mean.n_prompts)
                    rows.append(
                        {
                            "model": mean.model,
                            "convention": convention,
                            "dataset": notebook,
                            "mean": mean.value,
                            "sd": sds[mean.model] * np.sqrt(n / (n - 1)),
                            "plotted_sd": sds[mean.model],
                            "n_prompts": n,
                        }
                    )
        return Dataset(
            self.with_facts(pd.DataFrame(rows)),
            "every published per-model gain with its spread over "
            "prompts: R1 (PFS, HRH, CRG) and R2 (GUB, TWN, G2L, GJP)",
        )


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
        """The first preferred prompt set measured for every one of ``models``; failing that, the one
        measured for the most of them (ties in order of preference); None if none is measured."""
        runs = self.tables["runs"]
        candidates = list(dict.fromkeys(PROMPT_SET_PREFERENCE + tuple(sorted(runs["prompt_set"].unique()))))
        coverage = {s: len(set(models) & set(runs.loc[runs["prompt_set"] == s, "model"])) for s in candidates}
        complete = [s for s in candidates if coverage[s] == len(set(models)) and coverage[s] > 0]
        if complete:
            return complete[0]
        best = max(candidates, key=lambda s: coverage[s], default=None)
        return best if best is not None and coverage[best] > 0 else None

    @cached_property
    def _clean_prompts(self) -> pd.Series:
        """(model, prompt_set, prompt_id) -> True when no token of the prompt had a non-finite norm."""
        residual = self.tables["residual"]
        return residual.groupby(["model", "prompt_set", "prompt_id"])["nonfinite_tokens"].sum() == 0

    @cached_property
    def _cache(self) -> dict:
        """Selections several datasets share (per-prompt gains, layer traces), computed once per source."""
        return {}

    def _prompt_values(self, models, convention: str, quantity: str) -> Dataset:
        """Per (model, prompt) of ``models`` on one prompt set (``prompt_set_for``): ``gain`` under a convention,
        finite values only (no facts; the label is the prompt set). Models not measured on that set, or with
        nothing finite, are left out; prompts with non-finite activations are dropped and noted."""
        key = ("prompt_values", tuple(sorted(models)), convention, quantity)
        if key not in self._cache:
            self._cache[key] = self._select_prompt_values(list(models), convention, quantity)
        data = self._cache[key]
        return Dataset(data.frame.copy(), data.label, left_out=dict(data.left_out), notes=list(data.notes))

    def _select_prompt_values(self, models: list, convention: str, quantity: str) -> Dataset:
        prompt_set = self.prompt_set_for(models)
        empty = pd.DataFrame(columns=["model", "prompt_set", "prompt_id", "gain"])
        if prompt_set is None:
            return Dataset(empty, "", left_out={m: "no residual measurements" for m in models})
        runs = self.tables["runs"]
        on_set = set(runs.loc[runs["prompt_set"] == prompt_set, "model"])
        left_out, notes = {}, []
        for model in sorted(set(models) - on_set):
            sets = sorted(runs.loc[runs["model"] == model, "prompt_set"])
            left_out[model] = f"not measured on prompt set {prompt_set} (only on {', '.join(sets) or 'no set'})"
        rows = self.conventions
        rows = rows[
            (rows["convention"] == convention)
            & (rows["quantity"] == quantity)
            & (rows["prompt_set"] == prompt_set)
            & rows["model"].isin(on_set & set(models))
        ]
        clean = rows.set_index(["model", "prompt_set", "prompt_id"]).index.map(self._clean_prompts)
        rows = rows[clean.notna()]  # contract.conventions pivots every (prompt set, prompt) pair: keep measured ones
        clean = clean[clean.notna()].astype(bool)
        rows = rows.assign(finite=clean.to_numpy(bool) & np.isfinite(rows["value"].to_numpy(float)))
        for model, group in rows.groupby("model"):
            bad = int((~group["finite"]).sum())
            if bad == len(group):
                left_out[model] = f"non-finite activations on all {bad} prompts of {prompt_set}"
            elif bad:
                notes.append(f"{model}: {bad} of {len(group)} prompts left out (non-finite activations)")
        rows = rows[rows["finite"]].rename(columns={"value": "gain"})[["model", "prompt_set", "prompt_id", "gain"]]
        return Dataset(rows.reset_index(drop=True), prompt_set, left_out=left_out, notes=notes)

    def prompt_gains(
        self, models=None, quantity: str = CANONICAL_GAIN, convention: str = "canonical", prompt_set: str | None = None
    ) -> pd.DataFrame:
        """Per (model, prompt): ``gain`` under a convention, with model facts; prompts with non-finite
        activations are left out. One prompt set for all models (see prompt_set_for)."""
        models = list(self.models["model"]) if models is None else list(models)
        if prompt_set is not None:
            rows = self.conventions
            rows = rows[
                (rows["convention"] == convention)
                & (rows["quantity"] == quantity)
                & (rows["prompt_set"] == prompt_set)
                & rows["model"].isin(models)
            ]
            clean = rows.set_index(["model", "prompt_set", "prompt_id"]).index.map(self._clean_prompts)
            rows = rows[clean.fillna(False).to_numpy(bool) & np.isfinite(rows["value"].to_numpy(float))]
            rows = rows.rename(columns={"value": "gain"})[["model", "prompt_set", "prompt_id", "gain"]]
        else:
            rows = self._prompt_values(models, convention, quantity).frame
        return rows.merge(self.models, on="model").reset_index(drop=True)

    def model_gains(self, models=None, **kwargs) -> pd.DataFrame:
        """Per model: mean gain over prompts, n_prompts, and the model facts."""
        prompts = self.prompt_gains(models, **kwargs)
        means = prompts.groupby("model", as_index=False).agg(gain=("gain", "mean"), n_prompts=("gain", "size"))
        return means.merge(self.models, on="model")

    # --- shared selections -------------------------------------------------------------------

    def _label(self, what: str) -> str:
        return f"{what}, random weights" if self.name == "controls" else what

    def _gains(
        self,
        models=None,
        convention: str = "canonical",
        quantity: str = CANONICAL_GAIN,
        what: str = "canonical true last-block gain, last token",
    ) -> Dataset:
        """Per (model, prompt) gains with facts, labelled with what they are and the prompt set."""
        models = list(self.models["model"]) if models is None else list(models)
        data = self._prompt_values(models, convention, quantity)
        data.frame = data.frame.merge(self.models, on="model")
        data.label = self._label(f"{what}, prompt set {data.label}")
        return data

    def _means(self, models=None, **kwargs) -> Dataset:
        data = self._gains(models, **kwargs)
        means = data.frame.groupby("model", as_index=False).agg(gain=("gain", "mean"), n_prompts=("gain", "size"))
        data.frame = with_sign(means.merge(self.models, on="model"))
        data.label = f"{data.label}, model means"
        return data

    def _heads(self) -> pd.DataFrame:
        heads = self.tables["heads"]
        if heads.empty:
            raise InsufficientData("no per-head weight norms (heads table) in this source")
        return heads

    def layer_traces(self, models=None) -> pd.DataFrame:
        """Per (model, prompt, layer) of ``models`` (default: every model with attention statistics and head
        norms) on one prompt set (GU25 first): ``trace`` = sum_h sheaf_trace (the multi-head trace),
        ``printed`` = sum_h |sum A_h - T| ||W_V^h||_F^2 (eq. 4 as printed, per head), ``recomputed`` =
        sum_h (T - tr A_h) ||W_V^h||_F^2 from the heads table (a consistency check), ``offdiag_mean`` = mean
        over heads of (T - tr A_h) / (T - 1), ``wv_sq`` = sum_h ||W_V^h||_F^2, ``n_tokens`` = T; with facts.
        Non-finite rows are dropped."""
        attention, heads = self.tables["attention"], self.tables["heads"]
        present = set(attention["model"]) & set(heads["model"])
        wanted = set(self.models["model"]) & present if models is None else set(models)
        lacking = set(self.models["model"]) if not wanted else wanted - present
        if lacking:
            raise InsufficientData(f"no attention statistics or head norms for {', '.join(sorted(lacking))}")
        prompt_set = _attention_prompt_set(attention[attention["model"].isin(wanted)], wanted)
        rows = attention[(attention["prompt_set"] == prompt_set) & attention["model"].isin(wanted)]
        rows = rows.merge(
            heads[["model", "layer", "head", "wv_frobenius"]],
            on=["model", "layer", "head"],
            how="inner",
            validate="many_to_one",
        )
        wv_sq = rows["wv_frobenius"] ** 2
        rows = rows.assign(
            printed=rows["mass_minus_tokens"].abs() * wv_sq, recomputed=rows["offdiag_mass"] * wv_sq, wv_sq=wv_sq
        )
        finite = np.isfinite(rows[["sheaf_trace", "offdiag_mass", "wv_sq"]].to_numpy(float)).all(axis=1)
        out = (
            rows[finite]
            .groupby(["model", "prompt_id", "layer"], as_index=False)
            .agg(
                n_tokens=("n_tokens", "first"),
                trace=("sheaf_trace", "sum"),
                printed=("printed", "sum"),
                recomputed=("recomputed", "sum"),
                offdiag_mean=("offdiag_mean", "mean"),
                wv_sq=("wv_sq", "sum"),
            )
        )
        return out.assign(prompt_set=prompt_set).merge(self.models, on="model")

    def _traces(self) -> tuple[pd.DataFrame, dict[str, str]]:
        """layer_traces of every model that has them; the others left out with why."""
        have = set(self.tables["attention"]["model"]) & set(self.tables["heads"]["model"])
        left_out = {m: "no attention statistics or head norms" for m in sorted(set(self.models["model"]) - have)}
        if not have:
            raise InsufficientData(f"no attention statistics or head norms for {', '.join(sorted(left_out))}")
        if "traces" not in self._cache:
            self._cache["traces"] = self.layer_traces(have & set(self.models["model"]))
        return self._cache["traces"].copy(), left_out

    def model_signs(self) -> pd.DataFrame:
        """Per model: the canonical mean gain and its sign (``notebook`` None: our own measurement)."""
        return self._means().frame.assign(notebook=None, convention="canonical")

    # --- datasets ----------------------------------------------------------------------------

    def panel(self) -> Dataset:
        rows = []
        for table, metric in (
            ("residual", "residual-stream gains"),
            ("heads", "per-head W_V/W_O norms"),
            ("attention", "attention statistics and sheaf traces"),
        ):
            rows += [{"metric": metric, "model": m} for m in self.tables[table]["model"].unique()]
        rows += [{"metric": "any quantity", "model": m} for m in self.models["model"]]
        return Dataset(
            pd.DataFrame(rows, columns=["metric", "model"]).merge(self.models, on="model"),
            self._label("models and labs per measured table"),
        )

    def pythia_gains(self) -> Dataset:
        data = self._means(pythia_family(self.models)["model"])
        data.label = f"Pythia family: {data.label}"
        return data

    def pythia_prompt_gains(self) -> Dataset:
        data = self._gains(pythia_family(self.models)["model"])
        data.label = f"Pythia family: {data.label}"
        return data

    def block_gains(self) -> Dataset:
        residual = self.tables["residual"]
        models = list(self.models["model"])
        prompt_set = self.prompt_set_for(models)
        if prompt_set is None:
            raise InsufficientData("no residual measurements in this source")
        rows = residual[
            (residual["site"] == "block") & (residual["layer"] >= 1) & (residual["prompt_set"] == prompt_set)
        ]
        left_out = {m: f"no block gains on prompt set {prompt_set}" for m in sorted(set(models) - set(rows["model"]))}
        finite = (rows["nonfinite_tokens"] == 0).to_numpy() & np.isfinite(rows["gain_last"].to_numpy(float))
        notes = []
        for model, group in rows.assign(finite=finite).groupby("model"):
            bad = int((~group["finite"]).sum())
            if bad == len(group):
                left_out[model] = "non-finite activations in every block"
            elif bad:
                notes.append(f"{model}: {bad} of {len(group)} (block, prompt) gains left out (non-finite activations)")
        means = rows[finite].groupby(["model", "layer"], as_index=False)["gain_last"].mean()
        means = means.rename(columns={"gain_last": "gain"}).merge(self.models, on="model")
        return Dataset(
            means,
            self._label(f"mean block gains over prompts (prompt set {prompt_set}, last token)"),
            left_out=left_out,
            notes=notes,
        )

    def total_gains(self) -> Dataset:
        data = self._gains(convention="R2", quantity="total_amp", what="R2 total gain x_{L-1} / x_0")
        return _without_twins(data, data.frame.rename(columns={"gain": "total_gain"}))

    def heritage_gains(self) -> Dataset:
        data = self._means()
        return _without_twins(data, data.frame)

    def heritage_prompt_gains(self) -> Dataset:
        data = self._gains()
        return _without_twins(data, data.frame)

    def weight_norms(self) -> Dataset:
        heads = self._heads()
        finite = np.isfinite(heads[NORMS].to_numpy(float)).all(axis=1)
        left_out = {m: "non-finite weight norms" for m in sorted(set(heads.loc[~finite, "model"]))}
        means = heads[~heads["model"].isin(left_out)].groupby("model", as_index=False)[NORMS].mean()
        frame = means.merge(self.models, on="model").assign(valid_wv=True)
        return Dataset(
            frame,
            self._label("per-model mean over layers and heads of the per-head norms"),
            left_out=left_out,
            extras={"valid_extraction": True},
        )

    def signed_weight_norms(self) -> Dataset:
        return _signed(self.weight_norms(), self.model_signs())

    def late_layer_proxy(self) -> Dataset:
        heads = self._heads()
        finite = np.isfinite(heads["wv_spectral"].to_numpy(float))
        left_out = {m: "non-finite weight norms" for m in sorted(set(heads.loc[~finite, "model"]))}
        heads = heads[~heads["model"].isin(left_out)]
        per_layer = (
            heads.assign(wv_sq=heads["wv_spectral"] ** 2)
            .groupby(["model", "layer"], as_index=False)["wv_sq"]
            .mean()
            .merge(self.models, on="model")
        )
        late = per_layer[per_layer["layer"] >= np.floor(0.75 * per_layer["n_layers"])]
        frame = late.groupby("model", as_index=False)["wv_sq"].mean().merge(self.models, on="model")
        return Dataset(
            frame,
            self._label(
                "per-layer mean over heads of ||W_V^h||_2^2, mean over the last quarter "
                "of layers (layer >= floor(3L/4))"
            ),
            left_out=left_out,
            extras={"per_layer": True},
        )

    def eq4_traces(self) -> Dataset:
        traces, left_out = self._traces()
        return Dataset(
            traces,
            self._label(f"prompt set {traces['prompt_set'].iloc[0]}, per (prompt, layer) sums over heads"),
            left_out=left_out,
        )

    def trace_pair(self) -> Dataset:
        roles = trace_pair_roles(self.models)
        if len(roles) < 2:
            raise InsufficientData(
                "needs GPT-2 small and OPT-125m (found by family, depth and width); has "
                + (", ".join(roles["model"]) or "neither")
            )
        traces = self.layer_traces(list(roles["model"]))
        per_prompt = traces.groupby(["model", "prompt_id"], as_index=False)[
            ["trace", "offdiag_mean", "wv_sq", "n_tokens"]
        ].mean()
        frame = per_prompt.merge(roles, on="model").merge(self.models, on="model")
        return Dataset(
            _with_signs(frame, self.model_signs()),
            self._label(f"prompt set {traces['prompt_set'].iloc[0]}, per-prompt layer means"),
        )

    def signed_traces(self) -> Dataset:
        traces, left_out = self._traces()
        per_model = (
            traces.groupby("model", as_index=False)[["trace", "offdiag_mean"]].mean().merge(self.models, on="model")
        )
        data = Dataset(
            per_model,
            self._label("mean over prompts and layers of the multi-head trace"),
            left_out=left_out,
            extras={"normalised": True},
        )
        return _signed(data, self.model_signs())

    def multihead_traces(self) -> Dataset:
        attention, heads = self.tables["attention"], self.tables["heads"]
        if attention.empty or heads.empty:
            raise InsufficientData("no attention statistics or head norms in this source")
        rows = attention.merge(heads[["model", "layer", "head", "wv_frobenius"]], on=["model", "layer", "head"])
        rows = rows.assign(recomputed=rows["offdiag_mass"] * rows["wv_frobenius"] ** 2)
        rows = rows.assign(finite=np.isfinite(rows[["sheaf_trace", "recomputed"]].to_numpy(float)).all(axis=1))
        left_out = {m: "non-finite attention statistics" for m, g in rows.groupby("model") if not g["finite"].any()}
        per_layer = (
            rows[rows["finite"]]
            .groupby(["model", "prompt_set", "prompt_id", "layer"], as_index=False)
            .agg(trace_multihead=("sheaf_trace", "sum"), recomputed=("recomputed", "sum"), n_heads=("head", "nunique"))
        )
        return Dataset(
            per_layer.merge(self.models, on="model"),
            self._label(
                "per (prompt, layer): the stored per-head traces summed over heads, and the same "
                "sum recomputed from offdiag_mass and ||W_V^h||_F"
            ),
            left_out=left_out,
        )

    def contraction(self) -> Dataset:
        raise InsufficientData(
            "the attention table stores no restriction-map contraction (mean sqrt(A_ij) over attended pairs)"
        )

    def spectral_gaps(self) -> Dataset:
        raise InsufficientData(
            "spectral gaps need the per-layer attention matrices, which the measurement does not store"
        )

    def lstar(self) -> Dataset:
        traces, left_out = self._traces()
        rows = []
        for model, group in traces.groupby("model"):
            wide = group.pivot(index="prompt_id", columns="layer", values="trace").sort_index(axis=1)
            if wide.shape[1] < 3:
                left_out[model] = f"attention statistics for {wide.shape[1]} layer(s): no gradient"
                continue
            l_star = int(transition.steepest(wide.mean().to_numpy()))
            agree = float(np.mean(transition.steepest(wide.to_numpy()) == l_star))
            rows.append({"model": model, "l_star": l_star, "prompt_agreement": agree})
        frame = pd.DataFrame(rows, columns=["model", "l_star", "prompt_agreement"]).merge(self.models, on="model")
        return Dataset(
            frame,
            self._label(
                f"prompt set {traces['prompt_set'].iloc[0]}, argmax |gradient| of the prompt-mean multi-head trace"
            ),
            left_out=left_out,
            extras={"valid_l_star": True},
        )

    def lstar_definitions(self) -> Dataset:
        traces, left_out = self._traces()
        rows = []
        for model, group in traces.groupby("model"):
            means = group.groupby("layer")[["trace", "offdiag_mean"]].mean().sort_index()
            if len(means) < 3:
                left_out[model] = f"attention statistics for {len(means)} layer(s): no gradient"
                continue
            trace, normalised = means["trace"].to_numpy(), means["offdiag_mean"].to_numpy()
            per_prompt = group.pivot(index="prompt_id", columns="layer", values="trace").sort_index(axis=1)
            definitions = {
                "argmax of the signed gradient of the multi-head trace (paper App. E)": transition.steepest_rise(trace),
                "argmax |gradient| of the multi-head trace (H4V2/H4X)": int(transition.steepest(trace)),
                "first interior maximum of the multi-head trace per prompt, mean (LSC v3 rule)": float(
                    np.mean([transition.sign_change(p) for p in per_prompt.to_numpy()])
                ),
                "argmax |gradient| of the mean off-diagonal mass (normalised trace)": int(
                    transition.steepest(normalised)
                ),
            }
            rows += [
                {"model": model, "definition": d, "l_star": float(v), "origin": "computed", "artefact": False}
                for d, v in definitions.items()
            ]
        frame = pd.DataFrame(rows, columns=["model", "definition", "l_star", "origin", "artefact"])
        return Dataset(
            frame.merge(self.models, on="model"),
            self._label(
                f"L* definitions computable from the attention table (prompt set {traces['prompt_set'].iloc[0]})"
            ),
            left_out=left_out,
        )

    def pair_summaries(self) -> Dataset:
        names = self.named(CROWDING_PAIR)
        if len(names) < len(CROWDING_PAIR):
            missing = sorted(set(CROWDING_PAIR) - set(names))
            raise InsufficientData(
                f"needs {' and '.join(CROWDING_PAIR)}; missing {', '.join(missing)} (not in this source's panel)"
            )
        frames, left_out, notes, labels = [], {}, [], {}
        for convention, view, quantity in (("R1", "R1", "gain_no_ln"), ("canonical", "canonical", CANONICAL_GAIN)):
            data = self._gains(list(names.values()), convention=view, quantity=quantity, what=f"{convention} gain")
            frames.append(data.frame.assign(convention=convention, dataset=data.label))
            left_out.update(data.left_out)
            notes += [n for n in data.notes if n not in notes]
            labels[convention] = data.label
        rows = pd.concat(frames, ignore_index=True)
        rows["measured_as"] = rows["model"]
        rows["model"] = rows["model"].map({m: r for r, m in names.items()})
        summary = pd.DataFrame(_summaries(rows, ["model", "measured_as", "convention", "dataset"]))
        if summary.empty:
            raise InsufficientData(f"no finite gains of {' and '.join(CROWDING_PAIR)}")
        headline = summary["convention"] == "R1"
        return Dataset(
            summary[headline].reset_index(drop=True),
            f"{labels['R1']} (the paper's R1 convention: the penultimate block)",
            left_out=left_out,
            notes=notes,
            extras={"sensitivity": summary[~headline].reset_index(drop=True)},
        )

    def rule_models(self) -> Dataset:
        data = self._means()
        return _without_twins(data, data.frame)

    def final_norm(self) -> Dataset:
        with_norm = self._gains(convention="R1", quantity="gain_with_ln")
        means = with_norm.frame.groupby("model", as_index=False)["gain"].mean().rename(columns={"gain": "with_norm"})
        without = self._means()
        table = means.merge(without.frame[["model", "gain"]].rename(columns={"gain": "without_norm"}), on="model")
        data = Dataset(
            table.merge(self.models, on="model"),
            self._label("R1 gain with the final norm vs canonical true last-block gain"),
            left_out={**with_norm.left_out, **without.left_out},
            notes=with_norm.notes,
        )
        return _without_twins(data, data.frame)

    def twin_gains(self) -> Dataset:
        data = self._gains()
        data.frame = _pairs(data.frame)
        return data

    def hierarchy_gains(self) -> Dataset:
        names = self.named(HIERARCHY)
        if not names:
            raise InsufficientData(f"needs {', '.join(HIERARCHY)} (not measured)")
        data = self._gains(list(names.values()))
        data.frame["measured_as"] = data.frame["model"]
        data.frame["model"] = data.frame["model"].map({m: r for r, m in names.items()})
        return data

    def robustness_gains(self) -> Dataset:
        return self._gains()

    def convention_table(self) -> pd.DataFrame:
        """Per model and convention (R1, R2, R3): the mean over finite prompts of one shared prompt set."""
        frames = []
        for label, (convention, quantity) in MEASURED_CONVENTIONS.items():
            data = self._prompt_values(self.models["model"], convention, quantity)
            frames.append(
                data.frame.groupby("model", as_index=False)["gain"].mean().assign(convention=label, notebook=data.label)
            )
        return pd.concat(frames, ignore_index=True)

    def convention_gains(self) -> Dataset:
        data = self._prompt_values(self.models["model"], "R1", "gain_no_ln")
        return Dataset(
            self.convention_table().merge(self.models, on="model"),
            self._label(f"our R1, R2 and R3 views on prompt set {data.label}"),
            left_out=data.left_out,
            notes=data.notes,
        )

    def prompt_summaries(self) -> Dataset:
        data = self._gains()
        summary = pd.DataFrame(
            _summaries(
                data.frame.assign(convention="canonical", dataset=data.label), ["model", "convention", "dataset"]
            ),
            columns=["model", "convention", "dataset", "mean", "sd", "plotted_sd", "n_prompts"],
        )
        data.frame = summary.merge(self.models, on="model")
        return data


def trace_pair_roles(models: pd.DataFrame) -> pd.DataFrame:
    """The models playing GPT-2 small and OPT-125m (found by architecture facts), with their ``role``."""
    rows = [{"model": pick(models, facts), "role": role} for role, facts in TRACE_PAIR.items()]
    return pd.DataFrame([r for r in rows if r["model"] is not None], columns=["model", "role"])


def _attention_prompt_set(attention: pd.DataFrame, models) -> str:
    """The first preferred prompt set with attention rows for every one of ``models``."""
    have = attention.groupby("prompt_set")["model"].agg(set)
    for prompt_set in PROMPT_SET_PREFERENCE + tuple(sorted(have.index)):
        if prompt_set in have and set(models) <= have[prompt_set]:
            return prompt_set
    raise InsufficientData(f"no prompt set with attention statistics for every one of {', '.join(sorted(models))}")


def _summaries(rows: pd.DataFrame, by: list[str]) -> list[dict]:
    """Per group of per-prompt ``gain`` rows: mean, sample SD, population SD (as the notebooks plotted), n."""
    out = []
    for key, group in rows.groupby(by, sort=True):
        values = group["gain"].to_numpy(float)
        out.append(
            {
                **dict(zip(by, key)),
                "mean": values.mean(),
                "sd": values.std(ddof=1) if len(values) > 1 else np.nan,
                "plotted_sd": values.std(ddof=0),
                "n_prompts": len(values),
            }
        )
    return out


def _with_signs(frame: pd.DataFrame, signs: pd.DataFrame) -> pd.DataFrame:
    """Add each model's gain, sign and the gain's ``notebook`` (None for our own measurement)."""
    return frame.merge(signs[["model", "gain", "sign", "notebook"]], on="model", how="left")


def _without_twins(data: Dataset, frame: pd.DataFrame) -> Dataset:
    """``data`` with ``frame`` as its rows, instruct twins of models in the data left out (see drop_twins)."""
    kept = drop_twins(frame)
    return Dataset(
        kept,
        data.label,
        left_out={**data.left_out, **twins_left_out(frame, kept)},
        notes=data.notes,
        extras=data.extras,
    )


def _signed(data: Dataset, signs: pd.DataFrame) -> Dataset:
    """A per-model dataset restricted to the models with a gain sign; the others left out."""
    frame = data.frame.merge(signs[["model", "gain", "sign", "notebook"]], on="model")
    unsigned = sorted(set(data.frame["model"]) - set(frame["model"]))
    notebooks = sorted(frame["notebook"].dropna().unique())
    signs_from = f"gain signs from {', '.join(notebooks)}" if notebooks else "canonical last-block gain signs"
    return Dataset(
        frame,
        f"{data.label}; {signs_from}",
        left_out={**data.left_out, **{m: "no gain sign" for m in unsigned}},
        extras=data.extras,
        notes=data.notes,
    )


def _pairs(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of base/instruct pairs (both variants present), with the pair's base model in ``pair``."""
    rows = rows.assign(pair=rows["twin_of"].fillna(rows["model"]))
    pairs = rows.groupby("pair")["variant"].nunique()
    return rows[rows["pair"].isin(pairs[pairs == 2].index)].reset_index(drop=True)


def read_published(directory: Path) -> dict[str, pd.DataFrame] | None:
    """The imported published tables, every file checked against its manifest and schema; None
    when nothing was imported there."""
    if not directory.exists():
        return None
    manifest = read_manifest(directory)
    tables = {"values": PUBLISHED_TABLES["values"], "labels": PUBLISHED_TABLES["labels"], "prompts": PROMPTS_TABLE}
    return {name: read_folder_table(directory, name, table, manifest, REIMPORT) for name, table in tables.items()}


def read_data(
    measured_dir: Path, published_dir: Path, required: tuple[str, ...] = ()
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame] | None]:
    """The one place that reads data from disk: the measured tables (the union of the run partitions,
    ``contract.store``; empty tables when there are none) and the published tables values, labels,
    prompts (None when nothing was imported). Damaged data are an error naming the file; a folder
    whose kind ("measured", "published") is ``required`` (the user named it) must hold data."""
    published = read_published(Path(published_dir))
    if published is None and "published" in required:
        raise TableError(
            f"{published_dir}: no imported published data there (import them with: "
            "thermo-audit measure import-published FOLDER | download)"
        )
    measured = read_measured_tables(Path(measured_dir))
    if measured["runs"].empty and "measured" in required:
        raise TableError(f"{measured_dir}: no measured runs there (measure one with: thermo-audit measure run ...)")
    return measured, published


def _subset(tables: dict[str, pd.DataFrame], models: set[str]) -> dict[str, pd.DataFrame]:
    return {
        name: frame[frame["model"].isin(models)].reset_index(drop=True) if "model" in frame else frame
        for name, frame in tables.items()
    }


def load_sources(measured_dir: Path, published_dir: Path, *, required: tuple[str, ...] = ()) -> dict[str, Source]:
    """The three sources from the data folders (read by ``read_data``); a folder that does not exist gives an
    empty source unless ``required`` names its kind."""
    measured, published = read_data(measured_dir, published_dir, required)
    empty = with_derived_facts(pd.DataFrame(columns=MODEL_FACTS))
    sources: dict[str, Source] = {"published": PublishedSource("published", empty)}
    if published is not None:
        facts = registry_facts()
        facts = facts[facts["model"].isin(published["values"]["model"].dropna())].reset_index(drop=True)
        sources["published"] = PublishedSource(
            "published", facts, published["values"], published["labels"], published["prompts"]
        )
    for name, random_init in (("measured", False), ("controls", True)):
        models = measured["models"][(measured["models"]["source"] == "random-init") == random_init]
        models = models.assign(registry_model=registry_names(models["hf_id"]))
        facts = with_derived_facts(models[MODEL_FACTS].reset_index(drop=True))
        sources[name] = MeasuredSource(name, facts, _subset(measured, set(facts["model"])))
    return sources
