"""One-sample and paired location tests: Student t (with Cohen's d) and Wilcoxon signed-rank.

One-sided tests use scipy's `alternative=` ("greater": mean > mu, or a > b when paired), never a
halved two-sided p. Confidence intervals are two-sided at `confidence` whatever the alternative.

Cohen's d = (mean - mu) / SD (ddof = 1); paired: d_z = mean(a - b) / SD(a - b). Its CI inverts
the noncentral t distribution of t = d sqrt(n) (exact under normality, fine for n = 3..25).
Wilcoxon: `scipy.stats.wilcoxon`, method "auto" (exact null distribution for n <= 50 without
ties; with ties exhaustive permutations for n <= 13, else the normal approximation), zero
differences dropped ("wilcox"); effect size = matched-pairs rank-biserial correlation
(T+ - T-) / (T+ + T-).

Output columns (one row)
------------------------
`test`, `statistic` (t or Wilcoxon T), `p_value`, `ci_low`, `ci_high` (t: CI of the mean, or of
the mean difference a - b; Wilcoxon: NaN, see `bootstrap.bootstrap_ci(statistic="median")`), `n`,
[`n_units`, `n_obs` when `unit` is given], `mean` (or `mean_a`, `mean_b`, `mean_difference`),
`mu`, t only: `df`, `cohen_d`, `cohen_d_ci_low`, `cohen_d_ci_high`; Wilcoxon only:
`rank_biserial`; `alternative`, `note`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.stats

from ._common import check_alternative, complete_cases, join_notes, result_frame, small_n_note, unit_level

METHODS = ("t", "wilcoxon")


def _cohen_d_ci(t: float, df: int, n: int, confidence: float) -> tuple[float, float]:
    """CI of d = t / sqrt(n): the noncentrality parameters with t at the (1 +- confidence)/2
    quantile of the noncentral t, divided by sqrt(n)."""
    if not np.isfinite(t) or df < 1:
        return np.nan, np.nan

    def cdf(ncp: float) -> float:
        # scipy's nct.cdf is NaN for some noncentralities of the sign opposite to t (e.g. t = 8,
        # df = 9, ncp in [-11.8, -6.4]), where the cdf is 1 or 0 to double precision; its sf is not
        value = scipy.stats.nct.cdf(t, df, ncp)
        return value if np.isfinite(value) else 1.0 - scipy.stats.nct.sf(t, df, ncp)

    def solve(tail: float) -> float:
        def gap(ncp: float) -> float:
            return cdf(ncp) - tail

        width = 10.0 + abs(t)
        while gap(t - width) < 0 or gap(t + width) > 0:
            width *= 2
        return scipy.optimize.brentq(gap, t - width, t + width, xtol=1e-10)

    try:
        low, high = solve((1 + confidence) / 2), solve((1 - confidence) / 2)
    except ValueError:  # the noncentral t cdf is not computable this far out (|t| in the hundreds)
        return np.nan, np.nan
    return low / np.sqrt(n), high / np.sqrt(n)


def _location_row(diff: np.ndarray, method: str, alternative: str, confidence: float) -> dict:
    """Test of H0: the centre of `diff` is 0 (diff = x - mu, or a - b)."""
    n = diff.size
    notes = [small_n_note(n, 10, "values")]
    if method == "t":
        if n < 2:
            raise ValueError("a t-test needs at least 2 values")
        test = scipy.stats.ttest_1samp(diff, 0.0, alternative=alternative)
        ci = scipy.stats.ttest_1samp(diff, 0.0).confidence_interval(confidence)
        d = diff.mean() / diff.std(ddof=1)
        d_low, d_high = _cohen_d_ci(float(test.statistic), n - 1, n, confidence)
        return {
            "statistic": float(test.statistic),
            "p_value": float(test.pvalue),
            "ci_low": float(ci.low),
            "ci_high": float(ci.high),
            "n": n,
            "df": int(test.df),
            "cohen_d": float(d),
            "cohen_d_ci_low": d_low,
            "cohen_d_ci_high": d_high,
            "note": join_notes(notes),
        }
    nonzero = diff[diff != 0]
    if nonzero.size == 0:
        raise ValueError("every difference is 0: the Wilcoxon test is undefined")
    if nonzero.size < n:
        notes.append(f"{n - nonzero.size} zero difference(s) dropped")
    if np.unique(np.abs(nonzero)).size < nonzero.size:
        method_used = "exhaustive permutation" if nonzero.size <= 13 else "normal approximation"
        notes.append(f"tied |differences|: p by {method_used}")
    test = scipy.stats.wilcoxon(nonzero, alternative=alternative)
    ranks = scipy.stats.rankdata(np.abs(nonzero))
    rank_biserial = (ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum()
    return {
        "statistic": float(test.statistic),
        "p_value": float(test.pvalue),
        "n": n,
        "rank_biserial": float(rank_biserial),
        "note": join_notes(notes),
    }


def one_sample(
    data: pd.DataFrame,
    dv: str,
    mu: float = 0.0,
    unit: str | None = None,
    method: str = "t",
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One-sample test of H0: centre of `dv` = `mu` (e.g. mean gain = 1).

    With `unit`, `dv` is averaged per unit first and the units are the sample (prompts are
    repeated measures). `method="t"`: `scipy.stats.ttest_1samp`; `"wilcoxon"`: signed-rank test of
    dv - mu.
    """
    check_alternative(alternative)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    data, missing_note = complete_cases(data, [dv, unit])
    values = (unit_level(data, unit, [dv]) if unit else data)[dv].to_numpy(float)
    row = _location_row(values - mu, method, alternative, confidence)
    if method == "t":
        row["ci_low"] += mu
        row["ci_high"] += mu
    name = "one-sample t-test" if method == "t" else "Wilcoxon signed-rank test"
    of_what = f" on per-{unit} means" if unit else ""
    sizes = {"n_units": values.size, "n_obs": len(data)} if unit else {}
    return result_frame(
        {
            "test": f"{name} (H0: centre of {dv} = {mu:g}){of_what}",
            **sizes,
            "mean": float(values.mean()),
            "mu": mu,
            **row,
            "note": join_notes([missing_note, row["note"]]),
            "alternative": alternative,
        }
    )


def paired(
    data: pd.DataFrame,
    dv: str,
    within: str,
    subject: str,
    order: list | None = None,
    method: str = "t",
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Paired test of a vs b, the two levels of `within` (e.g. base vs instruct), paired by `subject`
    (e.g. prompt).

    `order` = [a, b] (default: sorted levels); differences are a - b and "greater" tests a > b.
    Subjects without both measurements are dropped (noted). `method="t"`: one-sample t-test of
    a - b, identical to `scipy.stats.ttest_rel(a, b)` (mean difference CI, d_z); `"wilcoxon"`:
    signed-rank test of a - b.
    """
    check_alternative(alternative)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    data, missing_note = complete_cases(data, [dv, within, subject])
    order = sorted(data[within].unique()) if order is None else list(order)
    if len(order) != 2 or not set(data[within]) <= set(order):
        raise ValueError(f"{within!r} must have exactly the 2 levels {order}")
    wide = data.pivot_table(index=subject, columns=within, values=dv, aggfunc="mean", observed=True)
    complete = wide.reindex(columns=order).dropna()
    notes = [missing_note]
    if len(complete) < len(wide):
        notes.append(f"{len(wide) - len(complete)} unpaired {subject}(s) dropped")
    a, b = complete[order[0]].to_numpy(float), complete[order[1]].to_numpy(float)
    row = _location_row(a - b, method, alternative, confidence)
    name = "paired t-test" if method == "t" else "Wilcoxon signed-rank test (paired)"
    return result_frame(
        {
            "test": f"{name}: {order[0]} - {order[1]} by {subject}",
            "mean_a": float(a.mean()),
            "mean_b": float(b.mean()),
            "mean_difference": float((a - b).mean()),
            **row,
            "note": join_notes([*notes, row["note"]]),
            "alternative": alternative,
        }
    )
