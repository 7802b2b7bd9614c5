"""analysis.stats.statcheck: rounding intervals, reproduction verdicts, decisions and sample sizes."""

import math

import numpy as np
import pingouin
import pytest
import scipy.stats

import analysis.stats as st


@pytest.mark.parametrize(
    "printed, low, high",
    [
        ("-0.81", -0.815, -0.805),
        ("r = −0.81", -0.815, -0.805),
        ("0.014", 0.0135, 0.0145),
        ("2.32", 2.315, 2.325),
        ("0.20", 0.195, 0.205),
        ("43.75%", 0.43745, 0.43755),
        ("26x", 25.5, 26.5),
        ("10×", 9.5, 10.5),
        ("62,696", 62695.5, 62696.5),
        ("1e-4", 0.5e-4, 1.5e-4),
        ("~300x", 150, 600),
        ("0.15-0.20", 0.145, 0.205),
        ("ρ_crit ≈ 0.15–0.20", 0.145, 0.205),
        ("p < 0.001", 0.0, 0.001),
        ("p > 0.05", 0.05, 1.0),
        ("< 5", -np.inf, 5.0),
    ],
)
def test_rounding_interval(printed, low, high):
    interval = st.rounding_interval(printed)
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))


def test_interval_ends():
    strict = st.rounding_interval("p < 0.001")
    assert not strict.contains(0.001) and strict.contains(0.0009)
    assert st.rounding_interval("p <= 0.001").contains(0.001)
    # round-half either way: both ends are in. Integers have exactly representable ends (n -/+ 0.5), so
    # an open end cannot hide behind a stored bound a rounding error below or above the true one
    for printed in ("-26", "26x", "62,696"):
        interval = st.rounding_interval(printed)
        assert interval.contains(interval.low) and interval.contains(interval.high)
        assert interval.high - interval.low == 1.0
        assert not interval.contains(interval.low - 1e-6) and not interval.contains(interval.high + 1e-6)
    assert st.rounding_interval("-26").contains(-26.5) and st.rounding_interval("-26").contains(-25.5)
    assert st.rounding_interval("~300x", approx_factor=1.5).high == pytest.approx(450)
    with pytest.raises(ValueError):
        st.rounding_interval("10^(1/L)")


def test_reproduces_statcheck_cases():
    assert st.reproduces("-0.81", -0.8116)[0] == "yes"
    verdict, reason = st.reproduces("-0.81", -0.878)
    assert verdict == "no" and "outside" in reason
    assert st.reproduces("p = 0.014", 0.01444)[0] == "yes"
    assert st.reproduces("p < 0.001", 0.036)[0] == "no"
    assert st.reproduces("43.75%", 7 / 16)[0] == "yes"
    assert st.reproduces("~300x", 180.0)[0] == "yes"
    assert st.reproduces("0.15-0.20", 0.2)[0] == "yes"
    assert st.reproduces("2.32", np.nan)[0] == "not recomputable"


def test_reproduces_checks_the_significance_decision():
    assert st.reproduces("-0.81", -0.8116, printed_p="0.014", recomputed_p=0.01444)[0] == "yes"
    verdict, reason = st.reproduces("-0.81", -0.8116, printed_p="p = 0.014", recomputed_p=0.09)
    assert verdict == "no" and "contradicts" in reason
    verdict, reason = st.reproduces("-0.81", -0.81, printed_p="p = 0.014", recomputed_p=0.03)
    assert verdict == "yes" and "decision unchanged" in reason  # inconsistent p, same decision
    assert st.reproduces("0.5", 0.5, printed_p="p < 0.001", recomputed_p=0.036)[0] == "yes"
    assert st.reproduces("0.5", 0.5, printed_p="p < 0.001", recomputed_p=0.2)[0] == "no"
    with pytest.raises(ValueError):
        st.reproduces("0.5", 0.5, printed_p="0.01")


def test_decide():
    assert st.decide(-0.81, -0.95, -0.4, 0.01, direction="less")[0] == "holds"
    assert st.decide(0.5, 0.1, 0.8, 0.01, direction="less")[0] == "fails"
    assert st.decide(-0.2, -0.6, 0.3, 0.4, direction="less", claimed=-0.81)[0] == "fails"
    verdict, reason = st.decide(-0.5, -0.9, 0.3, 0.2, direction="less", claimed=-0.81, n_needed=29)
    assert verdict == "inconclusive" and "n = 29" in reason


@pytest.mark.parametrize("r", [0.3, 0.5, 0.81])
def test_n_for_correlation_matches_pingouin(r):
    n = st.n_for_correlation(r)
    assert n == pytest.approx(math.ceil(pingouin.power_corr(r=r, power=0.8, alpha=0.05)), abs=1)
    assert pingouin.power_corr(r=r, n=n, alpha=0.05) >= 0.78
    assert st.n_for_correlation(r, alternative="less") < n


def test_n_for_two_proportions_and_means_closed_forms():
    z = scipy.stats.norm.ppf(0.975) + scipy.stats.norm.ppf(0.8)
    h = 2 * math.asin(math.sqrt(0.8)) - 2 * math.asin(math.sqrt(0.18))
    assert st.n_for_two_proportions(0.8, 0.18) == math.ceil(2 * (z / h) ** 2)  # Var(2 asin sqrt p) = 1/n per group
    n = st.n_for_two_means(0.5)
    assert n == 64  # the textbook value for d = 0.5, 80% power, two-sided alpha 0.05
    assert pingouin.power_ttest(d=0.5, n=n, alpha=0.05) >= 0.8
