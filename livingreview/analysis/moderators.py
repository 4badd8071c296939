"""Meta-regression moderators: any named study-level column, coded once into a design matrix.

``analysis.moderators`` names columns of the studies sheet (or ``n``/``ln_n``,
derived per effect). A numeric column enters as it is, a yes/no column as 1/0,
and a text column (categories) as dummy variables ``<column>[<level>]``
against a reference level: the one written as ``{column: level}``, else the
first in sorted order. The reference is stated in ``metareg/<name>.json``
(``coding``) so a reader knows what each coefficient compares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas costs ~0.6 s: common.smk imports this module at every start
    import pandas as pd

__all__ = ["BINARY_YESNO", "DERIVED", "design_matrix", "parse_moderators", "unknown_moderators"]

BINARY_YESNO = {"yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}
DERIVED = ("n", "ln_n")  # computed per effect by the extraction stage, not sheet columns


def parse_moderators(items: Sequence[Any]) -> tuple[tuple[str, ...], dict[str, str]]:
    """``analysis.moderators`` -> (names, {name: reference level}); duplicates stop.

    >>> parse_moderators(["followup_weeks", {"setting": "community"}])
    (('followup_weeks', 'setting'), {'setting': 'community'})
    """
    names: list[str] = []
    references: dict[str, str] = {}
    for item in items:
        if isinstance(item, Mapping):
            ((name, ref),) = item.items()
            references[str(name)] = str(ref)
        else:
            name = item
        if str(name) in names:
            raise ValueError(f"analysis.moderators names {name} twice")
        names.append(str(name))
    return tuple(names), references


def unknown_moderators(names: Sequence[str], study_columns: Sequence[str]) -> list[str]:
    """The moderators that are neither derived nor a column of the studies sheet."""
    known = set(study_columns) | set(DERIVED)
    return [name for name in names if name not in known]


def _yes_no(col: pd.Series) -> pd.Series | None:
    text = col.astype(str).str.strip().str.lower()
    filled = text[col.notna() & (text != "")]
    if filled.empty or not filled.isin(list(BINARY_YESNO)).all():
        return None
    return text.map(BINARY_YESNO)


def design_matrix(
    data: pd.DataFrame, names: Sequence[str], references: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, pd.Series, dict[str, dict[str, Any]]]:
    """(design matrix of the complete rows, which rows are complete, coding of categories).

    A row missing any moderator is left out. Categories are coded on the
    complete rows, so every dummy has at least one study. Raises ValueError
    naming a moderator that is not a column of ``data``, or a reference
    level that no complete row has.
    """
    import pandas as pd

    references = dict(references or {})
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise ValueError(f"moderator {missing[0]} is not a column of the strata's data.csv")
    kinds: dict[str, pd.Series] = {}
    complete = pd.Series(True, index=data.index)
    for name in names:
        col = data[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values = pd.to_numeric(col, errors="coerce")
        elif pd.api.types.is_bool_dtype(col):
            values = col.astype(float)
        else:
            yes_no = _yes_no(col)
            if yes_no is not None and name not in references:
                values = yes_no
            else:
                text = col.astype(str).str.strip()
                values = text.where(col.notna() & (text != "") & (text.str.lower() != "nan"))
        kinds[name] = values
        complete &= values.notna()
    columns: dict[str, pd.Series] = {}
    coding: dict[str, dict[str, Any]] = {}
    for name in names:
        values = kinds[name][complete]
        if pd.api.types.is_numeric_dtype(values):
            columns[name] = values.astype(float)
            continue
        levels = sorted(values.unique().tolist())
        reference = references.get(name, levels[0] if levels else None)
        if levels and reference not in levels:
            raise ValueError(
                f"reference level {reference!r} of moderator {name} is not among its values "
                f"({', '.join(levels)})"
            )
        coding[name] = {"reference": reference, "levels": levels}
        for level in levels:
            if level != reference:
                columns[f"{name}[{level}]"] = (values == level).astype(float)
    matrix = pd.DataFrame(columns, index=data.index[complete])
    return matrix, complete, coding
