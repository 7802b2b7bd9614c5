"""Per-head weight metrics: spectral and Frobenius norms of W_V^h, W_O^h and the OV circuit.

Every reduction runs in float64 (float32 on devices without float64), whatever dtype the model
runs in. Each norm comes from a d_head x d_head positive semi-definite matrix per head:

* G_V = W_V W_V^T and G_O = W_O^T W_O: ||W||_2^2 = lambda_max(G), ||W||_F^2 = tr(G);
* C = F^T G_O F with F F^T = G_V (Cholesky; a symmetric square root if W_V is rank-deficient):
  the eigenvalues of C are those of G_O G_V, the squared singular values of the OV circuit
  W_O W_V, which is therefore never formed (it is d_model x d_model).

The small matrices of all layers are stacked and their largest eigenvalues taken in one batched
``eigvalsh`` on the CPU, which is far faster than per-layer SVDs or QR factorisations on a GPU.
||W_O W_V||_2 is invariant under W_V -> c W_V, W_O -> W_O / c; the ratio ||W_V|| / ||W_O|| the
paper uses is not.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from measure.adapters import Adapter
from measure.devices import onloaded

METRICS = ("wv", "wo", "ov")


def reduction_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def gram_matrices(w_v: torch.Tensor, w_o: torch.Tensor) -> torch.Tensor:
    """[3, H, d_head, d_head]: G_V, G_O and C (see the module docstring) for each head.

    w_v: [H, d_head, d_model], w_o: [H, d_model, d_head], in the reduction dtype.
    """
    g_v = w_v @ w_v.mT
    g_o = w_o.mT @ w_o
    factor, info = torch.linalg.cholesky_ex(g_v)
    singular = info != 0
    if singular.any():
        values, vectors = torch.linalg.eigh(g_v[singular])
        factor[singular] = vectors * values.clamp_min(0).sqrt().unsqueeze(-2)
    return torch.stack([g_v, g_o, factor.mT @ g_o @ factor])


def norms_from_grams(grams: torch.Tensor) -> dict[str, torch.Tensor]:
    """Spectral and Frobenius norms from stacked Gram-type matrices [3, N, d, d] (on the CPU)."""
    spectral = torch.linalg.eigvalsh(grams)[..., -1].clamp_min(0).sqrt()
    frobenius = grams.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(0).sqrt()
    out = {}
    for i, name in enumerate(METRICS):
        out[f"{name}_spectral"] = spectral[i]
        out[f"{name}_frobenius"] = frobenius[i]
    return out


def head_metrics(w_v: torch.Tensor, w_o: torch.Tensor) -> dict[str, torch.Tensor]:
    """Norms per head. w_v: [H, d_head, d_model], w_o: [H, d_model, d_head], in a float dtype."""
    return norms_from_grams(gram_matrices(w_v, w_o).cpu())


@torch.inference_mode()
def weight_table(model: nn.Module, adapter: Adapter, model_name: str) -> pd.DataFrame:
    """The ``heads`` table of one model: one row per (layer, query head).

    A head whose W_V^h or W_O^h holds NaN or inf entries is flagged (``nonfinite_weights``, the
    count) and its norms are NaN; the other heads are unaffected.
    """
    grams, index = [], []
    for layer, block in enumerate(adapter.blocks(model)):
        with onloaded(model, block):  # weights a device map offloaded to the CPU or disk
            weights = adapter.head_weights(model, layer)
            if weights.w_v.is_meta or not weights.w_v.is_floating_point():
                raise TypeError(f"layer {layer}: W_V is not a floating-point tensor (quantised weights?)")
            dtype = reduction_dtype(weights.w_v.device)
            w_v, w_o = weights.w_v.to(dtype), weights.w_o.to(dtype)
            nonfinite = (~torch.isfinite(w_v)).sum((-2, -1)) + (~torch.isfinite(w_o)).sum((-2, -1))
            bad = nonfinite[:, None, None] > 0
            grams.append(gram_matrices(w_v.masked_fill(bad, 0.0), w_o.masked_fill(bad, 0.0)).cpu())
        index.append(
            pd.DataFrame(
                {
                    "layer": layer,
                    "head": range(len(weights.kv_head)),
                    "kv_head": weights.kv_head.cpu().numpy(),
                    "nonfinite_weights": nonfinite.cpu().numpy(),
                }
            )
        )
    metrics = norms_from_grams(torch.cat(grams, dim=1).cpu())
    table = pd.concat(index, ignore_index=True)
    flagged = table["nonfinite_weights"].to_numpy() > 0
    for name in ("wv_spectral", "wv_frobenius", "wo_spectral", "wo_frobenius", "ov_spectral", "ov_frobenius"):
        values = metrics[name].numpy()
        values[flagged] = float("nan")
        table[name] = values
    table.insert(0, "model", model_name)
    return table[
        [
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
    ]
