"""Permutation tests across units (models): the label is shuffled between models, never prompts.

`permutation_test` compares two groups of units (e.g. EleutherAI vs other labs): `dv` is first
averaged to one value per `subject` (model), then the `between` label is reassigned across
subjects, optionally only within `strata` (e.g. within families). `permutation_correlation`
shuffles `y` against `x` across units.

Both enumerate every distinct relabelling when there are at most `n_resamples` of them (exact
p = share of relabellings at least as extreme, observed included); otherwise they draw
`n_resamples` random relabellings with `numpy.random.default_rng(seed)` and use
p = (count + 1) / (n_resamples + 1). Two-sided p = P(|T| >= |t_obs|) (both nulls are centred at 0).

Output columns (one row)
------------------------
`permutation_test`: `test`, `statistic` (the observed statistic), `p_value`, `ci_low`, `ci_high`
(NaN: use `bootstrap.bootstrap_contrast` for a CI), `n` (= `n_units`), `n_units`, `n_obs`,
`group_a`, `group_b`, `n_a`, `n_b`, `mean_a`, `mean_b`, `mean_difference` (a - b, in units of
`dv`), `exact`, `n_relabellings`, `min_attainable_p`, `alternative`, `note`.

`permutation_correlation`: `test`, `statistic` (= r), `p_value`, `ci_low`, `ci_high` (NaN: see
`correlation`), `n` (= `n_units`), `r`, `method`, `n_units`, `n_obs`, `exact`, `n_relabellings`,
`min_attainable_p`, `alternative`, `note`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import scipy.stats

from ._common import (
    check_alternative,
    complete_cases,
    join_notes,
    resampling_p,
    result_frame,
    unit_level,
)

STATISTICS = ("mean_difference", "welch_t")


def _group_relabellings(
    in_a: np.ndarray, strata: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """Boolean matrix (relabellings x units): True where a unit is labelled group a.

    Labels move only within a stratum. All distinct relabellings when there are at most
    `n_resamples` of them (exact), otherwise `n_resamples` random ones.
    """
    levels = np.unique(strata)
    members = [np.flatnonzero(strata == s) for s in levels]
    n_distinct = math.prod(math.comb(len(m), int(in_a[m].sum())) for m in members)
    if n_distinct <= n_resamples:
        per_stratum = [list(itertools.combinations(m, int(in_a[m].sum()))) for m in members]
        labels = np.zeros((n_distinct, in_a.size), dtype=bool)
        for row, choice in enumerate(itertools.product(*per_stratum)):
            labels[row, list(itertools.chain.from_iterable(choice))] = True
        return labels, True
    labels = np.empty((n_resamples, in_a.size), dtype=bool)
    for m in members:
        labels[:, m] = rng.permuted(np.tile(in_a[m], (n_resamples, 1)), axis=1)
    return labels, False


def _two_group_statistic(labels: np.ndarray, x: np.ndarray, statistic: str) -> np.ndarray:
    """Statistic of group a vs group b for each row of `labels` (vectorised)."""
    weights = labels.astype(float)
    n_a = weights.sum(axis=1)
    n_b = x.size - n_a
    sum_a = weights @ x
    mean_a = sum_a / n_a
    mean_b = (x.sum() - sum_a) / n_b
    if statistic == "mean_difference":
        return mean_a - mean_b
    with np.errstate(invalid="ignore", divide="ignore"):  # a 1-unit group: NaN; no variance at all: NaN or inf
        sq_a = weights @ x**2
        var_a = (sq_a - n_a * mean_a**2) / (n_a - 1)
        var_b = ((x**2).sum() - sq_a - n_b * mean_b**2) / (n_b - 1)
        return (mean_a - mean_b) / np.sqrt(var_a / n_a + var_b / n_b)


def _min_attainable_p(null: np.ndarray, alternative: str, exact: bool) -> float:
    """The smallest p the null allows: an observed statistic beyond every Monte Carlo draw gets
    1 / (N + 1); in an exact enumeration the observed labelling is one of the most extreme ones
    (relabellings with an undefined statistic, NaN, are never extreme; NaN if all are)."""
    if not exact:
        return 1 / (null.size + 1)
    defined = null[~np.isnan(null)]
    if defined.size == 0:
        return np.nan
    extreme = {"greater": defined.max(), "less": defined.min()}.get(alternative, np.abs(defined).max())
    return resampling_p(null, float(extreme), alternative, exact)


def permutation_test(
    data: pd.DataFrame,
    dv: str,
    between: str,
    subject: str,
    statistic: str = "mean_difference",
    alternative: str = "two-sided",
    strata: str | None = None,
    levels: list | None = None,
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """Two-group permutation test with the subject (model) as the unit.

    `dv` is averaged per `subject`; `between` (and `strata`) must be constant within a subject.
    `levels` fixes which level is group a (default: the two sorted levels); the statistic is
    a - b: `"mean_difference"` (difference of the group means of the subject means, units of
    `dv`) or `"welch_t"` (Welch's t of the same, robust to unequal variances). "greater" tests
    a > b.
    """
    check_alternative(alternative)
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    data, missing_note = complete_cases(data, [dv, between, subject, strata])
    constant = [between] + ([strata] if strata else [])
    units = unit_level(data, subject, [dv], constant=constant)
    levels = sorted(units[between].unique()) if levels is None else list(levels)
    if len(levels) != 2 or not set(units[between]) <= set(levels):
        raise ValueError(f"{between!r} must have exactly the 2 levels {levels}")
    in_a = (units[between] == levels[0]).to_numpy()
    x = units[dv].to_numpy(float)
    strata_codes = pd.factorize(units[strata])[0] if strata else np.zeros(x.size, dtype=int)

    labels, exact = _group_relabellings(in_a, strata_codes, n_resamples, np.random.default_rng(seed))
    null = _two_group_statistic(labels, x, statistic)
    observed = float(_two_group_statistic(in_a[None, :], x, statistic)[0])
    # an undefined statistic (welch_t of a 1-unit group, or of units all equal) has no p-value
    p = np.nan if np.isnan(observed) else resampling_p(null, observed, alternative, exact)
    min_p = _min_attainable_p(null, alternative, exact)

    notes = [missing_note]
    if min_p > 0.05:
        notes.append(f"only {null.size} distinct relabellings: p cannot go below {min_p:.3g}")
    if statistic == "welch_t" and min(in_a.sum(), (~in_a).sum()) < 2:
        notes.append("welch_t needs at least 2 units per group")
    kind = "exact" if exact else "Monte Carlo"
    within = f" within {strata}" if strata else ""
    mean_a, mean_b = x[in_a].mean(), x[~in_a].mean()
    return result_frame(
        {
            "test": f"permutation test ({kind}): {statistic} of per-{subject} means, "
            f"{between} shuffled across {subject}s{within}",
            "statistic": observed,
            "p_value": p,
            "n": x.size,
            "n_units": x.size,
            "n_obs": len(data),
            "group_a": levels[0],
            "group_b": levels[1],
            "n_a": int(in_a.sum()),
            "n_b": int((~in_a).sum()),
            "mean_a": mean_a,
            "mean_b": mean_b,
            "mean_difference": mean_a - mean_b,
            "exact": exact,
            "n_relabellings": null.size,
            "min_attainable_p": min_p,
            "alternative": alternative,
            "note": join_notes(notes),
        }
    )


def permutation_correlation(
    data: pd.DataFrame,
    x: str,
    y: str,
    unit: str | None = None,
    method: str = "pearson",
    alternative: str = "two-sided",
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """Permutation test of a Pearson or Spearman correlation across units.

    With `unit`, `x` and `y` are first averaged per unit; without it every row is a unit. `y` is
    permuted against `x`: exact over all n! orderings when n! <= `n_resamples`. Spearman is the
    Pearson correlation of the (average) ranks, so the same null applies.
    """
    check_alternative(alternative)
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    data, missing_note = complete_cases(data, [x, y, unit])
    units = unit_level(data, unit, [x, y]) if unit else data
    xv, yv = units[x].to_numpy(float), units[y].to_numpy(float)
    if method == "spearman":
        xv, yv = scipy.stats.rankdata(xv), scipy.stats.rankdata(yv)
    n = xv.size
    if n < 3:
        raise ValueError(f"need at least 3 units, got {n}")

    exact = math.factorial(n) <= n_resamples
    if exact:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(seed)
        orders = rng.permuted(np.tile(np.arange(n), (n_resamples, 1)), axis=1)
    xc, yc = xv - xv.mean(), yv - yv.mean()
    scale = np.sqrt((xc**2).sum() * (yc**2).sum())
    null = yc[orders] @ xc / scale
    observed = float(yc @ xc / scale)
    p = resampling_p(null, observed, alternative, exact)
    min_p = _min_attainable_p(null, alternative, exact)

    notes = [missing_note]
    if min_p > 0.05:
        notes.append(f"only {null.size} distinct orderings: p cannot go below {min_p:.3g}")
    kind = "exact" if exact else "Monte Carlo"
    of_what = f" of per-{unit} means" if unit else ""
    return result_frame(
        {
            "test": f"permutation test ({kind}) of the {method.capitalize()} correlation{of_what}",
            "statistic": observed,
            "p_value": p,
            "n": n,
            "r": observed,
            "method": method,
            "n_units": n,
            "n_obs": len(data),
            "exact": exact,
            "n_relabellings": null.size,
            "min_attainable_p": min_p,
            "alternative": alternative,
            "note": join_notes(notes),
        }
    )
