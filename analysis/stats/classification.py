"""Does a continuous predictor separate a binary outcome (e.g. dampen vs expand)?

`auc`: area under the ROC curve = P(score of a positive > score of a negative) + P(tie) / 2,
i.e. the Mann-Whitney U of the positives / (n_pos n_neg), with the Mann-Whitney p-value and a
DeLong or stratified-bootstrap CI. `logistic_fit`: statsmodels Logit. `threshold_estimate`: the
cut-point on x that best separates the classes, with a bootstrap CI over units.

Pass `unit` to average the predictor per unit (model) first; the outcome must then be constant
within a unit. `positive` is the outcome level counted as 1 (default: the larger of the two sorted
levels, i.e. True or 1; pass it explicitly for string labels).

Output columns
--------------
`auc`: `test`, `statistic` (Mann-Whitney U of the positives), `p_value` (`scipy.stats.
mannwhitneyu`, exact for small samples without ties), `ci_low`, `ci_high` (CI of the AUC,
clipped to [0, 1]), `n`, `auc`, `n_pos`, `n_neg`, `ci_method`, `alternative` ("greater": positives
score higher), `note`.

`logistic_fit`: one row per term: `test`, `statistic` (Wald z), `p_value`, `ci_low`, `ci_high`
(Wald CI of the log-odds coefficient), `n`, `term`, `estimate` (log-odds), `se`, `n_obs`,
`odds_ratio` (exp(estimate)), `pseudo_r2` (McFadden), `converged`, `n_pos`, `n_neg`,
`alternative`, `note`.

`threshold_estimate`: `test`, `statistic` (the estimated cut c), `p_value` (NaN), `ci_low`,
`ci_high` (bootstrap percentile CI of c), `n`, `criterion`, `score` (accuracy or Youden's J at c,
in-sample, hence optimistic), `cut_low`, `cut_high` (the observed x values either side of c: every
cut in between classifies identically), `n_optimal_cuts`, `direction`, `n_resamples`,
`alternative`, `note`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats
import statsmodels.api as sm

from ._common import (
    bootstrap_counts,
    captured_warnings,
    check_alternative,
    coefficient_table,
    complete_cases,
    join_notes,
    percentile_interval,
    result_frame,
    small_n_note,
    unit_level,
)


def _binary_units(
    data: pd.DataFrame, x: str | list[str], y: str, positive, unit: str | None
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Rows (or per-unit means) with complete x and y, the 0/1 outcome, and a note."""
    xs = [x] if isinstance(x, str) else list(x)
    data, note = complete_cases(data, [*xs, y, unit])
    if unit:
        data = unit_level(data, unit, xs, constant=[y])
    levels = sorted(data[y].unique())
    if len(levels) != 2:
        raise ValueError(f"{y!r} must have exactly 2 levels, got {levels}")
    positive = levels[1] if positive is None else positive
    if positive not in levels:
        raise ValueError(f"positive={positive!r} is not a level of {y!r} ({levels})")
    return data, (data[y] == positive).to_numpy(), note


def _delong_interval(comparisons: np.ndarray, confidence: float) -> tuple[float, float]:
    """DeLong et al. (1988) CI: Var(AUC) = Var(V10)/n_pos + Var(V01)/n_neg from the placements."""
    n_pos, n_neg = comparisons.shape
    v10, v01 = comparisons.mean(axis=1), comparisons.mean(axis=0)
    se = np.sqrt(v10.var(ddof=1) / n_pos + v01.var(ddof=1) / n_neg)
    z = scipy.stats.norm.ppf((1 + confidence) / 2)
    auc = comparisons.mean()
    return max(0.0, auc - z * se), min(1.0, auc + z * se)


def auc(
    data: pd.DataFrame,
    score: str,
    label: str,
    positive=None,
    unit: str | None = None,
    alternative: str = "two-sided",
    ci: str = "delong",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """AUC of `score` for the outcome `label == positive`, with a CI and the Mann-Whitney test.

    `ci="delong"` (normal, DeLong variance) or `"bootstrap"` (percentile; positives and negatives
    resampled separately, `numpy.random.default_rng(seed)`). Both collapse to [1, 1] (or [0, 0])
    under perfect separation, which the note flags.
    """
    check_alternative(alternative)
    if ci not in ("delong", "bootstrap"):
        raise ValueError(f"ci must be 'delong' or 'bootstrap', got {ci!r}")
    units, is_pos, note = _binary_units(data, score, label, positive, unit)
    values = units[score].to_numpy(float)
    pos, neg = values[is_pos], values[~is_pos]
    test = scipy.stats.mannwhitneyu(pos, neg, alternative=alternative)
    area = float(test.statistic) / (pos.size * neg.size)
    comparisons = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    if ci == "delong":
        ci_low, ci_high = _delong_interval(comparisons, confidence)
        ci_method, nan_note = "DeLong", ""
    else:
        rng = np.random.default_rng(seed)
        w_pos = bootstrap_counts(rng, pos.size, n_resamples)
        w_neg = bootstrap_counts(rng, neg.size, n_resamples)
        boot = np.einsum("bi,ij,bj->b", w_pos, comparisons, w_neg) / (pos.size * neg.size)
        ci_low, ci_high, nan_note = percentile_interval(boot, confidence)
        ci_method = f"bootstrap percentile, stratified ({n_resamples} resamples)"
    notes = [note, nan_note, small_n_note(min(pos.size, neg.size), 5, "units in the smaller class")]
    if area in (0.0, 1.0):
        notes.append("perfect separation: the CI is degenerate")
    if np.unique(values).size < values.size:
        notes.append("tied scores count 1/2")
    return result_frame(
        {
            "test": "ROC AUC (Mann-Whitney U)",
            "statistic": float(test.statistic),
            "p_value": float(test.pvalue),
            "ci_low": ci_low,
            "ci_high": ci_high,
            "n": values.size,
            "auc": area,
            "n_pos": pos.size,
            "n_neg": neg.size,
            "ci_method": ci_method,
            "alternative": alternative,
            "note": join_notes(notes),
        }
    )


def logistic_fit(
    data: pd.DataFrame,
    y: str,
    x: str | list[str],
    positive=None,
    unit: str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Logistic regression of `y == positive` on `x` (one column or a list), with an intercept.

    Maximum likelihood by statsmodels `Logit`; warnings captured in `note`. Under complete or
    quasi-complete separation the MLE does not exist (estimates and SEs run off to huge values);
    this is detected from a fit that does not converge with fitted probabilities at 0 or 1 and
    stated in the note, and the AUC is then the meaningful summary.
    """
    xs = [x] if isinstance(x, str) else list(x)
    units, outcome, note = _binary_units(data, xs, y, positive, unit)
    exog = sm.add_constant(units[xs].astype(float), has_constant="add")
    notes = [note, small_n_note(min(outcome.sum(), (~outcome).sum()), 10, "events in the smaller class")]
    with captured_warnings() as warned:
        result = sm.Logit(outcome.astype(float), exog).fit(disp=0, maxiter=200)
    notes.extend(warned)
    converged = bool(result.mle_retvals["converged"])
    fitted = result.predict()
    # complete separation puts every fitted probability at 0 or 1, quasi-complete separation only some
    # (statsmodels warns about the former only); either way Newton never converges
    if not converged and np.any((fitted < 1e-6) | (fitted > 1 - 1e-6)):
        notes.append("separation: the MLE does not exist; coefficients, SEs and p-values are not interpretable")
    out = coefficient_table(result, confidence)
    out["odds_ratio"] = np.exp(out["estimate"])
    out["pseudo_r2"] = float(result.prsquared)
    out["converged"] = converged
    out["n_pos"] = int(outcome.sum())
    out["n_neg"] = int((~outcome).sum())
    out.insert(0, "test", f"logistic regression (ML): {y} ~ {' + '.join(xs)}")
    out["alternative"] = "two-sided"
    out["note"] = join_notes(notes)
    return result_frame(out.to_dict("records"))


def _best_cuts(scores: np.ndarray) -> np.ndarray:
    """Per row, the index of the optimal cut (the lower median of the tied maxima)."""
    best = np.nanmax(scores, axis=-1, keepdims=True)
    tied = scores >= best - 1e-12
    target = (tied.sum(axis=-1, keepdims=True) - 1) // 2
    return np.argmax(np.cumsum(tied, axis=-1) > target, axis=-1)


def threshold_estimate(
    data: pd.DataFrame,
    x: str,
    y: str,
    positive=None,
    unit: str | None = None,
    direction: str = "greater",
    criterion: str = "accuracy",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int | None = None,
) -> pd.DataFrame:
    """Cut-point c on `x` that best separates `y == positive`, with a bootstrap CI over units.

    Rule: predict positive when x >= c (`direction="greater"`) or x <= c (`"less"`). Candidate cuts
    are the midpoints between consecutive distinct x values, plus the two trivial cuts (+-inf:
    everyone in one class), so an estimate is only reported if a real cut beats the base rate.
    `criterion`: "accuracy" or "youden" (sensitivity + specificity - 1). Tied optimal cuts: the
    lower median. Bootstrap: units resampled with replacement (`numpy.random.default_rng(seed)`),
    cut re-estimated among the same candidates; resamples lacking a class are skipped for Youden.
    """
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    if criterion not in ("accuracy", "youden"):
        raise ValueError(f"criterion must be 'accuracy' or 'youden', got {criterion!r}")
    units, outcome, note = _binary_units(data, x, y, positive, unit)
    values = units[x].to_numpy(float)
    distinct = np.unique(values)
    cuts = np.concatenate([[-np.inf], (distinct[:-1] + distinct[1:]) / 2, [np.inf]])
    predicted = values[:, None] >= cuts if direction == "greater" else values[:, None] <= cuts
    correct = (predicted == outcome[:, None]).astype(float)

    def score(weights: np.ndarray) -> np.ndarray:
        if criterion == "accuracy":
            return weights @ correct / weights.sum(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            sensitivity = (weights * outcome) @ correct / (weights @ outcome)[..., None]
            specificity = (weights * ~outcome) @ correct / (weights @ ~outcome)[..., None]
        return sensitivity + specificity - 1

    observed = score(np.ones((1, values.size)))
    best = _best_cuts(observed)[0]
    n_optimal = int((observed[0] >= observed[0, best] - 1e-12).sum())
    weights = bootstrap_counts(np.random.default_rng(seed), values.size, n_resamples)
    boot_scores = score(weights)
    valid = np.isfinite(boot_scores).all(axis=-1)
    boot_cuts = np.full(n_resamples, np.nan)
    boot_cuts[valid] = cuts[_best_cuts(boot_scores[valid])]
    ci_low, ci_high, nan_note = percentile_interval(boot_cuts, confidence)

    notes = [note, small_n_note(values.size, 20), nan_note, "in-sample score at the estimated cut is optimistic"]
    if not np.isfinite(cuts[best]):
        notes.append("no cut beats putting every unit in one class")
    if n_optimal > 1:
        notes.append(f"{n_optimal} cuts tie for the best {criterion}")
    rule = ">=" if direction == "greater" else "<="
    return result_frame(
        {
            "test": f"cut-point maximising {criterion} (positive if {x} {rule} c), bootstrap over units",
            "statistic": float(cuts[best]),
            "ci_low": ci_low,
            "ci_high": ci_high,
            "n": values.size,
            "criterion": criterion,
            "score": float(observed[0, best]),
            "cut_low": float(distinct[best - 1]) if 0 < best < cuts.size - 1 else np.nan,
            "cut_high": float(distinct[best]) if 0 < best < cuts.size - 1 else np.nan,
            "n_optimal_cuts": n_optimal,
            "direction": direction,
            "n_resamples": n_resamples,
            "note": join_notes(notes),
        }
    )
