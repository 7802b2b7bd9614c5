"""analysis.stats.classification and analysis.stats.proportions: whole result rows checked against
independent computations (scikit-learn's AUC, a rank-based DeLong variance, statsmodels' GLM,
brute-force cut-point enumeration, an independent bootstrap, Wilson's closed form, scipy's Fisher
test), plus the notes a reader of the report sees, the documented defaults and the error paths."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score
from stats_expectations import HEAD, TAIL

import analysis.stats as st

AUC_COLUMNS = [*HEAD, "auc", "n_pos", "n_neg", "ci_method", *TAIL]
LOGISTIC_COLUMNS = [
    *HEAD,
    "term",
    "estimate",
    "se",
    "n_obs",
    "odds_ratio",
    "pseudo_r2",
    "converged",
    "n_pos",
    "n_neg",
    *TAIL,
]
THRESHOLD_COLUMNS = [
    *HEAD,
    "criterion",
    "score",
    "cut_low",
    "cut_high",
    "n_optimal_cuts",
    "direction",
    "n_resamples",
    *TAIL,
]
PROPORTION_COLUMNS = [*HEAD, "k", "proportion", *TAIL]
FISHER_COLUMNS = [*HEAD, "odds_ratio", "prop_row1", "prop_row2", "table", *TAIL]


def _small(n, minimum, what="units"):
    return f"small n ({n} {what} < {minimum}): low power, asymptotic approximations unreliable"


def _notes(note):
    return note.split("; ") if note else []


def _assert_row(row, expected):
    """Every expected column: exact for strings, ints and bools, approx for floats (NaN == NaN)."""
    for column, value in expected.items():
        got = row[column]
        if isinstance(value, float):
            if math.isnan(value):
                assert isinstance(got, float) and math.isnan(got), column
            else:
                assert got == pytest.approx(value, rel=1e-9, abs=1e-12), column
        else:
            assert got == value, column


# --- auc -----------------------------------------------------------------------------------------


def _delong_by_midranks(pos, neg, confidence):
    """DeLong's CI from midranks (Sun & Xu 2014), not from the placement matrix."""
    m, n = len(pos), len(neg)
    tz = scipy.stats.rankdata(np.r_[pos, neg])
    v10 = (tz[:m] - scipy.stats.rankdata(pos)) / n
    v01 = 1 - (tz[m:] - scipy.stats.rankdata(neg)) / m
    area = v10.mean()
    se = math.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    z = scipy.stats.norm.ppf((1 + confidence) / 2)
    return area, max(0.0, area - z * se), min(1.0, area + z * se)


@pytest.mark.parametrize("confidence, alternative", [(0.95, "two-sided"), (0.8, "less")])
def test_auc_row_with_ties_matches_sklearn_scipy_and_rank_delong(confidence, alternative):
    rng = np.random.default_rng(21)
    label = np.r_[np.ones(9, bool), np.zeros(14, bool)]
    data = pd.DataFrame({"score": np.round(rng.normal(size=23) + 0.7 * label, 1), "dampens": label})
    kwargs = {} if confidence == 0.95 else {"confidence": confidence}
    out = st.auc(data, "score", "dampens", alternative=alternative, **kwargs)
    assert out.columns.tolist() == AUC_COLUMNS and len(out) == 1
    pos, neg = data.score[label].to_numpy(), data.score[~label].to_numpy()
    assert np.unique(data.score).size < 23  # the rounding made ties
    area, low, high = _delong_by_midranks(pos, neg, confidence)
    u = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    _assert_row(
        out.iloc[0],
        {
            "test": "ROC AUC (Mann-Whitney U)",
            "statistic": float(u),
            "p_value": float(scipy.stats.mannwhitneyu(pos, neg, alternative=alternative).pvalue),
            "ci_low": low,
            "ci_high": high,
            "n": 23,
            "auc": roc_auc_score(label, data.score),
            "n_pos": 9,
            "n_neg": 14,
            "ci_method": "DeLong",
            "alternative": alternative,
            "note": "tied scores count 1/2",
        },
    )
    assert area == pytest.approx(out.at[0, "auc"])


def test_auc_delong_interval_is_clipped_at_one_and_small_classes_are_flagged():
    """Near-perfect separation: AUC + z SE > 1 is clipped; 4 units in the smaller class is noted."""
    pos, neg = [2.1, 3.4, 4.2, 5.3], [0.0, 1.1, 2.5, 1.7, 0.4, 0.9]
    data = pd.DataFrame({"s": pos + neg, "y": [1] * 4 + [0] * 6})
    out = st.auc(data, "s", "y")
    area, low, high = _delong_by_midranks(np.array(pos), np.array(neg), 0.95)
    assert high == 1.0 and area < 1.0
    _assert_row(out.iloc[0], {"auc": area, "ci_low": low, "ci_high": 1.0, "n_pos": 4, "n_neg": 6})
    assert out.at[0, "note"] == _small(4, 5, "units in the smaller class")
    five = pd.DataFrame({"s": [*pos, 3.0, *neg], "y": [1] * 5 + [0] * 6})
    assert st.auc(five, "s", "y").at[0, "note"] == ""  # no ties, 5 per class, not separated


def test_auc_zero_is_perfect_separation_too():
    data = pd.DataFrame({"rho": [0.06, 0.1, 0.12, 0.25, 0.3, 0.5], "sign": ["d", "d", "d", "e", "e", "e"]})
    out = st.auc(data, "rho", "sign", positive="d")
    _assert_row(out.iloc[0], {"auc": 0.0, "statistic": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n_pos": 3})
    assert _notes(out.at[0, "note"]) == [
        _small(3, 5, "units in the smaller class"),
        "perfect separation: the CI is degenerate",
    ]


def test_auc_averages_units_and_accepts_an_object_column_with_missing_values():
    """`unit`: one value per model (mean over its prompts); None in an object column is dropped."""
    rng = np.random.default_rng(5)
    means = np.r_[rng.normal(1, 1, 7), rng.normal(0, 1, 8)]
    label = np.r_[["d"] * 7, ["e"] * 8]
    data = pd.DataFrame(
        {
            "model": np.repeat([f"m{i:02d}" for i in range(15)], 3),
            "sign": np.repeat(label, 3),
            "score": (means[:, None] + rng.normal(0, 0.5, (15, 3))).ravel(),
        }
    )
    unit_means = data.groupby("model").score.mean().to_numpy()
    data["score"] = data.score.astype(object)
    data.loc[data.index.size, ["model", "sign", "score"]] = ["m00", "d", None]
    out = st.auc(data, "score", "sign", positive="d", unit="model")
    is_d = label == "d"
    _assert_row(
        out.iloc[0],
        {
            "n": 15,
            "n_pos": 7,
            "n_neg": 8,
            "auc": roc_auc_score(is_d, unit_means),
            "p_value": float(scipy.stats.mannwhitneyu(unit_means[is_d], unit_means[~is_d]).pvalue),
            "note": "1 row(s) with missing values dropped",
        },
    )


def test_auc_bootstrap_defaults_to_10000_stratified_resamples():
    rng = np.random.default_rng(3)
    label = np.r_[np.ones(12, bool), np.zeros(10, bool)]
    data = pd.DataFrame({"score": rng.normal(size=22) + label, "y": label})
    out = st.auc(data, "score", "y", ci="bootstrap", seed=0)
    assert out.at[0, "ci_method"] == "bootstrap percentile, stratified (10000 resamples)"
    _, low, high = _delong_by_midranks(data.score[label].to_numpy(), data.score[~label].to_numpy(), 0.95)
    assert out.at[0, "ci_low"] == pytest.approx(low, abs=0.06)
    assert out.at[0, "ci_high"] == pytest.approx(high, abs=0.06)
    assert out.at[0, "note"] == ""


def test_auc_and_binary_outcome_errors():
    data = pd.DataFrame({"s": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"], "m": ["u", "u", "v", "w"]})
    with pytest.raises(ValueError, match="ci must be 'delong' or 'bootstrap', got 'wald'"):
        st.auc(data, "s", "y", ci="wald")
    with pytest.raises(ValueError, match=r"'y' must have exactly 2 levels, got \['a', 'b', 'c'\]"):
        st.auc(data.assign(y=["a", "b", "c", "a"]), "s", "y")
    with pytest.raises(ValueError, match=r"positive='c' is not a level of 'y' \(\['a', 'b'\]\)"):
        st.auc(data, "s", "y", positive="c")
    with pytest.raises(ValueError, match="'y' is not constant within 'm'"):
        st.auc(data, "s", "y", unit="m")


# --- logistic regression -------------------------------------------------------------------------


def _glm_rows(y, exog, confidence=0.95):
    """Coefficient rows by IRLS (statsmodels GLM), McFadden's R^2 from the closed-form null likelihood."""
    fit = sm.GLM(y.astype(float), exog, family=sm.families.Binomial()).fit(tol=1e-13)
    p = y.mean()
    ll_null = len(y) * (p * math.log(p) + (1 - p) * math.log(1 - p))
    z = scipy.stats.norm.ppf((1 + confidence) / 2)
    return fit, 1 - fit.llf / ll_null, z


def test_logistic_rows_for_two_predictors_per_unit_match_glm(capsys):
    """String outcome with positive = the first sorted level, two predictors, prompts averaged per model."""
    rng = np.random.default_rng(8)
    n_units = 21
    x1, x2 = rng.normal(size=n_units), rng.normal(size=n_units)
    latent = x1 - 0.5 * x2 + rng.normal(size=n_units)
    sign = np.where(latent >= np.sort(latent)[-12], "dampen", "expand")
    data = pd.DataFrame(
        {
            "model": np.repeat(np.arange(n_units), 2),
            "sign": np.repeat(sign, 2),
            "x1": np.repeat(x1, 2) + np.tile([0.2, -0.2], n_units),
            "x2": np.repeat(x2, 2) + np.tile([-0.1, 0.1], n_units),
        }
    )
    out = st.logistic_fit(data, "sign", ["x1", "x2"], positive="dampen", unit="model")
    assert capsys.readouterr().out == ""  # statsmodels' convergence report is not printed
    assert out.columns.tolist() == LOGISTIC_COLUMNS
    y = sign == "dampen"
    n_pos = int(y.sum())
    assert (n_pos, n_units - n_pos) == (12, 9)
    fit, r2, z = _glm_rows(y, sm.add_constant(pd.DataFrame({"x1": x1, "x2": x2})))
    for i, term in enumerate(["const", "x1", "x2"]):
        b, se = fit.params[term], fit.bse[term]
        _assert_row(
            out.iloc[i],
            {
                "test": "logistic regression (ML): sign ~ x1 + x2",
                "term": term,
                "n": n_units,
                "n_obs": n_units,
                "n_pos": 12,
                "n_neg": 9,
                "converged": True,
                "alternative": "two-sided",
                "note": _small(9, 10, "events in the smaller class"),
            },
        )
        got = out.iloc[i]
        assert got["estimate"] == pytest.approx(b, rel=1e-6)
        assert got["se"] == pytest.approx(se, rel=1e-5)
        assert got["statistic"] == pytest.approx(b / se, rel=1e-5)
        assert got["p_value"] == pytest.approx(2 * scipy.stats.norm.sf(abs(b / se)), rel=1e-4)
        assert got["ci_low"] == pytest.approx(b - z * se, rel=1e-5)
        assert got["ci_high"] == pytest.approx(b + z * se, rel=1e-5)
        assert got["odds_ratio"] == pytest.approx(math.exp(b), rel=1e-6)
        assert got["pseudo_r2"] == pytest.approx(r2, rel=1e-6)


def test_logistic_ten_events_is_enough_and_confidence_is_honoured():
    rng = np.random.default_rng(9)
    y = np.r_[np.ones(10, bool), np.zeros(15, bool)]
    x = rng.normal(size=25) + y
    data = pd.DataFrame({"x": x, "y": y})
    out = st.logistic_fit(data, "y", "x", confidence=0.9).set_index("term")
    fit, _, z = _glm_rows(y, sm.add_constant(x), confidence=0.9)
    assert z == pytest.approx(scipy.stats.norm.ppf(0.95))
    assert out.at["x", "ci_low"] == pytest.approx(fit.params[1] - z * fit.bse[1], rel=1e-5)
    assert out.at["x", "ci_high"] == pytest.approx(fit.params[1] + z * fit.bse[1], rel=1e-5)
    assert out.at["x", "note"] == "" and (out.at["x", "n_pos"], out.at["x", "n_neg"]) == (10, 15)


def test_logistic_flags_quasi_complete_separation():
    """x = 3 holds both classes, every other x one class: the MLE does not exist, although
    statsmodels only reports non-convergence (no PerfectSeparationWarning)."""
    data = pd.DataFrame({"x": [0, 1, 2, 3, 3, 4, 5, 6], "d": [0, 0, 0, 0, 1, 1, 1, 1]})
    out = st.logistic_fit(data, "d", "x")
    assert not out.at[0, "converged"]
    assert out.at[0, "note"] == "; ".join(
        [
            _small(4, 10, "events in the smaller class"),
            "ConvergenceWarning: Maximum Likelihood optimization failed to converge. Check mle_retvals",
            "separation: the MLE does not exist; coefficients, SEs and p-values are not interpretable",
        ]
    )


@pytest.mark.parametrize("y", [[0, 1, 0, 1, 1, 1], [1, 0, 1, 0, 0, 0]])
def test_logistic_flags_one_sided_quasi_separation(y):
    """x = 1 holds one class only, x = 0 both: the fitted probabilities reach 1 (or 0) on one side only."""
    out = st.logistic_fit(pd.DataFrame({"x": [0, 0, 0, 1, 1, 1], "y": y}), "y", "x")
    assert not out.at[0, "converged"]
    assert out.at[0, "note"].endswith(
        "separation: the MLE does not exist; coefficients, SEs and p-values are not interpretable"
    )


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
def test_logistic_outlier_fitted_at_zero_is_not_separation():
    """A far outlier gets a fitted probability ~0 (and numpy warns about exp overflow), but the classes
    overlap, the fit converges and the MLE exists: no separation note."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=30)
    y = (x + rng.normal(size=30)) > 0
    x[0], y[0] = -800.0, False
    out = st.logistic_fit(pd.DataFrame({"x": x, "y": y}), "y", "x").set_index("term")
    fit, r2, _ = _glm_rows(y, sm.add_constant(x))
    assert out.at["x", "estimate"] == pytest.approx(fit.params[1], rel=1e-5)
    assert out.at["x", "pseudo_r2"] == pytest.approx(r2, rel=1e-6)
    assert out.at["x", "converged"]
    assert "separation" not in out.at["x", "note"]


def test_logistic_keeps_its_intercept_when_a_predictor_is_constant():
    """A constant predictor is collinear with the intercept: the fit fails loudly rather than quietly
    dropping the intercept (statsmodels' add_constant would skip it by default)."""
    data = pd.DataFrame({"x": [1.0] * 8, "z": np.arange(8.0), "y": [0, 1, 0, 1, 1, 0, 1, 1]})
    with pytest.raises(np.linalg.LinAlgError):
        st.logistic_fit(data, "y", ["z", "x"])


# --- threshold_estimate --------------------------------------------------------------------------


def _best_cut(x, y, direction, criterion):
    """Brute force: every candidate cut scored in plain Python; ties resolved by the lower median."""
    distinct = sorted(set(x))
    cuts = [-math.inf] + [(a + b) / 2 for a, b in zip(distinct, distinct[1:])] + [math.inf]

    def crit(c):
        pred = [(v >= c) if direction == "greater" else (v <= c) for v in x]
        if criterion == "accuracy":
            return sum(p == t for p, t in zip(pred, y)) / len(y)
        pos = [p for p, t in zip(pred, y) if t]
        neg = [p for p, t in zip(pred, y) if not t]
        return sum(pos) / len(pos) + sum(not p for p in neg) / len(neg) - 1

    scores = [crit(c) for c in cuts]
    tied = [i for i, s in enumerate(scores) if s >= max(scores) - 1e-12]
    k = tied[(len(tied) - 1) // 2]
    inner = 0 < k < len(cuts) - 1
    return {
        "statistic": float(cuts[k]),
        "score": scores[k],
        "cut_low": float(distinct[k - 1]) if inner else math.nan,
        "cut_high": float(distinct[k]) if inner else math.nan,
        "n_optimal_cuts": len(tied),
    }


@pytest.mark.parametrize(
    "y, direction, criterion",
    [
        ([0, 1, 0, 1, 0, 1, 1, 1], "greater", "accuracy"),  # 3 tied cuts: the middle one
        ([0, 0, 1, 0, 1, 1, 1, 1], "greater", "accuracy"),  # 2 tied cuts: the lower one
        ([0, 1, 1, 0, 1, 1, 1, 1], "greater", "accuracy"),  # best is the lowest real cut
        ([0, 0, 0, 0, 0, 0, 0, 1], "greater", "accuracy"),  # best is the highest real cut
        ([1, 1, 0, 1, 1, 1, 1, 1], "greater", "accuracy"),  # everyone positive (-inf) is best
        ([1, 1, 0, 1, 1, 1, 1, 1], "less", "accuracy"),  # everyone positive (+inf) is best
        ([0, 1, 0, 1, 0, 1, 1, 1], "greater", "youden"),
        ([1, 0, 0, 0, 0, 0, 0, 1], "less", "youden"),
        ([0, 0, 0, 0, 0, 0, 0, 1], "less", "youden"),  # 2 tied trivial-side cuts
    ],
)
def test_threshold_row_matches_brute_force(y, direction, criterion):
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    labels = np.where(np.array(y) == 1, "pos", "neg")
    data = pd.DataFrame({"x": x, "y": labels})
    out = st.threshold_estimate(
        data, "x", "y", positive="pos", direction=direction, criterion=criterion, n_resamples=300, seed=4
    )
    assert out.columns.tolist() == THRESHOLD_COLUMNS
    expected = _best_cut(x, y, direction, criterion)
    rule = ">=" if direction == "greater" else "<="
    _assert_row(
        out.iloc[0],
        {
            **expected,
            "test": f"cut-point maximising {criterion} (positive if x {rule} c), bootstrap over units",
            "p_value": math.nan,
            "n": 8,
            "criterion": criterion,
            "direction": direction,
            "n_resamples": 300,
            "alternative": math.nan,
        },
    )
    notes = [_small(8, 20), "in-sample score at the estimated cut is optimistic"]
    if not math.isfinite(expected["statistic"]):
        notes.append("no cut beats putting every unit in one class")
    if expected["n_optimal_cuts"] > 1:
        notes.append(f"{expected['n_optimal_cuts']} cuts tie for the best {criterion}")
    got = [n for n in _notes(out.at[0, "note"]) if not n.endswith("resamples gave no finite value")]
    assert got == notes
    assert out.at[0, "ci_low"] <= out.at[0, "ci_high"]


def _bootstrap_cuts(x, y, criterion, n_resamples, seed):
    """Independent bootstrap: resample units by index, re-pick the best candidate cut in each resample."""
    distinct = np.unique(x)
    cuts = np.r_[-np.inf, (distinct[:-1] + distinct[1:]) / 2, np.inf]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_resamples):
        idx = rng.integers(0, len(x), len(x))
        xs, ys = x[idx], y[idx]
        if criterion == "youden" and (ys.all() or not ys.any()):
            out.append(np.nan)
            continue
        pred = xs[:, None] >= cuts
        if criterion == "accuracy":
            scores = (pred == ys[:, None]).mean(axis=0)
        else:
            scores = pred[ys].mean(axis=0) + (~pred[~ys]).mean(axis=0) - 1
        tied = np.flatnonzero(scores >= scores.max() - 1e-12)
        out.append(cuts[tied[(tied.size - 1) // 2]])
    return np.array(out)


@pytest.mark.parametrize("criterion", ["accuracy", "youden"])
def test_threshold_bootstrap_interval_agrees_with_an_independent_bootstrap(criterion):
    rng = np.random.default_rng(17)
    x = np.round(rng.normal(size=20), 2)
    y = x + rng.normal(scale=0.7, size=20) > 0
    out = st.threshold_estimate(pd.DataFrame({"x": x, "y": y}), "x", "y", criterion=criterion, seed=1)
    assert out.at[0, "n_resamples"] == 10_000  # documented default
    ref = _bootstrap_cuts(x, y, criterion, 10_000, seed=99)
    finite = ref[np.isfinite(ref)]
    low, high = np.quantile(finite, [0.025, 0.975])
    assert out.at[0, "ci_low"] == pytest.approx(low, abs=0.15)
    assert out.at[0, "ci_high"] == pytest.approx(high, abs=0.15)
    ties = _best_cut(list(x), list(y), "greater", criterion)["n_optimal_cuts"]
    notes = ["in-sample score at the estimated cut is optimistic"] + [f"2 cuts tie for the best {criterion}"] * (
        ties == 2
    )
    assert ties in (1, 2) and _notes(out.at[0, "note"]) == notes  # n = 20 is enough: no small-n note


def test_threshold_youden_skips_resamples_lacking_a_class_silently():
    """n = 6 (3 + 3): P(resample has one class only) = 2 / 2^6; those are counted in the note, and no
    numpy warning escapes."""
    data = pd.DataFrame({"x": [0.1, 0.5, 0.3, 0.9, 0.7, 0.2], "y": [0, 0, 1, 1, 1, 0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = st.threshold_estimate(data, "x", "y", criterion="youden", n_resamples=4000, seed=2)
    lacking = [n for n in _notes(out.at[0, "note"]) if n.endswith("of 4000 resamples gave no finite value")]
    assert len(lacking) == 1
    count = int(lacking[0].split()[0])
    expected = 4000 * 2 / 2**6
    assert abs(count - expected) < 5 * math.sqrt(expected)
    assert np.isfinite(out.at[0, "ci_low"]) and np.isfinite(out.at[0, "ci_high"])


def test_threshold_per_unit_with_object_column_and_explicit_positive():
    """positive = the first sorted level; x averaged per unit; a None in an object column dropped."""
    x = np.array([0.1, 0.2, 0.35, 0.4, 0.6, 0.7, 0.8, 0.95])
    sign = np.array(["dampen"] * 4 + ["expand"] * 4)
    data = pd.DataFrame(
        {
            "model": np.repeat(np.arange(8), 2),
            "sign": np.repeat(sign, 2),
            "x": np.repeat(x, 2) + np.tile([0.05, -0.05], 8),
        }
    )
    data["x"] = data.x.astype(object)
    data.loc[16] = [0, "dampen", None]
    out = st.threshold_estimate(data, "x", "sign", positive="dampen", unit="model", direction="less", n_resamples=200)
    expected = _best_cut(list(x), list(sign == "dampen"), "less", "accuracy")
    assert expected["statistic"] == pytest.approx(0.5)
    _assert_row(out.iloc[0], {**expected, "n": 8, "direction": "less"})
    assert _notes(out.at[0, "note"])[:2] == ["1 row(s) with missing values dropped", _small(8, 20)]


def test_threshold_errors():
    data = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 1]})
    with pytest.raises(ValueError, match="direction must be 'greater' or 'less', got 'up'"):
        st.threshold_estimate(data, "x", "y", direction="up")
    with pytest.raises(ValueError, match="criterion must be 'accuracy' or 'youden', got 'f1'"):
        st.threshold_estimate(data, "x", "y", criterion="f1")


# --- proportions ---------------------------------------------------------------------------------


def _wilson(k, n, confidence):
    z, p = scipy.stats.norm.ppf((1 + confidence) / 2), k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.mark.parametrize("k, n, confidence", [(1, 1, 0.95), (3, 9, 0.9), (7, 10, 0.95)])
def test_wilson_row_matches_closed_form(k, n, confidence):
    out = st.wilson_ci(k, n, **({} if confidence == 0.95 else {"confidence": confidence}))
    assert out.columns.tolist() == PROPORTION_COLUMNS
    low, high = _wilson(k, n, confidence)
    _assert_row(
        out.iloc[0],
        {
            "test": f"Wilson score interval ({round(confidence * 100)}%)",
            "statistic": k / n,
            "p_value": math.nan,
            "ci_low": low,
            "ci_high": high,
            "n": n,
            "k": k,
            "proportion": k / n,
            "alternative": math.nan,
            "note": _small(n, 10) if n < 10 else "",
        },
    )


@pytest.mark.parametrize("k, n", [(0, 0), (4, 3), (-1, 5)])
def test_wilson_rejects_impossible_counts(k, n):
    with pytest.raises(ValueError, match=f"need 0 <= k <= n and n > 0, got k={k}, n={n}"):
        st.wilson_ci(k, n)


def test_group_proportions_rows_sorted_observed_levels_and_missing_note():
    """Categorical group with an unused level; groups listed unsorted in the data; one missing outcome."""
    data = pd.DataFrame(
        {
            "lab": pd.Categorical(["M"] * 4 + ["E"] * 10 + ["M"], categories=["Z", "M", "E"]),
            "dampens": [True, False, False, True] + [True] * 7 + [False] * 3 + [None],
        }
    )
    out = st.group_proportions(data, "dampens", "lab", confidence=0.9)
    assert out.columns.tolist() == ["test", "statistic", "p_value", "ci_low", "ci_high", "n", "group", "k"] + [
        "proportion",
        "alternative",
        "note",
    ]
    assert out.group.tolist() == ["M", "E"]  # the categories' order, unused "Z" left out
    for i, (k, n) in enumerate([(2, 4), (7, 10)]):
        low, high = _wilson(k, n, 0.9)
        missing = "1 row(s) with missing values dropped"
        note = f"{missing}; {_small(n, 10)}" if n < 10 else missing
        _assert_row(out.iloc[i], {"k": k, "n": n, "ci_low": low, "ci_high": high, "proportion": k / n, "note": note})
        assert out.at[i, "test"] == "Wilson score interval (90%)"


def test_group_proportions_sorts_plain_labels():
    data = pd.DataFrame({"lab": ["o", "o", "E", "o", "E"], "ok": [True, False, True, True, False]})
    out = st.group_proportions(data, "ok", "lab")
    assert out.group.tolist() == ["E", "o"] and out.k.tolist() == [1, 2] and out.n.tolist() == [2, 3]


def test_table_2x2_orders_and_fills_absent_levels():
    data = pd.DataFrame({"lab": ["E"] * 5 + ["o"] * 3, "sign": ["expand"] * 8})
    table = st.table_2x2(data, "lab", "sign", row_order=["o", "E"], col_order=["expand", "dampen"])
    assert table.index.tolist() == ["o", "E"] and table.columns.tolist() == ["expand", "dampen"]
    assert table.to_numpy().tolist() == [[3, 0], [5, 0]] and (table.dtypes == np.int64).all()
    both = pd.DataFrame({"lab": ["o", "E", "E", "o"], "sign": ["e", "d", "e", "e"]})
    default = st.table_2x2(both, "lab", "sign")
    assert default.index.tolist() == ["E", "o"] and default.columns.tolist() == ["d", "e"]
    assert default.to_numpy().tolist() == [[1, 1], [0, 2]]
    reordered = st.table_2x2(both, "lab", "sign", col_order=["e", "d"])
    assert reordered.to_numpy().tolist() == [[1, 1], [2, 0]]


def test_table_2x2_errors():
    data = pd.DataFrame({"lab": ["E", "o", "E"], "sign": ["a", "b", "c"]})
    with pytest.raises(ValueError, match=r"need exactly 2 levels each, got rows \['E', 'o'\] and columns"):
        st.table_2x2(data, "lab", "sign")
    with pytest.raises(ValueError, match=r"levels \['c'\] are not in row_order/col_order"):
        st.table_2x2(data, "lab", "sign", col_order=["a", "b"])


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_fisher_row_matches_scipy(alternative):
    """(3, 4 / 5, 1): the one-sided p-values differ from the two-sided one; no cell is 0 (a cell of 1 is
    fine); n = 13 is small."""
    a, b, c, d = 3, 4, 5, 1
    table = pd.DataFrame([[a, b], [c, d]], index=["E", "other"], columns=["dampen", "expand"])
    out = st.fisher_exact_2x2(table, alternative=alternative)
    assert out.columns.tolist() == FISHER_COLUMNS
    ref = scipy.stats.fisher_exact([[a, b], [c, d]], alternative=alternative)
    two_sided = scipy.stats.fisher_exact([[a, b], [c, d]]).pvalue
    assert (ref.pvalue == pytest.approx(two_sided)) == (alternative == "two-sided")
    conditional = scipy.stats.contingency.odds_ratio([[a, b], [c, d]], kind="conditional")
    ci = conditional.confidence_interval(0.95)
    _assert_row(
        out.iloc[0],
        {
            "test": "Fisher's exact test (2x2)",
            "statistic": a * d / (b * c),
            "p_value": float(ref.pvalue),
            "ci_low": float(ci.low),
            "ci_high": float(ci.high),
            "n": 13,
            "odds_ratio": float(conditional.statistic),
            "prop_row1": a / (a + b),
            "prop_row2": c / (c + d),
            "table": "E: 3 dampen / 4 expand; other: 5 / 1",
            "alternative": alternative,
            "note": _small(13, 20),
        },
    )


def test_fisher_empty_row_and_large_table_notes():
    empty = pd.DataFrame([[6, 9], [0, 0]], index=["a", "b"], columns=["d", "e"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = st.fisher_exact_2x2(empty)
    _assert_row(out.iloc[0], {"prop_row1": 0.4, "prop_row2": math.nan, "n": 15, "p_value": 1.0})
    assert _notes(out.at[0, "note"]) == [
        _small(15, 20),
        "a cell is 0: the odds ratio is 0 or infinite, its CI open on one side",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first_empty = st.fisher_exact_2x2(empty.iloc[::-1])
    assert math.isnan(first_empty.at[0, "prop_row1"]) and first_empty.at[0, "prop_row2"] == 0.4
    large = pd.DataFrame([[9, 1], [4, 6]], index=["a", "b"], columns=["d", "e"])
    assert st.fisher_exact_2x2(large).at[0, "note"] == ""  # n = 20, a cell of 1 but none 0


@pytest.mark.parametrize(
    "table, message",
    [
        (np.array([[1, 2], [3, 4]]), "table must be a 2x2 pandas DataFrame with labelled rows and columns"),
        (pd.DataFrame([[1, 2], [3, 4], [5, 6]]), "table must be a 2x2 pandas DataFrame with labelled rows and columns"),
        (pd.DataFrame([[1, -2], [3, 4]]), "table must hold non-negative integer counts"),
        (pd.DataFrame([[1, 2.5], [3, 4]]), "table must hold non-negative integer counts"),
        (pd.DataFrame([["1", "2"], ["3", "4"]]), "table must hold non-negative integer counts"),
    ],
)
def test_fisher_rejects_bad_tables(table, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        st.fisher_exact_2x2(table)
