"""The files the extraction stage reads: the extractors' sheets and resolutions.csv.

Snakemake calls :func:`input_files` when it parses the workflow, on every run:
this module imports no pandas, numpy or scipy (``tests/test_extraction.py``
checks), so a rerun with nothing to do starts fast.
"""

from __future__ import annotations

from pathlib import Path

from ..sheets import person_name, sheet_files


def extractor_name(path: str | Path) -> str:
    """The extractor of a sheet: its file stem up to the first '-' or '_', lower-cased."""
    return person_name(
        path,
        "a file name starting with the extractor's name in letters and digits, "
        "optionally followed by '-' or '_' and anything (e.g. alice-2025.csv)",
    )


def sheet_paths(root: str | Path, kind: str) -> list[Path]:
    """Sheets under ``<root>/extraction/<kind>/`` (kind: studies or outcomes), sorted.

    Every file but hidden, lock and README files (:func:`livingreview.sheets.sheet_files`):
    one the stage cannot read stops the run naming it.
    """
    return sheet_files(Path(root) / "extraction" / kind)


def input_files(root: str | Path) -> dict[str, list[str]]:
    """Named inputs of the extraction rule (for Snakemake's ``unpack``)."""
    root = Path(root)
    files = {
        "studies": [str(p) for p in sheet_paths(root, "studies")],
        "outcomes": [str(p) for p in sheet_paths(root, "outcomes")],
    }
    resolutions = root / "extraction" / "resolutions.csv"
    files["resolutions"] = [str(resolutions)] if resolutions.is_file() else []
    return files
