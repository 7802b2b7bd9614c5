"""analysis.stats.mixed and analysis.stats.agreement: whole output rows against closed forms.

* `mixed_model` on a balanced nested design, where REML has a closed form (ANOVA estimators; the
  between-group contrast is the two-sample t test on the group means, on nlme's between df), its
  optimiser fall-back and error paths, random slopes and missing-value handling;
* `_between_within_df` (nlme::lme's between/within levels and degrees of freedom) on hand designs;
* `ols_model` against the textbook simple-regression formulas and the cluster-count note;
* `variance_decomposition` on scale-extreme predictors (checked against a centred least-squares
  R^2), its small-sample note, a predictor that never varies, and its documented default;
* `icc` and `friedman`: every column against the two-way ANOVA by hand (McGraw & Wong CIs) and
  scipy, and the small-n notes at their thresholds.
"""

import types
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf

import analysis.stats as st
from analysis.stats.mixed import _between_within_df, _r2

SMALL_N = "small n ({n} {what} < {minimum}): low power, asymptotic approximations unreliable"


def _nested(seed, n_models=20, n_prompts=8, lab_effect=0.5, model_sd=0.4, noise=0.3):
    """Balanced panel: models split evenly between labs A and B, random model intercepts, prompt noise."""
    rng = np.random.default_rng(seed)
    labs = np.array(["A"] * (n_models // 2) + ["B"] * (n_models - n_models // 2))
    means = 1.0 + (labs == "B") * lab_effect + rng.normal(0, model_sd, n_models)
    return pd.DataFrame(
        {
            "model": np.repeat([f"m{i:02d}" for i in range(n_models)], n_prompts),
            "lab": np.repeat(labs, n_prompts),
            "x": rng.normal(size=n_models * n_prompts),
            "gain": np.repeat(means, n_prompts) + rng.normal(0, noise, n_models * n_prompts),
        }
    )


# --- mixed_model ---------------------------------------------------------------------------------


def test_mixed_model_balanced_nested_design_matches_the_anova_closed_form():
    """Balanced design, one between-model factor: REML = ANOVA estimators, the lab contrast is the
    pooled two-sample t test on the model means (df = groups - 2, nlme's between df), the intercept
    is the lab-A mean of model means (a within term: df = observations - groups)."""
    data = _nested(seed=3)
    out = st.mixed_model(data, "gain ~ lab", groups="model")
    means = data.groupby("model").agg(gain=("gain", "mean"), lab=("lab", "first"))
    a, b = means.gain[means.lab == "A"], means.gain[means.lab == "B"]
    n_models, n_prompts, n_obs = 20, 8, 160
    resid_within = data.gain - data.groupby("model").gain.transform("mean")
    ms_within = (resid_within**2).sum() / (n_obs - n_models)
    ms_between = n_prompts * (((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / (n_models - 2)
    ttest = scipy.stats.ttest_ind(b, a)
    se_diff = (b.mean() - a.mean()) / ttest.statistic
    se_intercept = np.sqrt(ms_between / n_prompts / 10)
    z975, t975_between = scipy.stats.norm.ppf(0.975), scipy.stats.t.ppf(0.975, 18)
    t975_within = scipy.stats.t.ppf(0.975, n_obs - n_models)
    z_intercept = a.mean() / se_intercept
    expected = pd.DataFrame(
        {
            "test": "linear mixed model (REML), random intercept per model: gain ~ lab",
            "statistic": [z_intercept, ttest.statistic],
            "p_value": [2 * scipy.stats.norm.sf(abs(z_intercept)), 2 * scipy.stats.norm.sf(abs(ttest.statistic))],
            "ci_low": [a.mean() - z975 * se_intercept, b.mean() - a.mean() - z975 * se_diff],
            "ci_high": [a.mean() + z975 * se_intercept, b.mean() - a.mean() + z975 * se_diff],
            "n": n_obs,
            "term": ["Intercept", "lab[T.B]"],
            "estimate": [a.mean(), b.mean() - a.mean()],
            "se": [se_intercept, se_diff],
            "n_obs": n_obs,
            "n_groups": n_models,
            "group_var": (ms_between - ms_within) / n_prompts,
            "residual_var": ms_within,
            "converged": True,
            "method": "lbfgs",
            "level": ["within", "between"],
            "df": [float(n_obs - n_models), 18.0],
            "p_value_t": [2 * scipy.stats.t.sf(abs(z_intercept), n_obs - n_models), ttest.pvalue],
            "ci_low_t": [a.mean() - t975_within * se_intercept, b.mean() - a.mean() - t975_between * se_diff],
            "ci_high_t": [a.mean() + t975_within * se_intercept, b.mean() - a.mean() + t975_between * se_diff],
            "formula": "gain ~ lab",
            "alternative": "two-sided",
            "note": "",  # 20 groups: no small-sample note
        }
    )
    pd.testing.assert_frame_equal(out, expected, check_exact=False, rtol=1e-4, atol=1e-8)
    assert "Mixed Linear Model Regression Results" in out.attrs["summary"]
    assert "lab[T.B]" in out.attrs["summary"]


def test_mixed_model_notes_few_groups_below_twenty():
    data = _nested(seed=4, n_models=19)
    out = st.mixed_model(data, "gain ~ lab", groups="model")
    assert out.at[0, "note"] == (
        "19 groups: Wald z p-values are anti-conservative; use p_value_t (between-within df) "
        "or a permutation test across model"
    )
    assert out.df.tolist() == [19.0 * 8 - 19, 19.0 - 2]


def test_mixed_model_within_term_gets_the_within_df_and_t_reference():
    """A prompt-level covariate is a within term: df = observations - groups - 1 (within terms but
    the intercept); its t-based p and CI refer the Wald statistic to that t distribution."""
    data = _nested(seed=5, n_models=12, n_prompts=6)
    data["gain"] += 0.4 * data.x
    out = st.mixed_model(data, "gain ~ lab + x", groups="model", confidence=0.9).set_index("term")
    assert out.level.to_dict() == {"Intercept": "within", "lab[T.B]": "between", "x": "within"}
    assert out.df.to_dict() == {"Intercept": 72 - 12 - 1, "lab[T.B]": 12 - 1 - 1, "x": 72 - 12 - 1}
    ref = smf.mixedlm("gain ~ lab + x", data, groups="model").fit(reml=True, method="lbfgs")
    assert out.estimate.to_numpy() == pytest.approx(ref.fe_params.to_numpy(), rel=1e-6)
    assert out.se.to_numpy() == pytest.approx(ref.bse_fe.to_numpy(), rel=1e-6)
    z = out.estimate / out.se
    assert out.p_value_t.to_numpy() == pytest.approx(2 * scipy.stats.t.sf(abs(z), out.df))
    half = scipy.stats.t.ppf(0.95, out.df) * out.se
    assert out.ci_low_t.to_numpy() == pytest.approx(out.estimate - half)
    assert out.ci_high_t.to_numpy() == pytest.approx(out.estimate + half)
    assert out.ci_low.to_numpy() == pytest.approx(out.estimate - scipy.stats.norm.ppf(0.95) * out.se)
    assert (out.ci_low_t < out.ci_low).all()  # t quantile > z quantile
    assert out.at["x", "p_value"] < 1e-6  # planted slope 0.4


def test_mixed_model_random_slopes_and_rows_missing_in_any_used_column():
    """`re_formula` reaches the model; a missing value in the response, a fixed or random-effect
    covariate or the group column drops that row (noted); other columns' gaps are ignored."""
    rng = np.random.default_rng(6)
    data = _nested(seed=6, n_models=15, n_prompts=10)
    data["z"] = rng.normal(size=len(data))
    slopes = np.repeat(rng.normal(0.5, 0.4, 15), 10)
    data["gain"] += slopes * data.z
    data["unused"] = 1.0
    gappy = data.copy()
    gappy.loc[3, "gain"] = np.nan
    gappy.loc[17, "z"] = np.nan
    gappy.loc[25, "model"] = None
    gappy.loc[40, "unused"] = np.nan
    out = st.mixed_model(gappy, "gain ~ lab", groups="model", re_formula="~ z")
    kept = data.drop(index=[3, 17, 25])
    ref = smf.mixedlm("gain ~ lab", kept, groups="model", re_formula="~ z").fit(reml=True, method="lbfgs")
    assert out.test.iloc[0] == "linear mixed model (REML), random effects ~ z per model: gain ~ lab"
    assert out.n_obs.tolist() == [147, 147]
    assert out.estimate.to_numpy() == pytest.approx(ref.fe_params.to_numpy(), rel=1e-6)
    assert out.group_var.iloc[0] == pytest.approx(ref.cov_re.iloc[0, 0], rel=1e-6)
    assert out.residual_var.iloc[0] == pytest.approx(ref.scale, rel=1e-6)
    assert out.note.iloc[0].startswith("3 row(s) with missing values dropped; ")


def test_mixed_model_fall_back_when_an_optimiser_is_not_usable():
    """Pure noise, no model variance: lbfgs ends on the boundary with a non-positive-definite
    Hessian (not usable); alone it is reported as such, otherwise the next optimiser is used."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"model": np.repeat(range(6), 25), "lab": np.repeat([0, 0, 0, 1, 1, 1], 25)})
    data["gain"] = rng.normal(size=len(data))
    alone = st.mixed_model(data, "gain ~ lab", "model", methods=("lbfgs",))
    assert (
        "lbfgs: ConvergenceWarning: The Hessian matrix at the estimated parameter values is not positive definite."
        in (alone.at[0, "note"])
    )
    assert not alone.converged.any() and (alone.method == "lbfgs").all()
    assert (
        "lbfgs: fit not usable (not converged, Hessian not positive definite or SEs not finite); "
        "no optimiser gave a usable fit; reporting lbfgs; 6 groups:" in alone.at[0, "note"]
    )
    fallback = st.mixed_model(data, "gain ~ lab", "model", methods=("lbfgs", "bfgs"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the boundary warnings checked above
        ref = smf.mixedlm("gain ~ lab", data, groups="model").fit(reml=True, method="bfgs")
    assert fallback.converged.all() and (fallback.method == "bfgs").all()
    assert fallback.estimate.to_numpy() == pytest.approx(ref.fe_params.to_numpy(), rel=1e-6)
    assert "lbfgs: fit not usable" in fallback.at[0, "note"]
    assert "no optimiser gave a usable fit" not in fallback.at[0, "note"]


def test_mixed_model_optimiser_errors_are_noted_and_skipped_or_raised():
    data = _nested(seed=7, n_models=20, n_prompts=5)
    out = st.mixed_model(data, "gain ~ lab", "model", methods=("no-such-optimiser", "lbfgs"))
    assert (out.method == "lbfgs").all() and out.converged.all()
    assert out.at[0, "note"].startswith("no-such-optimiser: ValueError: method must be one of")
    with pytest.raises(
        RuntimeError, match="MixedLM failed with every optimiser: no-such-optimiser: ValueError: method"
    ):
        st.mixed_model(data, "gain ~ lab", "model", methods=("no-such-optimiser",))


# --- between / within degrees of freedom ---------------------------------------------------------


def _fake_result(exog, groups, names):
    model = types.SimpleNamespace(exog=np.asarray(exog, float), groups=np.asarray(groups), exog_names=names)
    return types.SimpleNamespace(model=model)


def test_between_within_df_follows_nlme_rules_and_scales_the_constancy_tolerance():
    """4 groups x 3 rows; columns: intercept, a between covariate on a 1e6 scale whose within-group
    spread is rounding noise (between), another between one, a within one with tiny but real
    variation next to the large column (within), and a within dummy."""
    groups = np.repeat([7, 3, 9, 1], 3)
    level = np.repeat([1.0e6, 2.0e6, 3.5e6, 5.0e6], 3)
    level = level * (1 + np.tile([0.0, 2e-16, -2e-16], 4))
    small = np.tile([0.0, 1e-7, 2e-7], 4)
    exog = np.column_stack([np.ones(12), level, np.repeat([0.0, 1, 0, 1], 3), small, np.tile([0.0, 1, 1], 4)])
    names = ["Intercept", "size", "lab", "small", "late"]
    levels, df = _between_within_df(_fake_result(exog, groups, names))
    assert levels == ["within", "between", "between", "within", "within"]
    # between: 4 groups - 1 - 2 between terms; within: 12 rows - 4 groups - 2 within terms but the intercept
    assert df.tolist() == [6.0, 1.0, 1.0, 6.0, 6.0]
    assert df.dtype == float
    # no intercept: nothing is exempt, and no within term is discounted
    levels, df = _between_within_df(_fake_result(exog[:, 1:], groups, names[1:]))
    assert levels == ["between", "between", "within", "within"]
    assert df.tolist() == [1.0, 1.0, 12 - 4 - 2, 12 - 4 - 2]


# --- ols_model -----------------------------------------------------------------------------------


def test_ols_model_simple_regression_matches_the_textbook_formulas():
    rng = np.random.default_rng(8)
    n = 40
    data = pd.DataFrame({"x": rng.normal(size=n), "unit": np.repeat(np.arange(10), 4)})
    data["y"] = 0.7 * data.x + rng.normal(size=n)
    data.loc[5, "unused"] = 3.0  # a column outside the formula: its gaps are not dropped
    out = st.ols_model(data, "y ~ x")
    x, y = data.x.to_numpy(), data.y.to_numpy()
    sxx = ((x - x.mean()) ** 2).sum()
    slope = ((x - x.mean()) * (y - y.mean())).sum() / sxx
    intercept = y.mean() - slope * x.mean()
    s2 = ((y - intercept - slope * x) ** 2).sum() / (n - 2)
    se = np.array([np.sqrt(s2 * (1 / n + x.mean() ** 2 / sxx)), np.sqrt(s2 / sxx)])
    est = np.array([intercept, slope])
    t975 = scipy.stats.t.ppf(0.975, n - 2)
    expected = pd.DataFrame(
        {
            "test": "OLS (iid errors): y ~ x",
            "statistic": est / se,
            "p_value": 2 * scipy.stats.t.sf(np.abs(est / se), n - 2),
            "ci_low": est - t975 * se,
            "ci_high": est + t975 * se,
            "n": n,
            "term": ["Intercept", "x"],
            "estimate": est,
            "se": se,
            "n_obs": n,
            "r2": np.corrcoef(x, y)[0, 1] ** 2,
            "n_clusters": np.nan,
            "cov_type": "nonrobust",
            "formula": "y ~ x",
            "alternative": "two-sided",
            "note": "",
        }
    )
    pd.testing.assert_frame_equal(out, expected, check_exact=False, rtol=1e-9)
    assert "OLS Regression Results" in out.attrs["summary"]


def test_ols_model_cluster_columns_notes_and_missing_rows():
    """30 clusters: no few-clusters note (29 get one); rows missing the response, a covariate or the
    cluster label are dropped and noted."""
    rng = np.random.default_rng(9)
    data = pd.DataFrame({"x": rng.normal(size=93), "unit": np.repeat(np.arange(31), 3).astype(float)})
    data["y"] = data.x + rng.normal(size=93)
    data.loc[[0, 1, 2], "unit"] = np.nan  # all of cluster 0 -> 30 clusters left
    out = st.ols_model(data, "y ~ x", cluster="unit")
    kept = data.dropna()
    ref = smf.ols("y ~ x", kept).fit(cov_type="cluster", cov_kwds={"groups": kept.unit.to_numpy()}, use_t=True)
    assert out.se.to_numpy() == pytest.approx(ref.bse.to_numpy())
    assert out.test.tolist() == ["OLS (cluster-robust by unit): y ~ x"] * 2
    assert out.columns[0] == "test"
    assert out.n_clusters.tolist() == [30, 30] and out.cov_type.tolist() == ["cluster"] * 2
    assert out.r2.iloc[0] == pytest.approx(ref.rsquared)
    assert out.note.tolist() == ["3 row(s) with missing values dropped"] * 2
    gappy = data.dropna().copy()
    gappy.loc[10, "y"] = np.nan
    gappy.loc[20, "x"] = np.nan
    gappy = gappy[gappy.unit != 30]
    few = st.ols_model(gappy, "y ~ x", cluster="unit")
    assert few.n_obs.tolist() == [85, 85]
    assert few.at[0, "note"] == "2 row(s) with missing values dropped; 29 clusters: cluster-robust SEs are unreliable"


# --- variance_decomposition ----------------------------------------------------------------------


def _centred_r2(y, *columns):
    """R^2 of the least-squares fit of y on the columns, each centred first (no intercept needed)."""
    x = np.column_stack([c - c.mean() for c in columns])
    yc = y - y.mean()
    coef = np.linalg.lstsq(x, yc, rcond=None)[0]
    return 1 - ((yc - x @ coef) ** 2).sum() / (yc**2).sum()


def test_variance_decomposition_is_scale_free_and_reports_every_column():
    """Predictors on wildly different scales (a count ~1e8 +- 10, a ratio ~1e-9) in one group, and a
    group of labels: the shares match the two-group Shapley closed form from centred R^2s."""
    rng = np.random.default_rng(10)
    n = 30
    lab = rng.choice(["a", "b", "c"], size=n)
    count, ratio = 1e8 + 10 * rng.normal(size=n), 1e-9 * rng.normal(size=n)
    gain = 0.05 * (count - 1e8) + 4e8 * ratio + (lab == "b") * 1.0 + rng.normal(0, 0.5, n)
    data = pd.DataFrame({"gain": gain, "count": count, "ratio": ratio, "lab": lab})
    groups = {"size": ["count", "ratio"], "heritage": ["lab"]}
    out = st.variance_decomposition(data, "gain", groups, n_resamples=400, seed=2)
    dummies = [(lab == "b").astype(float), (lab == "c").astype(float)]
    r2_size, r2_lab = _centred_r2(gain, count, ratio), _centred_r2(gain, *dummies)
    r2_full = _centred_r2(gain, count, ratio, *dummies)
    shares = np.array([(r2_size + r2_full - r2_lab) / 2, (r2_lab + r2_full - r2_size) / 2])
    assert r2_size > 0.3 and _centred_r2(gain, ratio) > 0.1  # both scales carry signal
    assert out.r2_share.to_numpy() == pytest.approx(shares, rel=1e-6)
    assert out.statistic.to_numpy() == pytest.approx(shares, rel=1e-6)
    assert out.share_of_r2.to_numpy() == pytest.approx(shares / r2_full, rel=1e-6)
    assert out.r2_full.to_numpy() == pytest.approx([r2_full] * 2, rel=1e-6)
    assert out.test.tolist() == ["LMG (Shapley) decomposition of OLS R^2, bootstrap over units"] * 2
    assert out.group.tolist() == ["size", "heritage"]
    assert out.predictors.tolist() == ["count, ratio", "lab"]
    assert out.formula.tolist() == ["gain ~ count + ratio + lab"] * 2
    assert out.n.tolist() == [30, 30] and out.n_resamples.tolist() == [400, 400]
    assert out["rank"].tolist() == ([1, 2] if shares[0] > shares[1] else [2, 1])
    assert out.alternative.isna().all() and out.p_value.isna().all()
    assert out.note.tolist() == ["", ""]  # 30 units, 4 predictor columns
    assert ((out.ci_low <= out.r2_share) & (out.r2_share <= out.ci_high)).all()
    assert 0 <= out.order_agreement.iloc[0] <= 1


def test_variance_decomposition_keeps_a_near_collinear_direction_that_carries_the_signal():
    """Regression: two near-duplicate predictors (correlation 1 - 1e-11) whose small difference is
    the signal. The OLS R^2 is ~0.96; a pseudo-inverse cut-off of 1e-10 dropped the difference
    direction and reported ~0.23."""
    rng = np.random.default_rng(16)
    n = 30
    x1, u, w = rng.normal(size=n), 0.5 * rng.normal(size=n), rng.normal(size=n)
    data = pd.DataFrame({"gain": u + 0.1 * w + 0.1 * rng.normal(size=n), "x1": x1, "x2": x1 + 1e-5 * u, "w": w})
    out = st.variance_decomposition(data, "gain", {"pair": ["x1", "x2"], "w": ["w"]}, n_resamples=100, seed=0)
    y = data.gain.to_numpy()
    r2_full = _centred_r2(y, x1, data.x2.to_numpy(), w)
    r2_pair, r2_w = _centred_r2(y, x1, data.x2.to_numpy()), _centred_r2(y, w)
    assert r2_full > 0.9
    assert out.r2_full.iloc[0] == pytest.approx(r2_full, rel=1e-3)
    assert out.r2_share.to_numpy() == pytest.approx(
        [(r2_pair + r2_full - r2_w) / 2, (r2_w + r2_full - r2_pair) / 2], rel=1e-3
    )


@pytest.mark.parametrize(("n", "noted"), [(15, False), (14, True)])
def test_variance_decomposition_small_sample_note_counts_dummy_columns(n, noted):
    """4 predictor columns (a 3-level label is 2 dummies): the note appears below n - 4 - 1 = 10."""
    rng = np.random.default_rng(11)
    data = pd.DataFrame({"lab": np.resize(["a", "b", "c"], n), "x": rng.normal(size=n), "w": rng.normal(size=n)})
    data["gain"] = data.x + (data.lab == "b") + rng.normal(size=n)
    out = st.variance_decomposition(data, "gain", {"lab": ["lab"], "xw": ["x", "w"]}, n_resamples=50, seed=0)
    message = f"{n} units for 4 predictors: R^2 and its shares are optimistic"
    assert (message in out.at[0, "note"]) is noted
    if not noted:
        assert out.at[0, "note"] in ("", *[f"{k} of 50 resamples gave no finite value" for k in range(1, 51)])


def test_variance_decomposition_constant_predictor_explains_nothing():
    """A predictor that never varies gets a share of 0; with no R^2 at all its share_of_r2 is NaN."""
    rng = np.random.default_rng(12)
    data = pd.DataFrame({"gain": rng.normal(size=25), "flat": 2.0, "also_flat": 1.0})
    out = st.variance_decomposition(data, "gain", {"a": ["flat"], "b": ["also_flat"]}, n_resamples=30, seed=0)
    assert out.r2_share.tolist() == [0.0, 0.0] and out.r2_full.tolist() == [0.0, 0.0]
    assert out.share_of_r2.isna().all()
    mixed = data.assign(x=rng.normal(size=25))
    mixed["gain"] += mixed.x
    out = st.variance_decomposition(mixed, "gain", {"a": ["flat"], "b": ["x"]}, n_resamples=30, seed=0)
    assert out.r2_share.iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert out.r2_share.iloc[1] == pytest.approx(_centred_r2(mixed.gain.to_numpy(), mixed.x.to_numpy()))


def test_variance_decomposition_bool_predictor_is_a_dummy_and_a_constant_one_adds_no_column():
    """A True/False flag becomes one dummy (same R^2 as 0/1); a flag or label that never varies adds
    no column (first level dropped): share 0, and the small-sample note counts 1 predictor, not 2.
    Regression: a group without columns used to raise IndexError (an empty float index array)."""
    rng = np.random.default_rng(17)
    data = pd.DataFrame({"x": rng.normal(size=8), "flag": np.resize([True, False], 8), "always": True})
    data["gain"] = data.x + data.flag + 0.3 * rng.normal(size=8)
    out = st.variance_decomposition(data, "gain", {"x": ["x"], "flag": ["flag"]}, n_resamples=20, seed=0)
    full = _centred_r2(data.gain.to_numpy(), data.x.to_numpy(), data.flag.to_numpy(float))
    assert out.r2_full.iloc[0] == pytest.approx(full)
    assert "8 units for 2 predictors" in out.at[0, "note"]
    out = st.variance_decomposition(data, "gain", {"x": ["x"], "always": ["always"]}, n_resamples=20, seed=0)
    assert "8 units for 1 predictors: R^2 and its shares are optimistic" in out.at[0, "note"]
    assert out.r2_share.iloc[1] == 0.0
    assert out.r2_share.iloc[0] == pytest.approx(_centred_r2(data.gain.to_numpy(), data.x.to_numpy()))
    one_lab = data.assign(lab="EleutherAI")
    out = st.variance_decomposition(one_lab, "gain", {"x": ["x"], "lab": ["lab"]}, n_resamples=20, seed=0)
    assert out.r2_share.iloc[1] == 0.0 and "8 units for 1 predictors" in out.at[0, "note"]


def test_variance_decomposition_default_resamples_is_ten_thousand():
    rng = np.random.default_rng(13)
    data = pd.DataFrame({"gain": rng.normal(size=12), "x": rng.normal(size=12)})
    out = st.variance_decomposition(data, "gain", {"x": ["x"]}, seed=0)
    assert out.n_resamples.tolist() == [10_000]


def test_r2_of_a_resample_without_variance_in_y_is_silently_not_finite():
    """c_yy = 0 (a resample whose response is constant): NaN or inf, no RuntimeWarning; the
    caller counts it in the note."""
    cov = np.array([[[0.0, 0.0], [0.0, 1.0]], [[0.0, 1e-3], [1e-3, 1.0]], [[2.0, 1.0], [1.0, 1.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r2 = _r2(cov, [1])
    assert np.isnan(r2[0]) and np.isinf(r2[1]) and r2[2] == pytest.approx(0.5)


# --- agreement -----------------------------------------------------------------------------------


def _ratings(seed, n_models, n_prompts):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "model": np.repeat([f"m{i}" for i in range(n_models)], n_prompts),
            "prompt": np.tile([f"p{j}" for j in range(n_prompts)], n_models),
            "gain": np.repeat(rng.normal(0, 1, n_models), n_prompts)
            + np.tile(rng.normal(0, 0.4, n_prompts), n_models)
            + rng.normal(0, 0.6, n_models * n_prompts),
        }
    )


@pytest.mark.parametrize("n_models", [4, 5])
def test_icc_rows_match_mcgraw_wong_by_hand(n_models):
    """Both rows, every column: two-way ANOVA mean squares, the F test, McGraw & Wong (1996) 95% CIs;
    the small-n note below 5 targets."""
    k = 9
    data = _ratings(14, n_models, k)
    out = st.icc(data, targets="model", raters="prompt", ratings="gain")
    y = data.pivot(index="model", columns="prompt", values="gain").to_numpy()
    n = n_models
    grand = y.mean()
    msr = k * ((y.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    msc = n * ((y.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    mse = ((y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + grand) ** 2).sum() / ((n - 1) * (k - 1))
    f, df1, df2 = msr / mse, n - 1, (n - 1) * (k - 1)
    icc3 = (msr - mse) / (msr + (k - 1) * mse)
    icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    f_low, f_up = f / scipy.stats.f.ppf(0.975, df1, df2), f * scipy.stats.f.ppf(0.975, df2, df1)
    ci3 = ((f_low - 1) / (f_low + k - 1), (f_up - 1) / (f_up + k - 1))
    a, b = k * icc2 / (n * (1 - icc2)), 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / df2)
    fs_low, fs_up = scipy.stats.f.ppf(0.975, n - 1, v), scipy.stats.f.ppf(0.975, v, n - 1)
    ci2 = (
        n * (msr - fs_low * mse) / (fs_low * (k * msc + (k * n - k - n) * mse) + n * msr),
        n * (fs_up * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fs_up * msr),
    )
    note = SMALL_N.format(n=4, what="targets", minimum=5) if n_models < 5 else ""
    expected = pd.DataFrame(
        {
            "test": [
                "ICC(2,1) = ICC(A,1): two-way random effects, absolute agreement, single measurement",
                "ICC(3,1) = ICC(C,1): two-way mixed effects, consistency, single measurement",
            ],
            "statistic": [f, f],
            "p_value": scipy.stats.f.sf(f, df1, df2),
            "ci_low": [ci2[0], ci3[0]],
            "ci_high": [ci2[1], ci3[1]],
            "n": n * k,
            "icc": [icc2, icc3],
            "icc_type": ["ICC(2,1)", "ICC(3,1)"],
            "df1": df1,
            "df2": df2,
            "n_targets": n,
            "n_raters": k,
            "alternative": "greater",
            "note": note,
        }
    )
    pd.testing.assert_frame_equal(out, expected, check_exact=False, rtol=1e-6, check_dtype=False)


@pytest.mark.parametrize("n_prompts", [9, 10])
def test_friedman_row_matches_scipy_and_notes_fewer_than_ten_blocks(n_prompts):
    data = _ratings(15, 4, n_prompts)
    out = st.friedman(data, dv="gain", within="model", subject="prompt")
    wide = data.pivot(index="prompt", columns="model", values="gain")
    ref = scipy.stats.friedmanchisquare(*wide.to_numpy().T)
    expected = pd.DataFrame(
        {
            "test": ["Friedman test (model as conditions, prompt as blocks)"],
            "statistic": [ref.statistic],
            "p_value": [ref.pvalue],
            "ci_low": [np.nan],
            "ci_high": [np.nan],
            "n": [n_prompts],
            "kendall_w": [ref.statistic / (n_prompts * 3)],
            "df": [3],
            "n_blocks": [n_prompts],
            "n_conditions": [4],
            "alternative": ["greater"],
            "note": [SMALL_N.format(n=9, what="blocks", minimum=10) if n_prompts < 10 else ""],
        }
    )
    pd.testing.assert_frame_equal(out, expected, check_exact=False, rtol=1e-9, check_dtype=False)
