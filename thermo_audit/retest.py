"""``thermo-audit retest``: confront your own model(s) with every law of the paper.

Measures what is not yet measured (each model on the chosen prompt set: the paper's GU25 when the
published results are imported, else the project's core25), then writes a claim card per run
(``report.card.retest``): per model and law the prediction in the law's own convention with its
uncertainty, the measurement, and consistent / inconsistent / not applicable; and how the paper's
panel statistics move when the models join the published panel. The card folder is replaced whole.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contract.errors import UsageError
from contract.paths import data_paths, writable_folder


def build_parser() -> argparse.ArgumentParser:
    from analysis.claims import Settings
    from measure.cli import _add_run_options, positive_int
    from thermo_audit.cli import add_common

    parser = argparse.ArgumentParser(
        prog="thermo-audit retest",
        description="Confront your own model(s) with every law of D'Elia (2026) that predicts something for a single "
        "model: measures what is not measured yet, then writes a claim card (claim_card.csv, card.md, "
        "card.html) and how the paper's panel statistics move when your models join the published "
        "panel.",
    )
    add_common(parser)
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="HF_ID_OR_PATH",
        help="a model to re-test (repeat for several): hub id, local folder or registry name",
    )
    parser.add_argument(
        "--panel",
        type=Path,
        metavar="FILE.csv",
        help="a panel file of models to re-test (columns as for `thermo-audit measure panel`)",
    )
    parser.add_argument("--name", help="the model's name in the tables (one --model only)")
    parser.add_argument("--gguf-file", metavar="NAME", help="GGUF file inside the --model folder (one --model only)")
    parser.add_argument("--revision", help="hub revision to load (one --model only)")
    parser.add_argument("--lab", help="the lab that trained the model (one --model only; heritage law)")
    parser.add_argument(
        "--twin-of",
        metavar="BASE",
        help="the base model the (one) --model was fine-tuned from; it must be measured too (add it with --model)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        default=None,
        help="folder of the claim card, replaced whole (default: <data dir>/cards/<first model>); "
        "the models are measured into <data dir>/measured",
    )
    parser.add_argument(
        "--resamples",
        type=positive_int,
        default=Settings().n_resamples,
        help="bootstrap / permutation resamples (default: %(default)s)",
    )
    _add_run_options(parser, out=False)
    return parser


def _items(args) -> list:
    from measure.panels import load_panel

    single = {
        "--name": args.name,
        "--gguf-file": args.gguf_file,
        "--revision": args.revision,
        "--lab": args.lab,
        "--twin-of": args.twin_of,
    }
    given = [option for option, value in single.items() if value is not None]
    if given and len(args.model) != 1:
        raise UsageError(f"{', '.join(given)} apply to one --model; use a --panel file for several models")
    items = load_panel(str(args.panel)) if args.panel is not None else []
    items += [_item(source, args) for source in args.model]
    if not items:
        raise UsageError("name at least one model: --model HF_ID_OR_PATH (or --panel FILE.csv)")
    return items


def _item(source: str, args):
    """One --model as a panel item, named as ``measure run`` would name it."""
    from contract.errors import ThermoAuditError
    from contract.registry import get_entry
    from measure.panels import PanelItem

    name = args.name
    if name is None:
        try:
            name = get_entry(source)["model"]
        except ThermoAuditError:
            name = Path(source.rstrip("/")).name.lower()
        name += f"@{args.revision}" if args.revision else ""
    return PanelItem(
        model=name, source=source, revision=args.revision, gguf_file=args.gguf_file, lab=args.lab, twin_of=args.twin_of
    )


def _prompts(args):
    from measure.prompts import load_prompt_set, read_prompt_file

    if args.prompts is not None:
        return read_prompt_file(args.prompts, args.prompt_set)
    if args.prompt_set is not None:
        return load_prompt_set(args.prompt_set)
    return load_prompt_set("GU25" if (data_paths().published / "prompts.csv").is_file() else "core25")


def _retest(args) -> int:
    from measure.cli import require_torch

    require_torch()
    import pandas as pd

    from analysis.claims import Settings
    from analysis.sources import load_sources
    from contract.atomic import staged_directory
    from measure.loading import resolve_device
    from measure.panels import measure_item, plan
    from report.card import retest

    items = _items(args)
    prompts = _prompts(args)
    paths = data_paths()
    measured = writable_folder(paths.measured, "the measured data folder")
    resolve_device(args.device)
    card_dir = args.out if args.out is not None else paths.root / "cards" / items[0].model.replace("/", "_")
    writable_folder(card_dir.parent, "--out's parent folder")
    for item in plan(items, prompts, args.dtype, args.device, args.attention, measured, batch_size=args.batch_size):
        if item.status.startswith("skip: already"):
            print(f"{item.model}: already measured on {prompts['prompt_set'].iloc[0]}")
            continue
        path = measure_item(
            item,
            prompts,
            measured,
            dtype=args.dtype,
            device=args.device,
            attention=args.attention,
            batch_size=args.batch_size,
            progress=not args.no_progress,
            command=None,
            device_map=args.device_map,
            offload_folder=args.offload_folder,
        )
        print(f"{item.model}: measured -> {path}")
    sources = load_sources(measured, paths.published)
    models = [item.model for item in items]
    twins = {item.model: item.twin_of for item in items if item.twin_of}
    with staged_directory(card_dir) as staging:
        written = retest(
            sources,
            models,
            Settings(n_resamples=args.resamples),
            staging,
            prompt_set=prompts["prompt_set"].iloc[0],
            twin_of=twins or None,
        )
    card = pd.read_csv(card_dir / written["claim_card"].name)
    for model, rows in card.groupby("model", sort=False):
        counts = rows["consistent"].value_counts()
        print(
            f"{model}: "
            + ", ".join(
                f"{counts[v]} {v}" for v in ("consistent", "inconsistent", "not applicable", "error") if v in counts
            )
        )
    print(f"claim card: {card_dir / 'card.html'} (also card.md, claim_card.csv, panel_shift.csv)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from thermo_audit.cli import common_options, guarded, parse, verbose

    args = parse(build_parser(), sys.argv[1:] if argv is None else argv)
    with common_options(args):
        return guarded(lambda: _retest(args), verbose(args))
