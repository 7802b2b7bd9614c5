"""Attention statistics per query row, from attention probabilities or without ever forming them.

The probe reports, per head h and prompt, reductions of three per-row quantities of the
attention matrix A_h (row i = query i, column j = key j), all in float32 and nats:

* ``diagonal`` A_ii;
* ``entropy`` H_i = -sum_j A_ij log A_ij;
* ``mass`` sum_j A_ij (1 up to rounding: softmax normalises every row).

Eager attention hands the probe A itself ([B, H, T, T] per layer): ``rows_from_probabilities``.

The fused path never forms A. With the row log-sum-exp lse_i of the scores s_ij = scale q_i.k_j:

* A_ii = exp(s_ii - lse_i);
* H_i = lse_i - sum_j A_ij s_ij, and sum_j A_ij s_ij = scale q_i . (A K)_i;
* sum_j A_ij = (A 1)_i;

so one attention call with the keys and a column of ones as values, from a kernel that also
returns lse (``lse_rows``), gives every row statistic in O(B H T d) memory. Scores that are not
bilinear in q and k (tanh soft-capping, additive float biases) break that identity; for them
``chunked_attention`` computes the attention output and the rows exactly over blocks of query
rows, never holding more than a [B, H, chunk, T] block of scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# The chunked path sizes its query blocks so that one float32 score block stays under this many bytes.
CHUNK_BYTES = 32 * 2**20


@dataclass
class RowStatistics:
    """Per query row of every head: [B, H, T] float32 tensors (see the module docstring)."""

    diagonal: torch.Tensor
    entropy: torch.Tensor
    mass: torch.Tensor

    @classmethod
    def zeros(cls, batch: int, heads: int, length: int, device: torch.device) -> RowStatistics:
        return cls(*(torch.zeros(batch, heads, length, device=device) for _ in range(3)))

    def to(self, device: torch.device) -> RowStatistics:
        return RowStatistics(self.diagonal.to(device), self.entropy.to(device), self.mass.to(device))


def rows_from_probabilities(probs: torch.Tensor) -> RowStatistics:
    """Row statistics of explicit attention probabilities [B, H, T_q, T_k] (query i sits at key T_k - T_q + i)."""
    probs = probs.float()
    offset = probs.shape[-1] - probs.shape[-2]
    return RowStatistics(
        diagonal=probs.diagonal(offset=offset, dim1=-2, dim2=-1),
        entropy=-torch.special.xlogy(probs, probs).sum(-1),
        mass=probs.sum(-1),
    )


def reduce_rows(rows: RowStatistics, query_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per (prompt, head) over the prompt's real query rows, float32: the off-diagonal mass
    sum_{i != j} A_ij (= T - tr A_h for row-stochastic A), the mean row entropy (nats), and
    sum_ij A_ij - T, the bracket of the paper's printed eq. 4, which softmax makes zero up to rounding.

    query_mask: [B, T] True on real tokens. Under right padding and a causal mask, real query rows
    attend to real keys only, so padding never enters these sums.
    """
    real = query_mask[:, None, :].to(rows.mass.device)
    n_rows = real.sum(-1).float()
    offdiag = torch.where(real, rows.mass - rows.diagonal, 0.0).sum(-1)
    entropy = torch.where(real, rows.entropy, 0.0).sum(-1) / n_rows
    mass_minus_tokens = torch.where(real, rows.mass - 1.0, 0.0).sum(-1)
    return offdiag, entropy, mass_minus_tokens


# -- fused: a kernel that returns the log-sum-exp ------------------------------------------------
LSE_KERNELS = {"cpu": "_scaled_dot_product_flash_attention_for_cpu", "cuda": "_scaled_dot_product_efficient_attention"}


def lse_kernel_available(device: torch.device) -> bool:
    """Whether ``lse_attention`` has a kernel for ``device`` in this torch (CPU: flash; CUDA: memory-efficient)."""
    return device.type in LSE_KERNELS and hasattr(torch.ops.aten, LSE_KERNELS[device.type])


def lse_attention(query, key, value, *, scale: float, causal: bool, bias: torch.Tensor | None):
    """(softmax(scale q k^T + bias) v, lse): torch's fused SDPA kernels, which compute the row
    log-sum-exp anyway; ``torch.nn.functional.scaled_dot_product_attention`` does not return it.

    query, key, value: [B, H, T, d] of one dtype and equal head size; bias: additive float mask
    broadcastable to [B, H, T_q, T_k] or None; lse: [B, H, T_q] float32.
    """
    if query.device.type == "cpu":
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key, value, 0.0, causal, attn_mask=bias, scale=scale
        )
        return out, lse
    if query.device.type == "cuda":
        if bias is not None:  # the memory-efficient kernel wants a bias expanded over heads, rows 16-aligned
            length = bias.shape[-1]
            pad = -length % 16
            bias = F.pad(bias, (0, pad))[..., :length] if pad else bias
            bias = bias.expand(query.shape[0], query.shape[1], query.shape[2], length)
        out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(
            query, key, value, bias, True, 0.0, causal, scale=scale
        )[:2]
        return out, lse[..., : query.shape[2]]
    raise NotImplementedError(f"no log-sum-exp attention kernel for device {query.device}")


def real_blocks_are_causal(mask: torch.Tensor | None, n_tokens: torch.Tensor | None) -> bool:
    """Whether every prompt's real block mask[b, 0, :n_b, :n_b] is exactly the causal (lower-triangular)
    mask: no sliding window shorter than the prompt, nothing but padding masked. None means causal."""
    if mask is None:
        return True
    length = mask.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril_()
    for b in range(mask.shape[0]):
        n = length if n_tokens is None else int(n_tokens[b])
        if not torch.equal(mask[b, 0, :n, :n], causal[:n, :n]):
            return False
    return True


def lse_rows(
    query: torch.Tensor,
    key: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float,
    n_tokens: torch.Tensor | None,
    causal: bool | None = None,
) -> RowStatistics:
    """Row statistics from log-sum-exp attention calls, in float32, without forming A.

    query: [B, H, T, d]; key: [B, H_kv, T, d] (query head h reads KV head h // (H / H_kv));
    mask: boolean [B or 1, 1, T, T] (True = attend) or None for causal; n_tokens: [B] real tokens
    of each right-padded prompt (None: all T); ``causal``: the result of ``real_blocks_are_causal``
    if known. Under right padding a real row never reaches a padding key, so when every prompt's
    real block is causal one causal call over the padded batch serves (padding rows are garbage,
    and zeroed); otherwise each prompt's real block runs with its own [n, n] additive mask.
    Keys and values share one float32 buffer [K | 1 | 0...] and the queries are [Q | 0 | 0...] (the
    extra columns leave the scores unchanged), padded to a head size that is a multiple of 8.
    """
    batch, heads, length, d_head = query.shape
    kv_heads = key.shape[1]
    width = -(-(d_head + 1) // 8) * 8
    q = query.new_zeros(batch, heads, length, width, dtype=torch.float32)
    q[..., :d_head] = query
    kv = query.new_zeros(batch, kv_heads, heads // kv_heads, length, width, dtype=torch.float32)
    kv[..., :d_head] = key[:, :, None]
    kv[..., d_head] = 1.0
    kv = kv.view(batch, heads, length, width)
    if causal is None:
        causal = real_blocks_are_causal(mask, n_tokens)
    if causal:
        out, lse = lse_attention(q, kv, kv, scale=scale, causal=True, bias=None)
    else:
        out = torch.zeros_like(q)
        lse = q.new_zeros(batch, heads, length)
        for b in range(batch):
            n = length if n_tokens is None else int(n_tokens[b])
            block = mask[min(b, mask.shape[0] - 1), 0, :n, :n]
            bias = torch.zeros(n, n, device=q.device).masked_fill_(~block, float("-inf"))
            out[b : b + 1, :, :n], lse[b : b + 1, :, :n] = lse_attention(
                q[b : b + 1, :, :n], kv[b : b + 1, :, :n], kv[b : b + 1, :, :n], scale=scale, causal=False, bias=bias
            )
    diagonal = torch.exp(scale * torch.linalg.vecdot(q, kv) - lse)
    if not causal:
        diagonal = diagonal * mask.diagonal(dim1=-2, dim2=-1)
    entropy = (lse - scale * torch.linalg.vecdot(q, out)).clamp_min_(0.0)  # >= 0 exactly; rounding dips below
    real = (
        torch.ones(batch, length, dtype=torch.bool, device=q.device)
        if n_tokens is None
        else (torch.arange(length, device=q.device)[None, :] < n_tokens.to(q.device)[:, None])
    )
    real = real[:, None, :]
    return RowStatistics(
        torch.where(real, diagonal, 0.0), torch.where(real, entropy, 0.0), torch.where(real, out[..., d_head], 0.0)
    )


# -- chunked: exact for any scores -------------------------------------------------------------
def chunked_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float,
    softcap: float | None = None,
    causal: bool = True,
    with_rows: bool = True,
    chunk_bytes: int = CHUNK_BYTES,
) -> tuple[torch.Tensor, RowStatistics | None]:
    """Attention output [B, T_q, H, d_v] (the layout transformers' attention functions return) and,
    if ``with_rows``, the row statistics, over blocks of query rows.

    Scores s = scale q k^T in float32, soft-capped as s -> c tanh(s / c) when ``softcap`` = c,
    then masked: ``mask`` boolean (True = attend) or additive float, broadcastable to
    [B, H, T_q, T_k]; None means causal (or no mask at all when ``causal`` is False).
    Probabilities are cast to the values' dtype before A V, as eager attention does. A query row
    with no allowed key gets a zero output.
    """
    batch, heads, q_len, d_head = query.shape
    kv_heads, kv_len = key.shape[1], key.shape[2]
    group = heads // kv_heads
    q = query.reshape(batch, kv_heads, group, q_len, d_head)
    k = key.float()[:, :, None]
    v = value[:, :, None]
    if mask is not None and mask.shape[1] == heads:  # a per-head mask or bias follows the query heads
        mask = mask.reshape(mask.shape[0], kv_heads, group, *mask.shape[2:])
    elif mask is not None:
        mask = mask[:, :, None]
    offset = kv_len - q_len
    chunk = max(1, min(q_len, chunk_bytes // max(1, batch * heads * kv_len * 4)))
    out = value.new_empty(batch, kv_heads, group, q_len, value.shape[-1])
    rows = RowStatistics.zeros(batch, heads, q_len, query.device) if with_rows else None
    for start in range(0, q_len, chunk):
        stop = min(q_len, start + chunk)
        scores = (q[..., start:stop, :].float() @ k.mT) * scale  # [B, H_kv, g, C, T_k]
        if softcap is not None:
            scores = softcap * torch.tanh(scores / softcap)
        if mask is None and causal:
            keys = torch.arange(kv_len, device=query.device)
            allowed = keys[None, :] <= torch.arange(start, stop, device=query.device)[:, None] + offset
            scores = scores.masked_fill(~allowed, float("-inf"))
        elif mask is not None and mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask[..., start:stop, :], float("-inf"))
        elif mask is not None:
            scores = scores + mask[..., start:stop, :].float()
        lse = torch.logsumexp(scores, -1, keepdim=True)
        probs = torch.exp(scores - lse.nan_to_num(neginf=0.0))
        out[..., start:stop, :] = probs.to(value.dtype) @ v
        if rows is not None:
            flat = probs.reshape(batch, heads, stop - start, kv_len)  # row start + c meets key offset + start + c
            rows.diagonal[..., start:stop] = flat.diagonal(offset=start + offset, dim1=-2, dim2=-1)
            rows.entropy[..., start:stop] = -torch.special.xlogy(flat, flat).sum(-1)
            rows.mass[..., start:stop] = flat.sum(-1)
    return out.reshape(batch, heads, q_len, -1).transpose(1, 2).contiguous(), rows
