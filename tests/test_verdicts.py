"""Verdict logic at its edges: the statcheck comparison uses the paper-method p, Monte Carlo p-values
carry the +1 correction, and the significance decisions are exact at alpha.

Each test sits where a plausible one-character bug would change the answer, with data where the two
readings differ (e.g. a proper-analysis p and a paper-method p on opposite sides of alpha).
"""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import analysis.stats as st
from analysis.claims import CLAIMS, Settings
from analysis.claims.registry import Outcome
from analysis.run import _reproduces, claim_row

ALPHA = 0.05

# --- reproduces: the printed p is compared with the p computed the paper's way -----------------------


@pytest.fixture
def printed_claim():
    """A registered claim that prints both a value and a p ("-0.81", p = "0.014")."""
    claim = CLAIMS["kleiber_rho_r"]
    assert (claim.paper_value, claim.paper_p) == ("-0.81", "0.014")
    return claim


def test_reproduces_compares_the_printed_p_with_the_paper_method_p(printed_claim):
    """The proper analysis (model as the unit) can disagree with the paper's own test; statcheck asks
    whether the paper's number follows from the paper's method, so only p_paper_method counts."""
    same_as_paper = Outcome(statistic="r", value=-0.81, p_value=0.30, p_paper_method=0.014)
    verdict, reason = _reproduces(printed_claim, "published", same_as_paper)
    assert verdict == "yes" and "0.014" in reason
    unlike_paper = Outcome(statistic="r", value=-0.81, p_value=0.014, p_paper_method=0.30)
    verdict, reason = _reproduces(printed_claim, "published", unlike_paper)
    assert verdict == "no" and "contradicts" in reason


def test_reproduces_is_for_the_published_data_only(printed_claim):
    outcome = Outcome(statistic="r", value=-0.81, p_value=0.014, p_paper_method=0.014)
    assert _reproduces(printed_claim, "measured", outcome) == ("not recomputable", "")
    assert _reproduces(printed_claim, "published", Outcome(statistic="r", p_paper_method=0.01))[0] == "not recomputable"
    incomparable = Outcome(statistic="r", value=-0.81, p_paper_method=0.014, comparable=False)
    assert _reproduces(printed_claim, "published", incomparable)[0] == "not recomputable"
    checked_by_the_claim = Outcome(statistic="r", value=0.0, p_paper_method=0.9, reproduced=("yes", "own check"))
    assert _reproduces(printed_claim, "published", checked_by_the_claim) == ("yes", "own check")


def test_claim_row_carries_the_paper_method_p_and_its_verdict(printed_claim):
    outcome = Outcome(statistic="r", value=-0.81, ci_low=-0.95, ci_high=-0.3, p_value=0.30, p_paper_method=0.014)
    row = claim_row(printed_claim, SimpleNamespace(name="published"), outcome, Settings())
    assert (row["p_value"], row["p_paper_method"], row["reproduces"]) == (0.30, 0.014, "yes")
    assert row["ci_level"] == Settings().confidence


# --- permutation p-values -------------------------------------------------------------------------


def _two_groups(values_a, values_b) -> pd.DataFrame:
    values = list(values_a) + list(values_b)
    return pd.DataFrame(
        {
            "model": [f"m{i:02d}" for i in range(len(values))],
            "lab": ["a"] * len(values_a) + ["b"] * len(values_b),
            "gain": values,
        }
    )


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_monte_carlo_p_of_the_most_extreme_labelling_is_one_over_n_plus_one(alternative):
    """15 vs 15 units, group a holding the 15 largest: C(30, 15) = 1.6e8 labellings, so 999 draws are a
    Monte Carlo sample in which no relabelling is as extreme as the observed one (the chance that one
    of them is the observed labelling or its mirror is below 1e-5): p = (0 + 1) / (999 + 1) exactly."""
    data = _two_groups(np.arange(100.0, 115.0), np.arange(15.0))
    out = st.permutation_test(data, "gain", "lab", "model", alternative=alternative, n_resamples=999, seed=3)
    assert not out.at[0, "exact"] and out.at[0, "n_relabellings"] == 999
    assert out.at[0, "p_value"] == 1 / 1000


def test_monte_carlo_correlation_p_of_a_perfect_correlation_is_one_over_n_plus_one():
    """r = 1 on 10 units (10! = 3.6e6 orderings, 999 drawn): no drawn ordering reaches |r| = 1."""
    data = pd.DataFrame({"x": np.arange(10.0), "y": np.arange(10.0) ** 1.5})
    out = st.permutation_correlation(data, "x", "y", n_resamples=999, seed=5)
    assert not out.at[0, "exact"]
    assert out.at[0, "p_value"] == 1 / 1000
    assert out.at[0, "min_attainable_p"] == 1 / 1000  # p reaches it: no draw is as extreme as r = 1


def test_monte_carlo_p_counts_ties_and_adds_one():
    """Group a = b in distribution with every value tied: every relabelling is as extreme, p = 1."""
    data = _two_groups([1.0] * 12, [1.0] * 12)
    out = st.permutation_test(data, "gain", "lab", "model", n_resamples=499, seed=0)
    assert not out.at[0, "exact"] and out.at[0, "p_value"] == 1.0


def test_exact_p_is_the_share_of_relabellings_without_correction():
    """4 vs 4: all C(8, 4) = 70 relabellings; p = (relabellings at least as extreme) / 70, counted here."""
    values = np.array([7.0, 9.0, 4.0, 8.0, 1.0, 5.0, 2.0, 3.0])
    out = st.permutation_test(_two_groups(values[:4], values[4:]), "gain", "lab", "model", alternative="greater")
    observed = values[:4].mean() - values[4:].mean()
    count = sum(
        values[list(a)].mean() - np.delete(values, list(a)).mean() >= observed - 1e-12
        for a in itertools.combinations(range(8), 4)
    )
    assert out.at[0, "exact"] and out.at[0, "p_value"] == count / math.comb(8, 4)
    assert out.at[0, "min_attainable_p"] == 1 / 70


# --- significance decisions at exactly alpha --------------------------------------------------------


@pytest.mark.parametrize(
    "printed_p, recomputed_p, verdict",
    [
        ("p = .05", 0.04, "yes"),  # statcheck: a printed p = .05 is a significant result
        ("p = .05", 0.06, "no"),
        ("p < .05", 0.04, "yes"),  # the bound's high end is alpha itself: significant
        ("p < .05", 0.06, "no"),
        ("p <= .05", 0.04, "yes"),
        ("p > .05", 0.06, "yes"),  # the bound's low end is alpha: not significant
        ("p > .05", 0.04, "no"),
        ("p = .04", 0.05, "no"),  # a recomputed p of exactly alpha is not significant (p < alpha)
        ("p = .06", 0.05, "yes"),
    ],
)
def test_significance_decisions_at_alpha(printed_p, recomputed_p, verdict):
    result, reason = st.reproduces("0.5", 0.5, printed_p=printed_p, recomputed_p=recomputed_p, alpha=ALPHA)
    assert result == verdict, reason


@pytest.mark.parametrize("p_value, verdict", [(0.05, "inconclusive"), (0.0499, "holds")])
def test_decide_at_alpha(p_value, verdict):
    assert st.decide(0.3, 0.1, 0.5, p_value, direction="greater", alpha=ALPHA)[0] == verdict
