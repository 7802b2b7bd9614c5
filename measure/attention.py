"""Which attention implementation a model is loaded with, and the fused statistics implementation.

``select_attention`` picks, from what the model class declares to transformers:

* without attention statistics: SDPA where the class supports it (``_supports_sdpa``), else eager;
* with attention statistics: ``fused_statistics`` where the class runs its attention through
  transformers' attention interface (``_supports_attention_backend``: GPT-2, GPT-NeoX, GPT-J, OPT,
  LLaMA, Mistral, Gemma 1-3, Qwen2/3, Apertus), else eager (BLOOM, Falcon and GPT-Neo compute
  attention in their own code; eager returns the probabilities and stays the reference).

``fused_statistics`` is registered with ``transformers.AttentionInterface``, so every model's own
forward calls it in place of SDPA, with the model's own q, k, v, mask, scaling, sliding window
and soft-cap; nothing of any model is re-implemented. It returns what SDPA returns. While a
``StatisticsRecorder`` watches the module (the probe does so), it also stores the per-row
statistics of ``measure.attention_stats``:

* plain scaled dot-product scores (every family above except Gemma 2): the output is
  transformers' own ``sdpa_attention_forward``; the rows come from one extra log-sum-exp
  kernel call, in float32 (kernel ``lse``). Where every prompt's real block of the mask is
  causal (no sliding window shorter than the prompt), both calls run a causal kernel without the
  padding mask: real positions get exactly the same output (right padding: a real query never
  reaches a padding key) and the kernels skip the masked upper triangle; padding positions,
  which nothing reads, then attend to earlier padding too;
* soft-capped scores (Gemma 2), additive float biases, or a device without such a kernel: the
  output and the rows come from the exact chunked computation (kernel ``chunked``).

Masks are transformers' SDPA masks (boolean, True = attend; None = causal). The statistics
assume right padding (the probe's), so a prompt's real rows attend to its real keys only.

``check_faithful`` refuses implementations known to compute another model than the checkpoint's:
in transformers 5.x, Falcon's eager path adds ALiBi twice (once in the mask it builds, once in
the attention module), while its SDPA path adds it once, as the original Falcon code did
(tests/test_conformance.py checks both against an independent computation).
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import create_position_bias_mask, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from contract.errors import ModelLoadError
from measure.attention_stats import (
    RowStatistics,
    chunked_attention,
    lse_kernel_available,
    lse_rows,
    real_blocks_are_causal,
)

FUSED_STATISTICS = "fused_statistics"
KERNELS = ("auto", "lse", "chunked")


@dataclass
class StatisticsRecorder:
    """Collects the row statistics the fused implementation computes for the watched attention modules.

    ``n_tokens`` ([B] real tokens per right-padded prompt) is set by ``start_batch``; ``kernel`` forces one of
    the fused kernels ("auto" picks ``lse`` where it applies, else ``chunked``); ``kernels_used``
    names the kernels that produced the rows.
    """

    modules: list[nn.Module]
    kernel: str = "auto"
    n_tokens: torch.Tensor | None = None
    rows: dict[int, RowStatistics] = field(default_factory=dict)
    kernels_used: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise ValueError(f"Unknown fused kernel '{self.kernel}'; known: {', '.join(KERNELS)}")
        self._watched = {id(module) for module in self.modules}
        self._causal_masks = {}

    def start_batch(self, n_tokens: torch.Tensor) -> None:
        """A new right-padded batch with ``n_tokens`` real tokens per prompt."""
        self.n_tokens = n_tokens
        self._causal_masks: dict[int, tuple[weakref.ref, bool]] = {}

    def real_blocks_causal(self, mask: torch.Tensor | None) -> bool:
        """``real_blocks_are_causal`` for this batch, decided once per mask (the layers share a few masks).
        A weak reference tells a mask apart from a later one that reuses a freed mask's id."""
        if mask is None:
            return True
        known = self._causal_masks.get(id(mask))
        if known is None or known[0]() is not mask:
            known = (weakref.ref(mask), real_blocks_are_causal(mask, self.n_tokens))
            self._causal_masks[id(mask)] = known
        return known[1]

    def watches(self, module: nn.Module) -> bool:
        return id(module) in self._watched

    def pop(self, module: nn.Module) -> RowStatistics | None:
        return self.rows.pop(id(module), None)


_ACTIVE: ContextVar[StatisticsRecorder | None] = ContextVar("thermo_audit_statistics_recorder", default=None)


@contextmanager
def recording(recorder: StatisticsRecorder):
    """Within this block, the fused implementation stores rows for the modules ``recorder`` watches."""
    token = _ACTIVE.set(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE.reset(token)


def fused_statistics_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    **kwargs,
):
    """transformers' attention-function signature: query [B, H, T_q, d], key/value [B, H_kv, T_k, d];
    returns (output [B, T_q, H, d_v], None)."""
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    recorder = _ACTIVE.get()
    record = recorder is not None and recorder.watches(module)
    if record and dropout > 0:
        raise RuntimeError("Attention statistics need the model in eval mode (attention dropout is active).")
    is_causal = kwargs.get("is_causal")
    causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
    bilinear = (
        softcap is None
        and kwargs.get("position_bias") is None
        and (attention_mask is None or attention_mask.dtype == torch.bool)
    )
    if kwargs.get("position_bias") is not None:  # T5-style learned biases: one additive float mask
        attention_mask = create_position_bias_mask(
            kwargs["position_bias"], attention_mask, causal and query.shape[2] > 1, query, key
        )
    use_lse = (
        bilinear
        and query.shape[2] == key.shape[2]
        and lse_kernel_available(query.device)
        and (recorder is None or recorder.kernel != "chunked")
    )
    if use_lse or (bilinear and not record):
        if record and attention_mask is None and not causal:
            raise RuntimeError("The fused statistics assume causal attention; this module is bidirectional.")
        # Where every prompt's real block is causal, a causal kernel without the padding mask gives the same
        # output at every real position (real rows never reach padding keys) and skips the masked half.
        causal_blocks = record and recorder.real_blocks_causal(attention_mask)
        output, _ = sdpa_attention_forward(
            module,
            query,
            key,
            value,
            None if causal_blocks else attention_mask,
            dropout=dropout,
            scaling=scaling,
            **kwargs,
        )
        if record:
            recorder.rows[id(module)] = lse_rows(
                query, key, attention_mask, scale, recorder.n_tokens, causal=causal_blocks
            )
            recorder.kernels_used.add("lse")
        return output, None
    if recorder is not None and recorder.kernel == "lse" and record:
        raise RuntimeError(
            f"The lse kernel cannot compute these scores (soft-cap {softcap}, "
            f"mask {None if attention_mask is None else attention_mask.dtype}, device {query.device})."
        )
    output, rows = chunked_attention(
        query, key, value, attention_mask, scale, softcap=softcap, causal=causal, with_rows=record
    )
    if record:
        recorder.rows[id(module)] = rows
        recorder.kernels_used.add("chunked")
    return output, None


AttentionInterface.register(FUSED_STATISTICS, fused_statistics_attention)
AttentionMaskInterface.register(FUSED_STATISTICS, sdpa_mask)


def check_faithful(config, implementation: str) -> None:
    """Refuse an attention implementation known to compute another model (see the module docstring)."""
    if implementation == "eager" and config.model_type == "falcon" and getattr(config, "alibi", False):
        raise ModelLoadError(
            "Falcon models with ALiBi cannot be measured with eager attention: the installed transformers adds "
            "the ALiBi bias twice on its eager path (its SDPA path is correct), and Falcon's attention does not "
            "run through the attention interface that the fused statistics use. Measure without attention "
            "statistics (SDPA)."
        )


def supports_fused_statistics(model_class: type) -> bool:
    """Whether the class runs its attention through transformers' attention interface."""
    return bool(getattr(model_class, "_supports_attention_backend", False))


def select_attention(model_class: type | None, statistics: bool, requested: str | None = None) -> str:
    """The attention implementation to load ``model_class`` with (see the module docstring).

    ``requested`` ("eager", "sdpa" or "fused_statistics") overrides the choice when the class
    supports it; an implementation that cannot give what was asked for is a ModelLoadError.
    """
    name = getattr(model_class, "__name__", "this model")
    if requested is None:
        if model_class is None:  # a class transformers does not map (remote code): the reference
            return "eager" if statistics else "sdpa"
        if statistics:
            return FUSED_STATISTICS if supports_fused_statistics(model_class) else "eager"
        return "sdpa" if getattr(model_class, "_supports_sdpa", False) else "eager"
    if requested == "eager":
        return requested
    if requested == "sdpa":
        if statistics:
            raise ModelLoadError(
                "SDPA does not expose attention statistics: use the eager or fused_statistics "
                "implementation (or leave the choice to the loader)."
            )
        if model_class is not None and not getattr(model_class, "_supports_sdpa", False):
            raise ModelLoadError(f"{name} does not support SDPA attention; use eager.")
        return requested
    if requested == FUSED_STATISTICS:
        if model_class is not None and not supports_fused_statistics(model_class):
            raise ModelLoadError(
                f"{name} computes attention in its own code, not through transformers' attention "
                "interface: the fused statistics cannot run in it; use eager."
            )
        return requested
    raise ModelLoadError(f"Unknown attention implementation '{requested}'; known: eager, sdpa, {FUSED_STATISTICS}.")
