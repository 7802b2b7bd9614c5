"""The shared conformance suite: every registered architecture adapter on a tiny random model.

For each tiny configuration (tests/conformance_configs.py):

* the attention output rebuilt from the adapter's per-head W_V^h, W_O^h (and biases) and the
  captured attention probabilities equals the attention module's own output;
* a deliberately mis-paired extraction (heads rolled by one) does NOT pass, so the check has power;
* the sublayer contributions the adapter names add up to each block's residual update;
* the probe's block-hook norms equal ``output_hidden_states`` wherever the two coincide;
* a right-padded batch gives the same norms, attention reductions and next-token entropy as
  each prompt run alone;
* grouped/multi-query models map query head h to KV head floor(h * H_kv / H).
"""

from __future__ import annotations

import pytest
import torch

from conformance_configs import TINY_CONFIGS, build_tiny_model
from measure.adapters import ADAPTERS, get_adapter
from measure.probe import Probe, first_input, first_output

NAMES = sorted(TINY_CONFIGS)
PROMPT_LENGTHS = (7, 4, 1)


def padded_batch(lengths=PROMPT_LENGTHS, vocab: int = 128, seed: int = 1):
    """Random token ids, right-padded with id 0; returns (input_ids, attention_mask, per-prompt ids)."""
    gen = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(3, vocab, (n,), generator=gen) for n in lengths]
    width = max(lengths)
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)] = prompt
        mask[row, : len(prompt)] = 1
    return ids, mask, prompts


def capture_attention(model, adapter, ids, mask):
    """Per layer: the attention module's input, output (residual removed), probabilities."""
    records = {}

    def make_hook(layer, sublayer):
        def hook(module, args, kwargs, output):
            out = first_output(output)
            if sublayer.output_includes_residual:
                residual = args[sublayer.residual_arg] if len(args) > sublayer.residual_arg else kwargs["residual"]
                out = out - residual
            records[layer] = (first_input(args, kwargs), out, output[1])
        return hook

    handles = []
    for layer, block in enumerate(adapter.blocks(model)):
        module = adapter.attention(block)
        sublayer = adapter.sublayers(block)["attention"]
        assert sublayer.input_module is module
        handles.append(module.register_forward_hook(make_hook(layer, sublayer), with_kwargs=True))
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    for handle in handles:
        handle.remove()
    return records


def rebuild_attention(x, probs, weights):
    """sum_h A_h (X W_V^h^T + b_V^h) W_O^h^T + b_O, in float64."""
    x, probs = x.double(), probs.double()
    values = torch.einsum("btd,hed->bhte", x, weights.w_v.double())
    if weights.b_v is not None:
        values = values + weights.b_v.double()[None, :, None, :]
    mixed = probs @ values  # [B, H, T, d_head]
    out = torch.einsum("bhte,hde->btd", mixed, weights.w_o.double())
    if weights.b_o is not None:
        out = out + weights.b_o.double()
    return out


def relative_error(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.fixture(scope="module", params=NAMES)
def tiny(request):
    model = build_tiny_model(request.param)
    return request.param, model, get_adapter(model.config.model_type)


def test_every_registered_model_type_has_a_conformance_config():
    covered = {model_type for model_type, _ in TINY_CONFIGS.values()}
    assert covered == set(ADAPTERS)


def test_attention_output_rebuilt_from_per_head_matrices(tiny):
    name, model, adapter = tiny
    ids, mask, _ = padded_batch()
    records = capture_attention(model, adapter, ids, mask)
    assert len(records) == adapter.architecture(model.config).n_layers
    for layer, (x, out, probs) in records.items():
        weights = adapter.head_weights(model, layer)
        rebuilt = rebuild_attention(x, probs, weights)
        assert relative_error(rebuilt, out) < 1e-5, f"{name} layer {layer}"


def test_mispaired_heads_fail_the_rebuild(tiny):
    name, model, adapter = tiny
    ids, mask, _ = padded_batch()
    x, out, probs = capture_attention(model, adapter, ids, mask)[0]
    weights = adapter.head_weights(model, 0)
    rolled = type(weights)(weights.w_v, weights.b_v, weights.w_o.roll(1, dims=0), weights.b_o, weights.kv_head)
    assert relative_error(rebuild_attention(x, probs, rolled), out) > 1e-2


def test_head_weight_shapes_and_kv_map(tiny):
    name, model, adapter = tiny
    arch = adapter.architecture(model.config)
    weights = adapter.head_weights(model, 0)
    assert weights.w_v.shape == (arch.n_heads, arch.d_head, arch.d_model)
    assert weights.w_o.shape == (arch.n_heads, arch.d_model, arch.d_head)
    group = arch.n_heads // arch.n_kv_heads
    assert weights.kv_head.tolist() == [h // group for h in range(arch.n_heads)]
    for h in range(arch.n_heads):  # query heads sharing a KV head share its W_V
        first = int((weights.kv_head == weights.kv_head[h]).nonzero()[0])
        assert torch.equal(weights.w_v[h], weights.w_v[first])
    if arch.n_kv_heads < arch.n_heads:
        assert arch.n_kv_heads == 1 or not torch.equal(weights.w_v[0], weights.w_v[-1])


def test_sublayer_contributions_add_up_to_the_block_update(tiny):
    name, model, adapter = tiny
    arch = adapter.architecture(model.config)
    if arch.norm_placement == "post":
        pytest.skip("post-LN blocks normalise after the residual add: the update is not a sum")
    ids, mask, _ = padded_batch()
    batch, length = ids.shape
    seen = {}

    def store(key, sublayer=None):
        def hook(module, args, kwargs, output):
            out = first_output(output)
            if sublayer is not None and sublayer.output_includes_residual:
                residual = args[sublayer.residual_arg] if len(args) > sublayer.residual_arg else kwargs["residual"]
                out = out - residual
            seen[key] = out.reshape(batch, length, -1).clone()
        return hook

    def store_input(key):
        def hook(module, args, kwargs):
            seen[key] = first_input(args, kwargs).clone()
        return hook

    handles = []
    for layer, block in enumerate(adapter.blocks(model)):
        handles.append(block.register_forward_pre_hook(store_input(("in", layer)), with_kwargs=True))
        handles.append(block.register_forward_hook(store(("out", layer)), with_kwargs=True))
        for kind, sub in adapter.sublayers(block).items():
            handles.append(sub.output_module.register_forward_hook(store((kind, layer), sub), with_kwargs=True))
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    for handle in handles:
        handle.remove()
    for layer in range(arch.n_layers):
        update = seen[("out", layer)] - seen[("in", layer)]
        assert relative_error(seen[("attention", layer)] + seen[("mlp", layer)], update) < 1e-5, f"{name} {layer}"


def test_block_norms_equal_hidden_states_where_they_coincide(tiny):
    """hidden_states[0] = input to block 0, [k] = output of block k-1 (k < L), [L] = final norm output."""
    name, model, adapter = tiny
    ids, mask, _ = padded_batch()
    with Probe(model, adapter, attention=False) as probe:
        capture = probe.run(ids, mask)
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    n_layers = adapter.architecture(model.config).n_layers
    assert len(hidden) == n_layers + 1
    for k in range(n_layers):  # sites 0..L-1: input to block 0 and outputs of blocks 0..L-2
        expected = hidden[k].float().norm(dim=-1).numpy()
        assert abs(capture.token_norms[:, k] - expected).max() < 1e-4 * expected.max(), f"{name} site {k}"
    final = hidden[n_layers].float().norm(dim=-1).numpy()
    assert abs(capture.token_norms[:, n_layers + 1] - final).max() < 1e-4 * final.max()
    # the last block's raw output is NOT hidden_states[-1] (which has the final norm applied)
    assert abs(capture.token_norms[:, n_layers] - final).max() > 1e-3 * final.max()


def test_padded_batch_matches_single_prompts(tiny):
    name, model, adapter = tiny
    ids, mask, prompts = padded_batch()
    with Probe(model, adapter, attention=True) as probe:
        batched = probe.run(ids, mask)
        for row, prompt in enumerate(prompts):
            alone = probe.run(prompt[None, :], torch.ones(1, len(prompt), dtype=torch.long))
            n = len(prompt)
            assert batched.n_tokens[row] == n
            torch.testing.assert_close(batched.token_norms[row, :, :n], alone.token_norms[0], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(batched.sublayer_norms[row, ..., :n], alone.sublayer_norms[0],
                                       rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(batched.offdiag_mass[row], alone.offdiag_mass[0], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(batched.attention_entropy[row], alone.attention_entropy[0],
                                       rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(batched.next_token_entropy[row], alone.next_token_entropy[0],
                                       rtol=1e-4, atol=1e-5)
            assert batched.top_token_id[row] == alone.top_token_id[0]


def test_attention_reductions_match_a_direct_computation(tiny):
    name, model, adapter = tiny
    ids, mask, prompts = padded_batch()
    records = capture_attention(model, adapter, ids, mask)
    with Probe(model, adapter, attention=True) as probe:
        capture = probe.run(ids, mask)
    for layer, (_, _, probs) in records.items():
        for row, prompt in enumerate(prompts):
            n = len(prompt)
            a = probs[row, :, :n, :n].double()
            offdiag = n - torch.diagonal(a, dim1=-2, dim2=-1).sum(-1)
            entropy = -(a * torch.log(a.clamp_min(1e-300))).sum(-1).mean(-1)
            torch.testing.assert_close(torch.as_tensor(capture.offdiag_mass[row, layer]).double(), offdiag,
                                       rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(torch.as_tensor(capture.attention_entropy[row, layer]).double(), entropy,
                                       rtol=1e-4, atol=1e-5)
