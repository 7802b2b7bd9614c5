"""The claims registry: every claim of the paper, what the paper printed, and how it is re-tested.

A claim is one ``@claim(...)``-decorated function ``f(data, settings) -> Outcome`` in a module of
this package; the decorator records the claim's id, section, the printed value and p-value (as
strings, with the paper's precision), the test the paper names, what kind of number its statistic is
(``kind``, a word of ``contract.vocab.KINDS``: a correlation, a ratio, a p-value ...) and what data it needs
(``analysis.needs.Needs``: a dataset name and structured minima). For each data source
(published, measured, controls), ``Claim.run`` asks the source for that dataset, checks the
minima and calls the function with the ``Dataset``; the function holds only the statistics and
the decision rule and returns an ``Outcome``: the recomputed statistic with its CI and p, the n,
the proper test, and the ``holds`` verdict. ``reproduces`` (statcheck style) is derived by the
runner from the printed and recomputed values of the published source.

Every claim function's docstring states its decision rule in four labelled paragraphs, which the
registry parses (a claim without them cannot be registered)::

    Hypothesis: what the paper asserts, as a testable statement.
    Unit: model (the unit of analysis: what n counts; a word of contract.vocab.UNITS first).
    Test: the proper test whose estimate, CI and p fill the row.
    Rule: holds if ...; fails if ...; inconclusive otherwise.

``Unit`` fills claims.csv's ``unit`` column (an Outcome may name another unit for one source) and
``Rule`` its ``rule`` column; "Unit: none" marks a claim about other claims' results (no unit).

Adding a claim: write one function with the decorator and that docstring in the module of its section.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from analysis.needs import Dataset, InsufficientData, Needs, left_out_note  # noqa: F401 (InsufficientData re-exported)
from contract.vocab import HOLDS, KINDS, UNITS

DECISION_FIELDS = ("Hypothesis", "Unit", "Test", "Rule")
_FIELD = re.compile(rf"^({'|'.join(DECISION_FIELDS)}):\s*", re.MULTILINE)


@dataclass(frozen=True)
class Settings:
    """Analysis-wide settings: resamples for permutations and bootstraps, seed, alpha, CI level."""

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
    computed the way the paper did, compared with the printed p for ``reproduces``. ``unit``
    overrides the claim's unit of analysis on this source; ``ci_level`` the CI's level where it is
    not the analysis-wide one (the runner fills it in when the row has a CI).
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
    unit: str | None = None
    ci_level: float | None = None
    formula: str | None = None  # the formula of the model fitted on this source (statsmodels keeps it)
    summary: str = field(default="", repr=False)  # the fitted model's summary, printed by --claim (not stored)

    def __post_init__(self):
        if self.holds not in HOLDS:
            raise ValueError(f"holds must be one of {HOLDS}, got {self.holds!r}")
        if self.unit is not None and self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {self.unit!r}")


def missing(statistic: str, why: str) -> Outcome:
    """The outcome of a claim whose data are not in this source: inconclusive, saying what is missing."""
    return Outcome(statistic=statistic, holds="inconclusive", note=f"not enough data: {why}", comparable=False)


def decision_rule(function: Callable) -> dict[str, str]:
    """The Hypothesis, Unit, Test and Rule paragraphs of a claim function's docstring.

    Each starts a line with its label and a colon and runs to the next label or a blank line.
    Raises ValueError naming the function and what is missing or wrong.
    """
    doc = inspect.getdoc(function) or ""
    where = f"{function.__module__}.{function.__qualname__}"
    matches = list(_FIELD.finditer(doc))
    fields = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(doc)
        text = doc[match.end() : end].split("\n\n")[0]
        fields[match.group(1)] = " ".join(text.split())
    absent = [name for name in DECISION_FIELDS if not fields.get(name)]
    if absent:
        raise ValueError(
            f"claim {where}: the docstring lacks its decision rule paragraph(s) "
            f"{', '.join(f'{name}:' for name in absent)}"
        )
    unit = fields["Unit"].split()[0].strip(",.;:()")
    if unit not in UNITS + ("none",):
        raise ValueError(f"claim {where}: 'Unit:' must start with one of {', '.join(UNITS)} or none, got {unit!r}")
    return {**fields, "unit": "" if unit == "none" else unit}


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    statement: str
    paper_value: str | None
    paper_p: str | None
    paper_test: str
    needs: Needs
    compute: Callable = field(repr=False)
    kind: str
    about_the_paper: bool = False
    hypothesis: str = ""
    unit: str = ""
    test: str = ""
    rule: str = ""

    @property
    def function(self) -> str:
        return f"{self.compute.__module__}.{self.compute.__qualname__}"

    def data(self, src, claims=None) -> Dataset:
        """This claim's dataset from ``src``, its minima checked (InsufficientData says what is missing).
        A claim about other claims gets ``claims``, the rows computed so far on that source."""
        if self.needs.dataset == "claims":
            if claims is None:
                raise InsufficientData("needs the rows of the other claims on this source")
            data = Dataset(claims, "the rows of the other claims on this source", source=src.name)
        else:
            data = src.dataset(self.needs.dataset)
        self.needs.check(data)
        return data

    def run(self, src, settings, claims=None) -> Outcome:
        """Compute this claim on one source: select and check its data, call the function, and add to the
        note what the source left out (incomplete or non-finite data) and the data column if empty."""
        data = self.data(src, claims)
        outcome = self.compute(data, settings)
        if self.about_the_paper:
            from analysis.claims.common import about_the_paper

            outcome = about_the_paper(outcome, data)
        extra = [f"left out: {left_out_note(data.left_out)}"] if data.left_out else []
        extra += data.notes
        if extra:
            outcome.note = "; ".join(filter(None, [outcome.note, *extra]))
        if not outcome.data:
            outcome.data = data.describe()
        return outcome


CLAIMS: dict[str, Claim] = {}


def claim(
    id: str,
    *,
    section: str,
    statement: str,
    paper_value: str | None,
    paper_p: str | None = None,
    paper_test: str,
    kind: str,
    needs: Needs,
    about_the_paper: bool = False,
):
    """Register the decorated function as the computation of claim ``id`` (its docstring: see the module);
    ``kind``: what kind of number the statistic it returns is (a word of ``contract.vocab.KINDS``);
    ``about_the_paper``: a statement about the paper's own panel or printed numbers, decided on the authors'
    data only (``analysis.claims.common.about_the_paper``)."""
    from analysis.sources import DATASETS

    def register(compute: Callable) -> Callable:
        if id in CLAIMS:
            raise ValueError(f"claim {id!r} registered twice")
        if kind not in KINDS:
            raise ValueError(f"claim {id!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if needs.dataset not in DATASETS:
            raise ValueError(f"claim {id!r} needs the unknown dataset {needs.dataset!r}; known: {', '.join(DATASETS)}")
        rule = decision_rule(compute)
        CLAIMS[id] = Claim(
            id,
            section,
            statement,
            paper_value,
            paper_p,
            paper_test,
            needs,
            compute,
            kind=kind,
            about_the_paper=about_the_paper,
            hypothesis=rule["Hypothesis"],
            unit=rule["unit"],
            test=rule["Test"],
            rule=rule["Rule"],
        )
        return compute

    return register
