"""Tidy tables behind the report's figures, one per figure, each with a ``source`` column.

* ``model_gains``: per model and convention, the mean gain over prompts with a t CI over prompts
  (published: from per-prompt values where the notebook stored them, else from its stored SD);
* ``layer_gains``: per model and block, the mean gain over prompts (published: R1 vectors);
* ``head_norms``: per model and layer, per-head W_V / W_O / OV spectral norms averaged over heads,
  and the "trace proxy" mean ||W_V^h||_2^2 (published: the model means the authors stored, with
  the extraction they used);
* ``trace_layers``: per model and layer, the multi-head sheaf trace and mean off-diagonal mass;
* ``prompt_gains``: per model and prompt, the gain (input-robustness figure);
* ``conventions``: per model and convention R1-R3, the mean gain (convention-sensitivity figure);
* ``lab_means``: per lab, the mean gain with a bootstrap CI over models (Fig. 2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from analysis.sources import CANONICAL_GAIN, PUBLISHED_GAINS, MeasuredSource, PublishedSource, Source
from contract.tables import FIGURE_TABLES, validate

FACTS = ["lab", "heritage", "family", "n_layers", "n_heads", "d_head", "rho", "n_params", "norm_placement", "variant"]


def _t_interval(mean: pd.Series, sd: pd.Series, n: pd.Series, ddof: int) -> tuple[pd.Series, pd.Series]:
    """95% t interval of a mean from its SD (``ddof`` as stored) and n."""
    sample_sd = sd * np.sqrt(n / (n - 1)) if ddof == 0 else sd
    half = scipy.stats.t.ppf(0.975, n - 1) * sample_sd / np.sqrt(n)
    return mean - half, mean + half


def _summarise(rows: pd.DataFrame, by: list[str], value: str = "gain") -> pd.DataFrame:
    """Mean, t CI and n of ``value`` per group of per-prompt rows."""
    stats = rows.groupby(by, as_index=False)[value].agg(gain="mean", sd="std", n_prompts="size")
    stats["ci_low"], stats["ci_high"] = _t_interval(stats["gain"], stats["sd"], stats["n_prompts"], ddof=1)
    return stats.drop(columns="sd")


def model_gains(src: Source) -> pd.DataFrame:
    if isinstance(src, PublishedSource):
        frames = []
        for convention, (quantity, notebooks) in PUBLISHED_GAINS.items():
            for notebook in notebooks:
                prompts = src.get(quantity, notebook=notebook, aggregate="value")
                if len(prompts):
                    stats = _summarise(prompts.rename(columns={"value": "gain"}), ["model"])
                else:
                    mean = src.get(quantity, notebook=notebook, aggregate="mean")[["model", "value", "n_prompts"]]
                    sd = src.get(quantity, notebook=notebook, aggregate="sd_population")[["model", "value"]]
                    stats = mean.merge(sd, on="model", suffixes=("", "_sd")).rename(columns={"value": "gain"})
                    stats["ci_low"], stats["ci_high"] = _t_interval(
                        stats["gain"], stats["value_sd"], stats["n_prompts"], ddof=0
                    )
                    stats = stats.drop(columns="value_sd")
                frames.append(stats.assign(convention=convention, dataset=notebook))
        gains = src.with_facts(pd.concat(frames, ignore_index=True))
    else:
        frames = []
        for convention, quantity in (("canonical", CANONICAL_GAIN), ("R1", "gain_no_ln")):
            rows = src.prompt_gains(quantity=quantity, convention="canonical" if convention == "canonical" else "R1")
            frames.append(
                _summarise(rows, ["model", "prompt_set"])
                .rename(columns={"prompt_set": "dataset"})
                .assign(convention=convention)
            )
        gains = pd.concat(frames, ignore_index=True).merge(src.models, on="model")
    return gains[["model", "convention", "dataset", "gain", "ci_low", "ci_high", "n_prompts"] + FACTS]


def layer_gains(src: Source) -> pd.DataFrame:
    if isinstance(src, PublishedSource):
        rows = pd.concat([src.get("layer_gain", notebook=nb, aggregate="mean") for nb in ("HRH", "PFS", "CRG")])
        rows = rows.drop_duplicates(["model", "layer"]).rename(columns={"value": "gain", "notebook": "dataset"})
        rows = src.with_facts(rows[["model", "layer", "gain", "dataset"]]).assign(convention="R1")
    else:
        prompt_set = src.prompt_set_for(src.models["model"])
        residual = src.tables["residual"]
        blocks = residual[(residual["site"] == "block") & (residual["prompt_set"] == prompt_set)]
        rows = (
            blocks.groupby(["model", "layer"], as_index=False)["gain_last"].mean().rename(columns={"gain_last": "gain"})
        )
        rows = rows.merge(src.models, on="model").assign(dataset=prompt_set, convention="canonical")
    return rows[["model", "layer", "gain", "dataset", "convention"] + FACTS]


def head_norms(src: Source) -> pd.DataFrame:
    if isinstance(src, PublishedSource):
        wide = {
            q: src.get(q, aggregate="value").drop_duplicates("model").set_index("model")["value"]
            for q in ("wv_spectral_mean", "wo_mean")
        }
        rows = pd.DataFrame({"wv_spectral": wide["wv_spectral_mean"], "wo_spectral": wide["wo_mean"]}).reset_index()
        rows = src.with_facts(rows.rename(columns={"index": "model"})).assign(
            layer=np.nan,
            ov_spectral=np.nan,
            wv_spectral_sq=lambda d: d["wv_spectral"] ** 2,
            extraction=(
                "full W_V as the notebooks sliced it (mis-sliced for fused-QKV Pythia/BLOOM); W_O norm type unknown"
            ),
        )
    else:
        heads = src.tables["heads"].assign(wv_spectral_sq=lambda d: d["wv_spectral"] ** 2)
        rows = heads.groupby(["model", "layer"], as_index=False)[
            ["wv_spectral", "wo_spectral", "ov_spectral", "wv_spectral_sq"]
        ].mean()
        rows = rows.merge(src.models, on="model").assign(extraction="per head, mean over heads")
    return rows[["model", "layer", "wv_spectral", "wo_spectral", "ov_spectral", "wv_spectral_sq", "extraction"] + FACTS]


def trace_layers(src: Source) -> pd.DataFrame:
    if isinstance(src, PublishedSource):
        rows = src.get("trace_multihead", notebook="H4V2", aggregate="mean").rename(
            columns={"value": "trace_multihead"}
        )
        rows = src.with_facts(rows[["model", "layer", "trace_multihead"]]).assign(offdiag_mean=np.nan, dataset="H4V2")
    else:
        per_prompt = (
            src.tables["attention"]
            .groupby(["model", "prompt_set", "prompt_id", "layer"], as_index=False)
            .agg(trace_multihead=("sheaf_trace", "sum"), offdiag_mean=("offdiag_mean", "mean"))
        )
        prompt_set = src.prompt_set_for(per_prompt["model"].unique()) if len(per_prompt) else None
        per_prompt = per_prompt[per_prompt["prompt_set"] == prompt_set]
        rows = per_prompt.groupby(["model", "layer"], as_index=False)[["trace_multihead", "offdiag_mean"]].mean()
        rows = rows.merge(src.models, on="model").assign(dataset=prompt_set)
    return rows[["model", "layer", "trace_multihead", "offdiag_mean", "dataset"] + FACTS]


def prompt_gains(src: Source) -> pd.DataFrame:
    if isinstance(src, PublishedSource):
        frames = []
        for notebook, quantity, convention in (
            ("PFS", "gain_penultimate_block", "R1"),
            ("GUB", "gain_last_block", "R2"),
        ):
            rows = src.get(quantity, notebook=notebook, aggregate="value").rename(columns={"value": "gain"})
            frames.append(rows[["model", "prompt_set", "prompt_id", "gain"]].assign(convention=convention))
        rows = src.with_facts(pd.concat(frames, ignore_index=True))
        categories = src.prompts[["prompt_id", "category"]]
    else:
        rows = src.prompt_gains().assign(convention="canonical")
        categories = None
    if categories is not None:
        rows = rows.merge(categories, on="prompt_id", how="left")
    else:
        rows["category"] = np.nan
    return rows[["model", "prompt_set", "prompt_id", "category", "gain", "convention"] + FACTS]


def convention_gains(src: Source) -> pd.DataFrame:
    rows = src.convention_table().rename(columns={"notebook": "dataset"})
    return rows.merge(src.models, on="model")[["model", "convention", "gain", "dataset"] + FACTS]


def lab_means(gains: pd.DataFrame, settings) -> pd.DataFrame:
    """Per source and lab: the mean of the model means with a bootstrap CI over models (Fig. 2).

    Published: the R1 gains of the 16-model heritage hunt (HRH), the paper's lab data; ours: the
    canonical gain. A lab with one model has no CI.
    """
    from analysis.stats import bootstrap_ci

    chosen = gains[
        ((gains["source"] == "published") & (gains["dataset"] == "HRH"))
        | ((gains["source"] != "published") & (gains["convention"] == "canonical"))
    ]
    rows = []
    for (source, lab), group in chosen.groupby(["source", "lab"]):
        row = {
            "source": source,
            "lab": lab,
            "n_models": len(group),
            "gain": group["gain"].mean(),
            "ci_low": np.nan,
            "ci_high": np.nan,
        }
        if len(group) >= 2:
            ci = bootstrap_ci(group, "gain", n_resamples=settings.n_resamples, seed=settings.seed).iloc[0]
            row.update(ci_low=ci["ci_low"], ci_high=ci["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows, columns=["source", "lab", "n_models", "gain", "ci_low", "ci_high"])


BUILDERS = {
    "model_gains": model_gains,
    "layer_gains": layer_gains,
    "head_norms": head_norms,
    "trace_layers": trace_layers,
    "prompt_gains": prompt_gains,
    "conventions": convention_gains,
}


def figure_tables(sources: dict[str, Source], settings) -> dict[str, pd.DataFrame]:
    """Every figure table, stacked over the sources that hold data for it, checked against its schema
    (``contract.tables.FIGURE_TABLES``; an empty table where no source has data)."""
    tables = {}
    for name, build in BUILDERS.items():
        frames = []
        for source_name, src in sources.items():
            if not src.available or (isinstance(src, MeasuredSource) and src.tables["residual"].empty):
                continue
            frame = build(src)
            if len(frame):
                frames.append(frame.assign(source=source_name))
        columns = list(FIGURE_TABLES[name].columns)
        tables[name] = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    tables["lab_means"] = lab_means(tables["model_gains"], settings)
    return {name: validate(frame, FIGURE_TABLES[name], f"{name}.csv") for name, frame in tables.items()}
