"""Synthetic and real sources for the claim tests.

``measured_source`` builds a MeasuredSource whose residual table has exactly the per-prompt
last-block gains (and optional per-block gains) the test plants, so a claim's answer is known in
advance. ``published_source`` loads the authors' imported numbers when the published folder is
there (the test is skipped with a reason otherwise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.sources import MODEL_FACTS, MeasuredSource, load_sources, with_derived_facts
from contract.store import commit_run
from contract.tables import MEASURED_TABLES

# The authors' results beside the repository (../shared/paper3/Results), looked up from the nearest parent
# that has them, so a checkout one folder deeper finds them too.
PUBLISHED_RESULTS = next(
    (
        parent / "shared" / "paper3" / "Results"
        for parent in Path(__file__).resolve().parents[1:]
        if (parent / "shared" / "paper3" / "Results").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "paper3" / "Results",
)


def facts(
    model: str,
    lab: str = "EleutherAI",
    family: str = "gpt_neox",
    n_layers: int = 12,
    n_heads: int = 12,
    d_head: int = 64,
    n_params: int = 10**8,
    **extra,
) -> dict:
    """One models.csv-like row of model facts."""
    row = dict(
        model=model,
        registry_model=extra.pop("registry_model", None),
        lab=lab,
        family=family,
        variant="base",
        twin_of=None,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_heads,
        d_model=n_heads * d_head,
        d_head=d_head,
        rho=n_heads / d_head,
        n_params=n_params,
        norm_placement="pre",
        parallel_residual=False,
    )
    row.update(extra)
    return row


def residual_rows(
    model: str,
    n_layers: int,
    last_gains,
    block_gain: float = 1.0,
    prompt_set: str = "core25",
    first_gain: float = 5.0,
    n_tokens: int = 6,
    penultimate=None,
) -> list[dict]:
    """Residual rows whose last-token norms give block 0 gain ``first_gain``, blocks 1..L-2 gain
    ``block_gain`` (a number or a list per block) and the last block the planted per-prompt gain;
    ``penultimate`` (one value per prompt) overrides block L-2's gain, the paper's R1 gain."""
    rows = []
    for i, last_gain in enumerate(last_gains, start=1):
        gains = [first_gain] + list(np.broadcast_to(block_gain, n_layers - 2)) + [last_gain]
        if penultimate is not None:
            gains[-2] = penultimate[i - 1]
        norms = np.cumprod([1.0] + gains)
        norms = np.append(norms, 0.1 * norms[-1])  # final norm output
        layers = range(-1, n_layers + 1)
        sites = ["embedding"] + ["block"] * n_layers + ["final_norm"]
        for j, (layer, site, norm) in enumerate(zip(layers, sites, norms)):
            gain = np.nan if j == 0 else norm / norms[j - 1]
            rows.append(
                dict(
                    model=model,
                    prompt_set=prompt_set,
                    prompt_id=f"{prompt_set}-{i:02d}",
                    n_tokens=n_tokens,
                    site=site,
                    layer=layer,
                    norm_last=norm,
                    norm_mean=norm,
                    norm_frobenius=norm * np.sqrt(n_tokens),
                    gain_last=gain,
                    gain_mean=gain,
                    gain_frobenius=gain,
                    nonfinite_tokens=0,
                )
            )
    return rows


def measured_source(
    models: list[dict], residual: list[dict], name: str = "controls", **tables: pd.DataFrame
) -> MeasuredSource:
    """A MeasuredSource from model facts and residual rows (other tables optional)."""
    frames = {t: pd.DataFrame(columns=list(MEASURED_TABLES[t].columns)) for t in MEASURED_TABLES}
    frames["residual"] = pd.DataFrame(residual)
    frames["runs"] = frames["residual"][["model", "prompt_set"]].drop_duplicates().reset_index(drop=True)
    frames.update(tables)
    model_facts = with_derived_facts(pd.DataFrame(models)[MODEL_FACTS])
    return MeasuredSource(name, model_facts, frames)


MODEL_DEFAULTS = dict(
    revision=None,
    source="local",
    quantization=None,
    norm_type="LayerNorm",
    positional="rotary",
    dtype="float32",
    device="cpu",
    attn_implementation="sdpa",
    seed=0,
    tokenizer="test",
    package_version="0",
    git_revision=None,
    transformers_version="0",
    torch_version="0",
    measured_at="2026-01-01T00:00:00+00:00",
)
RUN_DEFAULTS = dict(
    prompt_set_sha256="0",
    n_prompts=1,
    dtype="float32",
    device="cpu",
    attn_implementation="sdpa",
    attention_metrics=False,
    batch_size=1,
    padding_side="right",
    wall_seconds=1.0,
    nonfinite_prompts=0,
    package_version="0",
    git_revision=None,
    measured_at="2026-01-01T00:00:00+00:00",
    command=None,
)


def write_measured(directory: Path, models: list[dict], residual: list[dict], runs: list[dict]) -> None:
    """Commit one run partition per (model, prompt_set) of ``runs``, from ``facts`` rows and residual rows
    (the other tables filled in consistently with plain values), so a test reads them back through
    load_sources exactly as measured data are read."""
    residual = pd.DataFrame(residual)
    for run in runs:
        fact = next(m for m in models if m["model"] == run["model"])
        rows = residual[(residual["model"] == run["model"]) & (residual["prompt_set"] == run["prompt_set"])]
        ids = list(dict.fromkeys(rows["prompt_id"]))
        n_layers, n_heads = fact["n_layers"], fact["n_heads"]
        model_row = {
            **MODEL_DEFAULTS,
            **{k: v for k, v in fact.items() if k != "registry_model"},
            "hf_id": f"local/{fact['model']}",
        }
        keys = {"model": run["model"], "prompt_set": run["prompt_set"]}
        tables = {
            "models": pd.DataFrame([model_row]),
            "runs": pd.DataFrame([{**RUN_DEFAULTS, **run, "n_prompts": len(ids)}]),
            "residual": rows,
            "prompts": pd.DataFrame(
                {
                    "prompt_id": ids,
                    "prompt_set": run["prompt_set"],
                    "category": None,
                    "complexity": None,
                    "text_sha256": None,
                }
            ),
            "outputs": pd.DataFrame(
                {
                    **keys,
                    "prompt_id": ids,
                    "n_tokens": 6,
                    "entropy": 1.0,
                    "top_token_id": 0,
                    "top_token": "x",
                    "top_prob": 0.5,
                    "nonfinite_logits": False,
                }
            ),
            "heads": pd.DataFrame(
                {
                    "model": run["model"],
                    "layer": np.repeat(range(n_layers), n_heads),
                    "head": np.tile(range(n_heads), n_layers),
                    "kv_head": np.tile(range(n_heads), n_layers),
                    **{f"{w}_{n}": 1.0 for w in ("wv", "wo", "ov") for n in ("spectral", "frobenius")},
                    "nonfinite_weights": 0,
                }
            ),
            "sublayers": pd.DataFrame(
                {
                    **keys,
                    "prompt_id": np.repeat(ids, 2 * n_layers),
                    "layer": np.tile(np.repeat(range(n_layers), 2), len(ids)),
                    "sublayer": np.tile(["attention", "mlp"], n_layers * len(ids)),
                    **{c: 1.0 for c in ("norm_in_mean", "norm_out_mean", "norm_in_last", "norm_out_last")},
                }
            ),
        }
        commit_run(directory, tables)


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    """The published source, imported from ../shared/paper3/Results into a temporary folder."""
    if not PUBLISHED_RESULTS.is_dir():
        pytest.skip(f"the authors' published results are not at {PUBLISHED_RESULTS}")
    from measure.published import import_published

    out = tmp_path_factory.mktemp("published")
    import_published(PUBLISHED_RESULTS, out)
    return load_sources(out / "no-measured", out)["published"]
