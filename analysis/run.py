"""Run every registered claim on every source and write data/derived/claims.csv.

One row per (claim, source), in the columns of the contract's ``CLAIMS_TABLE`` (validated before
writing): the recomputed statistic and the ``kind`` of number it is, its CI (``ci_level``), p and
Holm-adjusted p, n and its ``unit``, the test, the stated decision ``rule`` and the verdict
``holds``; the paper's printed value, p and test and the statcheck verdict ``reproduces``; the data
subset, the formula of the fitted model and the function that computed the row.

A claim that raises an unexpected exception on one source gets the verdict ``error`` with the
exception in its note, and the run goes on. Deterministic: fixed seeds, stable order, fixed float
format, so the same inputs give the same file byte for byte.

``run`` writes, beside claims.csv, the tables of the report's figures (``analysis.figures``) and the
claim cards of our pretrained models (``analysis.retest.derived``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from analysis.claims import CLAIMS, InsufficientData, Outcome, Settings, missing
from analysis.sources import Source, load_sources
from analysis.stats import reproduces
from contract.atomic import staged_directory
from contract.folders import write_folder
from contract.hashing import fingerprint
from contract.tables import CLAIMS_TABLE, validate
from contract.vocab import DATA_SOURCES

FLOAT_FORMAT = "%.10g"


def _reproduces(claim, source: str, outcome) -> tuple[str, str]:
    """statcheck-style comparison of the paper's printed value with the recomputed one (published data only)."""
    if source == "published" and outcome.reproduced is not None:
        return outcome.reproduced
    if source != "published" or claim.paper_value is None or not outcome.comparable or math.isnan(outcome.value):
        return "not recomputable", ""
    recomputed_p = None if math.isnan(outcome.p_paper_method) else outcome.p_paper_method
    return reproduces(claim.paper_value, outcome.value, claim.paper_p, recomputed_p)


def holm(p_values: pd.Series) -> pd.Series:
    """Holm-adjusted p-values of the finite entries of ``p_values`` (NaN stays NaN).

    The family is every claim of one source whose row has a p-value, except the claims about other
    claims (laws_validated, whose p is derived from the laws' rows): each row's p is the p of the
    test its verdict rests on, so the adjustment controls the family-wise error rate of "holds"
    across the claims re-tested on that source.
    """
    adjusted = pd.Series(np.nan, index=p_values.index)
    finite = p_values.notna()
    if finite.any():
        adjusted[finite] = multipletests(p_values[finite].to_numpy(float), method="holm")[1]
    return adjusted


def is_meta(claim) -> bool:
    """A claim about the rows of other claims (computed after them, outside the Holm family)."""
    return claim.needs.dataset == "claims"


def compute(claim, src: Source, settings: Settings, claims: pd.DataFrame | None = None) -> Outcome:
    """One claim on one source: its outcome, 'inconclusive' when the source lacks the data, 'error' (with the
    exception in the note) when the computation fails for another reason. ``claims``: the rows computed so
    far on this source, for a claim about other claims."""
    if not src.available:
        return missing(claim.id, f"no {src.name} data")
    try:
        return claim.run(src, settings, claims)
    except InsufficientData as why:
        return missing(claim.id, str(why))
    except Exception as error:  # noqa: BLE001 - one claim's failure is its row's verdict, never the run's end
        return Outcome(
            statistic=claim.id, holds="error", comparable=False, note=f"error: {type(error).__name__}: {error}"
        )


def claim_row(claim, src: Source, outcome: Outcome, settings: Settings) -> dict:
    """The claims.csv row of one claim's outcome on one source."""
    verdict, reason = _reproduces(claim, src.name, outcome)
    has_ci = not (math.isnan(outcome.ci_low) and math.isnan(outcome.ci_high))
    ci_level = (outcome.ci_level or settings.confidence) if has_ci else math.nan
    return {
        "claim_id": claim.id,
        "source": src.name,
        "section": claim.section,
        "claim": claim.statement,
        "statistic": outcome.statistic,
        "kind": claim.kind,
        "value": outcome.value,
        "ci_low": outcome.ci_low,
        "ci_high": outcome.ci_high,
        "ci_level": ci_level,
        "p_value": outcome.p_value,
        "p_holm": math.nan,
        "n": outcome.n,
        "unit": outcome.unit or claim.unit or None,
        "test": outcome.test,
        "rule": claim.rule,
        "paper_value": claim.paper_value,
        "paper_p": claim.paper_p,
        "paper_test": claim.paper_test,
        "p_paper_method": outcome.p_paper_method,
        "reproduces": verdict,
        "reproduces_reason": reason,
        "holds": outcome.holds,
        "note": outcome.note,
        "data": outcome.data,
        "needs": claim.needs.describe(),
        "formula": outcome.formula,
        "function": claim.function,
    }


def _with_holm(frame: pd.DataFrame, meta: set[str]) -> pd.DataFrame:
    """``frame`` with p_holm per source over the rows outside ``meta`` (the meta-claims' p_holm stays NaN)."""
    family = ~frame["claim_id"].isin(meta)
    frame["p_holm"] = np.nan
    frame.loc[family, "p_holm"] = frame[family].groupby("source", group_keys=False)["p_value"].apply(holm)
    return frame


def claim_rows(sources: dict[str, Source], settings: Settings, log=print, claims=None) -> pd.DataFrame:
    """Every claim (default: every registered one) on every source, in registry order; the claims about other
    claims are computed last, from the rows of the others."""
    claims = list(CLAIMS.values()) if claims is None else list(claims)
    meta = {c.id for c in claims if is_meta(c)}
    rows = {}
    done = None
    for claim in [c for c in claims if not is_meta(c)] + [c for c in claims if is_meta(c)]:
        if is_meta(claim) and done is None:
            done = _with_holm(pd.DataFrame(list(rows.values())), meta)
        for name in DATA_SOURCES:
            started = time.perf_counter()
            source_rows = done[done["source"] == name] if done is not None else None
            outcome = compute(claim, sources[name], settings, source_rows)
            rows[(claim.id, name)] = claim_row(claim, sources[name], outcome, settings)
            log(f"{claim.id:<28} {name:<10} {outcome.holds:<13} {time.perf_counter() - started:6.2f} s")
    order = {c.id: i for i, c in enumerate(claims)}
    frame = pd.DataFrame(sorted(rows.values(), key=lambda r: (order[r["claim_id"]], DATA_SOURCES.index(r["source"]))))
    frame["n"] = frame["n"].astype("Int64")
    return _with_holm(frame, meta)


def inputs(measured_dir: Path, published_dir: Path) -> dict[str, Path]:
    """What the derived tables are computed from: a change in any of these makes them stale."""
    code = Path(__file__).resolve().parent.parent
    return {
        "measured": Path(measured_dir),
        "published": Path(published_dir),
        "analysis": code / "analysis",
        "contract": code / "contract",
    }


def run(
    measured_dir: Path,
    published_dir: Path,
    out_dir: Path,
    settings: Settings,
    log=print,
    required: tuple[str, ...] = (),
) -> dict[str, Path]:
    """Compute every claim, the figure tables and the re-test tables of our pretrained models
    (``analysis.retest.derived``); replace ``out_dir`` with them, whole.

    ``out_dir`` is written through a staging folder and swapped in one rename
    (``contract.atomic.staged_directory``): a failure or a kill leaves the previous results. Its
    manifest records the settings, the data folders and the fingerprint of the inputs (``inputs``),
    which the report's pre-render step compares to decide whether to re-run. ``required``: the
    data folders the user named, which must hold data (``load_sources``).
    """
    from analysis.figures import figure_tables
    from analysis.retest.derived import retest_tables

    sources = load_sources(measured_dir, published_dir, required=required)
    claims = validate(claim_rows(sources, settings, log), CLAIMS_TABLE, Path(out_dir) / CLAIMS_TABLE.filename)
    tables = {
        "claims": (claims, CLAIMS_TABLE.float_format),
        **{name: (frame, FLOAT_FORMAT) for name, frame in figure_tables(sources, settings).items()},
        **retest_tables(sources, settings, claims),
    }
    with staged_directory(out_dir) as staging:
        write_folder(
            staging,
            tables,
            inputs_sha256=fingerprint(inputs(measured_dir, published_dir)),
            measured=str(Path(measured_dir).resolve()),
            published=str(Path(published_dir).resolve()),
            n_resamples=settings.n_resamples,
            seed=settings.seed,
        )
    return {name: Path(out_dir) / f"{name}.csv" for name in tables}
