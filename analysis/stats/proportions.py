"""Proportions: Wilson score intervals and Fisher's exact test on an explicit, labelled 2x2 table.

Counts are of units (one row per model), never of prompts.

Output columns
--------------
`wilson_ci`, `group_proportions`: `test`, `statistic` (= proportion k/n), `p_value` (NaN: no test),
`ci_low`, `ci_high`, `n`, [`group`], `k`, `proportion`, `alternative` (NaN), `note`.

`fisher_exact_2x2`: `test`, `statistic` (sample odds ratio (a*d)/(b*c), as
`scipy.stats.fisher_exact` reports it), `p_value`, `ci_low`, `ci_high` (exact conditional CI of the
odds ratio), `n`, `odds_ratio` (conditional maximum-likelihood estimate, the estimate that CI
belongs to), `prop_row1`, `prop_row2` (share of the first column's outcome in each row), `table`
(the table serialised, e.g. "EleutherAI: 4 dampen / 1 expand; other: 2 / 9"), `alternative`, `note`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats
from statsmodels.stats.proportion import proportion_confint

from ._common import check_alternative, complete_cases, join_notes, result_frame, small_n_note


def _wilson_row(k: int, n: int, confidence: float) -> dict:
    if not 0 <= k <= n or n == 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    return {
        "test": f"Wilson score interval ({confidence:.0%})",
        "statistic": k / n,
        "ci_low": float(low),
        "ci_high": float(high),
        "n": int(n),
        "k": int(k),
        "proportion": k / n,
        "note": small_n_note(n, 10),
    }


def wilson_ci(k: int, n: int, confidence: float = 0.95) -> pd.DataFrame:
    """Proportion k/n with its Wilson score interval (statsmodels `proportion_confint`)."""
    return result_frame(_wilson_row(int(k), int(n), confidence))


def group_proportions(
    data: pd.DataFrame, outcome: str, group: str, success=True, confidence: float = 0.95
) -> pd.DataFrame:
    """Share of rows with `outcome == success` in each level of `group`, with Wilson CIs.

    `data` has one row per unit (e.g. per model, `outcome` its sign class). One result row per
    group, in sorted group order, with a `group` column.
    """
    data, missing_note = complete_cases(data, [outcome, group])
    rows = []
    for level, sub in data.groupby(group, sort=True, observed=True):
        row = _wilson_row(int((sub[outcome] == success).sum()), len(sub), confidence)
        row = {"group": level, **row, "note": join_notes([missing_note, row["note"]])}
        rows.append(row)
    return result_frame(rows)


def table_2x2(
    data: pd.DataFrame,
    row: str,
    col: str,
    row_order: list | None = None,
    col_order: list | None = None,
) -> pd.DataFrame:
    """Explicit 2x2 count table of `row` x `col` (one row of `data` per unit), zeros kept.

    `pd.crosstab` silently drops a level nobody has (e.g. no "dampen" among the other labs);
    here both orders are fixed (default: the two sorted levels) and absent cells are 0.
    """
    data, _ = complete_cases(data, [row, col])
    row_order = sorted(data[row].unique()) if row_order is None else list(row_order)
    col_order = sorted(data[col].unique()) if col_order is None else list(col_order)
    if len(row_order) != 2 or len(col_order) != 2:
        raise ValueError(f"need exactly 2 levels each, got rows {row_order} and columns {col_order}")
    unknown = set(data[row]) - set(row_order) | set(data[col]) - set(col_order)
    if unknown:
        raise ValueError(f"levels {sorted(map(str, unknown))} are not in row_order/col_order")
    counts = pd.crosstab(data[row], data[col])
    return counts.reindex(index=row_order, columns=col_order, fill_value=0).astype(int)


def _serialise(table: pd.DataFrame) -> str:
    (a, b), (c, d) = table.to_numpy()
    r1, r2 = table.index
    c1, c2 = table.columns
    return f"{r1}: {a} {c1} / {b} {c2}; {r2}: {c} / {d}"


def fisher_exact_2x2(table: pd.DataFrame, alternative: str = "two-sided", confidence: float = 0.95) -> pd.DataFrame:
    """Fisher's exact test on a labelled 2x2 count table (rows: groups, columns: outcomes).

    p from `scipy.stats.fisher_exact` (two-sided: sum of the probabilities of all tables with the
    same margins that are no more likely than the observed one). `alternative="greater"` tests an
    odds ratio > 1, i.e. the first column's outcome more frequent in the first row. The odds ratio
    and its exact two-sided CI come from `scipy.stats.contingency.odds_ratio(kind="conditional")`,
    which stays finite-bounded on the other side when a cell is 0.
    """
    check_alternative(alternative)
    if not isinstance(table, pd.DataFrame) or table.shape != (2, 2):
        raise ValueError("table must be a 2x2 pandas DataFrame with labelled rows and columns")
    counts = table.to_numpy()
    if not np.issubdtype(counts.dtype, np.number) or (counts < 0).any() or (counts % 1 != 0).any():
        raise ValueError("table must hold non-negative integer counts")
    counts = counts.astype(int)
    fisher = scipy.stats.fisher_exact(counts, alternative=alternative)
    conditional = scipy.stats.contingency.odds_ratio(counts, kind="conditional")
    ci = conditional.confidence_interval(confidence_level=confidence)
    row_totals = counts.sum(axis=1)
    n = int(counts.sum())
    notes = [small_n_note(n, 20, "units")]
    if (counts == 0).any():
        notes.append("a cell is 0: the odds ratio is 0 or infinite, its CI open on one side")
    return result_frame(
        {
            "test": "Fisher's exact test (2x2)",
            "statistic": float(fisher.statistic),
            "p_value": float(fisher.pvalue),
            "ci_low": float(ci.low),
            "ci_high": float(ci.high),
            "n": n,
            "odds_ratio": float(conditional.statistic),
            "prop_row1": counts[0, 0] / row_totals[0] if row_totals[0] else np.nan,
            "prop_row2": counts[1, 0] / row_totals[1] if row_totals[1] else np.nan,
            "table": _serialise(table),
            "alternative": alternative,
            "note": join_notes(notes),
        }
    )
