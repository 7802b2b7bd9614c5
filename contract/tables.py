"""The data contract: one schema per CSV table, checked on every write and every read.

Tables live in a data directory: ``measured/`` (our measurements, one partition per run, see
``contract.store``), ``published/`` (the imported results of the paper) and ``derived/`` (the
analysis output). Each table has a pandera schema (column names, types, value ranges) and a row
key that must be unique. Every reader names the file, the row and the column of a problem.

Conventions: norms are L2 norms computed in float32 or better; ``layer`` is -1 for the
input to block 0, 0..L-1 for block outputs and L for the output of the final norm;
entropies are in nats.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from contract.errors import TableError
from contract.vocab import (
    CARD_VERDICTS,
    DATA_SOURCES,
    DTYPES,
    HOLDS,
    KINDS,
    MODEL_SOURCES,
    NORM_PLACEMENTS,
    NORM_TYPES,
    POSITIONAL,
    REPRODUCES,
    SITES,
    SUBLAYERS,
    UNITS,
)

# Seven significant digits: every stored value derives from float32 activations or weights.
FLOAT_FORMAT = "%.7g"


def _str(nullable: bool = False, isin: list[str] | None = None) -> pa.Column:
    checks = [pa.Check.isin(isin)] if isin else []
    return pa.Column(str, checks=checks, nullable=nullable, coerce=True)


def _int(nullable: bool = False, ge: int | None = None) -> pa.Column:
    checks = [pa.Check.ge(ge)] if ge is not None else []
    return pa.Column("Int64", checks=checks, nullable=nullable, coerce=True)


def _float(nullable: bool = True, ge: float | None = None) -> pa.Column:
    """A float column; NaN is allowed where a value is undefined (documented per column)."""
    checks = [pa.Check.ge(ge, ignore_na=True)] if ge is not None else []
    return pa.Column(float, checks=checks, nullable=nullable, coerce=True)


def _bool(nullable: bool = False) -> pa.Column:
    return pa.Column("boolean", nullable=nullable, coerce=True)


@dataclass(frozen=True)
class Table:
    """A CSV table of the data contract."""

    name: str
    columns: dict[str, pa.Column]
    key: tuple[str, ...]
    description: str
    float_format: str | None = FLOAT_FORMAT  # None: shortest repr that round-trips (full precision)

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def schema(self) -> pa.DataFrameSchema:
        return pa.DataFrameSchema(self.columns, strict=False, ordered=False)


MEASURED_TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "models",
            {
                "model": _str(),
                "hf_id": _str(),
                "revision": _str(nullable=True),
                "source": _str(isin=list(MODEL_SOURCES)),
                "quantization": _str(nullable=True),
                "lab": _str(nullable=True),
                "family": _str(),
                "variant": _str(nullable=True, isin=["base", "instruct"]),
                "twin_of": _str(nullable=True),
                "n_layers": _int(ge=1),
                "n_heads": _int(ge=1),
                "n_kv_heads": _int(ge=1),
                "d_model": _int(ge=1),
                "d_head": _int(ge=1),
                "rho": _float(nullable=False, ge=0),
                "n_params": _int(ge=1),
                "norm_type": _str(isin=list(NORM_TYPES)),
                "norm_placement": _str(isin=list(NORM_PLACEMENTS)),
                "parallel_residual": _bool(),
                "positional": _str(isin=list(POSITIONAL)),
                "dtype": _str(isin=list(DTYPES)),
                "device": _str(),
                "attn_implementation": _str(),
                "seed": _int(nullable=True),
                "tokenizer": _str(),
                "package_version": _str(),
                "git_revision": _str(nullable=True),
                "transformers_version": _str(),
                "torch_version": _str(),
                "measured_at": _str(),
            },
            key=("model",),
            description="One row per measured model: architecture, provenance, how it was run.",
        ),
        Table(
            "runs",
            {
                "model": _str(),
                "prompt_set": _str(),
                "prompt_set_sha256": _str(),
                "n_prompts": _int(ge=1),
                "dtype": _str(isin=list(DTYPES)),
                "device": _str(),
                "attn_implementation": _str(),
                "attention_metrics": _bool(),
                "batch_size": _int(ge=1),
                "padding_side": _str(isin=["right"]),
                "wall_seconds": _float(ge=0),
                "nonfinite_prompts": _int(ge=0),
                "package_version": _str(),
                "git_revision": _str(nullable=True),
                "measured_at": _str(),
                "command": _str(nullable=True),
            },
            key=("model", "prompt_set"),
            description="Provenance of each (model, prompt set) run, in the style of lm-eval-harness.",
        ),
        Table(
            "residual",
            {
                "model": _str(),
                "prompt_set": _str(),
                "prompt_id": _str(),
                "n_tokens": _int(ge=1),
                "site": _str(isin=list(SITES)),
                "layer": _int(ge=-1),
                "norm_last": _float(ge=0),
                "norm_mean": _float(ge=0),
                "norm_frobenius": _float(ge=0),
                "gain_last": _float(ge=0),
                "gain_mean": _float(ge=0),
                "gain_frobenius": _float(ge=0),
                "nonfinite_tokens": _int(ge=0),
            },
            key=("model", "prompt_set", "prompt_id", "layer"),
            description=(
                "Residual-stream norms per model x prompt x layer. layer -1: input to block 0 "
                "(site=embedding); 0..L-1: block outputs (site=block); L: output of the module "
                "after the last block (site=final_norm; project_out for OPT-350m). norm_last: "
                "last real token; norm_mean: mean of per-token norms over positions 1..T-1 "
                "(NaN when T=1); norm_frobenius: over all T positions. gain_*: ratio to the "
                "previous row's norm (NaN for layer -1). Non-finite token norms are counted in "
                "nonfinite_tokens and left out of every reduction."
            ),
        ),
        Table(
            "sublayers",
            {
                "model": _str(),
                "prompt_set": _str(),
                "prompt_id": _str(),
                "layer": _int(ge=0),
                "sublayer": _str(isin=list(SUBLAYERS)),
                "norm_in_mean": _float(ge=0),
                "norm_out_mean": _float(ge=0),
                "norm_in_last": _float(ge=0),
                "norm_out_last": _float(ge=0),
            },
            key=("model", "prompt_set", "prompt_id", "layer", "sublayer"),
            description=(
                "Sublayer input/output norms per block: input = the (normalised) tensor the "
                "attention or MLP receives, output = what it adds to the residual stream. "
                "*_mean: mean over all T real positions (position 0 included, as the paper's R4 "
                "convention); *_last: last real token."
            ),
        ),
        Table(
            "heads",
            {
                "model": _str(),
                "layer": _int(ge=0),
                "head": _int(ge=0),
                "kv_head": _int(ge=0),
                "wv_spectral": _float(ge=0),
                "wv_frobenius": _float(ge=0),
                "wo_spectral": _float(ge=0),
                "wo_frobenius": _float(ge=0),
                "ov_spectral": _float(ge=0),
                "ov_frobenius": _float(ge=0),
                "nonfinite_weights": _int(ge=0),
            },
            key=("model", "layer", "head"),
            description=(
                "Per-head weight norms (float64): W_V^h is d_head x d_model (the KV head that "
                "query head h reads), W_O^h is d_model x d_head, OV = W_O^h W_V^h. nonfinite_weights counts "
                "the NaN/inf entries of the head's W_V^h and W_O^h; where it is not 0 the head's norms are "
                "missing (NaN)."
            ),
        ),
        Table(
            "attention",
            {
                "model": _str(),
                "prompt_set": _str(),
                "prompt_id": _str(),
                "layer": _int(ge=0),
                "head": _int(ge=0),
                "n_tokens": _int(ge=1),
                "offdiag_mass": _float(ge=0),
                "offdiag_mean": _float(ge=0),
                "sheaf_trace": _float(ge=0),
                "entropy": _float(ge=0),
                "mass_minus_tokens": _float(),
            },
            key=("model", "prompt_set", "prompt_id", "layer", "head"),
            description=(
                "Attention statistics per head over the prompt's T real tokens: offdiag_mass = "
                "T - tr(A_h); offdiag_mean = offdiag_mass / (T - 1) (NaN when T=1); sheaf_trace = "
                "offdiag_mass * ||W_V^h||_F^2 (the corrected eq. 4); entropy = mean over query "
                "rows of the row entropy (nats); mass_minus_tokens = sum_ij A_ij - T, the bracket of the "
                "paper's printed eq. 4, zero up to rounding for softmax attention."
            ),
        ),
        Table(
            "outputs",
            {
                "model": _str(),
                "prompt_set": _str(),
                "prompt_id": _str(),
                "n_tokens": _int(ge=1),
                "entropy": _float(ge=0),
                "top_token_id": _int(ge=0),
                "top_token": _str(nullable=True),
                "top_prob": _float(ge=0),
                "nonfinite_logits": _bool(),
            },
            key=("model", "prompt_set", "prompt_id"),
            description=(
                "Next-token distribution at the last real token: entropy in nats from an fp32 "
                "log-softmax, the top token and its probability."
            ),
        ),
    ]
}

PROMPTS_TABLE = Table(
    "prompts",
    {
        "prompt_id": _str(),
        "prompt_set": _str(),
        "category": _str(nullable=True),
        "complexity": _int(nullable=True),
        "text": _str(),
    },
    key=("prompt_set", "prompt_id"),
    description="Prompt sets: one row per prompt, with the paper's category and complexity ordinal.",
)


RUN_PROMPTS_TABLE = Table(
    "prompts",
    {
        "prompt_id": _str(),
        "prompt_set": _str(),
        "category": _str(nullable=True),
        "complexity": _int(nullable=True),
        "text_sha256": _str(nullable=True),
    },
    key=("prompt_set", "prompt_id"),
    description=(
        "The prompts a run measured: id, set, the paper's category and complexity ordinal, and the SHA-256 "
        "of the UTF-8 text (the text itself stays in its prompt file; missing for runs converted from the "
        "older single-file layout without their texts)."
    ),
)


PANEL_FILE_TABLE = Table(
    "panel",
    {
        "model": _str(),
        "revision": _str(nullable=True),
        "gguf_file": _str(nullable=True),
        "random_init": _bool(nullable=True),
        "name": _str(nullable=True),
        "lab": _str(nullable=True),
        "family": _str(nullable=True),
        "twin_of": _str(nullable=True),
    },
    key=("model", "revision", "random_init", "name"),
    description=(
        "A user's panel file: one model per row, as a hub id, a local folder or a registry name, and optionally "
        "the revision (e.g. a training checkpoint), a GGUF file in the folder, random_init, the name its rows "
        "carry, the lab, the family (checked against the config) and the base model it was fine-tuned from."
    ),
)


def _columns_in_order(df: pd.DataFrame, table: Table) -> pd.DataFrame:
    extra = [c for c in df.columns if c not in table.columns]
    return df[list(table.columns) + extra]


class SchemaProblem(Exception):
    """A table breaks its schema; ``row`` is the 0-based position of the first bad row, if known."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row


def _kind(column: pa.Column) -> str:
    kind = str(column.dtype)
    return "str" if kind.startswith("str") else kind


def _coerce(df: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Convert number and flag columns, naming the first cell that is not one (pandera's coercion
    error does not say which row)."""
    df = df.copy()
    for name, column in table.columns.items():
        kind, series = _kind(column), df[name]
        if kind not in ("float64", "Int64", "boolean") or pd.api.types.is_bool_dtype(series):
            continue
        if kind == "boolean":
            words = series.map(
                lambda v: (
                    {"true": True, "false": False, "1": True, "0": False}.get(str(v).lower(), v)
                    if isinstance(v, str)
                    else v
                )
            )
            bad = words.notna() & ~words.isin([True, False])
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise SchemaProblem(f"column '{name}' holds {series.iloc[row]!r}, not true/false", row)
            df[name] = words.astype("boolean")
            continue
        numbers = pd.to_numeric(series, errors="coerce")
        bad = series.notna() & numbers.isna()
        if kind == "Int64":
            bad |= numbers.notna() & np.isfinite(numbers) & (numbers != np.round(numbers))
            bad |= numbers.notna() & ~np.isfinite(numbers)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            what = "an integer" if kind == "Int64" else "a number"
            raise SchemaProblem(f"column '{name}' holds {series.iloc[row]!r}, not {what}", row)
        df[name] = numbers.astype("Int64") if kind == "Int64" else numbers.astype(float)
    return df


def check_table(df: pd.DataFrame, table: Table) -> pd.DataFrame:
    """``df`` checked against ``table``'s schema and key: coerced, in column order, index 0..n-1.

    Raises SchemaProblem naming the column and the problem (and the row where there is one).
    """
    missing = [c for c in table.columns if c not in df.columns]
    if missing:
        raise SchemaProblem(
            f"missing column(s) {', '.join(missing)} (table '{table.name}' needs: {', '.join(table.columns)})"
        )
    df = _coerce(df.reset_index(drop=True), table)
    try:
        df = table.schema.validate(df)
    except (SchemaError, SchemaErrors) as err:
        cases = err.failure_cases
        rows = [] if cases is None or "index" not in cases else [int(i) for i in cases["index"].dropna()]
        message = err.args[0].splitlines()[0] if isinstance(err, SchemaError) else str(cases.iloc[0].to_dict())
        raise SchemaProblem(message.rstrip(":"), min(rows) if rows else None) from None
    duplicated = df.duplicated(list(table.key), keep=False)
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        key = df.loc[row, list(table.key)].to_dict()
        raise SchemaProblem(f"duplicate rows for the key {table.key}, e.g. {key}", row)
    return _columns_in_order(df, table)


def validate(df: pd.DataFrame, table: Table, source: str | os.PathLike) -> pd.DataFrame:
    """Check ``df`` against ``table``'s schema and key; return it coerced and in column order.

    Raises TableError naming ``source``, the row, the column and the problem.
    """
    try:
        return check_table(df, table)
    except SchemaProblem as problem:
        where = f"{source}" if problem.row is None else f"{source}, row {problem.row + 1}"
        raise TableError(f"{where}: {problem}") from None


def text_columns(table: Table) -> dict[str, type]:
    """The table's text columns, read as text whatever they look like ('001' and 'NA' stay)."""
    return {name: str for name, column in table.columns.items() if _kind(column) == "str"}


def parse_csv(data: bytes, table: Table, source: str | os.PathLike) -> pd.DataFrame:
    """CSV bytes as a DataFrame: UTF-8, text columns as written, only empty cells missing."""
    try:
        return pd.read_csv(
            io.BytesIO(data), dtype=text_columns(table), keep_default_na=False, na_values=[""], encoding="utf-8"
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise TableError(f"{source}: not a readable CSV table ({str(err).splitlines()[0]})") from None


def read_table(path: str | os.PathLike, table: Table) -> pd.DataFrame:
    """Read and check one CSV table; a missing or damaged file is a TableError naming it (and the
    line, counting the header as line 1)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: file not found (expected the '{table.name}' table)")
    frame = parse_csv(path.read_bytes(), table, path)
    try:
        return check_table(frame, table)
    except SchemaProblem as problem:
        where = f"{path}" if problem.row is None else f"{path}, line {problem.row + 2}"
        raise TableError(f"{where}: {problem}") from None


PUBLISHED_TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "values",
            {
                "notebook": _str(),
                "source_file": _str(),
                "model": _str(nullable=True),
                "lab": _str(nullable=True),
                "prompt_set": _str(nullable=True),
                "prompt_id": _str(nullable=True),
                "layer": _int(nullable=True, ge=-1),
                "head": _int(nullable=True, ge=0),
                "quantity": _str(),
                "convention": _str(nullable=True),
                "aggregate": _str(),
                "value": _float(),
                "dtype": _str(nullable=True),
                "n_prompts": _int(nullable=True, ge=0),
                "note": _str(nullable=True),
            },
            key=(
                "source_file",
                "model",
                "prompt_set",
                "prompt_id",
                "layer",
                "head",
                "quantity",
                "aggregate",
            ),
            description=(
                "Every number of the authors' result files in long form: which notebook and "
                "file, model (canonical registry name) and lab, prompt set and prompt, layer "
                "and head where the value has one, the quantity (see measure.published."
                "catalogue), the gain convention R1-R4 where it is a gain, the aggregate "
                "('value' for a single measurement, 'mean', 'sd_population', ...), dtype as run."
            ),
            float_format=None,
        ),
        Table(
            "labels",
            {
                "notebook": _str(),
                "source_file": _str(),
                "model": _str(nullable=True),
                "label_kind": _str(),
                "label": _str(),
            },
            key=("source_file", "model", "label_kind"),
            description=(
                "Categorical labels the notebooks assign (expected/observed behaviour per model; "
                "verdicts of a whole file have no model)."
            ),
        ),
    ]
}


CLAIMS_TABLE = Table(
    "claims",
    {
        "claim_id": _str(),
        "source": _str(isin=list(DATA_SOURCES)),
        "section": _str(),
        "claim": _str(),
        "statistic": _str(),
        "kind": _str(isin=list(KINDS)),
        "value": _float(),
        "ci_low": _float(),
        "ci_high": _float(),
        "ci_level": _float(),
        "p_value": _float(),
        "p_holm": _float(),
        "n": _int(nullable=True, ge=0),
        "unit": _str(nullable=True, isin=list(UNITS)),
        "test": _str(nullable=True),
        "rule": _str(nullable=True),
        "paper_value": _str(nullable=True),
        "paper_p": _str(nullable=True),
        "paper_test": _str(nullable=True),
        "p_paper_method": _float(),
        "reproduces": _str(isin=list(REPRODUCES)),
        "reproduces_reason": _str(nullable=True),
        "holds": _str(isin=list(HOLDS)),
        "note": _str(nullable=True),
        "data": _str(nullable=True),
        "needs": _str(nullable=True),
        "formula": _str(nullable=True),
        "function": _str(),
    },
    key=("claim_id", "source"),
    description=(
        "One row per (claim, data source): the recomputed statistic (``value``, in the paper's own "
        "definition; ``kind``: what kind of number it is, a word of contract.vocab.KINDS), the CI (level "
        "``ci_level``) and p of ONE proper analysis (``test``, with ``unit`` the unit of analysis that "
        "``n`` counts), ``p_holm`` the Holm-adjusted p across the claims of the same source, ``rule`` "
        "the stated decision rule that gives ``holds``; the paper's printed value, p and test; "
        "``reproduces`` (statcheck style, published source only); the fitted model's formula and the "
        "function that computed the row."
    ),
    float_format="%.10g",
)


CLAIM_CARD_TABLE = Table(
    "claim_card",
    {
        "model": _str(),
        "claim_id": _str(),
        "law": _str(),
        "convention": _str(),
        "quantity": _str(),
        "prompt_set": _str(nullable=True),
        "predicted": _float(),
        "pi_low": _float(),
        "pi_high": _float(),
        "measured": _float(),
        "measured_low": _float(),
        "measured_high": _float(),
        "predicted_sign": _str(nullable=True, isin=["dampen", "expand"]),
        "measured_sign": _str(nullable=True, isin=["dampen", "expand"]),
        "consistent": _str(isin=list(CARD_VERDICTS)),
        "note": _str(nullable=True),
    },
    key=("model", "claim_id"),
    description=(
        "One row per (model, law that predicts something for a single model): the law's prediction "
        "for this model (``predicted``) with the law's own uncertainty (``pi_low``/``pi_high``: a "
        "prediction interval, a Wilson or bootstrap CI of a published rate, or a bound; NaN = open), "
        "fitted on or counted over the published panel in the convention the law was stated in; the "
        "model's measured value on ``prompt_set`` with its CI over prompts (``measured_low``/"
        "``measured_high``); ``quantity`` says what the numbers are (sign laws: the predicted P(dampen) "
        "and the measured mean gain, with ``predicted_sign`` and ``measured_sign``); ``consistent`` "
        "and the ``note`` saying why, or why the law is not applicable to this model."
    ),
    float_format="%.10g",
)

PANEL_SHIFT_TABLE = Table(
    "panel_shift",
    {
        "claim_id": _str(),
        "statistic": _str(),
        "published_value": _float(),
        "published_ci_low": _float(),
        "published_ci_high": _float(),
        "published_p": _float(),
        "published_n": _int(nullable=True, ge=0),
        "published_holds": _str(isin=list(HOLDS)),
        "combined_value": _float(),
        "combined_ci_low": _float(),
        "combined_ci_high": _float(),
        "combined_p": _float(),
        "combined_n": _int(nullable=True, ge=0),
        "combined_holds": _str(isin=list(HOLDS)),
        "moved": _bool(),
        "joined": _str(nullable=True),
        "note": _str(nullable=True),
    },
    key=("claim_id",),
    description=(
        "One row per claim of the registry: its statistic, CI, p, n and verdict on the published panel "
        "and on ``published+yours`` (the published panel with the new models added in the matching "
        "convention); ``moved``: whether any of them changed; ``joined``: the new models the claim's "
        "data took in; ``note``: why a claim could not take them, or what it reads."
    ),
    float_format="%.10g",
)


def _facts() -> dict[str, pa.Column]:
    """The model facts every figure table carries (analysis.figures.FACTS)."""
    return {
        "lab": _str(nullable=True),
        "heritage": _str(nullable=True),
        "family": _str(nullable=True),
        "n_layers": _int(nullable=True, ge=1),
        "n_heads": _int(nullable=True, ge=1),
        "d_head": _int(nullable=True, ge=1),
        "rho": _float(ge=0),
        "n_params": _int(nullable=True, ge=1),
        "norm_placement": _str(nullable=True),
        "variant": _str(nullable=True),
    }


_SOURCE = {"source": _str(isin=list(DATA_SOURCES))}
# The tables behind the report's figures (data/derived/), one row per what each plots.
FIGURE_TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "model_gains",
            {
                **_SOURCE,
                "model": _str(),
                "convention": _str(nullable=True),
                "dataset": _str(nullable=True),
                "gain": _float(),
                "ci_low": _float(),
                "ci_high": _float(),
                "n_prompts": _int(nullable=True, ge=0),
                **_facts(),
            },
            key=("source", "model", "convention", "dataset"),
            description="Per model and source: the mean gain (its CI over prompts) in a convention, from a dataset.",
        ),
        Table(
            "layer_gains",
            {
                **_SOURCE,
                "model": _str(),
                "layer": _int(ge=-1),
                "gain": _float(),
                "dataset": _str(nullable=True),
                "convention": _str(nullable=True),
                **_facts(),
            },
            key=("source", "model", "layer", "dataset", "convention"),
            description="Per model and block: the mean gain over prompts.",
        ),
        Table(
            "head_norms",
            {
                **_SOURCE,
                "model": _str(),
                "layer": _int(nullable=True, ge=0),
                "wv_spectral": _float(ge=0),
                "wo_spectral": _float(ge=0),
                "ov_spectral": _float(ge=0),
                "wv_spectral_sq": _float(ge=0),
                "extraction": _str(nullable=True),
                **_facts(),
            },
            key=("source", "model", "layer", "extraction"),
            description="Per model and layer: the mean over heads of the W_V, W_O and OV spectral norms.",
        ),
        Table(
            "trace_layers",
            {
                **_SOURCE,
                "model": _str(),
                "layer": _int(ge=0),
                "trace_multihead": _float(),
                "offdiag_mean": _float(),
                "dataset": _str(nullable=True),
                **_facts(),
            },
            key=("source", "model", "layer", "dataset"),
            description="Per model and layer: the multi-head sheaf trace and the mean off-diagonal attention mass.",
        ),
        Table(
            "prompt_gains",
            {
                **_SOURCE,
                "model": _str(),
                "prompt_set": _str(nullable=True),
                "prompt_id": _str(),
                "category": _str(nullable=True),
                "gain": _float(),
                "convention": _str(nullable=True),
                **_facts(),
            },
            key=("source", "model", "prompt_set", "prompt_id", "convention"),
            description="Per model and prompt: the gain (input robustness).",
        ),
        Table(
            "conventions",
            {
                **_SOURCE,
                "model": _str(),
                "convention": _str(),
                "gain": _float(),
                "dataset": _str(nullable=True),
                **_facts(),
            },
            key=("source", "model", "convention", "dataset"),
            description="Per model: the gain under each convention R1-R4 and the canonical one.",
        ),
        Table(
            "lab_means",
            {
                **_SOURCE,
                "lab": _str(),
                "n_models": _int(ge=1),
                "gain": _float(),
                "ci_low": _float(),
                "ci_high": _float(),
            },
            key=("source", "lab"),
            description="Per source and lab: the mean of the model means with a bootstrap CI over models.",
        ),
        Table(
            "retest_joined",
            {"model": _str(), "joined": _str(nullable=True), "note": _str(nullable=True)},
            key=("model",),
            description="Per re-tested model: the published notebooks its gains joined in the panel shift.",
        ),
    ]
}


REGISTRY_TABLE = Table(
    "registry",
    {
        "model": _str(),
        "hf_id": _str(),
        "alt_hf_ids": _str(nullable=True),
        "lab": _str(),
        "family": _str(),
        "variant": _str(isin=["base", "instruct"]),
        "twin_of": _str(nullable=True),
        "panels": _str(nullable=True),
        "n_layers": _int(ge=1),
        "n_heads": _int(ge=1),
        "n_kv_heads": _int(ge=1),
        "d_model": _int(ge=1),
        "d_head": _int(ge=1),
        "d_ff": _int(ge=1),
        "d_embed": _int(nullable=True, ge=1),
        "activation": _str(),
        "vocab_size": _int(ge=1),
        "max_positions": _int(nullable=True, ge=1),
        "window_size": _int(nullable=True, ge=1),
        "norm_type": _str(isin=list(NORM_TYPES)),
        "layer_norm_eps": _float(nullable=False, ge=0),
        "norm_placement": _str(isin=list(NORM_PLACEMENTS)),
        "parallel_residual": _bool(),
        "positional": _str(isin=list(POSITIONAL)),
        "rotary_pct": _float(ge=0),
        "rope_theta": _float(ge=0),
        "rope_scaling": _str(nullable=True),
        "tie_embeddings": _bool(),
        "bos_prepended": _bool(),
        "n_params": _int(nullable=True, ge=1),
        "n_params_source": _str(nullable=True, isin=["R", "C", "B"]),
        "package": _str(nullable=True),
        "gguf_file": _str(nullable=True),
        "quantization": _str(nullable=True),
        "notebooks": _str(nullable=True),
        "note": _str(nullable=True),
    },
    key=("model",),
    description=(
        "The model registry (contract/data/registry.csv): every model of the paper and the offline demo models, "
        "with HF id, lab, family (HF model_type), base/instruct twin, panels, the architecture transformers needs "
        "to rebuild it, and the parameter count with its source (R recorded by the notebooks, C the public count, "
        "B counted from the built architecture)."
    ),
)
