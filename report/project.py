"""The Quarto project as the fallback renderer sees it: _quarto.yml, the documents to
render, each document's merged options, and output paths that mirror Quarto's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from report import RenderError

CONFIG = "_quarto.yml"
# Output suffix of each format the fallback renderer makes ("typst" is Quarto's Typst PDF).
SUFFIXES = {"html": ".html", "typst": ".pdf"}
# What `--to` asks for, in Quarto's format names.
TARGETS = {"html": ["html"], "pdf": ["typst"]}


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding _quarto.yml (else `start`), as Quarto looks."""
    start = start.resolve()
    return next((d for d in (start, *start.parents) if (d / CONFIG).is_file()), start)


def merge(base: dict, override: dict) -> dict:
    """Nested dictionaries merged key by key, `override` winning (Quarto's option inheritance)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class Project:
    root: Path
    config: dict

    @classmethod
    def load(cls, root: Path) -> Project:
        root = root.resolve()
        path = root / CONFIG
        if not root.is_dir():
            raise RenderError(f"No project directory {root}.")
        if not path.is_file():
            return cls(root, {})
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise RenderError(f"{path}: invalid YAML: {error}") from None
        if not isinstance(config, dict):
            raise RenderError(f"{path}: must be a YAML mapping.")
        return cls(root, config)

    @property
    def settings(self) -> dict:
        """The `project:` section."""
        return self.config.get("project") or {}

    @property
    def output_dir(self) -> Path:
        return self.root / self.settings.get("output-dir", ".")

    def scripts(self, stage: str) -> list[str]:
        """The `pre-render` or `post-render` commands."""
        scripts = self.settings.get(stage) or []
        return [scripts] if isinstance(scripts, str) else list(scripts)

    def documents(self, selected: list[Path] | None = None) -> list[Path]:
        """The documents to render: `selected`, else the render list, else every .qmd file."""
        if selected:
            paths = [path.resolve() for path in selected]
        elif "render" in self.settings:
            paths = [(self.root / path).resolve() for path in self.settings["render"]]
        else:
            paths = sorted(
                path.resolve()
                for path in self.root.rglob("*.qmd")
                if not any(part.startswith(("_", ".")) for part in path.relative_to(self.root).parts)
            )
        for path in paths:
            if not path.is_file():
                raise RenderError(f"No document {path}.")
            if not path.is_relative_to(self.root):
                raise RenderError(f"{path} is outside the project {self.root}.")
        return paths

    def output_path(self, document: Path, format_name: str) -> Path:
        """Where Quarto writes `document` in `format_name`: output-dir + its path in the project."""
        return self.output_dir / document.relative_to(self.root).with_suffix(SUFFIXES[format_name])

    def options(self, front_matter: dict) -> dict:
        """A document's options: _quarto.yml (without `project:`), then its front matter."""
        shared = {key: value for key, value in self.config.items() if key != "project"}
        return merge(shared, front_matter)


def formats_to_render(options: dict, to: str) -> list[str]:
    """Quarto format names to make for `--to` html|pdf|all; `all` is what the document declares."""
    if to in TARGETS:
        return TARGETS[to]
    declared = options.get("format", "html")
    declared = [declared] if isinstance(declared, str) else list(declared)
    formats = [name for name in declared if name in SUFFIXES]
    if not formats:
        raise RenderError(f"None of the formats {declared} can be rendered without Quarto (only html and typst).")
    return formats


def format_options(options: dict, format_name: str) -> dict:
    """The options for one format: the document's, overridden by its `format: <name>:` block."""
    declared = options.get("format")
    specific = declared.get(format_name) if isinstance(declared, dict) else None
    return merge(options, specific if isinstance(specific, dict) else {})
