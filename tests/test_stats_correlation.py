"""analysis.stats.correlation: whole result rows of `correlation` and `cluster_correlation`.

r and p against scipy, the Fisher-z CI against scipy (Pearson) and the Bonett & Wright closed form
(Spearman), the bootstrap CI against scipy on the explicitly resampled rows (the same draws, from
`bootstrap_counts`), including resamples in which a variable is constant (no correlation: left out
and counted). Also the invariance of the bootstrap CI to the scale and offset of the data, the
labels, notes, errors and documented defaults.
"""

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from pandas.testing import assert_frame_equal

import analysis.stats as st
from analysis.stats._common import bootstrap_counts

COLUMNS = ["test", "statistic", "p_value", "ci_low", "ci_high", "n", "r", "method", "ci_method", "alternative", "note"]
CLUSTER_COLUMNS = COLUMNS[:9] + ["n_units", "n_obs"] + COLUMNS[9:]
SMALL_N = "small n ({n} pairs < 10): low power, asymptotic approximations unreliable"
NAMES = {"pearson": "Pearson correlation", "spearman": "Spearman rank correlation"}
SCIPY = {"pearson": scipy.stats.pearsonr, "spearman": scipy.stats.spearmanr}


def _explicit_bootstrap(x, y, method, n_resamples, seed):
    """scipy's r on each explicitly resampled data set (NaN where a variable is constant)."""
    counts = bootstrap_counts(np.random.default_rng(seed), x.size, n_resamples).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input
        return np.array([SCIPY[method](np.repeat(x, c), np.repeat(y, c)).statistic for c in counts])


def _fisher_ci(x, y, method, confidence):
    if method == "pearson":
        ci = scipy.stats.pearsonr(x, y).confidence_interval(confidence)
        return [ci.low, ci.high]
    r, n = scipy.stats.spearmanr(x, y).statistic, x.size
    half = scipy.stats.norm.ppf((1 + confidence) / 2) * math.sqrt((1 + r**2 / 2) / (n - 3))
    return [math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)]


@pytest.fixture
def pairs():
    """12 complete pairs with distinct values, and one row missing y."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=13)
    return pd.DataFrame({"x": x, "y": np.r_[0.6 * x[:12] + rng.normal(size=12), np.nan]})


@pytest.mark.parametrize("ci", ["fisher", "bootstrap"])
@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_row_matches_scipy(pairs, method, ci):
    out = st.correlation(pairs, "x", "y", method, "less", ci, confidence=0.9, n_resamples=400, seed=2)
    assert list(out.columns) == COLUMNS
    x, y = pairs.x.to_numpy()[:12], pairs.y.to_numpy()[:12]
    ref = SCIPY[method](x, y, alternative="less")
    if ci == "fisher":
        interval = _fisher_ci(x, y, method, 0.9)
    else:
        interval = np.quantile(_explicit_bootstrap(x, y, method, 400, 2), [0.05, 0.95])
    row = out.iloc[0].to_dict()
    assert [row.pop(k) for k in ["statistic", "r", "p_value", "ci_low", "ci_high"]] == pytest.approx(
        [ref.statistic, ref.statistic, ref.pvalue, *interval], rel=1e-9
    )
    assert row == {
        "test": NAMES[method],
        "n": 12,
        "method": method,
        "ci_method": "Fisher z" if ci == "fisher" else "bootstrap percentile (400 resamples)",
        "alternative": "less",
        "note": "1 row(s) with missing values dropped",
    }


@pytest.mark.parametrize("common", [0.0, 1.0])
@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_resamples_with_a_constant_variable_are_left_out_and_counted(method, common):
    """x takes one value (the smaller or the larger) but for one row: about a third of the
    resamples miss that row, so x is constant there and r undefined. The CI is taken over the
    other resamples (as scipy on the explicit resamples) and the note counts them, with no
    floating-point warning."""
    rng = np.random.default_rng(5)
    x, y = np.r_[np.full(9, common), 0.5], rng.normal(size=10)
    out = st.correlation(
        pd.DataFrame({"x": x, "y": y}), "x", "y", method=method, ci="bootstrap", n_resamples=2000, seed=7
    )
    reference = _explicit_bootstrap(x, y, method, 2000, 7)
    missing = int(np.isnan(reference).sum())
    assert missing / 2000 == pytest.approx(0.9**10, abs=0.03)
    assert out.loc[0, ["ci_low", "ci_high"]].tolist() == pytest.approx(np.nanquantile(reference, [0.025, 0.975]))
    ties = "ties present (average ranks); " if method == "spearman" else ""
    assert out.at[0, "note"] == f"{ties}{missing} of 2000 resamples gave no finite value"


def test_bootstrap_in_batches_draws_the_requested_resamples():
    """1000 rows: 200 resamples a batch, 500 in all; about (1 - 1/1000)^1000 of them miss the
    only non-zero x and are counted out of 500."""
    rng = np.random.default_rng(6)
    data = pd.DataFrame({"x": np.r_[np.zeros(999), 1.0], "y": rng.normal(size=1000)})
    out = st.correlation(data, "x", "y", ci="bootstrap", n_resamples=500, seed=1)
    count = int(re.fullmatch(r"(\d+) of 500 resamples gave no finite value", out.at[0, "note"]).group(1))
    assert count / 500 == pytest.approx(0.999**1000, abs=4 * math.sqrt(0.37 * 0.63 / 500))


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_bootstrap_interval_ignores_scale_and_offset(method):
    """r is invariant to positive affine maps: the same rows (same draws) whatever the units, from
    1e-150 to 1e150 (where products of raw moments underflow or overflow), or after an offset of
    1e8 (where raw moments cancel): the data are standardised before the moments are taken."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=30)
    base = pd.DataFrame({"x": x, "y": 0.5 * x + rng.normal(size=30)})
    kwargs = dict(method=method, ci="bootstrap", n_resamples=300, seed=3)
    ref = st.correlation(base, "x", "y", **kwargs)
    for scale_x, scale_y, offset in [(1e-150, 1e-150, 0.0), (1e150, 1e150, 0.0), (1.0, 1.0, 1e8)]:
        moved = pd.DataFrame({"x": base.x * scale_x + offset, "y": base.y * scale_y - offset})
        out = st.correlation(moved, "x", "y", **kwargs)
        assert out.loc[0, ["r", "ci_low", "ci_high"]].tolist() == pytest.approx(
            ref.loc[0, ["r", "ci_low", "ci_high"]].tolist(), rel=1e-6
        )
        assert out.at[0, "note"] == ""


def test_ties_note_is_for_spearman_with_ties_in_x_or_y():
    rng = np.random.default_rng(8)
    distinct = pd.DataFrame({"x": rng.normal(size=15), "y": rng.normal(size=15)})
    assert st.correlation(distinct, "x", "y", method="spearman").at[0, "note"] == ""
    for column in ["x", "y"]:
        tied = distinct.assign(**{column: np.round(distinct[column])})
        assert st.correlation(tied, "x", "y", method="spearman").at[0, "note"] == "ties present (average ranks)"
        assert st.correlation(tied, "x", "y").at[0, "note"] == ""


def test_cluster_correlation_row_is_the_correlation_of_unit_means():
    """8 models x 5 prompts (+1 row missing x): every column against scipy on the model means,
    n = n_units = 8 models, n_obs = 40 rows."""
    rng = np.random.default_rng(9)
    x_model = rng.normal(size=8)
    data = pd.DataFrame(
        {
            "model": np.repeat([f"m{i}" for i in range(8)], 5),
            "x": np.repeat(x_model, 5) + rng.normal(0, 0.1, size=40),
            "y": np.repeat(-x_model, 5) + rng.normal(0, 0.5, size=40),
        }
    )
    data.loc[40] = ["m0", np.nan, 1.0]
    out = st.cluster_correlation(data, "x", "y", "model", "pearson", "greater", "bootstrap", 0.8, 300, 4)
    assert list(out.columns) == CLUSTER_COLUMNS
    means = data.dropna().groupby("model")[["x", "y"]].mean()
    x, y = means.x.to_numpy(), means.y.to_numpy()
    ref = scipy.stats.pearsonr(x, y, alternative="greater")
    interval = np.quantile(_explicit_bootstrap(x, y, "pearson", 300, 4), [0.1, 0.9])
    row = out.iloc[0].to_dict()
    assert [row.pop(k) for k in ["statistic", "r", "p_value", "ci_low", "ci_high"]] == pytest.approx(
        [ref.statistic, ref.statistic, ref.pvalue, *interval], rel=1e-9
    )
    assert row == {
        "test": "Pearson correlation of per-model means",
        "n": 8,
        "method": "pearson",
        "ci_method": "bootstrap percentile (300 resamples)",
        "n_units": 8,
        "n_obs": 40,
        "alternative": "greater",
        "note": "1 row(s) with missing values dropped; " + SMALL_N.format(n=8),
    }


def test_documented_defaults(pairs):
    """Pearson, two-sided, Fisher z at 95%; a bootstrap CI draws 10 000 resamples."""
    data = pairs.assign(model=[f"m{i}" for i in range(13)])
    x, y = pairs.x.to_numpy()[:12], pairs.y.to_numpy()[:12]
    for out in [st.correlation(pairs, "x", "y"), st.cluster_correlation(data, "x", "y", "model")]:
        assert out.loc[0, ["ci_low", "ci_high"]].tolist() == pytest.approx(_fisher_ci(x, y, "pearson", 0.95))
        assert out.loc[0, ["method", "ci_method", "alternative"]].tolist() == ["pearson", "Fisher z", "two-sided"]
    for out in [
        st.correlation(pairs, "x", "y", ci="bootstrap", seed=1),
        st.cluster_correlation(data, "x", "y", "model", ci="bootstrap", seed=1),
    ]:
        assert out.at[0, "ci_method"] == "bootstrap percentile (10000 resamples)"


def test_minimum_of_four_pairs_and_errors():
    data = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, 3.0, 2.0, 5.0]})
    out = st.correlation(data, "x", "y")
    assert out.at[0, "r"] == pytest.approx(scipy.stats.pearsonr(data.x, data.y).statistic)
    assert out.at[0, "note"] == SMALL_N.format(n=4)
    with pytest.raises(ValueError, match=r"^a correlation with a CI needs at least 4 complete pairs, got 3$"):
        st.correlation(data.iloc[:3], "x", "y")
    with pytest.raises(ValueError, match=re.escape("method must be one of ('pearson', 'spearman'), got 'kendall'")):
        st.correlation(data, "x", "y", method="kendall")
    with pytest.raises(ValueError, match=re.escape("ci must be one of ('fisher', 'bootstrap'), got 'bca'")):
        st.correlation(data, "x", "y", ci="bca")


def test_object_columns_are_read_as_numbers(pairs):
    """Numbers held as Python objects give the same rows as float columns."""
    as_objects = pairs.astype(object)
    for kwargs in [dict(), dict(ci="bootstrap", n_resamples=200, seed=1)]:
        assert_frame_equal(st.correlation(as_objects, "x", "y", **kwargs), st.correlation(pairs, "x", "y", **kwargs))


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_constant_variable_gives_no_r_and_no_floating_point_warning(method):
    """x constant: r, p and the bootstrap CI are NaN, every resample is counted as without a
    value, and no RuntimeWarning (0 / 0) reaches the note."""
    data = pd.DataFrame({"x": np.full(12, 3.0), "y": np.random.default_rng(10).normal(size=12)})
    out = st.correlation(data, "x", "y", method=method, ci="bootstrap", n_resamples=200, seed=1)
    assert np.isnan(out.loc[0, ["r", "p_value", "ci_low", "ci_high"]].to_numpy(float)).all()
    notes = out.at[0, "note"].split("; ")
    assert "200 of 200 resamples gave no finite value" in notes
    assert not [n for n in notes if n.startswith("RuntimeWarning")]
