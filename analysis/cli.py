"""``thermo-audit analyse`` (alias ``python -m analysis``): re-test every claim, one claim for a
reviewer, or list the claims.

``list_claims`` is the table ``--list`` prints (and ``thermo-audit ls claims`` shows). Every user
error (an unknown claim, a non-positive number of resamples, a bad option, a named data folder
that holds nothing) is one line on stderr and exit status 2, before any work starts; ``-v`` adds
the traceback. Data folders default to the data folder's measured/, published/ and derived/
(``contract.paths``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import pandas as pd

from analysis.claims import CLAIMS, InsufficientData, Settings
from analysis.run import compute, run
from analysis.sources import load_sources
from contract.errors import UnknownNameError, UsageError
from contract.paths import data_paths, writable_folder
from contract.registry import suggest
from contract.vocab import DATA_SOURCES

# Columns of a claim's data that --claim does not print (model facts repeated on every row).
QUIET_COLUMNS = {
    "registry_model",
    "variant",
    "twin_of",
    "n_kv_heads",
    "d_model",
    "d_head",
    "n_params",
    "parallel_residual",
    "inv_depth",
    "norm_placement",
    "family",
    "lab",
}
MAX_ROWS = 60


def list_claims() -> pd.DataFrame:
    """Every registered claim in paper order: id, section, unit of analysis, dataset and statement."""
    return pd.DataFrame(
        [
            {
                "claim_id": c.id,
                "section": c.section,
                "unit": c.unit or "-",
                "dataset": c.needs.dataset,
                "statement": c.statement,
            }
            for c in CLAIMS.values()
        ]
    )


def format_claims(table: pd.DataFrame | None = None) -> str:
    """The claim list as text, grouped by section."""
    table = list_claims() if table is None else table
    width = table["claim_id"].str.len().max()
    lines = []
    for section, group in table.groupby("section", sort=False):
        lines.append(section)
        lines += [f"  {row.claim_id:<{width}}  {row.statement}" for row in group.itertuples()]
    return "\n".join(lines)


def find_claim(claim_id: str):
    """The registered claim ``claim_id``; UnknownNameError suggesting the closest ids otherwise."""
    if claim_id not in CLAIMS:
        raise UnknownNameError(
            f"Unknown claim '{claim_id}'.{suggest(claim_id, list(CLAIMS))} (thermo-audit ls claims shows them all)"
        )
    return CLAIMS[claim_id]


def _number(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.6g}"


def print_claims() -> int:
    """``thermo-audit ls claims``."""
    print(format_claims())
    return 0


def explain(
    claim_id: str, measured: Path, published: Path, settings: Settings, out=print, required: tuple[str, ...] = ()
) -> None:
    """Run one claim on every source and print, per source, its data, test, fitted model and verdict."""
    claim = find_claim(claim_id)
    out(f"{claim.id} ({claim.section}): {claim.statement}")
    out(
        f"paper: {claim.paper_value or 'no number printed'}"
        + (f", p {claim.paper_p}" if claim.paper_p else "")
        + f"; paper's test: {claim.paper_test}"
    )
    for label, text in (
        ("hypothesis", claim.hypothesis),
        ("unit", claim.unit or "none"),
        ("test", claim.test),
        ("rule", claim.rule),
        ("needs", claim.needs.describe()),
        ("function", claim.function),
    ):
        out(f"{label}: {text}")
    sources = load_sources(measured, published, required=required)
    others = _other_rows(claim, sources, settings)
    for name in DATA_SOURCES:
        src = sources[name]
        out(f"\n=== {claim.id} on the {name} source ===")
        if claim.needs.dataset != "claims" and src.available:
            try:
                data = claim.data(src)
                out(f"data: {data.describe()}")
                shown = data.frame[[c for c in data.frame.columns if c not in QUIET_COLUMNS]]
                with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_colwidth", 60):
                    out(shown.head(MAX_ROWS).to_string(index=False))
                if len(shown) > MAX_ROWS:
                    out(f"... {len(shown) - MAX_ROWS} more rows")
            except InsufficientData as why:
                out(f"data: not enough ({why})")
        outcome = compute(claim, src, settings, None if others is None else others[others["source"] == name])
        out(f"test: {outcome.test or 'none'}")
        if outcome.summary:
            out("model summary:")
            out(outcome.summary)
        ci = f" [{_number(outcome.ci_low)}, {_number(outcome.ci_high)}]" if not math.isnan(outcome.ci_low) else ""
        out(
            f"result: {outcome.statistic} = {_number(outcome.value)}{ci}, p = {_number(outcome.p_value)}, "
            f"n = {outcome.n if outcome.n is not None else 'n/a'} ({outcome.unit or claim.unit or 'no unit'})"
        )
        if outcome.formula:
            out(f"formula: {outcome.formula}")
        if name == "published" and outcome.reproduced:
            out(f"reproduces: {outcome.reproduced[0]} ({outcome.reproduced[1]})")
        out(f"verdict: {outcome.holds}")
        out(f"note: {outcome.note}")


def _other_rows(claim, sources, settings):
    """For a claim about other claims, the rows of every other claim (computed here); else None."""
    if claim.needs.dataset != "claims":
        return None
    from analysis.run import claim_rows

    others = [c for c in CLAIMS.values() if c.needs.dataset != "claims"]
    return claim_rows(sources, settings, log=lambda *_: None, claims=others)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are UsageError (one line, exit 2), not argparse's usage dump."""

    def error(self, message: str):
        raise UsageError(message)


def _parser(defaults: Settings) -> argparse.ArgumentParser:
    from thermo_audit.cli import add_common

    paths = data_paths()
    parser = _Parser(
        prog="thermo-audit analyse",
        description="Re-test every claim of D'Elia (2026) on the published data (if imported) and on our "
        "measurements; write claims.csv and the tables the report's figures need into the derived "
        "folder, replacing it whole. Never loads a model.",
    )
    add_common(parser)
    parser.add_argument(
        "--measured",
        type=Path,
        default=None,
        help=f"measured runs (default: {paths.measured}); a folder named here must hold runs",
    )
    parser.add_argument(
        "--published",
        type=Path,
        default=None,
        help=f"imported published data (default: {paths.published}); a folder named here must hold an import",
    )
    parser.add_argument("--out", type=Path, default=None, help=f"default: {paths.derived}")
    parser.add_argument(
        "--resamples",
        type=int,
        default=defaults.n_resamples,
        help=f"permutations / bootstrap resamples per test, >= 1 (default: {defaults.n_resamples})",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help=f"seed of every resampling, >= 0 (default: {defaults.seed})"
    )
    parser.add_argument(
        "--claim",
        metavar="ID",
        help="run one claim and print its data, test, fitted model and verdict on every source (writes nothing)",
    )
    parser.add_argument("--list", action="store_true", help="list the claims with their sections and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-claim log")
    return parser


def _analyse(args) -> int:
    if args.resamples < 1:
        raise UsageError(f"--resamples must be at least 1, got {args.resamples}")
    if args.seed < 0:
        raise UsageError(f"--seed must be at least 0, got {args.seed}")
    if args.list:
        return print_claims()
    paths = data_paths()
    measured = args.measured if args.measured is not None else paths.measured
    published = args.published if args.published is not None else paths.published
    required = tuple(name for name, given in (("measured", args.measured), ("published", args.published)) if given)
    settings = Settings(n_resamples=args.resamples, seed=args.seed)
    if args.claim is not None:
        find_claim(args.claim)
        explain(args.claim, measured, published, settings, required=required)
        return 0
    out = args.out if args.out is not None else paths.derived
    writable_folder(out.parent, "--out's parent folder")
    started = time.perf_counter()
    written = run(measured, published, out, settings, log=(lambda *_: None) if args.quiet else print, required=required)
    if not published.exists():
        print(
            f"note: no published data in {published}; claims use our measurements only "
            "(import them with: thermo-audit measure import-published FOLDER | download)"
        )
    print(f"wrote {', '.join(str(p) for p in written.values())} in {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the analysis stage under the exit-code policy of ``thermo_audit.cli``."""
    from thermo_audit.cli import common_options, guarded, parse

    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv

    def command() -> int:
        args = parse(_parser(Settings()), argv)
        with common_options(args):
            return _analyse(args)

    return guarded(command, verbose)
