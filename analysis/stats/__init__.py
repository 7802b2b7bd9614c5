"""Statistics library of the analysis stage, in the style of pingouin.

Long-format DataFrame in (`data=`, `dv=`, `between=`, `subject=` / `cluster=` / `unit=`), a small
DataFrame out. Every result frame starts with `test` (exact test name), `statistic`, `p_value`,
`ci_low`, `ci_high`, `n` and ends with `alternative` and `note` (convergence problems, ties, small
n, dropped rows); the columns in between are the effect size named for what it is (`r`,
`cohen_d`, `odds_ratio`, `auc`, `r2_share`, ...) and the unit counts (`n_units`, `n_obs`).

Conventions: the model is the unit (prompts are repeated measures: functions with `subject`,
`cluster` or `unit` average over prompts first or resample models); one-sided tests through
`alternative=` ("greater" / "less"), never halved p-values; CIs two-sided at `confidence`
(default 0.95); every resampling takes `n_resamples` and `seed` and draws from
`numpy.random.default_rng(seed)`, so the same inputs give the same frame.

Modules: `correlation`, `proportions`, `permutation`, `bootstrap`, `mixed` (MixedLM, OLS, R^2
decomposition), `agreement` (ICC, Friedman), `location` (t and Wilcoxon), `classification`
(AUC, logistic, cut-point), `robustness` (leave-one-out, order stability), `statcheck`
(rounding intervals, verdicts, sample sizes).
"""

from .agreement import friedman, icc
from .bootstrap import bootstrap_ci, bootstrap_contrast
from .classification import auc, logistic_fit, threshold_estimate
from .correlation import cluster_correlation, correlation
from .location import one_sample, paired
from .mixed import mixed_model, model_summary, ols_model, variance_decomposition
from .permutation import permutation_correlation, permutation_test
from .proportions import fisher_exact_2x2, group_proportions, table_2x2, wilson_ci
from .robustness import leave_one_out, order_robustness, significance_conclusion
from .statcheck import (
    Interval,
    decide,
    n_for_correlation,
    n_for_two_means,
    n_for_two_proportions,
    reproduces,
    rounding_interval,
)

__all__ = [
    "Interval",
    "auc",
    "bootstrap_ci",
    "bootstrap_contrast",
    "cluster_correlation",
    "correlation",
    "decide",
    "fisher_exact_2x2",
    "friedman",
    "group_proportions",
    "icc",
    "leave_one_out",
    "logistic_fit",
    "mixed_model",
    "model_summary",
    "n_for_correlation",
    "n_for_two_means",
    "n_for_two_proportions",
    "ols_model",
    "one_sample",
    "order_robustness",
    "paired",
    "permutation_correlation",
    "permutation_test",
    "reproduces",
    "rounding_interval",
    "significance_conclusion",
    "table_2x2",
    "threshold_estimate",
    "variance_decomposition",
    "wilson_ci",
]
