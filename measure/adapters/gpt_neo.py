"""GPT-Neo (EleutherAI): attention wrapped in block.attn.attention; alternating global/local layers."""

import torch

from measure.adapters.base import (
    Architecture,
    HeadWeights,
    TransformerHAdapter,
    max_positions_of,
    split_columns,
    split_rows,
)


class GPTNeoAdapter(TransformerHAdapter):
    model_types = ("gpt_neo",)

    def architecture(self, config) -> Architecture:
        d, h = config.hidden_size, config.num_heads
        return Architecture(
            config.num_layers, h, h, d, d // h, "LayerNorm", "pre", False, "learned", max_positions_of(config)
        )

    def head_weights(self, model, layer):
        attn = self.blocks(model)[layer].attn.attention
        n = attn.num_heads
        return HeadWeights(
            split_rows(attn.v_proj.weight, n),
            None,
            split_columns(attn.out_proj.weight, n),
            attn.out_proj.bias,
            torch.arange(n),
        )
