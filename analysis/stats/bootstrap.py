"""Bootstrap confidence intervals, resampling observations or whole clusters (models).

`bootstrap_ci`: a statistic of one sample. Without `cluster` the rows are resampled. With
`cluster` the unit is the cluster: `dv` is averaged per cluster and the cluster means are
resampled (one-stage cluster bootstrap); `two_stage=True` also resamples the rows (prompts) within
each drawn cluster before averaging, which adds the within-cluster noise once more and so gives a
wider, conservative interval.

`bootstrap_contrast`: a two-group contrast (difference or ratio of means), resampling the units of
each group separately (stratified bootstrap).

Intervals are two-sided. One-sample and one-stage intervals come from `scipy.stats.bootstrap`
(`method="percentile"`, `"basic"` or `"BCa"`); the two-stage interval is a percentile interval.
Resampling uses `numpy.random.default_rng(seed)`.

Output columns (one row)
------------------------
`test`, `statistic` (the estimate on the data), `p_value` (NaN), `ci_low`, `ci_high`, `n`
(resampled units: clusters, else rows), `n_units`, `n_obs`, [`group_a`, `group_b`, `n_a`, `n_b`
for contrasts], `estimate` (what `statistic` is, e.g. "mean of per-model means"), `se` (SD of
the bootstrap distribution), `method`, `n_resamples`, `confidence`, `alternative`, `note`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.stats

from ._common import (
    captured_warnings,
    complete_cases,
    join_notes,
    percentile_interval,
    result_frame,
    small_n_note,
    unit_level,
)

ONE_SAMPLE = {"mean": np.mean, "median": np.median}
TWO_SAMPLE = {
    "mean_difference": lambda a, b, axis=-1: np.mean(a, axis=axis) - np.mean(b, axis=axis),
    "mean_ratio": lambda a, b, axis=-1: np.mean(a, axis=axis) / np.mean(b, axis=axis),
}
METHODS = ("percentile", "basic", "BCa")
#: upper bound on the elements of one two-stage batch (resamples x clusters x rows per cluster)
_BATCH_ELEMENTS = 1_000_000


def _resolve(statistic: str | Callable, table: dict) -> tuple[Callable, str]:
    if callable(statistic):
        return statistic, getattr(statistic, "__name__", "statistic")
    if statistic not in table:
        raise ValueError(f"statistic must be a callable or one of {list(table)}, got {statistic!r}")
    return table[statistic], statistic


def _two_stage_distribution(
    data: pd.DataFrame, dv: str, cluster: str, func: Callable, n_resamples: int, seed: int | None
) -> np.ndarray:
    """Statistic of the cluster means after resampling clusters, then rows within each cluster."""
    groups = [g[dv].to_numpy(float) for _, g in data.groupby(cluster, sort=True, observed=True)]
    sizes = np.array([g.size for g in groups])
    padded = np.full((sizes.size, sizes.max()), np.nan)
    for i, g in enumerate(groups):
        padded[i, : g.size] = g
    positions = np.arange(sizes.max())
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_ELEMENTS // padded.size)
    out = []
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        drawn = rng.integers(0, sizes.size, size=(b, sizes.size))
        drawn_sizes = sizes[drawn][..., None]
        rows = rng.integers(0, drawn_sizes, size=(b, sizes.size, sizes.max()))
        values = np.where(positions < drawn_sizes, padded[drawn[..., None], rows], 0.0)
        out.append(func(values.sum(axis=-1) / drawn_sizes[..., 0], axis=-1))
    return np.concatenate(out)


def bootstrap_ci(
    data: pd.DataFrame,
    dv: str,
    statistic: str | Callable = "mean",
    cluster: str | None = None,
    two_stage: bool = False,
    method: str = "percentile",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """Bootstrap CI of `statistic` ("mean", "median" or a vectorised `f(x, axis=-1)`).

    Without `cluster`, `statistic` is taken over the rows; with `cluster`, over the per-cluster
    means of `dv` (e.g. the mean of the model means), clusters resampled (and rows within them if
    `two_stage`). `method` applies to the one-stage bootstrap; two-stage is percentile only.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if two_stage and (cluster is None or method != "percentile"):
        raise ValueError("two_stage needs a cluster and method='percentile'")
    func, name = _resolve(statistic, ONE_SAMPLE)
    data, missing_note = complete_cases(data, [dv, cluster])
    values = unit_level(data, cluster, [dv])[dv] if cluster else data[dv]
    values = values.to_numpy(float)
    observed = float(func(values, axis=-1))
    notes = [missing_note, small_n_note(values.size, 10, "resampled units")]
    with captured_warnings() as warned:
        if two_stage:
            distribution = _two_stage_distribution(data, dv, cluster, func, n_resamples, seed)
            ci_low, ci_high, nan_note = percentile_interval(distribution, confidence)
            notes.append(nan_note)
        else:
            boot = scipy.stats.bootstrap(
                (values,),
                func,
                vectorized=True,
                method=method,
                n_resamples=n_resamples,
                confidence_level=confidence,
                rng=np.random.default_rng(seed),
            )
            distribution = boot.bootstrap_distribution
            ci_low, ci_high = boot.confidence_interval
    notes.extend(warned)
    if cluster is None:
        scheme, estimate = "rows resampled", f"{name} of {dv}"
    elif two_stage:
        scheme, estimate = f"two-stage: {cluster}s, then rows within {cluster}", f"{name} of per-{cluster} means"
    else:
        scheme, estimate = f"{cluster}s resampled", f"{name} of per-{cluster} means"
    return result_frame(
        {
            "test": f"bootstrap {method} CI ({scheme})",
            "statistic": observed,
            "ci_low": float(ci_low),
            "ci_high": float(ci_high),
            "n": values.size,
            "n_units": values.size,
            "n_obs": len(data),
            "estimate": estimate,
            "se": float(np.nanstd(distribution, ddof=1)),
            "method": method,
            "n_resamples": n_resamples,
            "confidence": confidence,
            "alternative": "two-sided",
            "note": join_notes(notes),
        }
    )


def bootstrap_contrast(
    data: pd.DataFrame,
    dv: str,
    between: str,
    cluster: str | None = None,
    statistic: str | Callable = "mean_difference",
    levels: list | None = None,
    method: str = "percentile",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """Bootstrap CI of a contrast between two groups: "mean_difference" (a - b), "mean_ratio"
    (a / b, e.g. the "10x" spectral-norm claim) or a vectorised `f(a, b, axis=-1)`.

    With `cluster`, the units are the per-cluster means (`between` must be constant within a
    cluster). Units are resampled within each group. `levels` orders the groups (default sorted).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    func, name = _resolve(statistic, TWO_SAMPLE)
    data, missing_note = complete_cases(data, [dv, between, cluster])
    units = unit_level(data, cluster, [dv], constant=[between]) if cluster else data
    levels = sorted(units[between].unique()) if levels is None else list(levels)
    if len(levels) != 2:
        raise ValueError(f"{between!r} must have exactly 2 levels to contrast, got {levels}")
    a = units.loc[units[between] == levels[0], dv].to_numpy(float)
    b = units.loc[units[between] == levels[1], dv].to_numpy(float)
    notes = [missing_note, small_n_note(min(a.size, b.size), 10, "units in a group")]
    with captured_warnings() as warned:
        boot = scipy.stats.bootstrap(
            (a, b),
            func,
            vectorized=True,
            method=method,
            n_resamples=n_resamples,
            confidence_level=confidence,
            rng=np.random.default_rng(seed),
        )
    notes.extend(warned)
    unit_name = f"per-{cluster} means" if cluster else dv
    return result_frame(
        {
            "test": f"bootstrap {method} CI, units resampled within each {between}",
            "statistic": float(func(a, b, axis=-1)),
            "ci_low": float(boot.confidence_interval.low),
            "ci_high": float(boot.confidence_interval.high),
            "n": a.size + b.size,
            "n_units": a.size + b.size,
            "n_obs": len(data),
            "group_a": levels[0],
            "group_b": levels[1],
            "n_a": a.size,
            "n_b": b.size,
            "estimate": f"{name} of {unit_name}, {levels[0]} vs {levels[1]}",
            "se": float(np.nanstd(boot.bootstrap_distribution, ddof=1)),
            "method": method,
            "n_resamples": n_resamples,
            "confidence": confidence,
            "alternative": "two-sided",
            "note": join_notes(notes),
        }
    )
