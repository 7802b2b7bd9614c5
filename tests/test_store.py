"""Fault tests of the data layer: every run is committed whole or not at all, concurrent runs never
lose rows, a full disk changes nothing visible, damaged data are refused naming the file.

The run tables come from a tiny GPT-2 measured once per module and pickled, so that writers in
other processes (killed at chosen points, or racing each other) commit real tables quickly.
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from measure_fixtures import measure_tiny, save_tiny

from contract.errors import StorageError, TableError
from contract.store import commit_run, partitions, read_measured_tables, remove_run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run tables of three tiny models (a, b: GPT-2; c: LLaMA) on the same prompts, pickled for subprocesses."""
    folder = tmp_path_factory.mktemp("runs")
    tables = {
        name: measure_tiny(arch, name, folder) for name, arch in (("a", "gpt2"), ("b", "gpt2"), ("c", "llama-gqa"))
    }
    for name, run in tables.items():
        (folder / f"{name}.pkl").write_bytes(pickle.dumps(run))
    return folder, tables


def visible_state(measured: Path) -> dict[str, pd.DataFrame]:
    """What a reader sees; raises if anything visible is damaged or partial."""
    return read_measured_tables(measured)


# A writer in its own process that SIGKILLs itself at its N-th file-system step of commit_run.
KILLER = textwrap.dedent("""
    import os, pickle, shutil, signal, sys
    import contract.folders, contract.store
    tables = pickle.loads(open(sys.argv[2], "rb").read())
    kill_at, steps = int(sys.argv[3]), [0]

    def step(function):
        def wrapped(*args, **kwargs):
            steps[0] += 1
            if steps[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return function(*args, **kwargs)
        return wrapped

    os.rename, os.replace, os.fsync, shutil.rmtree = (step(os.rename), step(os.replace), step(os.fsync),
                                                      step(shutil.rmtree))
    contract.folders._write_synced = step(contract.folders._write_synced)
    contract.store.commit_run(sys.argv[1], tables)
    print("completed after", steps[0], "steps")
""")


def run_killer(measured: Path, pickled: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", KILLER, str(measured), str(pickled), str(kill_at)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.slow
def test_a_kill_at_any_step_of_a_commit_leaves_the_old_run_or_the_new_one(runs, tmp_path):
    folder, tables = runs
    measured = tmp_path / "measured"
    commit_run(measured, tables["b"])
    first = tables["a"]
    commit_run(measured, first)
    old_a = visible_state(measured)
    old_batch = first["runs"]["batch_size"].iloc[0]
    # the new run of a: the same prompts, another batch size (so the two versions can be told apart)
    again = {name: frame.copy() for name, frame in first.items()}
    again["runs"]["batch_size"] = 7
    pickled = tmp_path / "again.pkl"
    pickled.write_bytes(pickle.dumps(again))
    kills = 0
    for kill_at in range(1, 60):
        result = run_killer(measured, pickled, kill_at)
        state = visible_state(measured)  # never damaged, never partial
        assert set(state["runs"]["model"]) == {"a", "b"}
        batch = state["runs"].set_index("model").loc["a", "batch_size"]
        if result.returncode == 0:
            assert batch == 7 and "completed" in result.stdout
            break
        assert result.returncode == -signal.SIGKILL, result.stderr
        kills += 1
        assert batch in (old_batch, 7)  # the old run or the new one, whole
        if batch == old_batch:
            for name, frame in old_a.items():
                pd.testing.assert_frame_equal(state[name], frame)
        commit_run(measured, first)  # back to the old run for the next kill point
    assert kills >= 8  # the write phase has that many steps, each one tried
    # resume after a kill mid-commit: the staging folder left behind is removed by the next writer
    run_killer(measured, pickled, 5)
    commit_run(measured, again)
    assert [p.name for p in (measured / "runs").iterdir() if p.name.startswith(".")] == []
    assert visible_state(measured)["runs"].set_index("model").loc["a", "batch_size"] == 7


CONCURRENT = textwrap.dedent("""
    import pickle, sys, time
    from contract.store import commit_run
    tables = pickle.loads(open(sys.argv[2], "rb").read())
    while time.time() < float(sys.argv[3]):
        time.sleep(0.001)
    commit_run(sys.argv[1], tables)
""")


def test_concurrent_commits_into_one_folder_lose_nothing(runs, tmp_path):
    folder, tables = runs
    measured = tmp_path / "measured"
    # four writers at once: three different runs, and a second writer of run a
    start = f"{__import__('time').time() + 3:.3f}"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(measured), str(folder / f"{name}.pkl"), start],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b", "c", "a")
    ]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    state = visible_state(measured)
    assert sorted(state["runs"]["model"]) == ["a", "b", "c"]
    for name in ("residual", "sublayers", "outputs", "heads"):
        expected = sum(len(tables[model][name]) for model in ("a", "b", "c"))
        assert len(state[name]) == expected, name
    assert len(partitions(measured)) == 3
    assert not [p for p in (measured / "runs").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_concurrent_cli_runs_into_one_folder_lose_nothing(runs, tmp_path):
    """Four `thermo-audit measure run` processes of tiny saved models into one --out, at once."""
    models = tmp_path / "models"
    for arch in ("gpt2", "llama-gqa", "gpt_neox-parallel", "opt"):
        save_tiny(arch, models / arch)
    prompts = tmp_path / "prompts.csv"
    pd.DataFrame({"text": ["abc def", "x", "hello world"]}).to_csv(prompts, index=False)
    out = tmp_path / "measured"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "thermo_audit",
                "measure",
                "run",
                "--model",
                str(models / arch),
                "--prompts",
                str(prompts),
                "--out",
                str(out),
                "--device",
                "cpu",
                "--attention",
                "--no-progress",
            ],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        for arch in ("gpt2", "llama-gqa", "gpt_neox-parallel", "opt")
    ]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    state = visible_state(out)
    assert sorted(state["runs"]["model"]) == ["gpt2", "gpt_neox-parallel", "llama-gqa", "opt"]
    assert len(state["outputs"]) == 4 * 3
    assert len(state["attention"]) == 3 * 3 * 4 * 4  # 3 prompts x 3 layers x 4 heads, 4 models


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 1 MiB tmpfs (root with mount(8)), else skip."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_changes_nothing_visible(runs, tiny_filesystem):
    _, tables = runs
    measured = tiny_filesystem / "measured"
    commit_run(measured, tables["b"])
    before = visible_state(measured)
    filler = tiny_filesystem / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as err:
        assert err.errno == errno.ENOSPC
    finally:
        os.close(fd)
    os.truncate(filler, os.path.getsize(filler) - 16_384)  # room for a few of run a's nine files, not all
    with pytest.raises(StorageError, match="No space left on device.*nothing of this run was written"):
        commit_run(measured, tables["a"])
    after = visible_state(measured)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame)
    assert not [p for p in (measured / "runs").iterdir() if p.name.startswith(".")]


def test_a_failing_write_changes_nothing_visible(runs, tmp_path, monkeypatch):
    """The same fault injected where no tmpfs can be mounted: the third file write fails with ENOSPC."""
    import contract.folders

    _, tables = runs
    measured = tmp_path / "measured"
    commit_run(measured, tables["b"])
    before = visible_state(measured)
    real, calls = contract.folders._write_synced, []

    def failing(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(contract.folders, "_write_synced", failing)
    with pytest.raises(StorageError, match="nothing of this run was written"):
        commit_run(measured, tables["a"])
    for name, frame in visible_state(measured).items():
        pd.testing.assert_frame_equal(frame, before[name])
    assert sorted(p.name.split("@")[0] for p in (measured / "runs").iterdir()) == [
        partitions(measured)[0].path.name.split("@")[0]
    ]


def _partition_of(measured: Path, model: str) -> Path:
    return next(p.path for p in partitions(measured) if p.model == model)


def test_a_truncated_table_is_refused_naming_the_file(runs, tmp_path):
    _, tables = runs
    measured = tmp_path / "measured"
    commit_run(measured, tables["a"])
    commit_run(measured, tables["b"])
    residual = _partition_of(measured, "a") / "residual.csv"
    data = residual.read_bytes()
    residual.write_bytes(data[:-4])  # cut inside the last field: it still parses
    with pytest.raises(TableError, match=rf"{residual}.*differs from what was written"):
        visible_state(measured)
    residual.write_bytes(data[: data.rindex(b"\n", 0, -1) + 1])  # cut at a line boundary
    with pytest.raises(TableError, match=rf"{residual}: \d+ rows where \d+ were written"):
        visible_state(measured)


def test_a_bad_cell_is_refused_naming_file_and_line(runs, tmp_path):
    _, tables = runs
    measured = tmp_path / "measured"
    commit_run(measured, tables["a"])
    heads = _partition_of(measured, "a") / "heads.csv"
    lines = heads.read_text().splitlines()
    cells = lines[3].split(",")
    cells[4] = "1.2.3"  # wv_spectral
    lines[3] = ",".join(cells)
    heads.write_text("\n".join(lines) + "\n")
    with pytest.raises(TableError, match=rf"{heads}, line 4 \(column 'wv_spectral' holds '1.2.3', not a number\)"):
        visible_state(measured)


def test_a_cross_table_inconsistency_is_refused_naming_the_run(runs, tmp_path):
    """A run whose files agree with its manifest but not with each other (a prompt's residual rows
    missing): written by hand, as a buggy writer would."""
    from contract.folders import write_folder
    from contract.store import RUN_TABLES

    _, tables = runs
    broken = {name: frame.copy() for name, frame in tables["a"].items()}
    broken["residual"] = broken["residual"].iloc[:-2]
    folder = tmp_path / "measured" / "runs" / "a--prompts--00000000@00000000000000000001-1"
    folder.mkdir(parents=True)
    write_folder(
        folder,
        {name: (frame, RUN_TABLES[name].float_format) for name, frame in broken.items()},
        model="a",
        prompt_set=broken["runs"]["prompt_set"].iloc[0],
        version="00000000000000000001-1",
    )
    with pytest.raises(TableError, match=rf"{folder}/residual.csv: \d+ rows, expected \d+"):
        visible_state(tmp_path / "measured")
    with pytest.raises(TableError, match="cross-table|rows, expected"):
        commit_run(tmp_path / "other", broken)  # the writer refuses it too, writing nothing
    assert not (tmp_path / "other" / "runs").exists() or not any((tmp_path / "other" / "runs").iterdir())


def test_a_model_name_cannot_stand_for_two_models(runs, tmp_path):
    _, tables = runs
    measured = tmp_path / "measured"
    commit_run(measured, tables["a"])
    impostor = {name: frame.copy() for name, frame in tables["c"].items()}
    for frame in impostor.values():
        if "model" in frame:
            frame["model"] = "a"
    other_set = "other"
    for frame in impostor.values():
        if "prompt_set" in frame:
            frame["prompt_set"] = other_set
    with pytest.raises(TableError, match="the model name 'a' stands for two different models"):
        commit_run(measured, impostor)
    assert list(visible_state(measured)["runs"]["prompt_set"]) != [other_set]


def test_removing_a_run_removes_only_it(runs, tmp_path):
    _, tables = runs
    measured = tmp_path / "measured"
    commit_run(measured, tables["a"])
    commit_run(measured, tables["b"])
    remove_run(measured, "a", tables["a"]["runs"]["prompt_set"].iloc[0])
    assert list(visible_state(measured)["runs"]["model"]) == ["b"]
    with pytest.raises(TableError, match="no run of a on"):
        remove_run(measured, "a", tables["a"]["runs"]["prompt_set"].iloc[0])
