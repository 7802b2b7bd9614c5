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
                "unit": None, "ci_level": settings.confidence, "p_holm": math.nan, "rule": None,
            })
            log(f"{claim.id:<28} {name:<10} {outcome.holds:<13} {time.perf_counter() - started:6.2f} s")
    frame = pd.DataFrame(rows)
    frame["n"] = frame["n"].astype("Int64")
    return frame




def inputs(measured_dir: Path, published_dir: Path) -> dict[str, Path]:
    """What the derived tables are computed from: a change in any of these makes them stale."""
    code = Path(__file__).resolve().parent.parent
    return {"measured": Path(measured_dir), "published": Path(published_dir), "analysis": code / "analysis",
            "contract": code / "contract"}


def run(measured_dir: Path, published_dir: Path, out_dir: Path, settings: Settings, log=print,
        required: tuple[str, ...] = ()) -> dict[str, Path]:
    """Compute every claim and the figure tables; replace ``out_dir`` with them, whole.

    ``out_dir`` is written through a staging folder and swapped in one rename
    (``contract.atomic.staged_directory``): a failure or a kill leaves the previous results. Its
    manifest records the settings, the data folders and the fingerprint of the inputs (``inputs``),
    which the report's pre-render step compares to decide whether to re-run.
    """
    from analysis.figures import figure_tables

    sources = load_sources(measured_dir, published_dir, required=required)
    claims = validate(claim_rows(sources, settings, log), CLAIMS_TABLE, f"{out_dir}/claims.csv")
    tables = {"claims": (claims, CLAIMS_TABLE.float_format),
              **{name: (frame, FLOAT_FORMAT) for name, frame in figure_tables(sources, settings).items()}}
    with staged_directory(out_dir) as staging:
        write_folder(staging, tables, inputs_sha256=fingerprint(inputs(measured_dir, published_dir)),
                     measured=str(Path(measured_dir).resolve()), published=str(Path(published_dir).resolve()),
                     n_resamples=settings.n_resamples, seed=settings.seed)
    return {name: Path(out_dir) / f"{name}.csv" for name in tables}
