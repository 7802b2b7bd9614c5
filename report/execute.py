"""Run a document's cells and inline expressions in order, in one Jupyter kernel.

As in Quarto, the kernel's working directory is the document's directory (unless the
project sets `execute-dir: project`), and an inline `{python} expr` is evaluated after the
cells before it (and before the cells after it).
Outputs are stored on the parsed chunks (`Cell.outputs`, `Prose.values`) for report.weave.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from report import RenderError
from report.qmd import Cell, Prose, QmdDocument

CELL_TIMEOUT_S = 600
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Run once, silently, when the kernel starts: figure settings and the inline-value helper.
SETUP_CODE = """\
%config InlineBackend.figure_formats = [{format!r}]
%config InlineBackend.rc = {{"figure.figsize": ({width}, {height}), "figure.dpi": {dpi}}}

def _report_inline(value):
    \"\"\"Publish an inline expression's value: Markdown objects as markdown, anything else as str().\"\"\"
    from IPython.display import publish_display_data
    markdown = value._repr_markdown_() if hasattr(value, "_repr_markdown_") else None
    if isinstance(markdown, tuple):
        markdown = markdown[0]
    if markdown is not None:
        publish_display_data({{"text/markdown": markdown}})
    else:
        publish_display_data({{"text/plain": str(value)}})
"""


class CodeError(Exception):
    """Code raised in the kernel; the message is the end of its traceback."""


class Kernel(contextlib.AbstractContextManager):
    """One Jupyter kernel, started on first use in `cwd`; shut down when the `with` block ends."""

    def __init__(self, name: str, cwd: Path, setup_code: str):
        self.name = name
        self.setup_code = setup_code
        self.notebook = nbformat.v4.new_notebook()
        self.client = NotebookClient(
            self.notebook,
            kernel_name=name,
            timeout=CELL_TIMEOUT_S,
            allow_errors=True,  # errors come back as outputs; run() decides what to do with them
            resources={"metadata": {"path": str(cwd)}},
        )
        self._running = contextlib.ExitStack()
        self._started = False

    def __exit__(self, *exc_info):
        self._running.close()

    def run(self, code: str, *, allow_error: bool = False) -> list:
        """Execute `code`; return its nbformat outputs; raise CodeError if it fails and errors are not allowed."""
        if not self._started:
            self._start()
        outputs = self._execute(code)
        for output in outputs:
            if output.output_type == "error" and not allow_error:
                raise CodeError(error_text(output))
        return outputs

    def _start(self):
        self._started = True
        try:
            # The kernel's own log (e.g. a TCP-transport notice) is noise in a render log.
            self._running.enter_context(self.client.setup_kernel(stderr=subprocess.DEVNULL))
        except NoSuchKernel:
            raise RenderError(f"No Jupyter kernel named '{self.name}' (see `jupyter kernelspec list`).") from None
        try:
            self.run(self.setup_code)
        except CodeError as error:
            raise RenderError(f"The kernel setup failed (check the fig-* options):\n{_indent(str(error))}") from None

    def _execute(self, code: str) -> list:
        cell = nbformat.v4.new_code_cell(code)
        self.notebook.cells.append(cell)
        try:
            self.client.execute_cell(cell, len(self.notebook.cells) - 1)
        except CellTimeoutError:
            raise CodeError(f"TimeoutError: no result after {CELL_TIMEOUT_S} s") from None
        except DeadKernelError as error:
            raise CodeError(f"The kernel died: {error}") from None
        return cell.outputs


def error_text(output, last_lines: int = 8) -> str:
    """The last lines of an error output's traceback, without terminal colours."""
    lines = ANSI_ESCAPE.sub("", "\n".join(output.traceback)).strip().splitlines()
    traceback = [line for line in lines if line.strip("-")]  # drop IPython's ---- rule
    return "\n".join(traceback[-last_lines:]) or f"{output.ename}: {output.evalue}"


def execute(document: QmdDocument, kernel_name: str, cwd: Path, figure: dict) -> None:
    """Run every cell (unless `eval: false`) and inline expression of `document`, in order, in `cwd`.

    `figure` holds fig-width, fig-height (inches), fig-dpi and fig-format (png|svg).
    """
    setup = SETUP_CODE.format(
        format=figure["fig-format"], width=figure["fig-width"], height=figure["fig-height"], dpi=figure["fig-dpi"]
    )
    with Kernel(kernel_name, cwd, setup) as kernel:
        for chunk in document.chunks:
            if isinstance(chunk, Prose):
                _evaluate_inline(chunk, kernel)
            elif isinstance(chunk, Cell) and chunk.options["eval"]:
                try:
                    chunk.outputs = kernel.run(chunk.source, allow_error=bool(chunk.options["error"]))
                except CodeError as error:
                    raise RenderError(f"{chunk.name} failed:\n{_indent(str(error))}") from None


def _evaluate_inline(prose: Prose, kernel: Kernel) -> None:
    """Store (is_markdown, text) in `prose.values` for each inline expression, in order."""
    for match, line in prose.inline_expressions():
        where = f"inline expression `{{{match['lang']}}} {match['expr']}` at line {line}"
        if match["lang"] != "python":
            raise RenderError(f"{where}: only {{python}} inline expressions can be evaluated.")
        try:
            outputs = kernel.run(f"_report_inline((\n{match['expr']}\n))")
        except CodeError as error:
            raise RenderError(f"{where} failed:\n{_indent(str(error))}") from None
        data = next((o.data for o in outputs if o.output_type == "display_data"), {})
        is_markdown = "text/markdown" in data
        prose.values.append((is_markdown, data.get("text/markdown" if is_markdown else "text/plain", "")))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
