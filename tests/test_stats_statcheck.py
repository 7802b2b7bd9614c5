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


@pytest.mark.parametrize(
    "printed, same_as",
    [
        ("p ≤ 0.05", "p <= 0.05"),
        ("p ≥ 0.05", "p >= 0.05"),
        ("0.15—0.20", "0.15-0.20"),
        ("0.15–0.20", "0.15-0.20"),
        ("−2.5", "-2.5"),
        ("26×", "26x"),
        ("≈ 10", "~10"),
        ("1,234,567", "1234567"),
    ],
)
def test_printed_variants_mean_the_same_interval(printed, same_as):
    a, b = st.rounding_interval(printed), st.rounding_interval(same_as)
    assert (a.low, a.high, a.low_closed, a.high_closed, a.kind) == (b.low, b.high, b.low_closed, b.high_closed, b.kind)


def test_interval_kinds_ends_and_printing():
    ranged = st.rounding_interval("15-20%")
    assert (ranged.kind, ranged.low, ranged.high) == ("range", pytest.approx(0.145), pytest.approx(0.205))
    assert math.isnan(ranged.value) and ranged.low_closed and ranged.high_closed
    approx = st.rounding_interval("~300x")
    assert (approx.kind, approx.value, approx.low_closed, approx.high_closed) == ("approximate", 300, True, True)
    assert st.rounding_interval("1.5e-3").high == pytest.approx(1.55e-3)  # half a unit of the mantissa's last digit
    p_below = st.rounding_interval("p < 0.001")
    assert (p_below.kind, p_below.low_closed, p_below.high_closed) == ("bound", True, False) and p_below.contains(0.0)
    below = st.rounding_interval("< 5")
    assert not below.low_closed and below.contains(-1e300) and not below.contains(5.0)
    p_above = st.rounding_interval("p > 0.05")
    assert (p_above.low_closed, p_above.high_closed) == (False, True) and p_above.contains(1.0)
    assert not p_above.contains(0.05) and p_above.contains(0.0500001)
    at_least = st.rounding_interval(">= 5")
    assert (at_least.low, at_least.high, at_least.low_closed) == (5.0, np.inf, True) and at_least.contains(5.0)
    assert not st.rounding_interval("> 5").contains(5.0) and not st.rounding_interval("> 5").high_closed
    assert str(st.rounding_interval("26")) == "[25.5, 26.5]" and str(p_below) == "[0, 0.001)"
    assert str(st.rounding_interval("> 5")) == "(5, inf)"


def test_closed_ends_allow_only_floating_point_noise():
    """A closed end admits values within 1e-12 (relative, at least absolute) of it, for the rounding of the
    stored bound; nothing a printed digit could tell apart."""
    interval = st.rounding_interval("0")  # [-0.5, 0.5]
    assert interval.contains(-0.5 - 0.5e-12) and interval.contains(0.5 + 0.5e-12)
    assert not interval.contains(-0.5 - 1.5e-12) and not interval.contains(0.5 + 1.5e-12)
    big = st.rounding_interval("1000000")  # tolerance relative to the value: 1e-6 here
    assert big.contains(1000000.5 + 0.5e-6) and not big.contains(1000000.5 + 1.5e-6)


def test_reproduces_explains_its_verdict():
    verdict, reason = st.reproduces("26x", 26.2)
    assert verdict == "yes" and reason == "26.2 within [25.5, 26.5] from '26x'"
    verdict, reason = st.reproduces("0.5", 0.5, printed_p="p > 0.01", recomputed_p=0.03)
    assert verdict == "yes" and "printed 'p > 0.01' does not fix a decision at alpha = 0.05" in reason
    verdict, reason = st.reproduces("0.5", 0.5, printed_p="0.2", recomputed_p=0.3)
    assert verdict == "yes" and "recomputed p = 0.3 (not significant) agrees with printed '0.2'" in reason
    verdict, reason = st.reproduces("0.5", 0.5, printed_p="0.2", recomputed_p=0.01)
    assert verdict == "no" and "recomputed p = 0.01 (significant) contradicts printed '0.2'" in reason
    assert "p outside" not in st.reproduces("0.5", 0.5, printed_p="0.2", recomputed_p=0.2)[1]
    assert st.reproduces("1", 1.0, printed_p="p = 0.03", recomputed_p=0.07, alpha=0.1)[0] == "yes"
    assert st.reproduces("1", 1.0, printed_p="p = 0.03", recomputed_p=0.07, alpha=0.05)[0] == "no"
    assert st.reproduces("~10", 14.0, approx_factor=1.5)[0] == "yes"
    assert st.reproduces("~10", 16.0, approx_factor=1.5)[0] == "no"
    assert st.reproduces("1", None)[0] == "not recomputable"
    with pytest.raises(ValueError, match="needs a recomputed p"):
        st.reproduces("1", 1.0, printed_p="0.01", recomputed_p=float("nan"))


def test_decide_gives_the_reason_of_each_verdict():
    verdict, reason = st.decide(0.5, 0.2, 0.8, 0.001, direction="greater", claimed=0.9)
    assert verdict == "holds" and reason == (
        "significant in the claimed direction: 0.5 [0.2, 0.8], p = 0.001; the stated 0.9 is outside the CI"
    )
    assert st.decide(0.5, 0.2, 0.8, 0.001, direction="greater", claimed=0.6)[1].endswith("p = 0.001")
    assert st.decide(-0.5, -0.8, -0.2, 0.001, direction="greater") == (
        "fails",
        "significant in the opposite direction: -0.5 [-0.8, -0.2], p = 0.001",
    )
    assert st.decide(0.1, -0.2, 0.4, 0.5, direction="greater", claimed=0.9) == (
        "fails",
        "not significant and the CI excludes the stated 0.9: 0.1 [-0.2, 0.4], p = 0.5",
    )
    assert st.decide(0.1, np.nan, np.nan, 0.5, n_needed=40) == (
        "inconclusive",
        "not significant: 0.1 [nan, nan], p = 0.5; about n = 40 would be needed for 80% power",
    )
    verdict, reason = st.decide(0.3, 0.1, 0.5, 0.07, direction="greater")
    assert verdict == "inconclusive" and reason.startswith("not significant by the test, although the CI excludes 0")
    assert st.decide(0.1, -0.2, 0.4, 0.5, null=0.0) == (
        "inconclusive",
        "not significant, CI compatible with the claim and with no effect: 0.1 [-0.2, 0.4], p = 0.5",
    )
    assert st.decide(1.2, 1.1, 1.3, 0.01, direction="greater", null=1.0)[0] == "holds"
    assert st.decide(0.9, 0.8, 0.95, 0.01, direction="greater", null=1.0)[0] == "fails"
    assert st.decide(0.9, 0.8, 0.95, 0.01, direction="less", null=1.0)[0] == "holds"
    assert st.decide(0.0, -0.1, 0.1, 0.01, direction="two-sided")[0] == "fails"  # "significant" at no effect
    assert st.decide(0.3, 0.1, 0.5, 0.02, alpha=0.01)[0] == "inconclusive"
    with pytest.raises(ValueError):
        st.decide(0.3, 0.1, 0.5, 0.02, direction="up")


def test_sample_sizes_for_one_sided_tests_and_unequal_groups():
    """Against pingouin (t-test power) and the normal closed form (Cohen's h), one-sided and with a ratio."""
    n = st.n_for_two_means(0.5, alternative="greater")
    assert n == math.ceil(pingouin.power_ttest(d=0.5, power=0.8, alpha=0.05, alternative="greater"))
    assert st.n_for_two_means(-0.5, alternative="less") == n
    assert st.n_for_two_means(0.5, power=0.9) > st.n_for_two_means(0.5) > st.n_for_two_means(0.5, alpha=0.1)
    z = scipy.stats.norm.ppf(0.95) + scipy.stats.norm.ppf(0.8)
    h = 2 * math.asin(math.sqrt(0.8)) - 2 * math.asin(math.sqrt(0.18))
    assert st.n_for_two_proportions(0.8, 0.18, alternative="greater") == math.ceil(2 * (z / h) ** 2)
    assert st.n_for_two_proportions(0.18, 0.8, alternative="less") == math.ceil(2 * (z / h) ** 2)
    z2 = scipy.stats.norm.ppf(0.975) + scipy.stats.norm.ppf(0.8)
    assert st.n_for_two_proportions(0.8, 0.18, ratio=2.0) == math.ceil((1 + 1 / 2) * (z2 / h) ** 2)
    r_alpha = scipy.stats.norm.ppf(0.975) + scipy.stats.norm.ppf(0.9)
    assert st.n_for_correlation(0.5, power=0.9) == math.ceil((r_alpha / math.atanh(0.5)) ** 2 + 3)
    assert st.n_for_correlation(-0.5) == st.n_for_correlation(0.5)
    for function in (st.n_for_correlation, st.n_for_two_means):
        with pytest.raises(ValueError):
            function(0.5, alternative="up")
    with pytest.raises(ValueError):
        st.n_for_two_proportions(0.5, 0.2, alternative="up")


def test_every_kind_of_interval_keeps_what_was_printed():
    for printed, kind, value in [
        ("26", "rounding", 26.0),
        ("0.15-0.20", "range", None),
        ("~300x", "approximate", 300.0),
        ("p <= 0.001", "bound", 0.001),
        ("p >= 0.05", "bound", 0.05),
    ]:
        interval = st.rounding_interval(printed)
        assert (interval.kind, interval.printed) == (kind, printed)
        assert math.isnan(interval.value) if value is None else interval.value == value
        if kind != "bound":
            assert interval.contains(interval.low) and interval.contains(interval.high)
    at_most = st.rounding_interval("p <= 0.001")
    assert (at_most.low, at_most.high, at_most.low_closed, at_most.high_closed) == (0.0, 0.001, True, True)
    with pytest.raises(ValueError, match="^cannot parse printed value '10\\^3'$"):
        st.rounding_interval("10^3")


def test_decide_at_the_edges_of_its_rules():
    assert st.decide(0.5, 0.2, 0.8, 0.01)[0] == "holds"  # two-sided: any significant difference
    assert st.decide(-0.5, -0.8, -0.2, 0.01)[0] == "holds"
    assert st.decide(1.0, 0.9, 1.1, 0.01, direction="greater", null=1.0)[0] == "fails"  # estimate at the null
    assert st.decide(1.0, 0.9, 1.1, 0.01, direction="less", null=1.0)[0] == "fails"
    for claimed in (-0.2, 0.4):  # a claimed value at an end of the CI is inside it
        assert st.decide(0.1, -0.2, 0.4, 0.5, claimed=claimed)[0] == "inconclusive"
    assert st.decide(0.1, np.nan, 0.4, 0.5)[1] == "not significant: 0.1 [nan, 0.4], p = 0.5"
    for null in (0.0, 0.4):  # a null at an end of the CI is inside it
        assert "CI compatible" in st.decide(0.1, 0.0, 0.4, 0.5, null=null)[1]


def test_reproduces_reasons_in_full():
    assert st.reproduces("1", None) == ("not recomputable", "no recomputed value")
    assert st.reproduces("-0.81", -0.878) == ("no", "-0.878 outside [-0.815, -0.805] from '-0.81'")
    assert st.reproduces("0.5", 0.5, printed_p="0.2", recomputed_p=0.3) == (
        "yes",
        "0.5 within [0.45, 0.55] from '0.5'; recomputed p = 0.3 (not significant) agrees with printed '0.2'; "
        "p outside [0.15, 0.25], decision unchanged",
    )
    assert st.reproduces("~10", 25.0) == ("no", "25 outside [5, 20] from '~10'")  # the default factor is 2
    with pytest.raises(ValueError, match="^a printed p needs a recomputed p$"):
        st.reproduces("1", 1.0, printed_p="0.01")


def _t_test_power(n1: float, ratio: float, d: float, alpha: float = 0.05) -> float:
    """Power of the two-sided two-sample t-test with n1 and ratio * n1 units (noncentral t, scipy)."""
    n2 = ratio * n1
    df, noncentrality = n1 + n2 - 2, d * math.sqrt(n1 * n2 / (n1 + n2))
    critical = scipy.stats.t.ppf(1 - alpha / 2, df)
    return scipy.stats.nct.sf(critical, df, noncentrality) + scipy.stats.nct.cdf(-critical, df, noncentrality)


@pytest.mark.parametrize("ratio", [0.5, 1.0, 2.0])
def test_n_for_two_means_is_the_smallest_n_with_the_power(ratio):
    n = st.n_for_two_means(0.5, ratio=ratio)
    assert _t_test_power(n, ratio, 0.5) >= 0.8 > _t_test_power(n - 1, ratio, 0.5)
