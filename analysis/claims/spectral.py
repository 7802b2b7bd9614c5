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

from analysis.claims.common import describe, model_signs, n_for_auc, require, robust_decision
from analysis.claims.registry import Outcome, claim
from analysis.sources import HERITAGE_LAB, PublishedSource, Source
from analysis.stats import auc, bootstrap_contrast, decide, logistic_fit, permutation_test

CONTRAST_LAB = "Meta"
# Families whose published "W_V" is rows 2d:3d of the fused QKV (q, k and v rows of the last third
# of the heads), not a value matrix (methods.md 2.5).
MIS_SLICED_FAMILIES = ("gpt_neox", "bloom")
NORMS = ["wv_spectral", "wv_frobenius", "wo_spectral", "wo_frobenius", "ov_spectral", "ov_frobenius"]


def head_norms(src: Source) -> pd.DataFrame:
    """Our sources: per model, the mean over (layer, head) of every per-head norm, with model facts."""
    heads = src.tables["heads"]
    require(not heads.empty, "no per-head weight norms (heads table) in this source")
    means = heads.groupby("model", as_index=False)[NORMS].mean()
    return means.merge(src.models, on="model")


def published_restriction_maps(src: PublishedSource) -> pd.DataFrame:
    """Per model of the restriction-map CSV: ``wv_spectral`` (W_V Mean) and ``wo`` (W_O Mean), with facts."""
    wv = src.get("wv_spectral_mean", notebook="CSV", aggregate="value")[["model", "value"]]
    wo = src.get("wo_mean", notebook="CSV", aggregate="value")[["model", "value"]]
    rows = wv.merge(wo, on="model", suffixes=("_wv", "_wo"))
    rows = rows.rename(columns={"value_wv": "wv_spectral", "value_wo": "wo"})
    require(len(rows) >= 2, "no restriction-map summary (CSV) in the published data")
    return src.with_facts(rows)


def _group_ratio(data: pd.DataFrame, dv: str, group: str, levels: list, settings) -> pd.Series:
    """Ratio of the two group means of the per-model ``dv``, bootstrap CI (models resampled within group)."""
    return bootstrap_contrast(data, dv, between=group, statistic="mean_ratio", levels=levels,
                              confidence=settings.confidence, n_resamples=settings.n_resamples,
                              seed=settings.seed).iloc[0]


def _group_permutation(data: pd.DataFrame, dv: str, group: str, levels: list, settings) -> pd.DataFrame:
    """One-sided permutation test (group a > group b) of the mean log10 ``dv``, labels shuffled across models."""
    return permutation_test(data.assign(log_dv=np.log10(data[dv])), "log_dv", between=group, subject="model",
                            alternative="greater", levels=levels, n_resamples=settings.n_resamples,
                            seed=settings.seed)


def _group_means(data: pd.DataFrame, dv: str, group: str) -> str:
    means = data.groupby(group)[dv].mean()
    return ", ".join(f"{level} {value:.4g}" for level, value in means.items())


def _require_groups(data: pd.DataFrame, group: str, levels: list, minimum: int = 2) -> None:
    counts = data[group].value_counts()
    have = [int(counts.get(level, 0)) for level in levels]
    require(min(have) >= minimum, f"needs at least {minimum} models of each of {' and '.join(map(str, levels))}, "
                                  f"has {' and '.join(map(str, have))}")


def _ratio_claim(data: pd.DataFrame, dv: str, group: str, levels: list, claimed: float, settings,
                 robust: bool) -> tuple[pd.Series, pd.Series, tuple[str, str]]:
    """Ratio of group means with its CI, the permutation test on log10, and the holds decision
    (checked by leaving one model out when ``robust``)."""
    ratio = _group_ratio(data, dv, group, levels, settings)
    perm = _group_permutation(data, dv, group, levels, settings).iloc[0]
    decision = decide(ratio["statistic"], ratio["ci_low"], ratio["ci_high"], perm["p_value"], direction="greater",
                      claimed=claimed, null=1.0, alpha=settings.alpha)
    if robust:
        decision = robust_decision(decision, data, lambda frame: _group_permutation(frame, dv, group, levels, settings),
                                   alpha=settings.alpha)
    return ratio, perm, decision


def _cap(decision: tuple[str, str], why: str) -> tuple[str, str]:
    """A 'holds' resting on invalid data becomes 'inconclusive'; the invalidity is stated either way."""
    holds, reason = decision
    return ("inconclusive" if holds == "holds" else holds), f"{reason}; cannot hold: {why}"


@claim("spectral_wv_lab_ratio", section="4.3 Spectral signature", statement=(
    "EleutherAI models have about 10x the mean spectral norm of W_V of Meta models (Fig. 3)."),
    paper_value="10x", paper_test="none (ratio of means)",
    needs="mean ||W_V||_2 per model for at least 2 EleutherAI and 2 Meta models")
def spectral_wv_lab_ratio(src: Source, settings) -> Outcome:
    """Hypothesis: EleutherAI models have about 10x the mean spectral norm of W_V of Meta models.
    Unit: model (its mean ||W_V||_2 over layers (and heads)).
    Test: ratio of lab means with a bootstrap CI (models resampled within lab); one-sided permutation test
    of log10 norms across models.
    Rule: holds if p < alpha with a ratio > 1 (robust to leaving one model out on our data) and the norms are
    validly extracted; fails if significant the other way, or not significant with the stated 10 outside the
    CI; inconclusive otherwise.
    """
    published = isinstance(src, PublishedSource)
    levels = [HERITAGE_LAB, CONTRAST_LAB]
    data = published_restriction_maps(src) if published else head_norms(src)
    data = data[data["lab"].isin(levels)]
    _require_groups(data, "lab", levels)
    ratio, perm, (holds, reason) = _ratio_claim(data, "wv_spectral", "lab", levels, 10.0, settings,
                                                robust=not published)
    means = _group_means(data, "wv_spectral", "lab")
    if published:
        invalid = data["family"].isin(MIS_SLICED_FAMILIES)
        valid = data[~invalid]
        valid_means = valid.groupby("lab")["wv_spectral"].mean()
        opa = src.with_facts(src.get("wv_spectral_mean", notebook="OPA", aggregate="value"))
        opa_means = opa.groupby("lab")["value"].mean()
        holds, reason = _cap((holds, reason), f"{', '.join(data.loc[invalid, 'model'])} are the mis-sliced "
                                              "fused-QKV block, not W_V (methods.md 2.5)")
        note = (f"{reason}; {perm['note'] or 'exact permutation'}; full-matrix norms, lab means {means}; "
                f"correctly extracted models only ({', '.join(valid['model'])}): ratio "
                f"{valid_means.get(HERITAGE_LAB, np.nan) / valid_means.get(CONTRAST_LAB, np.nan):.3g} from "
                f"{(valid['lab'] == HERITAGE_LAB).sum()} {HERITAGE_LAB} model(s), too few to test; OPA (same "
                f"extraction): {HERITAGE_LAB} / {CONTRAST_LAB} = "
                f"{opa_means.get(HERITAGE_LAB, np.nan) / opa_means.get(CONTRAST_LAB, np.nan):.3g}")
        data_text = describe(data, "restriction-map CSV 'W_V Mean' (mean over layers of the full-matrix ||W_V||_2); ")
    else:
        ov = _group_ratio(data, "ov_spectral", "lab", levels, settings)
        wo = _group_ratio(data, "wo_spectral", "lab", levels, settings)
        note = (f"{reason}; per-head norms (smaller than the full matrix's), lab means {means}; the W_V ratio "
                f"changes under W_V -> cW_V, W_O -> W_O/c, the OV norm ||W_O^h W_V^h||_2 does not: OV ratio "
                f"{ov['statistic']:.3g} [{ov['ci_low']:.3g}, {ov['ci_high']:.3g}], W_O ratio {wo['statistic']:.3g} "
                f"[{wo['ci_low']:.3g}, {wo['ci_high']:.3g}]")
        data_text = describe(data, "per-model mean over layers and heads of the per-head ||W_V^h||_2; ")
    return Outcome(
        statistic=f"ratio of lab means of mean ||W_V||_2, {HERITAGE_LAB} / {CONTRAST_LAB}", value=ratio["statistic"],
        ci_low=ratio["ci_low"], ci_high=ratio["ci_high"], p_value=perm["p_value"], n=len(data),
        test=f"{ratio['test']} (models); {perm['test']} on log10 norms, one-sided",
        holds=holds, note=note, data=data_text, comparable=published,
    )


def sign_auc(data: pd.DataFrame, score: str, positive: str, settings) -> pd.Series:
    """AUC of a per-model ``score`` for ``sign == positive``: one-sided Mann-Whitney p (positives score
    higher), stratified bootstrap CI (DeLong's variance is undefined with one model in a class)."""
    return auc(data, score, "sign", positive=positive, alternative="greater", ci="bootstrap",
               confidence=settings.confidence, n_resamples=settings.n_resamples, seed=settings.seed).iloc[0]


def signed_models(src: Source, per_model: pd.DataFrame, minimum: int = 2) -> pd.DataFrame:
    """``per_model`` rows with the model's gain, dampen/expand sign and the gain's ``notebook``
    (``model_signs``; None for our canonical gain); at least ``minimum`` models of each sign."""
    data = per_model.merge(model_signs(src)[["model", "gain", "sign", "notebook"]], on="model")
    counts = data["sign"].value_counts()
    gains = ", ".join(f"{m} {g:.3f}" for m, g in zip(data["model"], data["gain"]))
    require(min(counts.get("dampen", 0), counts.get("expand", 0)) >= minimum,
            f"needs at least {minimum} dampening and {minimum} expanding models, has {counts.get('dampen', 0)} "
            f"dampening and {counts.get('expand', 0)} expanding (gains: {gains or 'none'})")
    return data


def sign_sources(data: pd.DataFrame) -> str:
    """Where the signs came from: the notebooks of published gains, else our canonical gain."""
    notebooks = sorted(data["notebook"].dropna().unique())
    return f"gain signs from {', '.join(notebooks)}" if notebooks else "canonical last-block gain signs"


def auc_sample_size(area: float, settings) -> str:
    """How many models per class the observed AUC, and a strong one (0.8), would need for 80% power."""
    observed, strong = n_for_auc(area, settings.alpha), n_for_auc(0.8, settings.alpha)
    needs = f"about {observed} models per class for an effect the size of the observed one" if observed \
        else "no effect observed"
    return f"{needs}, {strong} per class for an AUC of 0.8 (80% power, one-sided alpha = {settings.alpha})"


@claim("spectral_ratio_predicts_sign", section="4.3 Spectral signature", statement=(
    "The spectral signature ||W_V|| / ||W_O|| separates dampening from expanding models (the paper's "
    "third law); the OV norm ||W_O W_V|| is its reparameterisation-invariant counterpart."),
    paper_value=None, paper_test="none (the ratio is never used as a predictor)",
    needs="W_V and W_O norms and the gain sign of at least 2 dampening and 2 expanding models")
def spectral_ratio_predicts_sign(src: Source, settings) -> Outcome:
    """Hypothesis: ||W_V|| / ||W_O|| separates dampening from expanding models (higher for dampeners).
    Unit: model (its mean norms and the sign of its mean gain).
    Test: AUC of the ratio for dampening with a bootstrap CI and the one-sided Mann-Whitney p; logistic fit.
    Rule: holds if p < alpha with AUC > 1/2, robust to leaving one model out, and the norms are validly
    extracted; fails if significant the other way; inconclusive otherwise.
    """
    published = isinstance(src, PublishedSource)
    if published:
        norms = published_restriction_maps(src).assign(ratio=lambda d: d["wv_spectral"] / d["wo"])
    else:
        norms = head_norms(src).assign(ratio=lambda d: d["wv_spectral"] / d["wo_spectral"])
    data = signed_models(src, norms)
    data["log_ratio"] = np.log10(data["ratio"])
    area = sign_auc(data, "ratio", "dampen", settings)
    decision = decide(area["auc"], area["ci_low"], area["ci_high"], area["p_value"], direction="greater",
                      null=0.5, alpha=settings.alpha)
    holds, reason = robust_decision(decision, data, lambda frame: auc(frame, "ratio", "sign", positive="dampen",
                                                                      alternative="greater"), alpha=settings.alpha)
    fit = logistic_fit(data, "sign", "log_ratio", positive="dampen", confidence=settings.confidence)
    slope = fit[fit["term"] == "log_ratio"].iloc[0]
    details = [f"logistic fit: {slope['estimate']:.3g} log-odds of dampening per log10 ratio (Wald p = "
               f"{slope['p_value']:.3g}){'; ' + fit['note'].iloc[0] if fit['note'].iloc[0] else ''}",
               auc_sample_size(area["auc"], settings)]
    if published:
        holds, reason = _cap((holds, reason), "Pythia's and BLOOM's W_V are the mis-sliced fused-QKV block and "
                                              "the W_O column has no producing code")
        data_text = describe(data, f"restriction-map CSV 'W_V Mean' / 'W_O Mean'; {sign_sources(data)}; ")
    else:
        ov = sign_auc(data, "ov_spectral", "dampen", settings)
        details.append(f"OV norm ||W_O^h W_V^h||_2 (reparameterisation-invariant): AUC {ov['auc']:.3g} "
                       f"[{ov['ci_low']:.3g}, {ov['ci_high']:.3g}], p = {ov['p_value']:.3g}")
        data_text = describe(data, f"mean per-head ||W_V^h||_2 / mean ||W_O^h||_2; {sign_sources(data)}; ")
    per_model = ", ".join(f"{m} {s} {r:.3g}" for m, s, r in zip(data["model"], data["sign"], data["ratio"]))
    return Outcome(
        statistic="AUC of ||W_V|| / ||W_O|| for dampening (P(a dampener's ratio > an expander's))",
        value=area["auc"], ci_low=area["ci_low"], ci_high=area["ci_high"], p_value=area["p_value"], n=len(data),
        test=f"{area['test']}, one-sided, {area['ci_method']} CI; {fit['test'].iloc[0]}",
        holds=holds, comparable=False, note="; ".join([reason, *details, f"ratios: {per_model}"]), data=data_text,
    )


def late_layer_proxy(src: Source) -> pd.DataFrame:
    """Our sources: per model, the mean over the last quarter of layers (layer >= floor(3L/4)) of the
    per-layer mean over heads of ||W_V^h||_2^2, with model facts."""
    heads = src.tables["heads"]
    require(not heads.empty, "no per-head weight norms (heads table) in this source")
    per_layer = (heads.assign(wv_sq=heads["wv_spectral"] ** 2)
                 .groupby(["model", "layer"], as_index=False)["wv_sq"].mean().merge(src.models, on="model"))
    late = per_layer[per_layer["layer"] >= np.floor(0.75 * per_layer["n_layers"])]
    return late.groupby("model", as_index=False)["wv_sq"].mean().merge(src.models, on="model")


def _rme_late_over_early(src: PublishedSource) -> float:
    """RME's per-layer ||W_V||_2^2 (pythia-1.4b, mis-sliced): last-quarter mean / first-quarter mean."""
    rme = src.get("wv_spectral", notebook="RME", aggregate="value")
    n_layers = rme["layer"].max() + 1
    squared = rme["value"] ** 2
    return squared[rme["layer"] >= np.floor(0.75 * n_layers)].mean() / squared[rme["layer"] < n_layers / 4].mean()


@claim("trace_proxy_late_layers", section="Fig. 8 trace proxy", statement=(
    "The trace proxy ||W_V||_2^2 per layer is about 300x larger for EleutherAI models than for the other "
    "labs in late layers."),
    paper_value="~300x", paper_test="none (curves plotted; producing code absent)",
    needs="per-layer W_V spectral norms of at least 2 EleutherAI models and 2 from other labs")
def trace_proxy_late_layers(src: Source, settings) -> Outcome:
    """Hypothesis: ||W_V||_2^2 in late layers is about 300x larger for EleutherAI models than for other labs'.
    Unit: model (its late-layer mean of ||W_V||_2^2).
    Test: ratio of group means with a bootstrap CI; one-sided permutation test of log10 values across models.
    Rule: holds if p < alpha with a ratio > 1 and robust to leaving one model out; fails if significant the
    other way, or not significant with the stated 300 outside the CI; inconclusive otherwise, and always
    inconclusive where the per-layer data are absent.
    """
    levels = [HERITAGE_LAB, "other"]
    published = isinstance(src, PublishedSource)
    if published:
        data = published_restriction_maps(src).assign(wv_sq=lambda d: d["wv_spectral"] ** 2)
    else:
        data = late_layer_proxy(src)
    _require_groups(data, "heritage", levels)
    ratio, perm, (holds, reason) = _ratio_claim(data, "wv_sq", "heritage", levels, 300.0, settings,
                                                robust=not published)
    means = _group_means(data, "wv_sq", "heritage")
    if published:
        holds = "inconclusive"
        mis_sliced = data.loc[data["family"].isin(MIS_SLICED_FAMILIES), "model"]
        note = (f"{reason}; cannot decide: the per-layer curves and their code are absent (OPA stores layer means "
                "only), so these are squared layer means of the full-matrix norm over all layers, not late layers; "
                f"{', '.join(mis_sliced)} are the mis-sliced fused-QKV block; group means {means}; the only stored "
                f"per-layer norms (RME, pythia-1.4b, mis-sliced) are {_rme_late_over_early(src):.3g}x larger in its "
                "last quarter of layers than in its first")
        statistic = f"ratio of mean (layer-mean ||W_V||_2)^2, {HERITAGE_LAB} / other labs (all layers)"
        data_text = describe(data, "restriction-map CSV 'W_V Mean' squared; ")
    else:
        note = (f"{reason}; per-head norms, last quarter of layers (layer >= floor(3L/4)); group means {means}; "
                f"lab means {_group_means(data, 'wv_sq', 'lab')}")
        statistic = f"ratio of mean late-layer ||W_V^h||_2^2, {HERITAGE_LAB} / other labs"
        data_text = describe(data, "per-layer mean over heads of ||W_V^h||_2^2, mean over the last quarter of layers; ")
    return Outcome(
        statistic=statistic, value=ratio["statistic"], ci_low=ratio["ci_low"], ci_high=ratio["ci_high"],
        p_value=perm["p_value"], n=len(data), test=f"{ratio['test']} (models); {perm['test']} on log10, one-sided",
        holds=holds, comparable=False, note=note, data=data_text,
    )
