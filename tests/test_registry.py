"""The model registry against the `transformers` configs built from it.

Every row must build its family's config and reproduce the row (L, H, KV heads, d_model, d_head,
MLP width, norm placement, residual form); every row instantiates on the meta device, and where
the row records an exact parameter count the built architecture must reproduce it (a mismatch
means a wrong registry value, e.g. the vocabulary size).
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from contract.errors import UnknownNameError, UnsupportedArchitectureError
from contract.registry import get_entry, load_registry, panel_members
from contract.vocab import PANELS
from measure.registry import (
    ARCH_CONTROLS_MAX_PARAMS,
    DTYPE_BYTES,
    FAMILIES,
    FIXED_OVERHEAD_GB,
    build_config,
    build_random_model,
    estimate_memory_gb,
    estimate_params,
    statistics_path,
)

REGISTRY = load_registry()
ROWS = [row for _, row in REGISTRY.iterrows()]
IDS = list(REGISTRY.index)
LABS = {
    "EleutherAI",
    "Meta",
    "BigScience",
    "TII",
    "StabilityAI",
    "OpenAI",
    "Google",
    "Mistral AI",
    "Swiss AI",
    "Hugging Face",
}
# Families whose residual form is fixed in code rather than a config flag.
PARALLEL_IN_CODE = {"gptj": True}
SHAPE_COLUMNS = ["family", "n_layers", "n_heads", "n_kv_heads", "d_model", "d_head", "d_ff", "vocab_size"]


def config_facts(config) -> dict:
    """What a config says about the registry's columns, read the way the adapters read it."""
    d_model, n_heads = config.hidden_size, config.num_attention_heads
    d_ff = next(
        (
            getattr(config, key)
            for key in ("intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size")
            if getattr(config, key, None) is not None
        ),
        4 * d_model,
    )
    n_kv = getattr(config, "num_key_value_heads", None) or getattr(config, "num_kv_heads", None) or n_heads
    if getattr(config, "do_layer_norm_before", True) and not getattr(
        config, "apply_residual_connection_post_layernorm", False
    ):
        placement = "pre"
    else:
        placement = "post"
    parallel = getattr(config, "use_parallel_residual", getattr(config, "parallel_attn", None))
    return {
        "n_layers": config.num_hidden_layers,
        "n_heads": n_heads,
        "n_kv_heads": n_kv,
        "d_model": d_model,
        "d_head": getattr(config, "head_dim", None) or d_model // n_heads,
        "d_ff": d_ff,
        "vocab_size": config.vocab_size,
        "norm_placement": placement,
        "parallel_residual": PARALLEL_IN_CODE.get(config.model_type, False) if parallel is None else parallel,
        "tie_embeddings": config.tie_word_embeddings,
    }


@pytest.mark.parametrize("entry", ROWS, ids=IDS)
def test_row_builds_a_config_that_agrees_with_it(entry):
    config = build_config(entry)
    assert config.model_type == entry["family"]
    assert config.dtype == torch.float32
    facts = config_facts(config)
    expected = {key: entry[key] for key in facts}
    expected["parallel_residual"] = str(entry["parallel_residual"]).lower() == "true"
    expected["tie_embeddings"] = str(entry["tie_embeddings"]).lower() == "true"
    assert facts == expected


@pytest.mark.parametrize("entry", ROWS, ids=IDS)
def test_row_instantiates_with_its_recorded_parameter_count(entry):
    n_params = estimate_params(entry)
    if pd.notna(entry["n_params"]):
        assert n_params == entry["n_params"], f"{entry['model']}: built {n_params:,}, recorded {entry['n_params']:,}"
        assert entry["n_params_source"] in ("R", "C", "B")


def test_names_labs_and_families_are_closed_sets():
    assert REGISTRY["model"].is_unique and REGISTRY["hf_id"].is_unique
    assert set(REGISTRY["lab"]) <= LABS
    assert set(REGISTRY["family"]) <= set(FAMILIES)
    assert set(REGISTRY["variant"]) <= {"base", "instruct"}
    assert set(REGISTRY["norm_placement"]) <= {"pre", "post"}
    assert get_entry("jphme/Apertus-8b")["model"] == "apertus-8b-2509"


def test_twins_point_to_a_base_row_of_the_same_architecture():
    twins = REGISTRY[REGISTRY["twin_of"].notna()]
    assert len(twins) == 3
    for _, row in twins.iterrows():
        base = REGISTRY.loc[row["twin_of"]]
        assert (row["variant"], base["variant"]) == ("instruct", "base")
        assert row["lab"] == base["lab"]
        assert row[SHAPE_COLUMNS].tolist() == base[SHAPE_COLUMNS].tolist()


def test_panels():
    named = {panel for cell in REGISTRY["panels"] for panel in cell.split(";")}
    assert named == set(PANELS)
    paper = panel_members("paper3")
    assert len(paper) == 36 and len(panel_members("offline-demo")) == 2
    small = {name for name, row in paper.iterrows() if estimate_params(row) <= ARCH_CONTROLS_MAX_PARAMS}
    assert set(panel_members("arch-controls").index) == small


def test_unknown_panel_is_rejected_with_a_suggestion():
    with pytest.raises(UnknownNameError, match="Known panels: .*Did you mean: arch-controls"):
        panel_members("arch-control")


def test_unknown_family_is_rejected():
    entry = REGISTRY.loc["gpt2"].copy()
    entry["family"] = "gpt3"
    with pytest.raises(UnsupportedArchitectureError, match="gpt2"):
        build_config(entry)


def test_memory_estimate_follows_the_documented_formula():
    entry = REGISTRY.loc["pythia-70m"]
    weights = estimate_params(entry) * DTYPE_BYTES["float32"] / 2**30
    one_token = estimate_memory_gb(entry, "float32", batch_size=1, n_tokens=1)
    assert weights + FIXED_OVERHEAD_GB < one_token < weights + FIXED_OVERHEAD_GB + 0.01
    fp32, bf16 = (estimate_memory_gb(entry, dtype, batch_size=1, n_tokens=512) for dtype in ("float32", "bfloat16"))
    # B = 1: no mask; all but the float32 last-position logits (vocab x 4 bytes) scale with the dtype
    logits = entry["vocab_size"] * 4 / 2**30
    assert fp32 - FIXED_OVERHEAD_GB - logits == pytest.approx(2 * (bf16 - FIXED_OVERHEAD_GB - logits))


def test_memory_estimate_grows_linearly_with_fused_statistics_and_quadratically_with_eager():
    """One long prompt: the fused path (pythia: GPT-NeoX runs the attention interface) holds no T x T tensor,
    so the estimate is affine in T; eager holds its [T, T] mask and one layer's [H, T, T] scores and probabilities."""
    fused, eager = REGISTRY.loc["pythia-70m"], REGISTRY.loc["bloom-560m"]
    assert statistics_path(fused) == "fused_statistics" and statistics_path(eager) == "eager"
    for entry, second_difference in ((fused, 0.0), (eager, None)):
        gb = [
            estimate_memory_gb(entry, "float32", attention=True, batch_size=1, n_tokens=t) for t in (1024, 2048, 3072)
        ]
        step = (gb[2] - gb[1]) - (gb[1] - gb[0])
        if second_difference is not None:
            assert step == pytest.approx(second_difference, abs=1e-9)
        else:  # second difference of T^2 (4 + H (4 + 12)) bytes (mask, scores, probabilities) at a step of 1024
            assert step * 2**30 == pytest.approx(2 * 1024**2 * (4 + entry["n_heads"] * 16))
    no_statistics = estimate_memory_gb(eager, "float32", batch_size=1, n_tokens=4096)
    assert estimate_memory_gb(eager, "float32", attention=True, batch_size=1, n_tokens=4096) > no_statistics + 3


def tiny(entry: pd.Series) -> pd.Series:
    """``entry`` shrunk to 2 layers and small widths, keeping its family, head layout and flags."""
    small = entry.copy()
    n_heads = 4
    n_kv = 1 if entry["n_kv_heads"] == 1 else (2 if entry["n_kv_heads"] < entry["n_heads"] else n_heads)
    d_head = 16 if entry["d_head"] * entry["n_heads"] != entry["d_model"] else 8  # keep head_dim != d/H
    small[["n_layers", "n_heads", "n_kv_heads", "d_model", "d_head", "d_ff", "vocab_size", "max_positions"]] = [
        2,
        n_heads,
        n_kv,
        32,
        d_head,
        128,
        128,
        64,
    ]
    for column, value in (("d_embed", 16), ("window_size", 8)):
        if pd.notna(entry[column]):
            small[column] = value
    return small


FAMILY_ROWS = [row for _, row in REGISTRY.drop_duplicates(["family", "norm_placement"]).iterrows()]


@pytest.mark.parametrize("entry", FAMILY_ROWS, ids=[row["model"] for row in FAMILY_ROWS])
def test_random_model_is_deterministic_per_seed(entry):
    small = tiny(entry)
    first = build_random_model(small, seed=0, attn_implementation="eager")
    again = build_random_model(small, seed=0)
    other = build_random_model(small, seed=1)
    assert not first.training and first.dtype == torch.float32
    assert first.config._attn_implementation == "eager"
    assert first.config.num_hidden_layers == 2
    weights, same, different = first.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(weights[key], same[key]) for key in weights)
    assert any(not torch.equal(weights[key], different[key]) for key in weights)


def test_an_architecture_without_adapter_is_named_with_the_closest_one_and_the_supported_list():
    from measure.adapters import get_adapter, supported_model_types

    with pytest.raises(UnsupportedArchitectureError) as raised:
        get_adapter("lama")
    message = str(raised.value)
    assert message.startswith("Architecture 'lama' is not supported (no adapter registered).")
    assert "llama" in message.split("Supported model types:")[0]  # the suggestion
    assert message.endswith(f"Supported model types: {', '.join(supported_model_types())}.")
    assert {"gpt2", "gpt_neox", "bloom", "falcon", "llama", "gemma2"} <= set(supported_model_types())
