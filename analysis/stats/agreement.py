"""Agreement across prompts: intraclass correlation and Friedman's test with Kendall's W.

Layout: models are the targets / conditions, prompts the raters / blocks; every model must be
measured on the same prompts (incomplete prompts or models are dropped, with a note).

Output columns
--------------
`icc`: two rows, ICC(2,1) and ICC(3,1): `test`, `statistic` (F of the model effect), `p_value`
(F test of H0: ICC = 0, one-sided), `ci_low`, `ci_high` (95% CI of the ICC; pingouin's level is
fixed at 95%), `n` (ratings used), `icc`, `icc_type`, `df1`, `df2`, `n_targets`, `n_raters`,
`alternative` ("greater"), `note`.

`friedman`: `test`, `statistic` (Friedman chi-square Q, tie-corrected), `p_value` (chi-square
approximation, k - 1 df), `ci_low`, `ci_high` (NaN), `n` (= blocks), `kendall_w` (tie-corrected,
0 = no agreement of the blocks on the ranking of conditions, 1 = every block ranks them the
same), `df`, `n_blocks`, `n_conditions`, `alternative` ("greater"), `note`.
"""

from __future__ import annotations

import pandas as pd
import pingouin

from ._common import complete_blocks, join_notes, pingouin_full_precision, result_frame, small_n_note

#: pingouin's McGraw & Wong labels for the Shrout & Fleiss forms reported here
_ICC_TYPES = {
    "ICC(A,1)": (
        "ICC(2,1)",
        "two-way random effects, absolute agreement, single measurement",
    ),
    "ICC(C,1)": (
        "ICC(3,1)",
        "two-way mixed effects, consistency, single measurement",
    ),
}


def _balanced(data: pd.DataFrame, rows: str, columns: str, values: str) -> tuple[pd.DataFrame, str]:
    """Long table restricted to the rows (prompts) measured on every column (model)."""
    wide, note = complete_blocks(data, rows, columns, values)
    return wide.reset_index().melt(id_vars=rows, value_name=values), note


def icc(data: pd.DataFrame, targets: str, raters: str, ratings: str) -> pd.DataFrame:
    """Intraclass correlation of `ratings` with models as `targets` and prompts as `raters`.

    Computed by `pingouin.intraclass_corr` (two-way ANOVA). Two single-measurement forms are
    returned: ICC(2,1) (absolute agreement, prompts a random sample: a prompt that shifts every
    model's gain counts as disagreement), the reliability of one prompt's measurement as an
    estimate of a model's gain; and ICC(3,1) (consistency: only whether prompts rank and space the
    models alike). Both read as the share of the variance that lies between models.
    """
    long, note = _balanced(data, raters, targets, ratings)
    with pingouin_full_precision():
        table = pingouin.intraclass_corr(long, targets=targets, raters=raters, ratings=ratings)
    table = table.set_index("Type").loc[list(_ICC_TYPES)]
    n_targets, n_raters = long[targets].nunique(), long[raters].nunique()
    rows = []
    for pingouin_type, (shrout_fleiss, description) in _ICC_TYPES.items():
        row = table.loc[pingouin_type]
        rows.append(
            {
                "test": f"{shrout_fleiss} = {pingouin_type}: {description}",
                "statistic": float(row["F"]),
                "p_value": float(row["pval"]),
                "ci_low": float(row["CI95"][0]),
                "ci_high": float(row["CI95"][1]),
                "n": len(long),
                "icc": float(row["ICC"]),
                "icc_type": shrout_fleiss,
                "df1": int(row["df1"]),
                "df2": int(row["df2"]),
                "n_targets": n_targets,
                "n_raters": n_raters,
                "alternative": "greater",
                "note": join_notes([note, small_n_note(n_targets, 5, "targets")]),
            }
        )
    return result_frame(rows)


def friedman(data: pd.DataFrame, dv: str, within: str, subject: str) -> pd.DataFrame:
    """Friedman test of `dv` across the `within` conditions (models), `subject` = block (prompt).

    Each prompt ranks the models; Q tests whether the mean ranks differ (`pingouin.friedman`,
    chi-square method, tie-corrected; equal to `scipy.stats.friedmanchisquare`). Kendall's W =
    Q / (n (k - 1)) is the effect size.
    """
    long, note = _balanced(data, subject, within, dv)
    table = pingouin.friedman(long, dv=dv, within=within, subject=subject, method="chisq")
    n_blocks, k = long[subject].nunique(), long[within].nunique()
    return result_frame(
        {
            "test": f"Friedman test ({within} as conditions, {subject} as blocks)",
            "statistic": float(table["Q"].iloc[0]),
            "p_value": float(table["p_unc"].iloc[0]),
            "n": n_blocks,
            "kendall_w": float(table["W"].iloc[0]),
            "df": int(table["ddof1"].iloc[0]),
            "n_blocks": n_blocks,
            "n_conditions": k,
            "alternative": "greater",
            "note": join_notes([note, small_n_note(n_blocks, 10, "blocks")]),
        }
    )
