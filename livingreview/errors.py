"""Errors that stop a run with one message naming the file, row and column.

Users fix their spreadsheets from this message alone, so it must say where
(file, spreadsheet row, column) and what was expected, never just "invalid".
Rows are numbered as a spreadsheet shows them: the header is row 1, the first
data row is row 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

_MISSING = object()


class LivingReviewError(Exception):
    """Base class: anything the pipeline reports to the user and stops on."""


class InputError(LivingReviewError, ValueError):
    """One bad value (or several) in a human-provided input file."""

    def __init__(
        self,
        file: str | Path | None,
        expected: str,
        *,
        row: int | None = None,
        column: str | None = None,
        got: object = _MISSING,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.expected = expected
        self.got = None if got is _MISSING else got
        where = []
        if self.file:
            where.append(self.file)
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        text = f"expected {expected}"
        if got is not _MISSING:
            text += f", got {got!r}"
        super().__init__(f"{', '.join(where)}: {text}" if where else text)


class InputErrors(LivingReviewError, ValueError):
    """Several violations found in one pass, reported together in one message."""

    MAX_SHOWN = 25

    def __init__(self, errors: Iterable[InputError]) -> None:
        self.errors = list(errors)
        lines = [str(e) for e in self.errors[: self.MAX_SHOWN]]
        more = len(self.errors) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        head = f"{len(self.errors)} problem(s) in input files:\n  " if len(self.errors) > 1 else ""
        super().__init__(head + "\n  ".join(lines))


def raise_collected(errors: list[InputError]) -> None:
    """Raise the single error, or all of them together; do nothing when empty."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)
