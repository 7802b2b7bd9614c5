"""Parse a Quarto markdown (.qmd) file into front matter, prose and code cells.

Quarto's rule: only a fenced block opened with ```{python} is executed; its leading
`#| key: value` lines are the cell options (YAML). Every other fenced block (```python,
```{=html}, ```) is kept verbatim, and inline expressions `{python} expr` are looked for
in prose only, never inside a fenced block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from report import RenderError

FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
EXECUTABLE = re.compile(r"^\{\s*(?P<lang>[A-Za-z][\w+-]*)[\s,}]")  # {python}, not {.python} or {=html}
OPTION = re.compile(r"^#\|\s?(?P<yaml>.*)$")
# Cell options and their Quarto defaults; a document's `execute:` options override them.
CELL_DEFAULTS = {"eval": True, "echo": True, "output": True, "include": True, "warning": True, "error": False}
INLINE = re.compile(r"`\{(?P<lang>[A-Za-z]\w*)\}[ \t]+(?P<expr>[^`\n]+?)[ \t]*`")


@dataclass
class Prose:
    """Markdown text that may contain inline expressions."""

    text: str
    line: int  # line of the first character in the .qmd file
    values: list = field(default_factory=list)  # filled by report.execute: one per inline expression

    def inline_expressions(self):
        """The inline `{python} expr` matches in this text, with their line numbers."""
        for match in INLINE.finditer(self.text):
            yield match, self.line + self.text.count("\n", 0, match.start())


@dataclass
class Verbatim:
    """A fenced block that is not executed (a code listing, a raw block)."""

    text: str
    line: int


@dataclass
class Cell:
    """An executable ```{python} cell."""

    source: str  # the code, without the option lines
    options: dict
    line: int  # line of the opening fence
    number: int  # 1-based position among the document's cells
    outputs: list = field(default_factory=list)  # filled by report.execute (nbformat outputs)

    @property
    def name(self) -> str:
        """How error messages name the cell: its label when it has one."""
        where = f"cell {self.number} at line {self.line}"
        label = self.options.get("label")
        return f"cell '{label}' ({where})" if label else where


@dataclass
class QmdDocument:
    path: Path
    meta: dict  # the YAML front matter
    chunks: list  # Prose | Verbatim | Cell, in document order

    @property
    def cells(self) -> list[Cell]:
        return [chunk for chunk in self.chunks if isinstance(chunk, Cell)]


def parse(path: Path) -> QmdDocument:
    """Read a .qmd file; raise RenderError (without the file name) on malformed front matter or cell options."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    meta, start = _front_matter(lines)
    chunks: list = []
    prose: list[str] = []
    prose_line = start + 1
    i = start
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            prose.append(lines[i])
            i += 1
            continue
        end = _closing_fence(lines, i, opening["fence"])
        if prose:
            chunks.append(Prose("".join(prose), prose_line))
            prose = []
        executable = EXECUTABLE.match(opening["info"] + " ")
        if executable:
            if executable["lang"] != "python":
                raise RenderError(f"line {i + 1}: only {{python}} cells can be executed, not {{{executable['lang']}}}.")
            number = len([c for c in chunks if isinstance(c, Cell)]) + 1
            chunks.append(_cell(lines[i + 1 : end], i + 1, number))
        else:
            chunks.append(Verbatim("".join(lines[i : end + 1]), i + 1))
        i = end + 1
        prose_line = i + 1
    if prose:
        chunks.append(Prose("".join(prose), prose_line))
    return QmdDocument(path, meta, chunks)


def apply_defaults(document: QmdDocument, execute: dict) -> None:
    """Complete each cell's options with the document's `execute:` options and Quarto's defaults."""
    defaults = {**CELL_DEFAULTS, **{key: value for key, value in execute.items() if key in CELL_DEFAULTS}}
    for cell in document.cells:
        cell.options = {**defaults, **cell.options}


def _front_matter(lines: list[str]) -> tuple[dict, int]:
    """The YAML block between the first two `---` lines, and the index of the line after it."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            try:
                meta = yaml.safe_load("".join(lines[1:end])) or {}
            except yaml.YAMLError as error:
                raise RenderError(f"invalid YAML front matter: {error}") from None
            if not isinstance(meta, dict):
                raise RenderError("the front matter must be a YAML mapping.")
            return meta, end + 1
    raise RenderError("the front matter opened on line 1 is never closed with '---'.")


def _closing_fence(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at `start` (len(lines) if it is never closed)."""
    for j in range(start + 1, len(lines)):
        closing = FENCE.match(lines[j])
        if closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(fence) and not closing["info"]:
            return j
    return len(lines)


def _cell(body: list[str], line: int, number: int) -> Cell:
    """Split a cell body into its `#|` options and its code."""
    option_lines = []
    while body and (option := OPTION.match(body[0].rstrip("\n"))):
        option_lines.append(option["yaml"])
        body = body[1:]
    try:
        options = yaml.safe_load("\n".join(option_lines)) or {}
    except yaml.YAMLError as error:
        raise RenderError(f"cell {number} at line {line}: invalid '#|' options: {error}") from None
    if not isinstance(options, dict):
        raise RenderError(f"cell {number} at line {line}: '#|' options must be 'key: value' lines.")
    return Cell("".join(body).rstrip("\n"), options, line, number)
