"""Render a Quarto project: with `quarto render` when Quarto is installed, otherwise with the
project's own renderer, one document at a time:

    parse (report.qmd) -> execute in one kernel (report.execute) -> weave markdown
    (report.weave) -> HTML and PDF (report.convert, with the Lua filters in report/filters)

Intermediate files (markdown, figures, Typst source) go to `<document>_files/` next to the
document, as with Quarto, and are removed afterwards unless `keep_files` is set.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from report import RenderError, qmd
from report.convert import CONVERTERS
from report.execute import execute
from report.project import Project, format_options, formats_to_render
from report.weave import weave

FIGURE_DEFAULTS = {"fig-width": 7, "fig-height": 5, "fig-dpi": 144, "fig-format": "png"}
QUARTO_TARGETS = {"html": "html", "pdf": "typst"}


def render_with_quarto(quarto: str, project_dir: Path, documents: list[Path], to: str) -> None:
    """`quarto render` on the project, or on each of `documents`."""
    target = ["--to", QUARTO_TARGETS[to]] if to in QUARTO_TARGETS else []
    # Quarto runs Python (cells, the pre-render script) with QUARTO_PYTHON: make it this interpreter.
    env = {**os.environ, "QUARTO_PYTHON": os.environ.get("QUARTO_PYTHON", sys.executable)}
    for inputs in [[str(path.resolve())] for path in documents] or [[]]:
        status = subprocess.run([quarto, "render", *inputs, *target], cwd=project_dir, env=env).returncode
        if status != 0:
            raise RenderError(
                f"`quarto render {' '.join(inputs)}` failed with exit status {status} (its messages are above)."
            )


def render(
    project_dir: Path, documents: list[Path] | None = None, to: str = "all", keep_files: bool = False
) -> list[Path]:
    """Render with the fallback renderer; return the files written."""
    project = Project.load(project_dir)
    paths = project.documents(documents)
    run_scripts(project, "pre-render", render_all=not documents)
    outputs = []
    for path in paths:
        outputs += render_document(project, path, to, keep_files)
    run_scripts(project, "post-render", render_all=not documents)
    return outputs


def render_document(project: Project, path: Path, to: str, keep_files: bool = False) -> list[Path]:
    """Render one .qmd file; errors are prefixed with its path in the project."""
    started = time.perf_counter()
    name = path.relative_to(project.root)
    print(f"Rendering {name}", flush=True)
    files_dir = path.parent / f"{path.stem}_files"
    try:
        outputs = _render(project, path, to, files_dir)
    except RenderError as error:
        raise RenderError(f"{name}: {error}") from None
    finally:
        if not keep_files:
            shutil.rmtree(files_dir, ignore_errors=True)
    written = ", ".join(os.path.relpath(output, project.root) for output in outputs)
    print(f"  -> {written} ({time.perf_counter() - started:.1f} s)", flush=True)
    return outputs


def _render(project: Project, path: Path, to: str, files_dir: Path) -> list[Path]:
    """Parse, execute once, weave into `files_dir`, then write each requested format."""
    document = qmd.parse(path)
    options = project.options(document.meta)
    formats = formats_to_render(options, to)
    qmd.apply_defaults(document, options.get("execute") or {})

    kernel = options.get("jupyter")
    cwd = project.root if project.settings.get("execute-dir") == "project" else path.parent
    figure = {key: options.get(key, default) for key, default in FIGURE_DEFAULTS.items()}
    execute(document, kernel if isinstance(kernel, str) else "python3", cwd, figure)

    files_dir.mkdir(exist_ok=True)
    markdown = files_dir / f"{path.stem}.md"
    markdown.write_text(weave(document, files_dir), encoding="utf-8")
    outputs = []
    for format_name in formats:
        output = project.output_path(path, format_name)
        CONVERTERS[format_name](markdown, output, format_options(options, format_name), path.parent)
        outputs.append(output)
    return outputs


def run_scripts(project: Project, stage: str, render_all: bool) -> None:
    """Run the project's pre-render or post-render commands as Quarto does: in the project
    directory, `.py` scripts with this Python, anything else through the shell."""
    env = {
        **os.environ,
        "QUARTO_PROJECT_DIR": str(project.root),
        "QUARTO_PROJECT_OUTPUT_DIR": str(project.output_dir),
        "QUARTO_PROJECT_RENDER_ALL": "1" if render_all else "",
    }
    for script in project.scripts(stage):
        words = shlex.split(script)
        command = [sys.executable, *words] if words and words[0].endswith(".py") else script
        print(f"{stage}: {script}", flush=True)
        status = subprocess.run(command, cwd=project.root, env=env, shell=isinstance(command, str)).returncode
        if status != 0:
            raise RenderError(f"The {stage} step `{script}` failed with exit status {status} (its messages are above).")
