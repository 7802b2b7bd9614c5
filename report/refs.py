"""The report's statements about claims, generated from data/derived/claims.csv.

Nothing here knows today's verdicts: every value, verdict word, count and name is read from the
claims table, so the prose stays true when the analysis changes. Each helper returns an IPython
``Markdown`` object (inserted as markdown by Quarto and by the fallback renderer). Links point to
the exact row a number came from in the audit appendix: ``#claim-<id>-<source>``; a claim's
appendix entry is ``#claim-<id>``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from contract.tables import CLAIMS_TABLE, read_table
from contract.vocab import DATA_SOURCES
from report.numbers import MISSING, ci_level, integer, interval, is_missing, number, p_value, percent, points

# Relative to the document's directory (report/), where Quarto and the fallback renderer run cells.
DERIVED = Path("..") / "data" / "derived"
SOURCE_NAMES = {"published": "the authors' data", "measured": "our pretrained models",
                "controls": "the random-init controls"}
SOURCE_TITLES = {"published": "Authors' data", "measured": "Our pretrained models",
                 "controls": "Random-init controls"}
# Verdict words; on random weights a law about trained models is present or absent before training.
VERDICTS = {"holds": "holds", "fails": "fails", "inconclusive": "is inconclusive",
            "error": "could not be computed (error)"}
CONTROL_VERDICTS = {"holds": "present before training", "fails": "absent before training",
                    "inconclusive": "undecided before training", "error": "could not be computed (error)"}
REPRODUCES = {"yes": "reproduces", "no": "does not reproduce", "not recomputable": "cannot be recomputed"}
UNIT_PLURALS = {"model": "models", "family": "families", "lab": "labs", "prompt": "prompts", "layer": "layers",
                "head": "heads", "pair": "pairs", "file": "files"}
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


def value_scale(row: pd.Series) -> str:
    """How a row's value is written: "percent" (a share), "points" (a difference of shares), "count" (a
    whole number of things) or "number"."""
    statistic = str(row["statistic"]).lower()
    printed = "" if is_missing(row["paper_value"]) else str(row["paper_value"])
    if " minus " in statistic and ("accuracy" in statistic or "share" in statistic):
        return "points"
    if statistic.startswith(("share", "accuracy")) or re.fullmatch(r"~?[\d.]+%", printed.strip()):
        return "percent"
    if re.search(r"\b(number|count)\b", statistic) and float(row["value"]).is_integer():
        return "count"
    return "number"


def written(value, scale: str) -> str:
    return {"percent": percent, "points": points, "count": integer, "number": number}[scale](value)


def n_with_unit(row: pd.Series) -> str:
    """"8 models", "25 prompts"; "–" when n is missing."""
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
        """"a, b and c", each linked to its appendix entry (or to its row of ``source``)."""
        links = [f"[{claim_id}](#{self.anchor(claim_id, source)})" for claim_id in claim_ids]
        if not links:
            return Markdown(empty)
        return Markdown(links[0] if len(links) == 1 else ", ".join(links[:-1]) + " and " + links[-1])

    def verdict_word(self, claim_id: str, source: str = "published") -> str:
        words = CONTROL_VERDICTS if source == "controls" else VERDICTS
        return words[self.row(claim_id, source)["holds"]]

    def verdict(self, claim_id: str, source: str = "published") -> Markdown:
        """"holds" / "fails" / "is inconclusive" (controls: "present/absent before training"), linked."""
        return self.link(claim_id, self.verdict_word(claim_id, source), source)

    def reproduces(self, claim_id: str) -> Markdown:
        return self.link(claim_id, REPRODUCES[self.row(claim_id)["reproduces"]], "published")

    def paper(self, claim_id: str) -> str:
        """The printed value and p, as the paper prints them."""
        row = self.row(claim_id)
        text = paper_text(row["paper_value"])
        if not is_missing(row["paper_p"]) and str(row["paper_p"]) != str(row["paper_value"]):
            text += f" ({paper_text(row['paper_p'])})" if str(row["paper_p"]).startswith("p") \
                else f" (p = {paper_text(row['paper_p'])})"
        return text

    # --- numbers --------------------------------------------------------------------------------

    def estimate(self, claim_id: str, source: str = "published", ci: bool = True) -> str:
        """"−0.878 (95% CI −0.978 to −0.456)", on the row's scale; "–" when not computed."""
        row = self.row(claim_id, source)
        if is_missing(row["value"]):
            return MISSING
        scale = value_scale(row)
        text = written(row["value"], scale)
        if ci and not is_missing(row["ci_low"]) and not is_missing(row["ci_high"]):
            low, high = written(row["ci_low"], scale), written(row["ci_high"], scale)
            if scale == "points":
                low, high = low.removesuffix(" percentage points"), high.removesuffix(" percentage points")
            text += f" ({ci_level(row['ci_level'])} CI {low} to {high})"
        return text

    def p(self, claim_id: str, source: str = "published") -> str:
        """"p = 0.0088, Holm-adjusted p = 0.10"; "" when the row has no p."""
        row = self.row(claim_id, source)
        if is_missing(row["p_value"]):
            return ""
        text = p_value(row["p_value"])
        if not is_missing(row["p_holm"]) and row["p_holm"] != row["p_value"]:
            text += f", {p_value(row['p_holm'], 'Holm-adjusted p')}"
        return text

    def cite(self, claim_id: str, source: str = "published", ci: bool = True, p: bool = True,
             n: bool = True) -> Markdown:
        """The recomputed value with CI, p and n, linked to the row it came from."""
        if not self.has_value(claim_id, source):
            return self.link(claim_id, f"not computable on {SOURCE_NAMES[source]}", source)
        row = self.row(claim_id, source)
        parts = [self.estimate(claim_id, source, ci)]
        if p and self.p(claim_id, source):
            parts.append(self.p(claim_id, source))
        if n and not is_missing(row["n"]):
            parts.append(f"n = {n_with_unit(row)}")
        return self.link(claim_id, "; ".join(parts), source)

    def value(self, claim_id: str, source: str = "published") -> Markdown:
        """The bare recomputed value on its scale, linked."""
        return self.link(claim_id, self.estimate(claim_id, source, ci=False), source)

    # --- per-claim verdicts ---------------------------------------------------------------------

    def source_statement(self, claim_id: str, source: str) -> str:
        """One source's result as a markdown sentence group: statistic, n, test, unit, p, verdict, rule."""
        row = self.row(claim_id, source)
        where = SOURCE_TITLES[source]
        target = f"#{self.anchor(claim_id, source)}"
        if row["holds"] == "error":
            return f"*{where}*: [the computation failed]({target}); the message is in the appendix."
        if is_missing(row["value"]):
            reason = "" if is_missing(row["note"]) else f" ({_escape(_sentence_case(row['note']))})"
            return f"*{where}*: [not computable]({target}){reason}."
        text = f"*{where}*: {_escape(row['statistic'])} = [{self.estimate(claim_id, source)}]({target})"
        facts = []
        if not is_missing(row["n"]):
            facts.append(f"n = {n_with_unit(row)}")
        if self.p(claim_id, source):
            facts.append(self.p(claim_id, source))
        if facts:
            text += f" ({'; '.join(facts)})"
        text += "."
        if not is_missing(row["test"]):
            text += f" Test: {_escape(row['test'])}."
        if row["unit"] in WITHIN_MODEL_UNITS:
            text += (f" This is a within-model comparison: the {UNIT_PLURALS[row['unit']]} of the same models are "
                     "the units, so it says nothing about other models.")
        if source == "published":
            text += f" The printed value {REPRODUCES[row['reproduces']]}."
        text += f" Verdict: **[{self.verdict_word(claim_id, source).removeprefix('is ')}]({target})**"
        if not is_missing(row["rule"]):
            text += f" ({_escape(str(row['rule']).rstrip('. '))})"
        return text + "."

    def statements(self, claim_id: str, sources=DATA_SOURCES) -> Markdown:
        """The claim as the paper states it, then every source's result, one paragraph each."""
        self.stated.append(claim_id)
        first = self.row(claim_id, self.table.loc[claim_id, "source"].iloc[0])
        printed = self.paper(claim_id)
        head = f"**[{claim_id}](#{self.anchor(claim_id)})**: {_escape(first['claim'])}"
        if printed != MISSING:
            head += f" The paper prints {_escape(printed)}."
        lines = [head]
        lines += [self.source_statement(claim_id, source) for source in sources
                  if (claim_id, source) in self.table.index]
        return Markdown("\n\n".join(lines) + "\n")


    def select(self, prefixes: tuple[str, ...] = (), paper_sections: tuple[str, ...] = ()) -> list[str]:
        """Claims not stated yet whose id starts with one of ``prefixes`` or whose paper section is one of
        ``paper_sections``, in the registry's order (so claims added later land in their section)."""
        sections = dict(zip(self.table["claim_id"], self.table["section"]))
        return [claim_id for claim_id in self.remaining()
                if claim_id.startswith(prefixes) or sections[claim_id] in paper_sections]

    def remaining(self) -> list[str]:
        """Claims whose verdicts the prose has not given yet (claims added to the registry later)."""
        return [claim_id for claim_id in self.ids if claim_id not in self.stated]

    # --- summaries ------------------------------------------------------------------------------

    def findings(self, source: str = "published") -> Markdown:
        """Which claims hold, fail, are inconclusive on ``source``, named and counted."""
        rows = self.table[self.table["source"] == source]
        total = len(rows)

        def group(holds: str, label: str) -> str | None:
            ids = list(rows.loc[rows["holds"] == holds, "claim_id"])
            if not ids:
                return None
            return f"{label} ({len(ids)} of {total}): {self.names(ids, source).data}"

        computed = rows[rows["value"].notna()]
        not_computed = rows[rows["value"].isna() & (rows["holds"] == "inconclusive")]
        if source == "controls":
            parts = [group("holds", "the patterns present before training"),
                     group("fails", "those absent before training")]
        else:
            parts = [group("holds", "the claims that hold"), group("fails", "those that fail")]
        inconclusive = computed[computed["holds"] == "inconclusive"]
        if len(inconclusive):
            parts.append(f"{len(inconclusive)} {'is' if len(inconclusive) == 1 else 'are'} "
                         f"{'inconclusive' if source != 'controls' else 'undecided'}")
        if len(not_computed):
            parts.append(f"{len(not_computed)} cannot be computed on these data")
        errors = rows[rows["holds"] == "error"]
        if len(errors):
            parts.append(f"the computation failed for {self.names(list(errors['claim_id']), source).data}")
        parts = [part for part in parts if part]
        if not parts:
            return Markdown(f"{SOURCE_NAMES[source].capitalize()} decide no claim.")
        listed = parts[0] if len(parts) == 1 else "; ".join(parts[:-1]) + "; and " + parts[-1]
        return Markdown(f"On {SOURCE_NAMES[source]}, {listed}.")

    def reproduction(self) -> Markdown:
        """How many printed values the authors' data reproduce, named."""
        yes, no = self.with_reproduction("yes"), self.with_reproduction("no")
        checked = len(yes) + len(no)
        if not checked:
            return Markdown("No printed value could be recomputed from the authors' data.")
        return Markdown(f"Of the {checked} printed values that the authors' data let us recompute, "
                        f"{len(yes)} reproduce ({self.names(yes, 'published').data}) and {len(no)} do not "
                        f"({self.names(no, 'published').data}).")


def _escape(text) -> str:
    """Text from the table, safe inside markdown: characters pandoc would read as markup are escaped;
    an undefined number in a note ("nan", "inf") reads "undefined" and "∞"."""
    text = re.sub(r"\bnan\b", "undefined", " ".join(str(text).split()))
    text = re.sub(r"(?<![\w.])inf\b", "∞", text)
    return re.sub(r"([\\`*_{}\[\]<>#|~^$@])", r"\\\1", text)


def _sentence_case(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def html_text(text) -> str:
    return html.escape(" ".join(str(text).split()))
