"""Convert woven markdown to self-contained HTML (pandoc) and to PDF (pandoc -> Typst -> typst).

Pandoc 3 comes from pypandoc-binary and the Typst compiler from the `typst` package, so this
works offline. Pandoc runs in the document's directory, as in Quarto, so image paths are
relative to the document.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pypandoc
import typst
import yaml

from report import RenderError

HERE = Path(__file__).parent
FILTERS = [
    HERE / "filters" / name
    for name in ("html_tables.lua", "callouts.lua", "crossref.lua", "abstract.lua", "sections.lua")
]
CSS = HERE / "assets" / "paper.css"
TYPST_HEADER = HERE / "assets" / "header.typ"
# Options that are not passed on as pandoc metadata: Quarto's own, or given to pandoc as arguments.
NOT_METADATA = {
    "format",
    "execute",
    "jupyter",
    "engine",
    "knitr",
    "freeze",
    "filters",
    "embed-resources",
    "html-math-method",
    "css",
    "include-in-header",
    "citeproc",
}


def to_html(markdown: Path, output: Path, options: dict, document_dir: Path) -> None:
    """Self-contained HTML: images as data URIs, MathML (no MathJax CDN), the paper stylesheet."""
    css = [CSS, *_as_list(options.get("css"))]
    args = ["--to=html5", "--embed-resources", "--mathml", "--variable=document-css"]
    args += [f"--css={path}" for path in css]
    output.parent.mkdir(parents=True, exist_ok=True)
    _pandoc(markdown, options, "html", document_dir, [*args, f"--output={output}"])


def to_pdf(markdown: Path, output: Path, options: dict, document_dir: Path) -> None:
    """PDF through Typst; the .typ source is written next to the markdown for inspection.

    The format's ``include-in-header`` files (relative to the document) follow the renderer's own header.
    """
    headers = [TYPST_HEADER, *_as_list(options.get("include-in-header"))]
    args = ["--to=typst", *(f"--include-in-header={path}" for path in headers)]
    source = _pandoc(markdown, options, "typst", document_dir, args)
    typ = markdown.with_suffix(".typ")
    typ.write_text(source, encoding="utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Compiled from memory with the document's directory as root: relative image paths resolve as in pandoc.
        typst.compile(source.encode("utf-8"), output=str(output), root=str(document_dir))
    except typst.TypstError as error:
        details = "\n".join(filter(None, [error.message, error.diagnostic, *error.hints]))
        raise RenderError(f"Typst could not compile {typ.name} (kept with --keep-files):\n{details}") from None


CONVERTERS = {"html": to_html, "typst": to_pdf}


def _pandoc(markdown: Path, options: dict, format_name: str, document_dir: Path, args: list[str]) -> str:
    """Run pandoc on `markdown` (in the document's directory) with the project's filters; return stdout."""
    metadata = markdown.with_suffix(f".{format_name}.yaml")
    metadata.write_text(yaml.safe_dump(pandoc_metadata(options), allow_unicode=True, sort_keys=False), encoding="utf-8")
    command = [
        pypandoc.get_pandoc_path(),
        str(markdown),
        "--from=markdown",
        "--standalone",
        f"--metadata-file={metadata}",
    ]
    command += [f"--lua-filter={path}" for path in FILTERS]
    if options.get("toc"):
        command += ["--toc", f"--toc-depth={options.get('toc-depth', 3)}"]
    if options.get("number-sections"):
        command.append("--number-sections")
    if options.get("bibliography"):
        command.append("--citeproc")
    result = subprocess.run(command + args, cwd=document_dir, capture_output=True, text=True)
    if result.returncode != 0:
        # A Lua filter's error() message, without pandoc's "Error running filter" line and Lua stack.
        message = re.sub(r"^Error running filter \S+:\n", "", result.stderr.split("stack traceback:")[0].strip())
        raise RenderError(f"pandoc could not convert the woven markdown to {format_name}:\n{message}")
    if result.stderr.strip():
        print(result.stderr.strip(), file=sys.stderr)
    return result.stdout


def pandoc_metadata(options: dict) -> dict:
    """Document options as pandoc metadata: Quarto-only keys dropped, authors and dates normalised."""
    metadata = {key: value for key, value in options.items() if key not in NOT_METADATA}
    if "author" in metadata:
        metadata["author"] = [_author_name(author) for author in _as_list(metadata["author"])]
    if metadata.get("date") in ("today", "now"):
        today = dt.date.today()
        metadata["date"] = f"{today:%B} {today.day}, {today:%Y}"
    metadata.setdefault("lang", "en")
    metadata.setdefault("pagetitle", metadata.get("title", "Report"))
    metadata.setdefault("page-numbering", "1")  # Typst pages are numbered, as in Quarto
    return metadata


def _author_name(author) -> str:
    """Quarto allows `author: [{name: ..., affiliations: ...}]`; pandoc's templates want names."""
    if isinstance(author, dict):
        name = author.get("name", "")
        return name.get("literal", "") if isinstance(name, dict) else str(name)
    return str(author)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
