"""Whole result rows of `analysis.stats.robustness`: `significance_conclusion`, `leave_one_out`
(recomputed by hand with scipy on each leave-one-unit-out subset) and `order_robustness`
(recomputed resample by resample from the documented paired bootstrap draw, with integer data so
that tied resample means occur).
"""

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from stats_expectations import SMALL_N, assert_row

import analysis.stats as st
from analysis.stats._common import bootstrap_counts


def test_significance_conclusion():
    assert st.significance_conclusion(2.0, 0.01) == "significant positive"
    assert st.significance_conclusion(-2.0, 0.01) == "significant negative"
    assert st.significance_conclusion(2.0, 0.05) == "not significant"  # p = alpha is not below alpha
    assert st.significance_conclusion(2.0, 0.3) == "not significant"
    assert st.significance_conclusion(2.0, 0.03, alpha=0.01) == "not significant"
    assert st.significance_conclusion(0.5, np.nan) == "positive"
    assert st.significance_conclusion(-0.5, np.nan) == "negative"
    assert st.significance_conclusion(0.0, np.nan) == "zero"


# --- leave one out ---------------------------------------------------------------------------


def _t_frame(d: pd.DataFrame) -> pd.DataFrame:
    test = scipy.stats.ttest_1samp(d["y"], 0.0)
    return pd.DataFrame({"statistic": [test.statistic], "p_value": [test.pvalue]})


def test_leave_one_out_whole_row_at_alpha_001():
    """Five models of four rows; leaving out m2 gives p = 0.0103: a flip at alpha = 0.01 (not at 0.05)."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"model": np.repeat([f"m{i}" for i in range(5)], 4), "y": 0.5 + rng.normal(size=20)})
    out = st.leave_one_out(data, "model", _t_frame, alpha=0.01)
    full = scipy.stats.ttest_1samp(data.y, 0.0)
    loo = {m: scipy.stats.ttest_1samp(data.y[data.model != m], 0.0) for m in sorted(data.model.unique())}
    assert 0.01 < loo["m2"].pvalue < 0.05 and full.pvalue < 0.01
    flipping = [m for m, r in loo.items() if r.pvalue >= 0.01]
    values = {m: r.statistic for m, r in loo.items()}
    expected = {
        "test": "leave-one-model-out",
        "statistic": full.statistic,
        "p_value": full.pvalue,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "n": 5,
        "conclusion": "significant positive",
        "loo_min": min(values.values()),
        "loo_max": max(values.values()),
        "unit_at_min": min(values, key=values.get),
        "unit_at_max": max(values, key=values.get),
        "flips": True,
        "flipping_units": ", ".join(flipping),
        "by_unit": "; ".join(f"{m}: {r.statistic:.4g} (p = {r.pvalue:.3g})" for m, r in loo.items()),
        "alternative": np.nan,
        "note": "",
    }
    assert flipping == ["m2"]
    assert_row(out, expected)


def test_leave_one_out_of_a_frame_without_p_value():
    """A frame with no p_value column reads as p = NaN: the conclusion is the sign; 4 units are few."""
    data = pd.DataFrame({"model": ["a", "a", "b", "c", "d"], "y": [1.0, 3.0, -2.0, 4.0, -8.0]})
    out = st.leave_one_out(data, "model", lambda d: pd.DataFrame({"estimate": [d.y.mean()]}), value="estimate")
    # hand means without a, b, c, d: (-2+4-8)/3, (1+3+4-8)/4, (1+3-2-8)/4, (1+3-2+4)/4
    by_unit = {"a": -2.0, "b": 0.0, "c": -1.5, "d": 1.5}
    expected = {
        "test": "leave-one-model-out",
        "statistic": -0.4,
        "p_value": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "n": 4,
        "conclusion": "negative",
        "loo_min": -2.0,
        "loo_max": 1.5,
        "unit_at_min": "a",
        "unit_at_max": "d",
        "flips": True,
        "flipping_units": "b, d",
        "by_unit": "a: -2; b: 0; c: -1.5; d: 1.5",
        "alternative": np.nan,
        "note": "small n (4 units < 5): " + SMALL_N,
    }
    assert by_unit == {"a": -6 / 3, "b": 0 / 4, "c": -6 / 4, "d": 6 / 4}
    assert_row(out, expected)


# --- order robustness ------------------------------------------------------------------------


def test_order_robustness_whole_row():
    """Integer scores of 3 models on 9 prompts (prompt 8 lacks model c): means b 6/8 < a 9/8 < c 13/8.
    Each of the 10 000 resamples (the default) is recomputed by np.repeat; a tie is not an order."""
    table = [[1, 0, 2], [2, 1, 1], [0, 0, 1], [1, 2, 2], [2, 1, 3], [1, 1, 1], [0, 1, 2], [2, 0, 1]]
    rows = [(p, m, float(v)) for p, scores in enumerate(table) for m, v in zip("abc", scores, strict=True)]
    data = pd.DataFrame([*rows, (8, "a", 1.0), (8, "b", 1.0)], columns=["prompt", "model", "score"])
    out = st.order_robustness(data, "score", "model", "prompt", expected=["a", "b", "c"], seed=7)

    matrix = np.array(table, dtype=float)
    counts = bootstrap_counts(np.random.default_rng(7), 8, 10_000).astype(int)
    means = np.array([[np.repeat(matrix[:, j], c).mean() for j in range(3)] for c in counts])
    a, b, c = means.T
    b_a, a_c = np.mean(b < a), np.mean(a < c)
    assert 0.5 < b_a < 1 and 0.5 < a_c < 1
    expected = {
        "test": "paired bootstrap over prompts of the order of per-model means of score",
        "statistic": np.mean((b < a) & (a < c)),
        "p_value": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "n": 8,
        "order": "b < a < c",
        "weakest_pair": "b < a" if b_a < a_c else "a < c",
        "weakest_pair_share": min(b_a, a_c),
        "expected_order": "a < b < c",
        "matches_expected": False,
        "expected_share": np.mean((a < b) & (b < c)),
        "n_groups": 3,
        "n_resamples": 10_000,
        "alternative": np.nan,
        "note": "1 prompt level(s) not measured on every model dropped; small n (8 blocks < 10): " + SMALL_N,
    }
    assert 0 < expected["expected_share"] < 0.5
    assert_row(out, expected)


def test_order_robustness_breaks_ties_by_group_name():
    """20 models whose means tie in threes: the observed order lists tied models by name, and no
    resample has a strict order."""
    names = [f"g{i:02d}" for i in range(20)]
    data = pd.DataFrame([(p, g, float(i % 3)) for p in range(10) for i, g in enumerate(names)], columns=["p", "g", "y"])
    out = st.order_robustness(data, "y", "g", "p", n_resamples=50, seed=0)
    assert out.at[0, "order"] == " < ".join(sorted(names, key=lambda g: (int(g[1:]) % 3, g)))
    assert out.at[0, "statistic"] == 0.0 and out.at[0, "weakest_pair_share"] == 0.0
    assert out.at[0, "note"] == "" and out.at[0, "n"] == 10 and out.at[0, "n_resamples"] == 50


def test_order_robustness_smallest_problem_and_errors():
    two = pd.DataFrame({"p": [0, 0, 1, 1], "g": ["x", "y", "x", "y"], "y": [0.0, 1.0, 0.0, 2.0]})
    out = st.order_robustness(two, "y", "g", "p", expected=["x", "y"], n_resamples=20, seed=1)
    assert out.at[0, "order"] == "x < y" and out.at[0, "statistic"] == 1.0
    assert out["matches_expected"].tolist() == [True]
    assert out.at[0, "expected_share"] == 1.0 and out.at[0, "n_groups"] == 2
    with pytest.raises(ValueError, match=r"need at least 2 gs and 2 complete ps, got 2 and 1"):
        st.order_robustness(two[two.p == 0], "y", "g", "p")
    with pytest.raises(ValueError, match=r"need at least 2 gs and 2 complete ps, got 1 and 2"):
        st.order_robustness(two[two.g == "x"], "y", "g", "p")
    with pytest.raises(ValueError, match=r"expected \['x', 'z'\] must list exactly the groups \['x', 'y'\]"):
        st.order_robustness(two, "y", "g", "p", expected=["x", "z"])
