"""`thermo-audit retest` end to end: tiny saved models of three families that refuse SDPA (no
--attention), and the two offline demo models against the authors' published data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from claims_fixtures import PUBLISHED_RESULTS
from measure_fixtures import PROMPTS, save_tiny
from test_retest import ols_prediction_interval

from contract.store import read_measured_tables

REPO = Path(__file__).resolve().parent.parent


def thermo_audit(*argv, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "thermo_audit", *map(str, argv)], cwd=cwd, capture_output=True, text=True
    )


def test_retest_measures_and_cards_tiny_models_of_three_families(tmp_path):
    """GPT-Neo, BLOOM and Gemma-2 without --attention: loading must not insist on SDPA."""
    prompts = tmp_path / "mine.csv"
    pd.DataFrame({"text": PROMPTS}).to_csv(prompts, index=False)
    models = [save_tiny(arch, tmp_path / "models" / arch) for arch in ("gpt_neo", "bloom", "gemma2")]
    data, card = tmp_path / "data", tmp_path / "card"
    args = [a for folder in models for a in ("--model", folder)]
    result = thermo_audit(
        "--data-dir",
        data,
        "retest",
        *args,
        "--prompts",
        prompts,
        "--out",
        card,
        "--resamples",
        200,
        "--device",
        "cpu",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    measured = read_measured_tables(data / "measured")
    assert sorted(measured["runs"]["model"]) == ["bloom", "gemma2", "gpt_neo"]
    assert measured["attention"].empty and not measured["runs"]["attention_metrics"].any()
    table = pd.read_csv(card / "claim_card.csv")
    assert sorted(table["model"].unique()) == ["bloom", "gemma2", "gpt_neo"]
    assert set(table["consistent"]) <= {"consistent", "inconsistent", "not applicable"}
    assert (card / "card.html").is_file() and (card / "card.md").is_file()
    for model in ("bloom", "gemma2", "gpt_neo"):
        assert f"{model}: " in result.stdout
    # a second retest measures nothing again and rewrites the card whole
    again = thermo_audit(
        "--data-dir",
        data,
        "retest",
        *args,
        "--prompts",
        prompts,
        "--out",
        card,
        "--resamples",
        200,
        "--device",
        "cpu",
        "--no-progress",
    )
    assert again.returncode == 0 and again.stdout.count("already measured") == 3


def test_retest_user_mistakes_are_clear(tmp_path):
    result = thermo_audit("--data-dir", tmp_path, "retest")
    assert result.returncode == 2 and "name at least one model" in result.stderr
    result = thermo_audit("--data-dir", tmp_path, "retest", "--model", "a", "--model", "b", "--twin-of", "c")
    assert result.returncode == 2 and "--twin-of apply to one --model" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "measured").exists()


@pytest.mark.slow
@pytest.mark.skipif(not PUBLISHED_RESULTS.is_dir(), reason="the authors' published files are not here")
def test_retest_of_the_demo_models_against_the_published_data(tmp_path):
    data, card = tmp_path / "data", tmp_path / "card"
    assert thermo_audit("--data-dir", data, "measure", "import-published", PUBLISHED_RESULTS).returncode == 0
    result = thermo_audit(
        "--data-dir",
        data,
        "retest",
        "--model",
        "smollm2-135m-instruct",
        "--model",
        "gemma-3-270m",
        "--out",
        card,
        "--resamples",
        500,
        "--device",
        "cpu",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(card / "claim_card.csv").set_index(["model", "claim_id"])
    runs = read_measured_tables(data / "measured")["runs"]
    assert set(runs["prompt_set"]) == {"GU25"}  # the paper's prompts once the published data are there
    # the Kleiber line from depth: the textbook OLS prediction interval over the published Pythia sweep
    values = pd.read_csv(data / "published" / "values.csv")
    pfs = values[
        (values["notebook"] == "PFS")
        & (values["quantity"] == "gain_penultimate_block")
        & (values["aggregate"] == "value")
    ]
    means = pfs.groupby("model")["value"].mean()
    registry = pd.read_csv(REPO / "contract" / "data" / "registry.csv").set_index("model")
    depth = registry.loc[means.index, "n_layers"].to_numpy(float)
    for model, n_layers in (("smollm2-135m-instruct", 30), ("gemma-3-270m", 18)):
        centre, low, high = ols_prediction_interval(depth, means.to_numpy(float), n_layers)
        row = table.loc[(model, "kleiber_depth_r")]
        assert (row["predicted"], row["pi_low"], row["pi_high"]) == pytest.approx((centre, low, high), rel=1e-9)
