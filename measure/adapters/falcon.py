"""Falcon (TII): fused query_key_value in three layouts.

* multi-query (falcon-7b): rows [all H query heads | one K | one V], shared by every head;
* new decoder architecture (falcon-40b and later): per KV group [q_1..q_g | k | v];
* otherwise per-head interleaving (H, 3, d_head) as in BLOOM.
"""

from measure.adapters.base import Architecture, HeadWeights, TransformerHAdapter, max_positions_of, split_columns


class FalconAdapter(TransformerHAdapter):
    model_types = ("falcon",)
    attention_name = "self_attention"

    def architecture(self, config) -> Architecture:
        d, h = config.hidden_size, config.num_attention_heads
        if config.new_decoder_architecture:
            kv = config.num_kv_heads
        else:
            kv = 1 if config.multi_query else h
        positional = "alibi" if config.alibi else "rotary"
        parallel = bool(config.parallel_attn or config.new_decoder_architecture)
        return Architecture(
            config.num_hidden_layers,
            h,
            kv,
            d,
            d // h,
            "LayerNorm",
            "pre",
            parallel,
            positional,
            None if config.alibi else max_positions_of(config),
        )

    def head_weights(self, model, layer):
        arch = self.architecture(model.config)
        attn = self.blocks(model)[layer].self_attention
        n, n_kv, d_head = arch.n_heads, arch.n_kv_heads, arch.d_head
        weight, bias = attn.query_key_value.weight, attn.query_key_value.bias
        if model.config.new_decoder_architecture:
            per_group = n // n_kv + 2
            w_v = weight.reshape(n_kv, per_group, d_head, -1)[:, -1]
            b_v = None if bias is None else bias.reshape(n_kv, per_group, d_head)[:, -1]
        elif model.config.multi_query:
            w_v = weight.reshape(n + 2, d_head, -1)[-1:]
            b_v = None if bias is None else bias.reshape(n + 2, d_head)[-1:]
        else:
            w_v = weight.reshape(n, 3, d_head, -1)[:, 2]
            b_v = None if bias is None else bias.reshape(n, 3, d_head)[:, 2]
        kv_head = arch.kv_head_map()
        w_v = w_v[kv_head]
        b_v = None if b_v is None else b_v[kv_head]
        dense = attn.dense
        return HeadWeights(w_v, b_v, split_columns(dense.weight, n), dense.bias, kv_head)
