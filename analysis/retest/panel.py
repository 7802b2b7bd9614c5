"""How the paper's panel claims move when your models join the published panel.

``combined_source`` adds each new model to the published ``values`` table as if the authors' notebook
that states the law in its convention had measured it too:

* HRH (the cross-lab heritage hunt, R1: the penultimate block's gain, with and without the final
  norm, and the per-block R1 vector): every new model (heritage, crowding, final-norm claims);
* PFS (the Pythia sweep, R1, per prompt): Pythia-family models only (GPT-NeoX by EleutherAI), as the
  Kleiber fits and the input-robustness ICC are about that family;
* GUB (the GU25 benchmark, R2: the true last block's gain and the total amplification x_{L-1}/x_0, per
  prompt): every new model (mixed heritage model, total gain, convention sensitivity);
* TWN (base/instruct twins, R2 per prompt): a new model whose base (``twin_of``) is a new model too or
  one of TWN's own bases, with that base;
* 4MV (R3: block gains of the Frobenius norm over all tokens): every new model (convention sensitivity).

Weight norms (the restriction-map CSV: full-matrix norms, Pythia's mis-sliced) and sheaf traces and L*
(H4V2, LSC: head-averaged attention with one head's W_V, or the printed eq. 4) are other quantities
than ours, so no new model is added to them and the claims reading them do not move (said per claim).

A pretrained model already in the published panel (by name or registry model) is a re-measurement,
not a new model, and is left out (a random-init control of a panel architecture is a new model).
``panel_shift`` runs every claim of the registry on the published source and on the combined one with
``analysis.run.claim_rows``, a claim's error becoming that claim's row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from analysis.claims import CLAIMS, Settings
from analysis.retest.card import find_model
from analysis.retest.measured import R1_GAIN, R1_WITH_NORM, R2_GAIN, R2_TOTAL, ModelData
from analysis.retest.rows import NotApplicable, join
from analysis.run import claim_rows
from analysis.sources import PublishedSource, Source
from contract.tables import PANEL_SHIFT_TABLE, PUBLISHED_TABLES, validate
from contract.vocab import COMBINED_PANEL, DATA_SOURCES

PER_PROMPT = ("PFS", "GUB", "TWN")  # the notebooks a new model joins with per-prompt values
ORIGIN = "measured by thermo-audit, added by retest"

# What each dataset of ``analysis.sources`` reads from the published panel: the notebooks a new model can
# join it through (none: it cannot), and in words. A claim's own selection may still leave a joined model
# out (e.g. an instruct model whose base is in the same data).
_EVERY = ("HRH", "PFS", "GUB", "TWN", "4MV")
_PFS = (("PFS",), "the Pythia sweep (PFS, R1): only Pythia-family models (GPT-NeoX by EleutherAI) join")
_R1 = (("HRH", "PFS"), "the heritage hunt (HRH, R1) and the other R1 gains (PFS, CRG): every new model joins")
_CSV = (
    (),
    (
        "the restriction-map CSV (full-matrix norms, Pythia's mis-sliced): our per-head norms are on "
        "another scale, so no new model is added"
    ),
)
_H4 = (
    (),
    (
        "H4V2's traces (head-averaged attention with one head's W_V): our per-head traces are another "
        "quantity, so no new model is added"
    ),
)
_LSTAR = (
    (),
    (
        "the notebooks' stored L* (LSC's sign change, H4V2's calibration targets, ...): other L* "
        "definitions, so no new model is added (the card's lstar_formula line checks the formula on each "
        "model)"
    ),
)
DATASET_INPUTS = {
    "panel": (_EVERY, "every published quantity: each new model is counted with its lab"),
    "claims": (_EVERY, "the rows of the other claims: it moves when they move"),
    "pythia_gains": _PFS,
    "pythia_prompt_gains": _PFS,
    "block_gains": _PFS,
    "robustness_gains": _PFS,
    "total_gains": (
        ("GUB", "TWN"),
        "the R2 total amplification (GUB, G2L, GJP, TWN): every new model joins through GUB",
    ),
    "heritage_gains": _R1,
    "rule_models": _R1,
    "heritage_prompt_gains": (
        ("GUB", "TWN"),
        "the R2 per-prompt gains (GUB, TWN, G2L, GJP): every new model joins through GUB",
    ),
    "prompt_summaries": (
        ("HRH", "PFS", "GUB", "TWN"),
        "every published per-model gain (R1 and R2): every new model joins",
    ),
    "convention_gains": (
        _EVERY,
        "R1 (HRH, PFS, CRG), R2 (GUB, TWN, G2L, GJP) and R3 (4MV, MPI, IDT): every new model joins",
    ),
    "final_norm": (("HRH",), "HRH (R1 with and without the final norm): every new model joins"),
    "weight_norms": _CSV,
    "signed_weight_norms": _CSV,
    "late_layer_proxy": _CSV,
    "eq4_traces": _H4,
    "trace_pair": _H4,
    "signed_traces": _H4,
    "multihead_traces": _H4,
    "contraction": ((), "RME's restriction-map contraction of pythia-1.4b only"),
    "spectral_gaps": (
        (),
        "the sheaf-Laplacian spectral gaps of H4L, RME and H4V2, from attention matrices the "
        "measurement does not store: no new model is added",
    ),
    "lstar": _LSTAR,
    "lstar_definitions": _LSTAR,
    "pair_summaries": ((), "Pythia-6.9B and GPT-J-6B only"),
    "hierarchy_gains": ((), "the four hierarchy models only (GUB)"),
    "twin_gains": (
        ("TWN",),
        "TWN's pairs (R2): a new model joins with its base (twin_of) when the base is measured or in TWN",
    ),
}
# Per claim: what its dataset reads, except where the claim selects fewer models than its dataset holds.
CLAIM_INPUTS = {
    claim.id: DATASET_INPUTS[claim.needs.dataset] for claim in CLAIMS.values() if claim.needs.dataset in DATASET_INPUTS
} | {"twin_gemma": ((), "the Gemma-7B pair only")}


def _row(
    model: ModelData,
    notebook: str,
    quantity: str,
    convention: str,
    aggregate: str,
    value: float,
    n_prompts: int,
    prompt_id: str | None = None,
    layer: int | None = None,
) -> dict:
    return {
        "notebook": notebook,
        "source_file": f"{COMBINED_PANEL}:{notebook}",
        "model": model.model,
        "lab": model.fact("lab"),
        "prompt_set": model.prompt_set,
        "prompt_id": prompt_id,
        "layer": layer,
        "head": None,
        "quantity": quantity,
        "convention": convention,
        "aggregate": aggregate,
        "value": float(value),
        "dtype": model.fact("dtype") or "float32",
        "n_prompts": n_prompts,
        "note": ORIGIN,
    }


def _summary_rows(
    model: ModelData, notebook: str, quantity: str, convention: str, values: pd.Series, per_prompt: bool
) -> list[dict]:
    """Mean and population SD (as the notebooks stored them), and the per-prompt values if asked."""
    n = len(values)
    rows = [
        _row(model, notebook, quantity, convention, "mean", values.mean(), n),
        _row(model, notebook, quantity, convention, "sd_population", values.std(ddof=0), n),
    ]
    if per_prompt:
        rows += [_row(model, notebook, quantity, convention, "value", v, 1, prompt_id=p) for p, v in values.items()]
    return rows


def _r1_rows(model: ModelData, notebook: str, per_prompt: bool) -> list[dict]:
    rows = _summary_rows(model, notebook, "gain_penultimate_block", "R1", model.summary(R1_GAIN).values, per_prompt)
    rows += _summary_rows(model, notebook, "gain_with_final_norm", "R1", model.summary(R1_WITH_NORM).values, False)
    # R1 vectors hold blocks 0..L-2 (their last element mixes the final norm in, and is not stored)
    blocks = model.block_gains("gain_last", first=0, last=model.n_layers - 2)
    rows += [
        _row(model, notebook, "layer_gain", "R1", "mean", r.gain, r.n_prompts, layer=r.layer)
        for r in blocks.itertuples()
    ]
    return rows


def _r2_rows(model: ModelData, notebook: str) -> list[dict]:
    gains, total = model.summary(R2_GAIN).values, model.summary(R2_TOTAL).values
    rows = _summary_rows(model, notebook, "gain_last_block", "R2", gains, per_prompt=True)
    rows += [_row(model, notebook, "total_amplification", "R2", "value", v, 1, prompt_id=p) for p, v in total.items()]
    return rows


def _r3_rows(model: ModelData) -> list[dict]:
    blocks = model.block_gains("gain_frobenius", first=0)
    return [
        _row(model, "4MV", "frobenius_gain", "R3", "value", r.gain, r.n_prompts, layer=r.layer)
        for r in blocks.itertuples()
    ]


def _model_rows(model: ModelData, in_twins: bool, prompt_sets: Mapping[str, set]) -> tuple[list, list, list]:
    """The values rows of one new model, the notebooks it joined and notes on what it could not join
    (``prompt_sets``: the prompt sets of each notebook's per-prompt values)."""
    parts = [
        ("HRH", lambda: _r1_rows(model, "HRH", per_prompt=False)),
        ("GUB", lambda: _r2_rows(model, "GUB")),
        ("4MV", lambda: _r3_rows(model)),
    ]
    if model.is_pythia:
        parts.append(("PFS", lambda: _r1_rows(model, "PFS", per_prompt=True)))
    if in_twins:
        parts.append(("TWN", lambda: _r2_rows(model, "TWN")))
    rows, joined, notes = [], [], []
    for notebook, build in parts:
        try:
            rows += build()
            joined.append(notebook)
        except NotApplicable as why:
            notes.append(f"not added to {notebook}: {why}")
            continue
        others = prompt_sets.get(notebook, set())
        if others and model.prompt_set not in others:
            notes.append(
                f"its {notebook} prompts ({model.prompt_set}) are not the published ones "
                f"({', '.join(sorted(others))}): a claim comparing models prompt by prompt cannot take it"
            )
    return rows, joined, notes


def combined_source(
    sources: Mapping[str, Source],
    models: Iterable[str],
    settings: Settings,
    *,
    prompt_set: str | None = None,
    twin_of: Mapping[str, str] | None = None,
) -> tuple[PublishedSource, pd.DataFrame]:
    """The published source with ``models`` added (see the module docstring), and per model the
    notebooks it joined (columns ``model``, ``joined``, ``note``).

    The combined source keeps the name "published": the claims read it through their published-data
    branches (the authors' notebooks and conventions); ``panel_shift`` labels its rows ``COMBINED_PANEL``.
    """
    published = sources["published"]
    located = {model: find_model(sources, model) for model in dict.fromkeys(models)}
    data = {m: ModelData(source, m, settings.confidence, prompt_set) for m, source in located.items()}
    in_panel = set(published.models["model"]) | set(published.models["registry_model"].dropna())
    # a pretrained model of the registry is a re-measurement of a published one; a random-init control is not
    new = {
        m
        for m, d in data.items()
        if m not in in_panel and (d.source.name == "controls" or d.fact("registry_model") not in in_panel)
    }
    bases = {m: (twin_of or {}).get(m) or data[m].fact("twin_of") for m in new}
    twin_bases = set(published.get("gain_last_block", notebook="TWN", aggregate="value")["model"]) | new
    paired = {m for m, b in bases.items() if b in twin_bases}
    paired |= {b for m, b in bases.items() if m in paired and b in new}
    values = published.values
    per_prompt = values[(values["aggregate"] == "value") & values["notebook"].isin(PER_PROMPT)]
    per_prompt = per_prompt.dropna(subset=["prompt_id"])
    prompt_sets = per_prompt.groupby("notebook")["prompt_set"].agg(lambda sets: set(sets.dropna()))
    rows, facts, report = [], [], []
    for model, model_data in data.items():
        if model not in new:
            report.append(
                {
                    "model": model,
                    "joined": "",
                    "note": (
                        f"already in the published panel (as {model_data.fact('registry_model') or model}): a "
                        "re-measurement is not a new model, so it is left out"
                    ),
                }
            )
            continue
        fact_row = located[model].models.set_index("model").loc[model].copy()
        if bases[model] is not None:
            fact_row["twin_of"], fact_row["variant"] = bases[model], "instruct"
        model_rows, joined, notes = _model_rows(model_data, model in paired, prompt_sets.to_dict())
        rows += model_rows
        facts.append(fact_row.rename(model))
        report.append({"model": model, "joined": ", ".join(joined), "note": "; ".join(notes)})
    values, model_facts = published.values, published.models
    if rows:
        added = validate(pd.DataFrame(rows, columns=list(values.columns)), PUBLISHED_TABLES["values"], COMBINED_PANEL)
        values = pd.concat([values, added], ignore_index=True)
    if facts:
        added_facts = pd.DataFrame(facts).rename_axis("model").reset_index()
        model_facts = pd.concat([model_facts, added_facts[list(model_facts.columns)]], ignore_index=True)
    combined = dataclasses.replace(published, models=model_facts, values=values)
    return combined, pd.DataFrame(report, columns=["model", "joined", "note"])


def claim_table(source: PublishedSource, settings: Settings) -> pd.DataFrame:
    """Every claim of the registry on one published-format source, one row per claim (index claim_id), as
    ``analysis.run.claim_rows`` computes it: a claim that fails is its row (verdict "error"), never the end
    of the shift (a new model's data may be what a claim cannot take)."""
    no_data = {name: Source(name, source.models.iloc[:0]) for name in DATA_SOURCES}
    rows = claim_rows(no_data | {"published": source}, settings, log=lambda *_: None)
    return rows[rows["source"] == "published"].set_index("claim_id")


def _changed(a, b) -> bool:
    """Whether a claim's field differs between two runs (missing = missing; numbers to 1e-9 relative)."""
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) != pd.isna(b)
    if isinstance(a, str) or isinstance(b, str):
        return a != b
    return not np.isclose(float(a), float(b), rtol=1e-9, atol=0)


def shift_and_joined(
    sources: Mapping[str, Source],
    models: Iterable[str],
    settings: Settings,
    *,
    prompt_set: str | None = None,
    twin_of: Mapping[str, str] | None = None,
    published_claims: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``panel_shift`` and, per model, the notebooks it joined (``combined_source``'s report; empty without
    published data). ``published_claims``: the claims' rows already computed on the published source (e.g.
    claims.csv's), which are then not computed again."""
    columns = list(PANEL_SHIFT_TABLE.columns)
    if not sources["published"].available:
        return (
            validate(pd.DataFrame(columns=columns), PANEL_SHIFT_TABLE, "panel shift"),
            pd.DataFrame(columns=["model", "joined", "note"]),
        )
    combined, joined = combined_source(sources, models, settings, prompt_set=prompt_set, twin_of=twin_of)
    if published_claims is None:
        before = claim_table(sources["published"], settings)
    else:
        before = published_claims[published_claims["source"] == "published"].set_index("claim_id")
    after = claim_table(combined, settings)
    notebooks = {m: set(j.split(", ")) - {""} for m, j in zip(joined["model"], joined["joined"])}
    keys = ("value", "ci_low", "ci_high", "p", "n", "holds")
    fields = ("value", "ci_low", "ci_high", "p_value", "n", "holds")
    rows = []
    for claim_id in before.index:
        old, new = before.loc[claim_id], after.loc[claim_id]
        if CLAIMS[claim_id].about_the_paper:  # the paper's panel is what it is, whoever joins ours
            rows.append(
                {
                    "claim_id": claim_id,
                    "statistic": old["statistic"],
                    **{f"{side}_{k}": old[f] for side in ("published", "combined") for k, f in zip(keys, fields)},
                    "moved": False,
                    "joined": "",
                    "note": "unchanged: a statement about the paper's own panel",
                }
            )
            continue
        moved = any(_changed(old[f], new[f]) for f in fields)
        reads, described = CLAIM_INPUTS.get(claim_id, (None, ""))
        took = [m for m, nbs in notebooks.items() if reads is not None and nbs & set(reads)]
        note = described if moved else join("unchanged", f"reads {described}" if described else None)
        if reads is None:
            note = join(note, "not in the map of claim inputs: which models it took in is not known")
        if new["holds"] == "error":
            note = join(note, f"on {COMBINED_PANEL}: {new['note']}")
        rows.append(
            {
                "claim_id": claim_id,
                "statistic": old["statistic"],
                **{f"published_{k}": old[f] for k, f in zip(keys, fields)},
                **{f"combined_{k}": new[f] for k, f in zip(keys, fields)},
                "moved": moved,
                "joined": ", ".join(took),
                "note": note,
            }
        )
    return validate(pd.DataFrame(rows, columns=columns), PANEL_SHIFT_TABLE, "panel shift"), joined


def panel_shift(
    sources: Mapping[str, Source],
    models: Iterable[str],
    settings: Settings,
    *,
    prompt_set: str | None = None,
    twin_of: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Per claim of the registry: statistic, CI, p, n and verdict on the published panel and on
    ``published+yours``, whether they moved, which new models the claim took in, and a note.
    Empty (with the columns of ``PANEL_SHIFT_TABLE``) when the published data are not imported."""
    return shift_and_joined(sources, models, settings, prompt_set=prompt_set, twin_of=twin_of)[0]
