"""What every architecture adapter provides: canonical roles mapped onto the native HF modules.

An adapter never re-implements the forward pass. It names the modules the probe hooks
(blocks, the module after the last block, attention, the two sublayers) and slices the
per-head value and output maps out of the native weights.

Per-head conventions (every family, whatever its storage layout):

* ``w_v[h]`` is W_V^h, shape [d_head, d_model]: head h's value vector is
  ``W_V^h x + b_v[h]``. For grouped-query/multi-query models it is the W_V of the KV head
  that query head h reads (``kv_head[h]``).
* ``w_o[h]`` is W_O^h, shape [d_model, d_head]: the attention output is
  ``sum_h W_O^h z_h + b_o`` where z_h = sum_j A_h[i, j] v_h[j].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from contract.vocab import NORM_PLACEMENTS, NORM_TYPES, POSITIONAL


@dataclass(frozen=True)
class HeadWeights:
    """Per-head value/output maps of one attention layer, as views or copies of the weights."""

    w_v: torch.Tensor  # [H, d_head, d_model]
    b_v: torch.Tensor | None  # [H, d_head]
    w_o: torch.Tensor  # [H, d_model, d_head]
    b_o: torch.Tensor | None  # [d_model]
    kv_head: torch.Tensor  # [H] int64: the KV head each query head reads


@dataclass(frozen=True)
class Sublayer:
    """Where a sublayer's input and its contribution to the residual stream can be read.

    ``input_module`` receives the sublayer input as its first positional argument or as
    ``hidden_states=``; ``output_module``'s output is what the sublayer adds to the residual
    stream (minus the ``residual`` argument when ``output_includes_residual``, as in BLOOM).
    Inputs may arrive flattened to [B*T, d] (OPT's MLP); the probe reshapes them.
    """

    input_module: nn.Module
    output_module: nn.Module
    output_includes_residual: bool = False
    residual_arg: int = 1  # position of the residual argument when it is passed positionally


@dataclass(frozen=True)
class Architecture:
    """Architecture facts read from a config (conventions of DESIGN.md's data contract)."""

    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_head: int
    norm_type: str  # "LayerNorm" | "RMSNorm"
    norm_placement: str  # "pre" | "post"
    parallel_residual: bool
    positional: str  # "learned" | "rotary" | "alibi"
    max_positions: int | None  # None where positions are not bounded by the weights (ALiBi)

    def __post_init__(self) -> None:
        """An adapter's mistake (a misspelt vocabulary word, a float d_head) stops here, named."""
        for name in ("n_layers", "n_heads", "n_kv_heads", "d_model", "d_head"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Architecture.{name} must be a positive int, not {value!r}")
        if self.max_positions is not None and (not isinstance(self.max_positions, int) or self.max_positions < 1):
            raise ValueError(f"Architecture.max_positions must be a positive int or None, not {self.max_positions!r}")
        if not isinstance(self.parallel_residual, bool):
            raise ValueError(f"Architecture.parallel_residual must be a bool, not {self.parallel_residual!r}")
        vocabularies = {"norm_type": NORM_TYPES, "norm_placement": NORM_PLACEMENTS, "positional": POSITIONAL}
        for name, allowed in vocabularies.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"Architecture.{name} must be one of {', '.join(allowed)}, not {value!r}")

    @property
    def rho(self) -> float:
        """The paper's head density rho = H / d_head (query heads; KV heads are ignored)."""
        return self.n_heads / self.d_head

    def kv_head_map(self) -> torch.Tensor:
        """Query head h reads KV head floor(h * H_kv / H) (HF's repeat_kv layout)."""
        return torch.arange(self.n_heads) // (self.n_heads // self.n_kv_heads)


def split_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[n_heads * d_head, d_in] (nn.Linear rows, heads contiguous) -> [n_heads, d_head, d_in]."""
    return weight.reshape(n_heads, -1, weight.shape[-1])


def split_columns(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[d_out, n_heads * d_head] (nn.Linear columns) -> [n_heads, d_out, d_head]."""
    return weight.reshape(weight.shape[0], n_heads, -1).permute(1, 0, 2)


def max_positions_of(config) -> int | None:
    """The longest input the model's positions support, or None when unbounded (ALiBi)."""
    for name in ("max_position_embeddings", "n_positions", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class Adapter:
    """Base class of the per-family adapters; subclasses set ``model_types`` and the methods."""

    model_types: ClassVar[tuple[str, ...]] = ()

    def architecture(self, config) -> Architecture:
        raise NotImplementedError

    def blocks(self, model: nn.Module) -> nn.ModuleList:
        raise NotImplementedError

    def final_module(self, model: nn.Module) -> nn.Module:
        """The module applied to the last block's output (the final norm)."""
        raise NotImplementedError

    def attention(self, block: nn.Module) -> nn.Module:
        """The attention module; with eager attention its output is (attn_output, probs)."""
        raise NotImplementedError

    def sublayers(self, block: nn.Module) -> dict[str, Sublayer]:
        """{"attention": ..., "mlp": ...}."""
        raise NotImplementedError

    def head_weights(self, model: nn.Module, layer: int) -> HeadWeights:
        raise NotImplementedError


class TransformerHAdapter(Adapter):
    """The layout of GPT-2 and the families that kept it: ``transformer.h`` blocks, a final
    ``transformer.ln_f``, and an attention module and an MLP named in each block."""

    attention_name: ClassVar[str] = "attn"

    def blocks(self, model: nn.Module) -> nn.ModuleList:
        return model.transformer.h

    def final_module(self, model: nn.Module) -> nn.Module:
        return model.transformer.ln_f

    def attention(self, block: nn.Module) -> nn.Module:
        return getattr(block, self.attention_name)

    def sublayers(self, block: nn.Module) -> dict[str, Sublayer]:
        attention = self.attention(block)
        return {"attention": Sublayer(attention, attention), "mlp": Sublayer(block.mlp, block.mlp)}
