"""Tiny random-init configurations, at least one per registered model type, for the conformance suite.

Each entry builds in well under a second on a CPU. Dimensions are chosen to exercise what the
adapters must get right: fused-QKV interleaving, Conv1D transposes, grouped/multi-query heads,
``head_dim`` different from d_model / H, post-LN with project_in/out, biases, local attention
(windows of 3 tokens, shorter than the conformance prompts), ALiBi, and soft-capping strong enough
to matter (Gemma 2: c = 0.5 on scores scaled by 1, not 1/sqrt(256)).
"""

from __future__ import annotations

import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

COMMON = dict(vocab_size=128, bos_token_id=1, eos_token_id=2, pad_token_id=0)

TINY_CONFIGS: dict[str, tuple[str, dict]] = {
    "gpt2": ("gpt2", dict(n_layer=3, n_head=4, n_embd=32, n_positions=64)),
    "gpt_neox-parallel": (
        "gpt_neox",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
            rotary_pct=0.25,
            use_parallel_residual=True,
            attention_bias=True,
        ),
    ),
    "gpt_neox-sequential": (
        "gpt_neox",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
            use_parallel_residual=False,
        ),
    ),
    "gptj": ("gptj", dict(n_layer=3, n_head=4, n_embd=32, rotary_dim=4, n_positions=64)),
    "gpt_neo": (
        "gpt_neo",
        dict(
            num_layers=3,
            attention_types=[[["global", "local"], 1], [["global"], 1]],
            num_heads=4,
            hidden_size=32,
            max_position_embeddings=64,
            window_size=3,
        ),
    ),
    "opt": (
        "opt",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            hidden_size=32,
            ffn_dim=64,
            max_position_embeddings=64,
            word_embed_proj_dim=32,
        ),
    ),
    "opt-post-ln": (
        "opt",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            hidden_size=32,
            ffn_dim=64,
            max_position_embeddings=64,
            word_embed_proj_dim=16,
            do_layer_norm_before=False,
        ),
    ),
    "bloom": ("bloom", dict(n_layer=3, n_head=4, hidden_size=32)),
    "falcon-multi-query": (
        "falcon",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            hidden_size=32,
            multi_query=True,
            new_decoder_architecture=False,
            parallel_attn=True,
            bias=True,
            alibi=False,
            max_position_embeddings=64,
        ),
    ),
    "falcon-new-decoder": (
        "falcon",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_kv_heads=2,
            hidden_size=32,
            new_decoder_architecture=True,
            bias=False,  # as Falcon-40B and Falcon-7B: no biases (the others keep them, to test their slicing)
            alibi=False,
            max_position_embeddings=64,
        ),
    ),
    "falcon-per-head-alibi": (
        "falcon",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            hidden_size=32,
            multi_query=False,
            new_decoder_architecture=False,
            parallel_attn=False,
            bias=True,
            alibi=True,
        ),
    ),
    "llama-gqa": (
        "llama",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
        ),
    ),
    "mistral": (
        "mistral",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
            sliding_window=3,
        ),
    ),
    "gemma-mqa": (
        "gemma",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=16,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
        ),
    ),
    "gemma2": (
        "gemma2",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
            sliding_window=3,
            attn_logit_softcapping=0.5,
            query_pre_attn_scalar=1,
        ),
    ),
    "gemma3_text": (
        "gemma3_text",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=16,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
            sliding_window=3,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        ),
    ),
    "qwen2": (
        "qwen2",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
        ),
    ),
    "qwen2-sliding": (
        "qwen2",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
            use_sliding_window=True,
            sliding_window=3,
            max_window_layers=1,
        ),
    ),
    "qwen3": (
        "qwen3",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
        ),
    ),
    "apertus": (
        "apertus",
        dict(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
        ),
    ),
}


def build_tiny_model(name: str, attn_implementation: str = "eager", seed: int = 0):
    """A tiny random model whose every parameter (biases and norm gains included) is non-trivial."""
    model_type, kwargs = TINY_CONFIGS[name]
    config = AutoConfig.for_model(model_type, **COMMON, **kwargs)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per printable character (ids 2..96, valid in every tiny vocabulary); pad 0, unk 1."""
    vocab = {"[PAD]": 0, "[UNK]": 1} | {chr(c): c - 30 for c in range(32, 127)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]")
