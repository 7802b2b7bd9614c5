"""The measurement stage end to end on tiny local models: tables, views, replacement, bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from conformance_configs import build_tiny_model
from measure_fixtures import char_tokenizer
from transformers import AutoConfig

import measure as measure_package
from contract.errors import ModelLoadError, PromptError, TableError, UnsupportedArchitectureError
from contract.store import commit_run, read_measured_tables
from contract.vocab import SUBLAYERS
from measure.loading import load_model
from measure.probe import BatchCapture
from measure.prompts import load_prompt_set, read_prompt_file
from measure.runner import (
    RunOptions,
    _attention_frame,
    _sublayer_frame,
    batches,
    git_revision,
    measure_model,
    model_row,
    run_provenance,
    tokenize,
)
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


# --- the runner's tables from planted captures: every column against a direct computation ------------


def planted_capture(seed: int = 0) -> BatchCapture:
    """Three prompts of 4, 2 and 1 real tokens (T = 4), 2 blocks, 3 heads: random norms at the real
    positions, NaN in one real sublayer position and in every position of one sublayer slot, anything
    at the padded ones; attention masses of 0 and of 0.25 at the one-token prompt (0 / 0 and x / 0)."""
    rng = np.random.default_rng(seed)
    n_tokens = np.array([4, 2, 1])
    sublayer = rng.uniform(0.5, 2.0, size=(3, 2, 2, 2, 4)).astype(np.float32)
    for b, n in enumerate(n_tokens):
        sublayer[b, ..., n:] = 1e30  # padding
    sublayer[0, 1, 0, 1, 2] = np.nan  # one non-finite real position
    sublayer[1, 0, 1, 0, :] = np.inf  # a slot with no finite real position
    offdiag = rng.uniform(0.1, 1.0, size=(3, 2, 3)).astype(np.float32)
    offdiag[2, 0, :] = 0.0
    offdiag[2, 1, :] = 0.25
    empty = np.zeros(3)
    return BatchCapture(
        n_tokens=n_tokens,
        token_norms=None,
        sublayer_norms=sublayer,
        offdiag_mass=offdiag,
        attention_entropy=rng.uniform(0, 1, size=(3, 2, 3)),
        mass_minus_tokens=rng.normal(0, 1e-6, size=(3, 2, 3)),
        next_token_entropy=empty,
        top_token_id=empty,
        top_prob=empty,
        nonfinite_logits=empty.astype(bool),
    )


PLANTED_PROMPTS = pd.DataFrame({"prompt_set": "planted", "prompt_id": ["p0", "p1", "p2"]})


def test_sublayer_frame_is_the_mean_and_last_norm_of_each_real_finite_position():
    capture = planted_capture()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = _sublayer_frame(capture, PLANTED_PROMPTS)
    assert len(frame) == 3 * 2 * 2
    for row in frame.itertuples():
        b, s = int(row.prompt_id[1]), SUBLAYERS.index(row.sublayer)
        n = capture.n_tokens[b]
        for side, column in enumerate(("in", "out")):
            real = capture.sublayer_norms[b, row.layer, s, side, :n].astype(np.float64)
            finite = real[np.isfinite(real)]
            expected_mean = finite.mean() if finite.size else np.nan
            assert getattr(row, f"norm_{column}_mean") == pytest.approx(expected_mean, rel=1e-12, nan_ok=True)
            assert getattr(row, f"norm_{column}_last") == pytest.approx(real[-1], rel=1e-12, nan_ok=True)
    assert frame["prompt_set"].eq("planted").all()
    assert np.isnan(frame.set_index(["prompt_id", "layer", "sublayer"]).loc[("p1", 0, SUBLAYERS[1]), "norm_in_mean"])


def test_attention_frame_divides_the_mass_by_the_tokens_after_the_first_and_warns_of_nothing():
    capture = planted_capture()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the one-token prompt's 0 / 0 and 0.25 / 0 are expected, not warned
        frame = _attention_frame(capture, PLANTED_PROMPTS)
    assert len(frame) == 3 * 2 * 3
    for row in frame.itertuples():
        b = int(row.prompt_id[1])
        assert row.n_tokens == capture.n_tokens[b]
        for column, values in (
            ("offdiag_mass", capture.offdiag_mass),
            ("entropy", capture.attention_entropy),
            ("mass_minus_tokens", capture.mass_minus_tokens),
        ):
            assert getattr(row, column) == values[b, row.layer, row.head]
        if row.n_tokens > 1:
            assert row.offdiag_mean == pytest.approx(
                capture.offdiag_mass[b, row.layer, row.head] / (row.n_tokens - 1), rel=1e-6
            )
        else:
            assert np.isnan(row.offdiag_mean)


def test_batches_sort_by_length_pad_right_and_land_on_the_device():
    token_ids = [[5, 6], [7, 8, 9, 10], [11], [12, 13, 14]]
    out = list(batches(token_ids, batch_size=3, pad_id=1, device=torch.device("cpu")))
    assert [rows for rows, _, _ in out] == [[1, 3, 0], [2]]
    rows, ids, mask = out[0]
    assert ids.dtype == torch.long and mask.dtype == torch.long
    assert ids.tolist() == [[7, 8, 9, 10], [12, 13, 14, 1], [5, 6, 1, 1]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]]
    for _, ids, mask in batches(token_ids, batch_size=3, pad_id=1, device=torch.device("meta")):
        assert ids.device.type == "meta" and mask.device.type == "meta"


def test_model_row_takes_labels_from_the_options_else_from_the_registry(model_dirs):
    loaded = load_model(str(model_dirs["gpt2"]), device="cpu")
    assert loaded.entry is None
    bare = model_row(loaded, RunOptions(progress=False))
    assert (bare["lab"], bare["variant"], bare["twin_of"]) == (None, None, None)
    assert bare["device"] == "cpu" and bare["measured_at"]  # its own provenance when none is given
    registered = dataclasses.replace(
        loaded, entry=pd.Series({"lab": "EleutherAI", "variant": "instruct", "twin_of": "base-model"})
    )
    row = model_row(registered, RunOptions(progress=False))
    assert (row["lab"], row["variant"], row["twin_of"]) == ("EleutherAI", "instruct", "base-model")
    overridden = model_row(registered, RunOptions(progress=False, lab="Other", twin_of="other-base"))
    assert (overridden["lab"], overridden["variant"], overridden["twin_of"]) == ("Other", "instruct", "other-base")
    unlabelled = dataclasses.replace(loaded, entry=pd.Series({"lab": np.nan, "variant": None, "twin_of": np.nan}))
    row = model_row(unlabelled, RunOptions(progress=False))
    assert (row["lab"], row["variant"], row["twin_of"]) == (None, None, None)  # a missing label is None, not NaN


def test_run_provenance_is_stamped_in_utc():
    stamp = datetime.fromisoformat(run_provenance()["measured_at"])
    assert stamp.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_git_revision_is_the_checkouts_commit_marked_dirty_by_tracked_changes_only(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    checkout = tmp_path / "checkout"
    (checkout / "measure").mkdir(parents=True)
    (checkout / "measure" / "__init__.py").write_text("")
    _git(checkout, "init", "-q")
    monkeypatch.setattr(measure_package, "__file__", str(checkout / "measure" / "__init__.py"))
    assert git_revision() is None  # a checkout without a commit
    _git(checkout, "add", ".")
    _git(checkout, "commit", "-q", "-m", "one")
    head = _git(checkout, "rev-parse", "HEAD")
    assert git_revision() == head
    (checkout / "untracked.txt").write_text("x")
    assert git_revision() == head  # untracked files do not make a run dirty
    (checkout / "measure" / "__init__.py").write_text("changed = True\n")
    assert git_revision() == head + "-dirty"
    with monkeypatch.context() as without_git:
        without_git.setenv("PATH", str(tmp_path / "no-binaries"))
        assert git_revision() is None  # no git
    outside = tmp_path / "outside" / "measure"
    outside.mkdir(parents=True)
    monkeypatch.setattr(measure_package, "__file__", str(outside / "__init__.py"))
    assert git_revision() is None  # not a checkout
    monkeypatch.setattr(measure_package, "__file__", str(checkout / "measure" / "__init__.py"))
    (checkout / ".git" / "index").write_text("damaged")
    assert git_revision() is None  # a commit, but a state git cannot read: no claim that it is clean


def _poison_final_output(model, calls: list[int], poison_call) -> None:
    """Make the final norm's output infinite at position 0 of the first prompt of the batches for which
    ``poison_call(call number)`` is true: one non-finite token at one site, the logits of the last token
    untouched."""

    def hook(module, args, output):
        calls.append(len(calls))
        if poison_call(calls[-1]):
            output = output.clone()
            output[0, 0, :] = float("inf")
        return output

    model.transformer.ln_f.register_forward_hook(hook)


def test_a_prompt_with_one_non_finite_token_is_flagged_and_named(model_dirs, prompts, caplog):
    loaded = load_model(str(model_dirs["gpt2"]), device="cpu", name="tiny")
    _poison_final_output(loaded.model, [], lambda call: call == 0)  # batches of 1: the longest prompt first
    with caplog.at_level(logging.WARNING, logger="measure.runner"):
        tables = measure_model(loaded, prompts, RunOptions(batch_size=1, progress=False))
    longest = prompts.loc[prompts["text"].str.len().idxmax(), "prompt_id"]
    per_prompt = tables["residual"].groupby("prompt_id")["nonfinite_tokens"].sum()
    assert per_prompt.to_dict() == {pid: int(pid == longest) for pid in prompts["prompt_id"]}
    assert not tables["outputs"]["nonfinite_logits"].any()  # flagged by its tokens alone
    assert tables["runs"]["nonfinite_prompts"].iloc[0] == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"tiny: non-finite activations in 1 prompt(s) ({longest}); they are flagged and left out of means."
    ]


def test_the_warning_names_the_first_five_flagged_prompts(model_dirs, tmp_path, caplog):
    path = tmp_path / "six.csv"
    pd.DataFrame({"text": ["ab", "cd", "ef", "gh", "ij", "kl"]}).to_csv(path, index=False)
    six = read_prompt_file(path)
    loaded = load_model(str(model_dirs["gpt2"]), device="cpu", name="tiny")
    _poison_final_output(loaded.model, [], lambda call: True)
    with caplog.at_level(logging.WARNING, logger="measure.runner"):
        tables = measure_model(loaded, six, RunOptions(batch_size=1, progress=False))
    assert tables["runs"]["nonfinite_prompts"].iloc[0] == 6
    named = ", ".join(sorted(six["prompt_id"])[:5])
    assert [r.getMessage() for r in caplog.records] == [
        f"tiny: non-finite activations in 6 prompt(s) ({named}); they are flagged and left out of means."
    ]


def test_a_head_with_a_non_finite_weight_is_counted_and_warned_of(model_dirs, prompts, caplog):
    loaded = load_model(str(model_dirs["gpt2"]), device="cpu", name="tiny")
    with torch.no_grad():
        loaded.model.transformer.h[1].attn.c_proj.weight[0, 0] = float("nan")  # W_O of layer 1, head 0
    with caplog.at_level(logging.WARNING, logger="measure.runner"):
        tables = measure_model(loaded, prompts, RunOptions(batch_size=4, progress=False))
    heads = tables["heads"]
    assert heads.loc[heads["nonfinite_weights"] > 0, ["layer", "head", "nonfinite_weights"]].values.tolist() == [
        [1, 0, 1]
    ]
    assert "tiny: 1 head(s) have non-finite weights; their norms are left empty (heads.nonfinite_weights)." in [
        r.getMessage() for r in caplog.records
    ]


def test_run_row_device_timing_provenance_and_prompt_hashes(model_dirs, prompts, monkeypatch):
    """The runs row: the model's device, the wall time of the run in seconds rounded to ms (a clock
    planted at 100 s and 101.23456 s), and the same provenance as the models row (one call stamps both);
    every table indexed 0..n-1; each prompt's text hashed."""
    from measure import runner

    loaded = load_model(str(model_dirs["gpt2"]), device="cpu", name="tiny")
    monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=iter([100.0, 101.23456]).__next__))
    stamps = iter(range(10))
    monkeypatch.setattr(
        runner,
        "run_provenance",
        lambda: {"package_version": "v", "git_revision": "g", "measured_at": f"t{next(stamps)}"},
    )
    tables = measure_model(loaded, prompts, RunOptions(batch_size=3, progress=False))
    run = tables["runs"].iloc[0]
    assert run["device"] == "cpu" and tables["models"]["device"].iloc[0] == "cpu"
    assert run["wall_seconds"] == 1.235
    assert tables["models"]["measured_at"].iloc[0] == run["measured_at"] == "t0"
    for name, table in tables.items():
        assert table.index.equals(pd.RangeIndex(len(table))), name
    hashes = [hashlib.sha256(text.encode()).hexdigest() for text in prompts["text"]]
    assert tables["prompts"]["text_sha256"].tolist() == hashes


def test_progress_bar_counts_batches_and_stays_silent_when_off(model_dirs, prompts, capsys):
    loaded = load_model(str(model_dirs["gpt2"]), device="cpu", name="tiny")
    capsys.readouterr()  # the loading's own output
    measure_model(loaded, prompts, RunOptions(batch_size=3, progress=False))
    assert capsys.readouterr().err == ""
    measure_model(loaded, prompts, RunOptions(batch_size=3, progress=True))
    bar = capsys.readouterr().err
    assert "tiny / prompts: 100%" in bar and "2/2 [" in bar, bar
    assert re.search(r"(?<![A-Za-z])(batch/s|s/batch)(?![A-Za-z])", bar), bar


def test_one_prompt_without_a_pad_token_runs_on_the_models_device(model_dirs, tmp_path, monkeypatch):
    from measure import runner

    path = tmp_path / "one.csv"
    pd.DataFrame({"text": ["abc"]}).to_csv(path, index=False)
    loaded = load_model(str(model_dirs["gpt2"]), device="cpu", name="tiny")
    loaded.tokenizer.pad_token = None  # as GPT-2's own tokenizer: the padding id falls back to 0
    devices = []

    def spy(token_ids, batch_size, pad_id, device):
        devices.append((pad_id, device))
        return batches(token_ids, batch_size, pad_id, device)

    monkeypatch.setattr(runner, "batches", spy)
    tables = measure_model(loaded, read_prompt_file(path), RunOptions(progress=False))
    assert devices == [(0, torch.device("cpu"))]
    assert tables["runs"]["prompt_set"].iloc[0] == "one" and len(tables["outputs"]) == 1
    loaded.tokenizer.pad_token = "~"  # a tokenizer's own padding id is used
    measure_model(loaded, read_prompt_file(path), RunOptions(progress=False))
    assert devices[-1] == (loaded.tokenizer.convert_tokens_to_ids("~"), torch.device("cpu")) != (0, torch.device("cpu"))


def test_tokenize_refuses_an_empty_prompt_and_one_over_the_context_by_name(model_dirs):
    loaded = load_model(str(model_dirs["gpt2"]), device="cpu", name="tiny")
    assert loaded.architecture.max_positions == 64
    fits = pd.DataFrame({"prompt_id": ["full"], "text": ["a" * 64]})
    assert [len(ids) for ids in tokenize(loaded, fits)] == [64]
    with pytest.raises(PromptError, match=r"^Prompt long has 65 tokens; tiny takes at most 64\.$"):
        tokenize(loaded, pd.DataFrame({"prompt_id": ["long"], "text": ["a" * 65]}))
    with pytest.raises(PromptError, match=r"^Prompt blank tokenises to no tokens\.$"):
        tokenize(loaded, pd.DataFrame({"prompt_id": ["blank"], "text": [""]}))
