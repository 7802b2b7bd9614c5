"""BLOOM (BigScience): fused query_key_value viewed as (H, 3, d_head); ALiBi positions.

Its attention and MLP modules add the residual themselves (``dropout_add(out, residual)``),
so the probe subtracts the ``residual`` argument to read what each sublayer contributes.
"""

import torch

from measure.adapters.base import Architecture, HeadWeights, Sublayer, TransformerHAdapter, split_columns


class BloomAdapter(TransformerHAdapter):
    model_types = ("bloom",)
    attention_name = "self_attention"

    def architecture(self, config) -> Architecture:
        d, h = config.hidden_size, config.n_head
        return Architecture(config.n_layer, h, h, d, d // h, "LayerNorm", "pre", False, "alibi", None)

    def sublayers(self, block):
        return {
            "attention": Sublayer(block.self_attention, block.self_attention, output_includes_residual=True),
            "mlp": Sublayer(block.mlp, block.mlp, output_includes_residual=True),
        }

    def head_weights(self, model, layer):
        attn = self.blocks(model)[layer].self_attention
        n, d_head = attn.num_heads, attn.head_dim
        qkv, dense = attn.query_key_value, attn.dense
        w_v = qkv.weight.reshape(n, 3, d_head, -1)[:, 2]
        b_v = None if qkv.bias is None else qkv.bias.reshape(n, 3, d_head)[:, 2]
        return HeadWeights(w_v, b_v, split_columns(dense.weight, n), dense.bias, torch.arange(n))
