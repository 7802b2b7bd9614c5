"""Command line of the measurement stage: ``python -m measure {run,panel,import-published,ls}``."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

import measure
from contract.errors import ThermoAuditError
from measure.prompts import DEFAULT_SET, load_prompt_set, read_prompt_file

MEASURED_DIR = Path("data/measured")
PUBLISHED_DIR = Path("data/published")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    prompts = parser.add_mutually_exclusive_group()
    prompts.add_argument("--prompt-set", default=None, metavar="NAME",
                         help=f"named prompt set: '{DEFAULT_SET}' (the project's own, default), or one of the "
                              "paper's sets such as GU25 once the published results are imported")
    prompts.add_argument("--prompts", type=Path, metavar="FILE.csv",
                         help="any CSV with a 'text' (or 'prompt') column; optional prompt_id, prompt_set, "
                              "category, complexity columns (with --prompt-set to pick one set of several)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                        help="weights and activations dtype (default: float32); norms are always reduced "
                             "in float32 or better")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto = cuda if available)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N",
                        help="prompts per forward pass, right-padded (default: 8)")
    parser.add_argument("--attention", action="store_true",
                        help="also measure attention statistics per head (eager attention; slower)")
    parser.add_argument("--out", type=Path, default=MEASURED_DIR,
                        help=f"directory of the measured tables (default: {MEASURED_DIR})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m measure",
        description="Measure residual-stream norms and gains, per-head W_V/W_O spectra and attention "
                    "statistics of Hugging Face causal LMs into tidy CSV tables (data/measured/).",
    )
    parser.add_argument("--version", action="version", version=f"thermo-audit {measure.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="measure one model",
                         description="Measure one model on one prompt set; its rows replace earlier rows of the "
                                     "same model (and prompt set) and every other model's rows are kept.")
    run.add_argument("--model", required=True, metavar="HF_ID_OR_PATH",
                     help="Hugging Face id, local folder, or a registry name (see `ls models`)")
    run.add_argument("--gguf-file", metavar="NAME", help="GGUF file inside the --model folder (dequantised to float)")
    run.add_argument("--random-init", action="store_true",
                     help="random weights at the model's architecture (the family's own initialisation)")
    run.add_argument("--seed", type=int, default=0, help="seed of --random-init (default: 0)")
    run.add_argument("--name", help="model name in the tables (default: registry name or the id's last part)")
    run.add_argument("--revision", help="hub revision (branch, tag or commit) to load")
    run.add_argument("--trust-remote-code", action="store_true",
                     help="allow modelling code from the model repository (off by default)")
    _add_run_options(run)

    panel = sub.add_parser("panel", help="measure a named panel of models",
                           description="Measure every model of a panel (see `ls panels`), skipping models already "
                                       "measured with the same prompts, dtype and attention flag.")
    panel.add_argument("name", help="paper3 | offline-demo | arch-controls")
    panel.add_argument("--dry-run", action="store_true",
                       help="print each model's estimated memory and what would be measured or skipped")
    panel.add_argument("--force", action="store_true", help="re-measure models already measured")
    _add_run_options(panel)

    imp = sub.add_parser("import-published", help="import the authors' published result files",
                         description="Read the paper's result files into tidy tables under data/published/.")
    imp.add_argument("source", help="folder of the result files (e.g. ../shared/paper3/Results) or 'download' "
                                    "(from the pinned commit, SHA-256 checked)")
    imp.add_argument("--out", type=Path, default=PUBLISHED_DIR, help=f"output directory (default: {PUBLISHED_DIR})")

    ls = sub.add_parser("ls", help="list what is known",
                        description="List supported architectures, panels, prompt sets or registry models.")
    ls.add_argument("what", choices=["architectures", "panels", "prompt-sets", "models"])
    return parser


def _prompts(args):
    if args.prompts is not None:
        return read_prompt_file(args.prompts, args.prompt_set)
    return load_prompt_set(args.prompt_set or DEFAULT_SET)


def _cmd_run(args) -> int:
    from measure.loading import load_model
    from measure.runner import RunOptions, measure_model, write_measurement

    prompts = _prompts(args)
    loaded = load_model(args.model, gguf_file=args.gguf_file, dtype=args.dtype, device=args.device,
                        attention=args.attention, random_init=args.random_init, seed=args.seed,
                        revision=args.revision, trust_remote_code=args.trust_remote_code, name=args.name)
    options = RunOptions(batch_size=args.batch_size, attention=args.attention, progress=not args.no_progress,
                         command=shlex.join(["python", "-m", "measure", *sys.argv[1:]]))
    paths = write_measurement(measure_model(loaded, prompts, options), args.out)
    print(f"{loaded.name}: {len(prompts)} prompts of {prompts['prompt_set'].iloc[0]} -> "
          f"{', '.join(p.name for p in paths)} in {args.out}")
    return 0


def _cmd_panel(args) -> int:
    from measure.panels import plan, run_panel

    prompts = _prompts(args)
    if args.dry_run:
        items = plan(args.name, prompts, args.dtype, args.device, args.attention, args.out, args.force)
        width = max(len(item.model) for item in items)
        for item in items:
            print(f"{item.model:<{width}}  ~{item.memory_gb:6.1f} GiB  {item.status}")
        return 0
    failures = run_panel(args.name, prompts, dtype=args.dtype, device=args.device, attention=args.attention,
                         batch_size=args.batch_size, out_dir=args.out, force=args.force,
                         progress=not args.no_progress,
                         command=shlex.join(["python", "-m", "measure", *sys.argv[1:]]))
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _cmd_import(args) -> int:
    from measure.published.importer import import_published

    written = import_published(args.source, args.out)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def _cmd_ls(args) -> int:
    if args.what == "architectures":
        from measure.adapters import supported_model_types
        print("\n".join(supported_model_types()))
    elif args.what == "prompt-sets":
        from measure.prompts import known_prompt_sets
        for name, path in sorted(known_prompt_sets().items()):
            print(f"{name}\t{path}")
    else:
        from contract.registry import load_registry
        registry = load_registry()
        if args.what == "panels":
            panels = sorted({p for cell in registry["panels"].dropna() for p in cell.split(";")})
            for panel in panels:
                members = registry[registry["panels"].str.split(";").apply(lambda ps, p=panel: p in ps)]
                print(f"{panel}\t{len(members)} models: {', '.join(members['model'])}")
        else:
            print(registry[["model", "hf_id", "lab", "family", "panels"]].to_string(index=False))
    return 0


COMMANDS = {"run": _cmd_run, "panel": _cmd_panel, "import-published": _cmd_import, "ls": _cmd_ls}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose or args.command == "panel" else logging.WARNING,
                        format="%(levelname)s %(message)s")
    try:
        return COMMANDS[args.command](args)
    except ThermoAuditError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: tables of finished models are written; nothing partial was.", file=sys.stderr)
        return 130
