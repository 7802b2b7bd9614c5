"""A non-editable install works: the wheel carries the package data the code reads (the model
registry, the project's prompt set, the pinned checksums, the report's filters and assets)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE_DATA = [
    "contract/data/registry.csv",
    "contract/data/prompts.csv",
    "measure/published/SHA256SUMS",
    "report/filters/crossref.lua",
    "report/assets/paper.css",
]


def test_the_wheel_carries_its_data_and_works_outside_the_checkout(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "wheel"),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "wheel").glob("thermo_audit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGE_DATA) <= names
    assert "thermo_audit/cli.py" in names and any(n.endswith("entry_points.txt") for n in names)
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import measure, contract; from measure.prompts import load_prompt_set; "
        "from contract.registry import load_registry; "
        "print(measure.__file__, len(load_prompt_set('core25')), len(load_registry()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    location, prompts, models = result.stdout.split()
    assert location.startswith(str(target)) and int(prompts) == 25 and int(models) >= 38


def test_the_analysis_and_the_report_run_without_torch(tmp_path):
    """`pip install .` without the `measure` extra must be enough to analyse and render: nothing on
    those paths imports torch or transformers."""
    script = (
        "import sys; from thermo_audit.cli import main; "
        "import analysis.run, report.refs, report.plots, report.card, report.retesting, report.published, "
        "report.prerender, report.render; "
        f"status = main(['--data-dir', {str(REPO / 'data')!r}, 'analyse', '-q', '--resamples', '50', "
        f"'--out', {str(tmp_path / 'derived')!r}]); "
        "print(status, [m for m in ('torch', 'transformers') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "0 []"
