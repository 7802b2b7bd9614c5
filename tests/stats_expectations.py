"""What the statistics tests expect of every result frame (``analysis.stats``): the column layout, written out
here rather than imported from the code under test so that a change of layout fails, and a one-row check."""

import math

import pandas as pd
import pytest

HEAD = ["test", "statistic", "p_value", "ci_low", "ci_high", "n"]
TAIL = ["alternative", "note"]
SMALL_N = "low power, asymptotic approximations unreliable"  # the small-sample note's wording


def assert_row(out: pd.DataFrame, expected: dict) -> None:
    """`out` has one row with exactly the columns of `expected`, in order, and its values (floats to 1e-12)."""
    assert len(out) == 1
    assert out.columns.tolist() == list(expected)
    for column, value in expected.items():
        got = out.at[0, column]
        if isinstance(value, str | bool):
            assert got == value, column
        elif isinstance(value, float) and math.isnan(value):
            assert pd.isna(got), column
        else:
            assert got == pytest.approx(value, rel=1e-12), column
