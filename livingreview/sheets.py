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
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import InputError, raise_collected
from .sheet_cells import (
    _CellChecker,
    describe_error,
)

if TYPE_CHECKING:  # pandas and numpy cost ~0.6 s: Snakemake imports this module at every start
    import pandas as pd

ROW = "_row"  # spreadsheet row number of each data row (header = row 1)
FILE = "_file"  # path of the file each row came from
SUPPORTED = (".csv", ".xlsx")


PERSON_RE = re.compile(r"[a-z0-9]+")  # a reviewer's or extractor's name, matched as a whole


def person_name(path: str | Path, expected: str) -> str:
    """The person a sheet belongs to: its file stem up to the first '-' or '_', lower-cased.

    The name must match :data:`PERSON_RE` as a whole (``re.match`` with ``$``
    also matched before a trailing newline: ``bob\\n.csv`` became a second
    reviewer ``bob\\n``), and the rest of the stem must hold no line break, tab
    or trailing space. ``expected`` is the message for a bad name.
    """
    path = Path(path)
    name = re.split(r"[-_]", path.stem, maxsplit=1)[0].lower()
    if not PERSON_RE.fullmatch(name):
        raise InputError(path, expected, got=path.name)
    rest = path.stem[len(name) :]
    if not rest.isprintable() or rest != rest.rstrip():
        raise InputError(
            path, "a file name without line breaks, tabs or trailing spaces", got=path.name
        )
    return name


def load_schema(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def sheet_files(folder: str | Path) -> list[Path]:
    """Every file a stage reads in ``folder``, sorted; a missing folder has none.

    Hidden files, spreadsheet lock files (``~$name.xlsx``, ``.~lock...``) and
    READMEs are not sheets. Everything else is, whatever its name: a file the
    stage cannot read (``ana.ods``) stops the run naming it instead of being
    passed over. Used as the rules' input functions, so adding a file reruns the
    stage.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.iterdir()) if p.is_file() and not _not_a_sheet(p)]


def _not_a_sheet(path: Path) -> bool:
    name = path.name
    return name.startswith((".", "~$", ".~lock")) or name.lower().startswith("readme")


def read_sheet(path: str | Path, *, sheet: str | None = None) -> pd.DataFrame:
    """Read a CSV (UTF-8, comma-separated) or XLSX sheet as text cells.

    Returns a frame of strings ('' for empty cells) with a ``_row`` column
    holding the spreadsheet row number and a ``_file`` column. Blank lines are
    skipped. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is accepted.
    """
    import pandas as pd

    names, data, numbers = read_rows(path, sheet=sheet)
    frame = pd.DataFrame(data, columns=names, dtype=object)
    frame[ROW] = numbers
    frame[FILE] = str(Path(path))
    return frame


def read_rows(
    path: str | Path, *, sheet: str | None = None
) -> tuple[list[str], list[list[str]], list[int]]:
    """:func:`read_sheet` without the DataFrame: (column names, cells per row, row numbers).

    Cells are stripped text, every row as long as the header; blank rows are
    skipped, and the header is checked (delimiter, empty or duplicated names).
    ``sheet`` names the worksheet of an .xlsx file (config ``xlsx_sheet``); without
    it the workbook must hold data on its active sheet only.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(path, "a .csv or .xlsx file", got=path.suffix)
    header, rows = _read_xlsx(path, sheet) if suffix == ".xlsx" else _read_csv(path)
    return _clean_rows(path, header, rows)


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    utf16 = _utf16_kind(raw)
    if utf16:
        raise InputError(
            path,
            f"UTF-8 text (save the sheet as 'CSV UTF-8'); this file is {utf16}, as Excel's "
            "'Unicode Text' and some exports write",
            row=1,
        )
    if not raw.strip():
        raise InputError(path, "a header row followed by data rows, but the file is empty", row=1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            path,
            "UTF-8 text (save the sheet as 'CSV UTF-8'); found a byte that is not UTF-8, "
            "as Latin-1/Windows-1252 files have",
            row=_record_of(raw[: exc.start].decode("utf-8")),
            got=raw[exc.start : exc.start + 1].decode("latin-1"),
        ) from None
    # Rows are counted in records, as a spreadsheet shows them: a quoted cell with
    # line breaks is one row (csv.reader's line_num counts physical lines), and a
    # blank line is an (empty) row.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        for record in reader:
            records.append((len(records) + 1, record))
    except csv.Error as exc:
        raise InputError(path, f"well-formed CSV ({exc})", row=len(records) + 1) from None
    header = records[0][1]
    return header, records[1:]


def _utf16_kind(raw: bytes) -> str | None:
    """'UTF-16' (with its byte order) when ``raw`` looks UTF-16 encoded, else None."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 (" + ("little" if raw[:1] == b"\xff" else "big") + "-endian, with a BOM)"
    head = raw[:200]
    if len(head) >= 4 and head.count(b"\x00") >= len(head) // 4:
        return "UTF-16 (no BOM; every other byte is zero)"
    return None


def _record_of(prefix: str) -> int:
    """The spreadsheet row (CSV record, header = 1) in which text ``prefix`` ends."""
    return sum(1 for _ in csv.reader(io.StringIO(prefix + "x", newline="")))


def _read_xlsx(
    path: Path, sheet: str | None = None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and rows of the workbook's one data sheet (see :func:`_pick_sheet`).

    Read twice: once for the values Excel cached, once for the formulas, so
    that a formula no program has calculated (its cell would read as empty)
    is an error rather than a missing value; a merged cell is an error too
    (only its first cell holds the value, the others read as empty).
    """
    import openpyxl

    try:
        values = openpyxl.load_workbook(path, data_only=True)
        formulas = openpyxl.load_workbook(path, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise InputError(path, f"a readable .xlsx workbook ({exc})") from None
    ws = _pick_sheet(path, values, sheet)
    raw = [list(row) for row in ws.iter_rows(values_only=True)]
    if not raw or not any(v is not None and str(v).strip() for v in raw[0]):
        raise InputError(path, f"a header row in the first row of sheet '{ws.title}'", row=1)
    header = [_xlsx_cell(v) for v in raw[0]]
    while header and header[-1] == "":
        header = header[:-1]

    def column(index: int) -> str:
        name = header[index].strip() if index < len(header) else ""
        return name or openpyxl.utils.get_column_letter(index + 1)

    for merged in sorted(ws.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col)):
        raise InputError(
            path,
            f"one value per cell; cells {merged.coord} of sheet '{ws.title}' are merged "
            "(unmerge them and fill every cell)",
            row=merged.min_row,
            column=column(merged.min_col - 1),
        )
    for row in formulas[ws.title].iter_rows():
        for cell in row:
            if cell.data_type == "f" and raw[cell.row - 1][cell.column - 1] is None:
                raise InputError(
                    path,
                    "a value; the cell holds a formula no spreadsheet program has calculated "
                    "(open and save the workbook in Excel or LibreOffice, or type the value)",
                    row=cell.row,
                    column=column(cell.column - 1),
                    got=str(cell.value),
                )
    rows = [(i, [_xlsx_cell(v) for v in row]) for i, row in enumerate(raw, start=1)]
    return header, rows[1:]


def _pick_sheet(path: Path, book: Any, sheet: str | None) -> Any:
    """The worksheet to read: the one the config names, else the active one if unambiguous.

    Without a configured name a workbook must hold data on one sheet only,
    and that sheet must be the active, visible one: reading the first sheet
    while the team typed into another (or into a hidden copy) would silently
    read stale rows.
    """
    names = book.sheetnames
    if sheet is not None:
        if sheet not in names:
            raise InputError(
                path,
                f"a sheet named '{sheet}' (the configured xlsx_sheet); sheets: {', '.join(names)}",
            )
        return book[sheet]
    filled = [ws.title for ws in book.worksheets if _has_data(ws)]
    if len(filled) > 1:
        raise InputError(
            path,
            "data on one sheet only, or the sheet to read named in the config (xlsx_sheet); "
            f"sheets with data: {', '.join(filled)}",
        )
    first = book.worksheets[0]
    if first.sheet_state != "visible":
        raise InputError(
            path,
            f"a visible first sheet, or the sheet to read named in the config (xlsx_sheet); "
            f"the first sheet '{first.title}' is {first.sheet_state}",
        )
    active = book.active
    if filled and active.title != filled[0]:
        raise InputError(
            path,
            f"the data on the active sheet '{active.title}'; it is on sheet '{filled[0]}' "
            "(save the workbook with that sheet selected, or name it in the config: xlsx_sheet)",
        )
    return active


def _has_data(ws: Any) -> bool:
    return any(
        v is not None and str(v).strip() != ""
        for row in ws.iter_rows(values_only=True)
        for v in row
    )


def _xlsx_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        import numpy as np

        # plain decimal notation (str() gives '1e-05'), the grammar of parse_number
        return np.format_float_positional(value, trim="-")
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 else value.isoformat()
    return str(value)


def _clean_rows(
    path: Path, header: list[str], rows: list[tuple[int, list[str]]]
) -> tuple[list[str], list[list[str]], list[int]]:
    """(column names, stripped cells per non-blank row, spreadsheet row numbers); checks the header."""
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
        cells = list(map(str.strip, cells))
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
    return names, data, numbers


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
    return _to_typed_frame(load_sheet_columns(path, schema))


def load_sheet_columns(
    path: str | Path,
    schema: dict[str, Any] | str | Path,
    *,
    cache: dict[tuple[str, str], Any] | None = None,
    sheet: str | None = None,
) -> dict[str, list[Any]]:
    """:func:`load_sheet` as plain Python columns: ``{column: values}``, None for empty.

    Same checks and messages, without building a DataFrame: a caller that
    wants rows of Python values (the extraction merge) would otherwise pay for
    the frame and for converting it back. ``cache``: see :func:`validate_columns`.
    """
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    names, data, numbers = read_rows(path, sheet=sheet)
    cells = [list(column) for column in zip(*data, strict=True)] or [[] for _ in names]
    columns = {n: c for n, c in zip(names, cells, strict=True) if n not in (ROW, FILE)}
    return validate_columns(columns, numbers, schema, path, cache=cache)


def validate_frame(frame: pd.DataFrame, schema: dict[str, Any], path: str | Path) -> pd.DataFrame:
    """Check and type a frame of text cells (as :func:`read_sheet` gives) against ``schema``."""
    props = schema.get("properties", {})
    names = [c for c in frame.columns if c not in (ROW, FILE)]
    rename = _renames(names, props)
    columns = {
        # schema columns are checked as text; extra columns are passed on as they are
        c: frame[c].fillna("").astype(str).tolist()
        if rename.get(c, c) in props
        else frame[c].tolist()
        for c in names
    }
    return _to_typed_frame(validate_columns(columns, [int(r) for r in frame[ROW]], schema, path))


def _renames(names: list[str], props: dict[str, Any]) -> dict[str, str]:
    """Header names to rename to a schema property differing only in case."""
    lookup = {c.lower(): c for c in names}
    rename = {}
    for name in props:
        if name not in names and name.lower() in lookup:
            rename[lookup[name.lower()]] = name  # tolerate "Decision" for "decision"
    return rename


def _to_typed_frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns, columns=list(columns))


def validate_columns(
    columns: dict[str, list[Any]],
    rows: list[int],
    schema: dict[str, Any],
    path: str | Path,
    *,
    cache: dict[tuple[str, str], Any] | None = None,
) -> dict[str, list[Any]]:
    """Check text columns against ``schema``; return the typed columns plus ``_row``/``_file``.

    ``columns`` maps each header name to its cells (text, '' for empty) and
    ``rows`` holds the spreadsheet row of each. Returns the schema's
    properties in schema order (None for empty cells and missing optional
    columns), then any extra columns as given, then ``_row`` and ``_file``.
    ``cache``, a dict passed to every call for sheets of one schema, keeps the
    verdict on each distinct (column, text): two extractors' sheets repeat
    most values, so each is checked once.
    """
    props: dict[str, dict[str, Any]] = schema.get("properties", {})
    required: list[str] = schema.get("required", [])
    errors: list[InputError] = []
    rename = _renames(list(columns), props)
    columns = {rename.get(c, c): v for c, v in columns.items()}
    names = list(columns)
    for name in required:
        if name not in names:
            errors.append(
                InputError(path, "this required column in the header", row=1, column=name)
            )
    if schema.get("additionalProperties") is False:
        for name in names:
            if name not in props:
                known = ", ".join(props)
                errors.append(
                    InputError(path, f"a known column (one of: {known})", row=1, column=name)
                )
    raise_collected(errors)

    cell_check = _CellChecker(props, cache)
    size = len(rows)
    typed_columns: dict[str, list[Any]] = {}
    found: list[tuple[int, int, InputError]] = []  # (row position, column position, error)
    for position, name in enumerate(props):
        if name not in columns:
            typed_columns[name] = [None] * size
            continue
        cells = columns[name]
        checked = {
            u: (None, None) if u == "" else cell_check(name, u) for u in dict.fromkeys(cells)
        }
        typed_columns[name] = [checked[u][0] for u in cells]
        bad = {u for u, (_, problem) in checked.items() if problem is not None}
        empty = name in required and "" in checked
        if not bad and not empty:
            continue
        for i, raw in enumerate(cells):
            if empty and raw == "":
                error = InputError(
                    path, "a value (this column is required)", row=rows[i], column=name
                )
                found.append((i, position, error))
            elif raw in bad:
                expected, got = checked[raw][1]
                found.append(
                    (i, position, InputError(path, expected, row=rows[i], column=name, got=got))
                )
    errors.extend(error for _, _, error in sorted(found, key=lambda item: item[:2]))
    extras = [c for c in names if c not in props]
    row_schema = {k: v for k, v in schema.items() if k not in _CELL_LEVEL_KEYS}
    if row_schema:  # cross-cell rules (if/then, dependentRequired...): one row at a time
        import jsonschema

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
    return {
        **typed_columns,
        **{c: list(columns[c]) for c in extras},
        ROW: list(rows),
        FILE: [str(path)] * size,
    }


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
