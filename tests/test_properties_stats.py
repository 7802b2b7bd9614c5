"""Properties of the statistics that example tests check only at points: permutation p-values (never
below 1 / (N + 1) from a Monte Carlo sample, equal to the enumeration when exact) and statcheck's
rounding intervals (closed at both ends, holding exactly the values that print as the string)."""

from __future__ import annotations

import itertools
import math
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd
from hypothesis import assume, given
from hypothesis import strategies as st

import analysis.stats as stats

ALTERNATIVES = st.sampled_from(["two-sided", "greater", "less"])
# small integers: ties between relabellings are common, and every statistic is a ratio of integers
VALUES = st.integers(-4, 4).map(float)


def _count(null: np.ndarray, observed: float, alternative: str) -> int:
    """Relabellings at least as extreme as ``observed`` (ties within 1e-9, as rounding allows)."""
    tolerance = 1e-9 * max(1.0, abs(observed))
    hits = {
        "greater": null >= observed - tolerance,
        "less": null <= observed + tolerance,
        "two-sided": np.abs(null) >= abs(observed) - tolerance,
    }[alternative]
    return int(hits.sum())


@st.composite
def two_groups(draw):
    n_a, n_b = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    values = draw(st.lists(VALUES, min_size=n_a + n_b, max_size=n_a + n_b))
    return pd.DataFrame(
        {"model": [f"m{i}" for i in range(n_a + n_b)], "lab": ["a"] * n_a + ["b"] * n_b, "gain": values}
    )


@given(two_groups(), ALTERNATIVES)
def test_exact_permutation_p_is_the_share_of_relabellings(data, alternative):
    values, in_a = data["gain"].to_numpy(), (data["lab"] == "a").to_numpy()
    n, n_a = len(values), int(in_a.sum())
    out = stats.permutation_test(data, "gain", "lab", "model", alternative=alternative, n_resamples=10_000)
    null = np.array(
        [values[list(a)].mean() - np.delete(values, list(a)).mean() for a in itertools.combinations(range(n), n_a)]
    )
    observed = values[in_a].mean() - values[~in_a].mean()
    assert out.at[0, "exact"] and out.at[0, "n_relabellings"] == math.comb(n, n_a)
    assert out.at[0, "p_value"] == _count(null, observed, alternative) / math.comb(n, n_a)
    assert 1 / math.comb(n, n_a) <= out.at[0, "p_value"] <= 1


@given(two_groups(), ALTERNATIVES, st.integers(5, 60), st.integers(0, 2**16))
def test_monte_carlo_permutation_p_is_never_below_one_over_n_plus_one(data, alternative, n_resamples, seed):
    n, n_a = len(data), int((data["lab"] == "a").sum())
    assume(math.comb(n, n_a) > n_resamples)
    out = stats.permutation_test(
        data, "gain", "lab", "model", alternative=alternative, n_resamples=n_resamples, seed=seed
    )
    p = out.at[0, "p_value"]
    assert not out.at[0, "exact"]
    assert 1 / (n_resamples + 1) <= p <= 1
    count = p * (n_resamples + 1) - 1  # p = (count + 1) / (N + 1) with count draws as extreme
    assert abs(count - round(count)) < 1e-9 and 0 <= round(count) <= n_resamples
    assert out.at[0, "min_attainable_p"] == 1 / (n_resamples + 1)


@st.composite
def paired(draw, n_min=3, n_max=5):
    n = draw(st.integers(n_min, n_max))
    x = draw(st.lists(VALUES, min_size=n, max_size=n))
    y = draw(st.lists(VALUES, min_size=n, max_size=n))
    assume(len(set(x)) > 1 and len(set(y)) > 1)  # a correlation needs variation in both
    return pd.DataFrame({"x": x, "y": y})


@given(paired(), ALTERNATIVES)
def test_exact_permutation_correlation_p_is_the_share_of_orderings(data, alternative):
    out = stats.permutation_correlation(data, "x", "y", alternative=alternative, n_resamples=200)
    x, y = data["x"].to_numpy(), data["y"].to_numpy()
    null = np.array([np.corrcoef(x, y[list(order)])[0, 1] for order in itertools.permutations(range(len(x)))])
    assert out.at[0, "exact"]
    assert out.at[0, "p_value"] == _count(null, np.corrcoef(x, y)[0, 1], alternative) / math.factorial(len(x))


@given(paired(6, 8), ALTERNATIVES, st.integers(5, 200), st.integers(0, 2**16))
def test_monte_carlo_correlation_p_is_never_below_one_over_n_plus_one(data, alternative, n_resamples, seed):
    out = stats.permutation_correlation(data, "x", "y", alternative=alternative, n_resamples=n_resamples, seed=seed)
    assert not out.at[0, "exact"]
    assert 1 / (n_resamples + 1) <= out.at[0, "p_value"] <= 1


# --- rounding intervals -----------------------------------------------------------------------------


@st.composite
def printed_numbers(draw):
    """(printed string, the printed decimal, its last digit's unit, scale): the interval is in the printed
    units divided by ``scale`` (100 for a percentage)."""
    mantissa, decimals = draw(st.integers(-99_999, 99_999)), draw(st.integers(0, 4))
    printed, unit = Decimal(mantissa).scaleb(-decimals), Decimal(1).scaleb(-decimals)
    text = f"{printed:.{decimals}f}"
    form = draw(st.sampled_from(["{}", "{}%", "{}x", "r = {}"]))
    return form.format(text), printed, unit, 100 if form == "{}%" else 1


@given(printed_numbers(), st.floats(-1.5, 1.5))
def test_rounding_interval_holds_exactly_the_values_that_print_as_the_string(printed_number, offset):
    text, printed, unit, scale = printed_number
    interval = stats.rounding_interval(text)
    assert interval.kind == "rounding" and interval.low_closed and interval.high_closed
    low, high = (printed - unit / 2) / scale, (printed + unit / 2) / scale
    # the ends are the exact decimal ends, up to the float that stands for them, and both are in
    assert abs(Decimal(interval.low) - low) <= abs(low) * Decimal("1e-15")
    assert abs(Decimal(interval.high) - high) <= abs(high) * Decimal("1e-15")
    assert interval.contains(float(low)) and interval.contains(float(high))
    x = float((printed + unit * Decimal(offset)) / scale)  # within a unit and a half of the printed value
    # printf's rounding of the exact binary value of x (half to even)
    prints_as = (Decimal(x) * scale).quantize(unit, rounding=ROUND_HALF_EVEN) == printed
    if prints_as:
        assert interval.contains(x), (text, x)
    elif interval.contains(x):  # only a value at an end, within the tolerance for its float, may differ
        assert min(abs(Decimal(x) - low), abs(Decimal(x) - high)) <= max(abs(Decimal(x)), 1) * Decimal("1e-12")


@given(st.integers(-(10**6), 10**6), st.sampled_from(["", "x", "×"]))
def test_integer_rounding_interval_is_closed_at_exactly_representable_ends(number, suffix):
    """For an integer the ends n - 0.5 and n + 0.5 are exact floats: both are in, the next floats out."""
    interval = stats.rounding_interval(f"{number}{suffix}")
    assert (interval.low, interval.high) == (number - 0.5, number + 0.5)
    assert interval.contains(number - 0.5) and interval.contains(number + 0.5)
    assert not interval.contains(number - 0.5 - 1e-6 * max(1, abs(number)))
    assert not interval.contains(number + 0.5 + 1e-6 * max(1, abs(number)))
