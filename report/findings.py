"""The report's findings in words: the claims that decide the paper's story, one sentence each, and
the counts of verdicts; every value, verdict and count read from the claims table.

A sentence says what the paper printed, what the authors' own data give (the value with its
confidence interval, p and n, linked to the row it came from), whether the printed value
reproduces and the verdict. Its wording is chosen from the verdict and the values, never written
for today's results, so it stays true when the analysis changes.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from contract.vocab import DATA_SOURCES
from report.numbers import MISSING, integer, is_missing
from report.refs import CONTROL_VERDICTS, SOURCE_NAMES, VERDICTS, Claims, _escape

# The claims that decide the paper's story, each with what it says in words (no numbers: those come from
# the claims table), in the order the paper tells them.
STORY = {
    "kleiber_depth_r": "Law one, gain falls with depth (the correlation of depth and gain over the Pythia models)",
    "kleiber_rho_r": "The same correlation with the head density in place of depth (the computation the "
    "printed value came from)",
    "heritage_fisher": "Law two, the lab decides the sign (Fisher's exact test of EleutherAI against the other "
    "labs, dampening against expanding)",
    "spectral_wv_lab_ratio": "Law three, a spectral signature of the lab (EleutherAI's mean spectral norm of "
    "the value weights over Meta's)",
    "spectral_ratio_predicts_sign": "The signature as a predictor of the sign (the AUC of the ratio of the "
    "value and output weights' spectral norms for dampening)",
    "sheaf_trace_gpt2_opt": "The sheaf trace as a discriminator of behaviour (GPT-2's trace over OPT-125m's)",
    "hierarchy": "The hierarchy of four named models, Pythia below Mistral below LLaMA below Gemma (the share of "
    "prompt resamples that keep the order)",
    "twin_gemma": "Gemma's gain after instruction tuning (the instruct model's mean gain, one base and instruct pair)",
    "twin_sign": "Fine-tuning changes the gain's size but never its sign (the largest relative change over the "
    "base and instruct pairs)",
}
# What a verdict says of a claim, in a sentence about the authors' data.
CLAIM_VERDICTS = {
    "holds": "the claim holds",
    "fails": "the claim fails",
    "inconclusive": "the claim is inconclusive",
    "error": "the computation failed",
}
REPRODUCTION = {
    "yes": "which reproduces the printed value",
    "no": "which does not reproduce the printed value",
    "not recomputable": "not the printed statistic, so the printed value cannot be checked",
}


def finding(C: Claims, claim_id: str, subject: str) -> str:
    """One sentence (markdown) on one claim of the authors' data: printed, recomputed, reproduced, verdict."""
    row = C.row(claim_id, "published")
    target = f"#{C.anchor(claim_id, 'published')}"
    printed = C.paper(claim_id)
    text = f"{_escape(subject)}: " + (
        f"the paper prints {_escape(printed)}; " if printed != MISSING else "the paper prints no number; "
    )
    if row["holds"] == "error":
        return text + f"[the computation failed]({target}) on the authors' data."
    if is_missing(row["value"]):
        return text + f"it [cannot be computed]({target}) from the authors' data."
    text += f"the authors' data give [{C.result(claim_id, 'published')}]({target})"
    if printed != MISSING:
        text += f", {REPRODUCTION[row['reproduces']]}"
    return text + f"; **[{CLAIM_VERDICTS[row['holds']]}]({target})**."


def story(C: Claims, claims: dict[str, str] = STORY) -> Markdown:
    """The story's claims as a bulleted list of sentences (those the claims table has); one sentence saying why
    there are none when the authors' data are absent."""
    if not C.source_has_data("published"):
        return Markdown("None of them can be computed without the authors' data: see the note below.\n")
    items = [f"- {finding(C, claim_id, subject)}" for claim_id, subject in claims.items() if claim_id in C.ids]
    return Markdown("\n".join(items) + "\n")


def tally(C: Claims, source: str) -> dict[str, int]:
    """The verdicts of every claim on ``source``: holds, fails, inconclusive (computed but undecided), not
    computable (no value: the source lacks the data), not applicable (a claim about the paper's own panel, on
    another source) and error."""
    rows = C.table[C.table["source"] == source]
    computed = rows["value"].notna()
    not_applicable = rows["claim_id"].map(lambda claim_id: C.about_the_paper(claim_id, source)).astype(bool)
    undecided = (rows["holds"] == "inconclusive") & ~not_applicable
    return {
        "holds": int((rows["holds"] == "holds").sum()),
        "fails": int((rows["holds"] == "fails").sum()),
        "inconclusive": int((undecided & computed).sum()),
        "not computable": int((undecided & ~computed).sum()),
        "not applicable": int(not_applicable.sum()),
        "error": int((rows["holds"] == "error").sum()),
    }


def _listing(parts: list[str]) -> str:
    parts = [part for part in parts if part]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _counted(count: int, singular: str, plural: str) -> str | None:
    return None if not count else f"{integer(count)} {singular if count == 1 else plural}"


def counts(C: Claims, source: str) -> str:
    """ "6 hold, 12 fail, 17 are inconclusive and 4 cannot be computed" (controls: present, absent, undecided
    before training); the words of the verdicts that occur only."""
    t = tally(C, source)
    if source == "controls":
        words = [
            _counted(t["holds"], "is present before training", "are present before training"),
            _counted(t["fails"], "is absent before training", "are absent before training"),
            _counted(t["inconclusive"], "is undecided", "are undecided"),
        ]
    else:
        words = [
            _counted(t["holds"], "holds", "hold"),
            _counted(t["fails"], "fails", "fail"),
            _counted(t["inconclusive"], "is inconclusive", "are inconclusive"),
        ]
    words += [
        _counted(t["not computable"], "cannot be computed", "cannot be computed"),
        _counted(
            t["not applicable"],
            "is a statement about the paper's own panel",
            "are statements about the paper's own panel",
        ),
        _counted(t["error"], "failed to compute", "failed to compute"),
    ]
    return _listing([word for word in words if word]) if any(words) else "none is computed"


def reproduction(C: Claims) -> str:
    """ "of the 15 printed values that the authors' data let us recompute, 9 reproduce and 6 do not; the other
    24 claims ..." (the reproduces column of the authors' rows)."""
    yes, no = C.count("reproduces", "yes"), C.count("reproduces", "no")
    other = len(C.ids) - yes - no
    rest = (
        (
            f"; the other {integer(other)} claim{'s' if other != 1 else ''} print{'s' if other == 1 else ''} no "
            "number, or one that no analysis of the authors' data recomputes"
        )
        if other
        else ""
    )
    if not yes + no:
        return "no printed value can be recomputed from the authors' data"
    return (
        f"of the {integer(yes + no)} printed values that the authors' data let us recompute, "
        f"{integer(yes)} reproduce{'s' if yes == 1 else ''} and {integer(no)} do{'es' if no == 1 else ''} not" + rest
    )


def sentence(text: str) -> str:
    """``text`` as a sentence: capitalised, with a full stop."""
    return text[:1].upper() + text[1:] + "."


def summary(C: Claims) -> Markdown:
    """The counts of the abstract: every claim's verdict on each source, and the reproduction of printed values."""
    total = integer(len(C.ids))
    if not C.source_has_data("published"):
        first = f"Without the authors' data none of the {total} claims can be decided on them"
    else:
        first = f"Of the {total} claims, on the authors' data {counts(C, 'published')}"
    return Markdown(
        f"{first}. On {SOURCE_NAMES['measured']}, {counts(C, 'measured')}; on "
        f"{SOURCE_NAMES['controls']}, {counts(C, 'controls')}."
    )


def verdict_table(C: Claims) -> pd.DataFrame:
    """How many claims get each verdict on each source: a row per verdict (with its wording on random weights),
    a column per source; the error row only where a computation failed."""
    tallies = {SOURCE_NAMES[source].removeprefix("the "): tally(C, source) for source in DATA_SOURCES}
    labels = {
        verdict: f"{VERDICTS[verdict].removeprefix('is ')} ({CONTROL_VERDICTS[verdict]} on the controls)"
        for verdict in ("holds", "fails", "inconclusive")
    }
    labels["not computable"] = "not computable (the source lacks the data)"
    labels["not applicable"] = "not applicable (about the paper's own panel)"
    if any(t["error"] for t in tallies.values()):
        labels["error"] = "the computation failed"
    rows = [
        {"verdict": label, **{name: integer(t[verdict]) for name, t in tallies.items()}}
        for verdict, label in labels.items()
    ]
    return pd.DataFrame(rows)
