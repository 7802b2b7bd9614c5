"""GPT-NeoX (Pythia, StableLM-alpha): fused query_key_value rows interleaved per head.

HF views the fused projection as [..., H, 3 * d_head] and chunks the last axis into q, k, v,
so head h's value rows are [3h*d_head + 2*d_head, 3h*d_head + 3*d_head). The paper's
notebooks took rows [2d, 3d) instead, which mixes q, k and v rows of the last third of heads.
"""

import torch

from measure.adapters.base import Adapter, Architecture, HeadWeights, Sublayer, max_positions_of, split_columns


class GPTNeoXAdapter(Adapter):
    model_types = ("gpt_neox",)

    def architecture(self, config) -> Architecture:
        d, h = config.hidden_size, config.num_attention_heads
        return Architecture(
            config.num_hidden_layers,
            h,
            h,
            d,
            d // h,
            "LayerNorm",
            "pre",
            bool(config.use_parallel_residual),
            "rotary",
            max_positions_of(config),
        )

    def blocks(self, model):
        return model.gpt_neox.layers

    def final_module(self, model):
        return model.gpt_neox.final_layer_norm

    def attention(self, block):
        return block.attention

    def sublayers(self, block):
        return {"attention": Sublayer(block.attention, block.attention), "mlp": Sublayer(block.mlp, block.mlp)}

    def head_weights(self, model, layer):
        attn = self.blocks(model)[layer].attention
        qkv, dense = attn.query_key_value, attn.dense
        n_heads = qkv.out_features // (3 * attn.head_size)
        w_v = qkv.weight.reshape(n_heads, 3, attn.head_size, -1)[:, 2]
        b_v = None if qkv.bias is None else qkv.bias.reshape(n_heads, 3, attn.head_size)[:, 2]
        return HeadWeights(w_v, b_v, split_columns(dense.weight, n_heads), dense.bias, torch.arange(n_heads))
