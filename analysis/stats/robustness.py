"""Robustness of a conclusion: leave one unit out, and the stability of an ordering of means.

Output columns (one row)
------------------------
`leave_one_out`: `test`, `statistic` (the value on all units), `p_value` (on all units, NaN if the
function gives none), `ci_low`, `ci_high` (NaN), `n` (= `n_units`), `conclusion` (on all units),
`loo_min`, `loo_max`, `unit_at_min`, `unit_at_max`, `flips` (True if leaving out a single unit
changes the conclusion), `flipping_units`, `by_unit` ("unit: value (p = ...)" for each left-out
unit), `alternative`, `note`.

`order_robustness`: `test`, `statistic` (share of bootstrap resamples in which the group means keep
the observed order), `p_value`, `ci_low`, `ci_high` (NaN), `n` (= blocks), `order` (observed,
ascending, "a < b < c"), `weakest_pair`, `weakest_pair_share` (the adjacent pair of the observed
order most often reversed, and the share of resamples keeping it), `expected_order`,
`matches_expected`, `expected_share` (share of resamples in the expected order), `n_groups`,
`n_resamples`, `alternative`, `note`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np
import pandas as pd

from ._common import bootstrap_counts, check_columns, complete_blocks, join_notes, result_frame, small_n_note


def _read(result: pd.DataFrame | float, value: str) -> tuple[float, float]:
    """(value, p) from a result frame of this library (first row) or from a bare number."""
    if isinstance(result, pd.DataFrame):
        row = result.iloc[0]
        return float(row[value]), float(row.get("p_value", np.nan))
    return float(result), np.nan


def significance_conclusion(value: float, p: float, alpha: float = 0.05) -> str:
    """Default conclusion: "significant positive/negative" or "not significant"; the sign of the
    value when there is no p-value."""
    sign = "positive" if value > 0 else "negative" if value < 0 else "zero"
    if np.isnan(p):
        return sign
    return f"significant {sign}" if p < alpha else "not significant"


def leave_one_out(
    data: pd.DataFrame,
    unit: str,
    func: Callable[[pd.DataFrame], pd.DataFrame | float],
    value: str = "statistic",
    conclusion: Callable[[float, float], Hashable] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Recompute `func(data)` leaving out each level of `unit` (model) in turn.

    `func` returns a result frame of this library (its `value` column and `p_value` are read from
    the first row) or a number. `conclusion(value, p)` maps a result to a label; by default
    `significance_conclusion` at `alpha`. Reports the range of the values and whether any single
    unit flips the conclusion.
    """
    check_columns(data, [unit])
    conclude = conclusion or (lambda v, p: significance_conclusion(v, p, alpha))
    full_value, full_p = _read(func(data), value)
    full_conclusion = conclude(full_value, full_p)
    units = sorted(data[unit].dropna().unique())
    rows = []
    for left_out in units:
        v, p = _read(func(data[data[unit] != left_out]), value)
        rows.append((left_out, v, p, conclude(v, p)))
    table = pd.DataFrame(rows, columns=["unit", "value", "p", "conclusion"])
    flipping = table.loc[table["conclusion"] != full_conclusion, "unit"].astype(str).tolist()
    at_min, at_max = table["value"].idxmin(), table["value"].idxmax()
    by_unit = "; ".join(f"{u}: {v:.4g}" + ("" if np.isnan(p) else f" (p = {p:.3g})") for u, v, p, _ in rows)
    return result_frame(
        {
            "test": f"leave-one-{unit}-out",
            "statistic": full_value,
            "p_value": full_p,
            "n": len(units),
            "conclusion": full_conclusion,
            "loo_min": float(table.at[at_min, "value"]),
            "loo_max": float(table.at[at_max, "value"]),
            "unit_at_min": table.at[at_min, "unit"],
            "unit_at_max": table.at[at_max, "unit"],
            "flips": bool(flipping),
            "flipping_units": ", ".join(flipping),
            "by_unit": by_unit,
            "note": small_n_note(len(units), 5),
        }
    )


def order_robustness(
    data: pd.DataFrame,
    dv: str,
    group: str,
    subject: str,
    expected: list | None = None,
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """How stable is the ordering of the `group` (model) means of `dv` over `subject`s (prompts)?

    Prompts are resampled with replacement, the same draw for every model (paired bootstrap,
    `numpy.random.default_rng(seed)`); a resample keeps the order if the ascending order of its
    group means equals the observed one. Only prompts measured on every model are used.
    `expected` (ascending, e.g. the paper's hierarchy) is checked against the observed order and
    its own bootstrap share.
    """
    wide, note = complete_blocks(data, subject, group, dv)
    matrix = wide.to_numpy(float)
    names = [str(c) for c in wide.columns]
    n_blocks, k = matrix.shape
    if k < 2 or n_blocks < 2:
        raise ValueError(f"need at least 2 {group}s and 2 complete {subject}s, got {k} and {n_blocks}")
    order = np.argsort(matrix.mean(axis=0), kind="stable")
    counts = bootstrap_counts(np.random.default_rng(seed), n_blocks, n_resamples)
    means = counts @ matrix / n_blocks
    same_order = np.mean((np.diff(means[:, order], axis=1) > 0).all(axis=1))
    pair_shares = (np.diff(means[:, order], axis=1) > 0).mean(axis=0)
    weakest = int(np.argmin(pair_shares))

    row = {
        "test": f"paired bootstrap over {subject}s of the order of per-{group} means of {dv}",
        "statistic": float(same_order),
        "n": n_blocks,
        "order": " < ".join(names[i] for i in order),
        "weakest_pair": f"{names[order[weakest]]} < {names[order[weakest + 1]]}",
        "weakest_pair_share": float(pair_shares[weakest]),
        "expected_order": np.nan,
        "matches_expected": np.nan,
        "expected_share": np.nan,
        "n_groups": k,
        "n_resamples": n_resamples,
        "note": join_notes([note, small_n_note(n_blocks, 10, "blocks")]),
    }
    if expected is not None:
        expected = [str(e) for e in expected]
        if sorted(expected) != sorted(names):
            raise ValueError(f"expected {expected} must list exactly the groups {names}")
        positions = [names.index(e) for e in expected]
        row["expected_order"] = " < ".join(expected)
        row["matches_expected"] = bool(list(order) == positions)
        row["expected_share"] = float(np.mean((np.diff(means[:, positions], axis=1) > 0).all(axis=1)))
    return result_frame(row)
