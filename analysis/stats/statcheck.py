"""Does a printed number reproduce? Verdicts and the sample size a decision would need.

`rounding_interval` turns a printed value into the interval of true values that print as it;
`reproduces` compares a recomputed value (and p) with it, statcheck-style; `decide` turns a
proper analysis into holds / fails / inconclusive; `n_for_*` give the n needed for 80% power.

Printed forms understood (case-insensitive; unicode minus, "×", "≈", "≤", "≥" and thousands
separators accepted; a leading label such as "r =", "p <" or "rho_crit ≈" is allowed):

| printed | interval |
|---|---|
| "-0.81" | [-0.815, -0.805] (half a unit in the last printed digit) |
| "26x", "62,696" | [25.5, 26.5], [62695.5, 62696.5] |
| "43.75%" | [0.43745, 0.43755]: percentages become fractions |
| "1e-4" | [0.5e-4, 1.5e-4] |
| "~300x", "≈ 10" | [value / approx_factor, value * approx_factor] (default factor 2) |
| "0.15-0.20" | [0.145, 0.205] (the union of the two ends' rounding intervals) |
| "p < 0.001", "< 5" | (0, 0.001) for a p-value, else (-inf, 5); "<=" closes the end |
| "p > 0.05" | (0.05, 1] for a p-value, else (0.05, inf) |
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import scipy.stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from ._common import check_alternative

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
_PRINTED = re.compile(
    rf"^(?P<label>[^\d<>=~+\-.]+?)?\s*(?P<cmp><=|>=|<|>|=)?\s*(?P<approx>~)?\s*"
    rf"(?P<low>{_NUMBER})(?:\s*(?:-|to)\s*(?P<high>{_NUMBER}))?\s*(?P<unit>%|x)?$"
)
_NORMALISE = {"−": "-", "–": "-", "—": "-", "×": "x", "≈": "~", "≤": "<=", "≥": ">="}
_STATSMODELS_ALTERNATIVE = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


@dataclass(frozen=True)
class Interval:
    """Set of true values consistent with a printed number, in the printed units (% as fraction)."""

    low: float
    high: float
    low_closed: bool
    high_closed: bool
    kind: str  # "rounding", "approximate", "range", "bound"
    value: float  # the printed number (NaN for a range)
    printed: str

    def contains(self, x: float) -> bool:
        tolerance = 1e-12 * max(1.0, abs(x))
        above = x >= self.low - tolerance if self.low_closed else x > self.low
        below = x <= self.high + tolerance if self.high_closed else x < self.high
        return bool(above and below)

    def __str__(self) -> str:
        left, right = "[" if self.low_closed else "(", "]" if self.high_closed else ")"
        return f"{left}{self.low:.6g}, {self.high:.6g}{right}"


def _half_unit(number: str) -> float:
    """Half a unit in the last printed digit of `number` (e.g. "0.014" -> 0.0005)."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def rounding_interval(printed: str, approx_factor: float = 2.0) -> Interval:
    """Interval of true values that print as `printed` (see the module docstring for the forms)."""
    text = printed.strip().lower()
    for old, new in _NORMALISE.items():
        text = text.replace(old, new)
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    match = _PRINTED.match(text)
    if match is None:
        raise ValueError(f"cannot parse printed value {printed!r}")
    label = (match["label"] or "").strip()
    is_p = label == "p"
    scale = 0.01 if match["unit"] == "%" else 1.0
    value = float(match["low"]) * scale
    half = _half_unit(match["low"]) * scale

    if match["high"] is not None:
        high = float(match["high"]) * scale
        high_end = high + _half_unit(match["high"]) * scale
        return Interval(value - half, high_end, True, True, "range", np.nan, printed)
    if match["approx"]:
        ends = sorted([value / approx_factor, value * approx_factor])
        return Interval(ends[0], ends[1], True, True, "approximate", value, printed)
    if match["cmp"] in ("<", "<="):
        return Interval(0.0 if is_p else -np.inf, value, is_p, match["cmp"] == "<=", "bound", value, printed)
    if match["cmp"] in (">", ">="):
        return Interval(value, 1.0 if is_p else np.inf, match["cmp"] == ">=", is_p, "bound", value, printed)
    return Interval(value - half, value + half, True, True, "rounding", value, printed)


def _printed_significance(interval: Interval, alpha: float) -> bool | None:
    """Significance decision a printed p conveys (None when it does not decide, e.g. "p > 0.01").

    As statcheck: "p = 0.05" counts as significant."""
    if interval.kind == "bound":
        if interval.high <= alpha:
            return True
        if interval.low >= alpha:
            return False
        return None
    return bool(interval.value <= alpha)


def reproduces(
    printed: str,
    recomputed: float,
    printed_p: str | None = None,
    recomputed_p: float | None = None,
    alpha: float = 0.05,
    approx_factor: float = 2.0,
) -> tuple[str, str]:
    """("yes" | "no" | "not recomputable", reason), in the style of statcheck.

    "yes" needs the recomputed value inside the printed value's interval and, when a p is printed,
    the same significance decision at `alpha` (a recomputed p outside the printed p's rounding
    interval is mentioned but does not alone make it "no"). A missing (NaN) recomputed value gives
    "not recomputable". Percent-printed values are compared as fractions.
    """
    if recomputed is None or not np.isfinite(recomputed):
        return "not recomputable", "no recomputed value"
    interval = rounding_interval(printed, approx_factor)
    value_ok = interval.contains(recomputed)
    reasons = [f"{recomputed:.6g} {'within' if value_ok else 'outside'} {interval} from {printed!r}"]
    decision_ok = True
    if printed_p is not None:
        if recomputed_p is None or not np.isfinite(recomputed_p):
            raise ValueError("a printed p needs a recomputed p")
        p_interval = rounding_interval(printed_p if "p" in printed_p.lower() else f"p = {printed_p}")
        printed_sig = _printed_significance(p_interval, alpha)
        recomputed_sig = recomputed_p < alpha
        if printed_sig is None:
            reasons.append(f"printed {printed_p!r} does not fix a decision at alpha = {alpha}")
        else:
            decision_ok = printed_sig == recomputed_sig
            word = "significant" if recomputed_sig else "not significant"
            agree = "agrees with" if decision_ok else "contradicts"
            reasons.append(f"recomputed p = {recomputed_p:.3g} ({word}) {agree} printed {printed_p!r}")
        if decision_ok and not p_interval.contains(recomputed_p):
            reasons.append(f"p outside {p_interval}, decision unchanged")
    return ("yes" if value_ok and decision_ok else "no"), "; ".join(reasons)


def decide(
    estimate: float,
    ci_low: float,
    ci_high: float,
    p_value: float,
    direction: str = "two-sided",
    claimed: float | None = None,
    null: float = 0.0,
    alpha: float = 0.05,
    n_needed: int | None = None,
) -> tuple[str, str]:
    """("holds" | "fails" | "inconclusive", reason) for a claim about an effect.

    The claim is an effect away from `null` in `direction` ("greater", "less", or "two-sided" for
    any difference); `claimed` is the size the paper states, if any. holds: significant at `alpha`
    in the claimed direction. fails: significant in the opposite direction, or not significant with
    `claimed` outside the CI (the data exclude the stated effect). inconclusive otherwise, with
    `n_needed` (from `n_for_*`) in the reason.
    """
    check_alternative(direction)
    significant = p_value < alpha
    sign_ok = {"greater": estimate > null, "less": estimate < null}.get(direction, estimate != null)
    interval = f"{estimate:.4g} [{ci_low:.4g}, {ci_high:.4g}], p = {p_value:.3g}"
    excluded = claimed is not None and not ci_low <= claimed <= ci_high
    if significant and sign_ok:
        extra = f"; the stated {claimed:.4g} is outside the CI" if excluded else ""
        return "holds", f"significant in the claimed direction: {interval}{extra}"
    if significant:
        return "fails", f"significant in the opposite direction: {interval}"
    if excluded:
        return "fails", f"not significant and the CI excludes the stated {claimed:.4g}: {interval}"
    needed = f"; about n = {n_needed} would be needed for 80% power" if n_needed else ""
    if np.isnan(ci_low) or np.isnan(ci_high):
        return "inconclusive", f"not significant: {interval}{needed}"
    if not ci_low <= null <= ci_high:
        return "inconclusive", (
            f"not significant by the test, although the CI excludes {null:g} (the test and the "
            f"interval rest on different methods): {interval}{needed}"
        )
    return "inconclusive", f"not significant, CI compatible with the claim and with no effect: {interval}{needed}"


def n_for_correlation(r: float, alpha: float = 0.05, power: float = 0.8, alternative: str = "two-sided") -> int:
    """Units needed to detect a correlation r (Fisher z: n = ((z_alpha + z_power) / atanh|r|)^2 + 3)."""
    check_alternative(alternative)
    z_alpha = scipy.stats.norm.ppf(1 - alpha / 2 if alternative == "two-sided" else 1 - alpha)
    return math.ceil(((z_alpha + scipy.stats.norm.ppf(power)) / np.arctanh(abs(r))) ** 2 + 3)


def n_for_two_proportions(
    p1: float,
    p2: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
) -> int:
    """Units needed in group 1 (group 2: `ratio` times as many) to tell proportions p1 and p2 apart.

    statsmodels `NormalIndPower` on Cohen's h (arcsine-transformed difference); "greater": p1 > p2.
    """
    check_alternative(alternative)
    effect = proportion_effectsize(p1, p2)
    n = NormalIndPower().solve_power(
        effect_size=effect,
        alpha=alpha,
        power=power,
        ratio=ratio,
        alternative=_STATSMODELS_ALTERNATIVE[alternative],
    )
    return math.ceil(n)


def n_for_two_means(
    d: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0, alternative: str = "two-sided"
) -> int:
    """Units needed in group 1 to detect a standardised mean difference d (statsmodels
    `TTestIndPower`, two-sample t-test); "greater": mean 1 > mean 2."""
    check_alternative(alternative)
    n = TTestIndPower().solve_power(
        effect_size=d,
        alpha=alpha,
        power=power,
        ratio=ratio,
        alternative=_STATSMODELS_ALTERNATIVE[alternative],
    )
    return math.ceil(n)
