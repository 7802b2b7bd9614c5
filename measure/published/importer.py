"""``python -m measure import-published SOURCE``: the authors' result files -> data/published/.

SOURCE is a folder holding the files (tests and CI: ``../shared/paper3/Results``) or "download"
(fetched from the pinned commit into ``<out_dir's folder>/.published-download`` and SHA-256
checked). Either way every file must match the SHA-256 of the pinned commit (``SHA256SUMS``);
a folder with changed files is refused unless ``allow_changed`` is given, and the changed files
are then named in the manifest's provenance. Every expected file is read; a missing or
malformed one is an error naming it; any other file in the folder is ignored with a logged note.
Three tables are written: ``values.csv`` (every number), ``labels.csv`` (the notebooks'
categorical labels) and ``prompts.csv`` (the prompt texts the files contain, ids
``<SET>-<nn>``), with a ``MANIFEST.json`` (row counts, SHA-256, provenance), into a staging
folder that replaces ``out_dir`` whole (``contract.atomic.staged_directory``): an interrupted
import leaves the previous one. Re-importing the same files gives byte-identical tables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from contract.atomic import staged_directory
from contract.folders import write_folder
from contract.hashing import sha256_file
from contract.tables import PROMPTS_TABLE, PUBLISHED_TABLES, validate
from measure.published.catalogue import NOTEBOOKS
from measure.published.download import COMMIT, download_results, fetch_url, read_checksums
from measure.published.readers_benchmark import read_g2l, read_gjp, read_gub, read_twn
from measure.published.readers_frobenius import read_4mv, read_idt, read_lla, read_mpi
from measure.published.readers_residual import read_crg, read_ffn, read_hrh, read_pfs, read_slp
from measure.published.readers_sheaf import (
    read_h4l,
    read_h4v2,
    read_h4x,
    read_lsc,
    read_opa,
    read_restriction_map_summary,
    read_rme,
)
from measure.published.source import PublishedFileError, Rows
from thermo_audit import __version__

log = logging.getLogger("measure.published")


@dataclass(frozen=True)
class Source:
    """One notebook's files: the first is the one whose numbers are kept, the others restate them."""

    notebook: str
    files: tuple[str, ...]
    read: Callable[..., None]


SOURCES: tuple[Source, ...] = (
    Source("SLP", ("scaling_law_multi_pythia_results.json",), read_slp),
    Source("PFS", ("pythia_family_NO_FINAL_LN_20260105_174820.json",), read_pfs),
    Source("CRG", ("clean_residual_NO_FINAL_LN_20260105_173546.json",), read_crg),
    Source("HRH", ("high_rho_hunt_NO_FINAL_LN_20260105_184728.json",), read_hrh),
    Source("FFN", ("ffn_expansion_results.json",), read_ffn),
    Source(
        "GUB", ("thermodynamic_benchmark_20260105_141034.json", "thermodynamic_benchmark_20260105_141034.csv"), read_gub
    ),
    Source(
        "G2L",
        ("gpt2_layernorm_validation_20260105_150306.json", "gpt2_layernorm_validation_20260105_150306.csv"),
        read_g2l,
    ),
    Source("GJP", ("gptj_parallel_test_20260105_152333.json", "gptj_parallel_test_20260105_152333.csv"), read_gjp),
    Source("TWN", ("twin_test_results_20260105_160237.json", "twin_test_results_20260105_160237.csv"), read_twn),
    Source("4MV", ("4model_validation_results.json",), read_4mv),
    Source("MPI", ("mistral_paradox_investigation_results.json",), read_mpi),
    Source("IDT", ("input_dependency_thermodynamics.json",), read_idt),
    Source("LLA", ("llama_anomaly_hypothesis_tests.json",), read_lla),
    Source("RME", ("restriction_maps_results.json",), read_rme),
    Source("H4L", ("H4_validation_20260106_014132.json", "H4_summary_20260106_014132.csv"), read_h4l),
    Source("H4V2", ("H4_v2_validation_20260106_015547.json", "H4_v2_summary_20260106_015547.csv"), read_h4v2),
    Source("H4X", ("H4_v2_extended_20260106_012606.json",), read_h4x),
    Source("LSC", ("l_star_sign_change_20260106_111315.json",), read_lsc),
    Source("OPA", ("OPT_anomaly_20260106_013155.json",), read_opa),
    Source("CSV", ("restriction_map_summary_20260105_202448.csv",), read_restriction_map_summary),
)
EXPECTED_FILES: tuple[str, ...] = tuple(name for source in SOURCES for name in source.files)
_PROMPT_COLUMNS = list(PROMPTS_TABLE.columns) + ["difficulty", "notebooks"]


def import_published(
    source: str | Path,
    out_dir: Path = Path("data/published"),
    *,
    fetch: Callable[[str], bytes] = fetch_url,
    allow_changed: bool = False,
) -> dict[str, Path]:
    """Import the result files in ``source`` (a folder, or "download"); returns table -> written path."""
    out_dir = Path(out_dir)
    downloaded = str(source) == "download"
    folder = download_results(out_dir.parent / ".published-download", fetch) if downloaded else Path(source)
    if not folder.is_dir():
        raise PublishedFileError(f"{folder}: not a folder of the authors' result files")
    missing = [name for name in EXPECTED_FILES if not (folder / name).is_file()]
    if missing:
        raise PublishedFileError(f"{folder}: missing expected file(s): {', '.join(missing)}")
    changed = changed_files(folder)
    if changed and not allow_changed:
        raise PublishedFileError(
            f"{folder}: {len(changed)} file(s) differ from the authors' published files (SHA-256 of the pinned "
            f"commit): {', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''}. "
            "Import them anyway with --allow-changed (recorded in the provenance)."
        )
    for extra in sorted(path.name for path in folder.iterdir() if path.name not in EXPECTED_FILES):
        log.warning("%s: ignored (not one of the result files the importer reads)", folder / extra)
    collected = [_read(source, folder) for source in SOURCES]
    tables = {
        "values": (
            pd.concat([rows.values_frame() for rows in collected], ignore_index=True),
            PUBLISHED_TABLES["values"],
        ),
        "labels": (
            pd.concat([rows.labels_frame() for rows in collected], ignore_index=True),
            PUBLISHED_TABLES["labels"],
        ),
        "prompts": (_prompt_table([prompt for rows in collected for prompt in rows.prompts]), PROMPTS_TABLE),
    }
    tables = {
        name: (validate(frame, table, f"{name} rows from {folder}"), table.float_format)
        for name, (frame, table) in tables.items()
    }
    with staged_directory(out_dir) as staging:
        write_folder(
            staging,
            tables,
            source="download" if downloaded else str(folder.resolve()),
            pinned_commit=COMMIT,
            changed_files=changed,
            package_version=__version__,
        )
    return {name: out_dir / f"{name}.csv" for name in tables}


def changed_files(folder: Path) -> list[str]:
    """The expected files in ``folder`` whose SHA-256 differs from the pinned commit's."""
    pinned = read_checksums()
    return [name for name in EXPECTED_FILES if sha256_file(folder / name) != pinned[name]]


def _read(source: Source, folder: Path) -> Rows:
    """Run one notebook's reader; an unexpected structure becomes an error naming the file."""
    notebook = NOTEBOOKS[source.notebook]
    rows = Rows(source.files[0], source.notebook, notebook.dtype, notebook.prompt_set, notebook.n_prompts)
    try:
        source.read(rows, *(folder / name for name in source.files))
    except (ValueError, TypeError, AttributeError) as err:
        raise PublishedFileError(f"{source.files[0]}: unexpected structure ({type(err).__name__}: {err})") from err
    return rows


def _prompt_table(prompts: list[dict]) -> pd.DataFrame:
    """One row per prompt id; the files that share a prompt set must agree on every text."""
    frame = pd.DataFrame(prompts, columns=_PROMPT_COLUMNS[:-1] + ["source_file", "notebook"])
    rows = []
    for (prompt_set, prompt_id), group in frame.groupby(["prompt_set", "prompt_id"], sort=True):
        row = {"prompt_id": prompt_id, "prompt_set": prompt_set}
        for column in ("text", "category", "complexity", "difficulty"):
            found = group[["source_file", column]].dropna()
            if found[column].nunique() > 1:
                raise PublishedFileError(
                    f"{prompt_id}: the files disagree on its {column}: "
                    + "; ".join(f"{f}: {v!r}" for f, v in found.drop_duplicates(column).itertuples(index=False))
                )
            row[column] = found[column].iloc[0] if len(found) else None
        row["notebooks"] = ";".join(dict.fromkeys(group["notebook"]))
        rows.append(row)
    return pd.DataFrame(rows, columns=_PROMPT_COLUMNS)
