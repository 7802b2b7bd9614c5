"""Input robustness (Fig. 7), the per-model gains of the figures, and convention sensitivity: is "the gain"
a property of the model?

* input robustness: how much of the gain's variance lies between models rather than between
  prompts (intraclass correlation, models as targets, prompts as raters);
* per-model gains (Figs. 1, 6, 7 plot a mean with the SD over prompts): for how many models does the
  95% CI of the mean gain include 1, so that its dampen/expand label is not established;
* convention sensitivity: the same model under the paper's conventions R1 (penultimate block,
  hidden_states), R2 (true last block, hooks, last token) and R3 (last block, Frobenius over all
  tokens): does the dampen/expand label depend on which one is used?
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from analysis.claims.common import source_note
from analysis.claims.registry import Outcome, claim
from analysis.needs import Dataset, InsufficientData, Needs
from analysis.stats import icc

# Gains within this band of 1 count as neutral: no label, so float noise around 1 is not a "flip"
# (bf16 resolves about 0.4%; the paper used a strict < 1 everywhere).
NEUTRAL_BAND = 0.005


@claim(
    "input_robustness",
    section="5 Input robustness",
    statement=(
        "A model's gain is a stable property across inputs: the spread over 25 prompts is small next to "
        "the differences between models (Fig. 7)."
    ),
    paper_value=None,
    paper_test="none (per-prompt gains plotted)",
    kind="correlation",
    needs=Needs("robustness_gains", models=3, prompts=2),
)
def input_robustness(data: Dataset, settings) -> Outcome:
    """Hypothesis: a model's gain is a stable property across inputs: most of its variance lies between models.

    Unit: model (the targets of the ICC; prompts are its raters).
    Test: ICC(2,1) (two-way random effects, absolute agreement) with its 95% CI (pingouin).
    Rule: holds if the CI's lower end is >= 0.75 (good reliability); fails if its upper end is < 0.5;
    inconclusive otherwise.
    """
    rows = data.frame
    result = icc(rows, targets="model", raters="prompt_id", ratings="gain")
    agreement = result[result["icc_type"] == "ICC(2,1)"].iloc[0]
    consistency = result[result["icc_type"] == "ICC(3,1)"].iloc[0]
    spread = rows.groupby("model")["gain"].agg(lambda g: g.std(ddof=1) / g.mean())
    if agreement["ci_low"] >= 0.75:
        holds, why = "holds", "ICC(2,1) >= 0.75 with 95% confidence (good reliability)"
    elif agreement["ci_high"] < 0.5:
        holds, why = "fails", "ICC(2,1) < 0.5 with 95% confidence: prompts matter as much as models"
    else:
        holds, why = "inconclusive", "the ICC's CI spans moderate and good reliability"
    return Outcome(
        statistic="ICC(2,1): share of gain variance between models",
        value=agreement["icc"],
        ci_low=agreement["ci_low"],
        ci_high=agreement["ci_high"],
        p_value=agreement["p_value"],
        n=int(agreement["n_targets"]),
        test=f"{agreement['test']}; models as targets, prompts as raters",
        ci_level=0.95,
        holds=holds,
        comparable=False,
        note="; ".join(
            [
                f"{why}; ICC(3,1) = {consistency['icc']:.3f}; coefficient of variation across prompts per "
                f"model: {spread.min():.1%} to {spread.max():.1%} (median {spread.median():.1%})",
                *filter(None, [agreement["note"]]),
                *source_note(data),
            ]
        ),
        data=f"{data.describe()}; {int(agreement['n_raters'])} prompts each",
    )


@claim(
    "gain_sign_per_model",
    section="5 Input robustness",
    statement=(
        "Each model's plotted gain (Figs. 1, 6, 7: mean with the SD over prompts as error bar) is on its side of 1: "
        "the dampen/expand label of every model is established by its prompts."
    ),
    paper_value=None,
    paper_test="none (means with +-1 SD bars, population SD)",
    kind="count",
    needs=Needs("prompt_summaries"),
)
def gain_sign_per_model(data: Dataset, settings) -> Outcome:
    """Hypothesis: every model's mean gain is on its side of 1 beyond the spread of its prompts.

    Unit: model (each per-model gain as a figure plots it: one per model and notebook).
    Test: per model a 95% t CI of the mean gain over prompts (from the stored mean and SD where no per-prompt
    values are stored); the count of models whose CI includes 1, and of those whose plotted +-1 SD bar
    (population SD, as the notebooks plotted) crosses 1.
    Rule: holds if no model's 95% CI includes 1; fails if any does (that model's label is not established
    by its own prompts).
    """
    rows = data.frame[data.frame["n_prompts"] >= 2].copy()
    half = (
        scipy.stats.t.ppf((1 + settings.confidence) / 2, rows["n_prompts"] - 1)
        * rows["sd"]
        / np.sqrt(rows["n_prompts"])
    )
    rows["ci_low"], rows["ci_high"] = rows["mean"] - half, rows["mean"] + half
    rows["ci_includes_one"] = (rows["ci_low"] <= 1) & (rows["ci_high"] >= 1)
    rows["bar_crosses_one"] = (rows["mean"] - rows["plotted_sd"] <= 1) & (rows["mean"] + rows["plotted_sd"] >= 1)
    undecided = rows[rows["ci_includes_one"]]
    holds = "fails" if len(undecided) else "holds"
    by_dataset = "; ".join(
        f"{dataset}: {int(g['ci_includes_one'].sum())} of {len(g)} CIs include 1, "
        f"{int(g['bar_crosses_one'].sum())} SD bars cross 1"
        for dataset, g in rows.groupby("dataset", sort=False)
    )
    listing = ", ".join(
        f"{r.model} ({r.dataset}) {r.mean:.4f} [{r.ci_low:.4f}, {r.ci_high:.4f}]" for r in undecided.itertuples()
    )
    dropped = data.frame[data.frame["n_prompts"] < 2]
    notes = [
        f"{len(undecided)} of {len(rows)} model gains have a 95% CI that includes 1 and "
        f"{int(rows['bar_crosses_one'].sum())} a +-1 SD bar that crosses 1",
        by_dataset,
        f"CIs including 1: {listing or 'none'}",
    ]
    if len(dropped):
        notes.append(f"single-prompt gains without a spread: {', '.join(dropped['model'])}")
    return Outcome(
        statistic="number of per-model gains whose 95% CI over prompts includes 1",
        value=float(len(undecided)),
        n=len(rows),
        test="per model: 95% t CI of the mean gain over prompts; +-1 population SD as plotted",
        holds=holds,
        comparable=False,
        note="; ".join(notes + source_note(data)),
    )


@claim(
    "convention_sensitivity",
    section="2 Methods (gain conventions)",
    statement=(
        "'The' gain of a model is one quantity: its dampen/expand label does not depend on how the gain is "
        "computed (R1 penultimate block, R2 last block and last token, R3 last block over all tokens)."
    ),
    paper_value=None,
    paper_test="none (the conventions are mixed without comment)",
    kind="proportion",
    needs=Needs("convention_gains"),
)
def convention_sensitivity(data: Dataset, settings) -> Outcome:
    """Hypothesis: a model's dampen/expand label does not depend on the gain convention (R1, R2, R3).

    Unit: model (its mean gain under each available convention).
    Test: count of models whose label changes across conventions (a neutral band of +-0.5% around 1); the
    largest max/min ratio of a model's gains.
    Rule: fails if any model's label changes; holds if none does and no model's gains differ by more than
    10%; inconclusive otherwise.
    """
    wide = data.frame.pivot_table(index="model", columns="convention", values="gain")
    wide = wide[wide.notna().sum(axis=1) >= 2]
    if wide.empty:
        raise InsufficientData("needs at least one model under two conventions")
    dampens = (wide < 1 - NEUTRAL_BAND).any(axis=1)
    expands = (wide > 1 + NEUTRAL_BAND).any(axis=1)
    flips = dampens & expands
    ratio = wide.max(axis=1) / wide.min(axis=1)
    detail = "; ".join(
        f"{model} "
        + ", ".join(f"{c} {wide.loc[model, c]:.3g}" for c in wide.columns if not np.isnan(wide.loc[model, c]))
        for model in wide.index[flips | (ratio > 1.2)]
    )
    n_flips = int(flips.sum())
    if n_flips:
        holds, why = "fails", f"{n_flips} of {len(wide)} models change label with the convention"
    elif ratio.max() < 1.1:
        holds, why = "holds", "no label changes and no model's gains differ by more than 10%"
    else:
        holds, why = "inconclusive", "no label changes, but the size of the gain depends on the convention"
    return Outcome(
        statistic="share of models whose dampen/expand label changes with the convention",
        value=n_flips / len(wide),
        n=len(wide),
        test=f"per model: the mean gain under each available convention dampens (< {1 - NEUTRAL_BAND}) "
        f"or expands (> {1 + NEUTRAL_BAND}); max/min ratio",
        holds=holds,
        comparable=False,
        note=f"{why}; largest max/min ratio {ratio.max():.3g} ({ratio.idxmax()}); {detail}".rstrip("; "),
        data=f"{data.label}; {len(wide)} models under {', '.join(wide.columns)}",
    )
