"""Whole result rows of `analysis.stats.location` (one-sample and paired t / Wilcoxon tests).

Every column of a row is checked: statistics and p-values against scipy (`ttest_1samp`,
`ttest_rel`, `wilcoxon` with an explicitly chosen method), Cohen's d by its closed form and its
CI by inverting the noncentral t, rank-biserial correlations by hand rank sums or pingouin; the
`test` label, `alternative` and `note` exactly; and the error messages of bad input.
"""

import math

import numpy as np
import pandas as pd
import pingouin
import pytest
import scipy.stats
from stats_expectations import SMALL_N, assert_row

import analysis.stats as st


def assert_d_ci_inverts_nct(out: pd.DataFrame, confidence: float) -> None:
    """cohen_d_ci_low / high * sqrt(n) are the noncentralities putting the observed t at the
    (1 + confidence) / 2 and (1 - confidence) / 2 quantiles of the noncentral t."""
    t, n = out.at[0, "statistic"], out.at[0, "n"]
    for column, tail in [("cohen_d_ci_low", (1 + confidence) / 2), ("cohen_d_ci_high", (1 - confidence) / 2)]:
        assert np.isfinite(out.at[0, column])
        assert scipy.stats.nct.cdf(t, n - 1, out.at[0, column] * math.sqrt(n)) == pytest.approx(tail, abs=1e-7)


# --- one sample ------------------------------------------------------------------------------


def test_one_sample_t_whole_row():
    """Object-dtype column (numbers with a missing marker, as read from JSON) tested as numbers."""
    rng = np.random.default_rng(21)
    values = 1.04 + 0.1 * rng.normal(size=12)
    data = pd.DataFrame({"gain": pd.Series([*values, None], dtype=object)})
    out = st.one_sample(data, "gain", mu=1.0, alternative="greater", confidence=0.9)
    ref = scipy.stats.ttest_1samp(values, 1.0, alternative="greater")
    ci = scipy.stats.ttest_1samp(values, 1.0).confidence_interval(0.9)
    expected = {
        "test": "one-sample t-test (H0: centre of gain = 1)",
        "statistic": ref.statistic,
        "p_value": ref.pvalue,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "n": 12,
        "mean": values.mean(),
        "mu": 1.0,
        "df": 11,
        "cohen_d": (values.mean() - 1.0) / values.std(ddof=1),
        "cohen_d_ci_low": out.at[0, "cohen_d_ci_low"],  # checked below
        "cohen_d_ci_high": out.at[0, "cohen_d_ci_high"],
        "alternative": "greater",
        "note": "1 row(s) with missing values dropped",
    }
    assert_row(out, expected)
    assert_d_ci_inverts_nct(out, 0.9)


def test_one_sample_wilcoxon_on_unit_means_whole_row():
    """Per-model means 1 + diff, diff chosen by hand: one zero, a tie (|0.25|), one exactly 1.

    Ranks of |nonzero| = 0.125, 0.25, 0.25, 0.5, 0.75, 1, 1.5, 2 are 1, 2.5, 2.5, 4, ..., 8 (sum 36);
    the negatives -0.25 and -0.125 hold 3.5 of them, so T+ = 32.5 and r_rb = (32.5 - 3.5) / 36."""
    diffs = {"m0": 0.0, "m1": 0.25, "m2": -0.25, "m3": 0.5, "m4": 0.75, "m5": 1.0, "m6": -0.125, "m7": 1.5, "m8": 2.0}
    rows = [(m, 1.0 + d + s) for m, d in diffs.items() for s in (-0.0625, 0.0625)]
    data = pd.DataFrame([*rows, ("m3", np.nan)], columns=["model", "gain"])
    out = st.one_sample(data, "gain", mu=1.0, unit="model", method="wilcoxon", alternative="less")
    nonzero = np.array([d for d in diffs.values() if d != 0])
    ref = scipy.stats.wilcoxon(nonzero, alternative="less", method=scipy.stats.PermutationMethod())
    assert ref.statistic == 32.5
    expected = {
        "test": "Wilcoxon signed-rank test (H0: centre of gain = 1) on per-model means",
        "statistic": 32.5,
        "p_value": ref.pvalue,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "n": 9,
        "n_units": 9,
        "n_obs": 18,
        "mean": 1.0 + sum(diffs.values()) / 9,
        "mu": 1.0,
        "rank_biserial": 29 / 36,
        "alternative": "less",
        "note": "1 row(s) with missing values dropped; small n (9 values < 10): " + SMALL_N + "; "
        "1 zero difference(s) dropped; tied |differences|: p by exhaustive permutation",
    }
    assert_row(out, expected)


@pytest.mark.parametrize(
    "n, ties, method, note",
    [
        (12, False, "exact", ""),
        (13, True, scipy.stats.PermutationMethod(), "tied |differences|: p by exhaustive permutation"),
        (14, True, "asymptotic", "tied |differences|: p by normal approximation"),
    ],
)
def test_wilcoxon_p_method_and_its_note(n, ties, method, note):
    """scipy's "auto" method: exact without ties, exhaustive permutations with ties up to 13
    nonzero differences, the normal approximation above; the note says which."""
    values = np.arange(1.0, n + 1)
    values[[2, 5]] *= -1
    if ties:
        values[1] = 1.0
    out = st.one_sample(pd.DataFrame({"v": values}), "v", method="wilcoxon", alternative="greater")
    ref = scipy.stats.wilcoxon(values, alternative="greater", method=method)
    assert out.at[0, "statistic"] == ref.statistic
    assert out.at[0, "p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert out.at[0, "n"] == n and out.at[0, "note"] == note


def test_t_with_two_values_and_a_large_t():
    """n = 2 (df = 1) is enough for a t-test and a Cohen's d CI; at t = 20 the noncentrality search
    must widen its bracket to find the upper end."""
    out = st.one_sample(pd.DataFrame({"v": [0.95, 1.05]}), "v", confidence=0.99)
    assert out.at[0, "statistic"] == pytest.approx(20.0) and out.at[0, "df"] == 1
    assert out.at[0, "p_value"] == pytest.approx(scipy.stats.ttest_1samp([0.95, 1.05], 0.0).pvalue)
    assert_d_ci_inverts_nct(out, 0.99)
    assert out.at[0, "note"] == "small n (2 values < 10): " + SMALL_N
    ten = st.one_sample(pd.DataFrame({"v": np.arange(10.0)}), "v", mu=4.5)
    assert ten.at[0, "note"] == "" and ten.at[0, "statistic"] == 0.0


@pytest.mark.parametrize("sign", [1, -1])
def test_cohen_d_ci_of_a_large_effect_is_computed(sign):
    """Regression: for t around 8 and above with n = 2..25 (a large but ordinary effect, here d ~ 2.9 on ten
    values) scipy's noncentral t cdf is NaN at some noncentralities the root search visits, and the
    d interval used to come out NaN."""
    rng = np.random.default_rng(25)
    values = 1.0 + sign * (0.3 + 0.1 * rng.normal(size=10))
    out = st.one_sample(pd.DataFrame({"v": values}), "v", mu=1.0)
    assert out.at[0, "statistic"] == pytest.approx(scipy.stats.ttest_1samp(values, 1.0).statistic)
    assert sign * out.at[0, "statistic"] > 7.5
    assert_d_ci_inverts_nct(out, 0.95)
    assert out.at[0, "cohen_d_ci_low"] < out.at[0, "cohen_d"] < out.at[0, "cohen_d_ci_high"]


@pytest.mark.filterwarnings("ignore:.*(catastrophic cancellation|divide by zero).*:RuntimeWarning")
def test_constant_values_give_an_infinite_t_and_no_d_interval():
    out = st.one_sample(pd.DataFrame({"v": [1.5, 1.5, 1.5]}), "v", mu=1.0)
    assert out.at[0, "statistic"] == np.inf and out.at[0, "cohen_d"] == np.inf
    assert np.isnan(out.at[0, "cohen_d_ci_low"]) and np.isnan(out.at[0, "cohen_d_ci_high"])


def test_one_sample_wilcoxon_single_nonzero_difference():
    """One nonzero difference: two equally likely signs, so p = 1; r_rb = 1."""
    out = st.one_sample(pd.DataFrame({"v": [2.0, 0.0, 0.0]}), "v", method="wilcoxon")
    assert out.at[0, "p_value"] == 1.0 and out.at[0, "rank_biserial"] == 1.0
    assert out.at[0, "note"] == "small n (3 values < 10): " + SMALL_N + "; 2 zero difference(s) dropped"


def test_one_sample_errors():
    data = pd.DataFrame({"v": [1.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match=r"method must be one of \('t', 'wilcoxon'\), got 'sign'"):
        st.one_sample(data, "v", method="sign")
    with pytest.raises(ValueError, match="^a t-test needs at least 2 values$"):
        st.one_sample(data.iloc[:1], "v")
    with pytest.raises(ValueError, match="^every difference is 0: the Wilcoxon test is undefined$"):
        st.one_sample(data.iloc[:2], "v", mu=1.0, method="wilcoxon")


# --- paired ----------------------------------------------------------------------------------


def _pairs(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(1.0, 0.2, size=n)
    instruct = base + 0.05 + 0.1 * rng.normal(size=n)
    return pd.DataFrame(
        {
            "prompt": np.tile(np.arange(n), 2),
            "variant": ["base"] * n + ["instruct"] * n,
            "gain": np.concatenate([base, instruct]),
        }
    )


def test_paired_t_whole_row():
    """order = [instruct, base] (not the sorted one): differences instruct - base; one missing
    value and one missing row leave two prompts unpaired. Object-dtype values tested as numbers."""
    data = _pairs(14, 22)
    data.loc[3, "gain"] = np.nan  # prompt 3, base
    data = data.drop(index=14 + 5)  # prompt 5, instruct
    data["gain"] = data["gain"].astype(object)
    out = st.paired(data, "gain", "variant", "prompt", order=["instruct", "base"], alternative="less", confidence=0.9)
    kept = data.dropna().pivot(index="prompt", columns="variant", values="gain").dropna().astype(float)
    a, b = kept["instruct"].to_numpy(), kept["base"].to_numpy()
    ref = scipy.stats.ttest_rel(a, b, alternative="less")
    ci = scipy.stats.ttest_rel(a, b).confidence_interval(0.9)
    expected = {
        "test": "paired t-test: instruct - base by prompt",
        "statistic": ref.statistic,
        "p_value": ref.pvalue,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "n": 12,
        "mean_a": a.mean(),
        "mean_b": b.mean(),
        "mean_difference": (a - b).mean(),
        "df": 11,
        "cohen_d": (a - b).mean() / (a - b).std(ddof=1),
        "cohen_d_ci_low": out.at[0, "cohen_d_ci_low"],  # checked below
        "cohen_d_ci_high": out.at[0, "cohen_d_ci_high"],
        "alternative": "less",
        "note": "1 row(s) with missing values dropped; 2 unpaired prompt(s) dropped",
    }
    assert_row(out, expected)
    assert_d_ci_inverts_nct(out, 0.9)


def test_paired_wilcoxon_whole_row():
    data = _pairs(12, 23)
    data["gain"] = data["gain"].astype(object)
    out = st.paired(data, "gain", "variant", "prompt", method="wilcoxon")
    a = data.gain[data.variant == "base"].to_numpy(float)
    b = data.gain[data.variant == "instruct"].to_numpy(float)
    ref = scipy.stats.wilcoxon(a, b, method="exact")
    expected = {
        "test": "Wilcoxon signed-rank test (paired): base - instruct by prompt",
        "statistic": ref.statistic,
        "p_value": ref.pvalue,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "n": 12,
        "mean_a": a.mean(),
        "mean_b": b.mean(),
        "mean_difference": (a - b).mean(),
        "rank_biserial": pingouin.wilcoxon(a, b)["RBC"].iloc[0],
        "alternative": "two-sided",
        "note": "",
    }
    assert_row(out, expected)


def test_paired_errors():
    data = _pairs(4, 24)
    with pytest.raises(ValueError, match=r"method must be one of \('t', 'wilcoxon'\), got 'sign'"):
        st.paired(data, "gain", "variant", "prompt", method="sign")
    three = pd.concat([data, data.assign(variant="chat")], ignore_index=True)
    with pytest.raises(ValueError, match=r"'variant' must have exactly the 2 levels \['base', 'chat', 'instruct'\]"):
        st.paired(three, "gain", "variant", "prompt")
    with pytest.raises(ValueError, match=r"'variant' must have exactly the 2 levels \['base', 'instruct'\]"):
        st.paired(three, "gain", "variant", "prompt", order=["base", "instruct"])
    # a level named in `order` but never measured leaves no pair
    with pytest.raises(ValueError, match="at least 2 values"):
        st.paired(data[data.variant == "base"], "gain", "variant", "prompt", order=["base", "instruct"])
