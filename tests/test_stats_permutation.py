"""analysis.stats.permutation: whole result rows of `permutation_test` and `permutation_correlation`.

Exact p-values and the smallest attainable p against brute-force enumeration of every relabelling
(every ordering), Welch's t against scipy, Monte Carlo p-values against the exact ones or a closed
form; the exact / Monte Carlo switch at n_resamples, labels, notes, errors and documented defaults.
"""

import itertools
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from pandas.testing import assert_frame_equal
from stats_expectations import HEAD, TAIL

import analysis.stats as st

TEST_COLUMNS = [
    *HEAD,
    "n_units",
    "n_obs",
    "group_a",
    "group_b",
    "n_a",
    "n_b",
    "mean_a",
    "mean_b",
    "mean_difference",
    "exact",
    "n_relabellings",
    "min_attainable_p",
    *TAIL,
]
CORRELATION_COLUMNS = [*HEAD, "r", "method", "n_units", "n_obs", "exact", "n_relabellings", "min_attainable_p", *TAIL]


def _units(values, labels, prompts=1, seed=0, **columns):
    """Long data: model i has mean values[i] over `prompts` rows and label labels[i]."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(len(values), prompts))
    noise -= noise.mean(axis=1, keepdims=True)
    frame = {
        "model": np.repeat([f"m{i:02d}" for i in range(len(values))], prompts),
        "lab": np.repeat(labels, prompts),
        "gain": (np.asarray(values, float)[:, None] + noise).ravel(),
    }
    return pd.DataFrame(frame | {k: np.repeat(v, prompts) for k, v in columns.items()})


def _p(null, observed, alternative, exact=True):
    """p-value by definition: share of the null at least as extreme (Monte Carlo: + 1 correction)."""
    null, tol = np.asarray(null), 1e-9 * max(1.0, abs(observed))
    hits = {"greater": null >= observed - tol, "less": null <= observed + tol}.get(
        alternative, np.abs(null) >= abs(observed) - tol
    )
    return hits.mean() if exact else (hits.sum() + 1) / (null.size + 1)


# --- permutation_test ----------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [None, ["b", "a"]])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_exact_row_equals_brute_force(alternative, levels):
    """5 vs 3 models x 4 prompts (+1 row missing): p and the smallest attainable p (the smallest p
    any labelling could get) by enumerating the C(8, 5) = 56 labellings. The outlier makes the
    null skewed, so the three alternatives give three different smallest p's."""
    values = np.array([0.0, 0.1, 0.3, 0.2, 5.0, 0.4, 0.15, 0.05])
    labels = ["a"] * 5 + ["b"] * 3
    data = _units(values, labels, prompts=4, seed=1)
    data.loc[len(data)] = ["m00", "a", np.nan]
    out = st.permutation_test(data, "gain", "lab", "model", alternative=alternative, levels=levels)
    assert list(out.columns) == TEST_COLUMNS
    first, second = levels or ["a", "b"]
    in_a = np.array(labels) == first
    k = int(in_a.sum())
    null = np.array(
        [values[list(s)].mean() - np.delete(values, list(s)).mean() for s in itertools.combinations(range(8), k)]
    )
    observed = values[in_a].mean() - values[~in_a].mean()
    min_p = min(_p(null, t, alternative) for t in null)
    row = out.iloc[0].to_dict()
    assert [
        row.pop(c) for c in ["statistic", "p_value", "mean_a", "mean_b", "mean_difference", "min_attainable_p"]
    ] == (
        pytest.approx(
            [observed, _p(null, observed, alternative), values[in_a].mean(), values[~in_a].mean(), observed, min_p]
        )
    )
    assert np.isnan(row.pop("ci_low")) and np.isnan(row.pop("ci_high"))
    notes = ["1 row(s) with missing values dropped"]
    if min_p > 0.05:
        notes.append(f"only 56 distinct relabellings: p cannot go below {min_p:.3g}")
    assert row == {
        "test": "permutation test (exact): mean_difference of per-model means, lab shuffled across models",
        "n": 8,
        "n_units": 8,
        "n_obs": 32,
        "group_a": first,
        "group_b": second,
        "n_a": k,
        "n_b": 8 - k,
        "exact": True,
        "n_relabellings": 56,
        "alternative": alternative,
        "note": "; ".join(notes),
    }


def test_exact_when_relabellings_equal_n_resamples():
    """C(6, 3) = 20 relabellings and n_resamples = 20: exact. One-sided, the planted effect has
    p = 1/20 = 0.05 (not below 0.05: no note); two-sided p cannot go below 0.1 (noted)."""
    data = _units([10.0, 11.0, 12.0, 1.0, 2.0, 3.0], ["a"] * 3 + ["b"] * 3)
    one = st.permutation_test(data, "gain", "lab", "model", alternative="greater", n_resamples=20)
    assert one.loc[0, ["exact", "n_relabellings", "p_value", "min_attainable_p", "note"]].tolist() == [
        True,
        20,
        0.05,
        0.05,
        "",
    ]
    two = st.permutation_test(data, "gain", "lab", "model", n_resamples=20)
    assert two.loc[0, ["p_value", "min_attainable_p", "note"]].tolist() == [
        pytest.approx(0.1),
        pytest.approx(0.1),
        "only 20 distinct relabellings: p cannot go below 0.1",
    ]


def test_monte_carlo_relabellings_keep_the_group_sizes():
    """6 identical models, 1 in a: every relabelling (with one model in a) gives a difference of 0,
    as extreme as the observed one, so the Monte Carlo p is (5 + 1) / (5 + 1) = 1."""
    data = _units([2.0] * 6, ["a"] + ["b"] * 5, prompts=3)
    out = st.permutation_test(data, "gain", "lab", "model", n_resamples=5, seed=3)
    assert out.loc[0, ["test", "exact", "n_relabellings", "p_value", "min_attainable_p", "note"]].tolist() == [
        "permutation test (Monte Carlo): mean_difference of per-model means, lab shuffled across models",
        False,
        5,
        1.0,
        pytest.approx(1 / 6),
        "only 5 distinct relabellings: p cannot go below 0.167",
    ]


def test_stratified_monte_carlo_welch_matches_enumeration():
    """Two families of 4 + 4 models: C(8, 4)^2 = 4900 within-family relabellings > 3000 drawn.
    The Monte Carlo p of Welch's t is the exact one within Monte Carlo error; same seed, same
    frame."""
    rng = np.random.default_rng(4)
    values = rng.normal(size=16) + np.tile([0.7] * 4 + [0.0] * 4, 2)
    labels = np.tile(["a"] * 4 + ["b"] * 4, 2)
    data = _units(values, labels, prompts=2, family=np.repeat(["f1", "f2"], 8))
    kwargs = dict(statistic="welch_t", strata="family", alternative="greater", n_resamples=3000, seed=5)
    out = st.permutation_test(data, "gain", "lab", "model", **kwargs)
    assert_frame_equal(out, st.permutation_test(data, "gain", "lab", "model", **kwargs))
    choices = [np.array(c) for c in itertools.combinations(range(8), 4)]
    in_a = np.zeros((len(choices) ** 2, 16), dtype=bool)
    for row, (c1, c2) in enumerate(itertools.product(choices, choices)):
        in_a[row, np.r_[c1, c2 + 8]] = True
    tiled = np.broadcast_to(values, in_a.shape)
    a, b = tiled[in_a].reshape(-1, 8), tiled[~in_a].reshape(-1, 8)
    null = scipy.stats.ttest_ind(a, b, axis=1, equal_var=False).statistic
    observed = scipy.stats.ttest_ind(values[labels == "a"], values[labels == "b"], equal_var=False).statistic
    exact_p = _p(null, observed, "greater")
    assert out.at[0, "statistic"] == pytest.approx(observed)
    assert out.at[0, "p_value"] == pytest.approx(exact_p, abs=4 * math.sqrt(exact_p * (1 - exact_p) / 3000) + 1e-3)
    assert out.loc[0, ["test", "exact", "n_relabellings", "min_attainable_p", "note"]].tolist() == [
        "permutation test (Monte Carlo): welch_t of per-model means, lab shuffled across models within family",
        False,
        3000,
        pytest.approx(1 / 3001),
        "",
    ]


def test_welch_with_too_few_units_or_no_variance_has_no_p_value():
    """Welch's t of a 1-unit group (either group) or of identical units is undefined: p is NaN (not
    0), with a note for the 1-unit group; no floating-point warning escapes. 2 units per group
    suffice; the mean difference needs no note."""
    values = [3.0, 1.0, 2.0, 5.0, 4.0, 0.5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for labels in [["a"] + ["b"] * 5, ["a"] * 5 + ["b"]]:
            data = _units(values, labels)
            out = st.permutation_test(data, "gain", "lab", "model", statistic="welch_t")
            assert np.isnan(out.at[0, "statistic"]) and np.isnan(out.at[0, "p_value"])
            assert out.at[0, "note"] == "welch_t needs at least 2 units per group"
            assert "welch_t" not in st.permutation_test(data, "gain", "lab", "model").at[0, "note"]
        same = st.permutation_test(_units([1.0] * 4, list("aabb")), "gain", "lab", "model", statistic="welch_t")
        assert np.isnan(same.at[0, "p_value"]) and np.isnan(same.at[0, "min_attainable_p"])
        two = st.permutation_test(_units(values[:4], list("aabb")), "gain", "lab", "model", statistic="welch_t")
    a, b = np.array(values[:2]), np.array(values[2:4])
    assert two.at[0, "statistic"] == pytest.approx(scipy.stats.ttest_ind(a, b, equal_var=False).statistic)
    assert two.at[0, "note"] == "only 6 distinct relabellings: p cannot go below 0.333"


def test_welch_relabellings_without_variance_raise_no_warning():
    """1, 1, 2, 2 in 2 + 2 models: two relabellings have no within-group variance (t = +-inf) and
    the observed one a defined t; p is the brute-force share, with no floating-point warning."""
    values = np.array([1.0, 2.0, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = st.permutation_test(_units(values, list("aabb")), "gain", "lab", "model", statistic="welch_t")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = [
            scipy.stats.ttest_ind(values[list(s)], np.delete(values, list(s)), equal_var=False).statistic
            for s in itertools.combinations(range(4), 2)
        ]
    assert np.isinf(null).sum() == 2
    assert out.at[0, "statistic"] == 0.0 and out.at[0, "p_value"] == pytest.approx(_p(null, 0.0, "two-sided"))


def test_levels_and_statistic_errors():
    data = _units([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], list("aabbcc"))
    with pytest.raises(ValueError, match=re.escape("'lab' must have exactly the 2 levels ['a', 'b', 'c']")):
        st.permutation_test(data, "gain", "lab", "model")
    with pytest.raises(ValueError, match=re.escape("'lab' must have exactly the 2 levels ['a', 'b']")):
        st.permutation_test(data, "gain", "lab", "model", levels=["a", "b"])
    with pytest.raises(ValueError, match=re.escape("statistic must be one of ('mean_difference', 'welch_t'), got 't'")):
        st.permutation_test(data, "gain", "lab", "model", statistic="t")


def test_documented_defaults():
    """mean_difference, two-sided, 10 000 random relabellings when there are more (C(16, 8))."""
    rng = np.random.default_rng(6)
    out = st.permutation_test(_units(rng.normal(size=16), ["a"] * 8 + ["b"] * 8), "gain", "lab", "model", seed=1)
    assert out.loc[0, ["exact", "n_relabellings", "alternative"]].tolist() == [False, 10_000, "two-sided"]
    assert out.at[0, "test"].startswith("permutation test (Monte Carlo): mean_difference")


def test_object_column_is_read_as_numbers():
    rng = np.random.default_rng(7)
    data = _units(rng.normal(size=8), ["a"] * 4 + ["b"] * 4)
    for statistic in ["mean_difference", "welch_t"]:
        ref = st.permutation_test(data, "gain", "lab", "model", statistic=statistic)
        out = st.permutation_test(data.astype({"gain": object}), "gain", "lab", "model", statistic=statistic)
        assert_frame_equal(out, ref)


# --- permutation_correlation ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_correlation_exact_row_equals_brute_force(method, alternative):
    """4 models x 3 prompts (+1 row missing): n! = 24 = n_resamples orderings, enumerated. p and
    the smallest attainable p over all orderings; every column checked."""
    x, y = np.array([0.3, 1.9, -0.4, 1.1]), np.array([0.2, 1.0, 0.5, 2.5])
    data = pd.DataFrame(
        {"model": np.repeat(list("abcd"), 3), "x": np.repeat(x, 3) + np.tile([-0.1, 0, 0.1], 4), "y": np.repeat(y, 3)}
    )
    data.loc[len(data)] = ["a", np.nan, 0.0]
    out = st.permutation_correlation(
        data, "x", "y", unit="model", method=method, alternative=alternative, n_resamples=24
    )
    assert list(out.columns) == CORRELATION_COLUMNS
    func = scipy.stats.pearsonr if method == "pearson" else scipy.stats.spearmanr
    null = np.array([func(x, y[list(order)]).statistic for order in itertools.permutations(range(4))])
    observed = func(x, y).statistic
    min_p = min(_p(null, t, alternative) for t in null)
    row = out.iloc[0].to_dict()
    assert [row.pop(c) for c in ["statistic", "r", "p_value", "min_attainable_p"]] == pytest.approx(
        [observed, observed, _p(null, observed, alternative), min_p]
    )
    assert np.isnan(row.pop("ci_low")) and np.isnan(row.pop("ci_high"))
    assert row == {
        "test": f"permutation test (exact) of the {method.capitalize()} correlation of per-model means",
        "n": 4,
        "method": method,
        "n_units": 4,
        "n_obs": 12,
        "exact": True,
        "n_relabellings": 24,
        "alternative": alternative,
        "note": "1 row(s) with missing values dropped"
        + (f"; only 24 distinct orderings: p cannot go below {min_p:.3g}" if min_p > 0.05 else ""),
    }


def test_correlation_monte_carlo_orderings_are_permutations():
    """x is 1 for the first of 10 rows and 0 elsewhere, y is largest there: under every ordering r
    only depends on which y lands on the first row, so P(r >= observed) = 1/10 exactly; the Monte
    Carlo p (10! > 5000 orderings drawn) must be 1/10 within Monte Carlo error. Rows as units."""
    y = np.array([9.0, 1.0, 4.0, 2.0, 7.0, 3.0, 5.0, 0.5, 6.0, 8.0])
    data = pd.DataFrame({"x": np.r_[1.0, np.zeros(9)], "y": y})
    out = st.permutation_correlation(data, "x", "y", alternative="greater", n_resamples=5000, seed=2)
    assert out.at[0, "p_value"] == pytest.approx(0.1, abs=4 * math.sqrt(0.09 / 5000))
    assert out.at[0, "r"] == pytest.approx(scipy.stats.pearsonr(data.x, data.y).statistic)
    assert out.loc[
        0, ["test", "n", "n_units", "n_obs", "exact", "n_relabellings", "min_attainable_p", "note"]
    ].tolist() == [
        "permutation test (Monte Carlo) of the Pearson correlation",
        10,
        10,
        10,
        False,
        5000,
        pytest.approx(1 / 5001),
        "",
    ]
    assert_frame_equal(out, st.permutation_correlation(data, "x", "y", alternative="greater", n_resamples=5000, seed=2))


def test_correlation_smallest_p_note_threshold():
    """Monte Carlo with 19 orderings: p cannot go below 1/20 = 0.05, not below 0.05 (no note);
    3 units, exact: 1/6 (noted); Spearman label without a unit."""
    data = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "y": [2.0, 1.0, 4.0, 3.0, 5.0]})
    mc = st.permutation_correlation(data, "x", "y", method="spearman", alternative="greater", n_resamples=19, seed=1)
    assert mc.loc[0, ["test", "exact", "min_attainable_p", "note"]].tolist() == [
        "permutation test (Monte Carlo) of the Spearman correlation",
        False,
        0.05,
        "",
    ]
    exact = st.permutation_correlation(data.iloc[:3], "x", "y", alternative="greater")
    assert exact.loc[0, ["exact", "n_relabellings", "min_attainable_p", "note"]].tolist() == [
        True,
        6,
        pytest.approx(1 / 6),
        "only 6 distinct orderings: p cannot go below 0.167",
    ]


def test_correlation_defaults_errors_and_text_numbers():
    """Pearson, two-sided, exact up to 10 000 orderings (7! = 5040), else 10 000 drawn (8!);
    numbers stored as text are read as numbers (Spearman ranks them numerically)."""
    rng = np.random.default_rng(9)
    data = pd.DataFrame({"x": rng.normal(size=8), "y": rng.normal(size=8)})
    seven = st.permutation_correlation(data.iloc[:7], "x", "y")
    assert seven.loc[0, ["method", "alternative", "exact", "n_relabellings"]].tolist() == [
        "pearson",
        "two-sided",
        True,
        5040,
    ]
    eight = st.permutation_correlation(data, "x", "y", seed=1)
    assert eight.loc[0, ["exact", "n_relabellings"]].tolist() == [False, 10_000]
    numbers = pd.DataFrame({"x": [1.0, 2.0, 3.0, 10.0, 20.0], "y": [3.0, 9.0, 20.0, 10.0, 30.0]})
    for method in ["pearson", "spearman"]:
        as_text = st.permutation_correlation(numbers.astype(str), "x", "y", method=method)
        assert_frame_equal(as_text, st.permutation_correlation(numbers, "x", "y", method=method))
    with pytest.raises(ValueError, match=re.escape("method must be 'pearson' or 'spearman', got 'kendall'")):
        st.permutation_correlation(data, "x", "y", method="kendall")
    with pytest.raises(ValueError, match=r"^need at least 3 units, got 2$"):
        st.permutation_correlation(data.iloc[:2], "x", "y")
