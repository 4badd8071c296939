"""The files the screening stage reads: reviewers' sheets per stage folder, adjudication.csv.

Snakemake calls :func:`sheet_paths` when it parses the workflow, on every run:
this module imports no pandas or numpy, so a rerun with nothing to do starts fast.
"""

from __future__ import annotations

from pathlib import Path

from ..sheets import person_name, sheet_files

STAGES = ("title_abstract", "full_text")
STAGE_LABELS = {"title_abstract": "title/abstract", "full_text": "full text"}


ADJUDICATION = "adjudication.csv"


def reviewer_name(path: str | Path) -> str:
    """Reviewer name from a file name: the stem up to the first ``-`` or ``_``, lower-cased.

    Raises InputError naming the file when the name is not ``[a-z0-9]+``,
    so that names never carry path tricks or spaces into outputs.
    """
    return person_name(
        path,
        "a file name starting with the reviewer's name in lower-case letters and digits "
        "(e.g. alice.csv or alice-batch2.xlsx), then optionally '-' or '_' and anything",
    )


def sheet_paths(root: str | Path) -> list[Path]:
    """Every file the screening stage reads under ``<root>/screening`` (sorted).

    Used by the Snakemake rule as its input function, so adding a file reruns
    the stage. Names are not validated here (that happens in the job, with a
    clear message); see :func:`livingreview.sheets.sheet_files`.
    """
    base = Path(root) / "screening"
    paths = [p for stage in STAGES for p in sheet_files(base / stage)]
    adjudication = base / ADJUDICATION
    if adjudication.is_file():
        paths.append(adjudication)
    return paths
