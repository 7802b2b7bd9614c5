"""The fused attention statistics on their own: the kernels against an explicit float64 softmax, memory on
long prompts, the choice of implementation, and loading failures as ModelLoadError."""

from __future__ import annotations

import pytest
import torch
from conformance_configs import build_tiny_model, char_tokenizer
from torch.utils._python_dispatch import TorchDispatchMode

from contract.errors import ModelLoadError
from measure.adapters import get_adapter
from measure.attention import FUSED_STATISTICS, select_attention
from measure.attention_stats import chunked_attention, lse_rows, real_blocks_are_causal
from measure.loading import load_model
from measure.probe import Probe


def explicit_rows(query, key, value, allowed, scale, softcap=None, bias=None):
    """Output and per-row statistics from the explicit [B, H, T, T] softmax in float64 (the reference)."""
    group = query.shape[1] // key.shape[1]
    k = key.double().repeat_interleave(group, 1)
    v = value.double().repeat_interleave(group, 1)
    scores = query.double() @ k.mT * scale
    if softcap is not None:
        scores = softcap * torch.tanh(scores / softcap)
    if bias is not None:
        scores = scores + bias.double()
    probs = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    entropy = -(probs * torch.log(probs.clamp_min(1e-300))).sum(-1)
    return probs @ v, probs.diagonal(dim1=-2, dim2=-1), entropy, probs.sum(-1)


def random_qkv(batch=2, heads=6, kv_heads=2, length=40, d=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, length, d, generator=gen)
    k = torch.randn(batch, kv_heads, length, d, generator=gen)
    v = torch.randn(batch, kv_heads, length, d, generator=gen)
    return q, k, v


def causal_padded_mask(lengths, total, window=None):
    """Boolean [B, 1, T, T]: causal, keys beyond each prompt's length masked, optional sliding window."""
    i = torch.arange(total)[:, None]
    j = torch.arange(total)[None, :]
    allowed = (j <= i) & (j < torch.tensor(lengths)[:, None, None])
    if window is not None:
        allowed &= i - j < window
    return allowed[:, None]


@pytest.mark.parametrize("window", [None, 5])
def test_lse_rows_equal_the_explicit_softmax(window):
    q, k, _ = random_qkv()
    lengths = [40, 23]
    mask = causal_padded_mask(lengths, 40, window)
    rows = lse_rows(q, k, mask, 0.3, torch.tensor(lengths))
    _, diagonal, entropy, mass = explicit_rows(q, k, k, mask, 0.3)
    for b, n in enumerate(lengths):
        torch.testing.assert_close(rows.diagonal[b, :, :n].double(), diagonal[b, :, :n], atol=2e-6, rtol=0)
        torch.testing.assert_close(rows.entropy[b, :, :n].double(), entropy[b, :, :n], atol=1e-5, rtol=0)
        torch.testing.assert_close(rows.mass[b, :, :n].double(), mass[b, :, :n], atol=2e-6, rtol=0)
        assert (rows.entropy[b, :, n:] == 0).all()  # padding rows are left at zero


def test_real_blocks_are_causal_only_without_a_window_shorter_than_a_prompt():
    lengths = torch.tensor([12, 7])
    assert real_blocks_are_causal(None, lengths)
    assert real_blocks_are_causal(causal_padded_mask([12, 7], 12), lengths)
    assert real_blocks_are_causal(causal_padded_mask([12, 7], 12, window=12), lengths)
    assert not real_blocks_are_causal(causal_padded_mask([12, 7], 12, window=11), lengths)
    assert not real_blocks_are_causal(causal_padded_mask([12, 7], 12, window=3), torch.tensor([3, 7]))


@pytest.mark.parametrize("softcap, window, use_bias", [(None, None, False), (2.0, 5, False), (None, None, True)])
def test_chunked_attention_equals_the_explicit_softmax(softcap, window, use_bias):
    q, k, v = random_qkv()
    lengths = [40, 23]
    allowed = causal_padded_mask(lengths, 40, window)
    bias = torch.randn(1, 6, 40, 40, generator=torch.Generator().manual_seed(3)) if use_bias else None
    mask = allowed if bias is None else torch.where(allowed, bias, float("-inf"))
    out, rows = chunked_attention(q, k, v, mask, 0.3, softcap=softcap, chunk_bytes=6 * 40 * 4 * 7)  # 7-row chunks
    expected, diagonal, entropy, mass = explicit_rows(q, k, v, allowed, 0.3, softcap, bias)
    for b, n in enumerate(lengths):
        torch.testing.assert_close(out[b, :n].transpose(0, 1).double(), expected[b, :, :n], atol=1e-5, rtol=0)
        torch.testing.assert_close(rows.diagonal[b, :, :n].double(), diagonal[b, :, :n], atol=1e-6, rtol=0)
        torch.testing.assert_close(rows.entropy[b, :, :n].double(), entropy[b, :, :n], atol=1e-5, rtol=0)
        torch.testing.assert_close(rows.mass[b, :, :n].double(), mass[b, :, :n], atol=1e-6, rtol=0)


def test_chunked_attention_without_a_mask_is_causal():
    q, k, v = random_qkv(batch=1, length=17)
    out, rows = chunked_attention(q, k, v, None, 0.25, chunk_bytes=1)  # one query row at a time
    expected, diagonal, *_ = explicit_rows(q, k, v, causal_padded_mask([17], 17), 0.25)
    torch.testing.assert_close(out.transpose(1, 2).double(), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(rows.diagonal.double(), diagonal, atol=1e-6, rtol=0)


class LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an operator returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel())
        return out


def test_a_long_prompt_never_allocates_a_t_by_t_tensor_on_the_fused_path():
    """A 1,024-token document: the fused probe's largest tensor is far below T^2 = 1,048,576 elements,
    while the eager probe materialises [1, H, T, T] (the check has power)."""
    model = build_tiny_model("llama-gqa")
    model.config.max_position_embeddings = 2048
    adapter = get_adapter("llama")
    length = 1024
    ids = torch.randint(3, 128, (1, length), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    largest = {}
    for implementation in ("eager", FUSED_STATISTICS):
        model.set_attn_implementation(implementation)
        with Probe(model, adapter, attention=True) as probe, LargestTensor() as mode:
            capture = probe.run(ids, mask)
        largest[implementation] = mode.largest
        assert capture.offdiag_mass.shape == (1, 3, 4)
    assert largest["eager"] >= 4 * length**2
    assert largest[FUSED_STATISTICS] < length**2 / 8


class _Flags:
    def __init__(self, name, sdpa, backend):
        self.__name__, self._supports_sdpa, self._supports_attention_backend = name, sdpa, backend


@pytest.mark.parametrize(
    "flags, statistics, expected",
    [
        ((True, True), False, "sdpa"),
        ((True, True), True, FUSED_STATISTICS),
        ((False, False), False, "eager"),
        ((False, False), True, "eager"),  # GPT-Neo, BLOOM
        ((True, False), True, "eager"),  # Falcon
        ((False, True), False, "eager"),
        ((False, True), True, FUSED_STATISTICS),  # Gemma 2
    ],
)
def test_attention_selection_follows_the_class_flags(flags, statistics, expected):
    assert select_attention(_Flags("Model", *flags), statistics) == expected


@pytest.mark.parametrize(
    "flags, statistics, requested, message",
    [
        ((False, False), False, "sdpa", "does not support SDPA"),
        ((True, True), True, "sdpa", "does not expose attention statistics"),
        ((True, False), True, FUSED_STATISTICS, "own code"),
        ((True, True), False, "flash", "Unknown attention implementation"),
    ],
)
def test_impossible_attention_requests_are_clear_errors(flags, statistics, requested, message):
    with pytest.raises(ModelLoadError, match=message):
        select_attention(_Flags("Model", *flags), statistics, requested)


def test_every_loading_failure_is_a_model_load_error(tmp_path):
    build_tiny_model("gpt_neo").save_pretrained(tmp_path)
    char_tokenizer().save_pretrained(tmp_path)
    assert load_model(str(tmp_path), device="cpu").model.config._attn_implementation == "eager"
    with pytest.raises(ModelLoadError, match="GPTNeoForCausalLM does not support SDPA"):
        load_model(str(tmp_path), device="cpu", attn_implementation="sdpa")
    weights = next(tmp_path.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])  # a truncated checkpoint
    with pytest.raises(ModelLoadError, match="Could not load"):
        load_model(str(tmp_path), device="cpu")
