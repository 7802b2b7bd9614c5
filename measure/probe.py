"""One probe, many views: a single batched forward pass with hooks that reduce as they go.

For each batch of right-padded prompts the probe records, in float32:

* per-token L2 norms of the residual stream at L + 2 sites: the input to block 0 (a forward
  pre-hook, so embedding scaling, positions, embedding LayerNorm and project_in are
  included), the output of every block (forward hooks: the raw last-block output x_{L-1},
  never ``hidden_states[-1]``), and the output of the module after the last block;
* per-token norms of each sublayer's input and of what it adds to the residual stream;
* with ``attention=True``, per head the off-diagonal mass T - tr(A_h), the mean row entropy
  and the row mass over the prompt's real tokens (``measure.attention_stats``), from either
  path: a model loaded with the ``fused_statistics`` implementation hands the probe per-row
  statistics without ever forming A (O(B H T) memory); an eager model hands it each layer's
  [B, H, T, T] probabilities, reduced inside the hook so that one layer's exist at a time;
* the next-token distribution at each prompt's last real token (fp32 log-softmax).

Right padding keeps every real token at the positions it has when the prompt runs alone, so
causal attention never sees the padding and absolute/rotary/ALiBi positions are unchanged.
The model may be spread over several devices (``device_map``): each hook reduces on its
module's device and hands the small result to the device of the input ids.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from measure.adapters import Adapter
from measure.attention import FUSED_STATISTICS, StatisticsRecorder, recording
from measure.attention_stats import RowStatistics, reduce_rows, rows_from_probabilities


@dataclass
class BatchCapture:
    """What the probe read from one batch, on the CPU. B prompts, T padded positions, L blocks."""

    n_tokens: np.ndarray  # [B] real tokens per prompt
    token_norms: np.ndarray  # [B, L + 2, T]: site 0 = input to block 0, 1..L = blocks, L + 1 = final
    sublayer_norms: np.ndarray  # [B, L, 2 (attention, mlp), 2 (input, output), T]
    offdiag_mass: np.ndarray | None  # [B, L, H]
    attention_entropy: np.ndarray | None  # [B, L, H], nats
    mass_minus_tokens: np.ndarray | None  # [B, L, H]: sum_ij A_ij - T, zero up to rounding
    next_token_entropy: np.ndarray  # [B], nats
    top_token_id: np.ndarray  # [B]
    top_prob: np.ndarray  # [B]
    nonfinite_logits: np.ndarray  # [B] bool


def token_norms(x: torch.Tensor) -> torch.Tensor:
    """Per-token L2 norm over the last axis, accumulated in float32 whatever the input dtype."""
    return torch.linalg.vector_norm(x, dim=-1, dtype=torch.float32)


def first_input(args: tuple, kwargs: dict) -> torch.Tensor:
    """A module's hidden-state input, passed positionally or as ``hidden_states=``."""
    return args[0] if args else kwargs["hidden_states"]


def first_output(output) -> torch.Tensor:
    """Decoder layers and attention modules return a tensor or a tuple led by the hidden states."""
    return output[0] if isinstance(output, (tuple, list)) else output


def attention_reductions(probs: torch.Tensor, query_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per (prompt, head), in float32, from explicit probabilities [B, H, T, T]: the off-diagonal
    mass, the mean row entropy (nats) and sum_ij A_ij - T (see ``measure.attention_stats.reduce_rows``)."""
    return reduce_rows(rows_from_probabilities(probs), query_mask)


class Probe:
    """Hooks a model through its adapter; ``run(input_ids, attention_mask)`` captures one batch.

    Use as a context manager so the hooks are always removed. ``fused_kernel`` chooses the
    kernel of the fused statistics ("auto", "lse" or "chunked"; see ``measure.attention``).
    """

    def __init__(self, model: nn.Module, adapter: Adapter, attention: bool, fused_kernel: str = "auto"):
        self.model = model
        self.adapter = adapter
        self.attention = attention
        self.blocks = adapter.blocks(model)
        self.n_layers = len(self.blocks)
        self.fused = attention and model.config._attn_implementation == FUSED_STATISTICS
        self._attention_modules = [adapter.attention(block) for block in self.blocks]
        self.recorder = StatisticsRecorder(self._attention_modules, kernel=fused_kernel) if self.fused else None
        self._handles: list = []
        self._shape: tuple[int, int] = (0, 0)
        self._device: torch.device | None = None
        self._sites: list[torch.Tensor | None] = []
        self._sublayers: list[torch.Tensor | None] = []
        self._rows: list[RowStatistics | None] = []

    # -- hook registration -------------------------------------------------------------------
    def __enter__(self) -> Probe:
        add = self._handles.append
        add(self.blocks[0].register_forward_pre_hook(self._site_input_hook(0), with_kwargs=True))
        for layer, block in enumerate(self.blocks):
            add(block.register_forward_hook(self._site_output_hook(layer + 1)))
            for s, sub in enumerate(self.adapter.sublayers(block).values()):
                slot = (layer * 2 + s) * 2
                add(sub.input_module.register_forward_hook(self._sublayer_input_hook(slot), with_kwargs=True))
                add(
                    sub.output_module.register_forward_hook(self._sublayer_output_hook(slot + 1, sub), with_kwargs=True)
                )
            if self.attention:
                add(self._attention_modules[layer].register_forward_hook(self._attention_hook(layer)))
        add(self.adapter.final_module(self.model).register_forward_hook(self._site_output_hook(self.n_layers + 1)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _as_tokens(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*self._shape, x.shape[-1])

    def _gather(self, x: torch.Tensor) -> torch.Tensor:
        """A reduction moved to the input's device, where the batch's results are stacked."""
        return x.to(self._device, non_blocking=True)

    def _site_input_hook(self, site: int):
        def hook(module, args, kwargs):
            self._sites[site] = self._gather(token_norms(self._as_tokens(first_input(args, kwargs))))

        return hook

    def _site_output_hook(self, site: int):
        def hook(module, args, output):
            self._sites[site] = self._gather(token_norms(self._as_tokens(first_output(output))))

        return hook

    def _sublayer_input_hook(self, slot: int):
        def hook(module, args, kwargs, output):
            self._sublayers[slot] = self._gather(token_norms(self._as_tokens(first_input(args, kwargs))))

        return hook

    def _sublayer_output_hook(self, slot: int, sub):
        def hook(module, args, kwargs, output):
            out = self._as_tokens(first_output(output))
            if sub.output_includes_residual:
                residual = args[sub.residual_arg] if len(args) > sub.residual_arg else kwargs["residual"]
                out = out.float() - self._as_tokens(residual).float()
            self._sublayers[slot] = self._gather(token_norms(out))

        return hook

    def _attention_hook(self, layer: int):
        def hook(module, args, output):
            if self.fused:
                rows = self.recorder.pop(module)
                if rows is None:
                    raise RuntimeError(
                        f"Layer {layer}: the fused attention implementation recorded no statistics "
                        "(was the model's attention implementation changed after loading?)."
                    )
            else:
                probs = output[1] if isinstance(output, (tuple, list)) and len(output) > 1 else None
                if probs is None:
                    raise RuntimeError(
                        "The attention module returned no probabilities: attention metrics need the model "
                        f"loaded with attn_implementation='eager' or '{FUSED_STATISTICS}'."
                    )
                rows = rows_from_probabilities(probs)
            self._rows[layer] = rows.to(self._device)

        return hook

    # -- one batch ---------------------------------------------------------------------------
    @torch.inference_mode()
    def run(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> BatchCapture:
        """Forward one right-padded batch and return the reduced views on the CPU."""
        batch, length = input_ids.shape
        self._shape = (batch, length)
        self._device = input_ids.device
        self._sites = [None] * (self.n_layers + 2)
        self._sublayers = [None] * (self.n_layers * 4)
        self._rows = [None] * self.n_layers

        n_tokens = attention_mask.sum(-1)
        last = (n_tokens - 1).cpu()
        keep = torch.unique(last)  # on the CPU: a valid index into logits on any device
        if self.fused:
            self.recorder.start_batch(n_tokens)
        with recording(self.recorder) if self.fused else nullcontext():
            logits = self.model(
                input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep, use_cache=False
            ).logits
        rows = logits[torch.arange(batch, device=logits.device), torch.searchsorted(keep, last).to(logits.device)]
        log_probs = torch.log_softmax(rows.float(), dim=-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        top_log_prob, top_id = log_probs.max(-1)
        nonfinite = ~torch.isfinite(rows).all(-1)

        checks = [("residual sites", self._sites), ("sublayer slots", self._sublayers)]
        for what, captured in checks + ([("attention layers", self._rows)] if self.attention else []):
            missing = [i for i, t in enumerate(captured) if t is None]
            if missing:
                raise RuntimeError(f"Probe hooks did not fire for {what} {missing}: adapter/model mismatch.")
        offdiag = entropy_rows = bracket = None
        if self.attention:
            query_mask = attention_mask.bool()
            per_layer = [torch.stack(reduce_rows(rows_l, query_mask)) for rows_l in self._rows]  # [3, B, H] each
            offdiag, entropy_rows, bracket = torch.stack(per_layer, dim=2).cpu().numpy()  # [3, B, L, H]
        sublayers = torch.stack(self._sublayers).reshape(self.n_layers, 2, 2, batch, length)
        return BatchCapture(
            n_tokens=n_tokens.cpu().numpy(),
            token_norms=torch.stack(self._sites, dim=1).cpu().numpy(),
            sublayer_norms=sublayers.permute(3, 0, 1, 2, 4).cpu().numpy(),
            offdiag_mass=offdiag,
            attention_entropy=entropy_rows,
            mass_minus_tokens=bracket,
            next_token_entropy=torch.where(nonfinite, torch.nan, entropy).cpu().numpy(),
            top_token_id=top_id.cpu().numpy(),
            top_prob=top_log_prob.exp().cpu().numpy(),
            nonfinite_logits=nonfinite.cpu().numpy(),
        )
