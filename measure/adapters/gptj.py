"""GPT-J (EleutherAI): separate q/k/v projections without bias; one LayerNorm, parallel residual."""

import torch

from measure.adapters.base import Adapter, Architecture, HeadWeights, Sublayer, max_positions_of, split_columns, split_rows


class GPTJAdapter(Adapter):
    model_types = ("gptj",)

    def architecture(self, config) -> Architecture:
        d, h = config.n_embd, config.n_head
        return Architecture(config.n_layer, h, h, d, d // h, "LayerNorm", "pre", True, "rotary",
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
        attn = self.blocks(model)[layer].attn
        n = attn.num_attention_heads
        return HeadWeights(split_rows(attn.v_proj.weight, n), None, split_columns(attn.out_proj.weight, n),
                           None, torch.arange(n))
