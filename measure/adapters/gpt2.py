"""GPT-2 (OpenAI): Conv1D weights stored [d_in, d_out]; c_attn columns are [Q | K | V]."""

import torch

from measure.adapters.base import Architecture, HeadWeights, TransformerHAdapter, max_positions_of


class GPT2Adapter(TransformerHAdapter):
    model_types = ("gpt2",)

    def architecture(self, config) -> Architecture:
        d, h = config.n_embd, config.n_head
        return Architecture(
            config.n_layer, h, h, d, d // h, "LayerNorm", "pre", False, "learned", max_positions_of(config)
        )

    def head_weights(self, model, layer):
        attn = self.blocks(model)[layer].attn
        d, n_heads = attn.embed_dim, attn.num_heads
        # Conv1D computes x @ W + b; transpose to the nn.Linear layout [d_out, d_in] first.
        w_v = attn.c_attn.weight[:, 2 * d :].T.reshape(n_heads, -1, d)
        b_v = attn.c_attn.bias[2 * d :].reshape(n_heads, -1)
        w_o = attn.c_proj.weight.T.reshape(d, n_heads, -1).permute(1, 0, 2)
        return HeadWeights(w_v, b_v, w_o, attn.c_proj.bias, torch.arange(n_heads))
