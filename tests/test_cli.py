"""Every user mistake is one clear line and exit status 2, before any work, with nothing written.

Each case runs `thermo-audit` in-process against a data folder that already holds one committed
run; the folder's content must be byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from claims_fixtures import PUBLISHED_RESULTS
from measure_fixtures import measure_tiny, save_tiny
from transformers import AutoConfig

from contract.hashing import fingerprint
from contract.store import commit_run, partitions, read_measured_tables
from thermo_audit.cli import main


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data folder with one committed run, tiny model folders (good and broken), prompt files."""
    root = tmp_path_factory.mktemp("world")
    data = root / "data"
    commit_run(data / "measured", measure_tiny("gpt2", "kept", root))
    models = root / "models"
    save_tiny("gpt2", models / "good")
    save_tiny("gpt2", models / "no-tokenizer")
    for name in os.listdir(models / "no-tokenizer"):
        if name.startswith(("tokenizer", "special_tokens", "vocab")):
            (models / "no-tokenizer" / name).unlink()
    save_tiny("gpt2", models / "corrupt")
    weights = models / "corrupt" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    (models / "gguf").mkdir()
    (models / "gguf" / "model.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    (models / "t5").mkdir()
    AutoConfig.for_model("t5").save_pretrained(models / "t5")
    prompts = root / "prompts"
    prompts.mkdir()
    (prompts / "latin1.csv").write_bytes("text\ncaf\xe9 au lait\n".encode("latin-1"))
    (prompts / "no-text.csv").write_text("words\nhello\n")
    (prompts / "blank.csv").write_text('text\nfine\n""\n')
    (prompts / "twice.csv").write_text("prompt_id,text\n1,a\n1,b\n")
    (prompts / "good.csv").write_text("text\nabc\n")
    (root / "panel.csv").write_text("name,lab\nx,y\n")
    return root


def run(capsys, *argv):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own usage errors
        status = exit_.code
    return status, capsys.readouterr()


def cases(world: Path) -> dict[str, list]:
    models, prompts, data = world / "models", world / "prompts", world / "data"
    good = ["--model", models / "good", "--prompts", prompts / "good.csv", "--device", "cpu", "--no-progress"]
    measure = ["--data-dir", data, "measure", "run"]
    return {
        "batch size 0": [*measure, *good, "--batch-size", "0"],
        "batch size -3": [*measure, *good, "--batch-size", "-3"],
        "device gpu": [*measure, *good[:-3], "--device", "gpu"],
        "device cuda without one": [*measure, *good[:-3], "--device", "cuda:0"],
        "device mps without one": [*measure, *good[:-3], "--device", "mps"],
        "--out is a file": [*measure, *good, "--out", prompts / "good.csv"],
        "non-UTF-8 prompt file": [*measure, *good[:2], "--prompts", prompts / "latin1.csv", "--device", "cpu"],
        "prompt file without text": [*measure, *good[:2], "--prompts", prompts / "no-text.csv", "--device", "cpu"],
        "empty prompt": [*measure, *good[:2], "--prompts", prompts / "blank.csv", "--device", "cpu"],
        "prompt id used twice": [*measure, *good[:2], "--prompts", prompts / "twice.csv", "--device", "cpu"],
        "unknown prompt set": [*measure, *good[:2], "--prompt-set", "core52", "--device", "cpu"],
        "missing model folder": [*measure, "--model", models / "nope", *good[2:]],
        "folder without tokenizer": [*measure, "--model", models / "no-tokenizer", *good[2:]],
        "corrupt safetensors": [*measure, "--model", models / "corrupt", *good[2:]],
        "corrupt GGUF": [*measure, "--model", models / "gguf", "--gguf-file", "model.gguf", *good[2:]],
        "unsupported architecture": [*measure, "--model", models / "t5", *good[2:]],
        "panel file without a model column": ["--data-dir", data, "measure", "panel", world / "panel.csv", "--dry-run"],
        "unknown panel": ["--data-dir", data, "measure", "panel", "paper-3", "--dry-run"],
        "analyse --resamples 0": ["--data-dir", data, "analyse", "--resamples", "0"],
        "analyse with a typo in --measured": ["--data-dir", data, "analyse", "--measured", data / "measurd"],
        "analyse with a missing --published": ["--data-dir", data, "analyse", "--published", world / "nothing"],
        "a typo in an option": [*measure, "--modle", models / "good", *good[2:]],
        "a typo in an option of analyse": ["--data-dir", data, "analyse", "--resample", "10"],
        "rm of a run that does not exist": ["--data-dir", data, "measure", "rm", "--model", "x", "--prompt-set", "y"],
    }


CASE_NAMES = list(cases(Path("/")))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_a_user_mistake_is_one_line_exit_2_and_nothing_written(world, capsys, case):
    before = fingerprint({"data": world / "data"})
    status, output = run(capsys, *cases(world)[case])
    assert status == 2, output
    lines = [line for line in output.err.splitlines() if line.strip()]
    assert lines and (lines[-1].startswith("error: ") or ": error: " in lines[-1]), output.err
    assert "Traceback" not in output.err
    if not any(line.startswith("usage:") for line in lines):  # argparse prints its usage, then one error line
        assert len(lines) == 1, output.err
    assert fingerprint({"data": world / "data"}) == before
    assert not (world / "data" / "derived").exists()


def test_a_typo_is_named_with_the_option_meant(world, capsys):
    status, output = run(capsys, *cases(world)["a typo in an option"])
    assert status == 2 and "unknown option --modle. Did you mean: --model" in output.err


def test_verbose_shows_the_traceback(world, capsys):
    status, output = run(capsys, "-v", *cases(world)["missing model folder"])
    assert status == 2 and "Traceback" in output.err


def test_prompt_ids_and_texts_are_read_as_written(world, capsys, tmp_path):
    prompts = tmp_path / "ids.csv"
    prompts.write_text("prompt_id,text\n001,NA\n002,null\n")
    out = tmp_path / "measured"
    status, output = run(
        capsys,
        "measure",
        "run",
        "--model",
        world / "models" / "good",
        "--prompts",
        prompts,
        "--device",
        "cpu",
        "--no-progress",
        "--out",
        out,
    )
    assert status == 0, output.err
    assert sorted(read_measured_tables(out)["outputs"]["prompt_id"]) == ["001", "002"]


def test_a_damaged_run_is_named_by_every_reader(world, capsys, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(world / "data", data)
    outputs = partitions(data / "measured")[0].path / "outputs.csv"
    outputs.write_text(outputs.read_text().replace(",", ";", 1))
    for argv in (["ls", "runs"], ["analyse"], ["measure", "export", tmp_path / "export"]):
        status, output = run(capsys, "--data-dir", data, *argv)
        assert status == 2 and str(outputs) in output.err and "Traceback" not in output.err, (argv, output.err)
    assert not (data / "derived").exists() and not (tmp_path / "export").exists()


@pytest.mark.skipif(not PUBLISHED_RESULTS.is_dir(), reason="the authors' published files are not here")
def test_import_of_changed_published_files_is_refused_then_recorded(capsys, tmp_path):
    folder = tmp_path / "Results"
    shutil.copytree(PUBLISHED_RESULTS, folder)
    changed = folder / "ffn_expansion_results.json"
    changed.write_text(changed.read_text() + " ")
    status, output = run(capsys, "--data-dir", tmp_path / "data", "measure", "import-published", folder)
    assert status == 2 and "--allow-changed" in output.err and not (tmp_path / "data" / "published").exists()
    status, _ = run(capsys, "--data-dir", tmp_path / "data", "measure", "import-published", folder, "--allow-changed")
    assert status == 0
    manifest = json.loads((tmp_path / "data" / "published" / "MANIFEST.json").read_text())
    assert manifest["changed_files"] == ["ffn_expansion_results.json"]


def test_export_writes_one_csv_per_table(world, capsys, tmp_path):
    status, output = run(capsys, "--data-dir", world / "data", "measure", "export", tmp_path / "flat")
    assert status == 0, output.err
    residual = pd.read_csv(tmp_path / "flat" / "residual.csv")
    assert len(residual) == len(read_measured_tables(world / "data" / "measured")["residual"])


def test_a_panel_file_names_training_checkpoints_by_revision(capsys, tmp_path):
    panel = tmp_path / "checkpoints.csv"
    panel.write_text(
        "model,revision,name\nEleutherAI/pythia-70m,step1000,\nEleutherAI/pythia-70m,step2000,\npythia-160m,,my-160m\n"
    )
    status, output = run(capsys, "--data-dir", tmp_path / "data", "measure", "panel", panel, "--dry-run")
    assert status == 0, output.err
    names = [line.split()[0] for line in output.out.splitlines()]
    assert names == ["pythia-70m@step1000", "pythia-70m@step2000", "my-160m"]
    assert all("GiB  measure" in line for line in output.out.splitlines())


def test_without_the_measure_or_report_extra_the_command_says_what_to_install(world, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    absent = {"torch", "transformers", "nbclient", "typst"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in absent else real(name, *a))
    status, output = run(capsys, "--data-dir", world / "data", "measure", "run", "--model", "gpt2")
    assert status == 2 and "pip install 'thermo-audit[measure]'" in output.err and "Traceback" not in output.err
    status, output = run(capsys, "report", "--to", "html")
    assert status == 2 and "needs nbclient, typst: pip install 'thermo-audit[report]'" in output.err
