"""The conformance suite: every registered architecture on a tiny random model (tests/conformance_configs.py).

* One registry of families: every supported ``model_type`` has an adapter, a registry config
  builder and a tiny conformance config.
* Each property of ``measure.conformance`` (the public ``check_adapter``) holds for every tiny
  model, fused attention statistics included (both kernels, against eager, to 1e-5 in float32,
  at prompt lengths where the 3-token sliding windows and Gemma 2's soft-capping matter).
* The checks have power: broken adapters and a mis-scaled fused kernel are caught and named.
* The real loading path: each tiny model saved to a folder with a character tokenizer, loaded by
  ``load_model`` with and without attention statistics (the implementation each family gets is
  checked against what the installed transformers declares), measured by ``measure_model``,
  equals the direct eager probe on the in-memory model.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
import torch
from conformance_configs import COMMON, TINY_CONFIGS, build_tiny_model, char_tokenizer

from contract.errors import ModelLoadError
from measure.adapters import ADAPTERS, get_adapter
from measure.adapters.base import HeadWeights, Sublayer
from measure.attention import FUSED_STATISTICS, supports_fused_statistics
from measure.conformance import (
    EAGER_CHECKS,
    ConformanceError,
    attention_implementation,
    check_adapter,
    check_fused_statistics,
    fused_against_eager,
    padded_batch,
)
from measure.loading import load_model
from measure.probe import Probe
from measure.prompts import read_prompt_file
from measure.registry import FAMILIES
from measure.runner import RunOptions, batches, measure_model, tokenize

NAMES = sorted(TINY_CONFIGS)
BATCH = padded_batch(vocab=COMMON["vocab_size"])
WINDOW = 3  # every tiny config's sliding/local window
# The implementation each family loads with (without, with attention statistics), from the class flags of
# the installed transformers: SDPA refused by GPT-Neo, BLOOM, Gemma 2; attention outside the interface in
# GPT-Neo, BLOOM and Falcon.
EXPECTED_ATTENTION = {
    "gpt_neo": ("eager", "eager"),
    "bloom": ("eager", "eager"),
    "falcon": ("sdpa", "eager"),
    "gemma2": ("eager", FUSED_STATISTICS),
}
REFUSED_WITH_ATTENTION = {"falcon-per-head-alibi"}  # eager Falcon adds ALiBi twice (measure.attention.check_faithful)


@pytest.fixture(scope="module", params=NAMES)
def tiny(request):
    model = build_tiny_model(request.param)
    return request.param, model, get_adapter(model.config.model_type)


def test_every_supported_family_has_an_adapter_a_builder_and_a_conformance_config():
    covered = {model_type for model_type, _ in TINY_CONFIGS.values()}
    assert covered == set(ADAPTERS)
    assert set(FAMILIES) == set(ADAPTERS)


def test_conformance_prompts_are_longer_than_the_windows():
    assert max(len(p) for p in BATCH.prompts) > 2 * WINDOW
    assert (BATCH.mask == 0).any()  # and the batch is padded


@pytest.mark.parametrize("check", list(EAGER_CHECKS))
def test_conformance_property(tiny, check):
    name, model, adapter = tiny
    with attention_implementation(model, "eager"):
        EAGER_CHECKS[check](model, adapter, BATCH)


def test_fused_statistics_equal_eager(tiny):
    """Both kernels, to 1e-5 in float32 on every per-head statistic (sums over up to 23 rows included)."""
    name, model, adapter = tiny
    check_fused_statistics(model, adapter, BATCH)  # a no-op for the families outside the attention interface
    if model.config._attn_implementation == "eager" and supports_fused_statistics(type(model)):
        for kernel in ("auto", "chunked"):
            differences = fused_against_eager(model, adapter, BATCH, kernel)
            assert max(differences[k] for k in ("offdiag_mass", "entropy", "mass_minus_tokens")) <= 1e-5
            assert differences["token_norms"] <= 1e-6


def test_check_adapter_runs_every_check():
    model = build_tiny_model("mistral")
    assert check_adapter(model) == list(EAGER_CHECKS) + ["fused_statistics"]
    assert model.config._attn_implementation == "eager"  # restored after the fused comparison


def _eager_statistics(model, adapter):
    with Probe(model, adapter, attention=True) as probe:
        capture = probe.run(BATCH.ids, BATCH.mask)
    return capture.offdiag_mass, capture.attention_entropy


@pytest.mark.parametrize(
    "name, setting, plain",
    [
        ("mistral", "sliding_window", 4096),
        ("gemma2", "sliding_window", 4096),
        ("gemma3_text", "sliding_window", 4096),
        ("qwen2-sliding", "sliding_window", 4096),
        ("gemma2", "attn_logit_softcapping", None),
    ],
)
def test_windows_and_soft_capping_change_the_statistics_at_the_conformance_length(name, setting, plain):
    """Power of the fused-vs-eager check: the same weights with a window longer than the prompts (or without
    soft-capping) give other statistics."""
    model = build_tiny_model(name)
    adapter = get_adapter(model.config.model_type)
    with_setting = _eager_statistics(model, adapter)
    setattr(model.config, setting, plain)
    for block in adapter.blocks(model):
        attention = adapter.attention(block)
        for attribute in ("sliding_window", "attn_logit_softcapping"):
            if attribute == setting and hasattr(attention, attribute):
                setattr(attention, attribute, plain)
    without = _eager_statistics(model, adapter)
    for statistic, other in zip(with_setting, without):  # 100 times the fused-vs-eager tolerance
        assert np.abs(statistic - other).max() > 1e-3


# -- the checks catch what they are for ------------------------------------------------------------
def _broken(adapter, **overrides):
    """An instance of a subclass of ``adapter``'s class with some methods replaced."""
    return type("Broken" + type(adapter).__name__, (type(adapter),), overrides)()


def test_rolled_output_heads_are_caught():
    model = build_tiny_model("llama-gqa")
    adapter = get_adapter("llama")

    def head_weights(self, model, layer):
        w = type(adapter).head_weights(self, model, layer)
        return HeadWeights(w.w_v, w.b_v, w.w_o.roll(1, dims=0), w.b_o, w.kv_head)

    with pytest.raises(ConformanceError, match="attention_rebuild") as err:
        check_adapter(model, _broken(adapter, head_weights=head_weights))
    assert err.value.check == "attention_rebuild"


def test_wrong_kv_map_is_caught():
    model = build_tiny_model("llama-gqa")
    adapter = get_adapter("llama")

    def head_weights(self, model, layer):
        w = type(adapter).head_weights(self, model, layer)
        return HeadWeights(w.w_v, w.b_v, w.w_o, w.b_o, torch.arange(len(w.kv_head)) % 2)

    with pytest.raises(ConformanceError, match="head_weights"):
        check_adapter(model, _broken(adapter, head_weights=head_weights))


def test_final_module_mistaken_for_the_last_block_is_caught():
    model = build_tiny_model("gpt2")
    adapter = get_adapter("gpt2")
    with pytest.raises(ConformanceError, match="hidden_states"):
        check_adapter(model, _broken(adapter, final_module=lambda self, model: model.transformer.h[-1]))


def test_a_mis_scaled_fused_kernel_is_caught(monkeypatch):
    import measure.attention

    honest = measure.attention.lse_rows
    monkeypatch.setattr(
        measure.attention,
        "lse_rows",
        lambda q, k, mask, scale, *args, **kwargs: honest(q, k, mask, 1.01 * scale, *args, **kwargs),
    )
    model = build_tiny_model("gpt2")
    with pytest.raises(ConformanceError, match="fused_statistics.*kernel auto"):
        check_fused_statistics(model, get_adapter("gpt2"), BATCH)


def test_a_model_that_cannot_run_eager_is_refused_clearly():
    model = build_tiny_model("falcon-multi-query", attn_implementation="sdpa")
    with pytest.raises(ConformanceError, match="setup.*attn_implementation='eager'"):
        check_adapter(model)


# -- the real loading path ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Every tiny model saved with a character tokenizer, and a prompt file longer than the windows."""
    root = tmp_path_factory.mktemp("families")
    for name in NAMES:
        build_tiny_model(name).save_pretrained(root / name)
        char_tokenizer().save_pretrained(root / name)
    pd.DataFrame({"text": ["abc def ghi jkl mno", "x", "hello world, again", "the cat sat"]}).to_csv(
        root / "prompts.csv", index=False
    )
    return root


@pytest.mark.parametrize("attention", [False, True], ids=["no-attention", "attention"])
@pytest.mark.parametrize("name", NAMES)
def test_loading_path_measures_every_family(saved, name, attention):
    prompts = read_prompt_file(saved / "prompts.csv")
    if attention and name in REFUSED_WITH_ATTENTION:
        with pytest.raises(ModelLoadError, match="ALiBi bias twice"):
            load_model(str(saved / name), attention=attention, device="cpu")
        return
    loaded = load_model(str(saved / name), attention=attention, device="cpu")
    family = loaded.model.config.model_type
    expected = EXPECTED_ATTENTION.get(family, ("sdpa", FUSED_STATISTICS))[attention]
    assert loaded.model.config._attn_implementation == expected
    tables = measure_model(loaded, prompts, RunOptions(batch_size=3, attention=attention, progress=False))
    assert tables["runs"]["attn_implementation"].iloc[0] == expected
    assert tables["models"]["attn_implementation"].iloc[0] == expected
    assert ("attention" in tables) == attention

    # the same weights in memory, probed directly: eager for the statistics, else the loaded implementation
    direct_model = build_tiny_model(name, attn_implementation="eager" if attention else expected)
    adapter = get_adapter(family)
    residual = tables["residual"].set_index(["prompt_id", "layer"])
    with Probe(direct_model, adapter, attention=attention) as probe:
        for rows, ids, mask in batches(tokenize(loaded, prompts), 3, 0, torch.device("cpu")):
            capture = probe.run(ids, mask)
            for r, i in enumerate(rows):
                prompt_id, n = prompts["prompt_id"].iloc[i], int(capture.n_tokens[r])
                measured = residual.loc[prompt_id].sort_index()["norm_last"].to_numpy()
                np.testing.assert_allclose(measured, capture.token_norms[r, :, n - 1], rtol=1e-5)
                if attention:
                    frame = tables["attention"].query("prompt_id == @prompt_id").sort_values(["layer", "head"])
                    np.testing.assert_allclose(frame["offdiag_mass"], capture.offdiag_mass[r].ravel(), atol=1e-5)
                    np.testing.assert_allclose(frame["entropy"], capture.attention_entropy[r].ravel(), atol=1e-5)


@pytest.mark.parametrize(
    "name, implementation, faithful",
    [
        ("bloom", "eager", True),
        ("falcon-per-head-alibi", "sdpa", True),
        ("falcon-per-head-alibi", "eager", False),
    ],
)
def test_alibi_attention_against_an_independent_computation(name, implementation, faithful):
    """ALiBi adds slope_h * j to the score of key j, slope_h = 2^(-8 (h + 1) / H) (H a power of 2): BLOOM to the
    scaled scores, q.k / sqrt(d) + slope_h j; Falcon before the scaling, (q.k + slope_h j) / sqrt(d). Falcon's
    eager path in the installed transformers adds the bias twice, which is why the loader refuses it (when this
    test fails on that case, transformers has fixed it and the refusal in measure.attention can go)."""
    model = build_tiny_model(name, attn_implementation=implementation)
    attention = model.transformer.h[0].self_attention
    seen = {}
    handle = attention.register_forward_hook(
        lambda module, args, kwargs, output: seen.update(
            x=args[0] if args else kwargs["hidden_states"],
            residual=args[1] if len(args) > 1 else kwargs.get("residual"),
            out=output[0],
        ),
        with_kwargs=True,
    )
    length = 9
    with torch.no_grad():
        model(input_ids=torch.arange(3, 3 + length)[None])
    handle.remove()
    heads, d = attention.num_heads, attention.head_dim
    q, k, v = attention.query_key_value(seen["x"][0]).view(length, heads, 3, d).permute(2, 1, 0, 3)
    slopes = torch.tensor([2 ** (-8 * (h + 1) / heads) for h in range(heads)])[:, None, None]
    bias = slopes * torch.arange(length)[None, None, :]
    scores = q @ k.mT / d**0.5 + (bias if name == "bloom" else bias / d**0.5)
    scores = scores.masked_fill(~torch.ones(length, length, dtype=torch.bool).tril(), float("-inf"))
    mixed = (scores.softmax(-1) @ v).transpose(0, 1).reshape(length, heads * d)
    expected = attention.dense(mixed)
    if name == "bloom":  # BLOOM's attention adds the residual itself
        expected = expected + seen["residual"][0]
    error = (seen["out"][0] - expected).abs().max().item()
    assert error < 1e-5 if faithful else error > 1e-3


def test_an_unfaithful_eager_path_is_refused(saved):
    with pytest.raises(ModelLoadError, match="ALiBi bias twice"):
        load_model(str(saved / "falcon-per-head-alibi"), attn_implementation="eager", device="cpu")


def test_fused_kernels_agree_with_each_other_on_long_padded_prompts():
    """The lse kernel and the chunked one on prompts of 60 and 37 tokens (windows of 3, GQA)."""
    model = build_tiny_model("mistral")
    batch = padded_batch(lengths=(60, 37), vocab=COMMON["vocab_size"])
    adapter = get_adapter("mistral")
    for kernel in ("lse", "chunked"):
        differences = fused_against_eager(model, adapter, batch, kernel)
        assert differences["kernels"] == [kernel]
        assert max(differences[k] for k in ("offdiag_mass", "entropy", "mass_minus_tokens")) < 1e-5 * 60


def test_attention_statistics_without_probabilities_are_refused_with_the_fix():
    """A model loaded with SDPA returns no attention probabilities: asking the probe for attention statistics
    must stop with the two implementations that give them, not measure something else."""
    model = build_tiny_model("llama-gqa")
    model.set_attn_implementation("sdpa")
    probe = Probe(model, get_adapter(model.config.model_type), attention=True)
    with probe, pytest.raises(RuntimeError) as raised:
        probe.run(BATCH.ids, BATCH.mask)
    assert str(raised.value) == (
        "The attention module returned no probabilities: attention metrics need the model "
        f"loaded with attn_implementation='eager' or '{FUSED_STATISTICS}'."
    )


def test_a_fused_probe_whose_model_changed_implementation_is_refused():
    model = build_tiny_model("llama-gqa")
    model.set_attn_implementation(FUSED_STATISTICS)
    probe = Probe(model, get_adapter(model.config.model_type), attention=True)
    model.set_attn_implementation("eager")  # after the probe was built for the fused path
    with probe, pytest.raises(RuntimeError, match=r"^Layer 0: the fused attention implementation recorded no stat"):
        probe.run(BATCH.ids, BATCH.mask)


class _Unused(torch.nn.Module):
    """A module outside the model: hooks on it never fire."""


@pytest.mark.parametrize(
    "broken, message",
    [
        ("sublayers", "Probe hooks did not fire for sublayer slots [0, 1, 4, 5, 8, 9]: adapter/model mismatch."),
        ("attention", "Probe hooks did not fire for attention layers [0, 1, 2]: adapter/model mismatch."),
    ],
)
def test_an_adapter_that_points_outside_the_model_is_refused_by_name(broken, message):
    """The probe checks that every hook fired: an adapter whose attention sublayer or attention module is not
    on the model's forward path stops the batch, naming the slots (two per sublayer, attention first)."""
    model = build_tiny_model("llama-gqa")
    adapter = get_adapter(model.config.model_type)
    unused = _Unused()

    class Broken(type(adapter)):
        def sublayers(self, block):
            subs = super().sublayers(block)
            return {**subs, "attention": Sublayer(unused, unused)} if broken == "sublayers" else subs

        def attention(self, block):
            return unused if broken == "attention" else super().attention(block)

    with Probe(model, Broken(), attention=True) as probe, pytest.raises(RuntimeError) as raised:
        probe.run(BATCH.ids, BATCH.mask)
    assert str(raised.value) == message


def test_a_probe_without_attention_returns_no_attention_views():
    """Without attention statistics the three attention views are None (the runner writes no attention table),
    and the other views are those of the probe with attention."""
    model = build_tiny_model("llama-gqa")
    adapter = get_adapter(model.config.model_type)
    with Probe(model, adapter, attention=False) as probe:
        plain = probe.run(BATCH.ids, BATCH.mask)
    with Probe(model, adapter, attention=True) as probe:
        full = probe.run(BATCH.ids, BATCH.mask)
    assert plain.offdiag_mass is None and plain.attention_entropy is None and plain.mass_minus_tokens is None
    np.testing.assert_array_equal(plain.token_norms, full.token_norms)
    np.testing.assert_array_equal(plain.next_token_entropy, full.next_token_entropy)


# What each tiny model is, from the families' designs (papers and model cards), not from the adapters:
# (norm type, placement, parallel attention and MLP, positions, KV heads of the tiny config).
DESIGNS = {
    "apertus": ("RMSNorm", "pre", False, "rotary", 2),
    "bloom": ("LayerNorm", "pre", False, "alibi", 4),
    "falcon-multi-query": ("LayerNorm", "pre", True, "rotary", 1),
    "falcon-new-decoder": ("LayerNorm", "pre", True, "rotary", 2),
    "falcon-per-head-alibi": ("LayerNorm", "pre", False, "alibi", 4),
    "gemma-mqa": ("RMSNorm", "pre", False, "rotary", 1),
    "gemma2": ("RMSNorm", "pre", False, "rotary", 2),
    "gemma3_text": ("RMSNorm", "pre", False, "rotary", 1),
    "gpt2": ("LayerNorm", "pre", False, "learned", 4),
    "gpt_neo": ("LayerNorm", "pre", False, "learned", 4),
    "gpt_neox-parallel": ("LayerNorm", "pre", True, "rotary", 4),
    "gpt_neox-sequential": ("LayerNorm", "pre", False, "rotary", 4),
    "gptj": ("LayerNorm", "pre", True, "rotary", 4),
    "llama-gqa": ("RMSNorm", "pre", False, "rotary", 2),
    "mistral": ("RMSNorm", "pre", False, "rotary", 2),
    "opt": ("LayerNorm", "pre", False, "learned", 4),
    "opt-post-ln": ("LayerNorm", "post", False, "learned", 4),
    "qwen2": ("RMSNorm", "pre", False, "rotary", 2),
    "qwen2-sliding": ("RMSNorm", "pre", False, "rotary", 2),
    "qwen3": ("RMSNorm", "pre", False, "rotary", 2),
}


def test_every_tiny_config_has_its_design_listed():
    assert sorted(DESIGNS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_the_architecture_facts_are_the_familys(name):
    """models.csv's architecture columns: sizes from the config's standard attributes, the rest from the design;
    ALiBi models have no position limit, the others the config's."""
    model = build_tiny_model(name)
    config = model.config
    arch = get_adapter(config.model_type).architecture(config)
    norm_type, placement, parallel, positional, n_kv_heads = DESIGNS[name]
    d_head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    max_positions = None if positional == "alibi" else config.max_position_embeddings
    expected = (config.num_hidden_layers, config.num_attention_heads, n_kv_heads, config.hidden_size, d_head)
    assert (arch.n_layers, arch.n_heads, arch.n_kv_heads, arch.d_model, arch.d_head) == expected
    assert (arch.norm_type, arch.norm_placement, arch.parallel_residual, arch.positional) == (
        norm_type,
        placement,
        parallel,
        positional,
    )
    assert arch.max_positions == max_positions
    assert all(type(getattr(arch, f)) is int for f in ("n_layers", "n_heads", "n_kv_heads", "d_model", "d_head"))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("norm_type", "layernorm", "norm_type must be one of LayerNorm, RMSNorm, not 'layernorm'"),
        ("norm_placement", "PRE", "norm_placement must be one of pre, post, not 'PRE'"),
        ("positional", None, "positional must be one of learned, rotary, alibi, not None"),
        ("d_head", 8.0, "d_head must be a positive int, not 8.0"),
        ("n_kv_heads", 0, "n_kv_heads must be a positive int, not 0"),
        ("parallel_residual", None, "parallel_residual must be a bool, not None"),
        ("max_positions", 0, "max_positions must be a positive int or None, not 0"),
    ],
)
def test_an_adapter_writing_a_wrong_architecture_fact_is_stopped_by_name(field, value, message):
    """A user's adapter (or a slip in ours) cannot write a fact outside the data contract's vocabulary."""
    good = get_adapter("gpt2").architecture(build_tiny_model("gpt2").config)
    with pytest.raises(ValueError, match=re.escape(f"Architecture.{message}")):
        dataclasses.replace(good, **{field: value})
