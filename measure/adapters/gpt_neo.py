"""GPT-Neo (EleutherAI): attention wrapped in block.attn.attention; alternating global/local layers."""

import torch

from measure.adapters.base import Adapter, Architecture, HeadWeights, Sublayer, max_positions_of, split_columns, split_rows


class GPTNeoAdapter(Adapter):
    model_types = ("gpt_neo",)

    def architecture(self, config) -> Architecture:
        d, h = config.hidden_size, config.num_heads
        return Architecture(config.num_layers, h, h, d, d // h, "LayerNorm", "pre", False, "learned",
                            max_positions_of(config))

    def blocks(self, model):
        return model.transformer.h

    def final_module(self, model):
        return model.transformer.ln_f

    def attention(self, block):
        return block.attn

    def sublayers(self, block):
        return {"attention": Sublayer(block.attn, block.attn), "mlp": Sublayer(block.mlp, block.mlp)}

    def head_weights(self, model, layer):
        attn = self.blocks(model)[layer].attn.attention
        n = attn.num_heads
        return HeadWeights(split_rows(attn.v_proj.weight, n), None, split_columns(attn.out_proj.weight, n),
                           attn.out_proj.bias, torch.arange(n))
