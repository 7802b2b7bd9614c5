"""Benchmark: the whole analysis stage (every claim on every source, the figure tables and the claim cards of
our pretrained models) with 10,000 permutations / bootstrap resamples, on the published data (if imported)
and data/measured.

    python benchmarks/bench_analysis.py [--resamples 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from analysis.claims import Settings
from analysis.run import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    published = Path("data/published")
    print(
        f"published data: {'yes' if (published / 'values.csv').is_file() else 'no'}; cores: {os.cpu_count()}; "
        f"resamples: {args.resamples}"
    )
    with tempfile.TemporaryDirectory() as scratch:  # run() makes its folder a link to a versioned one: write inside
        started = time.perf_counter()
        run(
            Path("data/measured"),
            published,
            Path(scratch) / "derived",
            Settings(n_resamples=args.resamples),
            log=lambda *_: None,
        )
        print(f"analysis: {time.perf_counter() - started:.1f} s (claims, figure and re-test tables, reading included)")


if __name__ == "__main__":
    main()
