"""The data contract: one schema per CSV table, checked on every write and every read.

Tables live in a data directory (``data/measured`` for our measurements, ``data/published``
for the imported results of the paper). Each table has

* a pandera schema (column names, types, value ranges),
* a row key that must be unique, and
* ``replace_by``: the columns that identify one measurement run's rows. Writing new rows
  first drops every existing row that shares a ``replace_by`` value with them, so
  re-measuring a model (on a prompt set) replaces exactly its rows and keeps the others.

Conventions: norms are L2 norms computed in float32 or better; ``layer`` is -1 for the
input to block 0, 0..L-1 for block outputs and L for the output of the final norm;
entropies are in nats.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError

from contract.errors import TableError
from contract.vocab import (
    CARD_VERDICTS,
    DATA_SOURCES,
    DTYPES,
    HOLDS,
    MODEL_SOURCES,
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
    replace_by: tuple[str, ...]
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
                "norm_type": _str(),
                "norm_placement": _str(isin=["pre", "post"]),
                "parallel_residual": _bool(),
                "positional": _str(),
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
            replace_by=("model",),
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
            replace_by=("model", "prompt_set"),
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
            replace_by=("model", "prompt_set"),
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
            replace_by=("model", "prompt_set"),
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
                "wv_spectral": _float(nullable=False, ge=0),
                "wv_frobenius": _float(nullable=False, ge=0),
                "wo_spectral": _float(nullable=False, ge=0),
                "wo_frobenius": _float(nullable=False, ge=0),
                "ov_spectral": _float(nullable=False, ge=0),
                "ov_frobenius": _float(nullable=False, ge=0),
            },
            key=("model", "layer", "head"),
            replace_by=("model",),
            description=(
                "Per-head weight norms (float64): W_V^h is d_head x d_model (the KV head that "
                "query head h reads), W_O^h is d_model x d_head, OV = W_O^h W_V^h."
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
            replace_by=("model", "prompt_set"),
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
            replace_by=("model", "prompt_set"),
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
    replace_by=("prompt_set",),
    description="Prompt sets: one row per prompt, with the paper's category and complexity ordinal.",
)


def _columns_in_order(df: pd.DataFrame, table: Table) -> pd.DataFrame:
    extra = [c for c in df.columns if c not in table.columns]
    return df[list(table.columns) + extra]


def validate(df: pd.DataFrame, table: Table, source: str | os.PathLike) -> pd.DataFrame:
    """Check ``df`` against ``table``'s schema and key; return it coerced and in column order.

    Raises TableError naming ``source``, the column and the problem.
    """
    missing = [c for c in table.columns if c not in df.columns]
    if missing:
        raise TableError(
            f"{source}: missing column(s) {', '.join(missing)} "
            f"(table '{table.name}' needs: {', '.join(table.columns)})"
        )
    try:
        df = table.schema.validate(df)
    except SchemaError as err:
        raise TableError(f"{source}: {err.args[0].splitlines()[0]}") from None
    duplicated = df.duplicated(list(table.key), keep=False)
    if duplicated.any():
        rows = df.loc[duplicated, list(table.key)].head(3).to_dict("records")
        raise TableError(f"{source}: duplicate rows for key {table.key}, e.g. {rows}")
    return _columns_in_order(df, table)


def read_table(path: str | os.PathLike, table: Table) -> pd.DataFrame:
    """Read and validate one CSV table; a missing or corrupt file is a TableError naming it."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: file not found (expected the '{table.name}' table)")
    try:
        df = pd.read_csv(path, keep_default_na=True, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise TableError(f"{path}: not a readable CSV table ({err})") from None
    return validate(df, table, path)


def read_measured(directory: str | os.PathLike, name: str) -> pd.DataFrame:
    """Read table ``name`` (e.g. "residual") from a measured-data directory."""
    table = MEASURED_TABLES[name]
    return read_table(Path(directory) / table.filename, table)


def write_atomically(df: pd.DataFrame, path: Path, float_format: str | None = FLOAT_FORMAT) -> None:
    """Write a CSV through a temporary file and a rename: an interruption leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the table the usual permissions
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            df.to_csv(handle, index=False, float_format=float_format, lineterminator="\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merge_rows(existing: pd.DataFrame | None, new: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Replace the rows of ``existing`` that share a ``replace_by`` value with ``new``."""
    if existing is None or existing.empty:
        merged = new
    else:
        replaced = existing.set_index(list(table.replace_by)).index.isin(
            new.set_index(list(table.replace_by)).index
        )
        merged = pd.concat([existing.loc[~replaced], new], ignore_index=True)
    return merged.sort_values(list(table.key), kind="stable").reset_index(drop=True)


def write_table(directory: str | os.PathLike, table: Table, new_rows: pd.DataFrame) -> Path:
    """Validate ``new_rows``, merge them into ``directory/<table>.csv`` and write it atomically."""
    path = Path(directory) / table.filename
    new_rows = validate(new_rows, table, f"new rows for {path}")
    existing = read_table(path, table) if path.exists() else None
    merged = validate(merge_rows(existing, new_rows, table), table, path)
    write_atomically(merged, path, table.float_format)
    return path


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
                "source_file", "model", "prompt_set", "prompt_id", "layer", "head",
                "quantity", "aggregate",
            ),
            replace_by=("source_file",),
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
            replace_by=("source_file",),
            description=(
                "Categorical labels the notebooks assign (expected/observed behaviour per model; "
                "verdicts of a whole file have no model)."
            ),
        ),
    ]
}


def drop_rows(directory: str | os.PathLike, table: Table, match: dict[str, str]) -> None:
    """Remove the rows of ``directory/<table>.csv`` whose columns equal ``match`` (if the file exists)."""
    path = Path(directory) / table.filename
    if not path.exists():
        return
    existing = read_table(path, table)
    selected = pd.concat([existing[column] == value for column, value in match.items()], axis=1).all(axis=1)
    if selected.any():
        write_atomically(validate(existing.loc[~selected], table, path), path, table.float_format)


CLAIMS_TABLE = Table(
    "claims",
    {
        "claim_id": _str(),
        "source": _str(isin=list(DATA_SOURCES)),
        "section": _str(),
        "claim": _str(),
        "statistic": _str(),
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
    replace_by=("claim_id", "source"),
    description=(
        "One row per (claim, data source): the recomputed statistic (``value``, in the paper's own "
        "definition), the CI (level ``ci_level``) and p of ONE proper analysis (``test``, with ``unit`` "
        "the unit of analysis that ``n`` counts), ``p_holm`` the Holm-adjusted p across the claims of "
        "the same source, ``rule`` the stated decision rule that gives ``holds``; the paper's printed "
        "value, p and test; ``reproduces`` (statcheck style, published source only); the fitted "
        "model's formula and the function that computed the row."
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
    replace_by=("model",),
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
    replace_by=("claim_id",),
    description=(
        "One row per claim of the registry: its statistic, CI, p, n and verdict on the published panel "
        "and on ``published+yours`` (the published panel with the new models added in the matching "
        "convention); ``moved``: whether any of them changed; ``joined``: the new models the claim's "
        "data took in; ``note``: why a claim could not take them, or what it reads."
    ),
    float_format="%.10g",
)
