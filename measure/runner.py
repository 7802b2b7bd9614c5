"""Measure one loaded model on one prompt set and turn the probe's captures into tidy tables.

``measure_model`` tokenises the prompts (each prompt alone, with the tokenizer's default special
tokens, as the paper did), checks them against the model's context, batches them by length
with right padding, runs the probe and returns the data-contract tables of the run in memory;
``contract.store.commit_run`` writes them as one partition, all or nothing.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import transformers
from tqdm.auto import tqdm

import measure
from contract.errors import PromptError
from contract.vocab import SUBLAYERS
from measure.loading import LoadedModel
from measure.probe import BatchCapture, Probe
from measure.prompts import prompt_set_sha256
from measure.weights import weight_table
from thermo_audit import __version__

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How to run the probe, and the labels a model outside the registry needs (``lab``, ``twin_of``:
    given here they override the registry's)."""

    batch_size: int = 8
    attention: bool = False
    progress: bool = True
    command: str | None = None
    lab: str | None = None
    twin_of: str | None = None


def tokenize(loaded: LoadedModel, prompts: pd.DataFrame) -> list[list[int]]:
    """Token ids per prompt; an empty or over-long prompt is a PromptError naming it."""
    ids = [loaded.tokenizer(text)["input_ids"] for text in prompts["text"]]
    limit = loaded.architecture.max_positions
    for prompt_id, tokens in zip(prompts["prompt_id"], ids):
        if len(tokens) == 0:
            raise PromptError(f"Prompt {prompt_id} tokenises to no tokens.")
        if limit is not None and len(tokens) > limit:
            raise PromptError(f"Prompt {prompt_id} has {len(tokens)} tokens; {loaded.name} takes at most {limit}.")
    return ids


def batches(token_ids: list[list[int]], batch_size: int, pad_id: int, device: torch.device):
    """Yield (row indices, input_ids, attention_mask), prompts sorted by length, right-padded."""
    order = sorted(range(len(token_ids)), key=lambda i: -len(token_ids[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = len(token_ids[rows[0]])
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            ids[r, : len(token_ids[i])] = torch.tensor(token_ids[i])
            mask[r, : len(token_ids[i])] = 1
        yield rows, ids.to(device), mask.to(device)


def _masked(values: np.ndarray, valid: np.ndarray) -> np.ma.MaskedArray:
    return np.ma.masked_array(values, mask=~valid)


def residual_rows(capture: BatchCapture) -> dict[str, np.ndarray]:
    """Norm views per (prompt, site): last token, mean over positions 1..T-1, Frobenius over all."""
    norms = capture.token_norms.astype(np.float64)  # [B, S, T]
    batch, sites, length = norms.shape
    position = np.arange(length)
    real = position[None, :] < capture.n_tokens[:, None]  # [B, T]
    finite = np.isfinite(norms)
    valid = real[:, None, :] & finite
    last = norms[np.arange(batch), :, capture.n_tokens - 1]  # [B, S]
    after_first = valid & (position > 0)[None, None, :]
    norm_mean = _masked(norms, after_first).mean(-1).filled(np.nan)
    norm_frobenius = np.sqrt(_masked(norms**2, valid).sum(-1).filled(np.nan))
    nonfinite = (real[:, None, :] & ~finite).sum(-1)
    views = {"norm_last": last, "norm_mean": norm_mean, "norm_frobenius": norm_frobenius}
    out = {name: value for name, value in views.items()}
    for name, value in views.items():
        gain = np.full_like(value, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain[:, 1:] = value[:, 1:] / value[:, :-1]
        out[name.replace("norm", "gain")] = gain
    out["nonfinite_tokens"] = nonfinite
    return out


def sublayer_rows(capture: BatchCapture) -> dict[str, np.ndarray]:
    """Mean over all real positions and last-token norm of each sublayer's input and output."""
    norms = capture.sublayer_norms.astype(np.float64)  # [B, L, 2, 2, T]
    batch, _, _, _, length = norms.shape
    real = np.arange(length)[None, :] < capture.n_tokens[:, None]
    valid = real[:, None, None, None, :] & np.isfinite(norms)
    mean = _masked(norms, valid).mean(-1).filled(np.nan)  # [B, L, 2, 2]
    last = norms[np.arange(batch), ..., capture.n_tokens - 1]  # [B, L, 2, 2]
    return {
        "norm_in_mean": mean[..., 0],
        "norm_out_mean": mean[..., 1],
        "norm_in_last": last[..., 0],
        "norm_out_last": last[..., 1],
    }


def _long(index: dict[str, np.ndarray], values: dict[str, np.ndarray]) -> pd.DataFrame:
    """Flatten equally-shaped arrays into one long DataFrame."""
    return pd.DataFrame({**{k: v.ravel() for k, v in index.items()}, **{k: v.ravel() for k, v in values.items()}})


def git_revision() -> str | None:
    """The project's git commit (with '-dirty' for uncommitted changes), or None outside a checkout."""
    root = Path(measure.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def measure_model(loaded: LoadedModel, prompts: pd.DataFrame, options: RunOptions) -> dict[str, pd.DataFrame]:
    """Run the probe over ``prompts`` and return every data-contract table of this run."""
    started = time.perf_counter()
    token_ids = tokenize(loaded, prompts)
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    device = next(loaded.model.parameters()).device
    arch = loaded.architecture
    prompt_set = prompts["prompt_set"].iloc[0]
    frames: dict[str, list[pd.DataFrame]] = {"residual": [], "sublayers": [], "attention": [], "outputs": []}
    n_batches = -(-len(token_ids) // options.batch_size)
    with Probe(loaded.model, loaded.adapter, attention=options.attention) as probe:
        for rows, ids, mask in tqdm(
            batches(token_ids, options.batch_size, pad_id, device),
            total=n_batches,
            desc=f"{loaded.name} / {prompt_set}",
            unit="batch",
            disable=not options.progress,
        ):
            capture = probe.run(ids, mask)
            frames["residual"].append(_residual_frame(capture, prompts.iloc[rows], arch.n_layers))
            frames["sublayers"].append(_sublayer_frame(capture, prompts.iloc[rows]))
            frames["outputs"].append(_outputs_frame(capture, prompts.iloc[rows], loaded.tokenizer))
            if options.attention:
                frames["attention"].append(_attention_frame(capture, prompts.iloc[rows]))

    tables = {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items() if parts}
    heads = weight_table(loaded.model, loaded.adapter, loaded.name)
    if options.attention:
        wv_sq = heads.set_index(["layer", "head"])["wv_frobenius"] ** 2
        attention = tables["attention"]
        attention["sheaf_trace"] = (
            attention["offdiag_mass"].to_numpy()
            * wv_sq.loc[list(zip(attention["layer"], attention["head"]))].to_numpy()
        )
    for frame in tables.values():
        frame.insert(0, "model", loaded.name)
    tables["heads"] = heads

    tokens = tables["residual"].groupby("prompt_id")["nonfinite_tokens"].sum()
    logits = tables["outputs"].set_index("prompt_id")["nonfinite_logits"]
    flagged = sorted(set(tokens.index[tokens > 0]) | set(logits.index[logits.astype(bool)]))
    nonfinite_prompts = len(flagged)
    if nonfinite_prompts:
        log.warning(
            "%s: non-finite activations in %d prompt(s) (%s); they are flagged and left out of means.",
            loaded.name,
            nonfinite_prompts,
            ", ".join(flagged[:5]),
        )
    bad_heads = int((heads["nonfinite_weights"] > 0).sum())
    if bad_heads:
        log.warning(
            "%s: %d head(s) have non-finite weights; their norms are left empty (heads.nonfinite_weights).",
            loaded.name,
            bad_heads,
        )
    dtype = str(loaded.model.dtype).removeprefix("torch.")
    provenance = run_provenance()
    tables["runs"] = pd.DataFrame(
        [
            {
                "model": loaded.name,
                "prompt_set": prompt_set,
                "prompt_set_sha256": prompt_set_sha256(prompts),
                "n_prompts": len(prompts),
                "dtype": dtype,
                "device": str(device),
                "attn_implementation": loaded.model.config._attn_implementation,
                "attention_metrics": options.attention,
                "batch_size": options.batch_size,
                "padding_side": "right",
                "wall_seconds": round(time.perf_counter() - started, 3),
                "nonfinite_prompts": nonfinite_prompts,
                "command": options.command,
                **provenance,
            }
        ]
    )
    tables["models"] = pd.DataFrame([model_row(loaded, options, provenance)])
    tables["prompts"] = prompts[["prompt_id", "prompt_set", "category", "complexity"]].assign(
        text_sha256=[hashlib.sha256(text.encode("utf-8")).hexdigest() for text in prompts["text"]]
    )
    return tables


def run_provenance() -> dict:
    """Package version, git revision and time (UTC) of a run, shared by its runs and models rows."""
    return {
        "package_version": __version__,
        "git_revision": git_revision(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def model_row(loaded: LoadedModel, options: RunOptions, provenance: dict | None = None) -> dict:
    """The ``models`` table row: architecture from the config, labels from the options or the registry."""
    arch, entry = loaded.architecture, loaded.entry

    def from_registry(column):
        return entry[column] if entry is not None and pd.notna(entry.get(column)) else None

    return {
        "model": loaded.name,
        "hf_id": loaded.hf_id,
        "revision": loaded.revision,
        "source": loaded.source,
        "quantization": loaded.quantization,
        "lab": options.lab or from_registry("lab"),
        "family": loaded.model.config.model_type,
        "variant": from_registry("variant"),
        "twin_of": options.twin_of or from_registry("twin_of"),
        "n_layers": arch.n_layers,
        "n_heads": arch.n_heads,
        "n_kv_heads": arch.n_kv_heads,
        "d_model": arch.d_model,
        "d_head": arch.d_head,
        "rho": arch.rho,
        "n_params": loaded.n_params,
        "norm_type": arch.norm_type,
        "norm_placement": arch.norm_placement,
        "parallel_residual": arch.parallel_residual,
        "positional": arch.positional,
        "dtype": str(loaded.model.dtype).removeprefix("torch."),
        "device": str(next(loaded.model.parameters()).device),
        "attn_implementation": loaded.model.config._attn_implementation,
        "seed": loaded.seed,
        "tokenizer": loaded.tokenizer_source,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        **(provenance or run_provenance()),
    }


def _prompt_index(prompts: pd.DataFrame, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """prompt_set / prompt_id columns broadcast to ``shape`` (leading axis = prompts)."""
    expand = (slice(None),) + (None,) * (len(shape) - 1)
    return {
        "prompt_set": np.broadcast_to(prompts["prompt_set"].to_numpy()[expand], shape),
        "prompt_id": np.broadcast_to(prompts["prompt_id"].to_numpy()[expand], shape),
    }


def _residual_frame(capture: BatchCapture, prompts: pd.DataFrame, n_layers: int) -> pd.DataFrame:
    views = residual_rows(capture)
    shape = views["norm_last"].shape  # [B, L + 2]
    layers = np.arange(-1, n_layers + 1)
    site = np.array(["embedding"] + ["block"] * n_layers + ["final_norm"])
    index = {
        **_prompt_index(prompts, shape),
        "n_tokens": np.broadcast_to(capture.n_tokens[:, None], shape),
        "site": np.broadcast_to(site, shape),
        "layer": np.broadcast_to(layers, shape),
    }
    return _long(index, views)


def _sublayer_frame(capture: BatchCapture, prompts: pd.DataFrame) -> pd.DataFrame:
    views = sublayer_rows(capture)
    shape = views["norm_in_mean"].shape  # [B, L, 2]
    index = {
        **_prompt_index(prompts, shape),
        "layer": np.broadcast_to(np.arange(shape[1])[None, :, None], shape),
        "sublayer": np.broadcast_to(np.array(SUBLAYERS), shape),
    }
    return _long(index, views)


def _attention_frame(capture: BatchCapture, prompts: pd.DataFrame) -> pd.DataFrame:
    shape = capture.offdiag_mass.shape  # [B, L, H]
    n_tokens = np.broadcast_to(capture.n_tokens[:, None, None], shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        offdiag_mean = np.where(n_tokens > 1, capture.offdiag_mass / (n_tokens - 1), np.nan)
    index = {
        **_prompt_index(prompts, shape),
        "layer": np.broadcast_to(np.arange(shape[1])[None, :, None], shape),
        "head": np.broadcast_to(np.arange(shape[2])[None, None, :], shape),
        "n_tokens": n_tokens,
    }
    values = {
        "offdiag_mass": capture.offdiag_mass,
        "offdiag_mean": offdiag_mean,
        "entropy": capture.attention_entropy,
        "mass_minus_tokens": capture.mass_minus_tokens,
    }
    return _long(index, values)


def _outputs_frame(capture: BatchCapture, prompts: pd.DataFrame, tokenizer) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt_set": prompts["prompt_set"].to_numpy(),
            "prompt_id": prompts["prompt_id"].to_numpy(),
            "n_tokens": capture.n_tokens,
            "entropy": capture.next_token_entropy,
            "top_token_id": capture.top_token_id,
            "top_token": [tokenizer.decode([int(t)]) for t in capture.top_token_id],
            "top_prob": capture.top_prob,
            "nonfinite_logits": capture.nonfinite_logits,
        }
    )
