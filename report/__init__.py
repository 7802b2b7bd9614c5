"""The report: Quarto sources (report/*.qmd) and the renderer used where Quarto is absent.

`python -m report` runs `quarto render` when the `quarto` binary is on PATH; otherwise the
project's own renderer renders the same sources (see report/render.py):

    _quarto.yml + *.qmd --qmd--> prose and cells --execute--> outputs (one Jupyter kernel)
        --weave--> pandoc markdown --convert--> HTML (pandoc) and PDF (pandoc -> Typst)

What index.qmd uses: report.refs (sentences and links about claims, from claims.csv),
report.findings (the abstract's findings and the counts of verdicts), report.numbers (the one way
numbers are written), report.tables (the claims table, the appendix, downloads), report.plots (the
figures), report.retesting (the section "Re-testing with new models",
from the re-test tables); report.published gets the authors' data for `make report`. report.card
writes the claim card of `thermo-audit retest`.
"""

from contract.errors import ThermoAuditError


class RenderError(ThermoAuditError):
    """An expected failure (bad source, failing cell, unresolved reference): reported without a traceback."""
