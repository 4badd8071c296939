"""Extraction stage: merge double-extracted sheets, compute effect sizes, select one per trial and domain.

Two people extract every included trial independently into their own study
and outcome sheets (``<root>/extraction/{studies,outcomes}/<extractor>*.csv``).
This module reconciles them and turns the reported statistics into the
effects the analyses pool, so that every published number can be traced back
to the sheet rows (and the rule) it came from.

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

Effect sizes (``livingreview.stats.escalc``, metafor's ``escalc`` conventions)
    Continuous domains: Hedges' g with the large-sample variance
    (``vtype="LS"``). ``means``/``change_sd``/``change_se`` use per-arm SDs
    (an arm's SD may come from its SE: sd = se sqrt(n)); if an arm has
    neither, the row's mean-difference CI, SE or p gives the SE of m1 - m2.
    ``md_ci``, ``md_se``, ``md_p`` use :func:`~livingreview.stats.escalc.smd_from_md_se`
    with the SE from the 95% CI or two-sided p, both with the t distribution on
    df = n1 + n2 - 2 (the two-sample t test the CI/p came from; Cochrane
    Handbook 6.5.2.3 recommends t for small trials, and it converges to z).
    Binary domains: log risk ratio from 2x2 counts (0.5 added to all cells of
    a table with a zero cell). Cluster trials: the variance is multiplied by
    the design effect DE = 1 + (m - 1) ICC (Cochrane Handbook 23.1.4); yi and
    n are left as reported (``ln_n`` is ln of the arms' total n).
    Alignment: intervention minus control, sign flipped when the scale's
    ``favourable`` is ``lower`` (positive = favourable), then multiplied by
    -1 when the domain's ``favourable_sign`` is negative.

Selection (per trial x domain)
    Only trials whose ``record_id`` is ``included`` at stage ``full_text`` in
    ``results/screening/decisions.csv`` enter. Candidates are the computable
    and the unresolved rows whose time point lies in the configured window.
    Each outcome is represented by its latest time point in the window; the
    best priority tier wins, within a tier the larger n (n1 + n2 at that
    time point), then the configured order. If the winner is unresolved, the
    trial has no effect in that domain until it is resolved (picking the
    next-best would silently change once resolved). ``rule`` says why the
    winner was chosen, ``beat`` lists the candidates it was preferred over,
    and every other row is listed in ``not_selected.csv`` with why.

Bad input stops the run with one message naming file, row and column
(:class:`~livingreview.errors.InputError`).
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..contract import DEMO_MODERATORS
from ..errors import InputError, InputErrors, raise_collected
from ..io import write_csv
from ..sheets import (
    FILE,
    ROW,
    check_value,
    coerce_cell,
    load_schema,
    load_sheet_columns,
    person_name,
    read_rows,
    sheet_files,
)
from ..stratifier import MIXED, Stratifier

log = logging.getLogger(__name__)

# livingreview.stats.escalc (with scipy.special, ~0.2 s to import) is imported inside the
# functions that compute effects: Snakemake imports this module to list the rule's
# inputs, and every workflow run would pay for scipy otherwise.

EXTRACTOR = "_extractor"
STUDY_KEY = ("study_id",)
OUTCOME_KEY = ("study_id", "domain", "outcome", "timepoint_weeks")
NOT_COMPARED = {"note"}  # free text that belongs to one extractor
ROW_FIELD = "(row)"
REL_TOL = 1e-9
MODERATORS = DEMO_MODERATORS
ARM_FORMS = ("means", "change_sd", "change_se")
MD_FORMS = {
    "md_ci": ("md", "ci_low", "ci_high", "n1", "n2"),
    "md_se": ("md", "se", "n1", "n2"),
    "md_p": ("md", "p", "n1", "n2"),
}
EVENT_COLUMNS = ("events1", "n1", "events2", "n2")

STUDIES_OUT_EXTRA = ("extractors", "screening_status", "unresolved")
DISCREPANCY_COLUMNS = ("sheet", "key", "field", "values", "status", "resolution", "note")
EFFECT_COLUMNS = (
    "study_id",
    "record_id",
    "citation",
    "domain",
    "platform",
    "measure",
    "yi",
    "vi",
    "n",
    "followup_weeks",
    "ln_n",
    "outcome",
    "timepoint_weeks",
    "form",
    "design_effect",
    "rob_overall",
    *MODERATORS,
    "source",
    "rule",
    "beat",
)
# The merged numbers behind each selected effect (results/effects/arm_data.csv), so the
# bundle can hand them to RevMan's calculator (livingreview.publish.revman). Arm 1 is the
# intervention, arm 2 the control, as in the outcome sheets.
ARM_NUMBERS = ("m1", "sd1", "se1", "n1", "m2", "sd2", "se2", "n2", "md", "ci_low", "ci_high",
               "se", "p", "events1", "events2")  # fmt: skip
ARM_DATA_COLUMNS = (
    "study_id", "domain", "outcome", "timepoint_weeks", "form", "favourable", "measure",
    *ARM_NUMBERS,
)  # fmt: skip
NOT_SELECTED_COLUMNS = (
    "study_id",
    "domain",
    "outcome",
    "timepoint_weeks",
    "yi",
    "vi",
    "status",
    "why",
)


# --------------------------------------------------------------------------- files


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


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Domain:
    slug: str
    type: str  # continuous | binary
    sign: int  # +1: positive = favourable; -1: negative = favourable
    tiers: tuple[tuple[str, ...], ...]

    @cached_property
    def outcomes(self) -> tuple[str, ...]:
        return tuple(name for tier in self.tiers for name in tier)

    @cached_property
    def by_lower_name(self) -> dict[str, str]:
        """Lower-cased outcome name -> configured name (sheets may differ in case)."""
        return {o.lower(): o for o in self.outcomes}

    @cached_property
    def _ranks(self) -> dict[str, tuple[int, int]]:
        """outcome -> (tier, configured order); selection asks for these per candidate."""
        tiers = [i for i, tier in enumerate(self.tiers) for _ in tier]
        ranks: dict[str, tuple[int, int]] = {}
        for pos, name in enumerate(self.outcomes):
            ranks.setdefault(name, (tiers[pos], pos))
        return ranks

    def tier(self, outcome: str) -> int:
        return self._ranks[outcome][0]

    def order(self, outcome: str) -> int:
        return self._ranks[outcome][1]

    def describe(self) -> str:
        return " > ".join("/".join(t) for t in self.tiers)


@dataclass(frozen=True)
class Settings:
    stratifier: Stratifier
    domains: dict[str, Domain]
    window: tuple[float, float]
    # extraction.study_columns: extra studies-sheet columns (name -> number, boolean, text)
    study_columns: dict[str, str] = field(default_factory=dict)

    @property
    def platforms(self) -> Mapping[str, str]:
        """The stratifier's values (slug -> label); the demo's platforms."""
        return self.stratifier.values

    @property
    def effect_columns(self) -> tuple[str, ...]:
        """effects.csv's columns: the stratifier's column in place of ``platform``, then
        the study columns after the demo's moderators."""
        cols = [self.stratifier.column if c == "platform" else c for c in EFFECT_COLUMNS]
        at = cols.index("source")
        extra = [c for c in self.study_columns if c not in cols]
        return (*cols[:at], *extra, *cols[at:])

    def studies_schema(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """The studies-sheet schema with the stratifier's column and the study columns.

        Declared study columns are required in every studies sheet's header, so a
        moderator missing from a sheet stops naming the sheet and the column.
        """
        out = copy.deepcopy(dict(schema))
        props = out["properties"]
        types = {"number": {"type": "number"}, "boolean": {"type": "boolean"}}
        if self.stratifier.column not in props:
            props[self.stratifier.column] = {
                "type": "string",
                "description": f"{self.stratifier.label}: a configured value or mixed",
            }
        for name, kind in self.study_columns.items():
            if name not in props:
                props[name] = types.get(kind, {"type": "string"})
            if name not in out.get("required", []):
                out["required"] = [*out.get("required", []), name]
        if props.get("note") is not None:  # free text last, as in the shipped schema
            props["note"] = props.pop("note")
        return out

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Settings:
        """Build from ``config["extraction"]``."""
        domains = {}
        for slug, spec in cfg["domains"].items():
            sign = spec.get("favourable_sign", "positive")
            domains[slug] = Domain(
                slug=slug,
                type=spec.get("type", "continuous"),
                sign=-1 if sign == "negative" else 1,
                tiers=tuple(tuple(str(o) for o in tier) for tier in spec["priority"]),
            )
        window = cfg.get("timepoint_weeks", {}) or {}
        return cls(
            stratifier=Stratifier.from_config(cfg),
            domains=domains,
            window=(float(window.get("min", 0)), float(window.get("max", math.inf))),
            study_columns={str(k): str(v) for k, v in (cfg.get("study_columns") or {}).items()},
        )


# --------------------------------------------------------------------------- values


class _Unresolved:
    """Marks a merged field whose extractors differ and no resolution exists."""

    def __repr__(self) -> str:
        return "UNRESOLVED"


UNRESOLVED = _Unresolved()


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=1e-12)
    return " ".join(str(a).split()) == " ".join(str(b).split())


_PLAIN = (str, float, int, bool, type(None))


def _identical(a: Any, b: Any) -> bool:
    """Cheap sufficient test for :func:`_same`: equal values of one plain type."""
    return type(a) is type(b) and type(a) in _PLAIN and a == b


def fmt(value: Any) -> str:
    """A value as text for keys and messages: 12.0 -> '12', True -> 'yes', None -> ''."""
    if value is None or value is UNRESOLVED:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.10g}"
    return str(value)


def _where(file: str, row: int, root: Path | None) -> str:
    return f"{_posix_path(file, root)}:{row}"


@lru_cache(maxsize=1024)
def _posix_path(file: str, root: Path | None) -> str:
    """``file`` relative to ``root``, with '/'; cached: every source cell names one of few sheets."""
    if root is not None:
        try:
            file = os.path.relpath(file, root)
        except ValueError:  # another drive on Windows
            pass
    return Path(file).as_posix()


# --------------------------------------------------------------------------- reading


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


def _arm_sd_columns(form: str, arm: int) -> tuple[str, str]:
    primary, other = (f"se{arm}", f"sd{arm}") if form == "change_se" else (f"sd{arm}", f"se{arm}")
    return primary, other


def _form_problem(get: Callable[[str], Any]) -> tuple[str, str] | None:
    """(column, expected) for the first thing missing or inconsistent in a row's numbers.

    ``get(column)`` returns the value or None; only columns the form can use
    are consulted, so the same check serves extractor rows and merged rows.
    """
    form = get("form")
    if form == "events":
        for col in EVENT_COLUMNS:
            if get(col) is None:
                return col, "a value (form events needs events1, n1, events2, n2)"
        for ev, n in (("events1", "n1"), ("events2", "n2")):
            if get(ev) > get(n):
                return ev, f"at most {n} = {fmt(get(n))} events"
        return None
    if form in MD_FORMS:
        need = MD_FORMS[form]
        for col in need:
            if get(col) is None:
                return col, f"a value (form {form} needs {', '.join(need)})"
        md = get("md")
    else:  # arm forms
        for col in ("m1", "n1", "m2", "n2"):
            if get(col) is None:
                return col, f"a value (form {form} needs m1, n1, m2, n2 and an SD or SE per arm)"
        md = get("m1") - get("m2")
        for arm in (1, 2):
            primary, other = _arm_sd_columns(form, arm)
            if get(primary) is None and get(other) is None:
                has_md_stat = (get("ci_low") is not None and get("ci_high") is not None) or (
                    get("se") is not None or get("p") is not None
                )
                if not has_md_stat:
                    return primary, (
                        f"a value ({primary}, or {other}; or for the mean difference "
                        "ci_low and ci_high, se or p)"
                    )
    lo, hi = get("ci_low"), get("ci_high")
    if lo is not None or hi is not None:
        if lo is None or hi is None:
            col = "ci_low" if lo is None else "ci_high"
            return col, "both ci_low and ci_high (or neither)"
        if not lo < hi:
            return "ci_high", f"a value above ci_low = {fmt(lo)}"
        if not lo <= md <= hi:
            col = "ci_low" if md < lo else "ci_high"
            what = "md" if form in MD_FORMS else "m1 - m2"
            return col, f"a 95% CI containing the mean difference ({what} = {fmt(md)})"
    return None


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


# Plausibility bounds (config extraction.plausibility; the schema declares the same
# defaults, tests/test_config_check.py checks they agree). docs/contracts.md explains each.
PLAUSIBILITY: dict[str, Any] = {"max_abs_smd": 5.0, "nonnegative_means": True}


def plausibility(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config["extraction"]["plausibility"]`` over :data:`PLAUSIBILITY`."""
    return {**PLAUSIBILITY, **(config.get("plausibility") or {})}


def _check_plausible(
    outcomes: Mapping[tuple, Merged], studies: Mapping[tuple, Merged], limits: Mapping[str, Any]
) -> list[InputError]:
    """Numbers that are valid one by one but cannot be true together.

    Checked on the merged values (agreed by the extractors, or resolved), so a
    slip of one extractor that a resolution corrects stops nothing, and a
    field still unresolved is left to the resolution. Named at the first
    extractor's row, or at the resolution's row when the value was resolved.

    * n1 + n2 above the study's ``n_total``: the analysed arms cannot hold more
      people than were randomised.
    * ``nonnegative_means`` (form ``means``, final values of measures that cannot
      be negative, e.g. HbA1c, weight, scores): a sample of n values >= 0 with
      mean m >= 0 has SD <= m sqrt(n) (all of n m on one person; sample SD with
      n - 1), so an SD (or SE sqrt(n)) above m sqrt(n) is impossible; typically a
      variance, a confidence interval or a misplaced decimal.
    """
    errors: list[InputError] = []

    def error(m: Merged, col: str, expected: str) -> InputError:
        where = m.resolved_from.get(col)
        if where is not None:
            file, row = where.rsplit(":", 1)
            return InputError(file, expected, row=int(row), column="value", got=m.values[col])
        first = m.rows[0]
        return InputError(first[FILE], expected, row=first[ROW], column=col, got=m.values[col])

    def known(m: Merged, *cols: str) -> bool:
        return all(m.values.get(c) is not None and m.values.get(c) is not UNRESOLVED for c in cols)

    for m in outcomes.values():
        study = studies.get((m.key[0],))
        if study is not None and known(study, "n_total") and known(m, "n1", "n2"):
            n1, n2, total = m.values["n1"], m.values["n2"], study.values["n_total"]
            if n1 + n2 > total:
                first = study.rows[0]
                col = "n1" if n1 >= n2 else "n2"
                errors.append(
                    error(
                        m,
                        col,
                        f"n1 + n2 at most the study's n_total = {fmt(total)} ({first[FILE]} row "
                        f"{first[ROW]}); n1 + n2 = {fmt(n1 + n2)}",
                    )
                )
                continue
        if not limits["nonnegative_means"] or m.values.get("form") != "means":
            continue
        for arm in (1, 2):
            if not known(m, f"m{arm}", f"n{arm}"):
                continue
            mean, n = m.values[f"m{arm}"], m.values[f"n{arm}"]
            if mean < 0:
                continue
            for col in (f"sd{arm}", f"se{arm}"):
                if not known(m, col):
                    continue
                is_sd = col.startswith("sd")
                value, limit = m.values[col], mean * math.sqrt(n) if is_sd else mean
                if value > limit * (1 + REL_TOL):
                    errors.append(
                        error(
                            m,
                            col,
                            f"{'an SD' if is_sd else 'an SE'} at most {fmt(round(limit, 4))}: a "
                            f"measure that cannot be negative with mean m{arm} = {fmt(mean)} over "
                            f"n{arm} = {fmt(n)} has SD <= m*sqrt(n) (a variance or CI instead? if "
                            "the measure can be negative, set extraction.plausibility."
                            "nonnegative_means: false)",
                        )
                    )
                    break
    return errors


def _check_effect_sizes(effects: Sequence[Effect], limits: Mapping[str, Any]) -> list[InputError]:
    """An SMD beyond ``max_abs_smd`` is almost always a misread number: stop, naming the rows."""
    bound = float(limits["max_abs_smd"])
    errors: list[InputError] = []
    for e in effects:
        if e.measure != "SMD" or e.yi is None or not abs(e.yi) > bound:
            continue
        first = e.merged.rows[0]
        form = e.merged.values.get("form")
        errors.append(
            InputError(
                first[FILE],
                f"numbers giving an SMD within +-{fmt(bound)} (extraction.plausibility."
                f"max_abs_smd); {key_text(e.merged.key)} gives SMD = {e.yi:.3g} from form {form}: "
                "check the means, SDs and n (a misplaced decimal, an SE for an SD?)",
                row=first[ROW],
                column="md" if form in MD_FORMS else "m1",
            )
        )
    return errors


def _outcome_key(r: Mapping[str, Any]) -> tuple[str, str, str, float]:
    return (r["study_id"], r["domain"], r["outcome"], float(r["timepoint_weeks"]))


def key_text(key: tuple) -> str:
    return "|".join(fmt(k) for k in key)


# --------------------------------------------------------------------------- merging


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


# --------------------------------------------------------------------------- effects


@dataclass
class Effect:
    """One merged outcome row and what became of it."""

    merged: Merged
    study: Merged
    domain: Domain
    status: str = ""  # candidate | not-computable | unresolved | not-included | outside
    why: str = ""
    yi: float | None = None
    vi: float | None = None
    n: float | None = None
    measure: str = ""
    design_effect: float | None = None

    @property
    def outcome(self) -> str:
        return self.merged.key[2]

    @property
    def timepoint(self) -> float:
        return self.merged.key[3]

    def label(self) -> str:
        return f"{self.outcome} {fmt(self.timepoint)} wk"


def _arm_sd(m: Merged, form: str, arm: int) -> float | None:
    from ..stats import escalc as effects

    primary, other = _arm_sd_columns(form, arm)
    n = m.get(f"n{arm}")
    for col in (primary, other):
        value = m.get(col)
        if value is not None:
            return value if col.startswith("sd") else float(effects.sd_from_se(value, n)[0])
    return None


def _md_se(m: Merged, md: float, n1: float, n2: float) -> float | None:
    from ..stats import escalc as effects

    df = n1 + n2 - 2
    lo, hi = m.get("ci_low"), m.get("ci_high")
    if lo is not None and hi is not None:
        return float(effects.se_from_ci(lo, hi, 0.95, df=df)[0])
    if m.get("se") is not None:
        return m.get("se")
    if m.get("p") is not None:
        return float(effects.se_from_p(md, m.get("p"), df=df)[0])
    return None


def compute(m: Merged, study: Merged, domain: Domain) -> tuple[str, float, float, float, float]:
    """(measure, yi, vi, n, design effect) of a merged outcome row, aligned per domain.

    Raises :class:`Unresolved` when a needed field is unresolved and
    ``effects.EffectInputError`` when the numbers cannot give an effect.
    """
    from ..stats import escalc as effects

    form = m.get("form")
    n1, n2 = m.get("n1"), m.get("n2")
    if form == "events":
        measure = "logRR"
        yi, vi = effects.log_risk_ratio(m.get("events1"), n1, m.get("events2"), n2)
    else:
        measure = "SMD"
        if form in ARM_FORMS:
            sd1, sd2 = _arm_sd(m, form, 1), _arm_sd(m, form, 2)
            m1, m2 = m.get("m1"), m.get("m2")
            if sd1 is not None and sd2 is not None:
                func = effects.smd if form == "means" else effects.smd_from_change
                yi, vi = func(m1, sd1, n1, m2, sd2, n2)
            else:
                se = _md_se(m, m1 - m2, n1, n2)
                yi, vi = effects.smd_from_md_se(m1 - m2, se, n1, n2)
        else:
            md = m.get("md")
            se = _md_se(m, md, n1, n2)
            yi, vi = effects.smd_from_md_se(md, se, n1, n2)
    yi, vi = float(yi[0]), float(vi[0])
    deff = 1.0
    if study.get("design") == "cluster":
        deff = float(effects.design_effect(study.get("icc"), study.get("cluster_size"))[0])
        vi *= deff
    yi = float(effects.align(yi, m.get("favourable"))[0]) * domain.sign
    return measure, yi, vi, float(n1 + n2), deff


# livingreview.stats.escalc argument names -> sheet columns, for messages
_EFFECT_FIELDS = {
    "estimate": "md",
    "ai": "events1",
    "ci": "events2",
    "n1i": "n1",
    "n2i": "n2",
    "lower": "ci_low",
    "upper": "ci_high",
}


def full_text_status(decisions: str | Path) -> dict[str, str]:
    """record_id -> screening status at stage full_text."""
    names, data, _ = read_rows(decisions)
    for col in ("record_id", "stage", "status"):
        if col not in names:
            raise InputError(decisions, "this column in the header", row=1, column=col)
    record, stage, status = (names.index(c) for c in ("record_id", "stage", "status"))
    return {r[record]: r[status] for r in data if r[stage] == "full_text"}


def _evaluate(
    outcomes: Mapping[tuple, Merged],
    studies: Mapping[tuple, Merged],
    settings: Settings,
    screening: Mapping[str, str],
    decisions_name: str,
) -> list[Effect]:
    lo, hi = settings.window
    out = []
    todo: list[Effect] = []
    for key, m in outcomes.items():
        study = studies[(key[0],)]
        e = Effect(m, study, settings.domains[key[1]])
        out.append(e)
        try:
            record = study.get("record_id")
            status = screening.get(record)
            if status != "included":
                e.status = "not-included"
                e.why = (
                    f"record {record} is not included at full text (screening status: {status})"
                    if status
                    else f"record {record} has no full-text decision in {decisions_name}"
                )
                continue
            for name in (settings.stratifier.column, "followup_weeks"):
                study.get(name)
        except Unresolved as exc:
            e.status, e.why = "unresolved", str(exc)
            continue
        todo.append(e)
    _compute_all(todo)
    for e in todo:
        if e.status:
            continue
        if not lo <= e.timepoint <= hi:
            e.status = "outside"
            e.why = f"time point {fmt(e.timepoint)} wk outside the window {fmt(lo)}-{fmt(hi)} wk"
        else:
            e.status = "candidate"
    return out


def _compute_one(e: Effect) -> None:
    """Fill ``e`` from :func:`compute`, or set status and why when it cannot be computed."""
    from ..stats import escalc as effects

    try:
        e.measure, e.yi, e.vi, e.n, e.design_effect = compute(e.merged, e.study, e.domain)
    except Unresolved as exc:
        e.status, e.why = "unresolved", str(exc)
    except effects.EffectInputError as exc:
        e.status = "not-computable"
        column = _EFFECT_FIELDS.get(exc.field, exc.field)
        e.why = f"effect size not computable: {column} {exc.expected} (got {fmt(exc.value)})"


# --------------------------------------------------------------------------- effects in batches
#
# Calling livingreview.stats.escalc once per row costs its input checks per call,
# which dominates on thousands of rows. The same functions are therefore
# called once per step for all rows, which gives the same floats (every step
# is element-wise). Rows whose fields are unresolved, and rows any step
# rejects, go through the one-row path :func:`compute`, so their status and
# message are exactly those it gives.


class _BadRow(Exception):
    """Row ``index`` of a batch was rejected by an effects function."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _plan(e: Effect) -> dict[str, Any] | None:
    """The fields :func:`compute` reads for ``e`` and which branches it takes.

    Reads (at least) every field ``compute`` reads, so an unresolved one shows
    here; returns None then, or when a needed number is missing, leaving the
    row to the one-row path.
    """
    m, study = e.merged, e.study
    try:
        form = m.get("form")
        plan: dict[str, Any] = {"form": form, "n1": m.get("n1"), "n2": m.get("n2")}
        if form == "events":
            plan["events1"], plan["events2"] = m.get("events1"), m.get("events2")
            need_md = False
        elif form in ARM_FORMS:
            for arm in (1, 2):
                cols = _arm_sd_columns(form, arm)
                col = next((c for c in cols if m.get(c) is not None), None)
                plan[f"sd_col{arm}"] = col
                plan[f"sd_val{arm}"] = m.get(col) if col else None
            plan["m1"], plan["m2"] = m.get("m1"), m.get("m2")
            need_md = plan["sd_col1"] is None or plan["sd_col2"] is None
        else:
            plan["md"] = m.get("md")
            need_md = True
        if need_md:
            lo, hi = m.get("ci_low"), m.get("ci_high")
            if lo is not None and hi is not None:
                plan.update(md_stat="ci", ci_low=lo, ci_high=hi)
            elif m.get("se") is not None:
                plan.update(md_stat="se", se=m.get("se"))
            elif m.get("p") is not None:
                plan.update(md_stat="p", p=m.get("p"))
            else:
                return None
        plan["cluster"] = study.get("design") == "cluster"
        if plan["cluster"]:
            plan["icc"], plan["cluster_size"] = study.get("icc"), study.get("cluster_size")
        plan["favourable"] = m.get("favourable")
    except Unresolved:
        return None
    optional = ("sd_col1", "sd_val1", "sd_col2", "sd_val2")
    if any(v is None for k, v in plan.items() if k not in optional):
        return None  # compute() fails on it; let it say how
    return plan


def _compute_all(todo: Sequence[Effect]) -> None:
    """Compute every effect in ``todo`` as :func:`compute` would, in batches."""
    plans: list[tuple[Effect, dict[str, Any]]] = []
    for e in todo:
        plan = _plan(e)
        if plan is None:
            _compute_one(e)
        else:
            plans.append((e, plan))
    while plans:
        try:
            measure, yi, vi, n, deff = _batch(
                [p for _, p in plans], [e.domain.sign for e, _ in plans]
            )
        except _BadRow as bad:
            _compute_one(plans.pop(bad.index)[0])
            continue
        for i, (e, _) in enumerate(plans):
            e.measure, e.yi, e.vi, e.n, e.design_effect = measure[i], yi[i], vi[i], n[i], deff[i]
        break


def _call(func: Callable[..., Any], rows: np.ndarray, *args: Any, **kwargs: Any) -> Any:
    """``func(*args)`` on the batch positions ``rows``; a rejected row raises :class:`_BadRow`."""
    from ..stats import escalc as effects

    try:
        return func(*args, **kwargs)
    except effects.EffectInputError as exc:
        raise _BadRow(int(rows[exc.index])) from None


def _batch(
    plans: Sequence[Mapping[str, Any]], signs: Sequence[int]
) -> tuple[list[str], list[float], list[float], list[float], list[float]]:
    """(measure, yi, vi, n, design effect) per plan, step by step as :func:`compute`."""
    from ..stats import escalc as effects

    def col(name: str) -> np.ndarray:
        return np.array([p.get(name, math.nan) for p in plans], dtype=float)

    forms = np.array([p["form"] for p in plans], dtype=object)
    n1, n2 = col("n1"), col("n2")
    yi, vi = np.full(len(plans), math.nan), np.full(len(plans), math.nan)

    ev = np.flatnonzero(forms == "events")
    if ev.size:
        yi[ev], vi[ev] = _call(
            effects.log_risk_ratio, ev, col("events1")[ev], n1[ev], col("events2")[ev], n2[ev]
        )

    arm = np.isin(forms, ARM_FORMS)
    sd = {}
    for a, n in ((1, n1), (2, n2)):
        vals = col(f"sd_val{a}")
        from_se = np.flatnonzero([(p.get(f"sd_col{a}") or "").startswith("se") for p in plans])
        if from_se.size:
            vals[from_se] = _call(effects.sd_from_se, from_se, vals[from_se], n[from_se])
        sd[a] = vals
    both = np.flatnonzero(arm & ~np.isnan(sd[1]) & ~np.isnan(sd[2]))
    if both.size:
        m1, m2 = col("m1"), col("m2")
        yi[both], vi[both] = _call(
            effects.smd, both, m1[both], sd[1][both], n1[both], m2[both], sd[2][both], n2[both]
        )

    via_md = np.setdiff1d(np.flatnonzero(forms != "events"), both)
    if via_md.size:
        md = np.where(arm, col("m1") - col("m2"), col("md"))
        stat = np.array([p.get("md_stat") for p in plans], dtype=object)
        se = col("se")
        df = n1 + n2 - 2
        ci = np.intersect1d(via_md, np.flatnonzero(stat == "ci"))
        if ci.size:
            se[ci] = _call(
                effects.se_from_ci, ci, col("ci_low")[ci], col("ci_high")[ci], 0.95, df=df[ci]
            )
        pv = np.intersect1d(via_md, np.flatnonzero(stat == "p"))
        if pv.size:
            se[pv] = _call(effects.se_from_p, pv, md[pv], col("p")[pv], df=df[pv])
        yi[via_md], vi[via_md] = _call(
            effects.smd_from_md_se, via_md, md[via_md], se[via_md], n1[via_md], n2[via_md]
        )

    deff = np.ones(len(plans))
    cl = np.flatnonzero([p["cluster"] for p in plans])
    if cl.size:
        deff[cl] = _call(effects.design_effect, cl, col("icc")[cl], col("cluster_size")[cl])
        vi[cl] = vi[cl] * deff[cl]
    fav = np.array([p["favourable"] for p in plans], dtype=object)
    yi = _call(effects.align, np.arange(len(plans)), yi, fav) * np.asarray(signs, dtype=float)
    measure = ["logRR" if f == "events" else "SMD" for f in forms]
    return measure, yi.tolist(), vi.tolist(), (n1 + n2).tolist(), deff.tolist()


def _rank_n(e: Effect) -> float:
    if e.n is not None:
        return e.n
    try:
        return float(e.merged.get("n1") + e.merged.get("n2"))
    except (Unresolved, TypeError):
        return math.inf  # unknown: it might win


def _select(
    group: list[Effect], settings: Settings
) -> tuple[Effect | None, dict[int, str], str, str]:
    """Pick the effect of one trial x domain. Returns (winner, why per id(effect), rule, beat)."""
    dom = group[0].domain
    lo, hi = settings.window
    pool = [e for e in group if e.status in ("candidate", "unresolved") and lo <= e.timepoint <= hi]
    why: dict[int, str] = {}
    if not pool:
        return None, why, "", ""
    latest: dict[str, Effect] = {}
    for e in pool:
        if e.outcome not in latest or e.timepoint > latest[e.outcome].timepoint:
            latest[e.outcome] = e
    reps = sorted(
        latest.values(), key=lambda e: (dom.tier(e.outcome), -_rank_n(e), dom.order(e.outcome))
    )
    win = reps[0]
    others = sorted(
        (e for e in pool if e is not win),
        key=lambda e: (dom.tier(e.outcome), dom.order(e.outcome), -e.timepoint),
    )
    if win.status == "unresolved":
        for e in others:
            if e.status != "unresolved":
                why[id(e)] = (
                    f"the preferred effect {win.label()} is unresolved; the selection waits for its "
                    "resolution"
                )
        return None, why, "", ""
    wt, wn = dom.tier(win.outcome), _rank_n(win)
    parts = [f"{win.outcome}: priority tier {wt + 1} of {len(dom.tiers)} ({dom.describe()})"]
    rivals = [e for e in reps[1:] if dom.tier(e.outcome) == wt]
    if rivals:
        if any(_rank_n(e) == wn for e in rivals):
            parts.append("within the tier the larger n, then the configured order")
        else:
            parts.append(f"within the tier the larger n ({fmt(wn)})")
    times = sorted(e.timepoint for e in pool if e.outcome == win.outcome)
    parts.append(
        f"latest time point in {fmt(lo)}-{fmt(hi)} wk: {fmt(win.timepoint)} wk"
        + (f" (of {', '.join(fmt(t) for t in times)})" if len(times) > 1 else "")
    )
    skipped = [
        e
        for e in group
        if e.status == "not-computable" and dom.tier(e.outcome) <= wt and lo <= e.timepoint <= hi
    ]
    if skipped:
        parts.append("not computable: " + ", ".join(e.label() for e in skipped))
    for e in others:
        t = dom.tier(e.outcome)
        if e.status == "unresolved":
            why[id(e)] = e.why + " (lower ranked: not selected even once resolved)"
        elif e.outcome == win.outcome:
            why[id(e)] = f"earlier time point than the selected {win.label()}"
        elif t > wt:
            why[id(e)] = (
                f"lower priority tier ({e.outcome}: tier {t + 1}) than the selected "
                f"{win.label()} (tier {wt + 1})"
            )
        elif latest[e.outcome] is not e:
            why[id(e)] = (
                f"not the latest time point of {e.outcome}; and the selected {win.label()} "
                "is preferred within the tier"
            )
        elif _rank_n(e) < wn:
            why[id(e)] = (
                f"same tier as the selected {win.label()}, smaller n ({fmt(_rank_n(e))} < {fmt(wn)})"
            )
        else:
            why[id(e)] = (
                f"same tier and n as the selected {win.label()}, later in the configured order"
            )
    return win, why, "; ".join(parts), "; ".join(e.label() for e in others)


# --------------------------------------------------------------------------- the stage


@dataclass
class ExtractionResult:
    studies: pd.DataFrame
    discrepancies: pd.DataFrame
    effects: pd.DataFrame
    not_selected: pd.DataFrame
    arm_data: pd.DataFrame | None = None  # ARM_DATA_COLUMNS, one row per selected effect


def run(
    study_files: Sequence[str | Path],
    outcome_files: Sequence[str | Path],
    decisions: str | Path,
    config: Mapping[str, Any],
    schema_dir: str | Path,
    resolutions: str | Path | None = None,
    root: str | Path | None = None,
    aliases: str | Path | None = None,
) -> ExtractionResult:
    """Merge the sheets, compute and select effects; return the four output tables.

    ``config`` is ``config["extraction"]``; ``schema_dir`` holds
    ``{studies,outcomes,resolutions}.schema.yaml``; ``root`` (the input root)
    makes the ``source`` provenance paths relative and machine-independent;
    ``aliases`` (``results/records/aliases.csv``) maps earlier record ids to
    today's, so a sheet written before an id changed stays right.
    """
    settings = Settings.from_config(config)
    schema_dir = Path(schema_dir)
    schemas = {
        n: load_schema(schema_dir / f"{n}.schema.yaml")
        for n in ("studies", "outcomes", "resolutions")
    }
    schemas["studies"] = settings.studies_schema(schemas["studies"])
    root_path = Path(root) if root is not None else None

    xlsx_sheet = config.get("xlsx_sheet")
    study_rows = _load(study_files, schemas["studies"], xlsx_sheet)
    from ..search.records import read_aliases  # here: the Snakefile imports this module at start-up

    earlier = read_aliases(aliases)
    for r in study_rows:
        r["record_id"] = earlier.get(r.get("record_id"), r.get("record_id"))
    outcome_rows = _load(outcome_files, schemas["outcomes"], xlsx_sheet)
    _check_studies(study_rows, settings)
    study_ids = {r["study_id"] for r in study_rows}
    raise_collected(_check_outcomes(outcome_rows, settings, study_ids))
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
    res = _load_resolutions(resolutions, schemas, settings)
    disc = _apply_resolutions({"studies": studies, "outcomes": outcomes}, res)
    _recheck_merged(outcomes, studies, settings)
    limits = plausibility(config)
    raise_collected(_check_plausible(outcomes, studies, limits))

    screening = full_text_status(decisions)
    screening = {**{o: screening[n] for o, n in earlier.items() if n in screening}, **screening}
    evaluated = _evaluate(outcomes, studies, settings, screening, Path(decisions).name)
    raise_collected(_check_effect_sizes(evaluated, limits))

    groups: dict[tuple[str, str], list[Effect]] = {}
    for e in evaluated:
        groups.setdefault((e.merged.key[0], e.domain.slug), []).append(e)
    chosen, skipped, arms = [], [], []
    for (sid, dslug), group in sorted(groups.items()):
        win, why, rule, beat = _select(group, settings)
        if win is not None:
            chosen.append(_effect_row(win, rule, beat, root_path, settings))
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
    eff = pd.DataFrame(chosen, columns=list(settings.effect_columns))
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


def write_outputs(
    result: ExtractionResult,
    studies: str | Path,
    discrepancies: str | Path,
    effects_csv: str | Path,
    not_selected: str | Path,
    arm_data: str | Path | None = None,
) -> None:
    """Write the tables atomically; free text is neutralised for spreadsheets."""
    write_csv(result.studies, studies, text_columns=("citation", "country", "record_id"))
    write_csv(
        result.discrepancies, discrepancies, text_columns=("key", "values", "resolution", "note")
    )
    write_csv(result.effects, effects_csv, text_columns=("citation", "record_id"))
    write_csv(result.not_selected, not_selected, text_columns=("why",))
    if arm_data is not None:
        table = result.arm_data
        if table is None:
            table = pd.DataFrame(columns=list(ARM_DATA_COLUMNS))
        write_csv(table, arm_data, text_columns=("outcome",))
