"""analysis.stats: permutation tests, bootstrap CIs, classification and robustness, checked against
exact enumeration, closed forms, scipy and scikit-learn; determinism of every resampling."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.api as sm
from pandas.testing import assert_frame_equal
from sklearn.metrics import roc_auc_score

import analysis.stats as st


def _units(values_a, values_b, prompts=1, seed=0):
    """Long data: one model per value, `prompts` rows each (prompt noise averages to the value)."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([values_a, values_b])
    labs = ["a"] * len(values_a) + ["b"] * len(values_b)
    noise = rng.normal(size=(len(values), prompts))
    noise -= noise.mean(axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "model": np.repeat([f"m{i:02d}" for i in range(len(values))], prompts),
            "lab": np.repeat(labs, prompts),
            "gain": (values[:, None] + noise).ravel(),
        }
    )


# --- permutation ---------------------------------------------------------------------------------


def test_exact_permutation_p_equals_combinatorial_count():
    """3 vs 3 with group a holding the 3 largest values: 1 of C(6,3) = 20 relabellings is as extreme."""
    data = _units([10.0, 11.0, 12.0], [1.0, 2.0, 3.0], prompts=25)
    out = st.permutation_test(data, "gain", "lab", "model", alternative="greater")
    assert out.at[0, "exact"] and out.at[0, "n_relabellings"] == math.comb(6, 3)
    assert out.at[0, "p_value"] == pytest.approx(1 / 20)
    two = st.permutation_test(data, "gain", "lab", "model")
    assert two.at[0, "p_value"] == pytest.approx(2 / 20)
    assert two.at[0, "min_attainable_p"] == pytest.approx(0.1) and "cannot go below 0.1" in two.at[0, "note"]
    assert (two.at[0, "n_units"], two.at[0, "n_obs"]) == (6, 150)
    assert two.at[0, "mean_difference"] == pytest.approx(9.0)


def test_exact_permutation_p_equals_brute_force():
    values = np.array([4.0, 11.0, 9.5, 13.0, 1.0, 2.0, 12.5, 3.0])
    data = _units(values[:4], values[4:])
    out = st.permutation_test(data, "gain", "lab", "model", alternative="greater")
    observed = values[:4].mean() - values[4:].mean()
    diffs = [values[list(s)].mean() - np.delete(values, list(s)).mean() for s in itertools.combinations(range(8), 4)]
    assert out.at[0, "p_value"] == pytest.approx(np.mean(np.array(diffs) >= observed - 1e-12))
    assert out.at[0, "n_relabellings"] == 70


def test_stratified_permutation_enumerates_within_strata():
    data = _units([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0])
    data["family"] = data.model.map({"m00": "f1", "m01": "f1", "m04": "f1", "m05": "f1"}).fillna("f2")
    out = st.permutation_test(data, "gain", "lab", "model", strata="family", alternative="greater")
    assert out.at[0, "n_relabellings"] == math.comb(4, 2) ** 2
    assert out.at[0, "p_value"] == pytest.approx(1 / 36)
    with pytest.raises(ValueError, match="not constant"):
        bad = data.copy()
        bad.loc[0, "family"] = "f3"
        st.permutation_test(pd.concat([bad, data]), "gain", "lab", "model", strata="family")


def test_monte_carlo_permutation_close_to_scipy_exact():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 1, size=8), rng.normal(0, 1, size=8)  # C(16, 8) = 12870 > 10000
    out = st.permutation_test(_units(a, b), "gain", "lab", "model", alternative="greater", seed=1)
    exact = scipy.stats.permutation_test(
        (a, b), lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis), n_resamples=np.inf, alternative="greater"
    )
    assert not out.at[0, "exact"]
    assert out.at[0, "p_value"] == pytest.approx(exact.pvalue, abs=0.01)


def test_welch_statistic_matches_scipy():
    rng = np.random.default_rng(4)
    a, b = rng.normal(1, 1, size=5), rng.normal(0, 3, size=6)
    out = st.permutation_test(_units(a, b), "gain", "lab", "model", statistic="welch_t")
    assert out.at[0, "statistic"] == pytest.approx(scipy.stats.ttest_ind(a, b, equal_var=False).statistic)


def test_permutation_determinism():
    rng = np.random.default_rng(5)
    data = _units(rng.normal(size=10), rng.normal(size=10), prompts=5)
    first = st.permutation_test(data, "gain", "lab", "model", seed=7)
    assert_frame_equal(first, st.permutation_test(data, "gain", "lab", "model", seed=7))
    assert first.at[0, "p_value"] != st.permutation_test(data, "gain", "lab", "model", seed=8).at[0, "p_value"]


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_permutation_correlation_exact_matches_scipy(alternative):
    rng = np.random.default_rng(6)
    data = pd.DataFrame({"x": rng.normal(size=5), "y": rng.normal(size=5)})
    out = st.permutation_correlation(data, "x", "y", alternative=alternative)
    ref = scipy.stats.permutation_test(
        (data.y.to_numpy(),),
        lambda y: scipy.stats.pearsonr(data.x, y).statistic,
        permutation_type="pairings",
        n_resamples=np.inf,
        alternative=alternative,
    )
    assert out.at[0, "exact"] and out.at[0, "n_relabellings"] == 120
    assert out.at[0, "p_value"] == pytest.approx(ref.pvalue)
    assert out.at[0, "r"] == pytest.approx(scipy.stats.pearsonr(data.x, data.y).statistic)


def test_permutation_correlation_two_sided_and_spearman_by_brute_force():
    rng = np.random.default_rng(7)
    data = pd.DataFrame({"x": rng.normal(size=5), "y": rng.normal(size=5)})
    data["y"] += data.x
    for method, func in [("pearson", scipy.stats.pearsonr), ("spearman", scipy.stats.spearmanr)]:
        out = st.permutation_correlation(data, "x", "y", method=method)
        observed = func(data.x, data.y).statistic
        null = [func(data.x, data.y.to_numpy()[list(p)]).statistic for p in itertools.permutations(range(5))]
        assert out.at[0, "p_value"] == pytest.approx(np.mean(np.abs(null) >= abs(observed) - 1e-12))


def test_permutation_correlation_on_unit_means_monte_carlo():
    rng = np.random.default_rng(8)
    x = rng.normal(size=12)
    data = pd.DataFrame(
        {"model": np.repeat(np.arange(12), 4), "x": np.repeat(x, 4), "y": np.repeat(-x, 4) + rng.normal(size=48)}
    )
    out = st.permutation_correlation(data, "x", "y", unit="model", seed=1)
    assert not out.at[0, "exact"] and out.at[0, "n_units"] == 12 and out.at[0, "n_obs"] == 48
    means = data.groupby("model").mean()
    assert out.at[0, "p_value"] == pytest.approx(scipy.stats.pearsonr(means.x, means.y).pvalue, abs=0.002)


# --- bootstrap -----------------------------------------------------------------------------------


@pytest.fixture
def nested():
    """20 models x 10 prompts, model effects and prompt noise."""
    rng = np.random.default_rng(10)
    return pd.DataFrame(
        {
            "model": np.repeat(np.arange(20), 10),
            "gain": np.repeat(rng.normal(1.0, 0.2, 20), 10) + rng.normal(0, 0.3, 200),
        }
    )


def test_row_bootstrap_close_to_normal_theory():
    rng = np.random.default_rng(11)
    data = pd.DataFrame({"v": rng.normal(5, 2, size=400)})
    out = st.bootstrap_ci(data, "v", seed=1)
    se = data.v.std(ddof=1) / 20
    assert out.at[0, "se"] == pytest.approx(se, rel=0.05)
    assert out.at[0, "ci_low"] == pytest.approx(data.v.mean() - 1.96 * se, abs=0.2 * se)
    bca = st.bootstrap_ci(data, "v", method="BCa", seed=1)
    assert bca.at[0, "ci_high"] == pytest.approx(out.at[0, "ci_high"], abs=0.2 * se)


def test_cluster_bootstrap_resamples_model_means(nested):
    out = st.bootstrap_ci(nested, "gain", cluster="model", seed=2)
    means = nested.groupby("model").gain.mean().to_frame()
    unit = st.bootstrap_ci(means, "gain", seed=2)
    assert (
        out.loc[0, ["statistic", "ci_low", "ci_high", "se"]].tolist()
        == unit.loc[0, ["statistic", "ci_low", "ci_high", "se"]].tolist()
    )
    assert (out.at[0, "n"], out.at[0, "n_obs"]) == (20, 200)
    naive = st.bootstrap_ci(nested, "gain", seed=2)
    assert naive.at[0, "se"] < out.at[0, "se"]  # rows as independent understate the uncertainty


def test_two_stage_bootstrap_variance_matches_theory(nested):
    """Var of the two-stage mean = (var0(model means) + mean over models of var0(prompts) / m) / G."""
    out = st.bootstrap_ci(nested, "gain", cluster="model", two_stage=True, seed=3)
    grouped = nested.groupby("model").gain
    expected = (grouped.mean().var(ddof=0) + (grouped.var(ddof=0) / grouped.size()).mean()) / 20
    assert out.at[0, "se"] ** 2 == pytest.approx(expected, rel=0.05)
    assert_frame_equal(out, st.bootstrap_ci(nested, "gain", cluster="model", two_stage=True, seed=3))


def test_two_stage_handles_unbalanced_clusters(nested):
    data = nested.drop(index=nested.index[(nested.model == 3) & (nested.index % 10 < 6)])
    out = st.bootstrap_ci(data, "gain", statistic="median", cluster="model", two_stage=True, seed=1, n_resamples=2000)
    assert np.isfinite(out.loc[0, ["ci_low", "ci_high"]].to_numpy(float)).all()
    assert out.at[0, "ci_low"] < out.at[0, "statistic"] < out.at[0, "ci_high"]


def test_bootstrap_contrast(nested):
    data = nested.assign(lab=np.where(nested.model < 8, "E", "M"))
    data.loc[data.lab == "E", "gain"] *= 3
    means = data.groupby("model").agg(gain=("gain", "mean"), lab=("lab", "first"))
    ratio = st.bootstrap_contrast(data, "gain", "lab", cluster="model", statistic="mean_ratio", seed=1)
    expected = means.gain[means.lab == "E"].mean() / means.gain[means.lab == "M"].mean()
    assert ratio.at[0, "statistic"] == pytest.approx(expected)
    assert ratio.at[0, "ci_low"] < expected < ratio.at[0, "ci_high"]
    assert (ratio.at[0, "n_a"], ratio.at[0, "n_b"]) == (8, 12)
    diff = st.bootstrap_contrast(data, "gain", "lab", cluster="model", seed=1)
    a, b = means.gain[means.lab == "E"], means.gain[means.lab == "M"]
    se = math.sqrt(a.var(ddof=0) / 8 + b.var(ddof=0) / 12)
    assert diff.at[0, "se"] == pytest.approx(se, rel=0.05)


# --- classification ------------------------------------------------------------------------------


@pytest.fixture
def scored():
    rng = np.random.default_rng(12)
    label = np.r_[np.ones(30, bool), np.zeros(40, bool)]
    return pd.DataFrame({"score": np.round(rng.normal(size=70) + 0.8 * label, 1), "dampens": label})


def test_auc_matches_sklearn_and_mann_whitney(scored):
    out = st.auc(scored, "score", "dampens", alternative="greater")
    assert out.at[0, "auc"] == pytest.approx(roc_auc_score(scored.dampens, scored.score))
    pos, neg = scored.score[scored.dampens], scored.score[~scored.dampens]
    pairs = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert out.at[0, "auc"] == pytest.approx(pairs)
    assert out.at[0, "p_value"] == pytest.approx(scipy.stats.mannwhitneyu(pos, neg, alternative="greater").pvalue)


def test_delong_se_agrees_with_bootstrap(scored):
    delong = st.auc(scored, "score", "dampens")
    boot = st.auc(scored, "score", "dampens", ci="bootstrap", seed=1)
    assert delong.at[0, "ci_high"] - delong.at[0, "ci_low"] == pytest.approx(
        boot.at[0, "ci_high"] - boot.at[0, "ci_low"], rel=0.15
    )
    assert_frame_equal(boot, st.auc(scored, "score", "dampens", ci="bootstrap", seed=1))


def test_auc_perfect_separation_is_flagged():
    data = pd.DataFrame({"rho": [0.06, 0.1, 0.12, 0.25, 0.3, 0.5], "sign": ["e", "e", "e", "d", "d", "d"]})
    out = st.auc(data, "rho", "sign", positive="d")
    assert out.at[0, "auc"] == 1.0 and "perfect separation" in out.at[0, "note"]


def test_logistic_matches_glm_and_flags_separation(scored):
    out = st.logistic_fit(scored, "dampens", "score").set_index("term")
    glm = sm.GLM(scored.dampens.astype(float), sm.add_constant(scored.score), family=sm.families.Binomial()).fit()
    assert out.at["score", "estimate"] == pytest.approx(glm.params["score"], rel=1e-5)
    assert out.at["score", "se"] == pytest.approx(glm.bse["score"], rel=1e-4)
    assert out.at["score", "odds_ratio"] == pytest.approx(math.exp(glm.params["score"]), rel=1e-5)
    separated = pd.DataFrame({"rho": [0.06, 0.1, 0.12, 0.25, 0.3, 0.5], "dampens": [0, 0, 0, 1, 1, 1]})
    flagged = st.logistic_fit(separated, "dampens", "rho")
    assert "separation" in flagged.at[0, "note"]


def test_threshold_on_separable_data():
    data = pd.DataFrame({"rho": [0.0625, 0.0625, 0.125, 0.1875, 0.25, 0.25, 0.5], "dampens": [0, 0, 0, 0, 1, 1, 1]})
    out = st.threshold_estimate(data, "rho", "dampens", seed=1)
    assert out.at[0, "statistic"] == pytest.approx((0.1875 + 0.25) / 2)
    assert (out.at[0, "cut_low"], out.at[0, "cut_high"], out.at[0, "score"]) == (0.1875, 0.25, 1.0)
    assert out.at[0, "ci_low"] <= out.at[0, "statistic"] <= out.at[0, "ci_high"]


@pytest.mark.parametrize("criterion", ["accuracy", "youden"])
def test_threshold_score_equals_brute_force(criterion):
    rng = np.random.default_rng(13)
    x = rng.normal(size=40)
    y = (x + rng.normal(size=40)) > 0.3
    data = pd.DataFrame({"x": x, "y": y})
    out = st.threshold_estimate(data, "x", "y", criterion=criterion, seed=2, n_resamples=500)

    def score(c):
        pred = x >= c
        if criterion == "accuracy":
            return np.mean(pred == y)
        return np.mean(pred[y]) + np.mean(~pred[~y]) - 1

    best = max(score(c) for c in np.r_[-np.inf, x, np.inf])
    assert out.at[0, "score"] == pytest.approx(best)
    assert score(out.at[0, "statistic"]) == pytest.approx(best)
    assert_frame_equal(out, st.threshold_estimate(data, "x", "y", criterion=criterion, seed=2, n_resamples=500))


# --- robustness ----------------------------------------------------------------------------------


def test_leave_one_out_detects_a_single_driving_unit():
    rng = np.random.default_rng(14)
    data = pd.DataFrame({"model": [f"m{i}" for i in range(10)], "x": rng.normal(size=10), "y": rng.normal(size=10)})
    data.loc[9, ["x", "y"]] = [8.0, 8.0]  # one outlier model makes the correlation
    out = st.leave_one_out(data, "model", lambda d: st.correlation(d, "x", "y"))
    assert out.at[0, "conclusion"] == "significant positive"
    flipping = [
        m for m in data.model if scipy.stats.pearsonr(*data[data.model != m][["x", "y"]].T.to_numpy()).pvalue >= 0.05
    ]
    assert "m9" in flipping and out.at[0, "flips"] and out.at[0, "flipping_units"] == ", ".join(flipping)
    without = scipy.stats.pearsonr(data.x[:9], data.y[:9]).statistic
    assert out.at[0, "loo_min"] == pytest.approx(without) and out.at[0, "unit_at_min"] == "m9"
    plain = st.leave_one_out(data, "model", lambda d: d.y.mean())
    assert plain.at[0, "loo_max"] == pytest.approx(max(data.y.drop(index=i).mean() for i in range(10)))
    assert np.isnan(plain.at[0, "p_value"]) and plain.at[0, "conclusion"] == "positive"


def test_order_robustness():
    rng = np.random.default_rng(15)
    means = {"pythia": 0.8, "mistral": 1.11, "llama": 1.48, "gemma": 2.31}
    data = pd.DataFrame(
        [(m, p, mu + rng.normal(0, 0.1)) for m, mu in means.items() for p in range(25)],
        columns=["model", "prompt", "gain"],
    )
    out = st.order_robustness(data, "gain", "model", "prompt", expected=list(means), seed=1)
    assert out.at[0, "order"] == "pythia < mistral < llama < gemma"
    assert out.at[0, "statistic"] == 1.0 and out.at[0, "matches_expected"]
    close = data.assign(gain=np.where(data.model == "mistral", data.gain + 0.37, data.gain))
    shaky = st.order_robustness(close, "gain", "model", "prompt", seed=1)
    assert 0.1 < shaky.at[0, "statistic"] < 0.9
    assert shaky.at[0, "weakest_pair"] in ("mistral < llama", "llama < mistral")
    assert_frame_equal(shaky, st.order_robustness(close, "gain", "model", "prompt", seed=1))
