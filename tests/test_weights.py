"""measure.weights: the heads table from an adapter's per-head weights, checked against numpy's SVD in
float64, whatever dtype the weights come in; non-finite and non-float weights."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from measure.weights import gram_matrices, head_metrics, reduction_dtype, weight_table

COLUMNS = [
    "model",
    "layer",
    "head",
    "kv_head",
    "wv_spectral",
    "wv_frobenius",
    "wo_spectral",
    "wo_frobenius",
    "ov_spectral",
    "ov_frobenius",
    "nonfinite_weights",
]


class FakeAdapter:
    """Serves fixed per-layer (W_V, W_O, kv_head) as an adapter serves a model's heads."""

    def __init__(self, layers):
        self.layers = layers
        self.model = torch.nn.ModuleList(torch.nn.Identity() for _ in layers)

    def blocks(self, model):
        return self.model

    def head_weights(self, model, layer):
        w_v, w_o, kv_head = self.layers[layer]
        return SimpleNamespace(w_v=w_v, w_o=w_o, kv_head=kv_head)


def random_layer(heads=4, d_head=3, d_model=7, kv_heads=2, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    w_v = torch.randn(heads, d_head, d_model, generator=gen).to(dtype)
    w_o = torch.randn(heads, d_model, d_head, generator=gen).to(dtype)
    return w_v, w_o, torch.arange(heads) // (heads // kv_heads)


def svd_norms(w_v: torch.Tensor, w_o: torch.Tensor) -> dict[str, np.ndarray]:
    """Spectral and Frobenius norms per head from numpy's SVD of the float64 matrices."""
    v, o = w_v.double().numpy(), w_o.double().numpy()
    out = {}
    for name, matrices in (("wv", v), ("wo", o), ("ov", o @ v)):
        singular = np.linalg.svd(matrices, compute_uv=False)
        out[f"{name}_spectral"] = singular[:, 0]
        out[f"{name}_frobenius"] = np.sqrt((singular**2).sum(axis=1))
    return out


@pytest.mark.parametrize(
    "device, dtype", [("cpu", torch.float64), ("cuda", torch.float64), ("mps", torch.float32), ("meta", torch.float64)]
)
def test_reductions_run_in_float64_except_on_mps(device, dtype):
    assert reduction_dtype(torch.device(device)) == dtype


def test_weight_table_equals_the_float64_svd_of_float32_weights():
    """float32 weights are reduced in float64: the norms agree with numpy's float64 SVD to 1e-12, far
    below float32 rounding (1e-7), so a reduction in float32 shows."""
    layers = [random_layer(seed=0), random_layer(seed=1)]
    adapter = FakeAdapter(layers)
    table = weight_table(adapter.model, adapter, "tiny")
    assert list(table.columns) == COLUMNS and table.index.equals(pd.RangeIndex(8))
    assert (table["model"] == "tiny").all()
    assert table["layer"].tolist() == [0] * 4 + [1] * 4 and table["head"].tolist() == [0, 1, 2, 3] * 2
    assert table["kv_head"].tolist() == [0, 0, 1, 1] * 2 and (table["nonfinite_weights"] == 0).all()
    for layer, (w_v, w_o, _) in enumerate(layers):
        rows = table[table["layer"] == layer]
        for name, expected in svd_norms(w_v, w_o).items():
            np.testing.assert_allclose(rows[name].to_numpy(), expected, rtol=1e-12, err_msg=name)
            assert rows[name].dtype == np.float64


def test_nonfinite_weights_are_counted_per_head_and_blank_only_that_head():
    w_v, w_o, kv_head = random_layer(seed=2)
    w_v[1, 0, 0], w_v[1, 2, 5] = float("nan"), float("inf")  # head 1: two entries of W_V
    w_o[3, 6, 2] = float("-inf")  # head 3: one entry of W_O
    clean = random_layer(seed=3)
    adapter = FakeAdapter([clean, (w_v, w_o, kv_head)])
    table = weight_table(adapter.model, adapter, "m").set_index(["layer", "head"])
    assert table["nonfinite_weights"].tolist() == [0, 0, 0, 0, 0, 2, 0, 1]
    norms = COLUMNS[4:-1]
    assert table.loc[[(1, 1), (1, 3)], norms].isna().all().all()
    healthy = table.drop(index=[(1, 1), (1, 3)])
    assert healthy[norms].notna().all().all()
    expected = svd_norms(w_v[[0, 2]], w_o[[0, 2]])
    for name in norms:
        np.testing.assert_allclose(table.loc[[(1, 0), (1, 2)], name].to_numpy(), expected[name], rtol=1e-12)


@pytest.mark.parametrize("bad", ["int8", "meta"])
def test_weights_that_are_not_floats_are_refused(bad):
    w_v, w_o, kv_head = random_layer()
    w_v = w_v.to(torch.int8) if bad == "int8" else torch.empty(w_v.shape, device="meta")
    adapter = FakeAdapter([random_layer(), (w_v, w_o, kv_head)])
    with pytest.raises(TypeError, match="layer 1: W_V is not a floating-point tensor"):
        weight_table(adapter.model, adapter, "m")


def test_rank_deficient_and_zero_value_maps():
    """W_V of rank 1 (d_head = 3 > rank) and W_V = 0: the Cholesky factor does not exist, the symmetric
    square root stands in; OV norms still equal the SVD's, and a zero W_V gives a zero OV circuit."""
    w_v, w_o, _ = random_layer(heads=3, dtype=torch.float64)
    w_v[0] = torch.outer(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), w_v[0, 0])
    w_v[1] = 0.0
    grams = gram_matrices(w_v, w_o)
    assert grams.shape == (3, 3, 3, 3)
    metrics = head_metrics(w_v, w_o)
    for name, expected in svd_norms(w_v, w_o).items():
        np.testing.assert_allclose(metrics[name].numpy(), expected, rtol=1e-9, atol=1e-12, err_msg=name)
    assert metrics["ov_spectral"][1] == 0 and metrics["ov_frobenius"][1] == 0
