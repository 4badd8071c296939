"""Merging double-extracted sheets into one row per key, with resolutions applied.

Merging (per key: ``study_id`` for studies, ``study_id|domain|outcome|
timepoint_weeks`` for outcomes)
    A field on which all extractors who entered the row agree is taken
    (numbers equal within a relative tolerance of 1e-9, text after collapsing
    white space). A differing field is a discrepancy, listed in
    ``discrepancies.csv``; ``resolutions.csv`` supplies the agreed value
    (status ``resolved``). An unresolved discrepancy in a field an effect
    needs (the numbers its form uses, ``form``, ``favourable``; of the study:
    ``record_id``, ``platform``, ``followup_weeks``, ``design`` and, for a
    cluster trial, ``icc`` and ``cluster_size``) stops that effect (status
    ``unresolved`` in ``not_selected.csv``), not the run. Conflicting
    ``record_id`` values are an ordinary, resolvable discrepancy: until it is
    resolved the study's screening status cannot be known, so all its effects
    are ``unresolved``. Unresolved fields no analysis needs (citation, RoB,
    moderators) are written empty. A row that only one extractor entered
    while others extracted the same study (for studies: while other
    extractors have study sheets) is kept and flagged in ``discrepancies.csv``
    with field ``(row)`` ("missing in extractor X"); a resolution for field
    ``(row)`` marks the flag as resolved. An empty ``design`` means
    ``individual``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from ..errors import InputError, raise_collected
from ..sheet_cells import check_value, coerce_cell
from ..sheets import ROW, load_sheet_columns
from .forms import _form_problem
from .settings import Settings
from .values import (
    EXTRACTOR,
    NOT_COMPARED,
    OUTCOME_KEY,
    ROW_FIELD,
    STUDY_KEY,
    UNRESOLVED,
    _identical,
    _same,
    _where,
    fmt,
    key_text,
)


@dataclass
class Merged:
    """One merged row: agreed or resolved values, UNRESOLVED where extractors differ."""

    sheet: str
    key: tuple
    values: dict[str, Any]
    rows: list[dict[str, Any]]  # one per extractor, sorted by extractor
    conflicts: dict[str, str] = field(default_factory=dict)  # field -> "a=1; b=2"
    resolved_from: dict[str, str] = field(default_factory=dict)  # field -> resolutions file:row

    @property
    def extractors(self) -> list[str]:
        return [r[EXTRACTOR] for r in self.rows]

    def get(self, name: str) -> Any:
        value = self.values.get(name)
        if value is UNRESOLVED:
            raise Unresolved(self, name)
        return value


class Unresolved(Exception):
    """A needed field is still unresolved."""

    def __init__(self, merged: Merged, name: str) -> None:
        self.merged, self.name = merged, name
        super().__init__(
            f"unresolved discrepancy in {merged.sheet} field {name} "
            f"({merged.conflicts.get(name, '')}) of {key_text(merged.key)}"
        )


@dataclass(frozen=True)
class Resolution:
    value: Any
    note: str
    where: str
    file: str
    row: int


def _getter(fields: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple]:
    """The values of ``fields`` of a row, as a tuple (None for a field the row lacks)."""
    names = tuple(fields)
    if len(names) > 1:
        get = itemgetter(*names)

        def values(r: Mapping[str, Any]) -> tuple:
            try:
                return get(r)
            except KeyError:
                return tuple(r.get(n) for n in names)

        return values
    return lambda r: tuple(r.get(n) for n in names)


def _merge(
    rows: list[dict[str, Any]],
    sheet: str,
    key_of: Callable[[dict[str, Any]], tuple],
    fields: Sequence[str],
    expected: Callable[[tuple], set[str]],
) -> dict[tuple, Merged]:
    """Group rows by key, take agreed values, mark the rest UNRESOLVED."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(key_of(r), []).append(r)
    merged: dict[tuple, Merged] = {}
    values_of = _getter(fields)
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda r: r[EXTRACTOR])
        first = values_of(group[0])
        m = Merged(sheet=sheet, key=key, values=dict(zip(fields, first, strict=True)), rows=group)
        if len(group) == 1 or all(first == values_of(r) for r in group[1:]):
            # nothing to compare, or all fields equal: for the finite numbers, text,
            # booleans and None of a sheet, == implies _same, and the first value is taken
            fields_to_compare: Sequence[str] = ()
        else:
            fields_to_compare = fields
        for name in fields_to_compare:
            vals = [r.get(name) for r in group]
            if all(_identical(vals[0], v) or _same(vals[0], v) for v in vals[1:]):
                m.values[name] = vals[0]
            else:
                m.values[name] = UNRESOLVED
                m.conflicts[name] = "; ".join(
                    f"{r[EXTRACTOR]}={fmt(v)}" for r, v in zip(group, vals, strict=True)
                )
        missing = sorted(expected(key) - set(m.extractors))
        if len(group) == 1 and missing:
            m.conflicts[ROW_FIELD] = "; ".join(
                [f"{group[0][EXTRACTOR]}=entered", *(f"{x}=missing" for x in missing)]
            )
        merged[key] = m
    return merged


def _load_resolutions(
    path: str | Path | None,
    schemas: Mapping[str, dict[str, Any]],
    settings: Settings,
) -> dict[tuple[str, tuple, str], Resolution]:
    if path is None:
        return {}
    columns = load_sheet_columns(path, schemas["resolutions"])
    errors: list[InputError] = []
    out: dict[tuple[str, tuple, str], Resolution] = {}
    for values in zip(*columns.values(), strict=True):
        rec = dict(zip(columns, values, strict=True))
        row, sheet = int(rec[ROW]), rec["sheet"]
        props = schemas[sheet]["properties"]
        key_cols = STUDY_KEY if sheet == "studies" else OUTCOME_KEY
        parts = [p.strip() for p in rec["key"].split("|")]
        if len(parts) != len(key_cols):
            errors.append(
                InputError(
                    path,
                    f"a key of the {sheet} sheet in the form {'|'.join(key_cols)}",
                    row=row,
                    column="key",
                    got=rec["key"],
                )
            )
            continue
        key: tuple
        if sheet == "studies":
            key = (parts[0],)
        else:
            dom = settings.domains.get(parts[1].lower())
            names = dom.by_lower_name if dom else {}
            try:
                tp = float(parts[3])
            except ValueError:
                tp = math.nan
            key = (
                parts[0],
                dom.slug if dom else parts[1],
                names.get(parts[2].lower(), parts[2]),
                tp,
            )
        name = rec["field"].strip()
        if name != ROW_FIELD and (name not in props or name in key_cols or name in NOT_COMPARED):
            allowed = [p for p in props if p not in key_cols and p not in NOT_COMPARED]
            errors.append(
                InputError(
                    path,
                    f"a field of the {sheet} sheet ({ROW_FIELD} or one of: {', '.join(allowed)})",
                    row=row,
                    column="field",
                    got=rec["field"],
                )
            )
            continue
        raw = rec.get("value")
        value: Any = None
        if raw is not None and name != ROW_FIELD:
            spec = props[name]
            try:
                value = coerce_cell(str(raw), spec)
            except ValueError as exc:
                errors.append(InputError(path, str(exc), row=row, column="value", got=raw))
                continue
            if name == settings.stratifier.column:
                low = value.lower()
                labels = {v.lower(): k for k, v in settings.platforms.items()}
                value = labels.get(low, low)
            expected = check_value(name, spec, value)
            if expected is not None:
                errors.append(InputError(path, expected, row=row, column="value", got=value))
                continue
        elif name == ROW_FIELD:
            value = raw
        elif name == "design":
            value = "individual"  # as in the sheets: empty design = individual
        ident = (sheet, key, name)
        if ident in out:
            errors.append(
                InputError(
                    path,
                    f"one resolution per sheet, key and field (also in row {out[ident].row})",
                    row=row,
                    column="field",
                    got=name,
                )
            )
            continue
        out[ident] = Resolution(
            value, rec.get("note") or "", _where(str(path), row, None), str(path), row
        )
    raise_collected(errors)
    return out


def _apply_resolutions(
    merged: Mapping[str, dict[tuple, Merged]],
    resolutions: Mapping[tuple[str, tuple, str], Resolution],
) -> list[dict[str, Any]]:
    """Fill resolved fields; return the rows of discrepancies.csv."""
    errors: list[InputError] = []
    for (sheet, key, name), res in resolutions.items():
        m = merged[sheet].get(key)
        if m is None:
            errors.append(
                InputError(
                    res.file,
                    f"a key present in the {sheet} sheets",
                    row=res.row,
                    column="key",
                    got=key_text(key),
                )
            )
            continue
        if name == ROW_FIELD:
            if ROW_FIELD not in m.conflicts:
                errors.append(
                    InputError(
                        res.file,
                        f"a row entered by one extractor only ({key_text(key)} was entered by "
                        f"{', '.join(m.extractors)}); remove this resolution",
                        row=res.row,
                        column="field",
                        got=name,
                    )
                )
            continue
        current = m.values.get(name)
        if current is UNRESOLVED:
            m.values[name] = res.value
            m.resolved_from[name] = res.where
        elif not _same(current, res.value):
            errors.append(
                InputError(
                    res.file,
                    f"the value the extractors now agree on ({fmt(current)!r}) or no resolution "
                    "for this field",
                    row=res.row,
                    column="value",
                    got=fmt(res.value),
                )
            )
    raise_collected(errors)
    out: list[dict[str, Any]] = []
    for sheet in ("studies", "outcomes"):
        for key, m in merged[sheet].items():
            for name, values in m.conflicts.items():
                res = resolutions.get((sheet, key, name))
                note = res.note if res else ""
                if name == ROW_FIELD:
                    missing = [v.split("=")[0] for v in values.split("; ")[1:]]
                    note = "; ".join(
                        x for x in (f"missing in extractor {', '.join(missing)}", note) if x
                    )
                out.append(
                    {
                        "sheet": sheet,
                        "key": key_text(key),
                        "field": name,
                        "values": values,
                        "status": "resolved" if res else "unresolved",
                        "resolution": fmt(res.value) if res else "",
                        "note": note,
                    }
                )
    return out


def _recheck_merged(
    outcomes: Mapping[tuple, Merged], studies: Mapping[tuple, Merged], settings: Settings
) -> None:
    """A resolution can combine values into a row no extractor entered: check it again."""
    errors: list[InputError] = []
    for m in outcomes.values():
        if not m.resolved_from:
            continue

        def get(col: str, m: Merged = m) -> Any:
            v = m.values.get(col)
            if v is UNRESOLVED:
                raise Unresolved(m, col)
            return v

        try:
            form = get("form")
            binary = settings.domains[m.key[1]].type == "binary"
            problem: tuple[str, str] | None
            if binary != (form == "events"):
                problem = ("form", f"a form fitting the {m.key[1]} domain")
            else:
                problem = _form_problem(get)
        except Unresolved:
            continue
        if problem:
            col, expected = problem
            where = m.resolved_from.get(col) or next(iter(m.resolved_from.values()))
            file, row = where.rsplit(":", 1)
            errors.append(
                InputError(
                    file,
                    f"{expected} after resolutions for {key_text(m.key)}",
                    row=int(row),
                    column="value",
                )
            )
    for s in studies.values():
        if s.values.get("design") == "cluster" and s.resolved_from:
            for col in ("icc", "cluster_size"):
                if s.values.get(col) is None:
                    where = s.resolved_from.get("design") or next(iter(s.resolved_from.values()))
                    file, row = where.rsplit(":", 1)
                    errors.append(
                        InputError(
                            file,
                            f"a value for {col} of cluster trial {s.key[0]} after resolutions",
                            row=int(row),
                            column="value",
                        )
                    )
    raise_collected(errors)
