"""`python -m report`: render the report (see report/render.py)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from contract.errors import UsageError
from thermo_audit.cli import add_common, common_options, guarded, parse, verbose

# What the project's own renderer and the report's cells need (the `report` extra).
REPORT_MODULES = ("yaml", "nbclient", "nbformat", "ipykernel", "jupyter_client", "pypandoc", "typst", "adjustText")

DESCRIPTION = """\
Render the Quarto project (the nearest _quarto.yml at or above the current directory, or
--project). With the `quarto` binary on PATH this runs `quarto render`; without it (or with
--no-quarto) the project's own renderer renders the same sources: cells run in order in one
Jupyter kernel per document, inline `{python} expr` values are inserted, pandoc 3 writes
self-contained HTML and Typst writes the PDF, into the project's output-dir."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="thermo-audit report", description=DESCRIPTION)
    parser.add_argument(
        "documents", nargs="*", type=Path, help="render only these .qmd files (default: the project's render list)"
    )
    parser.add_argument("--project", type=Path, help="project directory (default: found from the current directory)")
    parser.add_argument(
        "--to",
        choices=["html", "pdf", "all"],
        default="all",
        help="output format (default: all the formats the project declares)",
    )
    engine = parser.add_mutually_exclusive_group()
    engine.add_argument("--quarto", dest="use_quarto", action="store_true", default=None, help="require Quarto")
    engine.add_argument(
        "--no-quarto",
        dest="use_quarto",
        action="store_false",
        help="use the project's own renderer even if Quarto is installed",
    )
    parser.add_argument(
        "--keep-files",
        action="store_true",
        help="own renderer: keep the intermediate markdown, figures and Typst source in <document>_files/",
    )
    add_common(parser)
    args = parse(parser, sys.argv[1:] if argv is None else argv)
    with common_options(args):
        return guarded(lambda: _render(args), verbose(args))


def _render(args) -> int:
    import importlib.util

    missing = [name for name in REPORT_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"rendering the report needs {', '.join(missing)}: pip install 'thermo-audit[report]'")
    from report import RenderError
    from report.project import find_root
    from report.render import render, render_with_quarto

    project_dir = args.project or find_root(Path.cwd())
    quarto = shutil.which("quarto")
    if args.use_quarto and not quarto:
        raise RenderError(
            "--quarto was given but there is no `quarto` on PATH; leave it out to use the project's own renderer."
        )
    if quarto and args.use_quarto is not False:
        render_with_quarto(quarto, project_dir, args.documents, args.to)
    else:
        render(project_dir, args.documents or None, args.to, args.keep_files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
