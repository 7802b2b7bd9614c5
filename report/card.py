"""The readable claim card, and the report section "Re-testing with new models".

``write_card`` writes, into one folder: ``claim_card.csv`` and ``panel_shift.csv`` (validated against
their contract schemas), ``card.md`` (figures as ``figures/*.svg`` beside it) and ``card.html``
(self-contained: inline CSS and inline SVG, nothing fetched). Per model, one small figure per law
places the model among the published models. ``retesting_section`` returns the Markdown of the
report's section, computed from the cards of the measured pretrained models.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.claims.crowding import RHO_CRIT
from analysis.claims.registry import Settings
from analysis.retest import claim_card, combined_source, panel_shift
from analysis.retest.card import find_model
from analysis.retest.evidence import Evidence
from analysis.retest.laws import SIGN_QUANTITY, TOTAL_GAIN, TOTAL_TOLERANCE
from analysis.retest.measured import ModelData
from analysis.retest.panel import COMBINED
from analysis.retest.rows import NotApplicable, join
from analysis.sources import HERITAGE_LAB, Source, load_sources
from contract.atomic import write_atomically
from contract.tables import CLAIM_CARD_TABLE, PANEL_SHIFT_TABLE, validate
from contract.vocab import CARD_VERDICTS

# Relative to report/, where the report's cells run (as report/plots.py).
DATA = Path("..") / "data"
MODEL_COLOUR, ELEUTHER_COLOUR, OTHER_COLOUR = "#000000", "#c0392b", "#7f8c8d"
STYLE = {"font.size": 7, "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none",
         "svg.hashsalt": "thermo-audit-card"}
CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.consistent{color:#1e7b34}.inconsistent{color:#b03a2e;
font-weight:bold}.not-applicable{color:#777}.error{color:#b03a2e}figure{display:inline-block;margin:0.5em;
width:330px;vertical-align:top}figure svg{width:100%;height:auto}figcaption{font-size:0.8em;color:#555}
ol li{font-size:0.9em;margin-bottom:0.3em}"""


# ---------------------------------------------------------------- numbers as the card prints them

def number(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def interval(low, high, digits: int = 4) -> str:
    """"[a, b]", or a one-sided bound where the other end is open (NaN or infinite)."""
    low_open = low is None or math.isnan(low) or math.isinf(low)
    high_open = high is None or math.isnan(high) or math.isinf(high)
    if low_open and high_open:
        return ""
    if low_open:
        return f"<= {number(high, digits)}"
    if high_open:
        return f">= {number(low, digits)}"
    return f"[{number(low, digits)}, {number(high, digits)}]"


def predicted_text(row) -> str:
    value = number(row["predicted"], 4)
    if row["quantity"] == SIGN_QUANTITY:
        probability = f"P(dampen) {number(row['predicted'], 2)}" if value else ""
        if isinstance(row["predicted_sign"], str):
            return f"{row['predicted_sign']} ({probability})" if probability else row["predicted_sign"]
        return probability
    if row["claim_id"] == "kleiber_gmax_bound":
        return ""  # the bound is the interval
    if value and row["claim_id"] == "final_ln_accuracy":
        return f"{value} (published mean)"
    return f"layer {value}" if value and row["claim_id"] == "lstar_formula" else value


def first_clause(note: str) -> str:
    """The note up to its first "; " outside parentheses (a not-applicable row's reason)."""
    depth = 0
    for i, char in enumerate(note):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and note.startswith("; ", i):
            return note[:i]
    return note


def measured_text(row) -> str:
    value = number(row["measured"], 4)
    if not value:
        return ""
    if row["claim_id"] == "final_ln_accuracy":
        return {1.0: "+1 (becomes right)", 0.0: "0 (unchanged)", -1.0: "-1 (becomes wrong)"}[row["measured"]]
    if row["claim_id"] == "lstar_formula":
        value = f"layer {value}"
    spread = interval(row["measured_low"], row["measured_high"], 4)
    text = f"{value} {spread}".strip()
    return f"{row['measured_sign']}: {text}" if isinstance(row["measured_sign"], str) else text


# ---------------------------------------------------------------- figures, one per law

def _model_point(ax, x: float, row, label: str) -> None:
    low, high = row["measured_low"], row["measured_high"]
    error = None if math.isnan(low) else [[row["measured"] - low], [high - row["measured"]]]
    ax.errorbar([x], [row["measured"]], yerr=error, fmt="*", ms=9, color=MODEL_COLOUR, label=label, zorder=5)


def _lab_colours(labs: pd.Series) -> list[str]:
    return [ELEUTHER_COLOUR if lab == HERITAGE_LAB else OTHER_COLOUR for lab in labs]


def _lab_legend(ax) -> None:
    for lab, colour in ((HERITAGE_LAB, ELEUTHER_COLOUR), ("other labs", OTHER_COLOUR)):
        ax.scatter([], [], s=12, color=colour, label=lab)
    ax.legend(fontsize=6, frameon=False)


def kleiber_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, axes = plt.subplots(1, 2, figsize=(4.6, 2.3), sharey=True)
    for ax, x, claim_id, label in zip(axes, ("n_layers", "rho"), ("kleiber_depth_r", "kleiber_rho_r"),
                                      ("depth L", "rho = H / d_head")):
        row, value = rows.loc[claim_id], float(model.fact(x))
        data = evidence.pythia
        grid = np.linspace(min(data[x].min(), value), max(data[x].max(), value), 100)
        band = evidence.kleiber_prediction(x, grid)
        ax.fill_between(grid, band["obs_ci_lower"], band["obs_ci_upper"], color="#f5b7b1", alpha=0.5,
                        label=f"{100 * evidence.settings.confidence:g}% prediction")
        ax.plot(grid, band["mean"], color=ELEUTHER_COLOUR, lw=1, label="Pythia fit")
        ax.scatter(data[x], data["gain"], s=12, color=ELEUTHER_COLOUR)
        _model_point(ax, value, row, model.model)
        ax.axhline(1, color="#999999", lw=0.5, ls=":")
        ax.set_xlabel(label)
    axes[0].set_ylabel("R1 mean gain")
    axes[0].legend(fontsize=6, frameon=False)
    return fig


def gmax_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    blocks = model.block_gains()
    depth = np.linspace(4, max(40, model.n_layers + 4), 200)
    ax.plot(depth, 10 ** (1 / depth), color="black", lw=1, label="$G_{max} = 10^{1/L}$")
    try:
        published = evidence.pythia_blocks
        ax.scatter(published["n_layers"], published["gain"], s=4, color=ELEUTHER_COLOUR, alpha=0.5,
                   label="Pythia blocks (PFS, R1)")
    except NotApplicable:
        pass
    bound = 10 ** (1 / model.n_layers)
    colours = np.where(blocks["gain"] > bound, "#b03a2e", "#1e7b34")
    ax.scatter(np.full(len(blocks), model.n_layers), blocks["gain"], marker="_", s=60, c=colours,
               label=f"{model.model} blocks")
    ax.set_yscale("log")
    ax.set_ylim(top=max(ax.get_ylim()[1], 3 * blocks["gain"].max()))
    ax.set_xlabel("depth L")
    ax.set_ylabel("block gain x_b / x_(b-1)")
    ax.legend(fontsize=6, frameon=False, loc="upper right")
    return fig


def total_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    ax.axhspan(TOTAL_GAIN / TOTAL_TOLERANCE, TOTAL_GAIN * TOTAL_TOLERANCE, color="#d5f5e3",
               label="10 / sqrt(10) .. 10 sqrt(10)")
    ax.axhline(TOTAL_GAIN, color="black", lw=0.8)
    try:
        published = evidence.total_gains
        ax.scatter(published["n_layers"], published["total_gain"], s=12, c=_lab_colours(published["lab"]),
                   label="published (R2)")
    except NotApplicable:
        pass
    _model_point(ax, model.n_layers, rows.loc["kleiber_total_gain"], model.model)
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel("total gain x_(L-1) / x_0")
    ax.legend(fontsize=6, frameon=False)
    return fig


def signs_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    table = evidence.crowding
    ax.scatter(table["rho"], table["gain"], s=12, c=_lab_colours(table["lab"]))
    ax.axvline(RHO_CRIT, color="black", lw=0.6, ls="--")
    ax.axhline(1, color="#999999", lw=0.5, ls=":")
    ax.text(RHO_CRIT, ax.get_ylim()[1], " rho >= 0.2 => dampen", fontsize=6, va="top")
    _model_point(ax, float(model.fact("rho")), rows.loc["crowding_rule"], model.model)
    _lab_legend(ax)
    ax.set_xlabel("rho = H / d_head")
    ax.set_ylabel("R1 mean gain")
    return fig


def signature_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    data = evidence.signature
    ratio = model.head_ratio()
    grid = np.linspace(min(data["log_ratio"].min(), np.log10(ratio)) - 0.2,
                       max(data["log_ratio"].max(), np.log10(ratio)) + 0.2, 100)
    curve = evidence.signature_classifier.get_prediction(pd.DataFrame({"log_ratio": grid})).summary_frame(
        alpha=evidence.alpha)
    ax.fill_between(10 ** grid, curve["mean_ci_lower"], curve["mean_ci_upper"], color="#d6eaf8")
    ax.plot(10 ** grid, curve["mean"], color="#2471a3", lw=1, label="logistic fit, P(dampen)")
    ax.scatter(data["ratio"], data["dampens"], s=12, c=_lab_colours(data["lab"]))
    ax.axvline(ratio, color=MODEL_COLOUR, lw=1, label=f"{model.model}: {ratio:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("||W_V|| / ||W_O||")
    ax.set_ylabel("dampens (published: 1 / 0)")
    ax.legend(fontsize=6, frameon=False)
    return fig


def final_norm_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    from analysis.retest.measured import R1_GAIN, R1_WITH_NORM

    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    table = evidence.final_norm
    ax.scatter(table["without_norm"], table["with_norm"], s=12, c=_lab_colours(table["lab"]))
    ax.scatter([model.summary(R1_GAIN).mean], [model.summary(R1_WITH_NORM).mean], marker="*", s=80,
               color=MODEL_COLOUR, label=model.model, zorder=5)
    ax.axvline(1, color="#999999", lw=0.5, ls=":")
    ax.axhline(1, color="#999999", lw=0.5, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("R1 gain without the final norm")
    ax.set_ylabel("with the final norm")
    ax.legend(fontsize=6, frameon=False)
    return fig


def lstar_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    for data, label, marker in ((evidence.lstar_calibration, "H4V2 (calibration)", "o"),
                                (evidence.lstar_cross, "LSC (cross-heritage)", "s")):
        ax.scatter(data["formula"] / data["n_layers"], data["l_star"] / data["n_layers"], s=12, marker=marker,
                   c=_lab_colours(data["lab"]))
        ax.scatter([], [], s=12, marker=marker, facecolor="none", edgecolor="black", label=label)
    row = rows.loc["lstar_formula"]
    scaled = row[["measured", "measured_low", "measured_high"]].astype(float) / model.n_layers
    ax.errorbar([row["predicted"] / model.n_layers], [scaled["measured"]],
                yerr=[[scaled["measured"] - scaled["measured_low"]], [scaled["measured_high"] - scaled["measured"]]],
                fmt="*", ms=9, color=MODEL_COLOUR, label=model.model, zorder=5)
    ax.plot([0, 1], [0, 1], color="black", lw=0.6)
    ax.set_xlabel("formula L* / L")
    ax.set_ylabel("measured L* / L")
    ax.legend(fontsize=6, frameon=False)
    return fig


def hierarchy_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    gains = evidence.r2_gains.sort_values("gain")
    named = evidence.hierarchy
    y = np.arange(len(gains))
    ax.scatter(gains["gain"], y, s=12, c=["#2471a3" if m in named.index else "#bbbbbb" for m in gains["model"]])
    ax.set_yticks(y, gains["model"], fontsize=5)
    row = rows.loc["hierarchy"]
    ax.axvspan(row["measured_low"], row["measured_high"], color="#eeeeee")
    ax.axvline(row["measured"], color=MODEL_COLOUR, lw=1, label=f"{model.model} (R2)")
    ax.set_xlabel("R2 mean gain (blue: the hierarchy's four)")
    ax.legend(fontsize=6, frameon=False)
    return fig


def twins_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    pairs = evidence.twins
    ax.scatter(pairs["base_gain"], pairs["instruct_gain"], s=12, color=OTHER_COLOUR, label="published pairs (TWN)")
    row = rows.loc["twin_sign"]
    if not math.isnan(row["predicted"]) and not math.isnan(row["measured"]):
        ax.scatter([row["predicted"]], [row["measured"]], marker="*", s=80, color=MODEL_COLOUR, label=model.model)
    top = max(2.5, np.nanmax([row["predicted"], row["measured"], pairs[["base_gain", "instruct_gain"]].max().max()]))
    ax.plot([0, top], [0, top], color="black", lw=0.5)
    ax.axvline(1, color="#999999", lw=0.5, ls=":")
    ax.axhline(1, color="#999999", lw=0.5, ls=":")
    ax.set_xlabel("base model R2 gain")
    ax.set_ylabel("fine-tuned model R2 gain")
    ax.legend(fontsize=6, frameon=False)
    return fig


# (file stem, caption, drawing function): one figure per law of the card
FIGURES: list[tuple[str, str, Callable]] = [
    ("kleiber", "Kleiber: R1 gain against depth and rho, the Pythia fit with its prediction band", kleiber_figure),
    ("gmax", "Every block's gain against G_max = 10^(1/L) (red: above the bound)", gmax_figure),
    ("total", "Total gain over the blocks against 10 (band: a factor sqrt(10))", total_figure),
    ("signs", "Heritage and crowding: R1 gain against rho, coloured by lab", signs_figure),
    ("signature", "Spectral signature: the published sign against ||W_V|| / ||W_O||", signature_figure),
    ("final_norm", "The R1 gain with and without the final norm", final_norm_figure),
    ("lstar", "Transition layer L*: measured against the formula, depth-normalised", lstar_figure),
    ("hierarchy", "Hierarchy: the model's R2 gain among the published models", hierarchy_figure),
    ("twins", "Twins: fine-tuned against base R2 gain", twins_figure),
]


def svg(fig) -> str:
    """The figure as an <svg> element (no XML header, no date: the same data give the same text)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def model_figures(model: ModelData, rows: pd.DataFrame, evidence: Evidence) -> list[tuple[str, str, str | None, str]]:
    """(stem, caption, svg or None, why not drawn) for every figure of one model."""
    out = []
    with plt.rc_context(STYLE):
        for stem, caption, draw in FIGURES:
            try:
                out.append((stem, caption, svg(draw(model, rows, evidence)), ""))
            except (NotApplicable, KeyError, ValueError, TypeError) as why:
                plt.close("all")
                out.append((stem, caption, None, str(why) or type(why).__name__))
    return out


# ---------------------------------------------------------------- the document, rendered twice

INTRODUCTION = (
    "Each law of D'Elia (2026) that predicts something for a single model, confronted with each model: the "
    "prediction in the convention the law was stated in, with the law's own uncertainty from the authors' "
    "published data, against the model's measurement (mean over prompts with its {confidence:g}% CI). A verdict "
    "is 'consistent' when the measured value lies in the law's interval (or has the predicted sign), "
    "'inconsistent' otherwise, and 'not applicable' when the law predicts nothing for this model or its data are "
    "missing (the notes say which)."
)
NO_PUBLISHED = ("The published data are not imported, so no law has a prediction: run thermo-audit measure "
                "import-published ../shared/paper3/Results and re-run.")
CARD_HEADERS = ["law", "convention", "predicted", "interval", "measured", "verdict"]
SHIFT_HEADERS = ["claim", "statistic", "published", f"{COMBINED}", "p", "verdict", "took in"]


def card_table_rows(rows: pd.DataFrame) -> list[list[str]]:
    return [[r["law"], r["convention"], predicted_text(r), interval(r["pi_low"], r["pi_high"]), measured_text(r),
             r["consistent"]] for _, r in rows.iterrows()]


def shift_table_rows(shift: pd.DataFrame) -> list[list[str]]:
    out = []
    for _, r in shift.iterrows():
        def moved(a, b, digits=4):
            a, b = number(a, digits), number(b, digits)
            return a if a == b else f"{a} -> {b}"
        verdict = r["published_holds"] if r["published_holds"] == r["combined_holds"] else \
            f"{r['published_holds']} -> {r['combined_holds']}"
        out.append([r["claim_id"], r["statistic"], number(r["published_value"], 4), number(r["combined_value"], 4),
                    moved(r["published_p"], r["combined_p"], 3), verdict, r["joined"] or ""])
    return out


def describe_model(model: ModelData) -> str:
    params = model.fact("n_params")
    size = f", {params / 1e6:.0f}M parameters" if params else ""
    return (f"{model.fact('lab') or 'unknown lab'}, {model.fact('family')}, L = {model.n_layers}, "
            f"H = {model.fact('n_heads')}, rho = {number(model.fact('rho'), 4)}{size}; "
            f"prompt set {model.prompt_set or 'none'}")


def verdict_counts(rows: pd.DataFrame) -> str:
    counts = rows["consistent"].value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in CARD_VERDICTS if v in counts)


def panel_models_text(panel_models: pd.DataFrame | None) -> str:
    """Which published notebooks each model joined in the combined panel, and what it could not join."""
    if panel_models is None or panel_models.empty:
        return ""
    parts = [f"{r['model']}: {r['joined'] or 'not added'}" + (f" ({r['note']})" if r["note"] else "")
             for _, r in panel_models.iterrows()]
    return "Models added, by the published notebook they join: " + "; ".join(parts) + "."


def _document(sources: Mapping[str, Source], card: pd.DataFrame, shift: pd.DataFrame, settings: Settings,
              panel_models: pd.DataFrame | None = None) -> list[tuple]:
    """The card as blocks: ("h1"|"h2"|"p", text), ("table", headers, rows), ("ol", items),
    ("figures", model, [(stem, caption, svg, why)])."""
    evidence = Evidence(sources["published"], settings)
    models = list(dict.fromkeys(card["model"]))
    blocks: list[tuple] = [("h1", f"Claim card: {', '.join(models)}"),
                           ("p", INTRODUCTION.format(confidence=100 * settings.confidence))]
    if not sources["published"].available:
        blocks.append(("p", NO_PUBLISHED))
    for model in models:
        rows = card[card["model"] == model].set_index("claim_id", drop=False)
        data = ModelData(find_model(sources, model), model, settings.confidence,
                         rows["prompt_set"].dropna().iloc[0] if rows["prompt_set"].notna().any() else None)
        blocks += [("h2", model), ("p", f"{describe_model(data)}. {verdict_counts(rows)}."),
                   ("table", CARD_HEADERS, card_table_rows(rows)),
                   ("ol", [f"{r['claim_id']} ({r['consistent']}): {r['note']}" for _, r in rows.iterrows()]),
                   ("figures", model, model_figures(data, rows, evidence))]
    blocks.append(("h2", f"How the panel claims move: published vs {COMBINED}"))
    if shift.empty:
        blocks.append(("p", "Not computed: the published data are not imported."))
    else:
        moved = int(shift["moved"].sum())
        summary = (f"Every claim of the registry re-run on the published panel and on the published panel with "
                   f"these models added in the matching convention ({COMBINED}); {moved} of {len(shift)} claims move.")
        blocks += [("p", join(summary, panel_models_text(panel_models), sep=" ")),
                   ("table", SHIFT_HEADERS, shift_table_rows(shift)),
                   ("ol", [f"{r['claim_id']}: {r['note']}" for _, r in shift.iterrows() if r["note"]])]
    return blocks


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(blocks: list[tuple], figure_dir: str = "figures") -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            out.append(f"{'#' * int(kind[1])} {block[1]}")
        elif kind == "p":
            out.append(block[1])
        elif kind == "table":
            out.append(markdown_table(block[1], block[2]))
        elif kind == "ol":
            out.append("\n".join(f"{i}. {_md_cell(item)}" for i, item in enumerate(block[1], 1)))
        elif kind == "figures":
            out.append("\n".join(f"![{caption}]({figure_dir}/{figure_name(block[1], stem)}.svg)" if image else
                                 f"*{caption}: not drawn ({why})*" for stem, caption, image, why in block[2]))
    return "\n\n".join(out) + "\n"


def render_html(blocks: list[tuple]) -> str:
    out = []
    title = html.escape(next(b[1] for b in blocks if b[0] == "h1"))
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            out.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            body = []
            for row in block[2]:
                cells = "".join(f"<td>{html.escape(str(c))}</td>" for c in row[:-1])
                last = html.escape(str(row[-1]))
                css = re.sub(r"[^a-z]+", "-", str(row[-1]).split(" ")[0]) if block[1] is CARD_HEADERS else ""
                if block[1] is CARD_HEADERS and row[-1] == "not applicable":
                    css = "not-applicable"
                body.append(f"<tr>{cells}<td class=\"{css}\">{last}</td></tr>")
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
        elif kind == "ol":
            out.append("<ol>" + "".join(f"<li>{html.escape(item)}</li>" for item in block[1]) + "</ol>")
        elif kind == "figures":
            out.append("<div>" + "".join(
                f"<figure>{image}<figcaption>{html.escape(caption)}</figcaption></figure>" if image else
                f"<figure><figcaption>{html.escape(caption)}: not drawn ({html.escape(why)})</figcaption></figure>"
                for stem, caption, image, why in block[2]) + "</div>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def figure_name(model: str, stem: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}-{stem}"


def write_card(sources: Mapping[str, Source], card: pd.DataFrame, shift: pd.DataFrame, out_dir: Path,
               settings: Settings, panel_models: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write claim_card.csv, panel_shift.csv, card.md, figures/*.svg and card.html into ``out_dir``;
    ``panel_models``: the per-model report of ``analysis.retest.combined_source`` (what each model joined)."""
    out_dir = Path(out_dir)
    card = validate(card, CLAIM_CARD_TABLE, out_dir / CLAIM_CARD_TABLE.filename)
    shift = validate(shift, PANEL_SHIFT_TABLE, out_dir / PANEL_SHIFT_TABLE.filename)
    written = {}
    for name, frame, table in (("claim_card", card, CLAIM_CARD_TABLE), ("panel_shift", shift, PANEL_SHIFT_TABLE)):
        written[name] = out_dir / table.filename
        write_atomically(frame, written[name], table.float_format)
    blocks = _document(sources, card, shift, settings, panel_models)
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for block in blocks:
        if block[0] == "figures":
            for stem, _, image, _ in block[2]:
                if image:
                    (figures / f"{figure_name(block[1], stem)}.svg").write_text(image, encoding="utf-8")
    written["markdown"] = out_dir / "card.md"
    written["markdown"].write_text(render_markdown(blocks), encoding="utf-8")
    written["html"] = out_dir / "card.html"
    written["html"].write_text(render_html(blocks), encoding="utf-8")
    return written


def retest(sources: Mapping[str, Source], models: Iterable[str], settings: Settings, out_dir: Path, *,
           prompt_set: str | None = None, twin_of: Mapping[str, str] | None = None) -> dict[str, Path]:
    """The claim card of ``models`` and the panel shift, written into ``out_dir`` (see ``write_card``);
    ``prompt_set`` and ``twin_of`` as in ``analysis.retest.claim_card``."""
    models = list(models)
    card = claim_card(sources, models, settings, prompt_set=prompt_set, twin_of=twin_of)
    shift = panel_shift(sources, models, settings, prompt_set=prompt_set, twin_of=twin_of)
    panel_models = None
    if sources["published"].available:
        panel_models = combined_source(sources, models, settings, prompt_set=prompt_set, twin_of=twin_of)[1]
    return write_card(sources, card, shift, out_dir, settings, panel_models)


# ---------------------------------------------------------------- the report's section

def side_by_side(card: pd.DataFrame, models: list[str]) -> str:
    """One Markdown table: a row per law, a column per model (verdict: measured vs predicted interval)."""
    table_rows = []
    for _, rows in card.groupby("claim_id", sort=False):
        rows = rows.set_index("model")
        cells = []
        for model in models:
            r = rows.loc[model]
            detail = measured_text(r)
            if detail and r["consistent"] in ("consistent", "inconsistent"):
                law = " ".join(filter(None, [predicted_text(r), interval(r["pi_low"], r["pi_high"])]))
                detail = f"{detail} vs {law}"
                cells.append(f"{r['consistent']}: {detail}")
            else:
                cells.append(r["consistent"])
        table_rows.append([rows["law"].iloc[0], rows["convention"].iloc[0], *cells])
    return markdown_table(["law", "convention", *models], table_rows)


SECTION_INTRODUCTION = (
    "`thermo-audit retest --model NAME` confronts a model with every law of the paper that predicts something "
    "for a single model and writes a claim card (README, \"Re-test your model\"). Here are the cards of our "
    "{n} measured pretrained models ({models}): each law's prediction for the model, in the convention the law "
    "was stated in and with the law's uncertainty from the authors' published data, against the model's "
    "measurement (mean over prompts and {confidence:g}% CI)."
)


def retesting_section(models: Iterable[str] | None = None, measured_dir: Path = DATA / "measured",
                      published_dir: Path = DATA / "published", settings: Settings | None = None) -> str:
    """Markdown of the section "Re-testing with new models": the cards of ``models`` (default: every
    pretrained model measured) side by side, and how the panel claims move when they join (``settings``:
    the analysis defaults unless given)."""
    settings = settings or Settings()
    sources = load_sources(Path(measured_dir), Path(published_dir))
    models = list(models) if models is not None else list(sources["measured"].models["model"])
    if not models:
        return "No pretrained model is measured, so there is no card to show.\n"
    card = claim_card(sources, models, settings)
    shift = panel_shift(sources, models, settings)
    parts = [SECTION_INTRODUCTION.format(n=len(models), models=", ".join(models),
                                         confidence=100 * settings.confidence)]
    if not sources["published"].available:
        parts.append(NO_PUBLISHED)
    parts.append(side_by_side(card, models))
    reasons = card[card["consistent"] == "not applicable"]
    if len(reasons):
        parts.append("Not applicable: " + "; ".join(
            f"{r['claim_id']} for {r['model']}: {first_clause(r['note'])}" for _, r in reasons.iterrows()) + ".")
    if not shift.empty:
        moved = shift[shift["moved"]]
        parts.append(f"Added to the published panel in the matching convention ({COMBINED}), these models move "
                     f"{len(moved)} of the {len(shift)} claims; the others read data these models cannot join (the "
                     "Pythia sweep, named models, or weight and trace quantities measured another way). "
                     + panel_models_text(combined_source(sources, models, settings)[1]))
        if len(moved):
            parts.append(markdown_table(SHIFT_HEADERS, shift_table_rows(moved)))
    return "\n\n".join(parts) + "\n"
