"""OPT (Meta): pre-LN except OPT-350m, which is post-LN with 512-d project_in/project_out.

OPT-350m has no final LayerNorm: the module after the last block is ``project_out``. Its MLP
is two bare linear layers (fc1, fc2) that receive the hidden states flattened to [B*T, d].
"""

import torch

from measure.adapters.base import (
    Adapter,
    Architecture,
    HeadWeights,
    Sublayer,
    max_positions_of,
    split_columns,
    split_rows,
)


class OPTAdapter(Adapter):
    model_types = ("opt",)

    def architecture(self, config) -> Architecture:
        d, h = config.hidden_size, config.num_attention_heads
        placement = "pre" if config.do_layer_norm_before else "post"
        return Architecture(
            config.num_hidden_layers,
            h,
            h,
            d,
            d // h,
            "LayerNorm",
            placement,
            False,
            "learned",
            max_positions_of(config),
        )

    def blocks(self, model):
        return model.model.decoder.layers

    def final_module(self, model):
        decoder = model.model.decoder
        return decoder.final_layer_norm if decoder.final_layer_norm is not None else decoder.project_out

    def attention(self, block):
        return block.self_attn

    def sublayers(self, block):
        return {"attention": Sublayer(block.self_attn, block.self_attn), "mlp": Sublayer(block.fc1, block.fc2)}

    def head_weights(self, model, layer):
        attn = self.blocks(model)[layer].self_attn
        n = attn.num_heads
        v, o = attn.v_proj, attn.out_proj
        b_v = None if v.bias is None else v.bias.reshape(n, -1)
        return HeadWeights(split_rows(v.weight, n), b_v, split_columns(o.weight, n), o.bias, torch.arange(n))
