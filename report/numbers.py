"""How the report writes numbers: one set of functions for the prose, the tables and the figures.

Rules (stated in the report's methods):

* a statistic is written with ``digits`` significant digits (default 3), rounded half away from
  zero, trailing zeros kept (0.250, 1.40); integers of ``digits`` or more digits are written in
  full with thousands separators (62,696); magnitudes below 0.001 in scientific notation
  (1.79 × 10⁻⁸);
* a p-value has two significant digits, and below 0.001 is written "p < 0.001";
* a share (0..1) is written as a percentage of the share (``percent``), a difference of two shares
  in percentage points (``points``);
* a missing value (None, NaN) is never written as "nan": prose says what is missing, tables
  print an en dash (``MISSING``).

A claim's value is written by its ``kind`` (claims.kind, ``contract.vocab.KINDS``): shares and
accuracies as percentages, differences of shares in percentage points, counts as integers, p-values
by the p rule, everything else as a number (``by_kind``). The analysis' free-text notes are written
by these rules at display time where that is safe (``numbers_in_text``).

The minus sign is the typographic one (U+2212).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

MISSING = "–"
MINUS = "−"
SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
P_FLOOR = 0.001


def is_missing(value) -> bool:
    """True for None, NaN and pandas' NA."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _round_significant(value: float, digits: int) -> Decimal:
    """``value`` rounded half away from zero to ``digits`` significant digits (decimal, exact)."""
    exact = Decimal(repr(float(value)))
    exponent = exact.adjusted() - digits + 1
    rounded = exact.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)
    if rounded.adjusted() > exact.adjusted():  # 9.995 -> 10.0: one digit too many
        rounded = rounded.quantize(Decimal(1).scaleb(exponent + 1), rounding=ROUND_HALF_UP)
    return rounded


def _sign(text: str) -> str:
    return text.replace("-", MINUS)


def number(value, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits (see the module rules); "–" when missing."""
    if is_missing(value):
        return MISSING
    value = float(value)
    if math.isinf(value):
        return _sign("-∞" if value < 0 else "∞")
    if value == 0:
        return "0"
    if value != 0 and abs(value) >= 10**digits:
        return _sign(f"{round(value):,}")
    if value != 0 and abs(value) < P_FLOOR:
        mantissa, exponent = f"{_round_significant(value, digits):.{digits - 1}E}".split("E")
        return _sign(f"{mantissa} × 10{str(int(exponent)).translate(SUPERSCRIPTS)}")
    return _sign(format(_round_significant(value, digits), "f"))


def integer(value) -> str:
    """A count: all digits, thousands separators."""
    return MISSING if is_missing(value) else f"{int(round(float(value))):,}"


def p_value(p, prefix: str = "p") -> str:
    """ "p = 0.014", "p = 0.20", "p < 0.001" (two significant digits); "–" when missing."""
    if is_missing(p):
        return MISSING
    p = float(p)
    if p < P_FLOOR:
        return f"{prefix} < {P_FLOOR}"
    return f"{prefix} = {number(p, 2)}"


def percent(share, digits: int = 3) -> str:
    """A share 0..1 as a percentage: 0.4375 -> "43.8%", 1 -> "100%", 0 -> "0%"."""
    if is_missing(share):
        return MISSING
    value = 100 * float(share)
    if value in (0, 100) or abs(value) >= 10**digits:
        return _sign(f"{round(value):,}%")
    return f"{number(value, digits)}%"


def points(difference, digits: int = 3) -> str:
    """A difference of two shares in percentage points: 0 -> "0 percentage points", 0.1667 -> "+16.7 ..."."""
    if is_missing(difference):
        return MISSING
    value = 100 * float(difference)
    if value == 0:
        return "0 percentage points"
    sign = "+" if value > 0 else ""
    return f"{sign}{number(value, digits)} percentage points"


def interval(low, high, digits: int = 3, scale=number) -> str:
    """ "[low, high]" written with ``scale`` (``number`` or ``percent``); "" when either end is missing."""
    if is_missing(low) or is_missing(high):
        return ""
    return f"[{scale(low, digits)}, {scale(high, digits)}]"


def ci_level(level) -> str:
    """A confidence level: 0.95 -> "95%", 0.999 -> "99.9%"."""
    if is_missing(level):
        return MISSING
    value = _round_significant(100 * float(level), 3).normalize()
    return f"{value:f}%"


def by_kind(value, kind: str) -> str:
    """A claim's value written by its kind (see the module rules); "–" when missing."""
    if is_missing(value):
        return MISSING
    if kind in ("proportion", "accuracy"):
        return percent(value)
    if kind == "proportion_difference":
        return points(value)
    if kind == "count" and float(value).is_integer():
        return integer(value)
    if kind == "p_value":
        return p_value(value)
    return number(value)


# A number standing alone in a sentence: not part of a name (pythia-6.9b, Q4_K_M, v0.1), a version (4.57.1), a
# range (0.15-0.20), an index (x_{L-1}) or a path; an optional leading hyphen-minus is its sign.
_NUMBER = re.compile(
    r"(?<![\w.\-/^])(?P<sign>-)?(?P<digits>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"(?![A-Za-wyz_\d]|x\w|\.\d|-\d)"
)  # "26.5x" is a ratio, "6.9b" a name
_P_EQUALS = re.compile(r"(?:^|[^\w-])p = $")


def _significant_digits(digits: str) -> int:
    mantissa = re.split("[eE]", digits)[0].replace(".", "").lstrip("0")
    return max(len(mantissa), 1)


def _number_in_text(match: re.Match, p_value_follows: bool, rounding: bool) -> str:
    sign, digits = match["sign"] or "", match["digits"]
    value = float(sign + digits)
    if p_value_follows:
        return p_value(value, prefix="p").removeprefix("p ")  # "= 0.036" or "< 0.001"
    if re.search("[eE]", digits):
        return number(value, min(3, _significant_digits(digits)))
    before, after = match.string[max(0, match.start() - 2) : match.start()], match.string[match.end() : match.end() + 1]
    # a threshold (> 1.005), a percentage (the paper's 43.75%) or a short number is written as it stands
    if (
        not rounding
        or "." not in digits
        or _significant_digits(digits) <= 3
        or after == "%"
        or re.search(r"[<>=]\s?$", before)
        and not before.endswith("= ")
    ):
        return _sign(sign) + digits
    rounded = number(value, 3)
    # never round onto a whole number the value is not (a gain of 0.9995 is not 1.00)
    if round(value) != value and round(value) == float(_round_significant(value, 3)):
        return _sign(sign) + digits
    return rounded


def numbers_in_text(text: str, rounding: bool = True) -> str:
    """The numbers of an analysis note written by the report's rules, as far as that is safe without knowing
    what they are: real minus signs; scientific notation as "× 10⁻⁸"; more than three significant digits
    rounded to three (with ``rounding``), unless that would round onto a whole number the value is not; a
    number after "p =" by the p rule ("p < 0.001" for p = 6.7e-06); "+-" as "±". Kept as written: numbers
    inside names, versions, ranges and indices, thresholds (after <, >, <=, >=), percentages (they quote the
    paper) and numbers of three significant digits or fewer (no digits are invented). Without ``rounding``
    (rules, tests, rounding intervals: their digits are the point) only the typography changes."""
    text = str(text).replace(" +- ", " ± ")
    out, end = [], 0
    for match in _NUMBER.finditer(text):
        is_p = bool(_P_EQUALS.search(text[max(0, match.start() - 5) : match.start()]))  # "p < 0.05": a threshold
        start = match.start() - 2 if is_p else match.start()  # the "= " is written with the p-value
        out += [text[end:start], _number_in_text(match, p_value_follows=is_p, rounding=rounding)]
        end = match.end()
    return "".join(out) + text[end:]
