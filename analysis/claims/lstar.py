"""Appendix E, the transition layer L* and the architecture formula L* = L (0.11 + 0.012 L + 4.9 / H) (eq. 6).

Errors are reported two ways: the notebooks' "MAPE", |pred - emp| / L (depth-normalised), and the
true MAPE |pred - emp| / emp; both as fractions (0.157 = 15.7%). The naive baseline predicts L/2.

Published data: H4V2's ``l_star_trace`` (argmax_l |np.gradient(mean over 4 prompts of trace_full)|,
fp32; the formula's calibration targets: 4 models, only 2 distinct (L, H), 3 coefficients) and
LSC's ``l_star_sign_change`` (v3, mean over 5 prompts of a "sign change" L* of the printed eq. 4,
i.e. of fp16 rounding noise; 6 models of 4 labs, the only cross-heritage run). Our data: the H4V2
definition on our multi-head trace, argmax_l |np.gradient(mean over prompts of sum_h (T - tr A_h)
||W_V^h||_F^2)| (H4V2 used head-averaged A with head 0's W_V; we do not store that mix).

lstar_definitions puts every L* the notebooks computed side by side (methods.md 2.8; the definitions
live in ``analysis.transition``), with those our data allow, and flags the artefacts: RME's np.argmin
landing on a NaN layer, H4X's 4-bit byte traces, LSC's rounding noise, the degenerate spectral gaps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.claims.common import override, robust_decision, source_note
from analysis.claims.registry import Outcome, claim
from analysis.needs import Dataset, InsufficientData, Needs
from analysis.sources import HERITAGE_LAB
from analysis.stats import bootstrap_ci, decide, paired, reproduces
from analysis.transition import formula

SECTION = "App. E L* formula"
CALIBRATION_DEPTHS, CALIBRATION_HEADS = (12, 24), (12, 16)
CLAIMED_MAPE = 0.157
# Definitions of L* agree when they span at most this share of the depth.
AGREEMENT = 0.1


def prediction_errors(data: pd.DataFrame) -> pd.DataFrame:
    """Add the clamped formula (to [0, L - 1]), the naive L/2 and their depth-normalised and true errors
    to per-model rows with ``l_star`` (empirical), ``n_layers`` and ``n_heads``."""
    raw = formula(data["n_layers"], data["n_heads"])
    data = data.assign(formula_raw=raw, formula=np.clip(raw, 0, data["n_layers"] - 1), naive=data["n_layers"] / 2)
    for name in ("formula", "naive"):
        gap = (data[name] - data["l_star"]).abs()
        data[f"{name}_error"] = gap / data["n_layers"]
        data[f"{name}_true_error"] = gap / data["l_star"].where(data["l_star"] > 0)
    return data


def _mape(data: pd.DataFrame, column: str) -> float:
    return float(data[column].mean())


def formula_vs_naive(data: pd.DataFrame) -> pd.DataFrame:
    """Mean paired difference of depth-normalised errors (formula - naive) and the two-sided Wilcoxon
    signed-rank p over models (1 when every difference is zero)."""
    difference = float((data["formula_error"] - data["naive_error"]).mean())
    if not (data["formula_error"] != data["naive_error"]).any():
        return pd.DataFrame({"statistic": [difference], "p_value": [1.0]})
    long = data.melt(
        id_vars="model", value_vars=["formula_error", "naive_error"], var_name="predictor", value_name="error"
    )
    p = paired(
        long, "error", within="predictor", subject="model", order=["formula_error", "naive_error"], method="wilcoxon"
    ).iloc[0]["p_value"]
    return pd.DataFrame({"statistic": [difference], "p_value": [p]})


@claim(
    "lstar_formula",
    section=SECTION,
    statement=(
        "The transition layer follows L* = L (0.11 + 0.012 L + 4.9 / H): MAPE 4.8% within heritage, 15.7% "
        "across heritages, against 25% for the naive L/2."
    ),
    paper_value="15.7%",
    paper_test="MAPE (|pred - emp| / L, mean over models)",
    kind="proportion",
    needs=Needs("lstar", models=2),
)
def lstar_formula(data: Dataset, settings) -> Outcome:
    """Hypothesis: L* = L (0.11 + 0.012 L + 4.9 / H) predicts the transition layer better than the naive L/2.

    Unit: model (its empirical L* and the formula's prediction, clamped to [0, L - 1]).
    Test: depth-normalised MAPE with a bootstrap CI over models; two-sided Wilcoxon signed-rank test of the
    formula's against the naive errors, paired by model.
    Rule: holds if the formula's errors are significantly smaller, fails if significantly larger, either only
    if leaving any one model out keeps p < alpha (a smallest-possible p, all differences of one sign, does not
    survive losing one model); fails also if the MAPE's CI lies above the stated 15.7%; inconclusive otherwise,
    and always where the empirical L* is not a valid measurement (the published LSC values are rounding noise).
    """
    rows = prediction_errors(data.frame)
    mape = bootstrap_ci(
        rows, "formula_error", confidence=settings.confidence, n_resamples=settings.n_resamples, seed=settings.seed
    ).iloc[0]
    comparison = formula_vs_naive(rows).iloc[0]
    differences = rows.assign(difference=rows["formula_error"] - rows["naive_error"])
    interval = bootstrap_ci(
        differences, "difference", confidence=settings.confidence, n_resamples=settings.n_resamples, seed=settings.seed
    ).iloc[0]
    decision = decide(
        interval["statistic"],
        interval["ci_low"],
        interval["ci_high"],
        comparison["p_value"],
        direction="less",
        alpha=settings.alpha,
    )
    by_significance = ("holds", "fails") if decision[1].startswith("significant") else ("holds",)
    holds, reason = robust_decision(decision, rows, formula_vs_naive, alpha=settings.alpha, verdicts=by_significance)
    if holds != "fails" and mape["ci_low"] > CLAIMED_MAPE:
        holds, reason = "fails", f"{reason}; the MAPE's CI lies above the stated {CLAIMED_MAPE:.1%}"
    minimum_p = 2 / 2 ** len(rows)
    test = (
        f"{mape['test']} (models); Wilcoxon signed-rank test (two-sided) of formula vs naive L/2 depth-normalised "
        "errors, paired by model"
    )
    true = rows["formula_true_error"]
    common = [
        f"naive L/2 MAPE {_mape(rows, 'naive_error'):.1%}",
        f"true MAPE |pred - emp| / emp {true.mean():.1%} ({true.isna().sum()} model(s) with L* = 0 left out)",
        f"with {len(rows)} models the smallest possible two-sided Wilcoxon p is {minimum_p:.3g}",
    ]
    if not data.extras["valid_l_star"]:
        calibration = prediction_errors(data.extras["calibration"])
        within = calibration[calibration["lab"] == HERITAGE_LAB]
        holds, reason = override(
            (holds, f"formula minus naive error: {reason}"),
            "inconclusive",
            "LSC's L* come from the printed eq. 4 (fp16 rounding noise), so a p-value on them, "
            f"here the smallest possible with n = {len(rows)} (every model favours one "
            "predictor), cannot carry a verdict; H4V2's L* are the formula's own calibration "
            "targets (in-sample, 2 distinct (L, H) for 3 coefficients)",
        )
        checks = [
            ("15.7%", "cross-heritage (LSC v3)", _mape(rows, "formula_error")),
            ("4.8%", "within heritage (H4V2 calibration targets)", _mape(within, "formula_error")),
            ("25%", "naive L/2 (LSC v3)", _mape(rows, "naive_error")),
        ]
        reproduced = (
            "not recomputable",
            "the printed 15.7% (Fig. A2) comes from a v2 run whose results were never published; the "
            "published file (LSC v3) uses another L* definition and stores "
            f"{data.extras['stored_mape_pct']:.4g}%; "
            "the same computation on the published values: "
            + "; ".join(
                f"{what}: {value:.4g} vs {printed}: {reproduces(printed, value)[0]}" for printed, what, value in checks
            ),
        )
        note = [
            reason,
            *common,
            f"on H4V2's targets (in-sample): depth-normalised "
            f"{_mape(calibration, 'formula_error'):.1%}, true {_mape(calibration, 'formula_true_error'):.1%}, "
            "naive "
            f"{_mape(calibration, 'naive_error'):.1%}",
            "no artefact gives 4.8%",
        ]
        return Outcome(
            statistic="depth-normalised MAPE |pred - emp| / L of the formula, cross-heritage (LSC v3)",
            value=mape["statistic"],
            ci_low=mape["ci_low"],
            ci_high=mape["ci_high"],
            p_value=comparison["p_value"],
            n=len(rows),
            test=test,
            holds=holds,
            comparable=False,
            reproduced=reproduced,
            note="; ".join(note),
        )
    outside = rows[~rows["n_layers"].isin(CALIBRATION_DEPTHS) | ~rows["n_heads"].isin(CALIBRATION_HEADS)]
    clamped = rows[rows["formula_raw"] != rows["formula"]]
    per_model = ", ".join(
        f"{m} {e} vs {f:.3g} ({a:.0%} of prompts agree)"
        for m, e, f, a in zip(rows["model"], rows["l_star"], rows["formula"], rows["prompt_agreement"])
    )
    return Outcome(
        statistic="depth-normalised MAPE |pred - emp| / L of the formula",
        value=mape["statistic"],
        ci_low=mape["ci_low"],
        ci_high=mape["ci_high"],
        p_value=comparison["p_value"],
        n=len(rows),
        test=test,
        holds=holds,
        comparable=False,
        note="; ".join(
            [
                f"formula minus naive error: {reason}",
                *filter(None, [interval["note"]]),
                *common,
                f"outside the calibration support (L in {CALIBRATION_DEPTHS}, H in {CALIBRATION_HEADS}): "
                f"{len(outside)} of {len(rows)}",
                f"clamped to L - 1: {', '.join(clamped['model']) or 'none'}",
                f"L* vs formula: {per_model}",
                *source_note(data),
            ]
        ),
    )


@claim(
    "lstar_definitions",
    section=SECTION,
    statement=(
        "L* is one transition layer: the definitions the notebooks use (gradient of the trace, sign change, "
        "spectral gap, contraction minimum, sublayer gains) agree."
    ),
    paper_value=None,
    paper_test="none (each notebook uses its own definition)",
    kind="proportion",
    needs=Needs("lstar_definitions"),
)
def lstar_definitions(data: Dataset, settings) -> Outcome:
    """Hypothesis: the notebooks' definitions of L* agree on each model (L* is one layer).

    Unit: model (the L* each definition gives it).
    Test: per model with at least two definitions, the spread max - min of its L* values as a share of its
    depth L; artefacts (L* on NaN layers, 4-bit byte traces, rounding noise, degenerate gaps) are flagged.
    Rule: holds if every model's definitions span at most 10% of its depth; fails otherwise.
    """
    frame = data.frame
    spread = frame.groupby("model").agg(
        low=("l_star", "min"), high=("l_star", "max"), k=("l_star", "size"), n_layers=("n_layers", "first")
    )
    spread = spread[spread["k"] >= 2]
    if spread.empty:
        raise InsufficientData("no model has two definitions of L*")
    spread["share"] = (spread["high"] - spread["low"]) / spread["n_layers"]
    clean = frame[~frame["artefact"].astype(bool)].groupby("model")["l_star"].agg(["min", "max", "size"])
    clean = clean[clean["size"] >= 2]
    worst = spread["share"].idxmax()
    holds = "holds" if (spread["share"] <= AGREEMENT).all() else "fails"
    per_model = "; ".join(
        f"{model} (L = {int(spread.loc[model, 'n_layers'])}): "
        + ", ".join(f"{r.definition} {r.l_star:g}" + (" [artefact]" if r.artefact else "") for r in group.itertuples())
        for model, group in frame[frame["model"].isin(spread.index)].groupby("model")
    )
    clean_text = ", ".join(f"{m} {r['min']:g} to {r['max']:g}" for m, r in clean.iterrows()) or "none with two"
    return Outcome(
        statistic="largest spread of L* across definitions, as a share of depth",
        value=float(spread["share"].max()),
        n=len(spread),
        holds=holds,
        comparable=False,
        test="per model: (max - min) of L* over the definitions / L",
        note=(
            f"{'every model agrees within' if holds == 'holds' else 'the definitions disagree by more than'} "
            f"{AGREEMENT:.0%} of depth (largest spread: {worst}, {spread.loc[worst, 'low']:g} to "
            f"{spread.loc[worst, 'high']:g}); "
            f"without the flagged artefacts: {clean_text}; {per_model}"
        ),
    )
