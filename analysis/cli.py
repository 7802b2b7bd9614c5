"""``python -m analysis``: re-test every claim of the paper and write data/derived/*.csv."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from analysis.claims import Settings
from analysis.run import run
from contract.errors import ThermoAuditError


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Re-test every claim of D'Elia (2026) on the published data (data/published, if imported) "
                    "and on our measurements (data/measured); write data/derived/claims.csv and the tables "
                    "the report's figures need. Never loads a model.")
    parser.add_argument("--measured", type=Path, default=Path("data/measured"), help="default: data/measured")
    parser.add_argument("--published", type=Path, default=Path("data/published"), help="default: data/published")
    parser.add_argument("--out", type=Path, default=Path("data/derived"), help="default: data/derived")
    parser.add_argument("--resamples", type=int, default=defaults.n_resamples,
                        help=f"permutations / bootstrap resamples per test (default: {defaults.n_resamples})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"seed of every resampling (default: {defaults.seed})")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-claim log")
    args = parser.parse_args(argv)
    settings = Settings(n_resamples=args.resamples, seed=args.seed)
    started = time.perf_counter()
    try:
        written = run(args.measured, args.published, args.out, settings, log=(lambda *_: None) if args.quiet else print)
    except ThermoAuditError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.published.joinpath("values.csv").is_file():
        print(f"note: no published data in {args.published}; claims use our measurements only "
              "(import them with: python -m measure import-published ../shared/paper3/Results)")
    print(f"wrote {', '.join(str(p) for p in written.values())} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
