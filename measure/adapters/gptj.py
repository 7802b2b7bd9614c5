"""GPT-J (EleutherAI): separate q/k/v projections without bias; one LayerNorm, parallel residual."""

import torch

from measure.adapters.base import (
    Architecture,
    HeadWeights,
    TransformerHAdapter,
    max_positions_of,
    split_columns,
    split_rows,
)


class GPTJAdapter(TransformerHAdapter):
    model_types = ("gptj",)

    def architecture(self, config) -> Architecture:
        d, h = config.n_embd, config.n_head
        return Architecture(
            config.n_layer, h, h, d, d // h, "LayerNorm", "pre", True, "rotary", max_positions_of(config)
        )

    def head_weights(self, model, layer):
        attn = self.blocks(model)[layer].attn
        n = attn.num_attention_heads
        return HeadWeights(
            split_rows(attn.v_proj.weight, n), None, split_columns(attn.out_proj.weight, n), None, torch.arange(n)
        )
