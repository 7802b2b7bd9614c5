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
from functools import cache
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

# Memory estimate (``estimate_memory_gb``): weights + one batch's activations + attention workspace
# + FIXED_OVERHEAD_GB (CUDA context, allocator slack, the tokenizer). Activations: ACTIVATION_COPIES
# hidden-state-sized tensors and the MLP's two d_ff-wide ones alive at once, and the last-position logits.
ACTIVATION_COPIES = 6
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
    return dict(
        n_layer=_int(e, "n_layers"),
        n_head=_int(e, "n_heads"),
        n_embd=_int(e, "d_model"),
        n_inner=_int(e, "d_ff"),
        n_positions=_int(e, "max_positions"),
        layer_norm_epsilon=_float(e, "layer_norm_eps"),
        activation_function=e["activation"],
    )


def _gptj(e: pd.Series) -> dict:
    return _gpt2(e) | dict(rotary_dim=round(_float(e, "rotary_pct") * _int(e, "d_head")))


def _gpt_neox(e: pd.Series) -> dict:
    return dict(
        num_hidden_layers=_int(e, "n_layers"),
        num_attention_heads=_int(e, "n_heads"),
        hidden_size=_int(e, "d_model"),
        intermediate_size=_int(e, "d_ff"),
        max_position_embeddings=_int(e, "max_positions"),
        layer_norm_eps=_float(e, "layer_norm_eps"),
        hidden_act=e["activation"],
        use_parallel_residual=_bool(e, "parallel_residual"),
        rotary_pct=_float(e, "rotary_pct"),
        rotary_emb_base=_float(e, "rope_theta"),
    )


def _gpt_neo(e: pd.Series) -> dict:
    n_layers = _int(e, "n_layers")
    if n_layers % 2:
        raise TableError(f"registry row {e['model']}: GPT-Neo alternates global/local attention; n_layers must be even")
    return dict(
        num_layers=n_layers,
        num_heads=_int(e, "n_heads"),
        hidden_size=_int(e, "d_model"),
        intermediate_size=_int(e, "d_ff"),
        max_position_embeddings=_int(e, "max_positions"),
        attention_types=[[["global", "local"], n_layers // 2]],
        window_size=_int(e, "window_size"),
        layer_norm_epsilon=_float(e, "layer_norm_eps"),
        activation_function=e["activation"],
    )


def _opt(e: pd.Series) -> dict:
    """OPT's LayerNorm eps is fixed at 1e-5 in its code; ``d_embed`` is the 512-d project_in/out of opt-350m."""
    return dict(
        num_hidden_layers=_int(e, "n_layers"),
        num_attention_heads=_int(e, "n_heads"),
        hidden_size=_int(e, "d_model"),
        ffn_dim=_int(e, "d_ff"),
        max_position_embeddings=_int(e, "max_positions"),
        activation_function=e["activation"],
        do_layer_norm_before=e["norm_placement"] == "pre",
        word_embed_proj_dim=_int(e, "d_embed") or _int(e, "d_model"),
    )


def _bloom(e: pd.Series) -> dict:
    """BLOOM's MLP width (4 d_model), activation and ALiBi are fixed in its code."""
    if _int(e, "d_ff") != 4 * _int(e, "d_model"):
        raise TableError(f"registry row {e['model']}: BLOOM's MLP width is always 4 * d_model")
    return dict(
        n_layer=_int(e, "n_layers"),
        n_head=_int(e, "n_heads"),
        hidden_size=_int(e, "d_model"),
        layer_norm_epsilon=_float(e, "layer_norm_eps"),
    )


def _falcon(e: pd.Series) -> dict:
    """The original Falcon decoder (falcon-7b): bias-free, multi-query when there is one KV head."""
    n_heads, n_kv = _int(e, "n_heads"), _int(e, "n_kv_heads")
    if n_kv not in (1, n_heads):
        raise TableError(
            f"registry row {e['model']}: the original Falcon decoder has 1 or n_heads KV heads, not {n_kv}"
        )
    alibi = e["positional"] == "alibi"
    return dict(
        num_hidden_layers=_int(e, "n_layers"),
        num_attention_heads=n_heads,
        num_kv_heads=n_kv,
        hidden_size=_int(e, "d_model"),
        ffn_hidden_size=_int(e, "d_ff"),
        max_position_embeddings=_int(e, "max_positions"),
        layer_norm_epsilon=_float(e, "layer_norm_eps"),
        activation=e["activation"],
        multi_query=n_kv == 1,
        new_decoder_architecture=False,
        parallel_attn=_bool(e, "parallel_residual"),
        bias=False,
        alibi=alibi,
        **({} if alibi else _rope(e)),
    )


def _llama_like(e: pd.Series) -> dict:
    """LLaMA-style decoders (llama, mistral, gemma*, apertus); ``head_dim`` is explicit; Gemma 2/3
    sliding/global layer patterns are the family defaults (those of the public checkpoints)."""
    kwargs = dict(
        num_hidden_layers=_int(e, "n_layers"),
        num_attention_heads=_int(e, "n_heads"),
        num_key_value_heads=_int(e, "n_kv_heads"),
        hidden_size=_int(e, "d_model"),
        head_dim=_int(e, "d_head"),
        intermediate_size=_int(e, "d_ff"),
        max_position_embeddings=_int(e, "max_positions"),
        rms_norm_eps=_float(e, "layer_norm_eps"),
        **_rope(e),
    )
    activation = "hidden_activation" if e["family"] in ("gemma2", "gemma3_text") else "hidden_act"
    kwargs[activation] = e["activation"]
    if e["family"] in ("mistral", "gemma2", "gemma3_text"):
        kwargs["sliding_window"] = _int(e, "window_size")
    return kwargs


def _qwen(e: pd.Series) -> dict:
    """Qwen2/Qwen3: LLaMA-style; sliding-window layers only when the row has a window (the public
    checkpoints have none: ``use_sliding_window`` is false in their configs)."""
    kwargs = _llama_like(e)
    window = _int(e, "window_size")
    return kwargs | (dict(use_sliding_window=True, sliding_window=window, max_window_layers=0) if window else {})


_FAMILY_KWARGS = {
    "gpt2": _gpt2,
    "gptj": _gptj,
    "gpt_neox": _gpt_neox,
    "gpt_neo": _gpt_neo,
    "opt": _opt,
    "bloom": _bloom,
    "falcon": _falcon,
    "llama": _llama_like,
    "mistral": _llama_like,
    "gemma": _llama_like,
    "gemma2": _llama_like,
    "gemma3_text": _llama_like,
    "apertus": _llama_like,
    "qwen2": _qwen,
    "qwen3": _qwen,
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
            f"Supported: {', '.join(FAMILIES)}.{suggest(family, list(FAMILIES))}"
        )
    from transformers import AutoConfig

    kwargs = _FAMILY_KWARGS[family](entry)
    kwargs.update(
        vocab_size=_int(entry, "vocab_size"), tie_word_embeddings=_bool(entry, "tie_embeddings"), dtype="float32"
    )
    return AutoConfig.for_model(family, **kwargs)


def _row_key(entry: pd.Series) -> tuple:
    return tuple((column, None if pd.isna(value) else value) for column, value in entry.items())


@cache
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


def statistics_path(entry: pd.Series) -> str:
    """Where the model's attention statistics come from: "fused_statistics" or "eager" (``measure.attention``)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    from measure.attention import FUSED_STATISTICS, supports_fused_statistics

    fused = supports_fused_statistics(MODEL_FOR_CAUSAL_LM_MAPPING[type(build_config(entry))])
    return FUSED_STATISTICS if fused else "eager"


def estimate_memory_gb(
    entry: pd.Series, dtype: str, *, attention: bool = False, batch_size: int = 8, n_tokens: int = 512
) -> float:
    """GiB to measure the model in ``dtype`` on batches of ``batch_size`` prompts of up to ``n_tokens`` tokens.

    weights + activations (module comment above) + the attention workspace + FIXED_OVERHEAD_GB. The
    workspace (B prompts, T tokens, H heads, s bytes per value):

    * SDPA (no statistics): a padded batch's boolean mask and SDPA's float copy of it, B T^2 (1 + s);
    * fused statistics (``statistics_path``): the boolean mask, B T^2, and four float32 buffers
      [B, H, T, d_head + 8]; with a sliding window shorter than T, also SDPA's float copy of the mask
      and one prompt's [T, T] float32 bias. No [B, H, T, T] tensor, and nothing quadratic for one prompt;
    * eager: its float mask, B T^2 s, and one layer's scores and probabilities in the model dtype and
      in float32 with an entropy temporary, B H T^2 (s + 12).
    """
    path = statistics_path(entry) if attention else "sdpa"
    return _memory_gb(
        estimate_params(entry),
        _int(entry, "d_model"),
        _int(entry, "d_ff"),
        _int(entry, "n_heads"),
        _int(entry, "d_head"),
        _int(entry, "vocab_size"),
        _int(entry, "window_size"),
        dtype,
        path,
        batch_size,
        n_tokens,
    )


def _memory_gb(
    n_params: int,
    d_model: int,
    d_ff: int,
    heads: int,
    d_head: int,
    vocab: int,
    window: int | None,
    dtype: str,
    path: str,
    b: int,
    t: int,
) -> float:
    """The estimate of ``estimate_memory_gb`` from architecture numbers; ``path``: sdpa (no statistics),
    fused_statistics or eager."""
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"Unknown dtype '{dtype}'; known: {', '.join(DTYPE_BYTES)}")
    size = DTYPE_BYTES[dtype]
    weights = n_params * size
    activations = b * t * (ACTIVATION_COPIES * d_model + 2 * d_ff) * size + b * vocab * 4
    padded = b > 1
    if path == "sdpa":
        workspace = b * t * t * (1 + size) if padded else 0
    elif path == "fused_statistics":
        windowed = window is not None and window < t
        workspace = (b * t * t if padded or windowed else 0) + 4 * b * heads * t * (d_head + 8) * 4
        workspace += (b * t * t * size + t * t * 4) if windowed else 0
    else:
        workspace = b * t * t * size + b * heads * t * t * (size + 12)
    return (weights + activations + workspace) / 2**30 + FIXED_OVERHEAD_GB


def estimate_memory_gb_from_config(
    model: str, revision: str | None, dtype: str, *, attention: bool = False, batch_size: int = 8, n_tokens: int = 512
) -> float:
    """The same estimate for a model outside the registry, from its config (hub id or local folder),
    built on the meta device; NaN when the config cannot be read here (no hub, no such folder) or its
    architecture is not supported."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from contract.errors import ThermoAuditError
    from measure.adapters import get_adapter
    from measure.attention import FUSED_STATISTICS, supports_fused_statistics

    try:
        config = AutoConfig.from_pretrained(model, revision=revision)
        arch = get_adapter(config.model_type).architecture(config)
        with torch.device("meta"):
            built = AutoModelForCausalLM.from_config(config)
    except (OSError, ValueError, KeyError, ThermoAuditError):
        return float("nan")
    d_ff = next(
        (
            getattr(config, name)
            for name in ("intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size")
            if isinstance(getattr(config, name, None), int)
        ),
        4 * arch.d_model,
    )
    path = "sdpa" if not attention else FUSED_STATISTICS if supports_fused_statistics(type(built)) else "eager"
    window = getattr(config, "sliding_window", None) or getattr(config, "window_size", None)
    return _memory_gb(
        sum(p.numel() for p in built.parameters()),
        arch.d_model,
        d_ff,
        arch.n_heads,
        arch.d_head,
        config.vocab_size,
        window if isinstance(window, int) else None,
        dtype,
        path,
        batch_size,
        n_tokens,
    )


def build_random_model(
    entry: pd.Series,
    seed: int = RANDOM_INIT_SEED,
    dtype: torch.dtype | None = None,
    attn_implementation: str | None = None,
) -> PreTrainedModel:
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
