"""Appendix E, the transition layer L* and the architecture formula L* = L (0.11 + 0.012 L + 4.9 / H) (eq. 6).

Errors are reported two ways: the notebooks' "MAPE", |pred - emp| / L (depth-normalised), and the
true MAPE |pred - emp| / emp; both as fractions (0.157 = 15.7%). The naive baseline predicts L/2.

Published data: H4V2's ``l_star_trace`` (argmax_l |np.gradient(mean over 4 prompts of trace_full)|,
fp32; the formula's calibration targets: 4 models, only 2 distinct (L, H), 3 coefficients) and
LSC's ``l_star_sign_change`` (v3, mean over 5 prompts of a "sign change" L* of the printed eq. 4,
i.e. of fp16 rounding noise; 6 models of 4 labs, the only cross-heritage run). Our data: the H4V2
definition on our multi-head trace, argmax_l |np.gradient(mean over prompts of sum_h (T - tr A_h)
||W_V^h||_F^2)| (H4V2 used head-averaged A with head 0's W_V; we do not store that mix).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.claims.common import describe, require
from analysis.claims.registry import Outcome, claim
from analysis.claims.sheaf import layer_traces
from analysis.sources import HERITAGE_LAB, PublishedSource, Source
from analysis.stats import bootstrap_ci, decide, paired, reproduces

CALIBRATION_DEPTHS, CALIBRATION_HEADS = (12, 24), (12, 16)
CLAIMED_MAPE = 0.157


def formula(n_layers, n_heads):
    """The paper's eq. 6, L (0.11 + 0.012 L + 4.9 / H), unclamped (layers)."""
    n_layers = np.asarray(n_layers, dtype=float)
    return n_layers * (0.11 + 0.012 * n_layers + 4.9 / np.asarray(n_heads, dtype=float))


def steepest_layer(traces: np.ndarray) -> np.ndarray:
    """H4V2's L*: argmax over layers of |np.gradient| (central differences) along the last axis, NaN-safe."""
    return np.nanargmax(np.abs(np.gradient(traces, axis=-1)), axis=-1)


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


def empirical_l_star(src: Source) -> tuple[pd.DataFrame, str]:
    """Our sources: per model, L* of the prompt-mean multi-head trace per layer, with the share of prompts
    whose own L* agrees (``prompt_agreement``); and the prompt set used."""
    traces = layer_traces(src)
    rows = []
    for model, group in traces.groupby("model"):
        wide = group.pivot(index="prompt_id", columns="layer", values="trace").sort_index(axis=1)
        require(wide.shape[1] >= 2, f"{model} has attention statistics for fewer than 2 layers")
        l_star = int(steepest_layer(wide.mean().to_numpy()))
        rows.append({"model": model, "l_star": l_star,
                     "prompt_agreement": float(np.mean(steepest_layer(wide.to_numpy()) == l_star))})
    return pd.DataFrame(rows).merge(src.models, on="model"), traces["prompt_set"].iloc[0]


def _mape(data: pd.DataFrame, column: str) -> float:
    return float(data[column].mean())


def _paired_decision(data: pd.DataFrame, settings) -> tuple[pd.Series, float, tuple[str, str]]:
    """Formula vs naive: bootstrap CI of the mean paired difference of depth-normalised errors over
    models, two-sided Wilcoxon signed-rank p, and the decision (formula better = difference < 0)."""
    differences = data.assign(difference=data["formula_error"] - data["naive_error"])
    interval = bootstrap_ci(differences, "difference", confidence=settings.confidence,
                            n_resamples=settings.n_resamples, seed=settings.seed).iloc[0]
    if (differences["difference"] != 0).any():
        long = data.melt(id_vars="model", value_vars=["formula_error", "naive_error"], var_name="predictor",
                         value_name="error")
        p = paired(long, "error", within="predictor", subject="model", order=["formula_error", "naive_error"],
                   method="wilcoxon").iloc[0]["p_value"]
    else:
        p = 1.0
    decision = decide(interval["statistic"], interval["ci_low"], interval["ci_high"], p, direction="less",
                      alpha=settings.alpha)
    return interval, p, decision


def _published_rows(src: PublishedSource, quantity: str, notebook: str, aggregate: str) -> pd.DataFrame:
    rows = src.get(quantity, notebook=notebook, aggregate=aggregate).rename(columns={"value": "l_star"})
    return prediction_errors(src.with_facts(rows[["model", "l_star"]]))


def _published(src: PublishedSource, settings) -> Outcome:
    cross = _published_rows(src, "l_star_sign_change", "LSC", "mean")
    calibration = _published_rows(src, "l_star_trace", "H4V2", "value")
    require(len(cross) >= 2 and len(calibration) >= 2, "needs LSC's and H4V2's L* values")
    within = calibration[calibration["lab"] == HERITAGE_LAB]
    _, p, (_, reason) = _paired_decision(cross, settings)
    mape = bootstrap_ci(cross, "formula_error", confidence=settings.confidence,
                        n_resamples=settings.n_resamples, seed=settings.seed).iloc[0]
    checks = [("15.7%", "cross-heritage (LSC v3)", _mape(cross, "formula_error")),
              ("4.8%", f"within heritage ({HERITAGE_LAB} calibration targets, H4V2)", _mape(within, "formula_error")),
              ("25%", "naive L/2 (LSC v3)", _mape(cross, "naive_error"))]
    verdicts = [(printed, what, value, reproduces(printed, value)[0]) for printed, what, value in checks]
    stored = src.get("l_star_mape", notebook="LSC", aggregate="value")["value"].iloc[0]
    return Outcome(
        statistic="depth-normalised MAPE |pred - emp| / L of the formula, cross-heritage (LSC v3)",
        value=mape["statistic"], ci_low=mape["ci_low"], ci_high=mape["ci_high"], p_value=p, n=len(cross),
        test=f"{mape['test']} (models); Wilcoxon signed-rank test (two-sided) of formula vs naive L/2 "
             "depth-normalised errors, paired by model",
        holds="inconclusive", comparable=True,
        reproduced=("yes" if all(v[-1] == "yes" for v in verdicts) else "no",
                    "; ".join(f"{what}: {value:.4g} vs {printed}: {v}" for printed, what, value, v in verdicts)),
        note=(f"formula vs naive on LSC v3: {reason}; cannot decide: LSC's L* come from the printed eq. 4 "
              f"(rounding noise) and H4V2's are the calibration targets (in-sample, 2 distinct (L, H) for 3 "
              f"coefficients); LSC's stored MAPE {stored:.4g}%; LSC true MAPE "
              f"{_mape(cross, 'formula_true_error'):.1%}; "
              f"on H4V2's targets (in-sample): depth-normalised {_mape(calibration, 'formula_error'):.1%}, true "
              f"{_mape(calibration, 'formula_true_error'):.1%}, naive {_mape(calibration, 'naive_error'):.1%}; "
              "no artefact gives 4.8%; Fig. A2's 15.7% came from an absent v2 run"),
        data=describe(cross, "LSC v3 sign-change L* (mean over 5 prompts); "),
    )


@claim("lstar_formula", section="App. E L* formula", statement=(
    "The transition layer follows L* = L (0.11 + 0.012 L + 4.9 / H): MAPE 4.8% within heritage, 15.7% "
    "across heritages, against 25% for the naive L/2."),
    paper_value="15.7%", paper_test="MAPE (|pred - emp| / L, mean over models)",
    needs="an empirical L* (per-layer multi-head traces) of at least 2 models, with L and H")
def lstar_formula(src: Source, settings) -> Outcome:
    """Hypothesis: L* = L (0.11 + 0.012 L + 4.9 / H) predicts the transition layer better than the naive L/2.
    Unit: model (its empirical L* and the formula's prediction).
    Test: depth-normalised MAPE with a bootstrap CI over models; two-sided Wilcoxon signed-rank test of the
    formula's against the naive errors, paired by model.
    Rule: holds if the formula's errors are significantly smaller; fails if significantly larger or the
    MAPE's CI lies above the stated 15.7%; inconclusive otherwise, and always on the published data.
    """
    if isinstance(src, PublishedSource):
        return _published(src, settings)
    empirical, prompt_set = empirical_l_star(src)
    require(len(empirical) >= 2, f"needs at least 2 models with attention statistics, has {len(empirical)}")
    data = prediction_errors(empirical)
    interval, p, (holds, reason) = _paired_decision(data, settings)
    reason = "; ".join(filter(None, [reason, interval["note"]]))
    mape = bootstrap_ci(data, "formula_error", confidence=settings.confidence,
                        n_resamples=settings.n_resamples, seed=settings.seed).iloc[0]
    if holds != "fails" and mape["ci_low"] > CLAIMED_MAPE:
        holds, reason = "fails", f"{reason}; the MAPE's CI lies above the stated {CLAIMED_MAPE:.1%}"
    outside = data[~data["n_layers"].isin(CALIBRATION_DEPTHS) | ~data["n_heads"].isin(CALIBRATION_HEADS)]
    clamped = data[data["formula_raw"] != data["formula"]]
    true = data["formula_true_error"]
    per_model = ", ".join(f"{m} {e} vs {f:.3g} ({a:.0%} of prompts agree)" for m, e, f, a in
                          zip(data["model"], data["l_star"], data["formula"], data["prompt_agreement"]))
    return Outcome(
        statistic="depth-normalised MAPE |pred - emp| / L of the formula", value=mape["statistic"],
        ci_low=mape["ci_low"], ci_high=mape["ci_high"], p_value=p, n=len(data),
        test=f"{mape['test']} (models); Wilcoxon signed-rank test (two-sided) of formula vs naive L/2 "
             "depth-normalised errors, paired by model",
        holds=holds, comparable=False,
        note=(f"formula minus naive error: {reason}; naive L/2 MAPE {_mape(data, 'naive_error'):.1%}; true MAPE "
              f"{true.mean():.1%} ({true.isna().sum()} model(s) with L* = 0 left out); outside the calibration "
              f"support (L in {CALIBRATION_DEPTHS}, H in {CALIBRATION_HEADS}): {len(outside)} of {len(data)}; "
              f"clamped to L - 1: {', '.join(clamped['model']) or 'none'}; L* vs formula: {per_model}"),
        data=describe(data, f"prompt set {prompt_set}, argmax |gradient| of the prompt-mean multi-head trace; "),
    )
