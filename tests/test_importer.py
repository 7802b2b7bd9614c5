"""The published-results importer, on the authors' real files and on small synthetic ones.

The real folder (``../shared/paper3/Results``) is used when it exists; the synthetic files are
written by ``synthetic_files`` below in the authors' formats (a few models, 3 layers, 2 prompts).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from contract.errors import ThermoAuditError
from contract.registry import get_entry, load_registry
from contract.tables import PROMPTS_TABLE, PUBLISHED_TABLES, read_table
from measure.published import EXPECTED_FILES, import_published
from measure.published.aliases import ALIASES
from measure.published.catalogue import AGGREGATES, LABEL_KINDS, NOTEBOOKS, QUANTITIES
from measure.published.download import COMMIT, DownloadError, download_results, read_checksums

SHARED = Path(__file__).resolve().parents[2] / "shared" / "paper3"
REAL = SHARED / "Results"
# values.csv holds contract.tables.FLOAT_FORMAT significant digits (7): recomputations agree to this
CSV_RTOL = 1e-6
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"the authors' result files are not at {REAL}")


# ----------------------------------------------------------------------------------------------
# synthetic files in the authors' formats

PROMPTS = [("Cliche", 2, "Time heals all"), ("Novel", 4, "The observer is")]
GAINS = [2.0, 0.9, 1.1]  # a 3-layer gain vector


def _gu25_rows(models: list[dict], extra: dict | None = None) -> list[dict]:
    rows = []
    for model in models:
        for i, (category, complexity, text) in enumerate(PROMPTS):
            rows.append(
                {
                    **model,
                    "Category": category,
                    "Complexity": complexity,
                    "Prompt": text,
                    "Entropy": f"{1.5 + i:.7f}",
                    "Last_Gain": 0.8 + 0.1 * i,
                    "Total_Amp": 5.0 + i,
                    "Top_Token": " x",
                    "Top_Prob": "0.25",
                    **(extra or {}),
                }
            )
    return rows


def synthetic_files() -> dict[str, object]:
    """File name -> JSON content, or a list of row dicts for the CSV files."""
    gub = _gu25_rows([{"Model": "Pythia-6.9B", "Norm_Type": "LayerNorm", "Role": "Control"}], {"N_Layers": 3})
    g2l = _gu25_rows(
        [{"Model": "GPT2-XL", "Norm_Type": "LayerNorm", "Params": "1.5B", "Role": "Large"}], {"N_Layers": 3}
    )
    gjp = _gu25_rows(
        [
            {
                "Model": "GPT-J-6B",
                "Architecture": "Parallel",
                "Norm_Type": "LayerNorm",
                "Params": "6B",
                "Role": "Parallel",
            }
        ],
        {"N_Layers": 3},
    )
    twn = [
        {
            k: r[k]
            for k in [
                "Family",
                "Model",
                "Variant",
                "Norm_Type",
                "Category",
                "Prompt",
                "Entropy",
                "Last_Gain",
                "Total_Amp",
                "Top_Token",
                "Top_Prob",
            ]
        }
        for r in _gu25_rows(
            [
                {"Family": "Gemma-7B", "Model": "Gemma-7B-Base", "Variant": "base", "Norm_Type": "RMS"},
                {"Family": "Gemma-7B", "Model": "Gemma-7B-IT", "Variant": "instruct", "Norm_Type": "RMS"},
            ]
        )
    ]
    r1 = {"n_layers": 3, "n_heads": 8, "d_model": 512, "d_head": 64, "rho": 0.125}
    r1_gains = {
        "gain_no_ln_mean": 0.9,
        "gain_no_ln_std": 0.1,
        "gain_with_ln_mean": 1.1,
        "gain_with_ln_std": 0.2,
        "all_layer_gains": GAINS,
        "n_hidden_states": 4,
    }
    h4l = {
        "model": "gpt2",
        "lab": "OpenAI",
        "behavior": "EXPAND",
        "known_gain": 1.05,
        "n_layers": 3,
        "spectral_gaps": [1e-14, 3e-14, 2e-14],
        "lambda_2": [1e-10] * 3,
        "traces": [0.5, 0.6, 0.7],
        "L_star_gap_max": 1,
        "L_star_lambda2_max": 0,
        "L_star_inflection": 1,
        "max_spectral_gap": 3e-14,
        "mean_spectral_gap": 2e-14,
        "spectral_gap_at_half": 3e-14,
    }
    h4l_summary = [
        {
            "Model": "gpt2",
            "Lab": "OpenAI",
            "Behavior": "EXPAND",
            "Known Gain": 1.05,
            "Layers": 3,
            "L* (gap max)": 1,
            "L* / L": 1 / 3,
            "Max Gap": 3e-14,
            "Mean Gap": 2e-14,
        }
    ]
    h4v2 = {
        "model": "gpt2",
        "lab": "OpenAI",
        "behavior": "EXPAND",
        "known_gain": 1.05,
        "n_layers": 3,
        "n_heads": 12,
        "L_star_apriori": 1.9333,
        "traces_full": [1.0, 2.0, 3.0],
        "traces_multihead": [10.0, 20.0, 30.0],
        "mean_trace_full": 2.0,
        "mean_trace_multihead": 20.0,
        "lambda_2": [-0.1] * 3,
        "spectral_gaps": [0.1] * 3,
        "graph_lambda_2": [0.2] * 3,
        "L_star_trace": 1,
        "L_star_spectral": 2,
        "L_star_ratio_apriori": 0.6444,
        "L_star_ratio_trace": 1 / 3,
    }
    h4v2_summary = [
        {
            "Model": "gpt2",
            "Lab": "OpenAI",
            "Behavior": "EXPAND",
            "Gain": 1.05,
            "Heads": 12,
            "Layers": 3,
            "L* apriori": "1.9",
            "L* empirical": 1,
            "Mean Trace": "2.00",
            "Mean Trace (MH)": "20.00",
        }
    ]
    matrix = {
        "shape": [100, 8],
        "frobenius_norm": 4.0,
        "spectral_norm": 2.0,
        "max_singular": 2.0,
        "mean_row_norm": 0.3,
        "std_row_norm": 0.03,
        "max_row_norm": 0.7,
        "min_row_norm": 0.1,
        "mean_abs": 0.003,
        "std_abs": 0.002,
        "frobenius_normalized": 0.004,
        "spectral_normalized": 0.25,
    }
    return {
        "scaling_law_multi_pythia_results.json": {
            "scaling_law": {
                "exponent_alpha": 0.26,
                "exponent_std_err": 0.08,
                "intercept": -1.9,
                "r_squared": 0.65,
                "p_value": 0.015,
            },
            "hypothesis_test": {
                "hypothesized_alpha": 0.35,
                "measured_alpha": 0.26,
                "difference": 0.09,
                "within_1_std_err": "False",
            },
            "models": [
                {
                    "model": "pythia-70m",
                    "n_params": 70426624,
                    "n_layers": 3,
                    "hidden_dim": 512,
                    "attn_gains": [0.2, 0.1, 0.3],
                    "mlp_gains": [0.5, 0.6, 1.5],
                    "last_layer_attn_gain": 0.3,
                    "last_layer_mlp_gain": 1.5,
                    "attn_contracting_pct": 100.0,
                    "mlp_contracting_pct": 200 / 3,
                    "max_mlp_gain": 1.5,
                    "max_mlp_layer": 2,
                }
            ],
        },
        "pythia_family_NO_FINAL_LN_20260105_174820.json": {
            "n_prompts": 3,
            "models": [
                {
                    "model": "pythia-70m",
                    **r1,
                    "rotary_pct": 0.25,
                    "residual_gain_all": [1.0, 1.2, 1.4],
                    "residual_gain_mean": 1.2,
                    "residual_gain_std": 0.16329931618554522,
                    "gain_with_ln_mean": 1.1,
                    "gain_with_ln_std": 0.2,
                    "all_layer_gains": GAINS[:2] + [1.1],
                    "is_dampening": False,
                }
            ],
            "analysis": {
                "rho_gain_correlation": -0.8,
                "correlation_p_value": 0.01,
                "high_rho_dampen_rate": 1.0,
                "low_rho_expand_rate": 1.0,
            },
        },
        "clean_residual_NO_FINAL_LN_20260105_173546.json": {
            "prompts": ["The capital of France is", "Water freezes at"],
            "precision": "float32",
            "h25_accuracy": 100.0,
            "results": {
                "pythia-6.9b": {
                    "model": "pythia-6.9b",
                    "path": "EleutherAI/pythia-6.9b",
                    **r1,
                    **r1_gains,
                    "is_dampening_no_ln": True,
                    "is_dampening_with_ln": False,
                }
            },
        },
        "high_rho_hunt_NO_FINAL_LN_20260105_184728.json": {
            "h25_accuracy": 0.5,
            "models_tested": 1,
            "tested_results": [
                {
                    "model": "facebook/opt-350m",
                    "lab": "Meta",
                    **r1,
                    **r1_gains,
                    "norm_type": "Unknown",
                    "status": "OK",
                    "is_dampening": True,
                    "h25_prediction_correct": True,
                }
            ],
            "h26_lab_signatures": {
                "Meta": {
                    "mean_gain": 0.9,
                    "std_gain": 0.0,
                    "dampen_pct": 100.0,
                    "n_models": 1.0,
                    "signature": "DAMPENER",
                }
            },
        },
        "ffn_expansion_results.json": {
            "model": "EleutherAI/pythia-1.4b",
            "n_layers": 3,
            "hidden_dim": 2048,
            "n_prompts": 2,
            "attention": {
                "gains": [0.5, 0.3, 0.1],
                "min_gain": 0.1,
                "max_gain": 0.5,
                "L_star_min": 2,
                "n_contracting": 3,
                "n_expanding": 0,
            },
            "mlp": {
                "gains": [0.9, 0.3, 3.6],
                "min_gain": 0.3,
                "max_gain": 3.6,
                "L_star_max": 2,
                "n_contracting": 2,
                "n_expanding": 1,
            },
            "combined": {"gains": [0.45, 0.09, 0.36], "n_net_contracting": 3, "n_net_expanding": 0},
            "hypothesis_test": {"attention_contracts": True, "mlp_expands": False, "hypothesis_confirmed": False},
        },
        "thermodynamic_benchmark_20260105_141034.json": {
            "all_results": gub,
            "base_levels": {"Pythia-6.9B": 0.85},
            "modulation_ranges": {"Pythia-6.9B": {"min": 0.8, "max": 0.9, "range": 0.1}},
            "entropy_correlations": [
                {"Model": "Pythia-6.9B", "Spearman_r": 1.0, "Spearman_p": 0.0, "Pearson_r": 1.0, "Pearson_p": 0.0}
            ],
            "complexity_correlations": [
                {"Model": "Pythia-6.9B", "Complexity_Spearman_r": 1.0, "Complexity_Spearman_p": 0.0}
            ],
            "p3_platitude_tunnel": [
                {
                    "Model": "Pythia-6.9B",
                    "Cliche_Entropy_Mean": "1.5",
                    "Novel_Entropy_Mean": "2.5",
                    "t_stat": -1.0,
                    "p_val": 0.3,
                    "cohens_d": -0.9,
                    "hypothesis": "CONFIRMED",
                }
            ],
        },
        "thermodynamic_benchmark_20260105_141034.csv": gub,
        "gpt2_layernorm_validation_20260105_150306.json": {
            "all_results": g2l,
            "reference_models": {"Pythia-6.9B": {"gain": 0.8, "norm": "LayerNorm"}},
            "base_levels": {"GPT2-XL": 0.85},
            "validation_results": [
                {
                    "Model": "GPT2-XL",
                    "Mean_Gain": 0.85,
                    "Std": 0.07,
                    "Min": 0.8,
                    "Max": 0.9,
                    "t_stat": -3.0,
                    "p_value": 0.1,
                    "Is_Dampening": True,
                    "Status": "CONFIRMED",
                }
            ],
            "bentov_law_results": [
                {"Model": "GPT2-XL", "Bentov_Correlation": -1.0, "p_value": 0.0, "Direction": "Negative"}
            ],
        },
        "gpt2_layernorm_validation_20260105_150306.csv": g2l,
        "gptj_parallel_test_20260105_152333.json": {
            "model": "GPT-J-6B",
            "all_results": gjp,
            "reference_models": {"Pythia-6.9B": {"gain": 0.8}},
            "results": {
                "mean_gain": 0.85,
                "std_gain": 0.07,
                "min_gain": 0.8,
                "max_gain": 0.9,
                "t_statistic": -3.0,
                "p_value_one_sided": 0.05,
            },
            "category_means": {"Cliche": 0.8, "Novel": 0.9},
            "hypothesis_test": {
                "result": "CONFIRMED",
                "comparison": {"pythia_6.9b": {"gain": 0.8}, "gptj_6b": {"gain": 0.85}},
            },
        },
        "gptj_parallel_test_20260105_152333.csv": gjp,
        "twin_test_results_20260105_160237.json": {
            "all_results": twn,
            "twin_summary": {
                "Gemma-7B": {
                    "base": {"mean_gain": 0.85, "std_gain": 0.05, "n_samples": 2},
                    "instruct": {"mean_gain": 0.85, "std_gain": 0.05, "n_samples": 2},
                }
            },
            "hypothesis_results": [
                {
                    "Family": "Gemma-7B",
                    "Base_Gain": 0.85,
                    "Instruct_Gain": 0.85,
                    "Delta": 0.0,
                    "Ratio": 1.0,
                    "Same_Sign": True,
                    "RLHF_Effect": "NEUTRAL",
                }
            ],
            "reference_gains": {"Pythia-6.9B": 0.8},
        },
        "twin_test_results_20260105_160237.csv": twn,
        "4model_validation_results.json": {
            "mistral_reference": {"last_layer_gain": 1.37, "initial_explosion": 43.86, "plateau_range": [1, 2]},
            "results": {
                name: {
                    "family": "llama",
                    "norm_type": "RMSNorm",
                    "mlp_type": "SwiGLU",
                    "n_layers": 3,
                    "initial_gain": GAINS[0],
                    "last_gain": GAINS[-1],
                    "last_expands": True,
                    "max_gain": 2.0,
                    "max_gain_layer": 0,
                    "contracting_pct": 100 / 3,
                    "expanding_pct": 200 / 3,
                    "paper2_inversion_layer": inversion,
                    "paper2_inversion_gain": gain,
                    "cumulative_energy": [2.0, 1.8, 1.98],
                    "final_cumulative": 1.98,
                    "gains": GAINS,
                    "norms": [1.0, 2.0, 1.8, 1.98],
                }
                for name, inversion, gain in [("llama3.1-8b", None, None), ("apertus-8b", 1, 0.9)]
            },
            "cumulative_energy": {"llama3.1-8b": {"final_cumulative": 1.98, "net_effect": "AMPLIFY"}},
            "swiglu_comparison": {"llama31_8b_last_gain": 1.1, "mistral_7b_last_gain": 1.37, "ratio": 0.8},
            "paper2_connection": {"layer28_gain": 0.9, "last_layer_gain": 1.1},
        },
        "mistral_paradox_investigation_results.json": {
            "unembedding_analysis": {
                "mistral-7b": {
                    "family": "mistral",
                    "unembedding": matrix,
                    "embedding": matrix,
                    "wu_we_ratio": 1.0,
                    "tied_embeddings": False,
                }
            },
            "residual_stream_analysis": {
                "mistral-7b": {
                    "n_layers": 3,
                    "gains": [40.0, 1.0, 1.4],
                    "norms": [1.0, 40.0, 40.0, 56.0],
                    "contracting_pct": 0.0,
                    "last_gain": 1.4,
                    "max_gain": 40.0,
                    "max_gain_layer": 0,
                    "expansion_layers": [[0, 40.0], [2, 1.4]],
                }
            },
            "entropy_analysis": {
                "mistral-7b": {
                    "logit_mean": -3.0,
                    "logit_std": 3.0,
                    "logit_max": 12.0,
                    "logit_min": -11.0,
                    "logit_range": 23.0,
                    "entropy": 4.2,
                    "effective_vocab": 66.7,
                    "top10_prob_mass": 0.58,
                }
            },
        },
        "input_dependency_thermodynamics.json": {
            "model": "meta-llama/Llama-3.1-8B",
            "prompts": {
                "1_Factual": {"text": "The capital of France is", "difficulty": "Trivial"},
                "2_Nonsense": {"text": "Table sky run", "difficulty": "Chaos"},
            },
            "results": {
                key: {
                    "last_gain": 1.1,
                    "entropy": 4.0,
                    "expands": True,
                    "gains": GAINS,
                    "top_tokens": [[" a", 0.17], [" the", 0.1]],
                }
                for key in ("1_Factual", "2_Nonsense")
            },
            "correlation": {"pearson_r": 0.2, "pearson_p": 0.7, "spearman_r": 0.6, "spearman_p": 0.3},
            "conclusion": "COMPLEX",
        },
        "llama_anomaly_hypothesis_tests.json": {
            "hypothesis_1_titanium_projector": {
                "results": {
                    "llama3.1-8b": {
                        "shape": [128, 16],
                        "vocab_size": 128,
                        "hidden_dim": 16,
                        "frobenius_norm": 331.0,
                        "spectral_norm": 94.6,
                        "mean_row_norm": 0.9,
                        "std_row_norm": 0.1,
                        "spectral_per_sqrt_vocab": 0.26,
                        "effective_amplification": 45.4,
                        "last_gain": 0.48,
                    }
                }
            },
            "hypothesis_2_rope": {
                "results": {
                    "llama3.1-8b": {
                        "rope_theta": 500000.0,
                        "max_position": 131072,
                        "context_length": 128000,
                        "rope_scaling": {
                            "factor": 8.0,
                            "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0,
                            "original_max_position_embeddings": 8192,
                            "rope_type": "llama3",
                        },
                    }
                }
            },
        },
        "restriction_maps_results.json": {
            "model": "EleutherAI/pythia-1.4b",
            "n_layers": 3,
            "n_heads": 16,
            "hidden_dim": 2048,
            "test_prompt": "The capital of France is Paris.",
            "seq_len": 7,
            "restriction_maps": {
                "L_star_min_contraction": 2,
                "L_star_inflection": 1,
                "contraction_ratios": [0.3, 0.2, float("nan")],
                "mean_op_norms": [2.0, 1.5, 1.0],
                "W_V_op_norms": [6.8, 5.7, 4.5],
                "attention_entropies": [1.7, 1.3, 1.4],
            },
            "sheaf_laplacian": {
                "spectral_gaps": [0.0] * 3,
                "lambda_1": [1e-10] * 3,
                "lambda_2": [1e-10] * 3,
                "traces": [0.5, 0.9, 1.2],
            },
            "validation": {"contraction_before_Lstar": True, "expansion_after_Lstar": False},
        },
        "H4_validation_20260106_014132.json": {"results": [h4l], "summary": h4l_summary},
        "H4_summary_20260106_014132.csv": h4l_summary,
        "H4_v2_validation_20260106_015547.json": {"results": [h4v2], "summary": h4v2_summary},
        "H4_v2_summary_20260106_015547.csv": h4v2_summary,
        "H4_v2_extended_20260106_012606.json": {
            "reference_results": {"gpt2": {"trace_mh": 62696, "behavior": "EXPAND"}},
            "extended_results": [
                {
                    "model": "google/gemma-2b",
                    "lab": "Google",
                    "behavior": "UNKNOWN",
                    "known_gain": 1.0,
                    "n_layers": 3,
                    "n_heads": 8,
                    "traces_full": [1.0, float("nan"), 2.0],
                    "traces_mh": [5.0, float("nan"), 6.0],
                    "mean_trace_mh": float("nan"),
                    "L_star": 2,
                    "L_star_ratio": 2 / 3,
                }
            ],
        },
        "l_star_sign_change_20260106_111315.json": {
            "overall_mape": 50.0,
            "calibration_consistency": "0/1",
            "comparison_v2_argmax": 15.7,
            "improvement_pp": -34.3,
            "results": [
                {
                    "model": "openai-community/gpt2",
                    "lab": "OpenAI",
                    "L": 3,
                    "H": 12,
                    "arch": "gpt2",
                    "L_star_predicted": 1.9,
                    "L_star_empirical": 1.5,
                    "L_star_std": 0.5,
                    "L_star_calibration": None,
                    "error_pct": 13.3,
                    "detection_method": "sign_change",
                    "individual_L_stars": [1, 2],
                }
            ],
        },
        "OPT_anomaly_20260106_013155.json": {
            "W_V_analysis": {
                "gpt2": {"model": "gpt2", "mean_frobenius": 88.1, "mean_spectral": 8.95, "mean_condition": 21478.9}
            },
            "attention_analysis": {
                "gpt2": {
                    "model": "gpt2",
                    "entropy_by_layer": [1.2, 1.1, 1.0],
                    "sparsity_by_layer": [0.44, 0.44, 0.5],
                    "mean_entropy": 1.1,
                    "mean_sparsity": 0.46,
                }
            },
        },
        "restriction_map_summary_20260105_202448.csv": [
            {"Model": "gpt2", "Lab": "OpenAI", "Expected": "NEUTRAL", "Layers": 12, "W_V Mean": 8.954, "W_O Mean": 22.5}
        ],
    }


def write_files(folder: Path, files: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if name.endswith(".csv"):
            pd.DataFrame(content).to_csv(folder / name, index=False)
        else:
            (folder / name).write_text(json.dumps(content))
    return folder


@pytest.fixture
def synthetic(tmp_path) -> Path:
    return write_files(tmp_path / "Results", synthetic_files())


def _values(out: Path) -> pd.DataFrame:
    return read_table(out / "values.csv", PUBLISHED_TABLES["values"])


def _one(values: pd.DataFrame, **match) -> float:
    selected = values
    for column, wanted in match.items():
        selected = selected[selected[column].isna()] if wanted is None else selected[selected[column] == wanted]
    assert len(selected) == 1, f"{match}: {len(selected)} rows"
    return float(selected["value"].iloc[0])


# ----------------------------------------------------------------------------------------------
# the catalogue, the alias map and the checksum table


def test_synthetic_files_cover_every_expected_file():
    assert set(synthetic_files()) == set(EXPECTED_FILES)


def test_aliases_name_registry_models():
    registry = load_registry()
    assert set(ALIASES.values()) <= set(registry.index)


def test_catalogue_quantities_have_a_kind_unit_and_known_notebooks():
    for quantity in QUANTITIES.values():
        assert quantity.unit and quantity.meaning
        assert set(quantity.notebooks) <= set(NOTEBOOKS), quantity.name


def test_carried_checksums_list_exactly_the_expected_files():
    assert set(read_checksums()) == set(EXPECTED_FILES)


@pytest.mark.skipif(not (SHARED / "SHA256SUMS").is_file(), reason="no shared SHA256SUMS")
def test_carried_checksums_equal_the_shared_table():
    assert read_checksums() == read_checksums(SHARED / "SHA256SUMS")


# ----------------------------------------------------------------------------------------------
# synthetic files: behaviour and errors


def test_synthetic_import_layout(synthetic, tmp_path):
    out = tmp_path / "out"
    written = import_published(synthetic, out, allow_changed=True)
    assert set(written) == {"values", "labels", "prompts"}
    values = _values(out)
    pfs = values[(values["notebook"] == "PFS") & (values["quantity"] == "gain_penultimate_block")]
    assert list(pfs.dropna(subset=["prompt_id"])["prompt_id"]) == ["PYTHIA25-01", "PYTHIA25-02", "PYTHIA25-03"]
    # R1 vector: element i is block i; the last element is gain_with_final_norm, not a layer
    layers = values[(values["notebook"] == "PFS") & (values["quantity"] == "layer_gain")]["layer"]
    assert sorted(layers) == [0, 1]
    # MPI has no embedding hook: its first gain is block 1's; max_gain_layer 0 becomes 1
    mpi = values[(values["notebook"] == "MPI") & (values["quantity"] == "frobenius_gain")]
    assert sorted(mpi["layer"].dropna()) == [1, 2, 3]
    assert _one(mpi, aggregate="layer_argmax") == 1
    assert sorted(values[values["quantity"] == "frobenius_norm"].query("notebook == '4MV'")["layer"].unique()) == [
        -1,
        0,
        1,
        2,
    ]
    # NaN kept, null dropped
    assert math.isnan(_one(values, notebook="H4X", quantity="trace_multihead", aggregate="layer_mean"))
    assert values[values["quantity"] == "l_star_calibration"].empty
    # conventions, dtypes and labs
    assert set(values.loc[values["quantity"] == "gain_last_block", "convention"]) == {"R2"}
    assert values.loc[values["quantity"] == "n_layers", "dtype"].isna().all()
    assert set(values.loc[values["notebook"] == "TWN", "dtype"].dropna()) == {"bfloat16"}
    assert _one(values, notebook="HRH", quantity="gain_penultimate_block", aggregate="model_mean:Meta") == 0.9
    assert set(values.loc[values["model"] == "opt-350m", "lab"]) == {"Meta"}
    assert _one(values, notebook="HRH", quantity="h25_rule_accuracy") == 50.0
    prompts = read_table(out / "prompts.csv", PROMPTS_TABLE)
    gu25 = prompts[prompts["prompt_set"] == "GU25"]
    assert list(gu25["text"]) == [text for _, _, text in PROMPTS]
    assert list(gu25["complexity"]) == [2, 4]


def test_reimport_is_byte_identical(synthetic, tmp_path):
    out = tmp_path / "out"
    first = {name: path.read_bytes() for name, path in import_published(synthetic, out, allow_changed=True).items()}
    second = {name: path.read_bytes() for name, path in import_published(synthetic, out, allow_changed=True).items()}
    assert first == second


@pytest.mark.parametrize("name", EXPECTED_FILES)
def test_missing_file_is_an_error_naming_it(synthetic, tmp_path, name):
    (synthetic / name).unlink()
    with pytest.raises(ThermoAuditError, match=name.replace(".", r"\.")):
        import_published(synthetic, tmp_path / "out", allow_changed=True)


def test_malformed_json_is_an_error_naming_the_file(synthetic, tmp_path):
    (synthetic / "ffn_expansion_results.json").write_text('{"model": "EleutherAI/pythia-1.4b", ')
    with pytest.raises(ThermoAuditError, match=r"ffn_expansion_results\.json: not valid JSON"):
        import_published(synthetic, tmp_path / "out", allow_changed=True)


def test_missing_key_is_an_error_naming_file_and_key(tmp_path):
    files = synthetic_files()
    del files["pythia_family_NO_FINAL_LN_20260105_174820.json"]["models"][0]["residual_gain_mean"]
    folder = write_files(tmp_path / "Results", files)
    with pytest.raises(
        ThermoAuditError,
        match=r"pythia_family_NO_FINAL_LN_20260105_174820\.json: missing key "
        r"'models\[0\]\.residual_gain_mean'",
    ):
        import_published(folder, tmp_path / "out", allow_changed=True)


def test_non_numeric_value_is_an_error_naming_file_and_key(tmp_path):
    files = synthetic_files()
    files["restriction_maps_results.json"]["restriction_maps"]["contraction_ratios"][1] = "n/a"
    folder = write_files(tmp_path / "Results", files)
    with pytest.raises(
        ThermoAuditError,
        match=r"restriction_maps_results\.json: 'restriction_maps\.contraction_ratios"
        r"\[1\]' is not a number",
    ):
        import_published(folder, tmp_path / "out", allow_changed=True)


def test_csv_missing_column_is_an_error_naming_file_and_column(tmp_path):
    files = synthetic_files()
    files["H4_summary_20260106_014132.csv"] = copy.deepcopy(files["H4_summary_20260106_014132.csv"])
    for row in files["H4_summary_20260106_014132.csv"]:
        del row["Max Gap"]
    folder = write_files(tmp_path / "Results", files)
    with pytest.raises(ThermoAuditError, match=r"H4_summary_20260106_014132\.csv: missing column\(s\) 'Max Gap'"):
        import_published(folder, tmp_path / "out", allow_changed=True)


def test_unknown_model_spelling_is_an_error_naming_the_file(tmp_path):
    files = synthetic_files()
    files["OPT_anomaly_20260106_013155.json"]["W_V_analysis"]["gpt-7"] = {
        "mean_frobenius": 1.0,
        "mean_spectral": 1.0,
        "mean_condition": 1.0,
    }
    folder = write_files(tmp_path / "Results", files)
    with pytest.raises(ThermoAuditError, match=r"OPT_anomaly_20260106_013155\.json: unknown model name 'gpt-7'"):
        import_published(folder, tmp_path / "out", allow_changed=True)


def test_gu25_files_must_agree_on_the_prompts(tmp_path):
    files = synthetic_files()
    for name in ("twin_test_results_20260105_160237.json", "twin_test_results_20260105_160237.csv"):
        records = files[name]["all_results"] if name.endswith(".json") else files[name]
        for record in records:
            record["Prompt"] = record["Prompt"].upper()
    folder = write_files(tmp_path / "Results", files)
    with pytest.raises(ThermoAuditError, match=r"GU25-01: the files disagree on its text"):
        import_published(folder, tmp_path / "out", allow_changed=True)


def test_unknown_extra_file_is_ignored_with_a_note(synthetic, tmp_path, caplog):
    (synthetic / "notes.md").write_text("not a result file")
    with caplog.at_level(logging.WARNING, logger="measure.published"):
        import_published(synthetic, tmp_path / "out", allow_changed=True)
    assert any("notes.md" in message and "ignored" in message for message in caplog.messages)


def test_csv_disagreeing_with_json_keeps_the_json_value_and_notes_it(tmp_path, caplog):
    files = synthetic_files()
    files["gptj_parallel_test_20260105_152333.csv"] = copy.deepcopy(files["gptj_parallel_test_20260105_152333.csv"])
    files["gptj_parallel_test_20260105_152333.csv"][0]["Last_Gain"] = 0.5
    folder = write_files(tmp_path / "Results", files)
    with caplog.at_level(logging.WARNING, logger="measure.published"):
        import_published(folder, tmp_path / "out", allow_changed=True)
    values = _values(tmp_path / "out")
    row = values[
        (values["notebook"] == "GJP") & (values["quantity"] == "gain_last_block") & (values["prompt_id"] == "GU25-01")
    ]
    assert float(row["value"].iloc[0]) == pytest.approx(0.8)
    assert "gptj_parallel_test_20260105_152333.csv states 0.5" in row["note"].iloc[0]
    assert any("disagree" in message for message in caplog.messages)


def test_every_expected_file_is_read(synthetic, tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger="measure.published"):
        import_published(synthetic, tmp_path / "out", allow_changed=True)
    read = {message.removeprefix("reading ") for message in caplog.messages if message.startswith("reading ")}
    assert read == set(EXPECTED_FILES)


# ----------------------------------------------------------------------------------------------
# download (a fake fetch; no network)


def _checksum_table(folder: Path, names: list[str]) -> Path:
    table = folder.parent / "SUMS"
    table.write_text("".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names))
    return table


def test_download_accepts_matching_bytes_and_skips_verified_files(synthetic, tmp_path):
    names = sorted(EXPECTED_FILES)[:3]
    table, fetched = _checksum_table(synthetic, names), []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return (synthetic / url.rsplit("/", 1)[1]).read_bytes()

    dest = download_results(tmp_path / "raw", fetch, checksums=table)
    assert sorted(p.name for p in dest.iterdir()) == names
    assert all(COMMIT in url for url in fetched) and len(fetched) == 3
    download_results(tmp_path / "raw", fetch, checksums=table)
    assert len(fetched) == 3


def test_download_sha_mismatch_is_an_error_naming_the_file(synthetic, tmp_path):
    name = "ffn_expansion_results.json"
    table = _checksum_table(synthetic, [name])
    with pytest.raises(DownloadError, match=rf"{name.replace('.', '[.]')}: SHA-256 mismatch"):
        download_results(tmp_path / "raw", lambda url: b"tampered", checksums=table)
    assert not (tmp_path / "raw" / name).exists()


def test_download_network_failure_is_an_error_naming_the_file(synthetic, tmp_path):
    def offline(url: str) -> bytes:
        raise urllib.error.URLError("no route to host")

    table = _checksum_table(synthetic, ["ffn_expansion_results.json"])
    with pytest.raises(DownloadError, match=r"ffn_expansion_results\.json: download from https://.* failed"):
        download_results(tmp_path / "raw", offline, checksums=table)


# ----------------------------------------------------------------------------------------------
# the authors' real files


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("published")
    import_published(REAL, out)
    return out


@needs_real
def test_real_every_expected_file_is_read(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger="measure.published"):
        import_published(REAL, tmp_path / "out")
    read = {message.removeprefix("reading ") for message in caplog.messages if message.startswith("reading ")}
    assert read == set(EXPECTED_FILES)
    assert not [m for m in caplog.messages if "disagree" in m]


@needs_real
def test_real_download_with_fake_fetch_verifies_the_pinned_bytes(tmp_path):
    def fetch(url: str) -> bytes:
        assert f"/{COMMIT}/paper3/Results/" in url
        return (REAL / url.rsplit("/", 1)[1]).read_bytes()

    written = import_published("download", tmp_path / "out", fetch=fetch)
    assert sorted(p.name for p in (tmp_path / ".published-download").iterdir()) == sorted(EXPECTED_FILES)
    assert written["values"].stat().st_size > 0


@needs_real
def test_real_folder_with_a_changed_file_is_refused_unless_allowed(tmp_path):
    folder = tmp_path / "Results"
    shutil.copytree(REAL, folder)
    changed = folder / "ffn_expansion_results.json"
    changed.write_text(changed.read_text() + "\n")  # same values, other bytes
    out = tmp_path / "out"
    with pytest.raises(ThermoAuditError, match=r"1 file\(s\) differ .*ffn_expansion_results\.json.*--allow-changed"):
        import_published(folder, out)
    assert not out.exists()
    import_published(folder, out, allow_changed=True)
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert manifest["changed_files"] == ["ffn_expansion_results.json"]
    import_published(REAL, out)  # a clean import replaces it whole and says so
    assert json.loads((out / "MANIFEST.json").read_text())["changed_files"] == []


@needs_real
def test_real_tables_follow_the_catalogue(real):
    values = _values(real)
    labels = read_table(real / "labels.csv", PUBLISHED_TABLES["labels"])
    assert set(values["quantity"]) <= set(QUANTITIES)
    assert set(values["aggregate"].str.split(":").str[0]) <= set(AGGREGATES)
    assert set(labels["label_kind"]) <= set(LABEL_KINDS)
    for quantity, notebooks in values.groupby("quantity")["notebook"].unique().items():
        assert set(notebooks) <= set(QUANTITIES[quantity].notebooks), quantity
    for quantity, convention in values.groupby("quantity")["convention"].first().items():
        kind = QUANTITIES[quantity].kind
        assert (convention if isinstance(convention, str) else None) == (kind if kind.startswith("R") else None)
    gains = values[values["quantity"].str.contains("gain") & values["convention"].notna()]
    assert (gains["layer"].dropna() >= 0).all()


@needs_real
def test_real_dtypes_per_notebook(real):
    values = _values(real)
    measured = values.dropna(subset=["dtype"]).groupby("notebook")["dtype"].unique()
    expected = {
        "GUB": "float16",
        "PFS": "float16",
        "TWN": "bfloat16",
        "GJP": "bfloat16",
        "4MV": "bfloat16",
        "CRG": "float32",
        "G2L": "float32",
        "H4X": "4bit-nf4",
        "HRH": "float16",
    }
    for notebook, dtype in expected.items():
        assert list(measured[notebook]) == [dtype]


@needs_real
def test_real_labs_come_from_the_registry(real):
    values = _values(real)
    with_model = values.dropna(subset=["model"])
    for model, labs in with_model.groupby("model")["lab"].unique().items():
        assert list(labs) == [get_entry(model)["lab"]], model
    assert set(with_model.loc[with_model["model"] == "opt-350m", "lab"]) == {"Meta"}


@needs_real
def test_real_spot_checks_against_methods_appendix_a(real):
    v = _values(real)
    assert _one(
        v, notebook="PFS", model="pythia-6.9b", quantity="gain_penultimate_block", aggregate="mean"
    ) == pytest.approx(0.9941, abs=5e-5)
    assert _one(
        v, notebook="PFS", model="pythia-6.9b", quantity="gain_penultimate_block", aggregate="sd_population"
    ) == pytest.approx(0.0174, abs=5e-5)
    assert _one(
        v, notebook="HRH", model="gpt-neo-2.7b", quantity="gain_penultimate_block", aggregate="mean"
    ) == pytest.approx(0.7885, abs=5e-5)
    base_levels = {"pythia-6.9b": 0.80472, "gemma-7b": 2.31436, "mistral-7b-v0.1": 1.10533, "llama-3.1-8b": 1.48450}
    for model, level in base_levels.items():
        assert _one(v, notebook="GUB", model=model, quantity="gain_last_block", aggregate="mean") == pytest.approx(
            level, abs=5e-6
        )
    assert _one(v, notebook="TWN", model="gemma-7b", quantity="gain_last_block", aggregate="mean") == pytest.approx(
        2.3159, abs=5e-5
    )
    assert _one(v, notebook="TWN", model="gemma-7b-it", quantity="gain_last_block", aggregate="mean") == pytest.approx(
        1.1531, abs=5e-5
    )
    assert _one(v, notebook="H4V2", model="gpt2", quantity="trace_multihead", aggregate="layer_mean") == pytest.approx(
        62695.87, abs=5e-3
    )
    assert _one(v, notebook="MPI", quantity="frobenius_gain", layer=31) == pytest.approx(1.3680, abs=5e-5)
    assert _one(v, notebook="4MV", model="llama-3.1-8b", quantity="cumulative_gain", layer=31) == pytest.approx(
        198.21, abs=5e-3
    )
    assert _one(v, notebook="SLP", quantity="final_mlp_gain_vs_params", aggregate="slope") == pytest.approx(
        0.2650, abs=5e-5
    )
    rme = v[(v["notebook"] == "RME") & (v["quantity"] == "contraction_ratio")].set_index("layer")["value"]
    assert rme[10] == pytest.approx(0.1241, abs=5e-5) and rme[[21, 22, 23]].isna().all()
    assert _one(v, notebook="HRH", quantity="h25_rule_accuracy") == pytest.approx(43.75)
    assert _one(v, notebook="HRH", quantity="gain_penultimate_block", aggregate="model_pct_below_1:EleutherAI") == 80.0


@needs_real
def test_real_recomputed_from_the_imported_values(real):
    v = _values(real)
    pfs = v[(v["notebook"] == "PFS") & (v["quantity"] == "gain_penultimate_block")]
    per_prompt = pfs.dropna(subset=["prompt_id"]).groupby("model")["value"]
    assert (per_prompt.size() == 25).all()
    stored = pfs[pfs["aggregate"] == "mean"].set_index("model")["value"]
    recomputed = per_prompt.mean()
    np.testing.assert_allclose(recomputed[stored.index], stored, rtol=CSV_RTOL)
    sd = pfs[pfs["aggregate"] == "sd_population"].set_index("model")["value"]
    np.testing.assert_allclose(per_prompt.std(ddof=0)[sd.index], sd, atol=2 * CSV_RTOL)
    rho = v[(v["notebook"] == "PFS") & (v["quantity"] == "rho")].set_index("model")["value"]
    depth = v[(v["notebook"] == "PFS") & (v["quantity"] == "n_layers")].set_index("model")["value"]
    r, p = stats.pearsonr(rho[recomputed.index], recomputed)
    assert round(r, 4) == -0.8116 and round(p, 5) == 0.01444
    assert r == pytest.approx(
        _one(v, notebook="PFS", quantity="rho_vs_gain_penultimate_block", aggregate="pearson_r"), rel=CSV_RTOL
    )
    assert round(stats.pearsonr(depth[recomputed.index], recomputed)[0], 3) == -0.878
    gub = v[(v["notebook"] == "GUB") & (v["quantity"] == "gain_last_block")]
    means = gub.dropna(subset=["prompt_id"]).groupby("model")["value"].mean()
    np.testing.assert_allclose(
        means, gub[gub["aggregate"] == "mean"].set_index("model")["value"][means.index], rtol=CSV_RTOL
    )


@needs_real
def test_real_gu25_prompts(real):
    prompts = read_table(real / "prompts.csv", PROMPTS_TABLE)
    gu25 = prompts[prompts["prompt_set"] == "GU25"]
    assert list(gu25["prompt_id"]) == [f"GU25-{i:02d}" for i in range(1, 26)]
    assert gu25["category"].value_counts().to_dict() == {
        c: 5 for c in ["Factual", "Syntactic", "Cliche", "Novel", "Nonsense"]
    }
    complexity = gu25.groupby("category")["complexity"].unique().map(list).to_dict()
    assert complexity == {"Factual": [1], "Cliche": [2], "Nonsense": [3], "Novel": [4], "Syntactic": [5]}
    assert gu25["notebooks"].unique().tolist() == ["GUB;G2L;GJP;TWN"]


@needs_real
@pytest.mark.skipif(not (SHARED.parent / "reference" / "prompts.csv").is_file(), reason="no reference prompt list")
def test_real_gu25_texts_match_the_reference_prompt_list(real):
    reference = pd.read_csv(SHARED.parent / "reference" / "prompts.csv")
    prompts = read_table(real / "prompts.csv", PROMPTS_TABLE)
    imported = prompts.loc[prompts["prompt_set"] == "GU25", "text"].tolist()
    assert imported == reference.loc[reference["set_id"] == "GU25", "prompt"].tolist()
