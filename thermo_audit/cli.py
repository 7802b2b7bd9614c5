"""``thermo-audit``: the one command line of the project, and its exit-code policy.

    thermo-audit [--data-dir DIR] [-v] measure {run,panel,import-published,migrate,rm,export,ls} ...
    thermo-audit [--data-dir DIR] [-v] analyse [...]
    thermo-audit [--data-dir DIR] [-v] report [...]
    thermo-audit [--data-dir DIR] [-v] retest --model X [...]
    thermo-audit [--data-dir DIR] ls {claims,architectures,panels,prompt-sets,models,runs}

``python -m measure``, ``python -m analysis`` and ``python -m report`` are aliases of the first three.
Exit status: 0 done; 1 some items failed (e.g. models of a panel; each is reported); 2 the command
could not run (bad input, missing or damaged data, a write that failed), with one line saying why
and nothing written (``-v`` adds the traceback); 130 interrupted (committed runs are kept, the run
in progress is not written).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from thermo_audit import __version__

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
DATA_DIR_ENV = "THERMO_AUDIT_DATA"


def guarded(command: Callable[[], int], verbose: bool = False) -> int:
    """Run ``command`` under the exit-code policy of the module docstring."""
    from contract.errors import ThermoAuditError

    try:
        return command()
    except ThermoAuditError as err:
        if verbose:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted: committed runs and tables are kept; the one in progress was not written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of the output went away (`thermo-audit ls claims | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def add_common(parser: argparse.ArgumentParser) -> None:
    """``-v`` and ``--data-dir``, accepted at every level of the command (defaults suppressed so a
    subcommand never resets what an outer level set)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log more, and show tracebacks of errors",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        default=argparse.SUPPRESS,
        help=f"data folder holding measured/, published/ and derived/ (default: ${DATA_DIR_ENV}, "
        "else data/ in the project folder)",
    )


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    names = set()
    for action in parser._actions:
        names.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                names |= _option_strings(subparser)
    return names


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, but an option no command knows (a typo) is named first, with the
    closest known options, instead of argparse's complaint about a required option it hides."""
    from contract.registry import suggest

    known = _option_strings(parser)
    for word in argv:
        if word == "--":
            break
        name = word.split("=", 1)[0]
        if name.startswith("--") and name not in known:
            parser.error(f"unknown option {name}.{suggest(name, sorted(known))}")
    return parser.parse_args(argv)


def verbose(args: argparse.Namespace) -> bool:
    return getattr(args, "verbose", False)


@contextmanager
def common_options(args: argparse.Namespace):
    """Set up logging and, for the duration of the command, export ``--data-dir`` so every stage (and
    a stage's subprocess, such as the report's pre-render step) sees it."""
    logging.basicConfig(level=logging.INFO if verbose(args) else logging.WARNING, format="%(levelname)s %(message)s")
    if getattr(args, "data_dir", None) is None:
        yield
        return
    previous = os.environ.get(DATA_DIR_ENV)
    os.environ[DATA_DIR_ENV] = str(Path(args.data_dir).resolve())
    try:
        yield
    finally:
        if previous is None:
            del os.environ[DATA_DIR_ENV]
        else:
            os.environ[DATA_DIR_ENV] = previous


def build_parser() -> argparse.ArgumentParser:
    from measure.cli import add_measure_commands

    parser = argparse.ArgumentParser(
        prog="thermo-audit",
        description="Measure how transformer language models grow or damp their residual stream, their attention "
        "value/output spectra and attention statistics, and re-test the claims of D'Elia (2026) "
        "with proper statistics. Stages: measure -> analyse -> report; `retest` confronts your own "
        "model with every law of the paper.",
        epilog="Exit status: 0 done; 1 some items failed; 2 bad input or damaged data (nothing written); "
        "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"thermo-audit {__version__}")
    add_common(parser)
    sub = parser.add_subparsers(dest="stage", required=True, metavar="COMMAND")
    measure = sub.add_parser(
        "measure",
        help="measure models into run partitions (data/measured)",
        description="Measure models: residual-stream norms and gains, per-head W_V/W_O "
        "spectra, attention statistics, into tidy tables (one partition per run).",
    )
    add_common(measure)
    add_measure_commands(measure)
    for name, text in (
        ("analyse", "re-test every claim of the paper (data/derived)"),
        ("report", "render the report (Quarto, or the project's own renderer)"),
        ("retest", "confront your own model with every law of the paper: a claim card"),
    ):
        sub.add_parser(name, help=text, add_help=False, description=text)  # parsed by the stage itself
    ls = sub.add_parser(
        "ls",
        help="list claims, architectures, panels, prompt sets, registry models or runs",
        description="List what is known.",
    )
    add_common(ls)
    ls.add_argument("what", choices=["claims", "architectures", "panels", "prompt-sets", "models", "runs"])
    return parser


def _delegate(stage: str, argv: list[str]) -> int:
    if stage == "analyse":
        from analysis.cli import main
    elif stage == "report":
        from report.__main__ import main
    else:
        from thermo_audit.retest import main
    return main(argv)


DELEGATED = ("analyse", "report", "retest")


def _delegated_stage(argv: list[str]) -> int | None:
    """The position of a stage with a command line of its own (analyse, report, retest), if the
    first word after the global options is one."""
    position = 0
    while position < len(argv):
        word = argv[position]
        if word in DELEGATED:
            return position
        if not word.startswith("-"):
            return None
        position += 2 if word == "--data-dir" else 1
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stage = _delegated_stage(argv)
    if stage is not None:  # its own parser reads everything after the stage's name
        args = parse(build_parser(), argv[: stage + 1])
        with common_options(args):
            return _delegate(argv[stage], argv[stage + 1 :])
    args = parse(build_parser(), argv)
    with common_options(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.stage == "ls" and args.what == "claims":
        from analysis.cli import print_claims

        return guarded(print_claims, verbose(args))
    if args.stage == "ls":
        from measure.cli import list_known

        return guarded(lambda: list_known(args.what), verbose(args))
    return guarded(lambda: args.func(args), verbose(args))


if __name__ == "__main__":
    sys.exit(main())
