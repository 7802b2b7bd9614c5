"""The report's figures, drawn from the tidy tables in data/derived/ (one function per figure).

Every figure draws one panel per data source that has data (the authors' published data, our
pretrained models, the random-init controls); a source without data gets no empty panel but a line
of text under the figure saying what is missing. Points are labelled with their model, per-layer
data are heat maps with one labelled row per model, log axes carry at least three labelled ticks,
and lab colours are the same in every figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from adjustText import adjust_text
from matplotlib.colors import LogNorm, TwoSlopeNorm
from matplotlib.gridspec import GridSpec
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from report.numbers import MINUS, is_missing, number
from report.refs import Claims, paper_number

# Relative to the document's directory (report/), where Quarto and the fallback renderer run cells.
DERIVED = Path("..") / "data" / "derived"
SOURCES = {
    "published": "authors' published data",
    "measured": "our pretrained models",
    "controls": "random-init controls",
}
LAB_COLOURS = {
    "EleutherAI": "#c0392b",
    "Meta": "#2471a3",
    "BigScience": "#239b56",
    "OpenAI": "#7d3c98",
    "Google": "#d68910",
    "Mistral AI": "#17a589",
    "TII": "#7f8c8d",
    "StabilityAI": "#a04000",
    "Swiss AI": "#34495e",
    "Hugging Face": "#b7950b",
}
VERDICT_COLOURS = {"holds": "#1e7b34", "fails": "#b3261e", "inconclusive": "#6b6b6b", "error": "#000000"}
TEXT_WIDTH = 6.5  # inches


def load(name: str) -> pd.DataFrame:
    """A figure table from data/derived (empty if the analysis did not write it)."""
    path = DERIVED / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=["source"])


def colour(lab: str) -> str:
    return LAB_COLOURS.get(lab, "#555555")


def short(model: str) -> str:
    return model.removesuffix("-random-init")


def present(table: pd.DataFrame, sources=tuple(SOURCES)) -> tuple[list[str], list[str]]:
    """The sources with rows in ``table``, and those without."""
    have = set(table["source"]) if len(table) else set()
    return [s for s in sources if s in have], [s for s in sources if s not in have]


def message(text: str, height: float = 0.8):
    """A figure that says in words what is missing (on an invisible axes, so that it is drawn)."""
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH, height))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, transform=ax.transAxes)
    return fig


def note_missing(fig, missing: list[str], what: str) -> float:
    """Say under the figure which sources have no panel and why; return the height it takes (figure fraction)."""
    if not missing:
        return 0.0
    names = " and ".join(SOURCES[source] for source in missing)
    fig.text(0.01, 0.005, f"No panel for the {names}: {what}.", fontsize=7, color="#444444", va="bottom")
    return 0.04


def lab_legend(fig, labs, bottom: float, extra=()) -> float:
    """The lab colours (and ``extra`` handles) in rows of four under the panels; return the new bottom."""
    labs = sorted(set(labs))
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour(lab), label=lab) for lab in labs] + list(extra)
    if not handles:
        return bottom
    ncol = min(len(handles), 4)
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=7, frameon=False, bbox_to_anchor=(0.5, bottom))
    rows = -(-len(handles) // ncol)
    return bottom + (0.035 * rows + 0.01) * 6 / fig.get_figheight()


def log_axis(ax, axis: str = "y") -> None:
    """A log scale with at least three labelled ticks inside the data range (call after drawing)."""
    getattr(ax, f"set_{axis}scale")("log")
    target = getattr(ax, f"{axis}axis")
    ax.autoscale_view()
    low, high = getattr(ax, f"get_{axis}lim")()
    plain = FuncFormatter(lambda value, _: number(value, 3) if value < 1000 else f"{value:,.0f}")
    for locator in (
        LogLocator(base=10, subs=(1.0,)),
        LogLocator(base=10, subs=(1.0, 2.0, 5.0)),
        LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)),
        MaxNLocator(3),
    ):
        ticks = [t for t in locator.tick_values(low, high) if low <= t <= high and t > 0]
        if len(ticks) >= 3:
            break
    target.set_major_locator(locator)
    target.set_major_formatter(plain)
    target.set_minor_formatter(NullFormatter())


def label_points(ax, xs, ys, labels, fontsize: float = 5.5) -> None:
    """Label every point with its model, moving labels apart so that none overlap."""
    texts = [ax.text(x, y, short(label), fontsize=fontsize, color="#333333") for x, y, label in zip(xs, ys, labels)]
    if texts:
        adjust_text(
            texts,
            x=list(xs),
            y=list(ys),
            ax=ax,
            expand=(1.1, 1.3),
            arrowprops={"arrowstyle": "-", "color": "#aaaaaa", "lw": 0.4},
        )


# --- the claims -----------------------------------------------------------------------------------

# How each kind of value is drawn in the forest figure: panel title, axis ("linear", "percent", "log"), fixed
# limits (None: from the data) and the line of no effect. Kinds not listed are not effects (counts, p-values,
# numerical checks, other quantities): the report lists them in a table instead (``not_drawn``).
FOREST_AXES = {
    "correlation": ("correlations", "linear", (-1.0, 1.0), 0.0),
    "slope": ("slopes (gain per layer)", "linear", None, 0.0),
    "difference": ("differences of mean gains", "linear", None, 0.0),
    "ratio": ("ratios and gains (log scale)", "log", None, 1.0),
    "proportion": ("shares and relative changes", "percent", (0.0, 1.0), None),
    "proportion_difference": ("differences of shares (percentage points)", "points", (-1.0, 1.0), 0.0),
    "accuracy": ("accuracies", "percent", (0.0, 1.0), None),
    "auc": ("AUCs (one half: chance)", "linear", (0.0, 1.0), 0.5),
}
FIXED_TICKS = 5  # ticks of a fixed axis: its ends, its middle and the quarters
PAPER_COLOUR = "#b8860b"


def drawn_kinds(C: Claims) -> dict[str, list[str]]:
    """The claims of each drawn kind, in the registry's order (kinds in FOREST_AXES' order, those present)."""
    kinds = {claim_id: C.row(claim_id, "published")["kind"] for claim_id in C.ids}
    return {
        kind: [c for c, k in kinds.items() if k == kind]
        for kind in FOREST_AXES
        if any(k == kind for k in kinds.values())
    }


def comparable_printed(row) -> tuple[float, float] | None:
    """The printed value as (low, high) where the analysis compared it with the recomputed value (the printed
    value reproduces or not), so that the two are the same statistic; None otherwise."""
    return paper_number(row["paper_value"]) if row["reproduces"] in ("yes", "no") else None


def _limits(kind: str, rows: list) -> tuple[float, float]:
    _, axis, fixed, null = FOREST_AXES[kind]
    values = [
        v for row in rows for v in (row["value"], row["ci_low"], row["ci_high"]) if not is_missing(v) and np.isfinite(v)
    ]
    values += [v for row in rows for v in (comparable_printed(row) or ())]
    if fixed:
        return fixed
    if axis == "log":
        positive = [v for v in values + [null] if v > 0]
        return min(positive) / 1.6, max(positive) * 1.6
    reach = max([abs(v - null) for v in values] + [1e-9]) * 1.15
    return null - reach, null + reach


def _tick_text(kind: str):
    axis = FOREST_AXES[kind][1]
    if axis == "percent":
        return FuncFormatter(lambda v, _: f"{v * 100:.0f}%")
    if axis == "points":
        return FuncFormatter(lambda v, _: f"{v * 100:+.0f}".replace("-", MINUS).replace("+0", "0"))
    return FuncFormatter(lambda v, _: f"{v:,.0f}".replace("-", MINUS) if float(v).is_integer() else number(v, 2))


def forest(C: Claims):
    """Every claim's recomputed value on the authors' data (dot, with its CI) against the paper's printed value
    (diamond, or a band for a printed range), grouped by the kind of number the value is: one panel and one
    shared axis per kind (correlations on [-1, 1], shares on [0, 100%], ratios on a log axis ...), so that rows
    of a panel compare. The printed value is drawn only where it is the same statistic (the analysis compared
    the two). Counts, p-values and numerical checks are not effects: ``not_drawn`` lists them."""
    if not C.source_has_data("published"):
        return message(
            "The authors' data were not available when this report was built:\n"
            "no recomputed value to set against the paper's."
        )
    groups = drawn_kinds(C)
    heights = [len(ids) + 1.6 for ids in groups.values()]
    fig = plt.figure(figsize=(TEXT_WIDTH, 0.155 * sum(heights) + 0.6), layout="constrained")
    grid = fig.add_gridspec(len(groups), 1, height_ratios=heights)
    for i, (kind, ids) in enumerate(groups.items()):
        title, axis, _, null = FOREST_AXES[kind]
        ax = fig.add_subplot(grid[i, 0])
        rows = [C.row(claim_id, "published") for claim_id in ids]
        low, high = _limits(kind, rows)
        if axis == "log":
            ax.set_xscale("log")
        margin = 0.02 * (high - low) if axis != "log" else 0
        ax.set_xlim(low - margin, high + margin)
        if null is not None:
            ax.axvline(null, color="#999999", lw=0.6, ls=":", zorder=0)
        for y, row in enumerate(rows):
            ax.axhline(y, color="#eeeeee", lw=0.5, zorder=0)
            printed = comparable_printed(row)
            if printed and printed[0] != printed[1]:
                ax.fill_betweenx([y - 0.3, y + 0.3], *printed, color="#f0c987", lw=0, zorder=1)
            elif printed:
                ax.plot(printed[0], y, marker="D", ms=5, mfc="none", mec=PAPER_COLOUR, mew=1, zorder=3)
            if is_missing(row["value"]):
                ax.text(
                    0.5,
                    y,
                    "not computable on the authors' data",
                    transform=ax.get_yaxis_transform(),
                    fontsize=6,
                    color="#777777",
                    ha="center",
                    va="center",
                )
                continue
            colour = VERDICT_COLOURS[row["holds"]]
            ends = [row["ci_low"], row["ci_high"]]
            if not any(is_missing(v) or not np.isfinite(v) for v in ends):
                ax.plot(np.clip(ends, low, high), [y, y], color=colour, lw=1.4, zorder=2)
            ax.plot(row["value"], y, marker="o", ms=4, color=colour, zorder=4)
        ax.set_yticks(range(len(ids)), ids, fontsize=6)
        ax.set_ylim(len(ids) - 0.5, -0.7)
        ax.tick_params(axis="y", length=0)
        ax.tick_params(axis="x", labelsize=6, pad=1)
        if axis == "log":
            log_axis(ax, "x")
            ax.set_xlim(low, high)
        elif fixed_axis(kind):
            ax.set_xticks(np.linspace(low, high, FIXED_TICKS))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(7, symmetric=True))
        ax.xaxis.set_major_formatter(_tick_text(kind))
        ax.set_title(title, fontsize=7, loc="left", pad=2)
        ax.spines[["left"]].set_visible(False)
    handles = [
        plt.Line2D([], [], marker="o", ls="-", color=VERDICT_COLOURS[v], label=v)
        for v in ("holds", "fails", "inconclusive")
    ]
    handles += [
        plt.Line2D([], [], marker="D", ls="", mfc="none", mec=PAPER_COLOUR, label="paper's value"),
        plt.Rectangle((0, 0), 1, 1, color="#f0c987", label="paper's range"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=6.5, frameon=False)
    fig.get_layout_engine().set(h_pad=0.02, hspace=0.02)
    return fig


def fixed_axis(kind: str) -> bool:
    return FOREST_AXES[kind][2] is not None


# --- one panel per source -------------------------------------------------------------------------


def side_by_side(
    table: pd.DataFrame,
    draw,
    what_missing: str,
    height: float,
    widths=None,
    sharey=False,
    legend: bool = True,
    extra_legend=(),
):
    """Panels side by side, one per source with data; ``draw(ax, rows)`` fills one."""
    have, missing = present(table)
    if not have:
        return message(f"No data in any source: {what_missing}.")
    fig = plt.figure(figsize=(TEXT_WIDTH, height))
    ratios = [widths(table[table["source"] == s]) for s in have] if widths else [1] * len(have)
    grid = GridSpec(1, len(have), figure=fig, width_ratios=ratios)
    axes = []
    for i, source in enumerate(have):
        ax = fig.add_subplot(grid[0, i], sharey=axes[0] if sharey and axes else None)
        ax.set_title(SOURCES[source], fontsize=8)
        draw(ax, table[table["source"] == source])
        axes.append(ax)
    bottom = note_missing(fig, missing, what_missing)
    if legend:
        bottom = lab_legend(fig, table["lab"].dropna() if "lab" in table else [], bottom, extra_legend)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def top_and_below(table: pd.DataFrame, draw, what_missing: str, height: float):
    """The first source with data across the full width, the others side by side below it."""
    have, missing = present(table)
    if not have:
        return message(f"No data in any source: {what_missing}.")
    fig = plt.figure(figsize=(TEXT_WIDTH, height))
    below = have[1:]
    grid = GridSpec(2 if below else 1, max(len(below), 1), figure=fig, height_ratios=[1.2, 1] if below else None)
    panels = [(have[0], grid[0, :])] + [(source, grid[1, i]) for i, source in enumerate(below)]
    for source, spec in panels:
        ax = fig.add_subplot(spec)
        ax.set_title(SOURCES[source], fontsize=8)
        draw(ax, table[table["source"] == source])
    bottom = note_missing(fig, missing, what_missing)
    bottom = lab_legend(fig, table["lab"].dropna() if "lab" in table else [], bottom)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def kleiber():
    """Mean gain per model against depth L, with the largest block gain and the bound 10^(1/L)."""
    gains, layers = load("model_gains"), load("layer_gains")
    gains = gains[
        ((gains["source"] == "published") & (gains["convention"] == "R1"))
        | ((gains["source"] != "published") & (gains["convention"] == "canonical"))
    ]
    gains = gains.drop_duplicates(["source", "model"])
    peaks = (
        layers[layers["layer"] >= 1]
        .groupby(["source", "model"], as_index=False)
        .agg(peak=("gain", "max"), n_layers=("n_layers", "first"), lab=("lab", "first"))
    )

    def draw(ax, rows):
        depth = np.linspace(max(2, rows["n_layers"].min() - 2), rows["n_layers"].max() + 4, 200)
        ax.plot(depth, 10 ** (1 / depth), color="black", lw=1, label="bound $10^{1/L}$")
        ax.axhline(1, color="#999999", lw=0.6, ls=":")
        for _, r in rows.iterrows():
            ax.errorbar(
                r["n_layers"],
                r["gain"],
                yerr=[[r["gain"] - r["ci_low"]], [r["ci_high"] - r["gain"]]],
                fmt="o",
                ms=3.5,
                color=colour(r["lab"]),
                elinewidth=0.8,
            )
        peak = peaks[peaks["source"] == rows["source"].iloc[0]]
        ax.scatter(
            peak["n_layers"],
            peak["peak"],
            marker="x",
            s=12,
            c=[colour(lab) for lab in peak["lab"]],
            label="largest block gain",
        )
        log_axis(ax, "y")
        label_points(ax, rows["n_layers"], rows["gain"], rows["model"])
        ax.set_xlabel("depth L (blocks)", fontsize=7)
        ax.set_ylabel("gain", fontsize=7)
        ax.legend(fontsize=6, loc="upper right", frameon=False)

    return top_and_below(gains, draw, "no model gains", height=5.4)


def lab_means():
    """Mean gain per lab with bootstrap CIs over models (the paper's Fig. 2)."""
    table = load("lab_means")

    def draw(ax, rows):
        rows = rows.sort_values("gain")
        y = np.arange(len(rows))
        for yi, (_, r) in zip(y, rows.iterrows()):
            err = None if is_missing(r["ci_low"]) else [[r["gain"] - r["ci_low"]], [r["ci_high"] - r["gain"]]]
            ax.errorbar(r["gain"], yi, xerr=err, fmt="o", color=colour(r["lab"]), ms=4)
        ax.set_yticks(y, [f"{lab} ({n})" for lab, n in zip(rows["lab"], rows["n_models"])], fontsize=6.5)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.axvline(1, color="#999999", lw=0.6, ls=":")
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.tick_params(axis="x", labelsize=6.5)
        ax.set_xlabel("mean gain of the lab's models", fontsize=7)

    return side_by_side(table, draw, "no lab means", height=2.4, legend=False)


def spectral():
    """Mean ||W_V||_2 against mean ||W_O||_2 per model (the 'spectral signature')."""
    norms = load("head_norms")
    per_model = norms.groupby(["source", "model"], as_index=False).agg(
        wv=("wv_spectral", "mean"), wo=("wo_spectral", "mean"), lab=("lab", "first")
    )

    def draw(ax, rows):
        ax.scatter(rows["wo"], rows["wv"], c=[colour(lab) for lab in rows["lab"]], s=14)
        log_axis(ax, "x")
        log_axis(ax, "y")
        label_points(ax, rows["wo"], rows["wv"], rows["model"])
        ax.set_xlabel("mean spectral norm of $W_O$", fontsize=7)
        ax.set_ylabel("mean spectral norm of $W_V$", fontsize=7)

    return top_and_below(per_model, draw, "no weight norms", height=5.4)


# --- per-layer heat maps --------------------------------------------------------------------------


def layer_heatmap(table: pd.DataFrame, value: str, label: str, what_missing: str, diverging: bool = False):
    """One heat map per source: a row per model (grouped by lab), colour = ``value`` per layer.

    ``diverging``: a gain, coloured on a log scale centred at one (blue dampens, red expands);
    otherwise a positive quantity on a log colour scale. Each panel's colour scale spans the 2nd to
    98th percentiles of its blocks after the first (the first block's gain over the embedding is
    often far larger); values beyond it take the end colours.
    """
    table = table.dropna(subset=[value, "layer"]) if len(table) else table
    table = table[table[value] > 0] if len(table) else table
    have, missing = present(table)
    counts = [table.loc[table["source"] == s, "model"].nunique() for s in have]
    if not have:
        return message(f"No data in any source: {what_missing}.")
    fig = plt.figure(figsize=(TEXT_WIDTH, 0.115 * sum(counts) + 0.75 * len(have) + 0.5))
    grid = GridSpec(len(have), 2, figure=fig, height_ratios=[c + 3 for c in counts], width_ratios=[1, 0.025])
    for i, source in enumerate(have):
        rows = table[table["source"] == source]
        order = rows.groupby("model").agg(lab=("lab", "first"), n=("n_layers", "first")).sort_values(["lab", "n"])
        after_first = rows.loc[rows["layer"] >= 1, value]
        values = np.log10(after_first) if diverging else after_first
        low, high = np.percentile(values if len(values) else [1e-3, 1], [2, 98])
        if diverging:
            bound = max(abs(low), abs(high), 1e-4)
            norm, cmap = TwoSlopeNorm(vcenter=0, vmin=-bound, vmax=bound), "RdBu_r"
        else:
            norm, cmap = LogNorm(vmin=low, vmax=max(high, low * 1.01)), "viridis"
        ax = fig.add_subplot(grid[i, 0])
        mesh = None
        for y, model in enumerate(order.index):
            group = rows[rows["model"] == model].sort_values("layer")
            shown = np.log10(group[value].to_numpy()) if diverging else group[value].to_numpy()
            edges = np.linspace(0, 1, len(group) + 1)
            mesh = ax.pcolormesh(edges, [y, y + 1], shown[None, :], norm=norm, cmap=cmap, rasterized=False)
        ax.set_yticks(np.arange(len(order)) + 0.5, [short(m) for m in order.index], fontsize=5.5)
        for tick, lab in zip(ax.get_yticklabels(), order["lab"]):
            tick.set_color(colour(lab))
        ax.set_ylim(len(order), 0)
        ax.set_xlim(0, 1)
        ax.tick_params(axis="x", labelsize=6)
        ax.tick_params(axis="y", length=0)
        ax.set_title(SOURCES[source], fontsize=8)
        if i == len(have) - 1:
            ax.set_xlabel("relative depth (first block at left, last at right)", fontsize=7)
        bar = fig.colorbar(mesh, cax=fig.add_subplot(grid[i, 1]), extend="both")
        bar.ax.tick_params(labelsize=5.5)
        if diverging:
            bar.formatter = FuncFormatter(lambda v, _: number(10**v, 3))
            bar.update_ticks()
        bar.set_label(label, fontsize=6)
    bottom = note_missing(fig, missing, what_missing)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def layer_dynamics():
    """Gain of every block against relative depth."""
    return layer_heatmap(load("layer_gains"), "gain", "block gain", "no per-layer gains", diverging=True)


def trace_proxy():
    """The 'trace proxy' ||W_V^h||_2^2 (mean over heads) against relative depth."""
    return layer_heatmap(
        load("head_norms"),
        "wv_spectral_sq",
        "mean squared spectral norm of $W_V^h$",
        "the authors stored no per-layer W_V norms",
    )


def traces():
    """Multi-head sheaf trace sum_h (T - tr A_h) ||W_V^h||_F^2 per layer."""
    return layer_heatmap(load("trace_layers"), "trace_multihead", "multi-head trace", "no attention measurements")


# --- prompts and conventions ----------------------------------------------------------------------


def input_robustness():
    """Per-prompt gains of each model (dots) and their mean (bar)."""
    gains = load("prompt_gains")
    gains = gains[(gains["source"] != "published") | (gains["convention"] == "R1")]

    def draw(ax, rows):
        order = rows.groupby("model")["gain"].mean().sort_values().index
        for x, model in enumerate(order):
            values = rows.loc[rows["model"] == model, "gain"]
            lab = rows.loc[rows["model"] == model, "lab"].iloc[0]
            jitter = np.random.default_rng(x).uniform(-0.15, 0.15, len(values))
            ax.scatter(x + jitter, values, s=3, color=colour(lab), alpha=0.6)
            ax.hlines(values.mean(), x - 0.3, x + 0.3, color="black", lw=1)
        ax.axhline(1, color="#999999", lw=0.6, ls=":")
        ax.set_xticks(range(len(order)), [short(m) for m in order], rotation=90, fontsize=5.5)
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.tick_params(axis="y", labelsize=6)
        ax.set_ylabel("gain per prompt", fontsize=7)

    return side_by_side(gains, draw, "no per-prompt gains", height=3.6, widths=lambda rows: rows["model"].nunique() + 2)


def conventions():
    """The same models' mean gain under conventions R1, R2 and R3 (models with two or more)."""
    table = load("conventions")
    if len(table):
        counts = table.groupby(["source", "model"])["convention"].transform("nunique")
        table = table[counts >= 2]
    markers = {"R1": "o", "R2": "s", "R3": "^"}

    def draw(ax, rows):
        models = sorted(rows["model"].unique())
        for y, model in enumerate(models):
            for _, r in rows[rows["model"] == model].iterrows():
                ax.scatter(
                    r["gain"],
                    y,
                    marker=markers[r["convention"]],
                    color=colour(r["lab"]),
                    s=14,
                    facecolors="none" if r["convention"] == "R1" else colour(r["lab"]),
                )
        ax.set_yticks(range(len(models)), [short(m) for m in models], fontsize=5.5)
        ax.set_ylim(len(models) - 0.5, -0.5)
        ax.axvline(1, color="#999999", lw=0.6, ls=":")
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.tick_params(axis="x", labelsize=6)
        ax.set_xlabel("mean gain", fontsize=7)

    handles = [
        plt.Line2D([], [], marker=m, ls="", color="#444444", mfc="none" if c == "R1" else "#444444", label=c)
        for c, m in markers.items()
    ]
    n_rows = table.groupby("source")["model"].nunique().max() if len(table) else 1
    return side_by_side(table, draw, "no model has two conventions", height=0.14 * n_rows + 1.8, extra_legend=handles)
