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

The minus sign is the typographic one (U+2212).
"""

from __future__ import annotations

import math
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
    if value != 0 and abs(value) >= 10 ** digits:
        return _sign(f"{round(value):,}")
    if value != 0 and abs(value) < P_FLOOR:
        mantissa, exponent = f"{_round_significant(value, digits):.{digits - 1}E}".split("E")
        return _sign(f"{mantissa} × 10{str(int(exponent)).translate(SUPERSCRIPTS)}")
    return _sign(format(_round_significant(value, digits), "f"))


def integer(value) -> str:
    """A count: all digits, thousands separators."""
    return MISSING if is_missing(value) else f"{int(round(float(value))):,}"


def p_value(p, prefix: str = "p") -> str:
    """"p = 0.014", "p = 0.20", "p < 0.001" (two significant digits); "–" when missing."""
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
    if value in (0, 100) or abs(value) >= 10 ** digits:
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
    """"[low, high]" written with ``scale`` (``number`` or ``percent``); "" when either end is missing."""
    if is_missing(low) or is_missing(high):
        return ""
    return f"[{scale(low, digits)}, {scale(high, digits)}]"


def ci_level(level) -> str:
    """A confidence level: 0.95 -> "95%", 0.999 -> "99.9%"."""
    if is_missing(level):
        return MISSING
    value = _round_significant(100 * float(level), 3).normalize()
    return f"{value:f}%"
