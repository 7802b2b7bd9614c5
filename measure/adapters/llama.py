"""LLaMA-style decoders (LLaMA, Mistral, Gemma 1-3, Qwen2/3, Apertus): separate v_proj/o_proj.

Grouped-query and multi-query attention: v_proj has H_kv * d_head rows; query head h reads
KV head floor(h * H_kv / H). ``config.head_dim`` is used where present (Gemma: 256, not
d_model / H). Gemma 2 and 3 normalise each sublayer's output before adding it to the residual
stream (post_attention_layernorm, post_feedforward_layernorm), so their contributions are read
after those norms.
"""

from measure.adapters.base import (
    Adapter,
    Architecture,
    HeadWeights,
    Sublayer,
    max_positions_of,
    split_columns,
    split_rows,
)


class LlamaAdapter(Adapter):
    model_types = ("llama", "mistral", "gemma", "qwen2", "qwen3", "apertus")

    def architecture(self, config) -> Architecture:
        d, h = config.hidden_size, config.num_attention_heads
        kv = getattr(config, "num_key_value_heads", None) or h
        d_head = getattr(config, "head_dim", None) or d // h
        return Architecture(
            config.num_hidden_layers, h, kv, d, d_head, "RMSNorm", "pre", False, "rotary", max_positions_of(config)
        )

    def blocks(self, model):
        return model.model.layers

    def final_module(self, model):
        return model.model.norm

    def attention(self, block):
        return block.self_attn

    def sublayers(self, block):
        return {"attention": Sublayer(block.self_attn, block.self_attn), "mlp": Sublayer(block.mlp, block.mlp)}

    def head_weights(self, model, layer):
        arch = self.architecture(model.config)
        attn = self.blocks(model)[layer].self_attn
        kv_head = arch.kv_head_map()
        v, o = attn.v_proj, attn.o_proj
        w_v = split_rows(v.weight, arch.n_kv_heads)[kv_head]
        b_v = None if v.bias is None else v.bias.reshape(arch.n_kv_heads, -1)[kv_head]
        return HeadWeights(w_v, b_v, split_columns(o.weight, arch.n_heads), o.bias, kv_head)


class Gemma2Adapter(LlamaAdapter):
    model_types = ("gemma2", "gemma3_text")

    def sublayers(self, block):
        return {
            "attention": Sublayer(block.self_attn, block.post_attention_layernorm),
            "mlp": Sublayer(block.mlp, block.post_feedforward_layernorm),
        }
