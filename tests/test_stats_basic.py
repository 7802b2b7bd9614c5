"""analysis.stats: correlation, proportions, location tests, agreement, checked against independent
computations (scipy, pingouin, closed forms, hand sums)."""

import math

import numpy as np
import pandas as pd
import pingouin
import pytest
import scipy.stats
from pandas.testing import assert_frame_equal

import analysis.stats as st
from analysis.stats._common import HEAD_COLUMNS, TAIL_COLUMNS, bootstrap_counts, pingouin_full_precision


@pytest.fixture
def xy():
    rng = np.random.default_rng(11)
    x = rng.normal(size=40)
    return pd.DataFrame({"x": x, "y": 0.5 * x + rng.normal(size=40)})


@pytest.fixture
def prompts():
    """8 models x 25 prompts, model-level x and y related, prompt noise on y."""
    rng = np.random.default_rng(5)
    x_model = rng.normal(size=8)
    y_model = -0.8 * x_model + rng.normal(0, 0.4, size=8)
    return pd.DataFrame(
        {
            "model": np.repeat([f"m{i}" for i in range(8)], 25),
            "prompt": np.tile(np.arange(25), 8),
            "x": np.repeat(x_model, 25),
            "y": np.repeat(y_model, 25) + rng.normal(0, 0.3, size=200),
        }
    )


def test_result_layout(xy):
    out = st.correlation(xy, "x", "y")
    assert tuple(out.columns[:6]) == HEAD_COLUMNS
    assert tuple(out.columns[-2:]) == TAIL_COLUMNS
    assert len(out) == 1


# --- correlation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_pearson_matches_scipy(xy, alternative):
    out = st.correlation(xy, "x", "y", alternative=alternative)
    ref = scipy.stats.pearsonr(xy.x, xy.y, alternative=alternative)
    assert out.at[0, "r"] == pytest.approx(ref.statistic, abs=1e-12)
    assert out.at[0, "p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert out.at[0, "alternative"] == alternative


def test_pearson_fisher_ci_matches_pingouin_and_closed_form(xy):
    out = st.correlation(xy, "x", "y")
    r, n = out.at[0, "r"], len(xy)
    half = scipy.stats.norm.ppf(0.975) / math.sqrt(n - 3)
    closed = np.tanh(np.arctanh(r) + np.array([-half, half]))
    with pingouin_full_precision():
        pg_ci = pingouin.corr(xy.x, xy.y)["CI95"].iloc[0]
    assert out.loc[0, ["ci_low", "ci_high"]].to_numpy(float) == pytest.approx(closed, abs=1e-9)
    assert out.loc[0, ["ci_low", "ci_high"]].to_numpy(float) == pytest.approx(pg_ci, abs=1e-6)


def test_spearman_matches_scipy_and_bonett_wright(xy):
    out = st.correlation(xy, "x", "y", method="spearman", alternative="greater")
    ref = scipy.stats.spearmanr(xy.x, xy.y, alternative="greater")
    assert out.at[0, "r"] == pytest.approx(ref.statistic)
    assert out.at[0, "p_value"] == pytest.approx(ref.pvalue)
    r, n = ref.statistic, len(xy)
    half = 1.959963984540054 * math.sqrt((1 + r**2 / 2) / (n - 3))
    assert out.at[0, "ci_low"] == pytest.approx(math.tanh(math.atanh(r) - half))
    assert out.at[0, "ci_high"] == pytest.approx(math.tanh(math.atanh(r) + half))


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_bootstrap_ci_equals_explicit_resamples(method):
    """The vectorised (count-weighted) bootstrap equals scipy on explicitly resampled rows."""
    rng = np.random.default_rng(2)
    x = np.round(rng.normal(size=30), 1)  # ties, to exercise average ranks
    data = pd.DataFrame({"x": x, "y": x + rng.normal(size=30)})
    out = st.correlation(data, "x", "y", method=method, ci="bootstrap", n_resamples=300, seed=4)
    counts = bootstrap_counts(np.random.default_rng(4), 30, 300).astype(int)
    ref_func = scipy.stats.pearsonr if method == "pearson" else scipy.stats.spearmanr
    ref = [ref_func(np.repeat(data.x, c), np.repeat(data.y, c)).statistic for c in counts]
    assert out.loc[0, ["ci_low", "ci_high"]].to_numpy(float) == pytest.approx(
        np.quantile(ref, [0.025, 0.975]), abs=1e-12
    )


def test_bootstrap_ci_close_to_fisher_for_normal_data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    data = pd.DataFrame({"x": x, "y": 0.6 * x + rng.normal(size=300)})
    fisher = st.correlation(data, "x", "y")
    boot = st.correlation(data, "x", "y", ci="bootstrap", seed=1)
    assert boot.at[0, "ci_low"] == pytest.approx(fisher.at[0, "ci_low"], abs=0.03)
    assert boot.at[0, "ci_high"] == pytest.approx(fisher.at[0, "ci_high"], abs=0.03)
    assert_frame_equal(boot, st.correlation(data, "x", "y", ci="bootstrap", seed=1))


def test_cluster_correlation_uses_unit_means(prompts):
    out = st.cluster_correlation(prompts, "x", "y", unit="model")
    means = prompts.groupby("model")[["x", "y"]].mean()
    ref = scipy.stats.pearsonr(means.x, means.y)
    assert out.at[0, "r"] == pytest.approx(ref.statistic)
    assert out.at[0, "p_value"] == pytest.approx(ref.pvalue)
    assert (out.at[0, "n"], out.at[0, "n_units"], out.at[0, "n_obs"]) == (8, 8, 200)
    assert "small n" in out.at[0, "note"]
    # the naive prompt-level test pretends to have 200 independent pairs
    assert st.correlation(prompts, "x", "y").at[0, "n"] == 200


def test_missing_rows_are_dropped_and_noted(xy):
    data = xy.copy()
    data.loc[3, "x"] = np.nan
    out = st.correlation(data, "x", "y")
    assert out.at[0, "n"] == 39 and "1 row(s) with missing values dropped" in out.at[0, "note"]


# --- proportions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k, n", [(4, 5), (0, 11), (7, 16), (16, 16)])
def test_wilson_closed_form(k, n):
    out = st.wilson_ci(k, n)
    z, p = scipy.stats.norm.ppf(0.975), k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert out.at[0, "ci_low"] == pytest.approx(centre - half, abs=1e-12)
    assert out.at[0, "ci_high"] == pytest.approx(centre + half, abs=1e-12)
    assert out.at[0, "proportion"] == out.at[0, "statistic"] == p


def test_group_proportions():
    data = pd.DataFrame({"lab": ["E"] * 5 + ["M"] * 4, "dampens": [1, 1, 1, 1, 0, 0, 0, 0, 1]})
    out = st.group_proportions(data, "dampens", "lab", success=1)
    assert out.group.tolist() == ["E", "M"]
    assert out.k.tolist() == [4, 1] and out.n.tolist() == [5, 4]
    assert out.at[0, "ci_low"] == pytest.approx(st.wilson_ci(4, 5).at[0, "ci_low"])


def _fisher_two_sided_by_hand(a, b, c, d):
    """Sum of hypergeometric probabilities of the tables (same margins) no likelier than observed."""
    row1, col1, n = a + b, a + c, a + b + c + d

    def prob(x):
        return math.comb(col1, x) * math.comb(n - col1, row1 - x) / math.comb(n, row1)

    observed = prob(a)
    support = range(max(0, row1 + col1 - n), min(row1, col1) + 1)
    return sum(prob(x) for x in support if prob(x) <= observed * (1 + 1e-7))


@pytest.mark.parametrize("cells, paper", [((4, 1, 2, 9), 0.036), ((4, 1, 0, 14), 0.0013)])
def test_fisher_matches_scipy_and_hand_sum(cells, paper):
    a, b, c, d = cells
    table = pd.DataFrame([[a, b], [c, d]], index=["EleutherAI", "other"], columns=["dampen", "expand"])
    out = st.fisher_exact_2x2(table)
    assert out.at[0, "p_value"] == pytest.approx(scipy.stats.fisher_exact([[a, b], [c, d]]).pvalue)
    assert out.at[0, "p_value"] == pytest.approx(_fisher_two_sided_by_hand(a, b, c, d), rel=1e-9)
    assert out.at[0, "p_value"] == pytest.approx(paper, abs=5e-4)  # methods.md section 5.2
    assert out.at[0, "table"] == f"EleutherAI: {a} dampen / {b} expand; other: {c} / {d}"
    assert out.at[0, "prop_row1"] == a / (a + b)
    greater = st.fisher_exact_2x2(table, alternative="greater")
    ref = scipy.stats.fisher_exact([[a, b], [c, d]], alternative="greater").pvalue
    assert greater.at[0, "p_value"] == pytest.approx(ref)


def test_fisher_exact_ci_solves_the_noncentral_hypergeometric_tails():
    table = pd.DataFrame([[4, 1], [2, 9]], index=["E", "o"], columns=["d", "e"])
    out = st.fisher_exact_2x2(table)
    dist = scipy.stats.nchypergeom_fisher
    # X = top-left cell; M total, n = first column total, N = first row total
    low, high = out.at[0, "ci_low"], out.at[0, "ci_high"]
    assert dist.sf(4 - 1, 16, 6, 5, low) == pytest.approx(0.025, abs=1e-6)
    assert dist.cdf(4, 16, 6, 5, high) == pytest.approx(0.025, abs=1e-6)
    zero = st.fisher_exact_2x2(pd.DataFrame([[4, 1], [0, 14]], index=["E", "o"], columns=["d", "e"]))
    assert np.isinf(zero.at[0, "ci_high"]) and "a cell is 0" in zero.at[0, "note"]


def test_table_2x2_keeps_empty_cells():
    data = pd.DataFrame({"lab": ["E"] * 5 + ["o"] * 3, "sign": ["dampen"] * 4 + ["expand"] * 4})
    table = st.table_2x2(data, "lab", "sign", row_order=["E", "o"], col_order=["dampen", "expand"])
    assert table.to_numpy().tolist() == [[4, 1], [0, 3]]
    with pytest.raises(ValueError):
        st.table_2x2(data, "lab", "sign", row_order=["E", "x"])


# --- location tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_one_sample_t_matches_scipy(alternative):
    rng = np.random.default_rng(8)
    data = pd.DataFrame({"gain": 1.02 + 0.03 * rng.normal(size=25)})
    out = st.one_sample(data, "gain", mu=1.0, alternative=alternative)
    ref = scipy.stats.ttest_1samp(data.gain, 1.0, alternative=alternative)
    assert out.at[0, "statistic"] == pytest.approx(ref.statistic)
    assert out.at[0, "p_value"] == pytest.approx(ref.pvalue)
    two = scipy.stats.ttest_1samp(data.gain, 1.0)
    assert out.loc[0, ["ci_low", "ci_high"]].to_numpy(float) == pytest.approx(list(two.confidence_interval()))
    assert out.at[0, "cohen_d"] == pytest.approx((data.gain.mean() - 1) / data.gain.std(ddof=1))


def test_one_sided_p_is_not_the_gjp_bug():
    """An expansion (t > 0) tested with alternative='greater' gets p = p_two / 2, not 1 - p_two / 2."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"gain": 1.1 + 0.1 * rng.normal(size=25)})
    two = st.one_sample(data, "gain", mu=1.0).at[0, "p_value"]
    greater = st.one_sample(data, "gain", mu=1.0, alternative="greater").at[0, "p_value"]
    less = st.one_sample(data, "gain", mu=1.0, alternative="less").at[0, "p_value"]
    assert greater == pytest.approx(two / 2) and less == pytest.approx(1 - two / 2)


def test_cohen_d_ci_inverts_noncentral_t_and_matches_normal_approximation():
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"v": 0.4 + rng.normal(size=200)})
    out = st.one_sample(data, "v")
    t, n, d = out.at[0, "statistic"], 200, out.at[0, "cohen_d"]
    assert scipy.stats.nct.cdf(t, n - 1, out.at[0, "cohen_d_ci_low"] * math.sqrt(n)) == pytest.approx(0.975)
    assert scipy.stats.nct.cdf(t, n - 1, out.at[0, "cohen_d_ci_high"] * math.sqrt(n)) == pytest.approx(0.025)
    approx = pingouin.compute_esci(stat=d, nx=n, ny=1, eftype="cohen", decimals=6)
    assert out.loc[0, ["cohen_d_ci_low", "cohen_d_ci_high"]].to_numpy(float) == pytest.approx(approx, abs=0.01)


def test_one_sample_on_unit_means(prompts):
    out = st.one_sample(prompts, "y", mu=0.0, unit="model")
    ref = scipy.stats.ttest_1samp(prompts.groupby("model").y.mean(), 0.0)
    assert out.at[0, "p_value"] == pytest.approx(ref.pvalue)
    assert (out.at[0, "n"], out.at[0, "n_units"], out.at[0, "n_obs"]) == (8, 8, 200)


def test_paired_t_and_wilcoxon_match_scipy_and_pingouin():
    rng = np.random.default_rng(6)
    base = rng.normal(1.1, 0.1, size=25)
    data = pd.DataFrame(
        {
            "prompt": np.tile(np.arange(25), 2),
            "variant": ["base"] * 25 + ["instruct"] * 25,
            "gain": np.concatenate([base, base - 0.05 + 0.05 * rng.normal(size=25)]),
        }
    ).drop(index=30)  # one unpaired prompt
    a = data[data.variant == "base"].set_index("prompt").gain.drop(index=5)
    b = data[data.variant == "instruct"].set_index("prompt").gain
    t = st.paired(data, "gain", "variant", "prompt", alternative="greater")
    ref = scipy.stats.ttest_rel(a, b, alternative="greater")
    assert t.at[0, "statistic"] == pytest.approx(ref.statistic)
    assert t.at[0, "p_value"] == pytest.approx(ref.pvalue)
    assert t.at[0, "n"] == 24 and "1 unpaired prompt(s) dropped" in t.at[0, "note"]
    w = st.paired(data, "gain", "variant", "prompt", method="wilcoxon")
    ref_w = scipy.stats.wilcoxon(a, b)
    assert w.at[0, "statistic"] == pytest.approx(ref_w.statistic)
    assert w.at[0, "p_value"] == pytest.approx(ref_w.pvalue)
    assert w.at[0, "rank_biserial"] == pytest.approx(pingouin.wilcoxon(a, b)["RBC"].iloc[0])


# --- agreement -----------------------------------------------------------------------------------


@pytest.fixture
def ratings():
    rng = np.random.default_rng(9)
    n_models, n_prompts = 6, 12
    return pd.DataFrame(
        {
            "model": np.repeat(np.arange(n_models), n_prompts),
            "prompt": np.tile(np.arange(n_prompts), n_models),
            "gain": np.repeat(rng.normal(0, 1, n_models), n_prompts)
            + np.tile(rng.normal(0, 0.3, n_prompts), n_models)
            + rng.normal(0, 0.5, n_models * n_prompts),
        }
    )


def test_icc_matches_two_way_anova_by_hand_and_pingouin(ratings):
    out = st.icc(ratings, targets="model", raters="prompt", ratings="gain").set_index("icc_type")
    y = ratings.pivot(index="model", columns="prompt", values="gain").to_numpy()
    n, k = y.shape
    grand = y.mean()
    ms_rows = k * ((y.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    ms_cols = n * ((y.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + grand
    ms_err = (resid**2).sum() / ((n - 1) * (k - 1))
    icc3 = (ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err)
    icc2 = (ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err + k * (ms_cols - ms_err) / n)
    assert out.at["ICC(3,1)", "icc"] == pytest.approx(icc3)
    assert out.at["ICC(2,1)", "icc"] == pytest.approx(icc2)
    assert out.at["ICC(3,1)", "statistic"] == pytest.approx(ms_rows / ms_err)
    rounded = pingouin.intraclass_corr(ratings, "model", "prompt", "gain").set_index("Type")
    assert out.at["ICC(2,1)", "ci_low"] == pytest.approx(rounded.at["ICC(A,1)", "CI95"][0], abs=0.005)
    assert out.at["ICC(3,1)", "ci_high"] == pytest.approx(rounded.at["ICC(C,1)", "CI95"][1], abs=0.005)
    # pingouin's display rounding is restored afterwards
    assert pingouin.options["round.column.CI95"] == 2


def test_friedman_matches_scipy_and_drops_incomplete_prompts(ratings):
    data = ratings.drop(index=ratings.index[(ratings.model == 2) & (ratings.prompt == 7)])
    out = st.friedman(data, dv="gain", within="model", subject="prompt")
    wide = ratings[ratings.prompt != 7].pivot(index="prompt", columns="model", values="gain")
    ref = scipy.stats.friedmanchisquare(*wide.to_numpy().T)
    assert out.at[0, "statistic"] == pytest.approx(ref.statistic)
    assert out.at[0, "p_value"] == pytest.approx(ref.pvalue)
    n, k = wide.shape
    assert out.at[0, "kendall_w"] == pytest.approx(ref.statistic / (n * (k - 1)))
    assert out.at[0, "n_blocks"] == 11 and "1 prompt level(s) not measured" in out.at[0, "note"]


def test_every_public_function_is_exported():
    modules = [st.agreement, st.bootstrap, st.classification, st.correlation, st.location]
    modules += [st.mixed, st.permutation, st.proportions, st.robustness, st.statcheck]
    public = {
        name
        for module in modules
        for name, obj in vars(module).items()
        if callable(obj) and not name.startswith("_") and getattr(obj, "__module__", "") == module.__name__
    }
    assert public <= set(st.__all__)
    assert all(hasattr(st, name) for name in st.__all__)
