"""Screening stage: merge reviewers' decision files into the state of the review.

Reviewers never edit a shared master file: each drops their own sheets into
``<root>/screening/<stage>/<reviewer>[-anything].{csv,xlsx}`` and the third
reviewer writes ``<root>/screening/adjudication.csv``. Every run rebuilds,
from those files alone, each record's status per stage, the conflicts still
waiting for adjudication, inter-rater agreement, each reviewer's queue and the
PRISMA 2020 counts. Outputs are deterministic (sorted, no timestamps) so that
Snakemake's checksums let downstream jobs skip when nothing really changed.

The stage's parts: which sheets (:mod:`~livingreview.screening.files`), the
record store (:mod:`~livingreview.screening.store`), reading the sheets
(:mod:`~livingreview.screening.reading`), the status rules
(:mod:`~livingreview.screening.merging`, whose docstring states them), queues
(:mod:`~livingreview.screening.queues`), agreement
(:mod:`~livingreview.screening.agreement`) and PRISMA counts
(:mod:`~livingreview.screening.prisma`); ``livingreview status`` is
:mod:`~livingreview.screening.status`. Output columns:
:mod:`~livingreview.screening.columns`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import read_json, write_csv, write_json
from .columns import TEXT_COLUMNS, UNSCREENED, WATCH_COLUMNS
from .files import sheet_paths
from .imports import UNMATCHED_COLUMNS
from .merging import ScreeningResult, merge
from .settings import Settings
from .store import read_records

log = logging.getLogger(__name__)


def write_outputs(result: ScreeningResult, outdir: str | Path, *, figures: bool = True) -> None:
    """Write every output of the stage under ``outdir`` (results/screening)."""
    outdir = Path(outdir)
    write_csv(
        result.decisions, outdir / "decisions.csv", text_columns=("reason", "reasons", "note")
    )
    write_csv(
        result.conflicts, outdir / "conflicts.csv", text_columns=("reasons", "notes", "title")
    )
    write_json(outdir / "agreement.json", result.agreement)
    queue_dir = outdir / "queue"
    queue_dir.mkdir(parents=True, exist_ok=True)
    queues = dict(result.queues)
    if result.unscreened is not None:
        queues[UNSCREENED] = result.unscreened
    for name in {p.stem for p in queue_dir.glob("*.csv")} - set(queues):
        (queue_dir / f"{name}.csv").unlink()  # a reviewer whose files were all removed
    for reviewer, queue in queues.items():
        write_csv(queue, queue_dir / f"{reviewer}.csv", text_columns=TEXT_COLUMNS)
    write_json(outdir / "prisma.json", result.prisma)
    watch = result.watch if result.watch is not None else pd.DataFrame(columns=WATCH_COLUMNS)
    write_csv(watch, outdir / "watch.csv", text_columns=("title", "notice"))
    write_json(outdir / "prioritise.json", result.ranking or {"prioritised": False})
    unmatched = (
        result.unmatched
        if result.unmatched is not None
        else pd.DataFrame(columns=UNMATCHED_COLUMNS)
    )
    write_csv(unmatched, outdir / "unmatched.csv", text_columns=("file", "doi", "title"))
    if figures:
        from ..publish.prisma import write_prisma

        write_prisma(result.prisma, outdir / "prisma.svg")


@dataclass(frozen=True)
class ScreeningSettings:
    """The rule's params: the input root and ``config["screening"]`` (:class:`.settings.Settings`)."""

    root: Path
    screening: Settings

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ScreeningSettings:
        return cls(Path(params["root"]), Settings.from_config(params["screening"]))


def run(settings: ScreeningSettings, inputs: Mapping[str, Any]) -> ScreeningResult:
    """The stage's entry point (docs/contracts.md, "Stage entry points").

    ``inputs``: ``records`` (records.csv), ``summary`` (summary.json, optional:
    without it no record counts as found by a later search), ``sheets`` (the
    decision sheets; default: every sheet under ``<root>/screening``) and
    ``schemas`` (their schema files; default: the shipped ones).
    """
    records = read_records(inputs["records"])
    summary_json = inputs.get("summary")
    summary = read_json(summary_json) if summary_json and Path(summary_json).is_file() else {}
    sheets = inputs.get("sheets")
    paths = sheet_paths(settings.root) if sheets is None else [Path(p) for p in sheets]
    schemas = inputs.get("schemas")
    schema_dir = Path(schemas[0]).parent if schemas else None
    screening_dir = settings.root / "screening"
    result = merge(records, paths, screening_dir, settings.screening, summary, schema_dir)
    p = result.prisma
    log.info(
        "%d records: %d screened, %d full texts assessed, %d included; conflicts %s",
        p["records"],
        p["screened"],
        p["fulltext_assessed"],
        p["included_records"],
        p["conflicts"],
    )
    return result


def write(result: ScreeningResult, outputs: Mapping[str, str | Path]) -> None:
    """Write every output of the rule (all beside its ``decisions`` output)."""
    write_outputs(result, Path(outputs["decisions"]).parent)


def included_records(decisions_csv: str | Path) -> set[str]:
    """Record ids included at full text, for the extraction stage."""
    frame = pd.read_csv(decisions_csv, dtype=str, keep_default_na=False)
    keep = (frame["stage"] == "full_text") & (frame["status"] == "included")
    return set(frame.loc[keep, "record_id"])
