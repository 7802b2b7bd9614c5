"""Weave an executed document into pandoc markdown: prose with inline values, then each
cell's code (when echoed) and outputs, the way Quarto's Jupyter engine writes them.

A `fig-`/`tbl-` labelled cell becomes a div `::: {#fig-x fig-cap="..."}` that the Lua filter
report/filters/crossref.lua turns into a numbered figure or table; a cell's `fig-alt` becomes the
alt text of its images, as in Quarto.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from report.execute import error_text
from report.qmd import Cell, Prose, QmdDocument

# Characters that would change the meaning of plain inline text in pandoc markdown.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~^$@])")
IMAGE_TYPES = {"image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpg"}


def weave(document: QmdDocument, files_dir: Path) -> str:
    """The document body as pandoc markdown; figures are written to `files_dir` (inside the document's directory)."""
    parts = []
    for chunk in document.chunks:
        if isinstance(chunk, Prose):
            parts.append(_prose(chunk))
        elif isinstance(chunk, Cell):
            cell = _cell(chunk, files_dir, document.path.parent)
            parts.append(f"\n{cell}\n\n" if cell else "")
        else:
            parts.append(chunk.text)
    return "".join(parts)


def escape_markdown(text: str) -> str:
    """Plain text that pandoc reads back literally (Quarto escapes non-Markdown inline values)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.splitlines()))


def _prose(prose: Prose) -> str:
    """The prose with each inline expression replaced by its value."""
    pieces, end = [], 0
    for (match, _line), (is_markdown, text) in zip(prose.inline_expressions(), prose.values):
        pieces += [prose.text[end : match.start()], text if is_markdown else escape_markdown(text)]
        end = match.end()
    return "".join(pieces) + prose.text[end:]


def _cell(cell: Cell, files_dir: Path, document_dir: Path) -> str:
    """The cell's code (when echoed) and shown outputs; in a div named by its label, if any."""
    options = cell.options
    if not options["include"]:
        return ""
    parts = [_fenced(cell.source, "{.python .cell-code}")] if options["echo"] else []
    outputs = []
    if options["output"] is not False:
        for index, output in enumerate(cell.outputs, start=1):
            markdown = _output(output, options, files_dir / f"cell{cell.number}-{index}", document_dir)
            if markdown:
                outputs.append(markdown)
    label = str(options.get("label", ""))
    kind = label.split("-")[0]
    if outputs and kind in ("fig", "tbl"):
        caption = str(options.get(f"{kind}-cap", ""))
        parts.append(_div(outputs, f"#{label} {kind}-cap={_quoted(caption)}"))
    elif outputs and label:
        parts.append(_div(outputs, f"#{label} .cell"))
    else:
        parts.extend(outputs)
    return "\n\n".join(parts)


def _output(output, options: dict, image_stem: Path, document_dir: Path) -> str | None:
    """One nbformat output as markdown, or None when it is not shown."""
    asis = options["output"] == "asis"
    if output.output_type == "stream":
        if output.name == "stderr" and not options["warning"]:
            return None
        return output.text if asis else _fenced(output.text, f"{{.cell-output .cell-output-{output.name}}}")
    if output.output_type == "error":  # kept only when the cell has `error: true`
        return _fenced(error_text(output), "{.cell-output .cell-output-error}")
    data = output.data
    if "text/markdown" in data:
        return data["text/markdown"]
    for mimetype, suffix in IMAGE_TYPES.items():
        if mimetype in data:
            path = _save_image(data[mimetype], image_stem.with_suffix("." + suffix))
            # An unlabelled cell with a fig-cap gets an unnumbered captioned figure, as in Quarto.
            caption = "" if options.get("label") else options.get("fig-cap", "")
            alt = f"{{alt={_quoted(str(options['fig-alt']))}}}" if options.get("fig-alt") else ""
            return f"![{caption}]({path.relative_to(document_dir).as_posix()}){alt}"
    if "text/html" in data:  # e.g. a pandas DataFrame: the Lua filter html_tables.lua makes tables of it
        return _fenced(data["text/html"], "{=html}")
    if "text/plain" in data:
        return data["text/plain"] if asis else _fenced(data["text/plain"], "{.cell-output .cell-output-display}")
    return None


def _save_image(content: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".svg":
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(base64.b64decode(content))
    return path


def _fenced(text: str, attributes: str) -> str:
    """A fenced block whose fence is longer than any backtick run inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{attributes}\n{text.rstrip()}\n{fence}"


def _div(blocks: list[str], attributes: str) -> str:
    body = "\n\n".join(blocks)
    return f"::: {{{attributes}}}\n\n{body}\n\n:::"


def _quoted(text: str) -> str:
    """A pandoc attribute value in double quotes."""
    text = " ".join(text.splitlines())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
