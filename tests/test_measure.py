"""The measurement stage end to end on tiny local models: tables, views, replacement, bad input."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conformance_configs import build_tiny_model
from measure_fixtures import char_tokenizer
from transformers import AutoConfig

from contract.errors import ModelLoadError, PromptError, TableError, UnsupportedArchitectureError
from contract.store import commit_run, read_measured_tables
from measure.loading import load_model
from measure.prompts import load_prompt_set, read_prompt_file
from measure.runner import RunOptions, measure_model
from measure.weights import head_metrics

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Local folders holding tiny GPT-2 and LLaMA (GQA) models with a character tokenizer."""
    dirs = {}
    for name in ("gpt2", "llama-gqa"):
        folder = tmp_path_factory.mktemp(name)
        build_tiny_model(name).save_pretrained(folder)
        char_tokenizer().save_pretrained(folder)
        dirs[name] = folder
    return dirs


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.csv"
    pd.DataFrame(
        {"text": ["abc def", "x", "hello world, again", "the cat sat"], "category": ["a", "b", "a", "b"]}
    ).to_csv(path, index=False)
    return read_prompt_file(path)


def measure(folder, prompts, attention=True, name=None, batch_size=3):
    loaded = load_model(str(folder), attention=attention, device="cpu", name=name)
    return loaded, measure_model(
        loaded, prompts, RunOptions(batch_size=batch_size, attention=attention, progress=False)
    )


def test_tables_follow_the_contract(model_dirs, prompts, tmp_path):
    loaded, tables = measure(model_dirs["gpt2"], prompts)
    commit_run(tmp_path, tables)
    n_layers, n_prompts = 3, len(prompts)
    residual = read_measured_tables(tmp_path)["residual"]
    assert len(residual) == n_prompts * (n_layers + 2)
    assert sorted(residual["layer"].unique()) == list(range(-1, n_layers + 1))
    assert len(read_measured_tables(tmp_path)["heads"]) == n_layers * 4
    assert len(read_measured_tables(tmp_path)["attention"]) == n_prompts * n_layers * 4
    assert len(read_measured_tables(tmp_path)["sublayers"]) == n_prompts * n_layers * 2
    assert len(read_measured_tables(tmp_path)["outputs"]) == n_prompts
    models_row = read_measured_tables(tmp_path)["models"].iloc[0]
    assert (models_row["source"], models_row["n_layers"], models_row["d_head"]) == ("local", 3, 8)
    assert models_row["rho"] == pytest.approx(4 / 8)
    assert models_row["n_params"] == sum(p.numel() for p in loaded.model.parameters())
    run = read_measured_tables(tmp_path)["runs"].iloc[0]
    assert run["n_prompts"] == n_prompts and bool(run["attention_metrics"])
    # a one-token prompt has no positions after the first: its mean view is undefined
    single = residual[residual["n_tokens"] == 1]
    assert single["norm_mean"].isna().all() and single["norm_last"].notna().all()


def test_residual_views_equal_a_direct_computation(model_dirs, prompts):
    loaded, tables = measure(model_dirs["gpt2"], prompts, attention=False)
    residual = tables["residual"].set_index(["prompt_id", "layer"])
    for prompt_id, text in zip(prompts["prompt_id"], prompts["text"]):
        ids = torch.tensor([loaded.tokenizer(text)["input_ids"]])
        with torch.no_grad():
            hidden = loaded.model(ids, output_hidden_states=True).hidden_states
        for layer in range(-1, 2):  # hidden_states[k] is the output of block k-1 for k < L
            norms = hidden[layer + 1][0].double().norm(dim=-1).numpy()
            row = residual.loc[(prompt_id, layer)]
            assert row["norm_last"] == pytest.approx(norms[-1], rel=1e-5)
            assert row["norm_frobenius"] == pytest.approx(np.sqrt((norms**2).sum()), rel=1e-5)
            if len(norms) > 1:
                assert row["norm_mean"] == pytest.approx(norms[1:].mean(), rel=1e-5)
        gains = residual.loc[prompt_id]
        assert gains.loc[1, "gain_last"] == pytest.approx(gains.loc[1, "norm_last"] / gains.loc[0, "norm_last"])


def test_every_gain_view_is_the_ratio_of_its_own_stored_norms(model_dirs, prompts):
    """At every site of every prompt, gain_<view> = norm_<view> / norm_<view> one site earlier, for the
    last-token, mean and Frobenius views alike (the three differ on a real model, so a gain taken from
    another view's norms shows); the input to block 0 has no gain."""
    _, tables = measure(model_dirs["llama-gqa"], prompts, attention=False)
    residual = tables["residual"].sort_values(["prompt_id", "layer"])
    assert list(residual["layer"].unique()) == list(range(-1, 3 + 1))
    for view in ("last", "mean", "frobenius"):
        norms = residual.pivot(index="prompt_id", columns="layer", values=f"norm_{view}").to_numpy()
        gains = residual.pivot(index="prompt_id", columns="layer", values=f"gain_{view}").to_numpy()
        assert np.isnan(gains[:, 0]).all(), view
        np.testing.assert_allclose(gains[:, 1:], norms[:, 1:] / norms[:, :-1], rtol=1e-12, equal_nan=True, err_msg=view)
        assert np.isfinite(gains[:, 1:]).sum() >= (len(prompts) - 1) * 4, view  # only "x" has no mean view
    views = residual.loc[residual["layer"] >= 0, ["gain_last", "gain_mean", "gain_frobenius"]].dropna()
    assert (views["gain_last"] != views["gain_mean"]).all() and (views["gain_mean"] != views["gain_frobenius"]).all()


def test_attention_metrics_are_consistent(model_dirs, prompts):
    _, tables = measure(model_dirs["llama-gqa"], prompts)
    attention, heads = tables["attention"], tables["heads"]
    assert (attention["offdiag_mass"] <= attention["n_tokens"] - 1 + 1e-5).all()
    assert (attention["offdiag_mass"] >= -1e-6).all()
    one_token = attention["n_tokens"] == 1
    assert attention.loc[one_token, "offdiag_mass"].abs().max() < 1e-6
    assert attention.loc[one_token, "offdiag_mean"].isna().all()
    assert attention["mass_minus_tokens"].abs().max() < 1e-5 * attention["n_tokens"].max()  # eq. 4 as printed
    merged = attention.merge(heads, on=["model", "layer", "head"])
    assert np.allclose(merged["sheaf_trace"], merged["offdiag_mass"] * merged["wv_frobenius"] ** 2)
    assert heads["kv_head"].tolist()[:4] == [0, 0, 1, 1]
    outputs = tables["outputs"]
    assert ((outputs["entropy"] >= 0) & (outputs["entropy"] <= np.log(128) + 1e-6)).all()


def test_head_metrics_match_explicit_matrices():
    gen = torch.Generator().manual_seed(0)
    w_v = torch.randn(3, 4, 10, generator=gen, dtype=torch.float64)
    w_o = torch.randn(3, 10, 4, generator=gen, dtype=torch.float64)
    metrics = head_metrics(w_v, w_o)
    for h in range(3):
        ov = (w_o[h] @ w_v[h]).numpy()
        assert metrics["ov_spectral"][h].item() == pytest.approx(np.linalg.svd(ov, compute_uv=False)[0])
        assert metrics["ov_frobenius"][h].item() == pytest.approx(np.linalg.norm(ov))
        assert metrics["wv_spectral"][h].item() == pytest.approx(np.linalg.norm(w_v[h].numpy(), 2))
        assert metrics["wo_frobenius"][h].item() == pytest.approx(np.linalg.norm(w_o[h].numpy()))
    rescaled = head_metrics(5 * w_v, w_o / 5)  # the OV circuit is invariant, the W_V/W_O ratio is not
    assert torch.allclose(rescaled["ov_spectral"], metrics["ov_spectral"])
    assert torch.allclose(rescaled["wv_spectral"], 5 * metrics["wv_spectral"])


def test_remeasuring_replaces_exactly_that_models_run(model_dirs, prompts, tmp_path):
    _, first = measure(model_dirs["gpt2"], prompts, name="a")
    _, other = measure(model_dirs["llama-gqa"], prompts, name="b")
    commit_run(tmp_path, first)
    commit_run(tmp_path, other)
    before = read_measured_tables(tmp_path)
    _, again = measure(model_dirs["gpt2"], prompts, name="a", attention=False, batch_size=1)
    commit_run(tmp_path, again)
    after = read_measured_tables(tmp_path)
    for name, table in after.items():
        if "model" in table:
            pd.testing.assert_frame_equal(
                table[table["model"] == "b"].reset_index(drop=True),
                before[name][before[name]["model"] == "b"].reset_index(drop=True),
            )
    assert after["attention"].query("model == 'a'").empty  # the new run has no attention metrics
    assert after["runs"].set_index("model").loc["a", "batch_size"] == 1
    assert len(list((tmp_path / "runs").iterdir())) == 2  # the superseded version is gone


def test_a_prompt_set_name_cannot_stand_for_two_sets_of_prompts(model_dirs, prompts, tmp_path):
    _, first = measure(model_dirs["gpt2"], prompts, name="a")
    commit_run(tmp_path, first)
    _, subset = measure(model_dirs["llama-gqa"], prompts.iloc[:2], name="b")
    with pytest.raises(TableError, match="prompt set 'prompts' was measured with two different sets of prompts"):
        commit_run(tmp_path, subset)
    assert set(read_measured_tables(tmp_path)["runs"]["model"]) == {"a"}


def test_nonfinite_activations_are_flagged_not_averaged(model_dirs, prompts, caplog):
    loaded = load_model(str(model_dirs["gpt2"]), device="cpu")
    bad_token = loaded.tokenizer("x")["input_ids"][0]
    with torch.no_grad():
        loaded.model.transformer.wte.weight[bad_token] = float("nan")
    with caplog.at_level(logging.WARNING):
        tables = measure_model(loaded, prompts, RunOptions(batch_size=4, progress=False))
    residual = tables["residual"]
    poisoned = residual[residual["prompt_id"] == prompts["prompt_id"].iloc[1]]  # the prompt "x"
    assert (poisoned["nonfinite_tokens"] > 0).all() and poisoned["norm_last"].isna().all()
    clean = residual[residual["prompt_id"] == prompts["prompt_id"].iloc[0]]  # no "x" in "abc def"
    assert (clean["nonfinite_tokens"] == 0).all() and clean["norm_last"].notna().all()
    assert tables["runs"]["nonfinite_prompts"].iloc[0] >= 1
    assert "non-finite" in caplog.text


def test_bad_prompts_are_clear_errors(model_dirs, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("text\n")
    with pytest.raises(PromptError, match="no prompts"):
        read_prompt_file(empty)
    blank = tmp_path / "blank.csv"
    blank.write_text('text\nfine\n""\n')
    with pytest.raises(PromptError, match="empty prompt text"):
        read_prompt_file(blank)
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("words\nhello\n")
    with pytest.raises(PromptError, match="'text'"):
        read_prompt_file(no_text)
    long = tmp_path / "long.csv"
    pd.DataFrame({"text": ["a" * 100]}).to_csv(long, index=False)
    loaded = load_model(str(model_dirs["gpt2"]), device="cpu")
    with pytest.raises(PromptError, match="at most 64"):
        measure_model(loaded, read_prompt_file(long), RunOptions(progress=False))
    with pytest.raises(PromptError, match="core25"):
        load_prompt_set("core52")


def test_default_prompt_set_has_five_prompts_per_category():
    prompts = load_prompt_set()
    assert len(prompts) == 25
    assert prompts.groupby("category")["complexity"].agg(["size", "first"]).to_dict("index") == {
        "Factual": {"size": 5, "first": 1},
        "Syntactic": {"size": 5, "first": 5},
        "Cliche": {"size": 5, "first": 2},
        "Novel": {"size": 5, "first": 4},
        "Nonsense": {"size": 5, "first": 3},
    }


def test_unsupported_architecture_fails_before_loading_weights(tmp_path):
    AutoConfig.for_model("t5").save_pretrained(tmp_path)  # an encoder-decoder: no adapter
    with pytest.raises(UnsupportedArchitectureError, match="gpt_neox"):
        load_model(str(tmp_path), device="cpu")


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no-such-model"):
        load_model(str(tmp_path / "no-such-model"), device="cpu")


def run_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "measure", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )


def test_cli_help_explains_every_run_option():
    result = run_cli("run", "--help")
    assert result.returncode == 0
    for option in (
        "--model",
        "--gguf-file",
        "--prompt-set",
        "--prompts",
        "--dtype",
        "--device",
        "--batch-size",
        "--attention",
        "--random-init",
        "--out",
    ):
        assert option in result.stdout
    assert "default: float32" in result.stdout


def test_cli_run_writes_tables_and_reports_errors(model_dirs, prompts, tmp_path):
    prompt_file = tmp_path / "p.csv"
    prompts.to_csv(prompt_file, index=False)
    out = tmp_path / "out"
    result = run_cli(
        "run",
        "--model",
        str(model_dirs["gpt2"]),
        "--prompts",
        str(prompt_file),
        "--out",
        str(out),
        "--no-progress",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    assert len(read_measured_tables(out)["outputs"]) == len(prompts)
    assert "python -m measure run" in read_measured_tables(out)["runs"]["command"].iloc[0]
    failed = run_cli("run", "--model", str(tmp_path / "missing"), "--prompts", str(prompt_file), "--out", str(out))
    assert failed.returncode == 2 and failed.stderr.startswith("error:") and "Traceback" not in failed.stderr
