"""The sheet reader: every mistake a person can make in a spreadsheet names file, row, column."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from livingreview.errors import InputError, InputErrors
from livingreview.io import neutralise_cell, write_csv
from livingreview.sheet_cells import _fast_check, check_value, describe_error, parse_number
from livingreview.sheets import FILE, ROW, load_sheet, load_sheet_columns, read_sheet

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["record_id", "decision"],
    "properties": {
        "record_id": {"type": "string"},
        "decision": {"type": "string", "enum": ["include", "exclude", "maybe"]},
        "n": {"type": ["integer", "null"], "minimum": 2},
        "sd": {"type": "number", "exclusiveMinimum": 0},
        "note": {"type": "string"},
    },
}


def write(tmp_path, text, name="alice.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_reads_typed_rows_with_spreadsheet_row_numbers(tmp_path):
    path = write(tmp_path, "record_id,Decision,n,sd\n101,Include,12,1.5\n\n102,exclude,,2\n")
    df = load_sheet(path, SCHEMA)
    assert list(df["decision"]) == ["include", "exclude"]
    assert list(df[ROW]) == [2, 4]
    assert df["n"].iloc[0] == 12 and pd.isna(df["n"].iloc[1])
    assert df["sd"].iloc[0] == pytest.approx(1.5)


def test_utf8_bom_is_accepted(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfrecord_id,decision\n1,maybe\n")
    assert list(load_sheet(path, SCHEMA)["record_id"]) == ["1"]


def test_latin1_names_the_row(tmp_path):
    path = write(
        tmp_path, "record_id,decision,note\n1,include,ok\n2,exclude,caf\u00e9\n", encoding="latin-1"
    )
    with pytest.raises(InputError, match=r"alice.csv, row 3: expected UTF-8 text"):
        read_sheet(path)


def test_semicolon_delimiter_is_named(tmp_path):
    path = write(tmp_path, "record_id;decision\n1;include\n")
    with pytest.raises(InputError, match=r"row 1: expected comma-separated columns; .* semicolons"):
        read_sheet(path)


def test_duplicated_header_and_empty_file(tmp_path):
    with pytest.raises(
        InputError, match=r"row 1, column 'decision': expected each column name once"
    ):
        read_sheet(write(tmp_path, "record_id,decision,decision\n1,include,exclude\n"))
    with pytest.raises(InputError, match="the file is empty"):
        read_sheet(write(tmp_path, "", name="empty.csv"))


def test_every_violation_is_reported_with_row_and_column(tmp_path):
    path = write(tmp_path, "record_id,decision,n,sd\n1,inclued,1,0\n,exclude,x,1\n")
    with pytest.raises(InputErrors) as info:
        load_sheet(path, SCHEMA)
    text = str(info.value)
    assert (
        "row 2, column 'decision': expected one of: include, exclude, maybe, got 'inclued'" in text
    )
    assert "row 2, column 'n': expected a value >= 2, got 1" in text
    assert "row 2, column 'sd': expected a value > 0, got 0.0" in text
    assert "row 3, column 'n': expected a whole number, got 'x'" in text
    assert "row 3, column 'record_id': expected a value (this column is required)" in text


def test_missing_and_unknown_columns(tmp_path):
    with pytest.raises(InputErrors) as info:
        load_sheet(write(tmp_path, "record_id,decison\n1,include\n"), SCHEMA)
    text = str(info.value)
    assert "row 1, column 'decision': expected this required column" in text
    assert "row 1, column 'decison': expected a known column" in text


def test_xlsx_is_read_like_csv(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["record_id", "decision", "n"])
    sheet.append([101, "include", 12.0])
    sheet.append([None, None, None])
    sheet.append([102, "maybe", None])
    path = tmp_path / "bob.xlsx"
    book.save(path)
    df = load_sheet(path, SCHEMA)
    assert list(df["record_id"]) == ["101", "102"]
    assert list(df[ROW]) == [2, 4]


def test_formula_cells_are_neutralised(tmp_path):
    assert neutralise_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert neutralise_cell(-1.5) == -1.5
    out = tmp_path / "q.csv"
    write_csv(
        pd.DataFrame({"title": ["@SUM(A1)", "ok"], "yi": [-0.5, 1.0]}), out, text_columns=["title"]
    )
    assert out.read_text().splitlines() == ["title,yi", "'@SUM(A1),-0.5", "ok,1"]


def test_atomic_write_leaves_no_temp_file_and_a_normal_mode(tmp_path):
    import os

    from livingreview.io import atomic_write

    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("partial")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with atomic_write(target) as fh:
        fh.write("done")
    assert target.read_text() == "done"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_columns_without_a_dataframe_match_load_sheet(tmp_path):
    path = write(
        tmp_path, "Record_ID,decision,n,sd,extra\n101,Include,12,1.5,a\n\n102,exclude,,2,b\n"
    )
    schema = {**SCHEMA, "additionalProperties": True}
    frame = load_sheet(path, schema)
    columns = load_sheet_columns(path, schema, cache={})
    assert list(columns) == list(frame.columns)
    assert columns["record_id"] == ["101", "102"] and columns["n"] == [12, None]
    assert columns["sd"] == [1.5, 2.0] and columns["extra"] == ["a", "b"]
    assert columns[ROW] == [2, 4] and columns[FILE] == [str(path)] * 2
    for name in columns:
        assert [None if pd.isna(v) else v for v in frame[name]] == columns[name]


def test_a_shared_cache_reports_each_sheet_own_rows(tmp_path):
    cache: dict = {}
    good = write(tmp_path, "record_id,decision,sd\n1,include,0.5\n", name="alice.csv")
    load_sheet_columns(good, SCHEMA, cache=cache)
    bad = write(tmp_path, "record_id,decision,sd\n1,include,0\n2,include,0.5\n", name="bob.csv")
    with pytest.raises(InputError, match=r"bob.csv, row 2, column 'sd': expected a value > 0"):
        load_sheet_columns(bad, SCHEMA, cache=cache)


# Specs and values around every keyword the plain-Python check decides itself.
SPECS = [
    {"type": "number", "minimum": 0, "maximum": 1},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "integer", "minimum": 2},
    {"type": ["integer", "null"], "minimum": 2},
    {"type": "string", "enum": ["low", "some concerns", "high"]},
    {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "description": "an id"},
    {"type": "boolean"},
    {"enum": ["a", "b"]},
    {"minimum": 3},
    {"type": "string", "minLength": 2},  # a keyword left to jsonschema
    {"type": "number", "multipleOf": 0.5},
]
VALUES = [0, 1, 2, 3, 0.0, 0.5, 1.0, 2.5, -1, -0.0, 1e300, True, False, None, "", "a", "low",
          "Low", "smith2019", "-x", "a b", "some concerns"]  # fmt: skip


@pytest.mark.parametrize("spec", SPECS)
def test_fast_check_agrees_with_jsonschema(spec):
    import jsonschema

    validator = jsonschema.Draft202012Validator({"properties": {"c": spec}})
    fast = _fast_check(spec)
    for value in VALUES:
        valid = not list(validator.iter_errors({"c": value}))
        if fast is not None and fast(value):
            assert valid, (spec, value)  # never accepts what JSON Schema rejects
        expected = check_value("c", spec, value)
        assert (expected is None) == valid, (spec, value)
        if not valid:
            err = next(validator.iter_errors({"c": value}))
            assert expected == describe_error(err, {"c": spec})[1]
    if set(spec) <= {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                     "enum", "pattern", "description"}:  # fmt: skip
        assert fast is not None  # the sheet schemas' keywords never need jsonschema


# --------------------------------------------------------------------------- number grammar

ACCEPTED = {"7.69": 7.69, "-7.69": -7.69, "\u22120.5": -0.5, "+3": 3.0, ".5": 0.5, "5.": 5.0,
            "007": 7.0, "0": 0.0, "123456789012": 123456789012.0}  # fmt: skip
REJECTED = {
    "7_69": "no '_' inside",  # float() reads 769
    "1,039": "without thousands separators",
    "1 039": "without thousands separators",
    "1\u00a0039": "without thousands separators",
    "1'039": "without thousands separators",
    "7,69": "use a point as decimal separator",
    "1e5": "plain decimal notation",
    "1E-5": "plain decimal notation",
    "nan": "a finite number",
    "-inf": "a finite number",
    "Infinity": "a finite number",
    "NA": "a finite number",
    "+-1": "at most one sign",
    "--1": "at most one sign",
    "1-": "at most one sign",
    "7. 69": "without spaces inside",
    "\u0667": "the digits 0-9",  # float() reads Arabic-Indic digits
    "\uff17": "the digits 0-9",  # and full-width ones
    "1.2.3": "use a point as decimal separator",
    "0x10": "use a point as decimal separator",
    "": "use a point as decimal separator",
}


@pytest.mark.parametrize("text", list(ACCEPTED))
def test_number_grammar_accepts(text):
    assert parse_number(text) == ACCEPTED[text]


@pytest.mark.parametrize("text", list(REJECTED))
def test_number_grammar_rejects_what_float_would_misread(text):
    with pytest.raises(ValueError, match=re.escape(REJECTED[text])):
        parse_number(text)


def test_integer_cells_follow_the_grammar(tmp_path):
    path = write(tmp_path, "record_id,decision,n\n1,include,3_9\n2,include,40.0\n3,include,1e2\n")
    with pytest.raises(InputErrors) as info:
        load_sheet(path, SCHEMA)
    text = str(info.value)
    assert "row 2, column 'n': expected a whole number: a number of digits" in text
    assert "row 4, column 'n': expected a whole number: a number in plain decimal notation" in text
    assert "row 3" not in text  # 40.0 is the whole number 40


# --------------------------------------------------------------------------- CSV rows and encodings


def test_rows_count_records_not_physical_lines(tmp_path):
    text = 'record_id,decision,note\n1,include,"two\nlines"\n\n2,include,"a\r\nb\nc"\n3,inclued,\n'
    with pytest.raises(InputError, match=r"row 5, column 'decision'"):
        load_sheet(write(tmp_path, text), SCHEMA)
    assert list(read_sheet(write(tmp_path, text))[ROW]) == [2, 4, 5]


def test_latin1_byte_after_a_multiline_cell_names_its_record(tmp_path):
    raw = 'record_id,decision,note\n1,include,"a\nb\nc"\n2,include,caf\u00e9\n'.encode("latin-1")
    with pytest.raises(InputError, match=r"row 3: expected UTF-8 text"):
        read_sheet(write(tmp_path, raw))


@pytest.mark.parametrize(
    ("encoding", "kind"),
    [("utf-16", "little-endian, with a BOM"), ("utf-16-le", "no BOM"), ("utf-16-be", "no BOM")],
)
def test_utf16_is_named(tmp_path, encoding, kind):
    path = write(tmp_path, "record_id,decision\n1,include\n", encoding=encoding)
    with pytest.raises(
        InputError, match=rf"row 1: expected UTF-8 text .* this file is UTF-16 \({kind}"
    ):
        read_sheet(path)


# --------------------------------------------------------------------------- XLSX


def _book(tmp_path, sheets, active=0, hidden=(), merge=None, name="bob.xlsx"):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for i, (title, rows) in enumerate(sheets):
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
        if i in hidden:
            ws.sheet_state = "hidden"
    if merge:
        wb.worksheets[0].merge_cells(merge)
    wb.active = active
    for i, ws in enumerate(wb.worksheets):
        ws.sheet_view.tabSelected = i == active
    path = tmp_path / name
    wb.save(path)
    return path


ROWS = [["record_id", "decision"], [101, "include"], [102, "maybe"]]


def test_xlsx_reads_the_active_sheet_when_it_alone_has_data(tmp_path):
    path = _book(tmp_path, [("empty", []), ("Decisions", ROWS)], active=1)
    assert list(read_sheet(path)["record_id"]) == ["101", "102"]


def test_xlsx_with_several_filled_sheets_needs_the_configured_name(tmp_path):
    path = _book(tmp_path, [("Decisions", ROWS), ("old", ROWS[:2])])
    with pytest.raises(InputError, match="sheets with data: Decisions, old"):
        read_sheet(path)
    assert list(read_sheet(path, sheet="old")["record_id"]) == ["101"]
    with pytest.raises(InputError, match="a sheet named 'new'"):
        read_sheet(path, sheet="new")


def test_xlsx_hidden_first_sheet_and_inactive_data_are_refused(tmp_path):
    hidden = _book(tmp_path, [("h", []), ("Decisions", ROWS)], active=1, hidden=(0,), name="a.xlsx")
    with pytest.raises(InputError, match="the first sheet 'h' is hidden"):
        read_sheet(hidden)
    inactive = _book(tmp_path, [("Sheet1", []), ("Decisions", ROWS)], active=0, name="b.xlsx")
    with pytest.raises(InputError, match="the data on the active sheet 'Sheet1'"):
        read_sheet(inactive)


def test_xlsx_uncalculated_formula_and_merged_cells_name_row_and_column(tmp_path):
    formula = _book(tmp_path, [("S", [*ROWS, [103, '=IF(1,"include","maybe")']])], name="f.xlsx")
    with pytest.raises(InputError, match=r"row 4, column 'decision': expected a value; the cell"):
        read_sheet(formula)
    merged = _book(tmp_path, [("S", ROWS)], merge="B2:B3", name="m.xlsx")
    with pytest.raises(InputError, match=r"row 2, column 'decision': expected one value per cell"):
        read_sheet(merged)


def test_xlsx_numbers_are_written_in_plain_notation(tmp_path):
    path = _book(
        tmp_path, [("S", [["record_id", "sd"], ["1", 0.00001], ["2", 1.5e20], ["3", 2.5]])]
    )
    assert list(read_sheet(path)["sd"]) == ["0.00001", "150000000000000000000", "2.5"]
