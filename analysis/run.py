"""Run every registered claim on every source and write data/derived/claims.csv.

One row per (claim, source) with the columns of DESIGN.md: claim_id, source, statistic, value,
ci_low, ci_high, p_value, n, test, paper_value, reproduces, holds, note, plus the claim's
section, statement, the data subset, the paper's p and test, the p computed the paper's way,
the formula and the function that computed the row. Deterministic: fixed seeds, stable order,
fixed float format, so the same inputs give the same file byte for byte.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd

from analysis.claims import CLAIMS, InsufficientData, Settings, missing
from analysis.sources import Source, load_sources
from analysis.stats import reproduces
from contract.tables import write_atomically
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


def claim_rows(sources: dict[str, Source], settings: Settings, log=print) -> pd.DataFrame:
    rows = []
    for claim in CLAIMS.values():
        for name in DATA_SOURCES:
            src = sources[name]
            started = time.perf_counter()
            if not src.available:
                outcome = missing(claim.id, f"no {name} data")
            else:
                try:
                    outcome = claim.compute(src, settings)
                except InsufficientData as why:
                    outcome = missing(claim.id, str(why))
            verdict, reason = _reproduces(claim, name, outcome)
            rows.append({
                "claim_id": claim.id, "source": name, "section": claim.section, "statistic": outcome.statistic,
                "value": outcome.value, "ci_low": outcome.ci_low, "ci_high": outcome.ci_high,
                "p_value": outcome.p_value, "n": outcome.n, "test": outcome.test,
                "paper_value": claim.paper_value, "paper_p": claim.paper_p, "paper_test": claim.paper_test,
                "p_paper_method": outcome.p_paper_method, "reproduces": verdict, "reproduces_reason": reason,
                "holds": outcome.holds, "note": outcome.note, "data": outcome.data, "claim": claim.statement,
                "needs": claim.needs, "formula": claim.formula, "function": claim.function,
            })
            log(f"{claim.id:<28} {name:<10} {outcome.holds:<13} {time.perf_counter() - started:6.2f} s")
    frame = pd.DataFrame(rows)
    frame["n"] = frame["n"].astype("Int64")
    return frame


def run(measured_dir: Path, published_dir: Path, out_dir: Path, settings: Settings, log=print) -> dict[str, Path]:
    """Compute every claim and the figure tables; write them under ``out_dir``."""
    from analysis.figures import figure_tables

    sources = load_sources(measured_dir, published_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {"claims": claim_rows(sources, settings, log), **figure_tables(sources, settings)}
    written = {}
    for name, frame in tables.items():
        path = out_dir / f"{name}.csv"
        write_atomically(frame, path, FLOAT_FORMAT)
        written[name] = path
    return written
