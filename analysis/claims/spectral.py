"""Section 4.3, the "spectral signature" (Fig. 3), and the Fig. 8 "trace proxy": W_V and W_O norms by lab.

Published data: the restriction-map summary CSV (notebook "CSV", producing code not in the
materials; 7 models): "W_V Mean" = mean over layers of the spectral norm ||W_V||_2 of the FULL
value matrix (all heads, d x d), equal to OPA's ``mean_spectral`` where both exist; for Pythia
(and, by the same slicing, BLOOM) it is the mis-sliced fused-QKV block (rows 2d:3d, methods.md
2.5), for GPT-Neo, OPT and GPT-2 a real value matrix; "W_O Mean" is a norm of unknown kind (no
notebook extracts W_O). The per-layer curves of Fig. 3, A1, A5 and 8 are not stored.

Our data (``heads``): per-head norms, float64, correctly extracted: W_V^h (d_head x d_model, the
KV head that query head h reads), W_O^h (d_model x d_head) and OV^h = W_O^h W_V^h. A per-head
spectral norm is smaller than the full matrix's (||W_V||_2 >= max_h ||W_V^h||_2), so our values are
not on the paper's scale; ratios between labs are comparable. ||W_V|| / ||W_O|| is not invariant
under the reparameterisation W_V -> c W_V, W_O -> W_O / c (same function); ||OV^h|| is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.claims.common import n_for_auc, override, robust_decision, source_note
from analysis.claims.registry import Outcome, claim
from analysis.needs import Dataset, Needs
from analysis.sources import HERITAGE_LAB
from analysis.stats import auc, bootstrap_contrast, decide, logistic_fit, permutation_test

CONTRAST_LAB = "Meta"
BOTH_SIGNS = {"sign": {"dampen": 2, "expand": 2}}


def _group_ratio(data: pd.DataFrame, dv: str, group: str, levels: list, settings) -> pd.Series:
    """Ratio of the two group means of the per-model ``dv``, bootstrap CI (models resampled within group)."""
    return bootstrap_contrast(
        data,
        dv,
        between=group,
        statistic="mean_ratio",
        levels=levels,
        confidence=settings.confidence,
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    ).iloc[0]


def _group_permutation(data: pd.DataFrame, dv: str, group: str, levels: list, settings) -> pd.DataFrame:
    """One-sided permutation test (group a > group b) of the mean log10 ``dv``, labels shuffled across models."""
    return permutation_test(
        data.assign(log_dv=np.log10(data[dv])),
        "log_dv",
        between=group,
        subject="model",
        alternative="greater",
        levels=levels,
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    )


def _group_means(data: pd.DataFrame, dv: str, group: str) -> str:
    means = data.groupby(group)[dv].mean()
    return ", ".join(f"{level} {value:.4g}" for level, value in means.items())


def _ratio_claim(
    data: pd.DataFrame, dv: str, group: str, levels: list, claimed: float, settings, robust: bool
) -> tuple[pd.Series, pd.Series, tuple[str, str]]:
    """Ratio of group means with its CI, the permutation test on log10, and the holds decision
    (checked by leaving one model out when ``robust``)."""
    ratio = _group_ratio(data, dv, group, levels, settings)
    perm = _group_permutation(data, dv, group, levels, settings).iloc[0]
    decision = decide(
        ratio["statistic"],
        ratio["ci_low"],
        ratio["ci_high"],
        perm["p_value"],
        direction="greater",
        claimed=claimed,
        null=1.0,
        alpha=settings.alpha,
    )
    if robust:
        decision = robust_decision(
            decision, data, lambda frame: _group_permutation(frame, dv, group, levels, settings), alpha=settings.alpha
        )
    return ratio, perm, decision


def _cap(decision: tuple[str, str], why: str) -> tuple[str, str]:
    """A 'holds' resting on invalid data becomes 'inconclusive' (said in the note); the invalidity is stated
    either way."""
    if decision[0] == "holds":
        return override(decision, "inconclusive", f"cannot hold: {why}")
    return decision[0], f"{decision[1]}; cannot hold: {why}"


@claim(
    "spectral_wv_lab_ratio",
    section="4.3 Spectral signature",
    statement=("EleutherAI models have about 10x the mean spectral norm of W_V of Meta models (Fig. 3)."),
    paper_value="10x",
    paper_test="none (ratio of means)",
    kind="ratio",
    needs=Needs("weight_norms", groups={"lab": {HERITAGE_LAB: 2, CONTRAST_LAB: 2}}),
)
def spectral_wv_lab_ratio(data: Dataset, settings) -> Outcome:
    """Hypothesis: EleutherAI models have about 10x the mean spectral norm of W_V of Meta models.

    Unit: model (its mean ||W_V||_2 over layers (and heads)).
    Test: ratio of lab means with a bootstrap CI (models resampled within lab); one-sided permutation test
    of log10 norms across models.
    Rule: holds if p < alpha with a ratio > 1 (robust to leaving one model out on our data) and the norms are
    validly extracted; fails if significant the other way, or not significant with the stated 10 outside the
    CI; inconclusive otherwise.
    """
    levels = [HERITAGE_LAB, CONTRAST_LAB]
    valid = data.extras["valid_extraction"]
    frame = data.frame[data.frame["lab"].isin(levels)]
    ratio, perm, (holds, reason) = _ratio_claim(frame, "wv_spectral", "lab", levels, 10.0, settings, robust=valid)
    means = _group_means(frame, "wv_spectral", "lab")
    if not valid:
        invalid = ~frame["valid_wv"]
        good = frame[~invalid]
        good_means = good.groupby("lab")["wv_spectral"].mean()
        opa_means = data.extras["opa"].groupby("lab")["value"].mean()
        holds, reason = _cap(
            (holds, reason),
            f"{', '.join(frame.loc[invalid, 'model'])} are the mis-sliced fused-QKV block, not W_V (methods.md 2.5)",
        )
        note = (
            f"{reason}; {perm['note'] or 'exact permutation'}; full-matrix norms, lab means {means}; "
            f"correctly extracted models only ({', '.join(good['model'])}): ratio "
            f"{good_means.get(HERITAGE_LAB, np.nan) / good_means.get(CONTRAST_LAB, np.nan):.3g} from "
            f"{(good['lab'] == HERITAGE_LAB).sum()} {HERITAGE_LAB} model(s), too few to test; OPA (same "
            f"extraction): {HERITAGE_LAB} / {CONTRAST_LAB} = "
            f"{opa_means.get(HERITAGE_LAB, np.nan) / opa_means.get(CONTRAST_LAB, np.nan):.3g}"
        )
    else:
        ov = _group_ratio(frame, "ov_spectral", "lab", levels, settings)
        wo = _group_ratio(frame, "wo_spectral", "lab", levels, settings)
        note = (
            f"{reason}; per-head norms (smaller than the full matrix's), lab means {means}; the W_V ratio "
            f"changes under W_V -> cW_V, W_O -> W_O/c, the OV norm ||W_O^h W_V^h||_2 does not: OV ratio "
            f"{ov['statistic']:.3g} [{ov['ci_low']:.3g}, {ov['ci_high']:.3g}], W_O ratio {wo['statistic']:.3g} "
            f"[{wo['ci_low']:.3g}, {wo['ci_high']:.3g}]"
        )
    return Outcome(
        statistic=f"ratio of lab means of mean ||W_V||_2, {HERITAGE_LAB} / {CONTRAST_LAB}",
        value=ratio["statistic"],
        ci_low=ratio["ci_low"],
        ci_high=ratio["ci_high"],
        p_value=perm["p_value"],
        n=len(frame),
        test=f"{ratio['test']} (models); {perm['test']} on log10 norms, one-sided",
        holds=holds,
        note="; ".join([note, *source_note(data)]),
        comparable=not valid,
        data=f"{data.label}; {len(frame)} models of {HERITAGE_LAB} and {CONTRAST_LAB} "
        f"({', '.join(sorted(frame['model']))})",
    )


def sign_auc(data: pd.DataFrame, score: str, positive: str, settings) -> pd.Series:
    """AUC of a per-model ``score`` for ``sign == positive``: one-sided Mann-Whitney p (positives score
    higher), stratified bootstrap CI (DeLong's variance is undefined with one model in a class)."""
    return auc(
        data,
        score,
        "sign",
        positive=positive,
        alternative="greater",
        ci="bootstrap",
        confidence=settings.confidence,
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    ).iloc[0]


def auc_sample_size(area: float, settings) -> str:
    """How many models per class the observed AUC, and a strong one (0.8), would need for 80% power."""
    observed, strong = n_for_auc(area, settings.alpha), n_for_auc(0.8, settings.alpha)
    needs = (
        f"about {observed} models per class for an effect the size of the observed one"
        if observed
        else "no effect observed"
    )
    return f"{needs}, {strong} per class for an AUC of 0.8 (80% power, one-sided alpha = {settings.alpha})"


@claim(
    "spectral_ratio_predicts_sign",
    section="4.3 Spectral signature",
    statement=(
        "The spectral signature ||W_V|| / ||W_O|| separates dampening from expanding models (the paper's "
        "third law); the OV norm ||W_O W_V|| is its reparameterisation-invariant counterpart."
    ),
    paper_value=None,
    paper_test="none (the ratio is never used as a predictor)",
    kind="auc",
    needs=Needs("signed_weight_norms", groups=BOTH_SIGNS),
)
def spectral_ratio_predicts_sign(data: Dataset, settings) -> Outcome:
    """Hypothesis: ||W_V|| / ||W_O|| separates dampening from expanding models (higher for dampeners).

    Unit: model (its mean norms and the sign of its mean gain).
    Test: AUC of the ratio for dampening with a bootstrap CI and the one-sided Mann-Whitney p; logistic fit.
    Rule: holds if p < alpha with AUC > 1/2, robust to leaving one model out, and the norms are validly
    extracted; fails if significant the other way; inconclusive otherwise.
    """
    frame = data.frame.assign(ratio=data.frame["wv_spectral"] / data.frame["wo_spectral"])
    frame["log_ratio"] = np.log10(frame["ratio"])
    area = sign_auc(frame, "ratio", "dampen", settings)
    decision = decide(
        area["auc"],
        area["ci_low"],
        area["ci_high"],
        area["p_value"],
        direction="greater",
        null=0.5,
        alpha=settings.alpha,
    )
    holds, reason = robust_decision(
        decision,
        frame,
        lambda rows: auc(rows, "ratio", "sign", positive="dampen", alternative="greater"),
        alpha=settings.alpha,
    )
    fit = logistic_fit(frame, "sign", "log_ratio", positive="dampen", confidence=settings.confidence)
    slope = fit[fit["term"] == "log_ratio"].iloc[0]
    details = [
        f"logistic fit: {slope['estimate']:.3g} log-odds of dampening per log10 ratio (Wald p = "
        f"{slope['p_value']:.3g}){'; ' + fit['note'].iloc[0] if fit['note'].iloc[0] else ''}",
        auc_sample_size(area["auc"], settings),
    ]
    if not data.extras["valid_extraction"]:
        holds, reason = _cap(
            (holds, reason),
            "Pythia's and BLOOM's W_V are the mis-sliced fused-QKV block and the W_O column has no producing code",
        )
    else:
        ov = sign_auc(frame, "ov_spectral", "dampen", settings)
        details.append(
            f"OV norm ||W_O^h W_V^h||_2 (reparameterisation-invariant): AUC {ov['auc']:.3g} "
            f"[{ov['ci_low']:.3g}, {ov['ci_high']:.3g}], p = {ov['p_value']:.3g}"
        )
    per_model = ", ".join(f"{m} {s} {r:.3g}" for m, s, r in zip(frame["model"], frame["sign"], frame["ratio"]))
    return Outcome(
        statistic="AUC of ||W_V|| / ||W_O|| for dampening (P(a dampener's ratio > an expander's))",
        value=area["auc"],
        ci_low=area["ci_low"],
        ci_high=area["ci_high"],
        p_value=area["p_value"],
        n=len(frame),
        test=f"{area['test']}, one-sided, {area['ci_method']} CI; {fit['test'].iloc[0]}",
        holds=holds,
        comparable=False,
        note="; ".join([reason, *details, f"ratios: {per_model}", *source_note(data)]),
    )


@claim(
    "trace_proxy_late_layers",
    section="Fig. 8 trace proxy",
    statement=(
        "The trace proxy ||W_V||_2^2 per layer is about 300x larger for EleutherAI models than for the other "
        "labs in late layers."
    ),
    paper_value="~300x",
    paper_test="none (curves plotted; producing code absent)",
    kind="ratio",
    needs=Needs("late_layer_proxy", groups={"heritage": {HERITAGE_LAB: 2, "other": 2}}),
)
def trace_proxy_late_layers(data: Dataset, settings) -> Outcome:
    """Hypothesis: ||W_V||_2^2 in late layers is about 300x larger for EleutherAI models than for other labs'.

    Unit: model (its late-layer mean of ||W_V||_2^2).
    Test: ratio of group means with a bootstrap CI; one-sided permutation test of log10 values across models.
    Rule: holds if p < alpha with a ratio > 1 and robust to leaving one model out; fails if significant the
    other way, or not significant with the stated 300 outside the CI; inconclusive otherwise, and always
    inconclusive where the per-layer data are absent.
    """
    levels = [HERITAGE_LAB, "other"]
    frame = data.frame
    per_layer = data.extras["per_layer"]
    ratio, perm, (holds, reason) = _ratio_claim(frame, "wv_sq", "heritage", levels, 300.0, settings, robust=per_layer)
    means = _group_means(frame, "wv_sq", "heritage")
    if not per_layer:
        holds, reason = override(
            (holds, reason),
            "inconclusive",
            "the per-layer curves and their code are absent "
            "(the CSV stores layer means only), so these are squared layer means of the "
            "full-matrix norm over all layers, not late layers",
        )
        mis_sliced = frame.loc[~frame["valid_wv"], "model"]
        note = (
            f"{reason}; {', '.join(mis_sliced)} are the mis-sliced fused-QKV block; group means {means}; the only "
            f"stored per-layer norms (RME, pythia-1.4b, mis-sliced) are {data.extras['rme_late_over_early']:.3g}x "
            "larger in its last quarter of layers than in its first"
        )
        statistic = f"ratio of mean (layer-mean ||W_V||_2)^2, {HERITAGE_LAB} / other labs (all layers)"
    else:
        note = (
            f"{reason}; per-head norms, last quarter of layers (layer >= floor(3L/4)); group means {means}; "
            f"lab means {_group_means(frame, 'wv_sq', 'lab')}"
        )
        statistic = f"ratio of mean late-layer ||W_V^h||_2^2, {HERITAGE_LAB} / other labs"
    return Outcome(
        statistic=statistic,
        value=ratio["statistic"],
        ci_low=ratio["ci_low"],
        ci_high=ratio["ci_high"],
        p_value=perm["p_value"],
        n=len(frame),
        test=f"{ratio['test']} (models); {perm['test']} on log10, one-sided",
        holds=holds,
        comparable=False,
        note="; ".join([note, *source_note(data)]),
    )
