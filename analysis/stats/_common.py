"""Shared helpers of `analysis.stats`: the result-frame layout, unit aggregation, resampling p-values.

Private module: the public functions live in the family modules.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pingouin

ALTERNATIVES = ("two-sided", "greater", "less")

#: columns every result frame starts with, and the two it ends with
HEAD_COLUMNS = ("test", "statistic", "p_value", "ci_low", "ci_high", "n")
TAIL_COLUMNS = ("alternative", "note")


def result_frame(rows: dict | Sequence[dict]) -> pd.DataFrame:
    """One- or few-row result DataFrame with the standard column order.

    `test, statistic, p_value, ci_low, ci_high, n` first, the function's own columns next (in the
    order given), `alternative, note` last. A head column a function does not fill is NaN (e.g.
    `p_value` of a pure confidence interval); a missing note is "".
    """
    rows = [rows] if isinstance(rows, dict) else list(rows)
    frame = pd.DataFrame(rows)
    for column in HEAD_COLUMNS + TAIL_COLUMNS:
        if column not in frame:
            frame[column] = "" if column == "note" else np.nan
    middle = [c for c in frame.columns if c not in HEAD_COLUMNS + TAIL_COLUMNS]
    return frame[list(HEAD_COLUMNS) + middle + list(TAIL_COLUMNS)]


def join_notes(notes: Iterable[str | None]) -> str:
    """Join non-empty notes with "; ", dropping duplicates but keeping their order."""
    return "; ".join(dict.fromkeys(n for n in notes if n))


def check_alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def check_columns(data: pd.DataFrame, columns: Iterable[str | None]) -> None:
    missing = [c for c in columns if c is not None and c not in data.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}; available: {list(data.columns)}")


def complete_cases(data: pd.DataFrame, columns: Sequence[str | None]) -> tuple[pd.DataFrame, str]:
    """Rows of `data` with no missing value in `columns`, and a note saying how many were dropped."""
    columns = [c for c in dict.fromkeys(columns) if c is not None]
    check_columns(data, columns)
    kept = data.dropna(subset=columns)
    dropped = len(data) - len(kept)
    return kept, (f"{dropped} row(s) with missing values dropped" if dropped else "")


def unit_level(data: pd.DataFrame, unit: str, values: Sequence[str], constant: Sequence[str] = ()) -> pd.DataFrame:
    """Aggregate `data` to one row per `unit`: mean of each `values` column.

    `constant` columns (labels such as the lab of a model) must take a single value within each
    unit; they are carried over. The result is sorted by unit and has an `n_obs` column (rows per
    unit).
    """
    check_columns(data, [unit, *values, *constant])
    grouped = data.groupby(unit, sort=True, observed=True)
    for column in constant:
        varying = grouped[column].nunique(dropna=False)
        if (varying > 1).any():
            bad = list(varying.index[varying > 1][:5])
            raise ValueError(f"{column!r} is not constant within {unit!r} (e.g. units {bad})")
    out = grouped[list(values)].mean()
    for column in constant:
        out[column] = grouped[column].first()
    out["n_obs"] = grouped.size()
    return out


def complete_blocks(data: pd.DataFrame, blocks: str, conditions: str, values: str) -> tuple[pd.DataFrame, str]:
    """Wide table blocks x conditions (e.g. prompts x models) of `values`, complete blocks only.

    Blocks not measured under every condition are dropped and repeated cells averaged, both noted.
    """
    data, missing_note = complete_cases(data, [blocks, conditions, values])
    wide = data.pivot_table(index=blocks, columns=conditions, values=values, aggfunc="mean", observed=True)
    complete = wide.dropna()
    notes = [missing_note]
    if len(complete) < len(wide):
        notes.append(f"{len(wide) - len(complete)} {blocks} level(s) not measured on every {conditions} dropped")
    if (data.groupby([blocks, conditions], observed=True).size() > 1).any():
        notes.append(f"repeated ({blocks}, {conditions}) cells averaged")
    return complete, join_notes(notes)


def resampling_p(null: np.ndarray, observed: float, alternative: str, exact: bool) -> float:
    """p-value of `observed` against a permutation/randomisation null distribution.

    greater: P(T >= t), less: P(T <= t), two-sided: P(|T| >= |t|) (the nulls used here are centred
    at 0). Ties are counted with a relative tolerance of 1e-9 so that exact enumeration is not
    broken by floating-point noise. An exact enumeration contains the observed labelling, so
    p = count / N; a Monte Carlo sample gets the +1 correction, p = (count + 1) / (N + 1)
    (Phipson & Smyth 2010), so p is never 0.
    """
    # an infinite statistic (Welch's t of groups without variance) ties only with itself
    tolerance = 1e-9 * max(1.0, abs(observed)) if np.isfinite(observed) else 0.0
    if alternative == "greater":
        hits = null >= observed - tolerance
    elif alternative == "less":
        hits = null <= observed + tolerance
    else:
        hits = np.abs(null) >= abs(observed) - tolerance
    count = int(np.count_nonzero(hits))
    return count / null.size if exact else (count + 1) / (null.size + 1)


def bootstrap_counts(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    """How often each of `n` units is drawn in each bootstrap resample: (n_resamples, n) floats.

    Equivalent to drawing n indices with replacement per resample; a statistic that is a weighted
    sum over units then costs one matrix product.
    """
    dtype = np.int32 if n * n_resamples < 2**31 else np.int64
    draws = rng.integers(0, n, size=(n_resamples, n), dtype=dtype)
    draws += (np.arange(n_resamples, dtype=dtype) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=n * n_resamples).reshape(n_resamples, n).astype(float)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float, str]:
    """Two-sided percentile interval of bootstrap `samples` (NaNs ignored, and counted in a note)."""
    finite = samples[np.isfinite(samples)]
    n_bad = samples.size - finite.size
    note = f"{n_bad} of {samples.size} resamples gave no finite value" if n_bad else ""
    if finite.size == 0:
        return np.nan, np.nan, note
    low, high = np.quantile(finite, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high), note


@contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """Record every warning raised inside the block as "Category: message" (deduplicated).

    The list is filled when the block exits.
    """
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    messages.extend(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))


@contextmanager
def pingouin_full_precision() -> Iterator[None]:
    """Turn off pingouin's display rounding (it rounds CI95 to 2 decimals by default)."""
    saved = dict(pingouin.options)
    for key in [k for k in pingouin.options if k.startswith("round.")]:
        del pingouin.options[key]
    pingouin.options["round"] = None
    try:
        yield
    finally:
        pingouin.options.clear()
        pingouin.options.update(saved)


def small_n_note(n: int, minimum: int, what: str = "units") -> str:
    """Warning for the note when n is below the size where a method is trustworthy ("" otherwise)."""
    if n >= minimum:
        return ""
    return f"small n ({n} {what} < {minimum}): low power, asymptotic approximations unreliable"


def coefficient_table(result, confidence: float) -> pd.DataFrame:
    """Per-term table of a fitted statsmodels regression (fixed effects only for MixedLM):
    statistic (t or z), p_value, Wald CI at `confidence`, n, term, estimate, se, n_obs."""
    terms = list(result.model.exog_names)
    ci = result.conf_int(alpha=1 - confidence).loc[terms]
    return pd.DataFrame(
        {
            "statistic": result.tvalues[terms].to_numpy(),
            "p_value": result.pvalues[terms].to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy(),
            "ci_high": ci.iloc[:, 1].to_numpy(),
            "n": int(result.nobs),
            "term": terms,
            "estimate": result.params[terms].to_numpy(),
            "se": result.bse[terms].to_numpy(),
            "n_obs": int(result.nobs),
        }
    )
