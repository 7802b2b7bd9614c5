"""Direct checks of the shared helpers of `analysis.stats` (`_common`): the result-frame layout,
notes, column checks, unit aggregation, complete blocks, resampling p-values and their tie
tolerance, bootstrap counts, percentile intervals and the statsmodels coefficient table; and the
p = alpha conventions of `statcheck` ("p = 0.05" printed counts as significant, a recomputed
p = alpha does not).

References are hand counts, closed forms, numpy draws and statsmodels' own fitted results.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import analysis.stats as st
from analysis.stats._common import (
    HEAD_COLUMNS,
    TAIL_COLUMNS,
    bootstrap_counts,
    check_alternative,
    check_columns,
    coefficient_table,
    complete_blocks,
    complete_cases,
    join_notes,
    percentile_interval,
    resampling_p,
    result_frame,
    small_n_note,
    unit_level,
)

# --- layout, notes, checks -------------------------------------------------------------------


def test_result_frame_orders_columns_and_fills_the_missing_ones():
    out = result_frame([{"test": "x", "effect": 1.5, "statistic": 2.0}, {"test": "y", "effect": 0.5}])
    assert list(out.columns) == [*HEAD_COLUMNS, "effect", *TAIL_COLUMNS]
    assert out["note"].tolist() == ["", ""]
    assert out[["p_value", "ci_low", "ci_high", "n", "alternative"]].isna().all(axis=None)
    assert out["statistic"].iloc[0] == 2.0 and np.isnan(out["statistic"].iloc[1])


def test_join_notes_and_small_n_note():
    assert join_notes(["a", None, "", "b", "a"]) == "a; b"
    assert small_n_note(3, 5) == "small n (3 units < 5): low power, asymptotic approximations unreliable"
    assert small_n_note(5, 5) == "" and small_n_note(6, 5) == ""


def test_checks_name_the_problem():
    with pytest.raises(ValueError, match=r"alternative must be one of \('two-sided', 'greater', 'less'\), got 'both'"):
        check_alternative("both")
    data = pd.DataFrame({"x": [1.0], "y": [2.0]})
    check_columns(data, ["x", None])  # None (an optional argument left out) is not a column
    with pytest.raises(KeyError, match=r"columns not in data: \['z'\]; available: \['x', 'y'\]"):
        check_columns(data, ["x", None, "z"])


def test_complete_cases_only_looks_at_the_named_columns():
    data = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "y": [1.0, 2.0, np.nan, 4.0], "other": [np.nan] * 4})
    kept, note = complete_cases(data, ["x", None, "x"])
    assert kept.index.tolist() == [0, 2, 3] and note == "1 row(s) with missing values dropped"
    kept, note = complete_cases(data, ["x", "y"])
    assert kept.index.tolist() == [0, 3] and note == "2 row(s) with missing values dropped"
    kept, note = complete_cases(data.drop(index=[1, 2]), ["x", "y"])
    assert len(kept) == 2 and note == ""


# --- unit aggregation and blocks -------------------------------------------------------------


def test_unit_level_means_sorted_units_observed_only():
    """Per-unit means (hand-computed), sorted by unit whatever the row order, no row for an unused
    category, constant labels carried over, rows per unit counted."""
    data = pd.DataFrame(
        {
            "model": pd.Categorical(["m2", "m0", "m2", "m1", "m0", "m2"], categories=["m0", "m1", "m2", "m9"]),
            "y": [1.0, 2.0, 3.0, 4.0, 6.0, 8.0],
            "lab": ["B", "A", "B", "A", "A", "B"],
        }
    )
    out = unit_level(data, "model", ["y"], constant=["lab"])
    assert out.index.tolist() == ["m0", "m1", "m2"]
    assert out["y"].tolist() == [4.0, 4.0, 4.0]
    assert out["lab"].tolist() == ["A", "A", "B"]
    assert out["n_obs"].tolist() == [2, 1, 3]


def test_unit_level_rejects_a_varying_label_and_names_five_units():
    units = [f"m{i}" for i in range(9)]
    rows = [(u, 1.0, "A") for u in units[:2]] + [(u, 1.0, lab) for u in units[2:] for lab in ("A", "B")]
    data = pd.DataFrame(rows, columns=["model", "y", "lab"])
    with pytest.raises(ValueError) as error:
        unit_level(data, "model", ["y"], constant=["lab"])
    assert str(error.value) == "'lab' is not constant within 'model' (e.g. units ['m2', 'm3', 'm4', 'm5', 'm6'])"
    with_missing = pd.DataFrame({"model": ["a", "a"], "y": [1.0, 2.0], "lab": [np.nan, "A"]})
    with pytest.raises(ValueError, match="not constant"):  # a missing label is a second value
        unit_level(with_missing, "model", ["y"], constant=["lab"])


def test_complete_blocks_notes():
    full = pd.DataFrame(
        [(p, m, float(p + i)) for p in range(4) for i, m in enumerate("abc")], columns=["prompt", "model", "y"]
    )
    wide, note = complete_blocks(full, "prompt", "model", "y")
    assert note == "" and wide.shape == (4, 3)
    assert wide.loc[2].tolist() == [2.0, 3.0, 4.0]
    repeated = pd.concat([full, pd.DataFrame({"prompt": [1], "model": ["b"], "y": [10.0]})], ignore_index=True)
    incomplete = repeated.drop(index=[11])  # prompt 3 loses model c
    wide, note = complete_blocks(incomplete, "prompt", "model", "y")
    assert wide.index.tolist() == [0, 1, 2]
    assert wide.at[1, "b"] == pytest.approx((2.0 + 10.0) / 2)
    assert note == "1 prompt level(s) not measured on every model dropped; repeated (prompt, model) cells averaged"


# --- resampling ------------------------------------------------------------------------------


def test_resampling_p_counts_and_corrections():
    null = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    # hand counts: T >= 2: {2, 3}; T <= 2: five; |T| >= 2: {-2, 2, 3}
    for alternative, count in [("greater", 2), ("less", 5), ("two-sided", 3)]:
        assert resampling_p(null, 2.0, alternative, exact=True) == count / 6
        assert resampling_p(null, 2.0, alternative, exact=False) == (count + 1) / 7


def test_resampling_p_tie_tolerance_is_relative_1e9_end_included():
    """Ties are counted within 1e-9 * max(1, |t|): a value that far from t (the end included) counts,
    one 1.5e-9 away (|t| < 1) does not, and for |t| = 1e6 floating-point noise of 1e-6 still counts."""
    t = 0.5
    assert resampling_p(np.array([t - 1e-9, t - 0.5e-9]), t, "greater", exact=True) == 1.0
    assert resampling_p(np.array([t - 1.5e-9]), t, "greater", exact=True) == 0.0
    assert resampling_p(np.array([t + 1e-9]), t, "less", exact=True) == 1.0
    assert resampling_p(np.array([-(t - 1e-9)]), t, "two-sided", exact=True) == 1.0
    big = 1e6
    assert resampling_p(np.array([big - 1e-6]), big, "greater", exact=True) == 1.0
    assert resampling_p(np.array([big + 1e-6]), big, "less", exact=True) == 1.0


def test_bootstrap_counts_are_draws_with_replacement():
    """Row i counts how often each unit appears among n indices drawn uniformly from 0..n-1."""
    n, n_resamples = 7, 50
    counts = bootstrap_counts(np.random.default_rng(3), n, n_resamples)
    draws = np.random.default_rng(3).integers(0, n, size=(n_resamples, n))
    reference = np.array([np.bincount(row, minlength=n) for row in draws], dtype=float)
    assert counts.dtype == np.float64 and counts.shape == (n_resamples, n)
    np.testing.assert_array_equal(counts, reference)
    assert (counts[:, 0] > 0).any()


class _Stop(Exception):
    pass


class _DtypeRecorder:
    """Stand-in generator that records the integer dtype asked for, then stops the computation."""

    def integers(self, *args, dtype=np.int64, **kwargs):
        self.dtype = dtype
        raise _Stop


@pytest.mark.parametrize("n, n_resamples", [(2**16, 2**15 + 1), (2**20, 2**12), (3, 2**31)])
def test_bootstrap_counts_index_type_holds_every_offset(n, n_resamples):
    """The flat indices go up to n * n_resamples - 1: beyond 2**31 they need 64-bit integers
    (checked without allocating the 8 GB such a draw would take)."""
    rng = _DtypeRecorder()
    with pytest.raises(_Stop):
        bootstrap_counts(rng, n, n_resamples)
    assert np.iinfo(rng.dtype).max >= n * n_resamples - 1


def test_percentile_interval():
    samples = np.concatenate([[np.nan], np.arange(1.0, 101.0), [np.inf]])
    low, high, note = percentile_interval(samples, 0.95)
    assert (low, high) == pytest.approx(tuple(np.percentile(np.arange(1.0, 101.0), [2.5, 97.5])))
    assert note == "2 of 102 resamples gave no finite value"
    assert percentile_interval(np.arange(1.0, 101.0), 0.9)[2] == ""
    assert percentile_interval(np.array([np.nan, 4.0]), 0.95) == (4.0, 4.0, "1 of 2 resamples gave no finite value")
    low, high, note = percentile_interval(np.full(3, np.nan), 0.95)
    assert np.isnan(low) and np.isnan(high) and note == "3 of 3 resamples gave no finite value"


def test_coefficient_table_matches_statsmodels():
    rng = np.random.default_rng(2)
    x = pd.DataFrame({"x": rng.normal(size=30)})
    fit = sm.OLS(1.0 + 0.5 * x["x"] + rng.normal(size=30), sm.add_constant(x)).fit()
    out = coefficient_table(fit, 0.9)
    assert out.columns.tolist() == ["statistic", "p_value", "ci_low", "ci_high", "n", "term", "estimate", "se", "n_obs"]
    assert out["term"].tolist() == ["const", "x"]
    np.testing.assert_allclose(out[["ci_low", "ci_high"]].to_numpy(), fit.conf_int(alpha=0.1))
    np.testing.assert_allclose(out["estimate"], fit.params)
    np.testing.assert_allclose(out["statistic"], fit.params / fit.bse)
    assert out["n"].tolist() == [30, 30] and out["n_obs"].tolist() == [30, 30]


# --- statcheck: p = alpha conventions --------------------------------------------------------


def test_printed_p_bounds_fix_the_decision():
    verdict, reason = st.reproduces("0.30", 0.3, printed_p="p < 0.05", recomputed_p=0.01)
    assert verdict == "yes" and "(significant) agrees with printed 'p < 0.05'" in reason
    verdict, reason = st.reproduces("0.30", 0.3, printed_p="p > 0.05", recomputed_p=0.2)
    assert verdict == "yes" and "(not significant) agrees with printed 'p > 0.05'" in reason
    # statcheck's convention: a printed "p = 0.05" is a claim of significance
    verdict, reason = st.reproduces("0.30", 0.3, printed_p="p = 0.05", recomputed_p=0.049)
    assert verdict == "yes" and "(significant) agrees with printed 'p = 0.05'" in reason


def test_a_p_equal_to_alpha_is_not_significant():
    verdict, reason = st.reproduces("0.30", 0.3, printed_p="p > 0.05", recomputed_p=0.05)
    assert verdict == "yes" and "(not significant) agrees with" in reason
    verdict, reason = st.decide(0.3, -0.01, 0.6, p_value=0.05)
    assert verdict == "inconclusive" and reason.startswith("not significant")


@pytest.mark.parametrize(
    "alternative, exact, expected",
    [
        ("greater", True, 2 / 5),  # the two +inf draws
        ("less", True, 5 / 5),  # every draw is <= +inf
        ("two-sided", True, 3 / 5),  # |+inf|, |+inf|, |-inf|
        ("greater", False, (2 + 1) / (5 + 1)),
    ],
)
def test_an_infinite_observed_statistic_ties_with_the_infinite_draws(alternative, exact, expected):
    """Welch's t of two groups without variance is +-inf: it must count the draws as extreme as itself, not
    none of them (inf - inf is NaN, which a relative tolerance would make of it)."""
    null = np.array([np.inf, 1.0, -np.inf, np.inf, 0.0])
    assert resampling_p(null, np.inf, alternative, exact) == pytest.approx(expected)
