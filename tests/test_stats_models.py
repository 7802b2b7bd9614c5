"""analysis.stats.mixed: MixedLM with planted effects, OLS against scipy and a hand sandwich, the
Shapley R^2 decomposition, and the pseudo-replication case the paper falls into."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf
from pandas.testing import assert_frame_equal

import analysis.stats as st
from analysis.stats.mixed import _covariances, _r2


def _panel(seed, lab_effect, n_models=12, n_prompts=25, model_sd=0.2, noise=0.3):
    """Balanced panel: half the models in lab A (+ lab_effect), random model intercepts, prompt noise."""
    rng = np.random.default_rng(seed)
    labs = np.array(["A"] * (n_models // 2) + ["B"] * (n_models - n_models // 2))
    model_means = 1.0 + (labs == "A") * lab_effect + rng.normal(0, model_sd, n_models)
    return pd.DataFrame(
        {
            "model": np.repeat([f"m{i:02d}" for i in range(n_models)], n_prompts),
            "prompt": np.tile(np.arange(n_prompts), n_models),
            "lab": np.repeat(labs, n_prompts),
            "gain": np.repeat(model_means, n_prompts) + rng.normal(0, noise, n_models * n_prompts),
        }
    )


def test_mixed_model_finds_a_planted_lab_effect():
    data = _panel(seed=1, lab_effect=1.0)
    out = st.mixed_model(data, "gain ~ C(lab, Treatment('B'))", groups="model").set_index("term")
    row = out.loc["C(lab, Treatment('B'))[T.A]"]
    assert row.p_value < 0.01 and row.ci_low < 1.0 < row.ci_high
    assert row.converged and row.n_groups == 12 and row.n_obs == 300
    # balanced design: the GLS estimate is the difference of the lab means of the model means
    means = data.groupby("model").agg(gain=("gain", "mean"), lab=("lab", "first"))
    diff = means.gain[means.lab == "A"].mean() - means.gain[means.lab == "B"].mean()
    assert row.estimate == pytest.approx(diff, abs=1e-6)
    assert "anti-conservative" in row.note  # 12 groups


def test_mixed_model_null_effect_mostly_not_significant():
    p_values = [st.mixed_model(_panel(seed, 0.0, n_models=30), "gain ~ lab", "model").p_value[1] for seed in range(10)]
    assert sum(p > 0.05 for p in p_values) >= 8


def test_mixed_model_keeps_boundary_warnings_and_skips_unusable_fits():
    """No model-level variance: the variance sits on the boundary; every warning is in the note."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"model": np.repeat(range(6), 25), "lab": np.repeat([0, 0, 0, 1, 1, 1], 25)})
    data["gain"] = rng.normal(size=len(data))
    out = st.mixed_model(data, "gain ~ lab", "model")
    assert "boundary" in out.at[0, "note"]
    assert out.converged.all() and np.isfinite(out.se).all() and (out.se < 1).all()
    if "not positive definite" in out.at[0, "note"]:
        assert out.at[0, "method"] != "lbfgs"
    naive = scipy.stats.ttest_ind(data.gain[data.lab == 1], data.gain[data.lab == 0])
    assert out.at[1, "p_value"] == pytest.approx(naive.pvalue, abs=0.01)  # no clustering: same answer


def test_ols_matches_student_t_and_hand_cluster_sandwich():
    data = _panel(seed=2, lab_effect=0.3)
    naive = st.ols_model(data, "gain ~ lab").set_index("term")
    ref = scipy.stats.ttest_ind(data.gain[data.lab == "B"], data.gain[data.lab == "A"])
    assert naive.at["lab[T.B]", "p_value"] == pytest.approx(ref.pvalue)
    assert naive.at["lab[T.B]", "statistic"] == pytest.approx(ref.statistic)
    robust = st.ols_model(data, "gain ~ lab", cluster="model").set_index("term")
    x = np.column_stack([np.ones(len(data)), (data.lab == "B").to_numpy(float)])
    y = data.gain.to_numpy()
    bread = np.linalg.inv(x.T @ x)
    resid = y - x @ bread @ x.T @ y
    meat = sum(np.outer(x[idx].T @ resid[idx], x[idx].T @ resid[idx]) for idx in data.groupby("model").indices.values())
    n, k, g = len(data), 2, 12
    se = np.sqrt(np.diag(bread @ meat @ bread) * g / (g - 1) * (n - 1) / (n - k))
    assert robust.se.to_numpy() == pytest.approx(se)
    assert robust.at["lab[T.B]", "p_value"] == pytest.approx(
        2 * scipy.stats.t.sf(abs(robust.at["lab[T.B]", "statistic"]), g - 1)
    )
    assert "12 clusters" in robust.at["lab[T.B]", "note"]


def test_pseudo_replication_naive_significant_model_level_not():
    """6 models x 25 prompts, no lab effect at all: prompts as independent samples give p < 0.001,
    the model-level tests do not reject."""
    rng = np.random.default_rng(0)
    labs = np.array(["A"] * 3 + ["B"] * 3)
    data = pd.DataFrame(
        {
            "model": np.repeat([f"m{i}" for i in range(6)], 25),
            "lab": np.repeat(labs, 25),
            "gain": np.repeat(rng.normal(0, 0.5, 6), 25) + rng.normal(0, 0.1, 150),
        }
    )
    naive = scipy.stats.ttest_ind(data.gain[data.lab == "A"], data.gain[data.lab == "B"])
    assert naive.pvalue < 0.001
    assert st.ols_model(data, "gain ~ lab").p_value[1] < 0.001
    permutation = st.permutation_test(data, "gain", "lab", "model")
    assert permutation.at[0, "exact"] and permutation.at[0, "p_value"] > 0.05
    assert permutation.at[0, "min_attainable_p"] == pytest.approx(0.1)  # 3 vs 3 can never reach 0.05
    assert st.mixed_model(data, "gain ~ lab", "model").p_value[1] > 0.05


# --- variance decomposition ----------------------------------------------------------------------


@pytest.fixture
def units():
    """40 models: lab effects dominate, geometry (rho, depth) matters less, scale least."""
    rng = np.random.default_rng(21)
    n = 40
    lab = rng.choice(["EleutherAI", "Meta", "BigScience", "Google"], size=n)
    lab_effect = pd.Series({"EleutherAI": -1.2, "Meta": 0.6, "BigScience": 0.0, "Google": 1.0})[lab].to_numpy()
    rho, depth, log_params = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    gain = lab_effect + 0.5 * rho + 0.3 * depth + 0.15 * log_params + rng.normal(0, 0.3, n)
    return pd.DataFrame({"lab": lab, "rho": rho, "n_layers": depth, "log_params": log_params, "gain": gain})


GROUPS = {"heritage": ["lab"], "geometry": ["rho", "n_layers"], "scale": ["log_params"]}


def test_shapley_shares_sum_to_full_r2_and_recover_the_planted_order(units):
    out = st.variance_decomposition(units, "gain", GROUPS, seed=1, n_resamples=2000).set_index("group")
    full = smf.ols("gain ~ C(lab) + rho + n_layers + log_params", units).fit().rsquared
    assert out.r2_share.sum() == pytest.approx(full)
    assert out.r2_full.iloc[0] == pytest.approx(full)
    assert out["rank"].to_dict() == {"heritage": 1, "geometry": 2, "scale": 3}
    assert out.share_of_r2.sum() == pytest.approx(1.0)
    assert (out.ci_low <= out.r2_share).all() and (out.r2_share <= out.ci_high).all()
    assert out.order_agreement.iloc[0] > 0.5


def test_shapley_with_two_groups_is_the_closed_form(units):
    groups = {"heritage": ["lab"], "geometry": ["rho", "n_layers"]}
    out = st.variance_decomposition(units, "gain", groups, seed=1, n_resamples=200).set_index("group")
    r2 = {
        key: smf.ols(f"gain ~ {formula}", units).fit().rsquared
        for key, formula in [("h", "C(lab)"), ("g", "rho + n_layers"), ("hg", "C(lab) + rho + n_layers")]
    }
    assert out.at["heritage", "r2_share"] == pytest.approx((r2["h"] + r2["hg"] - r2["g"]) / 2)
    assert out.at["geometry", "r2_share"] == pytest.approx((r2["g"] + r2["hg"] - r2["h"]) / 2)


def test_variance_decomposition_aggregates_prompts_and_is_deterministic(units):
    long = units.loc[units.index.repeat(5)].assign(model=np.repeat(np.arange(40), 5))
    long["gain"] += np.tile([-0.2, -0.1, 0.0, 0.1, 0.2], 40)  # prompt noise averaging to 0
    first = st.variance_decomposition(long, "gain", GROUPS, unit="model", seed=3, n_resamples=500)
    on_units = st.variance_decomposition(units, "gain", GROUPS, seed=3, n_resamples=500)
    assert first.r2_share.to_numpy() == pytest.approx(on_units.r2_share.to_numpy())
    assert_frame_equal(first, st.variance_decomposition(long, "gain", GROUPS, unit="model", seed=3, n_resamples=500))


def test_bootstrap_r2_handles_a_lab_missing_from_a_resample():
    """Rank-deficient resamples (a lab not drawn) still give the OLS R^2."""
    rng = np.random.default_rng(4)
    z = np.column_stack([rng.normal(size=10), np.r_[np.ones(3), np.zeros(7)], rng.normal(size=10)])
    weights = np.r_[0, 0, 0, 2, 2, 1, 1, 1, 1, 2][None, :].astype(float)  # units 0-2 (the lab) not drawn
    rows = np.repeat(np.arange(10), weights[0].astype(int))
    expected = smf.ols("y ~ z", pd.DataFrame({"y": z[rows, 0], "z": z[rows, 2]})).fit().rsquared
    assert _r2(_covariances(weights, z), [1, 2])[0] == pytest.approx(expected)
    full = smf.ols("y ~ a + b", pd.DataFrame(z, columns=["y", "a", "b"])).fit().rsquared
    assert _r2(_covariances(np.ones((1, 10)), z), [1, 2])[0] == pytest.approx(full)
