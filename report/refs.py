"""The report's statements about claims, generated from data/derived/claims.csv.

Nothing here knows today's verdicts: every value, verdict word, count and name is read from the
claims table, so the prose stays true when the analysis changes. A value is written by its ``kind``
(``report.numbers.by_kind``); the analysis' free text (tests, rules, notes) through
``report.numbers.numbers_in_text``. Each helper returns an IPython
``Markdown`` object (inserted as markdown by Quarto and by the fallback renderer). Links point to
the exact row a number came from in the audit appendix: ``#claim-<id>-<source>``; a claim's
appendix entry is ``#claim-<id>``.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from analysis.claims.common import ABOUT_THE_PAPER_NOTE
from contract.tables import CLAIMS_TABLE, read_table
from contract.vocab import DATA_SOURCES
from report.numbers import (
    MISSING,
    by_kind,
    ci_level,
    integer,
    is_missing,
    numbers_in_text,
    p_value,
)

# Relative to the document's directory (report/), where Quarto and the fallback renderer run cells.
DERIVED = Path("..") / "data" / "derived"
SOURCE_NAMES = {
    "published": "the authors' data",
    "measured": "our pretrained models",
    "controls": "the random-init controls",
}
SOURCE_TITLES = {"published": "Authors' data", "measured": "Our pretrained models", "controls": "Random-init controls"}
# Verdict words; on random weights a law about trained models is present or absent before training.
VERDICTS = {
    "holds": "holds",
    "fails": "fails",
    "inconclusive": "is inconclusive",
    "error": "could not be computed (error)",
}
CONTROL_VERDICTS = {
    "holds": "present before training",
    "fails": "absent before training",
    "inconclusive": "undecided before training",
    "error": "could not be computed (error)",
}
# The verdict of a claim about the paper's own panel or printed numbers on our sources.
NOT_APPLICABLE = "not applicable"
REPRODUCES = {"yes": "reproduces", "no": "does not reproduce", "not recomputable": "cannot be recomputed"}
UNIT_PLURALS = {
    "model": "models",
    "family": "families",
    "lab": "labs",
    "prompt": "prompts",
    "layer": "layers",
    "head": "heads",
    "pair": "pairs",
    "file": "files",
}
# Units below the model: the test compares prompts (or layers, heads) of the same few models.
WITHIN_MODEL_UNITS = ("prompt", "layer", "head")


def paper_text(printed) -> str:
    """The paper's printed value as text: real minus signs, en-dash ranges, arrows; "–" when absent."""
    if is_missing(printed):
        return MISSING
    text = str(printed).replace("->", "→").replace(">=", "≥").replace("<=", "≤")
    text = re.sub(r"(?<=\d)-(?=\d)", "–", text)  # 0.15-0.20 is a range
    return re.sub(r"(^|[\s(])-(?=[\d.])", r"\1−", text)  # -0.81 is negative


def paper_number(printed) -> tuple[float, float] | None:
    """The printed value as a (low, high) pair on the scale of ``value`` (a share for "80%"), or None
    when it is not one number or one range ("p < 0.001", "0.80 < 1.11 < ...", "43.75% -> 100%")."""
    if is_missing(printed):
        return None
    match = re.fullmatch(r"~?\s*(-?[\d.]+)\s*(?:-\s*([\d.]+))?\s*(%|x)?", str(printed).strip())
    if not match:
        return None
    scale = 0.01 if match[3] == "%" else 1.0
    low = float(match[1]) * scale
    high = float(match[2]) * scale if match[2] else low
    return low, high


def n_with_unit(row: pd.Series) -> str:
    """ "8 models", "25 prompts"; "–" when n is missing."""
    if is_missing(row["n"]):
        return MISSING
    unit = row["unit"]
    if is_missing(unit):
        return integer(row["n"])
    word = unit if int(row["n"]) == 1 else UNIT_PLURALS.get(unit, unit)
    return f"{integer(row['n'])} {word}"


class Claims:
    """The claims table with the report's sentences about it; ``Claims()`` reads data/derived/claims.csv."""

    def __init__(self, path: Path = DERIVED / "claims.csv"):
        self.path = Path(path)
        self.table = read_table(self.path, CLAIMS_TABLE).set_index(["claim_id", "source"], drop=False)
        self.stated: list[str] = []  # claims whose verdicts the prose has given (see ``remaining``)

    # --- lookup ---------------------------------------------------------------------------------

    @property
    def ids(self) -> list[str]:
        """Claim ids in the registry's order."""
        return list(dict.fromkeys(self.table["claim_id"]))

    def row(self, claim_id: str, source: str = "published") -> pd.Series:
        return self.table.loc[(claim_id, source)]

    def has_value(self, claim_id: str, source: str = "published") -> bool:
        return (claim_id, source) in self.table.index and not is_missing(self.row(claim_id, source)["value"])

    def source_has_data(self, source: str) -> bool:
        return bool(self.table.loc[self.table["source"] == source, "value"].notna().any())

    def with_verdict(self, holds: str, source: str = "published") -> list[str]:
        rows = self.table[(self.table["source"] == source) & (self.table["holds"] == holds)]
        return list(rows["claim_id"])

    def with_reproduction(self, reproduces: str) -> list[str]:
        rows = self.table[(self.table["source"] == "published") & (self.table["reproduces"] == reproduces)]
        return list(rows["claim_id"])

    def count(self, column: str, value: str, source: str = "published") -> int:
        rows = self.table[self.table["source"] == source]
        return int((rows[column] == value).sum())

    # --- links and words ------------------------------------------------------------------------

    @staticmethod
    def anchor(claim_id: str, source: str | None = None) -> str:
        return f"claim-{claim_id}" if source is None else f"claim-{claim_id}-{source}"

    def link(self, claim_id: str, text: str, source: str | None = None) -> Markdown:
        return Markdown(f"[{text}](#{self.anchor(claim_id, source)})")

    def names(self, claim_ids: list[str], source: str | None = None, empty: str = "none") -> Markdown:
        """ "a, b and c", each linked to its appendix entry (or to its row of ``source``)."""
        links = [f"[{claim_id}](#{self.anchor(claim_id, source)})" for claim_id in claim_ids]
        if not links:
            return Markdown(empty)
        return Markdown(links[0] if len(links) == 1 else ", ".join(links[:-1]) + " and " + links[-1])

    def about_the_paper(self, claim_id: str, source: str) -> bool:
        """True for a claim about the paper's own panel or printed numbers on a source other than the authors'
        data, where the analysis leaves it undecided (see analysis.claims.common.about_the_paper)."""
        row = self.row(claim_id, source)
        return (
            source != "published"
            and row["holds"] == "inconclusive"
            and str(row["note"]).startswith(ABOUT_THE_PAPER_NOTE)
        )

    def verdict_word(self, claim_id: str, source: str = "published") -> str:
        if self.about_the_paper(claim_id, source):
            return NOT_APPLICABLE
        words = CONTROL_VERDICTS if source == "controls" else VERDICTS
        return words[self.row(claim_id, source)["holds"]]

    def verdict(self, claim_id: str, source: str = "published") -> Markdown:
        """ "holds" / "fails" / "is inconclusive" (controls: "present/absent before training"), linked."""
        return self.link(claim_id, self.verdict_word(claim_id, source), source)

    def reproduces(self, claim_id: str) -> Markdown:
        return self.link(claim_id, REPRODUCES[self.row(claim_id)["reproduces"]], "published")

    def paper(self, claim_id: str) -> str:
        """The printed value and p, as the paper prints them."""
        row = self.row(claim_id)
        text = paper_text(row["paper_value"])
        if not is_missing(row["paper_p"]) and str(row["paper_p"]) != str(row["paper_value"]):
            text += (
                f" ({paper_text(row['paper_p'])})"
                if str(row["paper_p"]).startswith("p")
                else f" (p = {paper_text(row['paper_p'])})"
            )
        return text

    # --- numbers --------------------------------------------------------------------------------

    def estimate(self, claim_id: str, source: str = "published", ci: bool = True) -> str:
        """ "−0.878 (95% CI −0.978 to −0.456)", written by the row's kind; "–" when not computed."""
        row = self.row(claim_id, source)
        if is_missing(row["value"]):
            return MISSING
        text = by_kind(row["value"], row["kind"])
        if ci and not is_missing(row["ci_low"]) and not is_missing(row["ci_high"]):
            low, high = by_kind(row["ci_low"], row["kind"]), by_kind(row["ci_high"], row["kind"])
            if row["kind"] == "proportion_difference":
                low, high = low.removesuffix(" percentage points"), high.removesuffix(" percentage points")
            text += f" ({ci_level(row['ci_level'])} CI {low} to {high})"
        return text

    def p(self, claim_id: str, source: str = "published") -> str:
        """ "p = 0.0088, Holm-adjusted p = 0.10"; "" when the row has no p. A row whose value is itself the
        p-value (kind p_value) gives only the adjusted p here."""
        row = self.row(claim_id, source)
        if is_missing(row["p_value"]):
            return ""
        is_value = row["kind"] == "p_value" and row["p_value"] == row["value"]
        parts = [] if is_value else [p_value(row["p_value"])]
        if not is_missing(row["p_holm"]) and row["p_holm"] != row["p_value"]:
            parts.append(p_value(row["p_holm"], "Holm-adjusted p"))
        return ", ".join(parts)

    def n(self, claim_id: str, source: str = "published") -> str:
        """ "n = 8 models"; "n = 25 prompts, within the named models" for a within-model comparison; "" without n."""
        row = self.row(claim_id, source)
        if is_missing(row["n"]):
            return ""
        within = ", within the named models" if row["unit"] in WITHIN_MODEL_UNITS else ""
        return f"n = {n_with_unit(row)}{within}"

    def result(self, claim_id: str, source: str = "published", ci: bool = True) -> str:
        """The recomputed value with its CI, p and n: "−0.878 (95% CI ...); p = 0.0088, ...; n = 8 models"."""
        parts = [self.estimate(claim_id, source, ci), self.p(claim_id, source), self.n(claim_id, source)]
        return "; ".join(part for part in parts if part)

    def cite(self, claim_id: str, source: str = "published", ci: bool = True) -> Markdown:
        """The recomputed value with CI, p and n, linked to the row it came from."""
        if not self.has_value(claim_id, source):
            return self.link(claim_id, f"not computable on {SOURCE_NAMES[source]}", source)
        return self.link(claim_id, self.result(claim_id, source, ci), source)

    def value(self, claim_id: str, source: str = "published") -> Markdown:
        """The bare recomputed value, written by its kind, linked."""
        return self.link(claim_id, self.estimate(claim_id, source, ci=False), source)

    # --- per-claim verdicts ---------------------------------------------------------------------

    def _shared(self, claim_id: str, column: str) -> str | None:
        """The ``column`` text of every source where the claim was computed, said once: the text itself where the
        sources share it, or, where they differ in one stretch only ("permutation test (exact)" against
        "(Monte Carlo)"), the shared text with that stretch per source; None where they differ more."""
        rows = self.table.loc[claim_id]
        rows = rows[rows["value"].notna() & (rows["holds"] != "error") & rows[column].notna()]
        texts = {source: " ".join(str(text).split()) for source, text in zip(rows["source"], rows[column])}
        if len(set(texts.values())) <= 1:
            return next(iter(texts.values()), None)
        values = list(texts.values())
        prefix = os.path.commonprefix(values)
        prefix = prefix[: len(prefix) - len(re.search(r"\w*$", prefix)[0])]
        suffix = os.path.commonprefix([value[::-1] for value in values])[::-1]
        suffix = suffix[len(re.match(r"^\w*", suffix)[0]) :]
        middles = {source: text[len(prefix) : len(text) - len(suffix)].strip() for source, text in texts.items()}
        if not all(middles.values()) or len(prefix) + len(suffix) < 0.6 * min(map(len, values)):
            return None
        if all(re.fullmatch(r"[\d.]+", middle) for middle in middles.values()):  # "6 (authors' data) / 4 (...)"
            variants = " / ".join(
                f"{middle} ({SOURCE_NAMES[source].removeprefix('the ')})" for source, middle in middles.items()
            )
        else:
            variants = ", ".join(f"{middle} on {SOURCE_NAMES[source]}" for source, middle in middles.items())
        return f"{prefix}{variants}{suffix}"

    def method(self, claim_id: str) -> str:
        """Once per claim: the statistic and the test (where every source shares them), the unit of analysis
        and the decision rule, as one markdown paragraph."""
        rows = self.table.loc[claim_id]
        parts = []
        statistic, test = self._shared(claim_id, "statistic"), self._shared(claim_id, "test")
        if statistic:
            parts.append(f"*Statistic*: {note_text(statistic, rounding=False)}.")
        if test:
            parts.append(f"*Test*: {note_text(test, rounding=False)}.")
        units = list(dict.fromkeys(rows["unit"].dropna()))
        if units:
            words = " or ".join(f"{unit} (n counts {UNIT_PLURALS.get(unit, unit)})" for unit in units)
            within = [UNIT_PLURALS[unit] for unit in units if unit in WITHIN_MODEL_UNITS]
            if within:
                words += (
                    f": a within-model comparison, the {within[0]} of the named models are the units, so the "
                    "verdict says nothing about other models"
                )
            parts.append(f"*Unit of analysis*: {words}.")
        rule = rows["rule"].dropna()
        if len(rule):
            parts.append(f"*Decision rule*: {note_text(str(rule.iloc[0]).rstrip('. '), rounding=False)}.")
        return " ".join(parts)

    def source_line(self, claim_id: str, source: str) -> str:
        """One source's result on one line: the value with its CI, p, Holm p and n (the statistic and the test
        too where the sources differ in them), whether the printed value reproduces, and the verdict."""
        row = self.row(claim_id, source)
        where, target = f"*{SOURCE_TITLES[source]}*", f"#{self.anchor(claim_id, source)}"
        if row["holds"] == "error":
            return f"{where}: [the computation failed]({target}); the message is in the appendix."
        if is_missing(row["value"]):
            why = "" if is_missing(row["note"]) else str(row["note"]).removeprefix("not enough data: ")
            return f"{where}: [not computable]({target})" + (f" ({note_text(why)})" if why else "") + "."
        text = f"{where}: "
        if not self._shared(claim_id, "statistic"):
            text += f"{note_text(row['statistic'], rounding=False)} = "
        text += f"[{self.result(claim_id, source)}]({target})"
        if not self._shared(claim_id, "test") and not is_missing(row["test"]):
            text += f" (test: {note_text(row['test'], rounding=False)})"
        if source == "published":
            text += f"; the printed value {REPRODUCES[row['reproduces']]}"
        text += f"; verdict: **[{self.verdict_word(claim_id, source).removeprefix('is ')}]({target})**"
        if self.about_the_paper(claim_id, source):
            text += " (a statement about the paper's own panel and printed numbers, decided on the authors' data only)"
        return text + "."

    def statements(self, claim_id: str, sources=DATA_SOURCES) -> Markdown:
        """The claim as the paper states it, its method once, then one line per data source."""
        self.stated.append(claim_id)
        first = self.row(claim_id, self.table.loc[claim_id, "source"].iloc[0])
        printed = self.paper(claim_id)
        head = f"**[{claim_id}](#{self.anchor(claim_id)})**. {note_text(first['claim'], rounding=False)}"
        if printed != MISSING:
            head += f" The paper prints {_escape(printed)}."
        lines = [
            f"- {self.source_line(claim_id, source)}" for source in sources if (claim_id, source) in self.table.index
        ]
        # the method in a smaller grey type: report.css in HTML, a set rule inside the div's block in Typst
        smaller = "`#set text(size: 0.9em, fill: luma(70));`{=typst}"
        method = f"::: {{.claim-method}}\n{smaller}{self.method(claim_id)}\n:::"
        return Markdown(f"{head}\n\n{method}\n\n" + "\n".join(lines) + "\n")

    def select(self, prefixes: tuple[str, ...] = (), paper_sections: tuple[str, ...] = ()) -> list[str]:
        """Claims not stated yet whose id starts with one of ``prefixes`` or whose paper section is one of
        ``paper_sections``, in the registry's order (so claims added later land in their section)."""
        sections = dict(zip(self.table["claim_id"], self.table["section"]))
        return [
            claim_id
            for claim_id in self.remaining()
            if claim_id.startswith(prefixes) or sections[claim_id] in paper_sections
        ]

    def remaining(self) -> list[str]:
        """Claims whose verdicts the prose has not given yet (claims added to the registry later)."""
        return [claim_id for claim_id in self.ids if claim_id not in self.stated]


def note_text(text, rounding: bool = True) -> str:
    """Free text of the analysis (a note, a test, a rule) as report markdown: its numbers written by the
    report's rules (``report.numbers.numbers_in_text``), markup escaped, no "nan"."""
    return _escape(numbers_in_text(text, rounding=rounding))


def _escape(text) -> str:
    """Text from the table, safe inside markdown: characters pandoc would read as markup are escaped;
    an undefined number in a note ("nan", "inf") reads "undefined" and "∞"."""
    text = re.sub(r"\bnan\b", "undefined", " ".join(str(text).split()))
    text = re.sub(r"(?<![\w.])inf\b", "∞", text)
    return re.sub(r"([\\`*_{}\[\]<>#|~^$@])", r"\\\1", text)


def html_text(text) -> str:
    return html.escape(" ".join(str(text).split()))
