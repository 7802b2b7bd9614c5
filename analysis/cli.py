"""``thermo-audit analyse`` (alias ``python -m analysis``): re-test every claim of the paper and
write <data dir>/derived/. Never loads a model."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from analysis.claims import CLAIMS, Settings
from contract.paths import data_paths, writable_folder


def positive_int(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from thermo_audit.cli import add_common

    defaults, paths = Settings(), data_paths()
    parser = argparse.ArgumentParser(
        prog="thermo-audit analyse",
        description="Re-test every claim of D'Elia (2026) on the published data (if imported) and on our "
                    "measurements; write claims.csv and the tables the report's figures need into the derived "
                    "folder, replacing it whole. Never loads a model.")
    add_common(parser)
    parser.add_argument("--measured", type=Path, default=None, help=f"measured runs (default: {paths.measured}); "
                        "a folder named here must hold runs")
    parser.add_argument("--published", type=Path, default=None, help=f"imported published data (default: "
                        f"{paths.published}); a folder named here must hold an import")
    parser.add_argument("--out", type=Path, default=None, help=f"default: {paths.derived}")
    parser.add_argument("--resamples", type=positive_int, default=defaults.n_resamples,
                        help=f"permutations / bootstrap resamples per test (default: {defaults.n_resamples})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"seed of every resampling (default: {defaults.seed})")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-claim log")
    return parser


def _analyse(args) -> int:
    from analysis.run import run

    paths = data_paths()
    measured = args.measured if args.measured is not None else paths.measured
    published = args.published if args.published is not None else paths.published
    required = tuple(name for name, given in (("measured", args.measured), ("published", args.published)) if given)
    out = args.out if args.out is not None else paths.derived
    writable_folder(out.parent, "--out's parent folder")
    settings = Settings(n_resamples=args.resamples, seed=args.seed)
    started = time.perf_counter()
    written = run(measured, published, out, settings, log=(lambda *_: None) if args.quiet else print,
                  required=required)
    if not published.exists():
        print(f"note: no published data in {published}; claims use our measurements only "
              "(import them with: thermo-audit measure import-published FOLDER | download)")
    print(f"wrote {', '.join(str(p) for p in written.values())} in {time.perf_counter() - started:.1f} s")
    return 0


def list_claims() -> int:
    """Print every claim id with its section."""
    for claim in CLAIMS.values():
        print(f"{claim.id:<28} {claim.section}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from thermo_audit.cli import apply_common, guarded, verbose

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    apply_common(args)
    return guarded(lambda: _analyse(args), verbose(args))
