"""The report's figures, drawn from the tidy tables in data/derived/ (one function per figure).

Each function draws one panel per data source that has data (published, our pretrained models,
random-init controls) and writes what is missing into an empty panel instead of failing.
Colours are fixed per lab so the same lab looks the same in every figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

# Relative to the document's directory (report/), where Quarto and the fallback renderer run cells.
DERIVED = Path("..") / "data" / "derived"
SOURCES = {"published": "authors' published data", "measured": "our pretrained models",
           "controls": "random-init controls"}
LAB_COLOURS = {"EleutherAI": "#c0392b", "Meta": "#2471a3", "BigScience": "#239b56", "OpenAI": "#7d3c98",
               "Google": "#d68910", "Mistral AI": "#17a589", "TII": "#7f8c8d", "StabilityAI": "#a04000",
               "Swiss AI": "#34495e", "Hugging Face": "#b7950b"}


def load(name: str) -> pd.DataFrame:
    """A figure table from data/derived (empty if the analysis did not write it)."""
    path = DERIVED / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=["source"])


def colour(lab: str) -> str:
    return LAB_COLOURS.get(lab, "#555555")


def panels(n: int, width: float = 6.5, height: float = 3.2, sharey: bool = False):
    fig, axes = plt.subplots(1, n, figsize=(width, height), sharey=sharey, squeeze=False)
    return fig, list(axes[0])


def log_axis(ax, axis: str = "y") -> None:
    """A log scale labelled with plain numbers at the major ticks only."""
    getattr(ax, f"set_{axis}scale")("log")
    target = getattr(ax, f"{axis}axis")
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(ScalarFormatter())
    target.set_minor_formatter(NullFormatter())


def empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=8, color="#666666",
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def lab_legend(fig, labs) -> None:
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour(lab), label=lab) for lab in sorted(set(labs))]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=7, frameon=False)


def by_source(table: pd.DataFrame, draw, sources=tuple(SOURCES), width: float = 6.5, height: float = 3.2,
              missing: str = "no data", sharey: bool = False):
    """One panel per source; ``draw(ax, rows)`` fills a panel, an empty source says what is missing."""
    fig, axes = panels(len(sources), width, height, sharey)
    for ax, source in zip(axes, sources):
        rows = table[table["source"] == source] if len(table) else table
        ax.set_title(SOURCES[source], fontsize=9)
        if rows.empty:
            empty(ax, f"{missing}\n({SOURCES[source]})")
        else:
            draw(ax, rows)
    labs = table["lab"].dropna() if "lab" in table else []
    if len(labs):
        lab_legend(fig, labs)
    fig.tight_layout(rect=(0, 0.08 if len(labs) else 0, 1, 1))
    return fig


def kleiber():
    """Mean gain per model against depth L, with the largest block gain and the bound 10^(1/L)."""
    gains, layers = load("model_gains"), load("layer_gains")
    gains = gains[((gains["source"] == "published") & (gains["convention"] == "R1"))
                  | ((gains["source"] != "published") & (gains["convention"] == "canonical"))]
    gains = gains.drop_duplicates(["source", "model"])
    peaks = layers[layers["layer"] >= 1].groupby(["source", "model"], as_index=False).agg(
        peak=("gain", "max"), n_layers=("n_layers", "first"), lab=("lab", "first"))

    def draw(ax, rows):
        depth = np.linspace(4, max(50, rows["n_layers"].max()), 200)
        ax.plot(depth, 10 ** (1 / depth), color="black", lw=1, label="$G_{max} = 10^{1/L}$")
        ax.axhline(1, color="#999999", lw=0.6, ls=":")
        for _, r in rows.iterrows():
            ax.errorbar(r["n_layers"], r["gain"], yerr=[[r["gain"] - r["ci_low"]], [r["ci_high"] - r["gain"]]],
                        fmt="o", ms=4, color=colour(r["lab"]), elinewidth=0.8)
        peak = peaks[peaks["source"] == rows["source"].iloc[0]]
        ax.scatter(peak["n_layers"], peak["peak"], marker="x", s=14, c=[colour(lab) for lab in peak["lab"]])
        ax.set_xlabel("depth L (blocks)")
        ax.set_ylabel("gain (o: mean; x: largest block)")
        ax.legend(fontsize=7, loc="upper right", frameon=False)

    return by_source(gains, draw, height=3.4)


def lab_means():
    """Mean gain per lab with bootstrap CIs over models (the paper's Fig. 2)."""
    table = load("lab_means")

    def draw(ax, rows):
        rows = rows.sort_values("gain")
        y = np.arange(len(rows))
        low = (rows["gain"] - rows["ci_low"]).fillna(0)
        high = (rows["ci_high"] - rows["gain"]).fillna(0)
        for yi, (_, r), lo, hi in zip(y, rows.iterrows(), low, high):
            ax.errorbar(r["gain"], yi, xerr=[[lo], [hi]], fmt="o", color=colour(r["lab"]), ms=5)
        ax.set_yticks(y, [f"{lab} ({n})" for lab, n in zip(rows["lab"], rows["n_models"])], fontsize=7)
        ax.axvline(1, color="#999999", lw=0.6, ls=":")
        ax.set_xlabel("mean gain (models)")

    return by_source(table, draw, height=3.0)


def spectral():
    """Mean ||W_V||_2 against mean ||W_O||_2 per model (the 'spectral signature')."""
    norms = load("head_norms")
    per_model = norms.groupby(["source", "model"], as_index=False).agg(
        wv=("wv_spectral", "mean"), wo=("wo_spectral", "mean"), lab=("lab", "first"))

    def draw(ax, rows):
        ax.scatter(rows["wo"], rows["wv"], c=[colour(lab) for lab in rows["lab"]], s=18)
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel("mean ||W_O||$_2$")
        ax.set_ylabel("mean ||W_V||$_2$")

    return by_source(per_model, draw, height=3.2)


def normalised_depth(rows: pd.DataFrame) -> pd.Series:
    return rows["layer"] / (rows["n_layers"] - 1).clip(lower=1)


def per_layer(table: pd.DataFrame, value: str, ylabel: str, log: bool = True, sources=tuple(SOURCES),
              missing: str = "no per-layer data"):
    def draw(ax, rows):
        for model, group in rows.groupby("model"):
            group = group.sort_values("layer")
            ax.plot(normalised_depth(group), group[value], lw=0.8, color=colour(group["lab"].iloc[0]), alpha=0.8)
        if log:
            log_axis(ax)
        ax.set_xlabel("layer / (L - 1)")
        ax.set_ylabel(ylabel)

    table = table.dropna(subset=[value, "layer"]) if len(table) else table
    return by_source(table, draw, sources=sources, height=3.2, missing=missing)


def layer_dynamics():
    """Gain of every block against relative depth."""
    return per_layer(load("layer_gains"), "gain", "block gain x_b / x_(b-1)")


def trace_proxy():
    """The 'trace proxy' ||W_V^h||_2^2 (mean over heads) against relative depth."""
    return per_layer(load("head_norms"), "wv_spectral_sq", "mean ||W_V^h||$_2^2$",
                     missing="the authors stored no per-layer W_V norms")


def traces():
    """Multi-head sheaf trace sum_h (T - tr A_h) ||W_V^h||_F^2 per layer."""
    return per_layer(load("trace_layers"), "trace_multihead", "multi-head trace (mean over prompts)")


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
            ax.scatter(x + jitter, values, s=4, color=colour(lab), alpha=0.6)
            ax.hlines(values.mean(), x - 0.3, x + 0.3, color="black", lw=1)
        ax.axhline(1, color="#999999", lw=0.6, ls=":")
        ax.set_xticks(range(len(order)), [m.removesuffix("-random-init") for m in order], rotation=90, fontsize=5)
        ax.set_ylabel("gain per prompt")

    return by_source(gains, draw, height=3.6)


def conventions():
    """The same models' mean gain under conventions R1, R2 and R3."""
    table = load("conventions")
    markers = {"R1": "o", "R2": "s", "R3": "^"}

    def draw(ax, rows):
        models = sorted(rows["model"].unique())
        for y, model in enumerate(models):
            for _, r in rows[rows["model"] == model].iterrows():
                ax.scatter(r["gain"], y, marker=markers[r["convention"]], color=colour(r["lab"]), s=20)
        ax.set_yticks(range(len(models)), [m.removesuffix("-random-init") for m in models], fontsize=6)
        ax.axvline(1, color="#999999", lw=0.6, ls=":")
        log_axis(ax, "x")
        ax.set_xlabel("mean gain (o R1, ■ R2, ▲ R3)")

    return by_source(table, draw, height=3.6)
