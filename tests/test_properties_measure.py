"""Properties of the measurement that example tests check only at points: every gain is the ratio of
consecutive norms in every view, padding never reaches a prompt's numbers, batch composition never
changes them, and the per-head reductions permute with the heads."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from measure_fixtures import save_tiny

from measure.loading import load_model
from measure.probe import BatchCapture, attention_reductions
from measure.prompts import read_prompt_file
from measure.runner import RunOptions, measure_model, residual_rows
from measure.weights import head_metrics, weight_table

# --- residual views on random captures ------------------------------------------------------------

PADDING = st.sampled_from([0.0, np.nan, np.inf, -1.0, 1e30])  # whatever a padded position holds


# a real token's norm: positive, sometimes zero (a gain of 0/0 or x/0), sometimes non-finite (an overflow)
REAL_NORM = st.one_of(st.floats(0.0625, 1024, width=32), st.just(0.0), st.just(np.inf), st.just(np.nan))


@st.composite
def captures(draw):
    """A BatchCapture of B prompts x S sites x T positions: norms of each prompt's real tokens (mostly
    positive and finite), anything at its padded positions."""
    batch, sites, length = draw(st.integers(1, 4)), draw(st.integers(2, 6)), draw(st.integers(1, 6))
    n_tokens = np.array(draw(st.lists(st.integers(1, length), min_size=batch, max_size=batch)))
    norms = draw(arrays(np.float32, (batch, sites, length), elements=REAL_NORM))
    padded = np.arange(length)[None, None, :] >= n_tokens[:, None, None]
    norms = np.where(padded, np.float32(draw(PADDING)), norms).astype(np.float32)
    empty = np.zeros(batch)
    capture = BatchCapture(
        n_tokens=n_tokens,
        token_norms=norms,
        sublayer_norms=None,
        offdiag_mass=None,
        attention_entropy=None,
        mass_minus_tokens=None,
        next_token_entropy=empty,
        top_token_id=empty,
        top_prob=empty,
        nonfinite_logits=empty.astype(bool),
    )
    return capture


def direct_views(capture: BatchCapture) -> dict[str, np.ndarray]:
    """The three norm views and the non-finite count, prompt by prompt, from the real tokens only
    (float64): the last token's norm as it is; the mean (positions 1..T-1) and the Frobenius norm over
    the finite ones, NaN where there is none."""
    batch, sites, _ = capture.token_norms.shape
    views = {name: np.full((batch, sites), np.nan) for name in ("norm_last", "norm_mean", "norm_frobenius")}
    views["nonfinite_tokens"] = np.zeros((batch, sites), dtype=int)
    for b, n in enumerate(capture.n_tokens):
        real = capture.token_norms[b, :, :n].astype(np.float64)
        views["norm_last"][b] = real[:, -1]
        for s in range(sites):
            finite = real[s][np.isfinite(real[s])]
            after_first = real[s, 1:][np.isfinite(real[s, 1:])]
            views["nonfinite_tokens"][b, s] = n - finite.size
            if finite.size:
                views["norm_frobenius"][b, s] = np.sqrt((finite**2).sum())
            if after_first.size:
                views["norm_mean"][b, s] = after_first.mean()
    return views


@given(captures())
def test_every_views_gain_is_the_ratio_of_its_consecutive_norms(capture):
    """Each view's gain is its norm over the same view's norm one site earlier; padding never enters a
    view nor the non-finite count; zero and non-finite norms give inf or NaN gains without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = residual_rows(capture)
    expected = direct_views(capture)
    np.testing.assert_array_equal(rows["nonfinite_tokens"], expected.pop("nonfinite_tokens"))
    for name, norms in expected.items():
        np.testing.assert_allclose(rows[name], norms, rtol=1e-12, equal_nan=True, err_msg=name)
        gain = rows[name.replace("norm", "gain")]
        assert np.isnan(gain[:, 0]).all()  # the first site has no predecessor
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = norms[:, 1:] / norms[:, :-1]
        np.testing.assert_allclose(gain[:, 1:], ratio, rtol=1e-12, equal_nan=True, err_msg=name)


# --- padding and batch composition on a tiny model -----------------------------------------------

ARCHITECTURES = ["gpt2", "llama-gqa", "bloom"]  # absolute, rotary and ALiBi positions
TEXT = st.text(alphabet="abcdefgh xyz,.", min_size=1, max_size=14)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return {
        arch: load_model(str(save_tiny(arch, folder / arch)), attention=True, device="cpu", name=arch)
        for arch in ARCHITECTURES
    }


def _run(loaded, texts: list[str], batch_size: int, folder) -> dict[str, pd.DataFrame]:
    path = folder / "prompts.csv"
    pd.DataFrame({"text": texts}).to_csv(path, index=False)
    return measure_model(
        loaded, read_prompt_file(path), RunOptions(batch_size=batch_size, attention=True, progress=False)
    )


PER_PROMPT = {
    "residual": (
        ["prompt_id", "layer"],
        ["norm_last", "norm_mean", "norm_frobenius", "gain_last", "gain_mean", "gain_frobenius", "n_tokens"],
    ),
    "sublayers": (
        ["prompt_id", "layer", "sublayer"],
        ["norm_in_mean", "norm_out_mean", "norm_in_last", "norm_out_last"],
    ),
    "attention": (["prompt_id", "layer", "head"], ["offdiag_mass", "entropy", "mass_minus_tokens", "sheaf_trace"]),
    "outputs": (["prompt_id"], ["n_tokens", "entropy", "top_prob"]),
}


@given(arch=st.sampled_from(ARCHITECTURES), texts=st.lists(TEXT, min_size=2, max_size=6), batch_size=st.integers(2, 6))
@settings(max_examples=10)
def test_padding_and_batch_composition_never_change_a_prompts_numbers(
    tiny_models, tmp_path_factory, arch, texts, batch_size
):
    """Each prompt measured in a batch of prompts of other lengths (right-padded) gives the numbers it
    gives measured alone."""
    folder = tmp_path_factory.mktemp("prompts")
    batched = _run(tiny_models[arch], texts, batch_size, folder)
    alone = _run(tiny_models[arch], texts, 1, folder)
    for table, (keys, columns) in PER_PROMPT.items():
        left = batched[table].set_index(keys).sort_index()[columns]
        right = alone[table].set_index(keys).sort_index()[columns]
        assert left.index.equals(right.index), table
        # float32 forward passes of different shapes: rounding-level differences only
        np.testing.assert_allclose(
            left.to_numpy(float), right.to_numpy(float), rtol=2e-4, atol=1e-5, equal_nan=True, err_msg=table
        )


# --- per-head reductions permute with the heads ---------------------------------------------------


@st.composite
def head_weights(draw, shape: tuple[int, int, int] | None = None):
    """W_V [H, d_head, d_model] and W_O [H, d_model, d_head] (float64), W_V rank-deficient when d_model < d_head."""
    heads, d_head, d_model = shape or (draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 6)))
    values = st.floats(-3, 3, allow_subnormal=False)
    w_v = torch.from_numpy(draw(arrays(np.float64, (heads, d_head, d_model), elements=values)))
    w_o = torch.from_numpy(draw(arrays(np.float64, (heads, d_model, d_head), elements=values)))
    return w_v, w_o


@st.composite
def layers_of_heads(draw):
    """1-3 layers of head weights of one shape."""
    shape = (draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 6)))
    return [draw(head_weights(shape)) for _ in range(draw(st.integers(1, 3)))]


@given(head_weights(), st.randoms(use_true_random=False))
def test_head_metrics_permute_with_the_heads_and_equal_the_svd(weights, random):
    w_v, w_o = weights
    order = list(range(w_v.shape[0]))
    random.shuffle(order)
    metrics = head_metrics(w_v, w_o)
    permuted = head_metrics(w_v[order], w_o[order])
    for name, values in metrics.items():
        torch.testing.assert_close(permuted[name], values[order], rtol=1e-9, atol=1e-9, msg=name)
    for h in range(w_v.shape[0]):
        singular = {
            "wv": np.linalg.svd(w_v[h].numpy(), compute_uv=False),
            "wo": np.linalg.svd(w_o[h].numpy(), compute_uv=False),
            "ov": np.linalg.svd((w_o[h] @ w_v[h]).numpy(), compute_uv=False),
        }
        for what, s in singular.items():
            scale = max(1.0, s[0])
            assert metrics[f"{what}_spectral"][h].item() == pytest.approx(s[0], abs=1e-6 * scale), what
            assert metrics[f"{what}_frobenius"][h].item() == pytest.approx(np.sqrt((s**2).sum()), abs=1e-6 * scale)


class _FakeAdapter:
    """Serves fixed per-layer head weights, as an adapter serves a model's."""

    def __init__(self, layers):
        self.layers = layers
        self.model = torch.nn.ModuleList(torch.nn.Identity() for _ in layers)  # blocks without weights

    def blocks(self, model):
        return self.model

    def head_weights(self, model, layer):
        w_v, w_o = self.layers[layer]
        return SimpleNamespace(w_v=w_v, w_o=w_o, kv_head=torch.arange(w_v.shape[0]))


@given(layers_of_heads(), st.data())
def test_weight_table_rows_permute_with_the_heads_and_a_broken_head_stays_its_own(layers, data):
    """Permuting the heads of a layer permutes that layer's rows; a head with a NaN weight gets NaN norms
    and the count, wherever it sits, and the other heads keep theirs."""
    heads = layers[0][0].shape[0]
    broken = data.draw(st.integers(0, heads - 1))
    layers[0][0][broken, 0, 0] = float("nan")
    order = data.draw(st.permutations(range(heads)))
    adapter = _FakeAdapter(layers)
    table = weight_table(adapter.model, adapter, "m")
    adapter = _FakeAdapter([(w_v[list(order)], w_o[list(order)]) for w_v, w_o in layers])
    permuted = weight_table(adapter.model, adapter, "m")
    columns = [
        "wv_spectral",
        "wv_frobenius",
        "wo_spectral",
        "wo_frobenius",
        "ov_spectral",
        "ov_frobenius",
        "nonfinite_weights",
    ]
    for layer in range(len(layers)):
        original = table[table["layer"] == layer].set_index("head")[columns]
        moved = permuted[permuted["layer"] == layer].set_index("head")[columns]
        np.testing.assert_allclose(
            moved.to_numpy(float), original.loc[list(order)].to_numpy(float), rtol=1e-9, equal_nan=True
        )
    first = table[table["layer"] == 0].set_index("head")
    assert first.loc[broken, "nonfinite_weights"] == 1 and first.loc[broken, columns[:-1]].isna().all()
    healthy = first.drop(index=broken)
    assert (healthy["nonfinite_weights"] == 0).all() and healthy[columns[:-1]].notna().all().all()


@st.composite
def attention_probs(draw):
    """Causal softmax attention [B, H, T, T] of right-padded prompts and its query mask."""
    batch, heads, length = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 6))
    n_tokens = torch.tensor(draw(st.lists(st.integers(1, length), min_size=batch, max_size=batch)))
    scores = torch.from_numpy(
        draw(arrays(np.float32, (batch, heads, length, length), elements=st.floats(-6, 6, width=32)))
    )
    key_mask = torch.arange(length)[None, :] < n_tokens[:, None]  # [B, T]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    allowed = causal[None, None] & key_mask[:, None, None, :]
    probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    return torch.nan_to_num(probs, nan=0.0), key_mask


@given(attention_probs(), st.data())
def test_attention_reductions_equal_a_direct_sum_and_permute_with_the_heads(probs_mask, data):
    probs, mask = probs_mask
    offdiag, entropy, bracket = attention_reductions(probs, mask)
    for b in range(probs.shape[0]):
        n = int(mask[b].sum())
        for h in range(probs.shape[1]):
            a = probs[b, h, :n, :n].double()
            assert offdiag[b, h].item() == pytest.approx((a.sum() - a.diagonal().sum()).item(), abs=1e-5)
            rows = -torch.special.xlogy(a, a).sum(-1)
            assert entropy[b, h].item() == pytest.approx(rows.mean().item(), abs=1e-5)
            assert bracket[b, h].item() == pytest.approx((a.sum() - n).item(), abs=1e-5)
    order = data.draw(st.permutations(range(probs.shape[1])))
    for before, after in zip((offdiag, entropy, bracket), attention_reductions(probs[:, list(order)], mask)):
        torch.testing.assert_close(after, before[:, list(order)])
