"""How a claim card's lines read, and the report's section "Re-testing with new models".

``predicted_text``, ``measured_text`` and ``interval`` write one card line's prediction and
measurement with a given number writer: the card files' plain ``number`` (``report.card``) or the
report's ``report.numbers.number``. ``retesting_section`` formats the re-test tables the analysis
wrote into data/derived/ (``analysis.retest.derived``): it reads them and computes nothing, and
imports no analysis code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from contract.tables import CLAIM_CARD_TABLE, CLAIMS_TABLE, PANEL_SHIFT_TABLE, read_table
from contract.vocab import CARD_SIGN_QUANTITY, COMBINED_PANEL
from report import numbers
from report.refs import _escape
from report.tables import markdown_table

# Relative to report/, where the report's cells run (as report/plots.py).
DERIVED = Path("..") / "data" / "derived"
# The re-test tables the analysis writes (analysis.retest.derived): file name -> schema (None: plain CSV).
RETEST_FILES = {"retest_card.csv": CLAIM_CARD_TABLE, "retest_shift.csv": PANEL_SHIFT_TABLE, "retest_joined.csv": None}
NO_PUBLISHED = (
    "The published data are not imported, so no law has a prediction: run thermo-audit measure "
    "import-published ../shared/paper3/Results and re-run."
)
SECTION_INTRODUCTION = (
    "`thermo-audit retest --model NAME` confronts a model with every law of the paper that predicts something "
    'for a single model and writes a claim card (README, "Re-test your model"). Here are the cards of our '
    "{n} measured pretrained models ({models}): each law's prediction for the model, in the convention the law "
    "was stated in and with the law's uncertainty from the authors' published data, against the model's "
    "measurement (mean over prompts and its confidence interval over prompts)."
)


def number(value, digits: int = 3) -> str:
    """The card files' plain number: ``digits`` significant digits, "" when missing."""
    if numbers.is_missing(value):
        return ""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def interval(low, high, digits: int = 4, write: Callable = number) -> str:
    """ "[a, b]", or a one-sided bound where the other end is open (missing or infinite)."""
    low_open = numbers.is_missing(low) or math.isinf(low)
    high_open = numbers.is_missing(high) or math.isinf(high)
    if low_open and high_open:
        return ""
    if low_open:
        return f"<= {write(high, digits)}"
    if high_open:
        return f">= {write(low, digits)}"
    return f"[{write(low, digits)}, {write(high, digits)}]"


def predicted_text(row, digits: int = 4, write: Callable = number) -> str:
    """The law's prediction on one card line ("" for a bound: its interval says it)."""
    known = not numbers.is_missing(row["predicted"])
    value = write(row["predicted"], digits) if known else ""
    if row["quantity"] == CARD_SIGN_QUANTITY:
        probability = f"P(dampen) {write(row['predicted'], 2)}" if known else ""
        if isinstance(row["predicted_sign"], str):
            return f"{row['predicted_sign']} ({probability})" if probability else row["predicted_sign"]
        return probability
    if row["claim_id"] == "kleiber_gmax_bound":
        return ""
    if known and row["claim_id"] == "final_ln_accuracy":
        return f"{value} (published mean)"
    return f"layer {value}" if known and row["claim_id"] == "lstar_formula" else value


def measured_text(row, digits: int = 4, write: Callable = number) -> str:
    """The model's measurement on one card line, with its interval (and its sign for a sign law)."""
    if numbers.is_missing(row["measured"]):
        return ""
    if row["claim_id"] == "final_ln_accuracy":
        return {1.0: "+1 (becomes right)", 0.0: "0 (unchanged)", -1.0: "-1 (becomes wrong)"}[row["measured"]]
    value = write(row["measured"], digits)
    if row["claim_id"] == "lstar_formula":
        value = f"layer {value}"
    text = f"{value} {interval(row['measured_low'], row['measured_high'], digits, write)}".strip()
    return f"{row['measured_sign']}: {text}" if isinstance(row["measured_sign"], str) else text


def md_cell(text) -> str:
    """A card text as one Markdown table cell or list item (no pipe, no line break)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def pipe_table(
    headers: list[str], rows: Iterable[list[str]], widths: list[float] | None = None, cell: Callable = md_cell
) -> str:
    """A left-aligned Markdown pipe table; ``widths`` (fractions of the text width) set the separator's dashes,
    from which pandoc reads relative column widths (as ``report.tables.markdown_table``)."""
    dashes = [max(3, round(100 * width)) for width in widths] if widths else [3] * len(headers)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(":" + "-" * n for n in dashes) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def first_clause(note: str) -> str:
    """The note up to its first "; " outside parentheses (a not-applicable row's reason)."""
    depth = 0
    for i, char in enumerate(note):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and note.startswith("; ", i):
            return note[:i]
    return note


def panel_models_text(joined: pd.DataFrame | None) -> str:
    """Which published notebooks each model joined in the combined panel, and what it could not join."""
    if joined is None or joined.empty:
        return ""
    parts = [
        f"{r['model']}: {r['joined'] or 'not added'}" + (f" ({r['note']})" if r["note"] else "")
        for _, r in joined.iterrows()
    ]
    return "Models added, by the published notebook they join: " + "; ".join(parts) + "."


# ---------------------------------------------------------------- the report's section


def read_retest_tables(derived_dir: Path = DERIVED) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """The card, the panel shift and the notebooks each model joined, as the analysis wrote them (the first
    two checked against their schemas); None when the analysis has not written them."""
    paths = [Path(derived_dir) / name for name in RETEST_FILES]
    if not all(path.is_file() for path in paths):
        return None
    return tuple(
        read_table(path, schema) if schema is not None else pd.read_csv(path, dtype=str, keep_default_na=False)
        for path, schema in zip(paths, RETEST_FILES.values())
    )


def _text(text: str) -> str:
    """Card text as report markdown: markup escaped, "--" kept (not an en dash)."""
    return _escape(text).replace("--", "-\\-")


def _report_number(value, digits: int = 3) -> str:
    """``report.numbers.number``, whole numbers (layers, bounds) without decimals."""
    if not numbers.is_missing(value) and float(value).is_integer() and abs(value) < 10**digits:
        return numbers.integer(value)
    return numbers.number(value, digits)


def side_by_side(card: pd.DataFrame, models: list[str]) -> str:
    """One table: a row per law, a column per model (verdict: measured vs the law's prediction)."""
    rows = []
    for _, lines in card.groupby("claim_id", sort=False):
        lines = lines.set_index("model")
        cells = []
        for model in models:
            line = lines.loc[model]
            measured = measured_text(line, 3, _report_number)
            if measured and line["consistent"] in ("consistent", "inconsistent"):
                law = " ".join(
                    filter(
                        None,
                        [
                            predicted_text(line, 3, _report_number),
                            interval(line["pi_low"], line["pi_high"], 3, _report_number),
                        ],
                    )
                )
                cells.append(f"{line['consistent']}: {measured} vs {law}")
            else:
                cells.append(line["consistent"])
        rows.append([lines["law"].iloc[0], lines["convention"].iloc[0], *cells])
    share = 0.6 / len(models)
    return pipe_table(["law", "convention", *models], rows, widths=[0.2, 0.2] + [share] * len(models), cell=_text)


def _change(before: str, after: str) -> str:
    return before if before == after else f"{before} → {after}"


def _p(p) -> str:
    return numbers.p_value(p).removeprefix("p ").removeprefix("= ")


def moved_table(shift: pd.DataFrame, kinds: dict[str, str]) -> str:
    """The claims that move when the models join: value (written by its kind, ``kinds``: claim id -> kind, as
    the claims table writes it), p and verdict, on the published panel and on the combined one."""
    rows = []
    for _, r in shift.iterrows():
        kind = kinds.get(r["claim_id"], "other")
        rows.append(
            {
                "claim": r["claim_id"],
                "published": numbers.by_kind(r["published_value"], kind),
                COMBINED_PANEL: numbers.by_kind(r["combined_value"], kind),
                "p": _change(_p(r["published_p"]), _p(r["combined_p"])),
                "verdict": _change(r["published_holds"], r["combined_holds"]),
            }
        )
    return markdown_table(pd.DataFrame(rows), widths=[0.3, 0.15, 0.19, 0.18, 0.18]).data


def claim_kinds(derived_dir: Path = DERIVED) -> dict[str, str]:
    """Claim id -> the kind of its value, from the claims table (empty when the analysis has not written it)."""
    path = Path(derived_dir) / CLAIMS_TABLE.filename
    if not path.is_file():
        return {}
    claims = read_table(path, CLAIMS_TABLE)
    return dict(zip(claims["claim_id"], claims["kind"]))


def retesting_section(derived_dir: Path = DERIVED) -> str:
    """Markdown of the section "Re-testing with new models": the cards of our measured pretrained models side
    by side, and the claims that move when they join the published panel."""
    tables = read_retest_tables(derived_dir)
    if tables is None:
        return "The re-test tables are not computed: run the analysis (thermo-audit analyse).\n"
    card, shift, joined = tables
    models = list(dict.fromkeys(card["model"]))
    if not models:
        return "No pretrained model is measured, so there is no card to show.\n"
    parts = [SECTION_INTRODUCTION.format(n=len(models), models=", ".join(models))]
    if shift.empty:
        parts.append(NO_PUBLISHED)
    parts.append(side_by_side(card, models))
    reasons = card[card["consistent"] == "not applicable"]
    if len(reasons):
        parts.append(
            _text(
                "Not applicable: "
                + "; ".join(
                    f"{r['claim_id']} for {r['model']}: {first_clause(r['note'])}" for _, r in reasons.iterrows()
                )
                + "."
            )
        )
    if not shift.empty:
        moved = shift[shift["moved"]]
        parts.append(
            _text(
                f"Added to the published panel in the matching convention ({COMBINED_PANEL}), these models move "
                f"{len(moved)} of the {len(shift)} claims; the others read data these models cannot join (the Pythia "
                "sweep, named models, or weight and trace quantities measured another way). "
                + panel_models_text(joined)
            )
        )
        if len(moved):
            parts.append(moved_table(moved, claim_kinds(derived_dir)))
    return "\n\n".join(parts) + "\n"
