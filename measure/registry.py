"""Models built from the registry (``contract.registry``): configs, parameter counts, memory.

Every registry row carries what ``transformers`` needs to rebuild the model's architecture without
the hub (``build_config``): the random-init controls are built from it, and the tests check each
row against the config it builds. Empty cells mean "not applicable" (e.g. ``window_size``) or
"unknown" (``n_params``); ``n_params_source`` says where a filled ``n_params`` comes from:
``R`` recorded by the paper's notebooks, ``C`` the public count of the HF checkpoint, ``B`` counted
from the built architecture where no public count is known (gpt-j-6b's model card states
6,053,381,344; the HF architecture has 6,050,882,784).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING

import pandas as pd

from contract.errors import TableError, UnsupportedArchitectureError
from contract.registry import suggest

if TYPE_CHECKING:  # torch and transformers load in seconds: only the functions that build models need them
    import torch
    from transformers import PretrainedConfig, PreTrainedModel

# arch-controls holds exactly the paper3 models whose built architecture has at most this many
# parameters ("up to about 1.5B": GPT-2 XL, 1.56B, is in; BLOOM-1b7, 1.72B, is out).
ARCH_CONTROLS_MAX_PARAMS = 1_600_000_000
# Seed of every random-init control: ``torch.manual_seed(RANDOM_INIT_SEED)`` right before the
# model is built, so each family's own ``_init_weights`` draws the same weights on every run.
RANDOM_INIT_SEED = 0

# Memory estimate: weights x (1 + ACTIVATION_FRACTION) + FIXED_OVERHEAD_GB. The allowance covers
# one batch's activations and (eager) attention probabilities for 8 prompts of up to 512 tokens,
# the last-position logits and the CUDA context; it is deliberately generous for small models.
ACTIVATION_FRACTION = 0.20
FIXED_OVERHEAD_GB = 1.0
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}

def _int(entry: pd.Series, column: str) -> int | None:
    value = entry.get(column)
    return None if pd.isna(value) else int(value)


def _float(entry: pd.Series, column: str) -> float | None:
    value = entry.get(column)
    return None if pd.isna(value) else float(value)


def _bool(entry: pd.Series, column: str) -> bool:
    value = entry[column]
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def _rope(entry: pd.Series) -> dict:
    """RoPE settings in the legacy config.json spelling, which every config class converts."""
    kwargs = {"rope_theta": _float(entry, "rope_theta")}
    if pd.notna(entry.get("rope_scaling")):
        kwargs["rope_scaling"] = json.loads(entry["rope_scaling"])
    return kwargs


def _gpt2(e: pd.Series) -> dict:
    return dict(n_layer=_int(e, "n_layers"), n_head=_int(e, "n_heads"), n_embd=_int(e, "d_model"),
                n_inner=_int(e, "d_ff"), n_positions=_int(e, "max_positions"),
                layer_norm_epsilon=_float(e, "layer_norm_eps"), activation_function=e["activation"])


def _gptj(e: pd.Series) -> dict:
    return _gpt2(e) | dict(rotary_dim=round(_float(e, "rotary_pct") * _int(e, "d_head")))


def _gpt_neox(e: pd.Series) -> dict:
    return dict(num_hidden_layers=_int(e, "n_layers"), num_attention_heads=_int(e, "n_heads"),
                hidden_size=_int(e, "d_model"), intermediate_size=_int(e, "d_ff"),
                max_position_embeddings=_int(e, "max_positions"), layer_norm_eps=_float(e, "layer_norm_eps"),
                hidden_act=e["activation"], use_parallel_residual=_bool(e, "parallel_residual"),
                rotary_pct=_float(e, "rotary_pct"), rotary_emb_base=_float(e, "rope_theta"))


def _gpt_neo(e: pd.Series) -> dict:
    n_layers = _int(e, "n_layers")
    if n_layers % 2:
        raise TableError(f"registry row {e['model']}: GPT-Neo alternates global/local attention; n_layers must be even")
    return dict(num_layers=n_layers, num_heads=_int(e, "n_heads"), hidden_size=_int(e, "d_model"),
                intermediate_size=_int(e, "d_ff"), max_position_embeddings=_int(e, "max_positions"),
                attention_types=[[["global", "local"], n_layers // 2]], window_size=_int(e, "window_size"),
                layer_norm_epsilon=_float(e, "layer_norm_eps"), activation_function=e["activation"])


def _opt(e: pd.Series) -> dict:
    """OPT's LayerNorm eps is fixed at 1e-5 in its code; ``d_embed`` is the 512-d project_in/out of opt-350m."""
    return dict(num_hidden_layers=_int(e, "n_layers"), num_attention_heads=_int(e, "n_heads"),
                hidden_size=_int(e, "d_model"), ffn_dim=_int(e, "d_ff"),
                max_position_embeddings=_int(e, "max_positions"), activation_function=e["activation"],
                do_layer_norm_before=e["norm_placement"] == "pre",
                word_embed_proj_dim=_int(e, "d_embed") or _int(e, "d_model"))


def _bloom(e: pd.Series) -> dict:
    """BLOOM's MLP width (4 d_model), activation and ALiBi are fixed in its code."""
    if _int(e, "d_ff") != 4 * _int(e, "d_model"):
        raise TableError(f"registry row {e['model']}: BLOOM's MLP width is always 4 * d_model")
    return dict(n_layer=_int(e, "n_layers"), n_head=_int(e, "n_heads"), hidden_size=_int(e, "d_model"),
                layer_norm_epsilon=_float(e, "layer_norm_eps"))


def _falcon(e: pd.Series) -> dict:
    """The original Falcon decoder (falcon-7b): bias-free, multi-query when there is one KV head."""
    n_heads, n_kv = _int(e, "n_heads"), _int(e, "n_kv_heads")
    if n_kv not in (1, n_heads):
        raise TableError(f"registry row {e['model']}: the original Falcon decoder has 1 or n_heads KV heads, "
                         f"not {n_kv}")
    alibi = e["positional"] == "alibi"
    return dict(num_hidden_layers=_int(e, "n_layers"), num_attention_heads=n_heads, num_kv_heads=n_kv,
                hidden_size=_int(e, "d_model"), ffn_hidden_size=_int(e, "d_ff"),
                max_position_embeddings=_int(e, "max_positions"), layer_norm_epsilon=_float(e, "layer_norm_eps"),
                activation=e["activation"], multi_query=n_kv == 1, new_decoder_architecture=False,
                parallel_attn=_bool(e, "parallel_residual"), bias=False, alibi=alibi,
                **({} if alibi else _rope(e)))


def _llama_like(e: pd.Series) -> dict:
    """LLaMA-style decoders (llama, mistral, gemma*, apertus); ``head_dim`` is explicit; Gemma 2/3
    sliding/global layer patterns are the family defaults (those of the public checkpoints)."""
    kwargs = dict(num_hidden_layers=_int(e, "n_layers"), num_attention_heads=_int(e, "n_heads"),
                  num_key_value_heads=_int(e, "n_kv_heads"), hidden_size=_int(e, "d_model"),
                  head_dim=_int(e, "d_head"), intermediate_size=_int(e, "d_ff"),
                  max_position_embeddings=_int(e, "max_positions"), rms_norm_eps=_float(e, "layer_norm_eps"),
                  **_rope(e))
    activation = "hidden_activation" if e["family"] in ("gemma2", "gemma3_text") else "hidden_act"
    kwargs[activation] = e["activation"]
    if e["family"] in ("mistral", "gemma2", "gemma3_text"):
        kwargs["sliding_window"] = _int(e, "window_size")
    return kwargs


_FAMILY_KWARGS = {
    "gpt2": _gpt2, "gptj": _gptj, "gpt_neox": _gpt_neox, "gpt_neo": _gpt_neo, "opt": _opt, "bloom": _bloom,
    "falcon": _falcon, "llama": _llama_like, "mistral": _llama_like, "gemma": _llama_like,
    "gemma2": _llama_like, "gemma3_text": _llama_like, "apertus": _llama_like,
}
FAMILIES = tuple(_FAMILY_KWARGS)


def build_config(entry: pd.Series) -> PretrainedConfig:
    """The model's architecture from its registry row alone (no hub, no tokenizer), dtype float32.

    Only architecture facts are set; token ids and everything the row does not hold keep the
    family config class's defaults (which follow the public checkpoints of the panel).
    """
    family = entry["family"]
    if family not in _FAMILY_KWARGS:
        raise UnsupportedArchitectureError(
            f"{entry['model']}: no registry config builder for family '{family}'. "
            f"Supported: {', '.join(FAMILIES)}.{suggest(family, list(FAMILIES))}")
    from transformers import AutoConfig

    kwargs = _FAMILY_KWARGS[family](entry)
    kwargs.update(vocab_size=_int(entry, "vocab_size"), tie_word_embeddings=_bool(entry, "tie_embeddings"),
                  dtype="float32")
    return AutoConfig.for_model(family, **kwargs)


def _row_key(entry: pd.Series) -> tuple:
    return tuple((column, None if pd.isna(value) else value) for column, value in entry.items())


@lru_cache(maxsize=None)
def _count_params(key: tuple) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    config = build_config(pd.Series(dict(key)))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def estimate_params(entry: pd.Series) -> int:
    """Exact parameter count of the built architecture, as ``model.parameters()`` counts it (tied
    weights once, buffers not at all); instantiated on the meta device, so it costs no memory."""
    return _count_params(_row_key(entry))


def _memory_gb(n_params: int, dtype: str) -> float:
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"Unknown dtype '{dtype}'; known: {', '.join(DTYPE_BYTES)}")
    weights_gb = n_params * DTYPE_BYTES[dtype] / 2**30
    return weights_gb * (1 + ACTIVATION_FRACTION) + FIXED_OVERHEAD_GB


def estimate_memory_gb(entry: pd.Series, dtype: str) -> float:
    """GiB to measure the model in ``dtype``: weights x (1 + ACTIVATION_FRACTION) + FIXED_OVERHEAD_GB."""
    return _memory_gb(estimate_params(entry), dtype)


def estimate_memory_gb_from_config(model: str, revision: str | None, dtype: str) -> float:
    """The same estimate for a model outside the registry, from its config (hub id or local folder),
    built on the meta device; NaN when the config cannot be read here (no hub, no such folder)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(model, revision=revision)
        with torch.device("meta"):
            built = AutoModelForCausalLM.from_config(config)
    except (OSError, ValueError, KeyError):
        return float("nan")
    return _memory_gb(sum(p.numel() for p in built.parameters()), dtype)


def build_random_model(entry: pd.Series, seed: int = RANDOM_INIT_SEED, dtype: torch.dtype | None = None,
                       attn_implementation: str | None = None) -> PreTrainedModel:
    """The registry architecture with random weights from the family's own ``_init_weights``, in eval mode.

    Deterministic: the same ``seed`` gives identical weights. ``attn_implementation`` is passed to
    ``transformers`` ("eager" when attention probabilities are needed, else e.g. "sdpa").
    The weights are always drawn in float32 on the CPU and then cast to ``dtype`` (default float32),
    so a bfloat16 control holds the rounded weights of the float32 one, on any machine.
    """
    import torch
    from transformers import AutoModelForCausalLM

    config = build_config(entry)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation=attn_implementation)
    return model.to(dtype or torch.float32).eval()
