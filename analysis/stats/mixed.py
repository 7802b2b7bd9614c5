"""Regression models: linear mixed model (random intercept per model), OLS, R^2 decomposition.

`mixed_model` is the proper prompt-level analysis (prompts nested in models); `ols_model` is the
naive comparison that treats every prompt as independent (optionally with cluster-robust SEs);
`variance_decomposition` splits the R^2 of a unit-level OLS among groups of predictors.

Output columns
--------------
`mixed_model`, `ols_model`: one row per fixed-effect term: `test`, `statistic` (Wald z for
MixedLM, t for OLS), `p_value` (two-sided), `ci_low`, `ci_high` (Wald CI of the estimate), `n`
(= `n_obs`), `term`, `estimate`, `se`, `n_obs`, then for MixedLM `n_groups`, `group_var`
(random-intercept variance), `residual_var`, `converged`, `method`, `level` ("between" for a term
constant within every group, else "within"; the intercept counts as within), `df` (between-within
degrees of freedom, as nlme::lme assigns them: groups - 1 - between terms for a between term,
observations - groups - within terms for a within term), `p_value_t`,
`ci_low_t`, `ci_high_t` (the Wald statistic referred to a t distribution on `df`), and for OLS
`r2`, `n_clusters`, `cov_type`; `formula` (as the fitted statsmodels model keeps it);
`alternative`, `note`. The fitted model's statsmodels summary text is in ``frame.attrs["summary"]``.

`variance_decomposition`: one row per predictor group: `test`, `statistic` (= `r2_share`),
`p_value` (NaN), `ci_low`, `ci_high` (bootstrap percentile CI of `r2_share` over units), `n`
(units), `group`, `predictors`, `r2_share` (the group's Shapley share of R^2; shares sum to
`r2_full`), `share_of_r2` (`r2_share / r2_full`), `rank` (1 = largest share), `r2_full`,
`order_agreement` (share of bootstrap resamples that rank the groups as observed),
`n_resamples`, `formula` (the full OLS whose R^2 is split), `alternative`, `note`.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings

import numpy as np
import pandas as pd
import scipy.stats
import statsmodels.formula.api as smf

from ._common import (
    bootstrap_counts,
    captured_warnings,
    coefficient_table,
    complete_cases,
    join_notes,
    percentile_interval,
    result_frame,
    unit_level,
)

MIXED_METHODS = ("lbfgs", "bfgs", "powell", "nm")
#: warnings that mean a fit is not usable (the next optimiser is tried); boundary and singular
#: covariance warnings are legitimate (a variance estimated at 0) and are only reported
_FAILED_FIT = ("failed to converge", "not positive definite", "Gradient optimization failed")


def _formula_rows(data: pd.DataFrame, *columns_or_formulas: str | None) -> tuple[pd.DataFrame, str]:
    """Rows complete in every column of `data` named in the formulas (or given as a column)."""
    text = " ".join(c for c in columns_or_formulas if c)
    used = [c for c in data.columns if re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w.])", text)]
    return complete_cases(data, used)


def mixed_model(
    data: pd.DataFrame,
    formula: str,
    groups: str,
    re_formula: str | None = None,
    confidence: float = 0.95,
    methods: tuple[str, ...] = MIXED_METHODS,
) -> pd.DataFrame:
    """Linear mixed model `formula` with a random intercept per `groups` level (statsmodels MixedLM).

    Fitted by REML. The optimisers in `methods` are tried in order until a fit converges with a
    positive-definite Hessian and finite SEs; every warning of every attempt is kept in `note`,
    prefixed by the optimiser. `re_formula` adds random slopes (e.g. "~ x"). Fixed-effect p-values
    are Wald z tests (statsmodels), anti-conservative with few groups; `p_value_t` refers the same
    statistic to a t distribution on the between-within degrees of freedom (nlme::lme's rule), which
    with few groups is the honest small-sample version for a between-group term.
    """
    data, missing_note = _formula_rows(data, formula, re_formula, groups)
    model = smf.mixedlm(formula, data, groups=groups, re_formula=re_formula)
    notes, chosen = [missing_note], None
    for method in methods:
        with captured_warnings() as warned:
            try:
                result = model.fit(reml=True, method=method)
            except (np.linalg.LinAlgError, ValueError) as error:
                result, warned = None, [f"{type(error).__name__}: {error}"]
        notes.extend(f"{method}: {w}" for w in warned)
        if result is None:
            continue
        fe_se = result.bse[result.model.exog_names]
        usable = (
            result.converged
            and np.isfinite(fe_se).all()
            and not any(marker in w for w in warned for marker in _FAILED_FIT)
        )
        if chosen is None or usable:
            chosen = (method, result, usable)
        if usable:
            break
        notes.append(f"{method}: fit not usable (not converged, Hessian not positive definite or SEs not finite)")
    if chosen is None:
        raise RuntimeError(f"MixedLM failed with every optimiser: {join_notes(notes)}")
    method, result, usable = chosen
    if not usable:
        notes.append(f"no optimiser gave a usable fit; reporting {method}")
    n_groups = int(result.model.n_groups)
    if n_groups < 20:
        notes.append(
            f"{n_groups} groups: Wald z p-values are anti-conservative; use p_value_t (between-within df) "
            f"or a permutation test across {groups}"
        )
    out = coefficient_table(result, confidence)
    out["n_groups"] = n_groups
    out["group_var"] = float(result.cov_re.iloc[0, 0])
    out["residual_var"] = float(result.scale)
    out["converged"] = bool(usable)
    out["method"] = method
    out["level"], out["df"] = _between_within_df(result)
    half = scipy.stats.t.ppf((1 + confidence) / 2, out["df"]) * out["se"]
    out["p_value_t"] = 2 * scipy.stats.t.sf(np.abs(out["statistic"]), out["df"])
    out["ci_low_t"], out["ci_high_t"] = out["estimate"] - half, out["estimate"] + half
    out["formula"] = result.model.formula
    effects = "random intercept" if re_formula is None else f"random effects {re_formula}"
    out.insert(0, "test", f"linear mixed model (REML), {effects} per {groups}: {formula}")
    out["alternative"] = "two-sided"
    out["note"] = join_notes(notes)
    frame = result_frame(out.to_dict("records"))
    frame.attrs["summary"] = model_summary(result)
    return frame


def model_summary(result) -> str:
    """The text of a fitted statsmodels model's summary (its small-sample warnings silenced: the claims that
    fit the model state their own caveats)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(result.summary())


def _between_within_df(result) -> tuple[list[str], np.ndarray]:
    """Per fixed-effect column: "between" if constant within every group, else "within" (the intercept counts
    as within, as nlme puts it at the innermost level); and its degrees of freedom by nlme::lme's rule:
    groups - 1 - (between terms) for a between term, observations - groups - (within terms but the
    intercept) for a within term."""
    exog = np.asarray(result.model.exog, dtype=float)
    codes = pd.factorize(pd.Series(result.model.groups))[0]
    spread = pd.DataFrame(exog).groupby(codes).agg(lambda column: column.max() - column.min()).to_numpy()
    between = np.all(np.abs(spread) <= 1e-12 * np.maximum(1.0, np.abs(exog).max(axis=0)), axis=0)
    between &= np.array([name != "Intercept" for name in result.model.exog_names])
    n_groups, n_obs = int(codes.max()) + 1, exog.shape[0]
    n_within = len(between) - int(between.sum()) - int("Intercept" in result.model.exog_names)
    df = np.where(between, n_groups - 1 - between.sum(), n_obs - n_groups - n_within).astype(float)
    return ["between" if b else "within" for b in between], df


def ols_model(data: pd.DataFrame, formula: str, cluster: str | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """OLS fit of `formula` (statsmodels), every row treated as an observation.

    With `cluster`, the SEs are cluster-robust (CR1, statsmodels `cov_type="cluster"`) with t tests
    on n_clusters - 1 degrees of freedom; unreliable with few clusters (noted below 30).
    """
    data, missing_note = _formula_rows(data, formula, cluster)
    model = smf.ols(formula, data)
    notes = [missing_note]
    with captured_warnings() as warned:
        if cluster is None:
            result = model.fit()
            cov_type, n_clusters = "nonrobust", np.nan
        else:
            codes = pd.factorize(data[cluster])[0]
            result = model.fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
            cov_type, n_clusters = "cluster", int(codes.max() + 1)
            if n_clusters < 30:
                notes.append(f"{n_clusters} clusters: cluster-robust SEs are unreliable")
    notes.extend(warned)
    out = coefficient_table(result, confidence)
    out["r2"] = float(result.rsquared)
    out["n_clusters"] = n_clusters
    out["cov_type"] = cov_type
    out["formula"] = result.model.formula
    label = f"cluster-robust by {cluster}" if cluster else "iid errors"
    out.insert(0, "test", f"OLS ({label}): {formula}")
    out["alternative"] = "two-sided"
    out["note"] = join_notes(notes)
    frame = result_frame(out.to_dict("records"))
    frame.attrs["summary"] = model_summary(result)
    return frame


def _design(data: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Numeric design columns; a non-numeric column becomes treatment dummies (first level dropped)."""
    parts = []
    for column in columns:
        values = data[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            parts.append(values.to_numpy(float)[:, None])
        else:
            parts.append(pd.get_dummies(values, drop_first=True).to_numpy(float))
    return np.hstack(parts)


def _covariances(weights: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Covariance matrices (resamples x q x q) of the columns of z (units x q) under count weights
    (resamples x units): each bootstrap resample's covariances without materialising it."""
    total = weights.sum(axis=-1)
    mean = weights @ z / total[:, None]
    second = np.matmul((weights[:, :, None] * z).transpose(0, 2, 1), z) / total[:, None, None]
    return second - mean[:, :, None] * mean[:, None, :]


def _r2(cov: np.ndarray, columns: list[int]) -> np.ndarray:
    """R^2 of the OLS (with intercept) of variable 0 on `columns`, from covariance matrices
    (..., q, q): c_xy' C_xx^+ c_xy / c_yy. The pseudo-inverse handles rank-deficient resamples
    (a lab not drawn leaves its dummy constant). Its cut-off is numpy's default (q * machine
    epsilon of the largest eigenvalue, as `lstsq` uses): a direction at rounding-noise level adds
    only O(noise) to R^2, whereas a coarser cut-off would drop genuine near-collinear directions
    (two near-duplicate predictors whose small difference carries the signal, a resample with
    barely more distinct units than predictors) and understate R^2."""
    idx = np.asarray(columns, dtype=int)  # may be empty: a label with one level has no dummy, R^2 0
    cxy = cov[..., idx, 0][..., None]
    coef = np.linalg.pinv(cov[..., idx[:, None], idx], hermitian=True) @ cxy
    with np.errstate(invalid="ignore", divide="ignore"):
        return (cxy.swapaxes(-1, -2) @ coef)[..., 0, 0] / cov[..., 0, 0]


def _shapley(r2_of: dict[frozenset, np.ndarray], names: list[str]) -> np.ndarray:
    """Shapley (LMG) share of each group: weighted mean of its R^2 increments over all subsets."""
    k = len(names)
    shares = []
    for name in names:
        others = [g for g in names if g != name]
        total = 0.0
        for size in range(k):
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            for subset in itertools.combinations(others, size):
                total = total + weight * (r2_of[frozenset(subset) | {name}] - r2_of[frozenset(subset)])
        shares.append(total)
    return np.stack(shares, axis=-1)


def variance_decomposition(
    data: pd.DataFrame,
    y: str,
    groups: dict[str, list[str]],
    unit: str | None = None,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """LMG / Shapley decomposition of the R^2 of a unit-level OLS of `y` over groups of predictors.

    Each group (e.g. {"heritage": ["lab"], "geometry": ["rho", "n_layers"], "scale":
    ["log_params"]}) gets the average, over all orders of entering the groups, of the R^2 it adds;
    the shares sum to the full R^2. Non-numeric predictors become dummies. With `unit`, `y` and
    the numeric predictors are averaged per unit first (non-numeric ones must be constant within a
    unit). CIs: units resampled with replacement, `numpy.random.default_rng(seed)`.
    """
    names = list(groups)
    predictors = list(dict.fromkeys(itertools.chain.from_iterable(groups.values())))
    data, missing_note = complete_cases(data, [y, *predictors, unit])
    if unit:
        numeric = [c for c in [y, *predictors] if pd.api.types.is_numeric_dtype(data[c])]
        data = unit_level(data, unit, numeric, constant=[c for c in predictors if c not in numeric])
    n = len(data)
    designs = {name: _design(data, groups[name]) for name in names}
    z = np.column_stack([data[y].to_numpy(float), *designs.values()])
    spread = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(spread > 0, spread, 1.0)  # scale-free pinv tolerance
    ends = np.cumsum([1] + [d.shape[1] for d in designs.values()])
    position = {name: list(range(ends[i], ends[i + 1])) for i, name in enumerate(names)}

    def r2_table(cov: np.ndarray) -> dict[frozenset, np.ndarray]:
        table = {frozenset(): np.zeros(cov.shape[0])}
        for size in range(1, len(names) + 1):
            for subset in itertools.combinations(names, size):
                table[frozenset(subset)] = _r2(cov, [i for g in subset for i in position[g]])
        return table

    observed = _shapley(r2_table(_covariances(np.ones((1, n)), z)), names)[0]
    weights = bootstrap_counts(np.random.default_rng(seed), n, n_resamples)
    boot = _shapley(r2_table(_covariances(weights, z)), names)
    order = np.argsort(-observed)
    order_agreement = float(np.mean((np.argsort(-boot, axis=-1) == order).all(axis=-1)))
    r2_full = float(observed.sum())
    n_params = z.shape[1] - 1
    notes = [missing_note]
    if n - n_params - 1 < 10:
        notes.append(f"{n} units for {n_params} predictors: R^2 and its shares are optimistic")
    rows = []
    for i, name in enumerate(names):
        low, high, nan_note = percentile_interval(boot[:, i], confidence)
        rows.append(
            {
                "test": "LMG (Shapley) decomposition of OLS R^2, bootstrap over units",
                "statistic": float(observed[i]),
                "ci_low": low,
                "ci_high": high,
                "n": n,
                "group": name,
                "predictors": ", ".join(groups[name]),
                "r2_share": float(observed[i]),
                "share_of_r2": float(observed[i]) / r2_full if r2_full > 0 else np.nan,
                "rank": int(np.flatnonzero(order == i)[0]) + 1,
                "r2_full": r2_full,
                "order_agreement": order_agreement,
                "n_resamples": n_resamples,
                "formula": f"{y} ~ {' + '.join(predictors)}",
                "note": join_notes([*notes, nan_note]),
            }
        )
    return result_frame(rows)
