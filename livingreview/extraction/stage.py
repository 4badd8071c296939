"""Extraction stage: merge double-extracted sheets, compute effect sizes, select one per trial and domain.

Two people extract every included trial independently into their own study
and outcome sheets (``<root>/extraction/{studies,outcomes}/<extractor>*.csv``).
This module reconciles them and turns the reported statistics into the
effects the analyses pool, so that every published number can be traced back
to the sheet rows (and the rule) it came from.

The stage's parts, in the order :func:`run` calls them: which sheets
(:mod:`~livingreview.extraction.files`), reading and row checks
(:mod:`~livingreview.extraction.reading`), merging and resolutions
(:mod:`~livingreview.extraction.merging`), plausibility
(:mod:`~livingreview.extraction.plausibility`), effect sizes
(:mod:`~livingreview.extraction.effects`, in batches
:mod:`~livingreview.extraction.batch_effects`) and selection
(:mod:`~livingreview.extraction.selection`); each module's docstring states
its rules. Output columns: :mod:`~livingreview.extraction.columns`.

Bad input stops the run with one message naming file, row and column
(:class:`~livingreview.errors.InputError`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..contract import optional_input
from ..errors import raise_collected
from ..io import write_csv
from ..sheets import FILE, ROW, load_schema
from .columns import (
    ARM_DATA_COLUMNS,
    ARM_NUMBERS,
    DISCREPANCY_COLUMNS,
    MODERATORS,
    NOT_SELECTED_COLUMNS,
    STUDIES_OUT_EXTRA,
)
from .effects import Effect
from .merging import Merged, _apply_resolutions, _load_resolutions, _merge, _recheck_merged
from .plausibility import _check_effect_sizes, _check_plausible, plausibility
from .reading import _check_outcomes, _check_studies, _load
from .selection import _evaluate, _select, full_text_status
from .settings import Settings
from .values import (
    EXTRACTOR,
    NOT_COMPARED,
    OUTCOME_KEY,
    STUDY_KEY,
    UNRESOLVED,
    _outcome_key,
    _where,
)

log = logging.getLogger(__name__)


@dataclass
class ExtractionResult:
    studies: pd.DataFrame
    discrepancies: pd.DataFrame
    effects: pd.DataFrame
    not_selected: pd.DataFrame
    arm_data: pd.DataFrame | None = None  # ARM_DATA_COLUMNS, one row per selected effect


@dataclass(frozen=True)
class ExtractionSettings:
    """The rule's params: ``config["extraction"]`` (:class:`.settings.Settings`) and the input root.

    ``root`` makes the ``source`` provenance paths relative and machine-independent.
    """

    extraction: Settings
    limits: Mapping[str, Any]  # plausibility bounds (defaults: plausibility.PLAUSIBILITY)
    xlsx_sheet: str | None = None
    root: Path | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ExtractionSettings:
        cfg = params["extraction"]
        root = params.get("root")
        return cls(
            Settings.from_config(cfg),
            plausibility(cfg),
            cfg.get("xlsx_sheet"),
            None if root is None else Path(root),
        )


def run(settings: ExtractionSettings, inputs: Mapping[str, Any]) -> ExtractionResult:
    """The stage's entry point (docs/contracts.md, "Stage entry points").

    Merge the sheets, compute and select effects; return the output tables.
    ``inputs``: ``studies`` and ``outcomes`` (the sheets), ``decisions``
    (screening's decisions.csv), ``schemas`` (files in the folder that holds
    ``{studies,outcomes,resolutions}.schema.yaml``), ``resolutions`` (optional)
    and ``aliases`` (optional, ``results/records/aliases.csv``: earlier record
    ids -> today's, so a sheet written before an id changed stays right).
    """
    study_files, outcome_files = inputs["studies"], inputs["outcomes"]
    decisions = inputs["decisions"]
    resolutions = optional_input(inputs.get("resolutions"))
    aliases = optional_input(inputs.get("aliases"))
    schema_dir = Path(inputs["schemas"][0]).parent
    root_path, limits, xlsx_sheet = settings.root, settings.limits, settings.xlsx_sheet
    spec = settings.extraction
    schemas = {
        n: load_schema(schema_dir / f"{n}.schema.yaml")
        for n in ("studies", "outcomes", "resolutions")
    }
    schemas["studies"] = spec.studies_schema(schemas["studies"])

    study_rows = _load(study_files, schemas["studies"], xlsx_sheet)
    from ..search.records import read_aliases  # here: the Snakefile imports this module at start-up

    earlier = read_aliases(aliases)
    for r in study_rows:
        r["record_id"] = earlier.get(r.get("record_id"), r.get("record_id"))
    outcome_rows = _load(outcome_files, schemas["outcomes"], xlsx_sheet)
    _check_studies(study_rows, spec)
    study_ids = {r["study_id"] for r in study_rows}
    raise_collected(_check_outcomes(outcome_rows, spec, study_ids))
    log.info(
        "read %d study rows and %d outcome rows from %d + %d sheets",
        len(study_rows),
        len(outcome_rows),
        len(study_files),
        len(outcome_files),
    )

    study_extractors = {r[EXTRACTOR] for r in study_rows}
    touched: dict[str, set[str]] = {}
    for r in (*study_rows, *outcome_rows):
        touched.setdefault(r["study_id"], set()).add(r[EXTRACTOR])
    s_fields = [
        p for p in schemas["studies"]["properties"] if p not in STUDY_KEY and p not in NOT_COMPARED
    ]
    o_fields = [
        p
        for p in schemas["outcomes"]["properties"]
        if p not in OUTCOME_KEY and p not in NOT_COMPARED
    ]
    studies = _merge(
        study_rows, "studies", lambda r: (r["study_id"],), s_fields, lambda k: study_extractors
    )
    outcomes = _merge(
        outcome_rows, "outcomes", _outcome_key, o_fields, lambda k: touched.get(k[0], set())
    )
    res = _load_resolutions(resolutions, schemas, spec)
    disc = _apply_resolutions({"studies": studies, "outcomes": outcomes}, res)
    _recheck_merged(outcomes, studies, spec)
    raise_collected(_check_plausible(outcomes, studies, limits))

    screening = full_text_status(decisions)
    screening = {**{o: screening[n] for o, n in earlier.items() if n in screening}, **screening}
    evaluated = _evaluate(outcomes, studies, spec, screening, Path(decisions).name)
    raise_collected(_check_effect_sizes(evaluated, limits))

    groups: dict[tuple[str, str], list[Effect]] = {}
    for e in evaluated:
        groups.setdefault((e.merged.key[0], e.domain.slug), []).append(e)
    chosen, skipped, arms = [], [], []
    for (sid, dslug), group in sorted(groups.items()):
        win, why, rule, beat = _select(group, spec)
        if win is not None:
            chosen.append(_effect_row(win, rule, beat, root_path, spec))
            v = win.merged.values
            arms.append({"study_id": sid, "domain": dslug, "outcome": win.outcome,
                         "timepoint_weeks": win.timepoint, "measure": win.measure,
                         **{c: _out(v.get(c)) for c in ("form", "favourable", *ARM_NUMBERS)}})  # fmt: skip
        for e in group:
            if e is win:
                continue
            status = {"candidate": "not-selected", "outside": "not-selected"}.get(
                e.status, e.status
            )
            skipped.append(
                {
                    "study_id": sid,
                    "domain": dslug,
                    "outcome": e.outcome,
                    "timepoint_weeks": e.timepoint,
                    "yi": e.yi,
                    "vi": e.vi,
                    "status": status,
                    "why": why.get(id(e), e.why),
                    "_order": (e.domain.order(e.outcome), e.timepoint),
                }
            )
    skipped.sort(key=lambda r: (r["study_id"], r["domain"], r.pop("_order")))
    eff = pd.DataFrame(chosen, columns=list(spec.effect_columns))
    nots = pd.DataFrame(skipped, columns=list(NOT_SELECTED_COLUMNS))
    study_table = _study_table(studies, schemas["studies"], screening)
    disc_table = pd.DataFrame(disc, columns=list(DISCREPANCY_COLUMNS))
    log.info(
        "%d studies, %d discrepancies (%d unresolved), %d effects selected, %d not selected",
        len(study_table),
        len(disc_table),
        int((disc_table["status"] == "unresolved").sum()),
        len(eff),
        len(nots),
    )
    arm_table = pd.DataFrame(arms, columns=list(ARM_DATA_COLUMNS))
    return ExtractionResult(study_table, disc_table, eff, nots, arm_table)


def _out(value: Any) -> Any:
    if value is UNRESOLVED:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _effect_row(
    e: Effect, rule: str, beat: str, root: Path | None, settings: Settings
) -> dict[str, Any]:
    s = e.study.values
    key = settings.stratifier.column
    row = {
        "study_id": e.merged.key[0],
        "record_id": _out(s.get("record_id")),
        "citation": _out(s.get("citation")),
        "domain": e.domain.slug,
        key: _out(s.get(key)),
        "measure": e.measure,
        "yi": e.yi,
        "vi": e.vi,
        "n": int(e.n) if e.n is not None else None,
        "followup_weeks": _out(s.get("followup_weeks")),
        "ln_n": math.log(e.n) if e.n else None,
        "outcome": e.outcome,
        "timepoint_weeks": e.timepoint,
        "form": e.merged.values.get("form"),
        "design_effect": e.design_effect,
        "rob_overall": _out(s.get("rob_overall")),
        **{mod: _out(s.get(mod)) for mod in MODERATORS},
        **{col: _out(s.get(col)) for col in settings.study_columns},
        "source": "; ".join(_where(r[FILE], r[ROW], root) for r in e.merged.rows),
        "rule": rule,
        "beat": beat,
    }
    return row


def _study_table(
    studies: Mapping[tuple, Merged], schema: dict[str, Any], screening: Mapping[str, str]
) -> pd.DataFrame:
    cols = [p for p in schema["properties"] if p not in NOT_COMPARED]
    rows = []
    for key, m in studies.items():
        row = {"study_id": key[0], **{c: _out(m.values.get(c)) for c in cols if c != "study_id"}}
        record = m.values.get("record_id")
        row["extractors"] = "; ".join(m.extractors)
        row["screening_status"] = (
            screening.get(record, "") if record is not UNRESOLVED else "unresolved record_id"
        )
        row["unresolved"] = "; ".join(n for n, v in m.values.items() if v is UNRESOLVED)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*cols, *STUDIES_OUT_EXTRA])


def write(result: ExtractionResult, outputs: Mapping[str, str | Path]) -> None:
    """Write the rule's outputs: ``studies``, ``discrepancies``, ``effects``,
    ``not_selected`` and (optional) ``arm_data``, atomically; free text is
    neutralised for spreadsheets."""
    write_csv(result.studies, outputs["studies"], text_columns=("citation", "country", "record_id"))
    write_csv(
        result.discrepancies,
        outputs["discrepancies"],
        text_columns=("key", "values", "resolution", "note"),
    )
    write_csv(result.effects, outputs["effects"], text_columns=("citation", "record_id"))
    write_csv(result.not_selected, outputs["not_selected"], text_columns=("why",))
    if outputs.get("arm_data") is not None:
        table = result.arm_data
        if table is None:
            table = pd.DataFrame(columns=list(ARM_DATA_COLUMNS))
        write_csv(table, outputs["arm_data"], text_columns=("outcome",))
