"""analysis.stats.bootstrap: whole result rows of `bootstrap_ci` and `bootstrap_contrast`.

The resamples are checked through the statistic itself (a vectorised statistic that records every
batch it is evaluated on): their number, that they are drawn from the right values (per group, per
cluster), and that the interval and the SE are the percentiles and the SD of the statistic over
them. The two-stage bootstrap is checked cluster by cluster against the closed-form mean and
variance of a resampled cluster mean; labels, notes, errors and documented defaults exactly.
"""

import re

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from stats_expectations import HEAD, TAIL

import analysis.stats as st

ONE_SAMPLE_COLUMNS = [*HEAD, "n_units", "n_obs", "estimate", "se", "method", "n_resamples", "confidence", *TAIL]
CONTRAST_COLUMNS = ONE_SAMPLE_COLUMNS[:8] + ["group_a", "group_b", "n_a", "n_b"] + ONE_SAMPLE_COLUMNS[8:]
SMALL_N = "small n ({n} {what} < 10): low power, asymptotic approximations unreliable"


class Recorder:
    """Vectorised statistic `f(*samples, axis)` that keeps every 2-D batch it is evaluated on.

    It has no `__name__` (the estimate then reads "statistic of ..."), and `axis` is required, as
    in the documented call `f(x, axis=-1)`.
    """

    def __init__(self, func):
        self.func = func
        self.batches = []

    def __call__(self, *samples, axis):
        if np.ndim(samples[0]) > 1:
            self.batches.append([np.moveaxis(np.asarray(s), axis, -1).copy() for s in samples])
        return self.func(*samples, axis=axis)

    def resamples(self, i=0):
        """All recorded resamples of sample `i`, one per row."""
        return np.concatenate([batch[i] for batch in self.batches])


def upper_half_mean(x, axis):
    """Mean of the upper half of the sorted values: needs an integer `axis` (uses the shape)."""
    ordered = np.sort(x, axis=axis)
    return np.take(ordered, np.arange(ordered.shape[axis] // 2, ordered.shape[axis]), axis=axis).mean(axis=axis)


def upper_half_difference(a, b, axis):
    return upper_half_mean(a, axis) - upper_half_mean(b, axis)


def _percentile_row(recorded: np.ndarray, confidence: float) -> list[float]:
    tail = (1 - confidence) / 2 * 100
    return [*np.percentile(recorded, [tail, 100 - tail]), recorded.std(ddof=1)]


# --- bootstrap_ci --------------------------------------------------------------------------------


def test_row_bootstrap_row_equals_its_own_resamples():
    """10 complete rows (+1 missing): the CI is the 5th/95th percentile of the statistic over the
    2000 resamples of the rows, the SE their SD; no small-n note at n = 10."""
    rng = np.random.default_rng(1)
    values = rng.normal(3, 1, size=10)
    data = pd.DataFrame({"v": np.r_[values[:4], np.nan, values[4:]]})
    stat = Recorder(np.mean)
    out = st.bootstrap_ci(data, "v", statistic=stat, confidence=0.9, n_resamples=2000, seed=5)
    assert list(out.columns) == ONE_SAMPLE_COLUMNS
    resamples = stat.resamples()
    assert resamples.shape == (2000, 10) and np.isin(resamples, values).all()
    boot_means = resamples.mean(axis=1)
    assert out.loc[0, ["ci_low", "ci_high", "se"]].tolist() == pytest.approx(_percentile_row(boot_means, 0.9))
    row = out.iloc[0].drop(["ci_low", "ci_high", "se"]).to_dict()
    assert row.pop("statistic") == pytest.approx(values.mean())
    assert np.isnan(row.pop("p_value"))
    assert row == {
        "test": "bootstrap percentile CI (rows resampled)",
        "n": 10,
        "n_units": 10,
        "n_obs": 10,
        "estimate": "statistic of v",
        "method": "percentile",
        "n_resamples": 2000,
        "confidence": 0.9,
        "alternative": "two-sided",
        "note": "1 row(s) with missing values dropped",
    }
    again = Recorder(np.mean)
    assert_frame_equal(out, st.bootstrap_ci(data, "v", statistic=again, confidence=0.9, n_resamples=2000, seed=5))
    assert np.array_equal(again.resamples(), resamples)


def test_cluster_basic_interval_reflects_the_percentile_one():
    """basic CI = 2 * estimate - (percentile CI reversed), same seed; the statistic is a named
    vectorised function of the per-cluster means, called with an integer axis."""
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"model": np.repeat(np.arange(6), 4), "gain": rng.normal(size=24)})
    means = data.groupby("model").gain.mean().to_numpy()
    kwargs = dict(statistic=upper_half_mean, cluster="model", n_resamples=500, seed=3)
    basic = st.bootstrap_ci(data, "gain", method="basic", **kwargs)
    percentile = st.bootstrap_ci(data, "gain", **kwargs)
    estimate = np.sort(means)[3:].mean()
    assert basic.at[0, "statistic"] == pytest.approx(estimate) == percentile.at[0, "statistic"]
    assert basic.at[0, "ci_low"] == pytest.approx(2 * estimate - percentile.at[0, "ci_high"])
    assert basic.at[0, "ci_high"] == pytest.approx(2 * estimate - percentile.at[0, "ci_low"])
    assert basic.at[0, "se"] == percentile.at[0, "se"]
    assert basic.loc[0, ["test", "estimate", "method", "n", "n_units", "n_obs", "note"]].tolist() == [
        "bootstrap basic CI (models resampled)",
        "upper_half_mean of per-model means",
        "basic",
        6,
        6,
        24,
        SMALL_N.format(n=6, what="resampled units"),
    ]


@pytest.fixture
def separated():
    """6 clusters of unequal sizes (1 to 60 rows); cluster k's values lie in [10k, 10k + 1), so a
    resampled cluster mean tells which cluster was drawn."""
    rng = np.random.default_rng(3)
    sizes = [7, 1, 60, 3, 12, 25]
    return pd.DataFrame(
        {
            "model": np.repeat(np.arange(6), sizes),
            "gain": np.concatenate([10 * k + rng.random(m) for k, m in enumerate(sizes)]),
        }
    )


def test_two_stage_resamples_clusters_then_rows(separated):
    """3000 resamples in two batches (6 x 60 padded cells): every cluster is drawn, and the mean
    and variance of a resampled cluster mean are the cluster's mean and (population variance) / m;
    the one-row cluster is always its single value."""
    stat = Recorder(np.mean)
    out = st.bootstrap_ci(separated, "gain", statistic=stat, cluster="model", two_stage=True, n_resamples=3000, seed=4)
    assert len(stat.batches) == 2
    drawn = stat.resamples()
    assert drawn.shape == (3000, 6)
    which = np.floor(drawn / 10).astype(int)
    assert ((drawn - 10 * which) < 1).all()
    for k, group in separated.groupby("model").gain:
        cluster_means = drawn[which == k]
        assert cluster_means.size == pytest.approx(3000, rel=0.1)
        m = group.size
        if m == 1:
            assert (cluster_means == group.iloc[0]).all()
            continue
        se = np.sqrt(group.var(ddof=0) / m)
        assert cluster_means.mean() == pytest.approx(group.mean(), abs=4 * se / np.sqrt(cluster_means.size))
        assert cluster_means.std() == pytest.approx(se, rel=0.1)
    assert out.loc[0, ["ci_low", "ci_high", "se"]].tolist() == pytest.approx(_percentile_row(drawn.mean(axis=1), 0.95))
    assert out.at[0, "statistic"] == pytest.approx(separated.groupby("model").gain.mean().mean())
    assert out.loc[0, ["test", "estimate", "n", "n_obs", "method"]].tolist() == [
        "bootstrap percentile CI (two-stage: models, then rows within model)",
        "statistic of per-model means",
        6,
        108,
        "percentile",
    ]


def test_two_stage_ignores_cluster_order_and_unused_categories(separated):
    """The same clusters listed in another order, or as a categorical with an unused level, give
    the same frame."""
    kwargs = dict(cluster="model", two_stage=True, n_resamples=400, seed=6)
    out = st.bootstrap_ci(separated, "gain", **kwargs)
    reordered = pd.concat([separated[separated.model == k] for k in [4, 0, 5, 2, 1, 3]])
    assert_frame_equal(out, st.bootstrap_ci(reordered, "gain", **kwargs))
    categorical = separated.assign(model=pd.Categorical(separated.model, categories=[0, 1, 2, 3, 4, 5, 99]))
    assert_frame_equal(out, st.bootstrap_ci(categorical, "gain", **kwargs))


def test_two_stage_counts_resamples_without_a_finite_statistic():
    """3 clusters constant within: a mean / SD statistic has no value when the same cluster is
    drawn 3 times (probability 3 / 27); those resamples are counted in the note and left out."""

    def mean_over_sd(x, axis):
        sd = x.std(axis=axis, ddof=1)
        return np.divide(x.mean(axis=axis), sd, out=np.full(np.shape(sd), np.nan), where=sd > 0)

    data = pd.DataFrame({"model": ["a"] * 2 + ["b"] * 3 + ["c"] * 4, "gain": [1.0] * 2 + [2.0] * 3 + [4.0] * 4})
    out = st.bootstrap_ci(
        data, "gain", statistic=mean_over_sd, cluster="model", two_stage=True, n_resamples=2000, seed=7
    )
    note = out.at[0, "note"].split("; ")
    assert note[0] == SMALL_N.format(n=3, what="resampled units")
    count = int(re.fullmatch(r"(\d+) of 2000 resamples gave no finite value", note[1]).group(1))
    assert count / 2000 == pytest.approx(1 / 9, abs=4 * np.sqrt(1 / 9 * 8 / 9 / 2000))
    assert len(note) == 2
    assert np.isfinite(out.loc[0, ["ci_low", "ci_high", "se"]].to_numpy(float)).all()


def test_object_column_is_read_as_numbers():
    """Numbers held as Python objects give the same rows as the float column (BCa included)."""
    values = np.random.default_rng(8).normal(size=15)
    data = pd.DataFrame({"v": values, "v_obj": pd.Series(values, dtype=object), "g": ["a", "b", "b"] * 5})
    for method in ["percentile", "BCa"]:
        as_float = st.bootstrap_ci(data, "v", method=method, n_resamples=300, seed=1)
        as_object = st.bootstrap_ci(data, "v_obj", method=method, n_resamples=300, seed=1)
        assert_frame_equal(as_object.drop(columns="estimate"), as_float.drop(columns="estimate"))
        as_float = st.bootstrap_contrast(data, "v", "g", method=method, n_resamples=300, seed=1)
        as_object = st.bootstrap_contrast(data, "v_obj", "g", method=method, n_resamples=300, seed=1)
        assert_frame_equal(as_object.drop(columns="estimate"), as_float.drop(columns="estimate"))


def test_documented_defaults():
    """mean, percentile, 95%, 10 000 resamples (the frame says so)."""
    data = pd.DataFrame({"v": np.arange(12.0), "g": ["a", "b"] * 6})
    out = st.bootstrap_ci(data, "v", seed=1)
    assert out.loc[0, ["method", "n_resamples", "confidence", "estimate"]].tolist() == [
        "percentile",
        10_000,
        0.95,
        "mean of v",
    ]
    contrast = st.bootstrap_contrast(data, "v", "g", seed=1)
    assert contrast.loc[0, ["method", "n_resamples", "confidence", "estimate"]].tolist() == [
        "percentile",
        10_000,
        0.95,
        "mean_difference of v, a vs b",
    ]


def test_errors():
    data = pd.DataFrame({"v": np.arange(12.0), "model": np.repeat(np.arange(4), 3), "g": list("abc") * 4})
    with pytest.raises(ValueError, match=re.escape("method must be one of ('percentile', 'basic', 'BCa'), got 'bca'")):
        st.bootstrap_ci(data, "v", method="bca")
    with pytest.raises(ValueError, match=re.escape("method must be one of ('percentile', 'basic', 'BCa'), got 'x'")):
        st.bootstrap_contrast(data, "v", "g", method="x")
    for kwargs in [dict(), dict(cluster="model", method="BCa"), dict(cluster="model", method="basic")]:
        with pytest.raises(ValueError, match="^two_stage needs a cluster and method='percentile'$"):
            st.bootstrap_ci(data, "v", two_stage=True, **kwargs)
    with pytest.raises(ValueError, match=re.escape("one of ['mean', 'median'], got 'mode'")):
        st.bootstrap_ci(data, "v", statistic="mode")
    with pytest.raises(ValueError, match=re.escape("one of ['mean_difference', 'mean_ratio'], got 'mean'")):
        st.bootstrap_contrast(data[data.g != "c"], "v", "g", statistic="mean")
    with pytest.raises(ValueError, match=re.escape("'g' must have exactly 2 levels to contrast, got ['a', 'b', 'c']")):
        st.bootstrap_contrast(data, "v", "g")


# --- bootstrap_contrast --------------------------------------------------------------------------


@pytest.fixture
def two_groups():
    """12 units in a, 9 in b (+ 1 row missing its label)."""
    rng = np.random.default_rng(9)
    return pd.DataFrame(
        {"gain": np.r_[rng.normal(2, 1, 12), rng.normal(0, 1, 9), 5.0], "lab": ["a"] * 12 + ["b"] * 9 + [None]}
    )


def test_contrast_row_equals_its_stratified_resamples(two_groups):
    """Each resample draws a's values from a and b's from b; CI and SE are the percentiles and
    the SD of the contrast over the 1500 resamples; whole row checked."""
    stat = Recorder(lambda a, b, axis: np.mean(a, axis=axis) - np.mean(b, axis=axis))
    out = st.bootstrap_contrast(two_groups, "gain", "lab", statistic=stat, confidence=0.8, n_resamples=1500, seed=2)
    assert list(out.columns) == CONTRAST_COLUMNS
    a, b = (two_groups.gain[two_groups.lab == g].to_numpy() for g in "ab")
    res_a, res_b = stat.resamples(0), stat.resamples(1)
    assert res_a.shape == (1500, 12) and res_b.shape == (1500, 9)
    assert np.isin(res_a, a).all() and np.isin(res_b, b).all()
    expected = _percentile_row(res_a.mean(axis=1) - res_b.mean(axis=1), 0.8)
    assert out.loc[0, ["ci_low", "ci_high", "se"]].tolist() == pytest.approx(expected)
    row = out.iloc[0].drop(["ci_low", "ci_high", "se", "p_value"]).to_dict()
    assert row.pop("statistic") == pytest.approx(a.mean() - b.mean())
    assert row == {
        "test": "bootstrap percentile CI, units resampled within each lab",
        "n": 21,
        "n_units": 21,
        "n_obs": 21,
        "group_a": "a",
        "group_b": "b",
        "n_a": 12,
        "n_b": 9,
        "estimate": "statistic of gain, a vs b",
        "method": "percentile",
        "n_resamples": 1500,
        "confidence": 0.8,
        "alternative": "two-sided",
        "note": "1 row(s) with missing values dropped; " + SMALL_N.format(n=9, what="units in a group"),
    }
    again = Recorder(stat.func)
    assert_frame_equal(
        out, st.bootstrap_contrast(two_groups, "gain", "lab", statistic=again, confidence=0.8, n_resamples=1500, seed=2)
    )
    assert np.array_equal(again.resamples(1), res_b)


def test_contrast_levels_order_and_basic_interval(two_groups):
    """levels=["b", "a"] makes b group a; basic = 2 * estimate - reversed percentile interval; a
    named two-sample statistic called with an integer axis."""
    kwargs = dict(statistic=upper_half_difference, levels=["b", "a"], n_resamples=400, seed=3)
    percentile = st.bootstrap_contrast(two_groups, "gain", "lab", **kwargs)
    basic = st.bootstrap_contrast(two_groups, "gain", "lab", method="basic", **kwargs)
    a, b = (np.sort(two_groups.gain[two_groups.lab == g].to_numpy()) for g in "ab")
    estimate = b[4:].mean() - a[6:].mean()
    assert percentile.at[0, "statistic"] == pytest.approx(estimate) == basic.at[0, "statistic"]
    assert basic.at[0, "ci_low"] == pytest.approx(2 * estimate - percentile.at[0, "ci_high"])
    assert basic.at[0, "ci_high"] == pytest.approx(2 * estimate - percentile.at[0, "ci_low"])
    assert basic.loc[0, ["test", "group_a", "group_b", "n_a", "n_b", "estimate"]].tolist() == [
        "bootstrap basic CI, units resampled within each lab",
        "b",
        "a",
        9,
        12,
        "upper_half_difference of gain, b vs a",
    ]


def test_contrast_of_cluster_means():
    """With a cluster the units are the per-model means: mean ratio, 10 vs 12 models (no small-n
    note at 10), the n's count models and rows."""
    rng = np.random.default_rng(10)
    model = np.repeat(np.arange(22), 5)
    data = pd.DataFrame({"model": model, "lab": np.where(model < 10, "E", "M"), "gain": rng.gamma(4, size=110)})
    data.loc[data.lab == "E", "gain"] *= 3
    out = st.bootstrap_contrast(data, "gain", "lab", cluster="model", statistic="mean_ratio", n_resamples=500, seed=4)
    means = data.groupby("model").agg(gain=("gain", "mean"), lab=("lab", "first"))
    ratio = means.gain[means.lab == "E"].mean() / means.gain[means.lab == "M"].mean()
    assert out.at[0, "statistic"] == pytest.approx(ratio)
    assert out.at[0, "ci_low"] < ratio < out.at[0, "ci_high"]
    assert out.loc[0, ["n", "n_units", "n_obs", "n_a", "n_b", "estimate", "note"]].tolist() == [
        22,
        22,
        110,
        10,
        12,
        "mean_ratio of per-model means, E vs M",
        "",
    ]
