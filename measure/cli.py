"""``thermo-audit measure ...`` (alias ``python -m measure ...``): measure models into run partitions.

Every check of the user's input (options, prompt file, output folder, device, a run that would
clash with the committed ones) happens before a model is loaded; a problem is one line on
stderr and exit status 2 (see ``thermo_audit.cli`` for the policy).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from contract.errors import TableError, UsageError
from contract.paths import data_paths, writable_folder
from contract.vocab import DTYPES, PANELS

log = logging.getLogger(__name__)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_run_options(parser: argparse.ArgumentParser, out: bool = True) -> None:
    from measure.prompts import DEFAULT_SET

    parser.add_argument(
        "--prompt-set",
        default=None,
        metavar="NAME",
        help=f"named prompt set: '{DEFAULT_SET}' (the project's own, default), or one of the paper's "
        "sets such as GU25 once the published results are imported; with --prompts, the set to "
        "pick from the file, or the name to give its prompts",
    )
    parser.add_argument(
        "--prompts",
        type=Path,
        metavar="FILE.csv",
        help="your own prompts: a UTF-8 CSV with a 'text' (or 'prompt') column; optional prompt_id, "
        "prompt_set, category, complexity columns",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        help="weights and activations dtype (default: float32); norms are always reduced in float32 or better",
    )
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default: auto = cuda if available, else cpu)"
    )
    parser.add_argument(
        "--device-map",
        default=None,
        metavar="MAP",
        help="spread a model larger than one device over several (accelerate): auto, balanced or "
        "sequential; instead of --device",
    )
    parser.add_argument(
        "--offload-folder",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --device-map: where weights that fit on no device are kept",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        metavar="N",
        help="prompts per forward pass, right-padded (default: 8)",
    )
    parser.add_argument(
        "--attention",
        action="store_true",
        help="also measure attention statistics per head (T - tr A, sheaf trace, row entropy)",
    )
    if out:
        parser.add_argument(
            "--out",
            type=Path,
            default=None,
            metavar="DIR",
            help="folder of the measured run partitions (default: <data dir>/measured)",
        )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_measure_commands(parser: argparse.ArgumentParser) -> None:
    """The ``measure`` subcommands, each with ``func`` set to the function that runs it."""
    from thermo_audit.cli import add_common

    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="measure one model on one prompt set",
        description="Measure one model on one prompt set and commit the run as one partition "
        "(data/measured/runs/): all or nothing; re-measuring replaces that run only.",
    )
    add_common(run)
    run.add_argument(
        "--model",
        required=True,
        metavar="HF_ID_OR_PATH",
        help="Hugging Face id, local folder, or a registry name (see `thermo-audit ls models`)",
    )
    run.add_argument("--gguf-file", metavar="NAME", help="GGUF file inside the --model folder (dequantised to float)")
    run.add_argument(
        "--random-init",
        action="store_true",
        help="random weights at the model's architecture (the family's own initialisation)",
    )
    run.add_argument("--seed", type=int, default=0, help="seed of --random-init (default: 0)")
    run.add_argument("--name", help="model name in the tables (default: registry name or the id's last part)")
    run.add_argument("--revision", help="hub revision (branch, tag or commit) to load")
    run.add_argument(
        "--lab",
        help="the lab that trained the model (default: from the registry; needed by the "
        "heritage law for models outside it)",
    )
    run.add_argument("--twin-of", metavar="BASE", help="the base model this (fine-tuned) model derives from")
    run.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow modelling code from the model repository (off by default)",
    )
    _add_run_options(run)
    run.set_defaults(func=_cmd_run)

    panel = sub.add_parser(
        "panel",
        help="measure a panel of models (named, or from a CSV file)",
        description="Measure every model of a panel, skipping runs already committed with the "
        "same prompts, dtype and attention flag (resume after an interruption). "
        f"PANEL is one of {', '.join(PANELS)} or a CSV file with a 'model' column "
        "(id or path) and optional revision, gguf_file, random_init, name, lab, "
        "family, twin_of columns.",
    )
    add_common(panel)
    panel.add_argument("panel", metavar="PANEL", help=f"{' | '.join(PANELS)} | FILE.csv")
    panel.add_argument(
        "--dry-run",
        action="store_true",
        help="print each model's estimated memory and what would be measured or skipped",
    )
    panel.add_argument("--force", action="store_true", help="re-measure runs already committed")
    panel.add_argument(
        "--executor",
        choices=["serial", "ray"],
        default="serial",
        help="serial (default): one model after another here; ray: one task per model on a Ray "
        "cluster (pip install 'thermo-audit[ray]'; --out must be on a file system every node sees)",
    )
    panel.add_argument("--address", default=None, help="Ray cluster address (e.g. auto); default: a new local instance")
    panel.add_argument(
        "--max-retries",
        type=int,
        default=2,
        metavar="N",
        help="Ray: retries of a task whose worker died or that raised a runtime error (default: 2)",
    )
    panel.add_argument(
        "--gpus-per-task",
        type=float,
        default=1.0,
        metavar="G",
        help="Ray: GPUs each task asks for on CUDA (default: 1; fractions share a GPU)",
    )
    _add_run_options(panel)
    panel.set_defaults(func=_cmd_panel)

    imp = sub.add_parser(
        "import-published",
        help="import the authors' published result files",
        description="Read the paper's result files into tidy tables (<data dir>/published/), "
        "replacing an earlier import whole. Every file must match the SHA-256 of the "
        "authors' pinned commit.",
    )
    add_common(imp)
    imp.add_argument("source", help="folder of the result files, or 'download' (from the pinned commit)")
    imp.add_argument(
        "--allow-changed",
        action="store_true",
        help="import files that differ from the pinned commit (they are named in the provenance)",
    )
    imp.add_argument("--out", type=Path, default=None, help="output folder (default: <data dir>/published)")
    imp.set_defaults(func=_cmd_import)

    migrate = sub.add_parser(
        "migrate",
        help="convert measured tables of the older single-file layout",
        description="Convert a folder of the older layout (one CSV per table holding every "
        "run) into run partitions; the old files are kept in DIR/.single-file-layout",
    )
    add_common(migrate)
    migrate.add_argument(
        "folder", type=Path, nargs="?", default=None, metavar="DIR", help="default: <data dir>/measured"
    )
    migrate.set_defaults(func=_cmd_migrate)

    rm = sub.add_parser("rm", help="remove one committed run", description="Remove the run of a model on a prompt set.")
    add_common(rm)
    rm.add_argument("--model", required=True, help="the model's name in the tables")
    rm.add_argument("--prompt-set", required=True, metavar="NAME")
    rm.add_argument("--out", type=Path, default=None, metavar="DIR", help="default: <data dir>/measured")
    rm.set_defaults(func=_cmd_rm)

    export = sub.add_parser(
        "export",
        help="write the measured data as one CSV per table",
        description="Write the union of all runs as one CSV file per table (for users who want "
        "single files; the partitions stay the data of record).",
    )
    add_common(export)
    export.add_argument("to", type=Path, metavar="DIR", help="folder to write the CSV files into")
    export.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="the measured data to export (default: <data dir>/measured)",
    )
    export.set_defaults(func=_cmd_export)

    ls = sub.add_parser("ls", help="list architectures, panels, prompt sets, registry models or runs")
    add_common(ls)
    ls.add_argument("what", choices=["architectures", "panels", "prompt-sets", "models", "runs"])
    ls.set_defaults(func=lambda args: list_known(args.what))


def require_torch() -> None:
    """Measuring needs torch and transformers (the ``measure`` extra); without them, say so in one line."""
    import importlib.util

    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"measuring models needs {' and '.join(missing)}: pip install 'thermo-audit[measure]' "
            "(the analysis and the report run without them)"
        )


def _measured_dir(args) -> Path:
    return args.out if args.out is not None else data_paths().measured


def _prompts(args):
    from measure.prompts import DEFAULT_SET, load_prompt_set, read_prompt_file

    if args.prompts is not None:
        return read_prompt_file(args.prompts, args.prompt_set)
    return load_prompt_set(args.prompt_set or DEFAULT_SET)


def _command_line() -> str:
    """The command as the user typed it (recorded with every run)."""
    argv = sys.orig_argv
    if len(argv) > 1 and Path(argv[1]).name == "thermo-audit":
        return shlex.join(["thermo-audit", *argv[2:]])
    return shlex.join(["python", *argv[1:]])


def _cmd_run(args) -> int:
    require_torch()
    from contract.store import check_new_run, commit_run
    from measure.loading import load_model, resolve_device
    from measure.prompts import prompt_set_sha256
    from measure.runner import RunOptions, measure_model, model_row

    prompts = _prompts(args)
    out = writable_folder(_measured_dir(args), "--out")
    resolve_device(args.device)
    prompt_set = prompts["prompt_set"].iloc[0]
    check_new_run(out, None, prompt_set, prompt_set_sha256(prompts))
    loaded = load_model(
        args.model,
        gguf_file=args.gguf_file,
        dtype=args.dtype,
        device=args.device,
        attention=args.attention,
        random_init=args.random_init,
        seed=args.seed,
        revision=args.revision,
        trust_remote_code=args.trust_remote_code,
        name=args.name,
        device_map=args.device_map,
        offload_folder=args.offload_folder,
    )
    options = RunOptions(
        batch_size=args.batch_size,
        attention=args.attention,
        progress=not args.no_progress,
        command=_command_line(),
        lab=args.lab,
        twin_of=args.twin_of,
    )
    check_new_run(out, model_row(loaded, options), prompt_set, prompt_set_sha256(prompts))
    partition = commit_run(out, measure_model(loaded, prompts, options))
    print(f"{loaded.name}: {len(prompts)} prompts of {prompt_set} -> {partition.path}")
    return 0


def _cmd_panel(args) -> int:
    require_torch()
    from measure.loading import resolve_device
    from measure.panels import load_panel, plan, run_panel

    items = load_panel(args.panel)
    prompts = _prompts(args)
    out = writable_folder(_measured_dir(args), "--out")
    resolve_device(args.device)
    if args.dry_run:
        planned = plan(items, prompts, args.dtype, args.device, args.attention, out, args.force, args.batch_size)
        width = max(len(item.model) for item in planned)
        for item in planned:
            print(f"{item.model:<{width}}  ~{item.memory_gb:6.1f} GiB  {item.status}")
        return 0
    options = dict(
        dtype=args.dtype,
        device=args.device,
        attention=args.attention,
        batch_size=args.batch_size,
        out_dir=out,
        force=args.force,
        progress=not args.no_progress,
        command=_command_line(),
        device_map=args.device_map,
        offload_folder=args.offload_folder,
    )
    if args.executor == "ray":
        from measure.ray_executor import run_panel_on_ray

        failures = run_panel_on_ray(
            items,
            prompts,
            **options,
            address=args.address,
            max_retries=args.max_retries,
            gpus_per_task=args.gpus_per_task,
        )
    else:
        failures = run_panel(items, prompts, **options)
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _cmd_import(args) -> int:
    from measure.published.importer import import_published

    out = args.out if args.out is not None else data_paths().published
    writable_folder(out.parent, "--out's parent folder")
    written = import_published(args.source, out, allow_changed=args.allow_changed)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def _cmd_migrate(args) -> int:
    from measure.migrate import migrate

    folder = args.folder if args.folder is not None else data_paths().measured
    committed = migrate(writable_folder(folder, "the folder"))
    print(f"{folder}: {len(committed)} run(s) converted into partitions under {folder / 'runs'}")
    return 0


def _cmd_rm(args) -> int:
    from contract.store import remove_run

    removed = remove_run(_measured_dir(args), args.model, args.prompt_set)
    print(f"removed {removed}")
    return 0


def _cmd_export(args) -> int:
    from contract.store import export_tables

    if args.to.resolve() == _measured_dir(args).resolve():
        raise UsageError("export into another folder than the measured data themselves")
    if args.to.exists() and not args.to.is_dir():
        raise UsageError(f"the export folder {args.to} is a file")
    for name, path in export_tables(_measured_dir(args), args.to).items():
        print(f"{name}: {path}")
    return 0


def list_known(what: str) -> int:
    """Print the supported architectures, panels, prompt sets, registry models or committed runs."""
    if what == "architectures":
        require_torch()
        from measure.adapters import supported_model_types

        print("\n".join(supported_model_types()))
    elif what == "prompt-sets":
        from measure.prompts import known_prompt_sets

        for name, path in sorted(known_prompt_sets().items()):
            print(f"{name}\t{path}")
    elif what == "runs":
        return list_runs(data_paths().measured)
    else:
        from contract.registry import load_registry

        registry = load_registry()
        if what == "panels":
            for panel in PANELS:
                members = registry[registry["panels"].fillna("").str.split(";").apply(lambda ps, p=panel: p in ps)]
                print(f"{panel}\t{len(members)} models: {', '.join(members['model'])}")
        else:
            print(registry[["model", "hf_id", "lab", "family", "panels"]].to_string(index=False))
    return 0


def list_runs(measured_dir: Path) -> int:
    """Print every committed run, each checked whole; a damaged one is named (and the status is 2)."""
    import pandas as pd

    from contract.store import read_partition, verify

    rows, damaged = [], []
    for partition, problem in verify(measured_dir):
        if problem is None:
            run = read_partition(partition)["runs"].iloc[0]
            rows.append(
                {
                    column: run[column]
                    for column in (
                        "model",
                        "prompt_set",
                        "n_prompts",
                        "dtype",
                        "device",
                        "attention_metrics",
                        "measured_at",
                    )
                }
            )
        else:
            rows.append({"model": partition.model, "prompt_set": partition.prompt_set, "n_prompts": "DAMAGED"})
            damaged.append(problem)
    print(pd.DataFrame(rows).fillna("").to_string(index=False) if rows else f"no runs in {measured_dir}")
    if damaged:
        raise TableError(f"{len(damaged)} damaged run(s): " + "; ".join(damaged))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m measure ...``: the same as ``thermo-audit measure ...``."""
    from thermo_audit.cli import main as thermo_audit

    return thermo_audit(["measure", *(sys.argv[1:] if argv is None else argv)])
