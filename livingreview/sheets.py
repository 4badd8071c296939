"""Read the spreadsheets team members provide, and validate them against a schema.

Reviewers and extractors edit CSV/XLSX files by hand, in Excel, LibreOffice
or a text editor. Everything they can get wrong (encoding, delimiter, a
duplicated or misspelled column, a number that is not a number, a value
outside the allowed list) must end in one message that names the file, the
spreadsheet row and the column. Schemas are JSON Schema (written in YAML)
describing one row; see ``workflow/schemas/``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml

from .errors import InputError, raise_collected

ROW = "_row"  # spreadsheet row number of each data row (header = row 1)
FILE = "_file"  # path of the file each row came from
SUPPORTED = (".csv", ".xlsx")
_TRUE = {"yes", "y", "true", "1"}
_FALSE = {"no", "n", "false", "0"}


def load_schema(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_sheet(path: str | Path) -> pd.DataFrame:
    """Read a CSV (UTF-8, comma-separated) or XLSX sheet as text cells.

    Returns a frame of strings ('' for empty cells) with a ``_row`` column
    holding the spreadsheet row number and a ``_file`` column. Blank lines are
    skipped. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is accepted.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(path, "a .csv or .xlsx file", got=path.suffix)
    header, rows = _read_xlsx(path) if suffix == ".xlsx" else _read_csv(path)
    return _to_frame(path, header, rows)


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        raise InputError(path, "a header row followed by data rows, but the file is empty", row=1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            path,
            "UTF-8 text (save the sheet as 'CSV UTF-8'); found a byte that is not UTF-8, "
            "as Latin-1/Windows-1252 files have",
            row=line,
            got=raw[exc.start : exc.start + 1].decode("latin-1"),
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        records = [(reader.line_num, r) for r in reader]
    except csv.Error as exc:
        raise InputError(path, f"well-formed CSV ({exc})", row=reader.line_num) from None
    # csv.reader's line_num is the physical line where a record *ends*; for the
    # usual one-line records that is the spreadsheet row.
    header = records[0][1]
    return header, [(num, r) for num, r in records[1:]]


def _read_xlsx(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise InputError(path, f"a readable .xlsx workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        rows = [
            (i, [_xlsx_cell(v) for v in row])
            for i, row in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        book.close()
    if not rows or not any(c for c in rows[0][1]):
        raise InputError(path, "a header row in the first row of the first sheet", row=1)
    header = rows[0][1]
    while header and header[-1] == "":
        header = header[:-1]
    return header, rows[1:]


def _xlsx_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 else value.isoformat()
    return str(value)


def _to_frame(path: Path, header: list[str], rows: list[tuple[int, list[str]]]) -> pd.DataFrame:
    names = [h.strip() for h in header]
    if len(names) == 1 and re.search(r"[;\t|]", names[0]):
        raise InputError(
            path,
            f"comma-separated columns; the header looks separated by {_delimiter_name(names[0])}",
            row=1,
            got=names[0],
        )
    seen: set[str] = set()
    for name in names:
        if name == "":
            raise InputError(path, "a name for every column (an empty header cell)", row=1)
        if name in seen:
            raise InputError(path, "each column name once (duplicated header)", row=1, column=name)
        seen.add(name)
    data: list[list[str]] = []
    numbers: list[int] = []
    for num, cells in rows:
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if len(cells) > len(names):
            extra = cells[len(names) :]
            if any(extra):
                raise InputError(
                    path,
                    f"{len(names)} fields as in the header (is there a stray comma?)",
                    row=num,
                    got=len(cells),
                )
            cells = cells[: len(names)]
        cells = cells + [""] * (len(names) - len(cells))
        data.append(cells)
        numbers.append(num)
    frame = pd.DataFrame(data, columns=names, dtype=object)
    frame[ROW] = numbers
    frame[FILE] = str(path)
    return frame


def _delimiter_name(text: str) -> str:
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if sep in text:
            return name
    return "something other than commas"


def load_sheet(path: str | Path, schema: dict[str, Any] | str | Path) -> pd.DataFrame:
    """Read a sheet, check its columns and every cell against ``schema``.

    Cells are converted to the schema's types (number, integer, boolean,
    string); enumerated lower-case string values are matched case-insensitively.
    All violations are collected and raised together (``InputErrors``), each
    naming file, row and column. Optional columns missing from the sheet are
    added as empty (None).
    """
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    frame = read_sheet(path)
    return validate_frame(frame, schema, path)


def validate_frame(frame: pd.DataFrame, schema: dict[str, Any], path: str | Path) -> pd.DataFrame:
    props: dict[str, dict[str, Any]] = schema.get("properties", {})
    required: list[str] = schema.get("required", [])
    errors: list[InputError] = []
    columns = [c for c in frame.columns if c not in (ROW, FILE)]
    lookup = {c.lower(): c for c in columns}
    rename = {}
    for name in props:
        if name not in columns and name.lower() in lookup:
            rename[lookup[name.lower()]] = name  # tolerate "Decision" for "decision"
    frame = frame.rename(columns=rename)
    columns = [rename.get(c, c) for c in columns]
    for name in required:
        if name not in columns:
            errors.append(
                InputError(path, "this required column in the header", row=1, column=name)
            )
    if schema.get("additionalProperties") is False:
        for name in columns:
            if name not in props:
                known = ", ".join(props)
                errors.append(
                    InputError(path, f"a known column (one of: {known})", row=1, column=name)
                )
    raise_collected(errors)

    cell_check = _CellChecker(props)
    rows = [int(r) for r in frame[ROW]]
    typed_columns: dict[str, list[Any]] = {}
    found: list[tuple[int, int, InputError]] = []  # (row position, column position, error)
    for position, name in enumerate(props):
        if name not in frame.columns:
            typed_columns[name] = [None] * len(frame)
            continue
        codes, uniques = pd.factorize(frame[name].fillna("").astype(str), use_na_sentinel=False)
        checked = [(None, None) if u == "" else cell_check(name, u) for u in uniques]
        typed_columns[name] = [checked[c][0] for c in codes]
        bad = {i for i, (_, problem) in enumerate(checked) if problem is not None}
        empty = {i for i, u in enumerate(uniques) if u == ""} if name in required else set()
        if not bad and not empty:
            continue
        for i, code in enumerate(codes):
            if code in empty:
                error = InputError(
                    path, "a value (this column is required)", row=rows[i], column=name
                )
                found.append((i, position, error))
            elif code in bad:
                expected, got = checked[code][1]
                found.append(
                    (i, position, InputError(path, expected, row=rows[i], column=name, got=got))
                )
    errors.extend(error for _, _, error in sorted(found, key=lambda item: item[:2]))
    extras = [c for c in columns if c not in props]
    row_schema = {k: v for k, v in schema.items() if k not in _CELL_LEVEL_KEYS}
    if row_schema:  # cross-cell rules (if/then, dependentRequired...): one row at a time
        validator = jsonschema.Draft202012Validator(row_schema)
        for i, row in enumerate(rows):
            typed = {n: typed_columns[n][i] for n in props if typed_columns[n][i] is not None}
            for err in validator.iter_errors(typed):
                if err.validator == "required":
                    continue  # reported above, once per empty cell
                column, expected = describe_error(err, props)
                got = typed.get(column) if column else None
                errors.append(InputError(path, expected, row=row, column=column, got=got))
    raise_collected(errors)
    out = pd.DataFrame(
        {
            **typed_columns,
            **{c: frame[c].tolist() for c in extras},
            ROW: rows,
            FILE: [str(path)] * len(frame),
        },
        columns=[*props, *extras, ROW, FILE],
    )
    return out


# Keywords that concern one cell at a time; anything else (if/then, dependentRequired, ...)
# is checked per row.
_CELL_LEVEL_KEYS = {
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
}


class _CellChecker:
    """Coerce and validate one cell against its column's schema, caching by value.

    Sheets repeat the same values over and over (decisions, forms, domains), so
    checking each distinct (column, text) once makes validation cost scale with
    the number of distinct values rather than with rows x columns.
    """

    def __init__(self, props: dict[str, dict[str, Any]]) -> None:
        self.props = props
        self.validators = {
            name: jsonschema.Draft202012Validator({"type": "object", "properties": {name: spec}})
            for name, spec in props.items()
        }
        self.cache: dict[tuple[str, str], tuple[Any, tuple[str, Any] | None]] = {}

    def __call__(self, name: str, raw: str) -> tuple[Any, tuple[str, Any] | None]:
        key = (name, raw)
        hit = self.cache.get(key)
        if hit is None:
            hit = self._check(name, raw)
            self.cache[key] = hit
        return hit

    def _check(self, name: str, raw: str) -> tuple[Any, tuple[str, Any] | None]:
        try:
            value = coerce_cell(raw, self.props[name])
        except ValueError as exc:
            return None, (str(exc), raw)
        for err in self.validators[name].iter_errors({name: value}):
            return None, (describe_error(err, self.props)[1], value)
        return value, None


def _types(spec: dict[str, Any]) -> list[str]:
    kind = spec.get("type", "string")
    return [kind] if isinstance(kind, str) else list(kind)


def coerce_cell(raw: str, spec: dict[str, Any]) -> Any:
    """Convert a cell's text to the schema type; ValueError says what was expected."""
    kinds = [k for k in _types(spec) if k != "null"]
    kind = kinds[0] if kinds else "string"
    if kind == "number":
        try:
            value = float(raw.replace("\u2212", "-"))
        except ValueError:
            raise ValueError("a number (use a point as decimal separator)") from None
        if not math.isfinite(value):
            raise ValueError("a finite number")
        return value
    if kind == "integer":
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("a whole number") from None
        if not value.is_integer():
            raise ValueError("a whole number")
        return int(value)
    if kind == "boolean":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("yes or no")
    enum = spec.get("enum")
    if enum and all(isinstance(e, str) and e == e.lower() for e in enum):
        return raw.lower()
    return raw


def describe_error(
    err: jsonschema.ValidationError, props: dict[str, dict[str, Any]]
) -> tuple[str | None, str]:
    """Turn a jsonschema error into (column, what was expected)."""
    column = str(err.path[0]) if err.path else None
    spec = props.get(column, {}) if column else {}
    kind = err.validator
    if kind == "required":
        match = re.match(r"'(.+)' is a required property", err.message)
        column = match.group(1) if match else column
        return column, "a value (this column is required)"
    if "description" in spec and kind in ("pattern", "format"):
        return column, spec["description"]
    if kind == "enum":
        return column, "one of: " + ", ".join(str(v) for v in err.validator_value)
    if kind == "minimum":
        return column, f"a value >= {err.validator_value}"
    if kind == "exclusiveMinimum":
        return column, f"a value > {err.validator_value}"
    if kind == "maximum":
        return column, f"a value <= {err.validator_value}"
    if kind == "exclusiveMaximum":
        return column, f"a value < {err.validator_value}"
    if kind == "pattern":
        return column, f"text matching {err.validator_value}"
    return column, err.message
