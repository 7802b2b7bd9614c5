"""The claims registry: every claim of the paper, what the paper printed, and how it is re-tested.

A claim is one ``@claim(...)``-decorated function ``f(source, settings) -> Outcome`` in a module of
this package; the decorator records the claim's id, section, the printed value and p-value (as
strings, with the paper's precision), the test the paper names, the data it needs and, where a
model is fitted, its formula. The function is called once per data source (published,
measured, controls) and returns an ``Outcome``: the recomputed statistic with its CI and p,
the n, the proper test, and the ``holds`` verdict. ``reproduces`` (statcheck style) is derived
by the runner from the printed and recomputed values of the published source.

Adding a claim: write one function with the decorator in the module of its section.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from contract.vocab import HOLDS



@dataclass(frozen=True)
class Settings:
    """Analysis-wide settings: resamples for permutations and bootstraps, seed, alpha."""

    n_resamples: int = 10_000
    seed: int = 20260106
    alpha: float = 0.05
    confidence: float = 0.95


@dataclass
class Outcome:
    """One claim re-tested on one source.

    ``value`` is the recomputed statistic in the paper's own definition (so ``reproduces`` can
    compare it with the printed value); ``ci_low``/``ci_high``/``p_value``/``test`` come from the
    proper analysis (model as the unit, resampling, ...). ``p_paper_method`` is the p-value
    computed the way the paper did, compared with the printed p for ``reproduces``.
    """

    statistic: str
    value: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p_value: float = math.nan
    n: int | None = None
    test: str = ""
    holds: str = "inconclusive"
    note: str = ""
    data: str = ""
    p_paper_method: float = math.nan
    comparable: bool = True  # False: value is not the statistic the paper printed (no statcheck)
    reproduced: tuple[str, str] | None = None  # a claim printing several numbers checks them itself

    def __post_init__(self):
        if self.holds not in HOLDS:
            raise ValueError(f"holds must be one of {HOLDS}, got {self.holds!r}")


class InsufficientData(Exception):
    """Raised by a claim computation when its source lacks the data it needs (message: what is missing)."""


def missing(statistic: str, why: str) -> Outcome:
    """The outcome of a claim whose data are not in this source: inconclusive, saying what is missing."""
    return Outcome(statistic=statistic, holds="inconclusive", note=f"not enough data: {why}", comparable=False)


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    statement: str
    paper_value: str | None
    paper_p: str | None
    paper_test: str
    needs: str
    compute: Callable = field(repr=False)
    formula: str | None = None

    @property
    def function(self) -> str:
        return f"{self.compute.__module__}.{self.compute.__qualname__}"


CLAIMS: dict[str, Claim] = {}


def claim(id: str, *, section: str, statement: str, paper_value: str | None, paper_p: str | None = None,
          paper_test: str, needs: str, formula: str | None = None):
    """Register the decorated function as the computation of claim ``id``."""

    def register(compute: Callable) -> Callable:
        if id in CLAIMS:
            raise ValueError(f"claim {id!r} registered twice")
        CLAIMS[id] = Claim(id, section, statement, paper_value, paper_p, paper_test, needs, compute, formula)
        return compute

    return register
