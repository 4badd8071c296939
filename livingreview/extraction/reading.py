"""Reading the extractors' sheets: typed rows, and the checks one sheet row allows.

Every problem of every sheet is collected and reported at once, each naming
file, row and column (:class:`~livingreview.errors.InputErrors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError, InputErrors, raise_collected
from ..sheets import FILE, ROW, load_sheet_columns
from ..stratifier import MIXED
from .files import extractor_name
from .forms import ARM_FORMS, MD_FORMS, _form_problem
from .settings import Settings
from .values import EXTRACTOR, _outcome_key


def _load(
    paths: Sequence[str | Path], schema: dict[str, Any], sheet: str | None = None
) -> list[dict[str, Any]]:
    """Every row of every sheet as a dict of typed values plus _row, _file, _extractor."""
    rows: list[dict[str, Any]] = []
    errors: list[InputError] = []
    cache: dict[tuple[str, str], Any] = {}  # extractors' sheets repeat most values
    for path in paths:
        try:
            name = extractor_name(path)
            columns = load_sheet_columns(path, schema, cache=cache, sheet=sheet)
        except InputErrors as exc:
            errors.extend(exc.errors)
            continue
        except InputError as exc:
            errors.append(exc)
            continue
        names = [*columns, EXTRACTOR]
        values = [*columns.values(), [name] * len(columns[ROW])]
        rows.extend(dict(zip(names, row, strict=True)) for row in zip(*values, strict=True))
    raise_collected(errors)
    return rows


def _check_studies(rows: list[dict[str, Any]], settings: Settings) -> None:
    """Cross-cell and config checks of each extractor's study rows."""
    errors: list[InputError] = []
    labels = {label.lower(): slug for slug, label in settings.platforms.items()}
    slugs = set(settings.platforms) | {MIXED}
    column, what = settings.stratifier.column, settings.stratifier.label.lower()
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        file, row = r[FILE], r[ROW]
        plat = r.get(column)
        if plat is not None:
            low = plat.strip().lower()
            if low in slugs:
                r[column] = low
            elif low in labels:
                r[column] = labels[low]
            else:
                errors.append(
                    InputError(
                        file,
                        f"a configured {what} (one of: " + ", ".join(sorted(slugs)) + ")",
                        row=row,
                        column=column,
                        got=plat,
                    )
                )
        if r.get("design") is None:
            r["design"] = "individual"
        if r["design"] == "cluster":
            for col in ("icc", "cluster_size"):
                if r.get(col) is None:
                    errors.append(
                        InputError(
                            file,
                            f"a value ({col} is required for a cluster trial)",
                            row=row,
                            column=col,
                        )
                    )
        key = (r[EXTRACTOR], r["study_id"])
        if key in seen:
            first = seen[key]
            errors.append(
                InputError(
                    file,
                    f"each study_id once per extractor (also in {first[FILE]} row {first[ROW]})",
                    row=row,
                    column="study_id",
                    got=r["study_id"],
                )
            )
        else:
            seen[key] = r
    errors += _study_id_conflicts(rows)
    raise_collected(errors)


def _study_id_conflicts(rows: list[dict[str, Any]]) -> list[InputError]:
    """One trial named differently by two extractors would be merged as two trials.

    Per record_id, each extractor's set of study_ids must not conflict: when
    extractor A has an id B lacks *and* B has one A lacks, they named the same
    trial differently (a paper reporting two trials is fine as long as the
    names agree; one extractor not yet having entered a trial is fine too).
    """
    by_record: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for r in rows:
        by_record.setdefault(str(r["record_id"]), {}).setdefault(r[EXTRACTOR], {}).setdefault(
            r["study_id"], r
        )
    errors: list[InputError] = []
    for record, per in sorted(by_record.items()):
        names = sorted(per)
        reported: set[tuple[str, str]] = set()
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                only_a = sorted(set(per[a]) - set(per[b]))
                only_b = sorted(set(per[b]) - set(per[a]))
                if not (only_a and only_b):
                    continue
                first = per[a][only_a[0]]
                for sid in only_b:
                    if (b, sid) in reported:
                        continue
                    reported.add((b, sid))
                    r = per[b][sid]
                    errors.append(
                        InputError(
                            r[FILE],
                            f"the study_id other extractors use for record {record} ({a}: "
                            f"{only_a[0]} in {first[FILE]} row {first[ROW]}); rename it in one "
                            "sheet so that one trial has one study_id in every sheet",
                            row=r[ROW],
                            column="study_id",
                            got=sid,
                        )
                    )
    return errors


def _check_outcomes(
    rows: list[dict[str, Any]], settings: Settings, study_ids: set[str]
) -> list[InputError]:
    errors: list[InputError] = []
    seen: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        file, row = r[FILE], r[ROW]
        dom = settings.domains.get(r["domain"].strip().lower())
        if dom is None:
            errors.append(
                InputError(
                    file,
                    "a configured domain (one of: " + ", ".join(settings.domains) + ")",
                    row=row,
                    column="domain",
                    got=r["domain"],
                )
            )
            continue
        r["domain"] = dom.slug
        outcome = dom.by_lower_name.get(" ".join(r["outcome"].split()).lower())
        if outcome is None:
            errors.append(
                InputError(
                    file,
                    f"an outcome of domain {dom.slug} (one of: {', '.join(dom.outcomes)})",
                    row=row,
                    column="outcome",
                    got=r["outcome"],
                )
            )
            continue
        r["outcome"] = outcome
        if r["study_id"] not in study_ids:
            errors.append(
                InputError(
                    file,
                    "a study_id present in a study sheet (extraction/studies)",
                    row=row,
                    column="study_id",
                    got=r["study_id"],
                )
            )
        binary = dom.type == "binary"
        if binary != (r["form"] == "events"):
            errors.append(
                InputError(
                    file,
                    f"form events for the binary domain {dom.slug}"
                    if binary
                    else f"a continuous form ({', '.join((*ARM_FORMS, *MD_FORMS))}) "
                    f"for domain {dom.slug}",
                    row=row,
                    column="form",
                    got=r["form"],
                )
            )
            continue
        problem = _form_problem(r.get)
        if problem:
            col, expected = problem
            got = r.get(col)
            if got is None:
                errors.append(InputError(file, expected, row=row, column=col))
            else:
                errors.append(InputError(file, expected, row=row, column=col, got=got))
        key = (r[EXTRACTOR], *_outcome_key(r))
        if key in seen:
            first = seen[key]
            errors.append(
                InputError(
                    file,
                    "each study_id, domain, outcome and timepoint_weeks once per extractor "
                    f"(also in {first[FILE]} row {first[ROW]})",
                    row=row,
                    column="timepoint_weeks",
                    got=r["timepoint_weeks"],
                )
            )
        else:
            seen[key] = r
    return errors
