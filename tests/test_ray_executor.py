"""Panels on Ray: a panel file of tiny saved models run as Ray tasks on a local instance gives the
same tables as the serial executor; a failing model is reported and the others are committed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from measure_fixtures import PROMPTS, save_tiny

from contract.store import partitions, read_measured_tables

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'thermo-audit[ray]')")
REPO = Path(__file__).resolve().parent.parent
# Provenance that differs between any two runs of the same measurement.
PROVENANCE = ["wall_seconds", "measured_at", "command", "git_revision"]


def panel_command(panel: Path, prompts: Path, out: Path, *extra) -> list[str]:
    return [
        sys.executable,
        "-m",
        "thermo_audit",
        "measure",
        "panel",
        str(panel),
        "--prompts",
        str(prompts),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--attention",
        *extra,
    ]


@pytest.mark.slow
def test_a_panel_on_ray_equals_the_serial_run(tmp_path):
    models = {arch: save_tiny(arch, tmp_path / "models" / arch) for arch in ("gpt2", "llama-gqa", "bloom")}
    panel = tmp_path / "panel.csv"
    pd.DataFrame(
        {
            "model": [str(p) for p in models.values()] + [str(tmp_path / "no-such-model")],
            "name": list(models) + ["missing"],
            "lab": ["lab-a", "lab-b", "lab-c", None],
        }
    ).to_csv(panel, index=False)
    prompts = tmp_path / "prompts.csv"
    pd.DataFrame({"text": PROMPTS}).to_csv(prompts, index=False)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    serial = subprocess.run(
        panel_command(panel, prompts, tmp_path / "serial"), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert serial.returncode == 1 and "failed: missing:" in serial.stderr  # one model fails, the rest are done
    on_ray = subprocess.run(
        panel_command(panel, prompts, tmp_path / "ray", "--executor", "ray"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if "could not start or reach a Ray cluster" in on_ray.stderr:
        pytest.skip(f"Ray cannot start here: {on_ray.stderr.strip()}")
    assert on_ray.returncode == 1 and "failed: missing:" in on_ray.stderr, on_ray.stderr
    expected, got = read_measured_tables(tmp_path / "serial"), read_measured_tables(tmp_path / "ray")
    assert sorted(got["runs"]["model"]) == ["bloom", "gpt2", "llama-gqa"]
    for name, frame in expected.items():
        keep = [c for c in frame.columns if c not in PROVENANCE]
        pd.testing.assert_frame_equal(got[name][keep], frame[keep], check_exact=False, rtol=1e-6)
    committed = [p.path for p in partitions(tmp_path / "ray")]
    assert len(committed) == 3
    # a resumed panel on Ray has nothing left to do but the model that cannot load
    again = subprocess.run(
        panel_command(panel, prompts, tmp_path / "ray", "--executor", "ray"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 1 and again.stderr.count("failed:") == 1
    assert [p.path for p in partitions(tmp_path / "ray")] == committed  # nothing was measured again
