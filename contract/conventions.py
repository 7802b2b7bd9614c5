"""Gain conventions, derived from the stored norms by name (methods.md sections 2.1 and 8.1).

The paper computes "the gain" in four incompatible ways. Each function below takes our
``residual`` (or ``sublayers``) table and returns the per-prompt values that convention
produces, so a reader can see how much a paper number depends on the convention. Every
function returns a long DataFrame: model, prompt_set, prompt_id, convention, quantity, value.

Layer numbering is ours: -1 = input to block 0 (e), b = output of block b (x_b),
L = output of the final norm F(x_{L-1}).

* ``canonical``: what this project reports: the true last block's gain x_{L-1}/x_{L-2} and the
  penultimate block's x_{L-2}/x_{L-3}, each for the last token and for the mean over positions
  1..T-1, plus the final norm's own ratio F(x_{L-1})/x_{L-1}, never mixed into a block gain.
* ``legacy_hs_penultimate`` (R1; notebooks PFS, CRG, HRH): from HF ``hidden_states``, last
  token. Its "gain without final LN" is really the PENULTIMATE block's gain, x_{L-2}/x_{L-3};
  its "gain with LN" is F(x_{L-1})/x_{L-2}, which mixes the last block with the final norm.
* ``hook_last_token`` (R2; GUB, G2L, GJP, TWN): block hooks, last token. ``Last_Gain`` is the
  true last block's gain; ``Total_Amp`` divides by the output of block 0, not the embedding.
* ``hook_frobenius_all_tokens`` (R3; 4MV, MPI, IDT): Frobenius norm over all positions,
  dominated by the first (BOS) token's massive activation. The notebooks' first element
  divides by the embedding module's output; ours divides by the input to block 0, which
  includes embedding scaling, positions and embedding norms (they differ for Gemma by sqrt(d)).
* ``sublayer_vs_normed_input`` (R4; SLP, FFN): mean over all positions of the per-token norm of
  a sublayer's contribution divided by that of its (normalised) input. Not a residual-stream
  gain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["model", "prompt_set", "prompt_id"]


def _wide(residual: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per measured prompt, one column per layer (-1..L) of ``column`` (NaN where a model has no such layer)."""
    return residual.set_index([*KEYS, "layer"])[column].unstack("layer")


def _n_layers(residual: pd.DataFrame) -> pd.Series:
    """L per model: the final-norm row has layer = L."""
    return residual[residual["site"] == "final_norm"].groupby("model")["layer"].first()


def _at(wide: pd.DataFrame, offsets_from_l: int, n_layers: pd.Series) -> pd.Series:
    """Per prompt, the value at layer L + offset (offset 0 = final norm, -1 = last block, ...)."""
    models = wide.index.get_level_values("model")
    layers = models.map(n_layers).to_numpy() + offsets_from_l
    columns = wide.columns.get_indexer(layers)
    values = wide.to_numpy()[np.arange(len(wide)), columns]
    values[columns < 0] = np.nan
    return pd.Series(values, index=wide.index)


def _long(convention: str, quantities: dict[str, pd.Series]) -> pd.DataFrame:
    frames = []
    for quantity, series in quantities.items():
        frame = series.rename("value").reset_index()
        frame.insert(len(KEYS), "convention", convention)
        frame.insert(len(KEYS) + 1, "quantity", quantity)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def canonical(residual: pd.DataFrame) -> pd.DataFrame:
    """Last- and penultimate-block gains (last token; mean excluding position 0); final-norm ratio."""
    n_layers = _n_layers(residual)
    quantities = {}
    for view in ("last", "mean"):
        norms = _wide(residual, f"norm_{view}")
        quantities[f"gain_last_block_{view}"] = _at(norms, -1, n_layers) / _at(norms, -2, n_layers)
        quantities[f"gain_penultimate_block_{view}"] = _at(norms, -2, n_layers) / _at(norms, -3, n_layers)
        quantities[f"final_norm_ratio_{view}"] = _at(norms, 0, n_layers) / _at(norms, -1, n_layers)
    return _long("canonical", quantities)


def legacy_hs_penultimate(residual: pd.DataFrame) -> pd.DataFrame:
    """R1: ``gain_no_ln`` = x_{L-2}/x_{L-3} (penultimate block), ``gain_with_ln`` = F(x_{L-1})/x_{L-2}."""
    n_layers = _n_layers(residual)
    norms = _wide(residual, "norm_last")
    return _long(
        "R1",
        {
            "gain_no_ln": _at(norms, -2, n_layers) / _at(norms, -3, n_layers),
            "gain_with_ln": _at(norms, 0, n_layers) / _at(norms, -2, n_layers),
        },
    )


def hook_last_token(residual: pd.DataFrame) -> pd.DataFrame:
    """R2: ``last_gain`` = x_{L-1}/x_{L-2} (true last block); ``total_amp`` = x_{L-1}/x_0."""
    n_layers = _n_layers(residual)
    norms = _wide(residual, "norm_last")
    return _long(
        "R2",
        {
            "last_gain": _at(norms, -1, n_layers) / _at(norms, -2, n_layers),
            "total_amp": _at(norms, -1, n_layers) / norms[0],
        },
    )


def hook_frobenius_all_tokens(residual: pd.DataFrame) -> pd.DataFrame:
    """R3: Frobenius gains [x_0/e, x_1/x_0, ..., x_{L-1}/x_{L-2}] over all positions and their summaries.

    ``initial_gain`` (first element), ``last_gain`` (last element), ``max_gain`` (maximum,
    the initial element included, as 4MV did), ``contracting_pct`` (100 x share of gains < 1),
    ``final_cumulative`` = x_{L-1}/e.
    """
    blocks = residual[residual["site"].isin(["embedding", "block"])]
    gains = _wide(blocks, "gain_frobenius").drop(columns=-1)
    norms = _wide(blocks, "norm_frobenius")
    n_layers = _n_layers(residual)
    return _long(
        "R3",
        {
            "initial_gain": gains[0],
            "last_gain": _at(gains, -1, n_layers),
            "max_gain": gains.max(axis=1),
            "contracting_pct": 100 * (gains < 1).sum(axis=1) / gains.notna().sum(axis=1),
            "final_cumulative": _at(norms, -1, n_layers) / norms[-1],
        },
    )


def sublayer_vs_normed_input(sublayers: pd.DataFrame) -> pd.DataFrame:
    """R4: per layer, mean-over-positions output norm / input norm, for attention and MLP.

    Returns one row per (prompt, layer, sublayer) with quantity ``attention_gain`` or ``mlp_gain``
    and the layer in a ``layer`` column.
    """
    frame = sublayers[KEYS + ["layer", "sublayer"]].copy()
    frame["convention"] = "R4"
    frame["quantity"] = frame.pop("sublayer") + "_gain"
    frame["value"] = sublayers["norm_out_mean"] / sublayers["norm_in_mean"]
    return frame


LEGACY = {
    "R1": legacy_hs_penultimate,
    "R2": hook_last_token,
    "R3": hook_frobenius_all_tokens,
}


def all_conventions(residual: pd.DataFrame) -> pd.DataFrame:
    """The canonical view and every residual-stream legacy convention, stacked."""
    return pd.concat([canonical(residual)] + [f(residual) for f in LEGACY.values()], ignore_index=True)
