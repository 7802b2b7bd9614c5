"""Correlations with confidence intervals: observation level and unit level (per-model means).

Output columns (one row): `test`, `statistic` (= r), `p_value`, `ci_low`, `ci_high`, `n`,
`r`, `method`, `ci_method`, [`n_units`, `n_obs` for `cluster_correlation`], `alternative`, `note`.

Conventions: p-values from scipy (`pearsonr`: exact under bivariate normality; `spearmanr`:
t approximation) with the requested `alternative`; the CI is always two-sided at `confidence`,
whatever the alternative. Pearson's Fisher-z CI is scipy's (`PearsonRResult.confidence_interval`);
Spearman's Fisher-z CI uses the Bonett & Wright (2000) standard error sqrt((1 + r^2/2)/(n - 3)).
For an exact small-n p-value across units use `permutation.permutation_correlation`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from ._common import (
    bootstrap_counts,
    captured_warnings,
    check_alternative,
    complete_cases,
    join_notes,
    percentile_interval,
    result_frame,
    small_n_note,
    unit_level,
)

METHODS = ("pearson", "spearman")
CI_METHODS = ("fisher", "bootstrap")
#: resamples x rows per bootstrap batch
_BATCH_ELEMENTS = 200_000


def _standardise(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / (spread if spread > 0 else 1.0)


def _weighted_pearson(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each weighted resample (weights: resamples x units; x, y: units or resamples x
    units), from weighted moments of the standardised data (no cancellation)."""
    total = weights.sum(axis=-1)
    sx, sy = (weights * x).sum(axis=-1), (weights * y).sum(axis=-1)
    sxx, syy = (weights * x * x).sum(axis=-1), (weights * y * y).sum(axis=-1)
    sxy = (weights * x * y).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total * sxy - sx * sy) / np.sqrt((total * sxx - sx**2) * (total * syy - sy**2))


def _resample_ranks(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Average rank of each unit within each weighted resample (ties share their mean rank)."""
    distinct, group = np.unique(values, return_inverse=True)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(distinct.size))
    per_value = np.add.reduceat(weights[:, order], starts, axis=1)
    below = np.cumsum(per_value, axis=1) - per_value
    return (below + (per_value + 1) / 2)[:, group]


def _constant_in_resample(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """True for each resample (row of `weights`) whose drawn units all have the same value."""
    drawn = weights > 0
    return np.where(drawn, values, np.inf).min(axis=-1) == np.where(drawn, values, -np.inf).max(axis=-1)


def _bootstrap_correlations(
    x: np.ndarray, y: np.ndarray, method: str, n_resamples: int, seed: int | None
) -> np.ndarray:
    """Correlation of `n_resamples` paired resamples of the rows (Spearman: ranks recomputed in
    each resample). Processed in batches that stay in cache. A resample in which `x` or `y` is
    constant has no correlation: NaN (the moment formula would give rounding noise there)."""
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_ELEMENTS // x.size)
    xs, ys = _standardise(x), _standardise(y)
    out = []
    for start in range(0, n_resamples, batch):
        weights = bootstrap_counts(rng, x.size, min(batch, n_resamples - start))
        if method == "spearman":  # ranks centred on their weighted mean (n + 1) / 2
            xs = _resample_ranks(weights, x) - (x.size + 1) / 2
            ys = _resample_ranks(weights, y) - (x.size + 1) / 2
        r = _weighted_pearson(weights, xs, ys)
        r[_constant_in_resample(weights, x) | _constant_in_resample(weights, y)] = np.nan
        out.append(r)
    return np.concatenate(out)


def correlation(
    data: pd.DataFrame,
    x: str,
    y: str,
    method: str = "pearson",
    alternative: str = "two-sided",
    ci: str = "fisher",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """Pearson or Spearman correlation of columns `x` and `y` (rows with a missing value dropped).

    `ci="fisher"`: Fisher-z interval (see module docstring). `ci="bootstrap"`: percentile interval
    from `n_resamples` paired resamples of the rows (`numpy.random.default_rng(seed)`).
    Every row is treated as independent: for repeated measures use `cluster_correlation`.
    """
    check_alternative(alternative)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    data, missing_note = complete_cases(data, [x, y])
    xv, yv = data[x].to_numpy(float), data[y].to_numpy(float)
    n = xv.size
    if n < 4:
        raise ValueError(f"a correlation with a CI needs at least 4 complete pairs, got {n}")

    notes = [missing_note, small_n_note(n, 10, "pairs")]
    with captured_warnings() as warned:
        if method == "pearson":
            result = scipy.stats.pearsonr(xv, yv, alternative=alternative)
            r, p = float(result.statistic), float(result.pvalue)
            fisher = scipy.stats.pearsonr(xv, yv).confidence_interval(confidence)
            ci_low, ci_high = float(fisher.low), float(fisher.high)
        else:
            result = scipy.stats.spearmanr(xv, yv, alternative=alternative)
            r, p = float(result.statistic), float(result.pvalue)
            half_width = scipy.stats.norm.ppf((1 + confidence) / 2) * np.sqrt((1 + r**2 / 2) / (n - 3))
            ci_low, ci_high = np.tanh(np.arctanh(r) + np.array([-half_width, half_width]))
            if len(np.unique(xv)) < n or len(np.unique(yv)) < n:
                notes.append("ties present (average ranks)")
        if ci == "bootstrap":
            distribution = _bootstrap_correlations(xv, yv, method, n_resamples, seed)
            ci_low, ci_high, boot_note = percentile_interval(distribution, confidence)
            notes.append(boot_note)
    notes.extend(warned)
    name = "Pearson correlation" if method == "pearson" else "Spearman rank correlation"
    ci_method = "Fisher z" if ci == "fisher" else f"bootstrap percentile ({n_resamples} resamples)"
    return result_frame(
        {
            "test": name,
            "statistic": r,
            "p_value": p,
            "ci_low": float(ci_low),
            "ci_high": float(ci_high),
            "n": n,
            "r": r,
            "method": method,
            "ci_method": ci_method,
            "alternative": alternative,
            "note": join_notes(notes),
        }
    )


def cluster_correlation(
    data: pd.DataFrame,
    x: str,
    y: str,
    unit: str,
    method: str = "pearson",
    alternative: str = "two-sided",
    ci: str = "fisher",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """Correlation across units: `x` and `y` are first averaged per `unit` (the model).

    Prompts are repeated measures of a model, so the n of the test is the number of units
    (`n` = `n_units`); `n_obs` counts the rows that went into the means. Other arguments as in
    `correlation`.
    """
    data, missing_note = complete_cases(data, [x, y, unit])
    units = unit_level(data, unit, [x, y])
    out = correlation(units, x, y, method, alternative, ci, confidence, n_resamples, seed)
    out["test"] = out["test"] + f" of per-{unit} means"
    out.insert(out.columns.get_loc("ci_method") + 1, "n_units", len(units))
    out.insert(out.columns.get_loc("n_units") + 1, "n_obs", len(data))
    out["note"] = join_notes([missing_note, out.at[0, "note"]])
    return out
