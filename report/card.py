"""The readable claim card of a re-test: claim_card.csv, panel_shift.csv, card.md with its figures, card.html.

``write_card`` writes, into one folder: ``claim_card.csv`` and ``panel_shift.csv`` (validated against
their contract schemas), ``card.md`` (figures as ``figures/*.svg`` beside it) and ``card.html``
(self-contained: inline CSS and inline SVG, nothing fetched). Per model, one small figure per law
places the model among the published models. How a card line reads is ``report.retesting``'s, which
also formats the report's section "Re-testing with new models".
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

from analysis.claims import Settings
from analysis.claims.crowding import RHO_CRIT
from analysis.retest import claim_card, shift_and_joined
from analysis.retest.card import find_model
from analysis.retest.evidence import Evidence
from analysis.retest.laws import TOTAL_GAIN, TOTAL_TOLERANCE
from analysis.retest.measured import R1_GAIN, R1_WITH_NORM, ModelData
from analysis.retest.rows import NotApplicable, join
from analysis.sources import HERITAGE_LAB, Source
from contract.atomic import write_atomically
from contract.tables import CLAIM_CARD_TABLE, PANEL_SHIFT_TABLE, validate
from contract.vocab import CARD_VERDICTS, COMBINED_PANEL
from report.retesting import (
    NO_PUBLISHED,
    interval,
    md_cell,
    measured_text,
    number,
    panel_models_text,
    pipe_table,
    predicted_text,
)

MODEL_COLOUR, ELEUTHER_COLOUR, OTHER_COLOUR = "#000000", "#c0392b", "#7f8c8d"
STYLE = {
    "font.size": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "thermo-audit-card",
}
CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.consistent{color:#1e7b34}.inconsistent{color:#b03a2e;
font-weight:bold}.not-applicable{color:#777}.error{color:#b03a2e}figure{display:inline-block;margin:0.5em;
width:330px;vertical-align:top}figure svg{width:100%;height:auto}figcaption{font-size:0.8em;color:#555}
ol li{font-size:0.9em;margin-bottom:0.3em}"""


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
    for ax, x, claim_id, label in zip(
        axes, ("n_layers", "rho"), ("kleiber_depth_r", "kleiber_rho_r"), ("depth L", "rho = H / d_head")
    ):
        row, value = rows.loc[claim_id], float(model.fact(x))
        data = evidence.pythia
        grid = np.linspace(min(data[x].min(), value), max(data[x].max(), value), 100)
        band = evidence.kleiber_prediction(x, grid)
        ax.fill_between(
            grid,
            band["obs_ci_lower"],
            band["obs_ci_upper"],
            color="#f5b7b1",
            alpha=0.5,
            label=f"{100 * evidence.settings.confidence:g}% prediction",
        )
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
        ax.scatter(
            published["n_layers"],
            published["gain"],
            s=4,
            color=ELEUTHER_COLOUR,
            alpha=0.5,
            label="Pythia blocks (PFS, R1)",
        )
    except NotApplicable:
        pass
    bound = 10 ** (1 / model.n_layers)
    colours = np.where(blocks["gain"] > bound, "#b03a2e", "#1e7b34")
    ax.scatter(
        np.full(len(blocks), model.n_layers), blocks["gain"], marker="_", s=60, c=colours, label=f"{model.model} blocks"
    )
    ax.set_yscale("log")
    ax.set_ylim(top=max(ax.get_ylim()[1], 3 * blocks["gain"].max()))
    ax.set_xlabel("depth L")
    ax.set_ylabel("block gain x_b / x_(b-1)")
    ax.legend(fontsize=6, frameon=False, loc="upper right")
    return fig


def total_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    ax.axhspan(
        TOTAL_GAIN / TOTAL_TOLERANCE,
        TOTAL_GAIN * TOTAL_TOLERANCE,
        color="#d5f5e3",
        label="10 / sqrt(10) .. 10 sqrt(10)",
    )
    ax.axhline(TOTAL_GAIN, color="black", lw=0.8)
    try:
        published = evidence.total_gains
        ax.scatter(
            published["n_layers"],
            published["total_gain"],
            s=12,
            c=_lab_colours(published["lab"]),
            label="published (R2)",
        )
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
    grid = np.linspace(
        min(data["log_ratio"].min(), np.log10(ratio)) - 0.2, max(data["log_ratio"].max(), np.log10(ratio)) + 0.2, 100
    )
    curve = evidence.signature_classifier.get_prediction(pd.DataFrame({"log_ratio": grid})).summary_frame(
        alpha=evidence.alpha
    )
    ax.fill_between(10**grid, curve["mean_ci_lower"], curve["mean_ci_upper"], color="#d6eaf8")
    ax.plot(10**grid, curve["mean"], color="#2471a3", lw=1, label="logistic fit, P(dampen)")
    ax.scatter(data["ratio"], data["dampens"], s=12, c=_lab_colours(data["lab"]))
    ax.axvline(ratio, color=MODEL_COLOUR, lw=1, label=f"{model.model}: {ratio:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("||W_V|| / ||W_O||")
    ax.set_ylabel("dampens (published: 1 / 0)")
    ax.legend(fontsize=6, frameon=False)
    return fig


def final_norm_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    table = evidence.final_norm
    ax.scatter(table["without_norm"], table["with_norm"], s=12, c=_lab_colours(table["lab"]))
    ax.scatter(
        [model.summary(R1_GAIN).mean],
        [model.summary(R1_WITH_NORM).mean],
        marker="*",
        s=80,
        color=MODEL_COLOUR,
        label=model.model,
        zorder=5,
    )
    ax.axvline(1, color="#999999", lw=0.5, ls=":")
    ax.axhline(1, color="#999999", lw=0.5, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("R1 gain without the final norm")
    ax.set_ylabel("with the final norm")
    ax.legend(fontsize=6, frameon=False)
    return fig


def lstar_figure(model: ModelData, rows: pd.DataFrame, evidence: Evidence):
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    for data, label, marker in (
        (evidence.lstar_calibration, "H4V2 (calibration)", "o"),
        (evidence.lstar_cross, "LSC (cross-heritage)", "s"),
    ):
        ax.scatter(
            data["formula"] / data["n_layers"],
            data["l_star"] / data["n_layers"],
            s=12,
            marker=marker,
            c=_lab_colours(data["lab"]),
        )
        ax.scatter([], [], s=12, marker=marker, facecolor="none", edgecolor="black", label=label)
    row = rows.loc["lstar_formula"]
    scaled = row[["measured", "measured_low", "measured_high"]].astype(float) / model.n_layers
    ax.errorbar(
        [row["predicted"] / model.n_layers],
        [scaled["measured"]],
        yerr=[[scaled["measured"] - scaled["measured_low"]], [scaled["measured_high"] - scaled["measured"]]],
        fmt="*",
        ms=9,
        color=MODEL_COLOUR,
        label=model.model,
        zorder=5,
    )
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
    ax.scatter(pairs["base"], pairs["instruct"], s=12, color=OTHER_COLOUR, label="published pairs (TWN)")
    row = rows.loc["twin_sign"]
    if not math.isnan(row["predicted"]) and not math.isnan(row["measured"]):
        ax.scatter([row["predicted"]], [row["measured"]], marker="*", s=80, color=MODEL_COLOUR, label=model.model)
    top = max(2.5, np.nanmax([row["predicted"], row["measured"], pairs[["base", "instruct"]].max().max()]))
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
    return text[text.index("<svg") :]


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
CARD_HEADERS = ["law", "convention", "predicted", "interval", "measured", "verdict"]
SHIFT_HEADERS = ["claim", "statistic", "published", COMBINED_PANEL, "p", "verdict", "took in"]


def card_table_rows(rows: pd.DataFrame) -> list[list[str]]:
    return [
        [
            r["law"],
            r["convention"],
            predicted_text(r),
            interval(r["pi_low"], r["pi_high"]),
            measured_text(r),
            r["consistent"],
        ]
        for _, r in rows.iterrows()
    ]


def shift_table_rows(shift: pd.DataFrame) -> list[list[str]]:
    out = []
    for _, r in shift.iterrows():

        def moved(a, b, digits=4):
            a, b = number(a, digits), number(b, digits)
            return a if a == b else f"{a} -> {b}"

        verdict = (
            r["published_holds"]
            if r["published_holds"] == r["combined_holds"]
            else f"{r['published_holds']} -> {r['combined_holds']}"
        )
        out.append(
            [
                r["claim_id"],
                r["statistic"],
                number(r["published_value"], 4),
                number(r["combined_value"], 4),
                moved(r["published_p"], r["combined_p"], 3),
                verdict,
                r["joined"] or "",
            ]
        )
    return out


def describe_model(model: ModelData) -> str:
    params = model.fact("n_params")
    size = f", {params / 1e6:.0f}M parameters" if params else ""
    return (
        f"{model.fact('lab') or 'unknown lab'}, {model.fact('family')}, L = {model.n_layers}, "
        f"H = {model.fact('n_heads')}, rho = {number(model.fact('rho'), 4)}{size}; "
        f"prompt set {model.prompt_set or 'none'}"
    )


def verdict_counts(rows: pd.DataFrame) -> str:
    counts = rows["consistent"].value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in CARD_VERDICTS if v in counts)


def _document(
    sources: Mapping[str, Source],
    card: pd.DataFrame,
    shift: pd.DataFrame,
    settings: Settings,
    panel_models: pd.DataFrame | None = None,
) -> list[tuple]:
    """The card as blocks: ("h1"|"h2"|"p", text), ("table", headers, rows), ("ol", items),
    ("figures", model, [(stem, caption, svg, why)])."""
    evidence = Evidence(sources["published"], settings)
    models = list(dict.fromkeys(card["model"]))
    blocks: list[tuple] = [
        ("h1", f"Claim card: {', '.join(models)}"),
        ("p", INTRODUCTION.format(confidence=100 * settings.confidence)),
    ]
    if not sources["published"].available:
        blocks.append(("p", NO_PUBLISHED))
    for model in models:
        rows = card[card["model"] == model].set_index("claim_id", drop=False)
        data = ModelData(
            find_model(sources, model),
            model,
            settings.confidence,
            rows["prompt_set"].dropna().iloc[0] if rows["prompt_set"].notna().any() else None,
        )
        blocks += [
            ("h2", model),
            ("p", f"{describe_model(data)}. {verdict_counts(rows)}."),
            ("table", CARD_HEADERS, card_table_rows(rows)),
            ("ol", [f"{r['claim_id']} ({r['consistent']}): {r['note']}" for _, r in rows.iterrows()]),
            ("figures", model, model_figures(data, rows, evidence)),
        ]
    blocks.append(("h2", f"How the panel claims move: published vs {COMBINED_PANEL}"))
    if shift.empty:
        blocks.append(("p", "Not computed: the published data are not imported."))
    else:
        moved = int(shift["moved"].sum())
        summary = (
            f"Every claim of the registry re-run on the published panel and on the published panel with "
            f"these models added in the matching convention ({COMBINED_PANEL}); {moved} of {len(shift)} "
            "claims move."
        )
        blocks += [
            ("p", join(summary, panel_models_text(panel_models), sep=" ")),
            ("table", SHIFT_HEADERS, shift_table_rows(shift)),
            ("ol", [f"{r['claim_id']}: {r['note']}" for _, r in shift.iterrows() if r["note"]]),
        ]
    return blocks


def render_markdown(blocks: list[tuple], figure_dir: str = "figures") -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            out.append(f"{'#' * int(kind[1])} {block[1]}")
        elif kind == "p":
            out.append(block[1])
        elif kind == "table":
            out.append(pipe_table(block[1], block[2]))
        elif kind == "ol":
            out.append("\n".join(f"{i}. {md_cell(item)}" for i, item in enumerate(block[1], 1)))
        elif kind == "figures":
            out.append(
                "\n".join(
                    f"![{caption}]({figure_dir}/{figure_name(block[1], stem)}.svg)"
                    if image
                    else f"*{caption}: not drawn ({why})*"
                    for stem, caption, image, why in block[2]
                )
            )
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
                body.append(f'<tr>{cells}<td class="{css}">{last}</td></tr>')
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
        elif kind == "ol":
            out.append("<ol>" + "".join(f"<li>{html.escape(item)}</li>" for item in block[1]) + "</ol>")
        elif kind == "figures":
            out.append(
                "<div>"
                + "".join(
                    f"<figure>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"
                    if image
                    else f"<figure><figcaption>{html.escape(caption)}: not drawn ({html.escape(why)})"
                    "</figcaption></figure>"
                    for stem, caption, image, why in block[2]
                )
                + "</div>"
            )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n"
    )


def figure_name(model: str, stem: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}-{stem}"


def write_card(
    sources: Mapping[str, Source],
    card: pd.DataFrame,
    shift: pd.DataFrame,
    out_dir: Path,
    settings: Settings,
    panel_models: pd.DataFrame | None = None,
) -> dict[str, Path]:
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


def retest(
    sources: Mapping[str, Source],
    models: Iterable[str],
    settings: Settings,
    out_dir: Path,
    *,
    prompt_set: str | None = None,
    twin_of: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """The claim card of ``models`` and the panel shift, written into ``out_dir`` (see ``write_card``);
    ``prompt_set`` and ``twin_of`` as in ``analysis.retest.claim_card``."""
    models = list(models)
    card = claim_card(sources, models, settings, prompt_set=prompt_set, twin_of=twin_of)
    shift, panel_models = shift_and_joined(sources, models, settings, prompt_set=prompt_set, twin_of=twin_of)
    return write_card(sources, card, shift, out_dir, settings, panel_models)
