"""Conformance checks of an architecture adapter, in the spirit of scikit-learn's ``check_estimator``.

``check_adapter(model, adapter)`` runs every check on a float32 model in eval mode (a tiny
random-init one is enough) and raises ConformanceError naming the first property that fails:

* ``head_weights``: W_V^h is [H, d_head, d_model], W_O^h is [H, d_model, d_head], query head h
  reads KV head floor(h H_kv / H), and query heads that share a KV head share its W_V;
* ``attention_rebuild``: the attention output rebuilt from the per-head W_V^h, W_O^h (and biases)
  and the eager probabilities equals the module's own output, and the same rebuild with the
  heads of W_O rolled by one does not (so the check has power);
* ``sublayer_sum``: the two sublayer contributions add up to each block's residual update, to
  float32 rounding of the residual stream (pre-LN blocks; post-LN blocks normalise after the sum);
* ``hidden_states``: the probe's residual norms equal ``output_hidden_states`` wherever the two
  coincide, and the last block's raw output is not the final-norm output;
* ``padding``: a right-padded batch gives each prompt the norms, attention statistics and
  next-token distribution it gets alone;
* ``attention_statistics``: the probe's attention statistics equal a direct float64 computation
  from the eager probabilities;
* ``fused_statistics`` (families that run transformers' attention interface): the fused
  statistics, from each kernel, equal the eager ones within 1e-5 per query row and leave the
  residual norms unchanged at the real tokens.

Sliding windows are exercised when they are shorter than the longest prompt of ``lengths``.
A new family's adapter is usable once ``check_adapter`` passes on a tiny model of the family.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from contract.errors import ThermoAuditError
from measure.adapters import Adapter, get_adapter
from measure.attention import FUSED_STATISTICS, supports_fused_statistics
from measure.probe import Probe, first_input, first_output

DEFAULT_LENGTHS = (23, 12, 5, 1)
REBUILD_TOLERANCE = 1e-5  # relative error of rebuilt outputs and sums, float32
NORM_TOLERANCE = 1e-4  # relative error of norms compared across batchings or attention paths
STATISTICS_TOLERANCE = 1e-5  # absolute error per query row of attention statistics (mass, entropy in nats), float32


class ConformanceError(ThermoAuditError):
    """An adapter (or the model it is applied to) fails a conformance property; ``check`` names it."""

    def __init__(self, check: str, detail: str):
        super().__init__(f"conformance check '{check}' failed: {detail}")
        self.check = check


@dataclass(frozen=True)
class PaddedBatch:
    """Random token ids, right-padded with id 0: ``ids``, ``mask`` [B, T] and each ``prompt`` alone."""

    ids: torch.Tensor
    mask: torch.Tensor
    prompts: list[torch.Tensor]


def padded_batch(lengths=DEFAULT_LENGTHS, vocab: int = 128, seed: int = 1) -> PaddedBatch:
    gen = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(3, vocab, (n,), generator=gen) for n in lengths]
    ids = torch.zeros(len(prompts), max(lengths), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)] = prompt
        mask[row, : len(prompt)] = 1
    return PaddedBatch(ids, mask, prompts)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


def max_abs_difference(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


@contextmanager
def attention_implementation(model: nn.Module, name: str):
    """Run the block with the model switched to attention implementation ``name``, then switch back."""
    previous = model.config._attn_implementation
    if previous != name:
        model.set_attn_implementation(name)
        if model.config._attn_implementation != name:
            raise ConformanceError(
                "setup",
                f"{type(model).__name__} cannot switch to {name} attention after "
                f"loading; load it with attn_implementation='{name}'.",
            )
    try:
        yield model
    finally:
        if previous != name:
            model.set_attn_implementation(previous)


def _without_residual(sublayer, args, kwargs, output) -> torch.Tensor:
    out = first_output(output)
    if sublayer.output_includes_residual:
        out = out - (args[sublayer.residual_arg] if len(args) > sublayer.residual_arg else kwargs["residual"])
    return out


def capture_attention(model: nn.Module, adapter: Adapter, batch: PaddedBatch) -> dict[int, tuple]:
    """Per layer, from an eager forward: the attention module's input, its output (residual removed),
    and its probabilities [B, H, T, T]."""
    records, handles = {}, []

    def make_hook(layer, sublayer):
        def hook(module, args, kwargs, output):
            probs = output[1] if isinstance(output, (tuple, list)) and len(output) > 1 else None
            records[layer] = (first_input(args, kwargs), _without_residual(sublayer, args, kwargs, output), probs)

        return hook

    for layer, block in enumerate(adapter.blocks(model)):
        module, sublayer = adapter.attention(block), adapter.sublayers(block)["attention"]
        if sublayer.input_module is not module:
            raise ConformanceError(
                "attention_rebuild", f"layer {layer}: the attention sublayer's input module is not the attention module"
            )
        handles.append(module.register_forward_hook(make_hook(layer, sublayer), with_kwargs=True))
    try:
        with torch.no_grad():
            model(input_ids=batch.ids, attention_mask=batch.mask)
    finally:
        for handle in handles:
            handle.remove()
    if any(probs is None for _, _, probs in records.values()):
        raise ConformanceError("attention_rebuild", "the attention module returned no probabilities in eager mode")
    return records


def rebuild_attention(x: torch.Tensor, probs: torch.Tensor, weights) -> torch.Tensor:
    """sum_h A_h (X W_V^h^T + b_V^h) W_O^h^T + b_O, in float64."""
    values = torch.einsum("btd,hed->bhte", x.double(), weights.w_v.double())
    if weights.b_v is not None:
        values = values + weights.b_v.double()[None, :, None, :]
    out = torch.einsum("bhte,hde->btd", probs.double() @ values, weights.w_o.double())
    return out if weights.b_o is None else out + weights.b_o.double()


# -- the checks (eager attention) ---------------------------------------------------------------
def check_head_weights(model: nn.Module, adapter: Adapter, batch: PaddedBatch) -> None:
    arch = adapter.architecture(model.config)
    for layer in range(arch.n_layers):
        weights = adapter.head_weights(model, layer)
        shapes = (tuple(weights.w_v.shape), tuple(weights.w_o.shape))
        expected = ((arch.n_heads, arch.d_head, arch.d_model), (arch.n_heads, arch.d_model, arch.d_head))
        if shapes != expected:
            raise ConformanceError("head_weights", f"layer {layer}: W_V, W_O shapes {shapes}, expected {expected}")
        group = arch.n_heads // arch.n_kv_heads
        if weights.kv_head.tolist() != [h // group for h in range(arch.n_heads)]:
            raise ConformanceError("head_weights", f"layer {layer}: KV map {weights.kv_head.tolist()}")
        for h in range(arch.n_heads):
            first = h - h % group
            if not torch.equal(weights.w_v[h], weights.w_v[first]):
                raise ConformanceError(
                    "head_weights", f"layer {layer}: heads {first} and {h} share a KV head but not its W_V"
                )


def check_attention_rebuild(model: nn.Module, adapter: Adapter, batch: PaddedBatch) -> None:
    for layer, (x, out, probs) in capture_attention(model, adapter, batch).items():
        weights = adapter.head_weights(model, layer)
        error = relative_error(rebuild_attention(x, probs, weights), out)
        if error > REBUILD_TOLERANCE:
            raise ConformanceError(
                "attention_rebuild",
                f"layer {layer}: relative error {error:.2e} of the "
                "output rebuilt from W_V^h, W_O^h and the probabilities",
            )
        if weights.w_o.shape[0] > 1:
            rolled = type(weights)(weights.w_v, weights.b_v, weights.w_o.roll(1, dims=0), weights.b_o, weights.kv_head)
            if relative_error(rebuild_attention(x, probs, rolled), out) < 1e-2:
                raise ConformanceError(
                    "attention_rebuild",
                    f"layer {layer}: the rebuild also passes with W_O's "
                    "heads rolled by one, so it cannot tell heads apart (degenerate weights?)",
                )


def check_sublayer_sum(model: nn.Module, adapter: Adapter, batch: PaddedBatch) -> None:
    arch = adapter.architecture(model.config)
    if arch.norm_placement == "post":
        return
    shape, seen, handles = tuple(batch.ids.shape), {}, []

    def store_output(key, sublayer=None):
        def hook(module, args, kwargs, output):
            out = first_output(output) if sublayer is None else _without_residual(sublayer, args, kwargs, output)
            seen[key] = out.reshape(*shape, -1).clone()

        return hook

    def store_input(key):
        def hook(module, args, kwargs):
            seen[key] = first_input(args, kwargs).clone()

        return hook

    for layer, block in enumerate(adapter.blocks(model)):
        handles.append(block.register_forward_pre_hook(store_input(("in", layer)), with_kwargs=True))
        handles.append(block.register_forward_hook(store_output(("out", layer)), with_kwargs=True))
        for kind, sub in adapter.sublayers(block).items():
            handles.append(sub.output_module.register_forward_hook(store_output((kind, layer), sub), with_kwargs=True))
    try:
        with torch.no_grad():
            model(input_ids=batch.ids, attention_mask=batch.mask)
    finally:
        for handle in handles:
            handle.remove()
    for layer in range(arch.n_layers):
        before, after = seen[("in", layer)].double(), seen[("out", layer)].double()
        difference = seen[("attention", layer)].double() + seen[("mlp", layer)].double() - (after - before)
        # relative to the stream the update is read from: out - in loses the digits of the larger of the two
        error = (difference.norm() / (before.norm() + after.norm())).item()
        if error > REBUILD_TOLERANCE:
            raise ConformanceError(
                "sublayer_sum",
                f"layer {layer}: attention + MLP contributions differ from the "
                f"block's residual update by {error:.2e} of the residual stream's norm",
            )


def check_hidden_states(model: nn.Module, adapter: Adapter, batch: PaddedBatch) -> None:
    """hidden_states[0] = input to block 0, [k] = output of block k-1 (k < L), [L] = final norm output."""
    with Probe(model, adapter, attention=False) as probe:
        capture = probe.run(batch.ids, batch.mask)
    with torch.no_grad():
        hidden = model(input_ids=batch.ids, attention_mask=batch.mask, output_hidden_states=True).hidden_states
    n_layers = adapter.architecture(model.config).n_layers
    if len(hidden) != n_layers + 1:
        raise ConformanceError("hidden_states", f"{len(hidden)} hidden states for {n_layers} blocks")
    real = batch.mask.bool().numpy()
    sites = [(k, hidden[k]) for k in range(n_layers)] + [(n_layers + 1, hidden[n_layers])]
    for site, states in sites:
        expected = states.float().norm(dim=-1).numpy()
        if max_abs_difference(capture.token_norms[:, site][real], expected[real]) > NORM_TOLERANCE * expected.max():
            raise ConformanceError("hidden_states", f"probe site {site} differs from hidden_states")
    final = hidden[n_layers].float().norm(dim=-1).numpy()
    if max_abs_difference(capture.token_norms[:, n_layers][real], final[real]) < 1e-3 * final.max():
        raise ConformanceError(
            "hidden_states",
            "the last block's output equals the final-norm output: the adapter's blocks or final module are misplaced",
        )


def check_padding(model: nn.Module, adapter: Adapter, batch: PaddedBatch) -> None:
    with Probe(model, adapter, attention=True) as probe:
        batched = probe.run(batch.ids, batch.mask)
        for row, prompt in enumerate(batch.prompts):
            alone = probe.run(prompt[None, :], torch.ones(1, len(prompt), dtype=torch.long))
            n = len(prompt)
            pairs = {
                "token norms": (batched.token_norms[row, :, :n], alone.token_norms[0]),
                "sublayer norms": (batched.sublayer_norms[row, ..., :n], alone.sublayer_norms[0]),
                "next-token entropy": (batched.next_token_entropy[row], alone.next_token_entropy[0]),
            }
            for what, (a, b) in pairs.items():
                if max_abs_difference(a, b) > NORM_TOLERANCE * max(1.0, float(np.max(np.abs(b)))):
                    raise ConformanceError("padding", f"prompt {row} ({n} tokens): {what} differ padded vs alone")
            for what, tolerance in (
                ("offdiag_mass", STATISTICS_TOLERANCE * n),  # a sum of n rows
                ("attention_entropy", STATISTICS_TOLERANCE),
            ):
                if max_abs_difference(getattr(batched, what)[row], getattr(alone, what)[0]) > tolerance:
                    raise ConformanceError("padding", f"prompt {row} ({n} tokens): {what} differ padded vs alone")
            if batched.top_token_id[row] != alone.top_token_id[0]:
                raise ConformanceError("padding", f"prompt {row}: top next token differs padded vs alone")


def check_attention_statistics(model: nn.Module, adapter: Adapter, batch: PaddedBatch) -> None:
    records = capture_attention(model, adapter, batch)
    with Probe(model, adapter, attention=True) as probe:
        capture = probe.run(batch.ids, batch.mask)
    for layer, (_, _, probs) in records.items():
        for row, prompt in enumerate(batch.prompts):
            n = len(prompt)
            a = probs[row, :, :n, :n].double()
            offdiag = (n - torch.diagonal(a, dim1=-2, dim2=-1).sum(-1)).numpy()
            entropy = (-(a * torch.log(a.clamp_min(1e-300))).sum(-1).mean(-1)).numpy()
            for what, direct, tolerance in (
                ("offdiag_mass", offdiag, STATISTICS_TOLERANCE * n),  # a sum of n rows
                ("attention_entropy", entropy, STATISTICS_TOLERANCE),
            ):
                error = max_abs_difference(getattr(capture, what)[row, layer], direct)
                if error > tolerance:
                    raise ConformanceError(
                        "attention_statistics",
                        f"layer {layer}, prompt {row}: {what} differs from the direct computation by {error:.2e}",
                    )


EAGER_CHECKS = {
    "head_weights": check_head_weights,
    "attention_rebuild": check_attention_rebuild,
    "sublayer_sum": check_sublayer_sum,
    "hidden_states": check_hidden_states,
    "padding": check_padding,
    "attention_statistics": check_attention_statistics,
}


def fused_against_eager(model: nn.Module, adapter: Adapter, batch: PaddedBatch, kernel: str = "auto") -> dict:
    """Max |fused - eager| of each attention statistic and of the residual norms (relative), on ``batch``."""
    with attention_implementation(model, "eager"), Probe(model, adapter, attention=True) as probe:
        eager = probe.run(batch.ids, batch.mask)
    with (
        attention_implementation(model, FUSED_STATISTICS),
        Probe(model, adapter, attention=True, fused_kernel=kernel) as probe,
    ):
        fused = probe.run(batch.ids, batch.mask)
    real = batch.mask.bool().numpy()
    norms = eager.token_norms.transpose(0, 2, 1)[real]
    return {
        "offdiag_mass": max_abs_difference(fused.offdiag_mass, eager.offdiag_mass),
        "entropy": max_abs_difference(fused.attention_entropy, eager.attention_entropy),
        "mass_minus_tokens": max_abs_difference(fused.mass_minus_tokens, eager.mass_minus_tokens),
        "token_norms": max_abs_difference(fused.token_norms.transpose(0, 2, 1)[real], norms) / norms.max(),
        "kernels": sorted(probe.recorder.kernels_used),
    }


def check_fused_statistics(model: nn.Module, adapter: Adapter, batch: PaddedBatch) -> None:
    if not supports_fused_statistics(type(model)):
        return
    longest = max(len(prompt) for prompt in batch.prompts)
    tolerances = {
        "offdiag_mass": STATISTICS_TOLERANCE * longest,
        "entropy": STATISTICS_TOLERANCE,
        "mass_minus_tokens": STATISTICS_TOLERANCE * longest,
    }  # sums of up to `longest` rows; a mean
    for kernel in ("auto", "chunked"):
        differences = fused_against_eager(model, adapter, batch, kernel)
        for what, tolerance in tolerances.items():
            if differences[what] > tolerance:
                raise ConformanceError(
                    "fused_statistics", f"kernel {kernel}: {what} differs from eager by {differences[what]:.2e}"
                )
        if differences["token_norms"] > NORM_TOLERANCE:
            raise ConformanceError(
                "fused_statistics",
                f"kernel {kernel}: residual norms differ from the eager "
                f"forward by {differences['token_norms']:.2e} (relative)",
            )


def check_adapter(
    model: nn.Module, adapter: Adapter | None = None, *, lengths=DEFAULT_LENGTHS, seed: int = 1
) -> list[str]:
    """Run every conformance check (module docstring) of ``adapter`` (default: the registered one for
    ``model.config.model_type``) on ``model``; returns the names of the checks run, raises
    ConformanceError naming the first that fails. The model must be float32, in eval mode, and
    able to run eager attention (loaded eager, or a family that can switch)."""
    adapter = adapter or get_adapter(model.config.model_type)
    if model.training:
        raise ConformanceError("setup", "the model is in training mode; call model.eval() first.")
    if any(p.dtype != torch.float32 for p in model.parameters()):
        raise ConformanceError("setup", "the checks' tolerances are for float32 weights; check a float32 copy.")
    batch = padded_batch(lengths, vocab=model.config.vocab_size, seed=seed)
    with attention_implementation(model, "eager"):
        for check in EAGER_CHECKS.values():
            check(model, adapter, batch)
    check_fused_statistics(model, adapter, batch)
    return list(EAGER_CHECKS) + (["fused_statistics"] if supports_fused_statistics(type(model)) else [])
