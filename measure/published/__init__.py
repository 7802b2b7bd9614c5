"""The authors' published results (D'Elia 2026), imported into tidy tables under data/published/.

``import_published(source, out_dir)`` reads the result files of a folder (or downloads them from
the pinned commit, SHA-256 checked) and writes ``values.csv``, ``labels.csv`` and ``prompts.csv``.
``catalogue`` says what every imported ``quantity`` means; ``aliases`` maps the files' model
spellings to the registry's names.
"""

from measure.published.importer import EXPECTED_FILES, import_published

__all__ = ["EXPECTED_FILES", "import_published"]
