"""Merged values: the keys rows are merged by, how two entries compare, how values print.

Two extractors agree on a number when it is equal within a relative
tolerance of :data:`REL_TOL`, on text after collapsing white space; a field
on which they differ and that no resolution settles is :data:`UNRESOLVED`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

EXTRACTOR = "_extractor"
STUDY_KEY = ("study_id",)
OUTCOME_KEY = ("study_id", "domain", "outcome", "timepoint_weeks")
NOT_COMPARED = {"note"}  # free text that belongs to one extractor
ROW_FIELD = "(row)"
REL_TOL = 1e-9


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


def _outcome_key(r: Mapping[str, Any]) -> tuple[str, str, str, float]:
    return (r["study_id"], r["domain"], r["outcome"], float(r["timepoint_weeks"]))


def key_text(key: tuple) -> str:
    return "|".join(fmt(k) for k in key)
