"""Regenerate review/screening/title_abstract/bob.xlsx (the fixture's Excel sheet).

Bob works in Excel: his header is capitalised, dates are real date cells and
the PMIDs are numbers, as Excel stores them. Run: .venv/bin/python tests/data/screening/make_xlsx.py
"""

import datetime as dt
from pathlib import Path

import openpyxl

HERE = Path(__file__).parent
INC, EXC, MAY = "include", "exclude", "maybe"
ROWS = [
    (38000101, INC, "", ""),
    (38000102, EXC, "", ""),
    (38000103, MAY, "", ""),
    (38000104, MAY, "", ""),
    (38000105, EXC, "wrong population", ""),
    (38000106, INC, "", "instant messaging? unclear"),
    (38000107, EXC, "", ""),
    (38000108, EXC, "", ""),
    (38000109, INC, "", ""),
    (38000110, INC, "", ""),
    (38000111, INC, "", ""),
    (38000112, MAY, "", ""),
    (38000113, EXC, "", ""),
    (38000114, INC, "", ""),
    ("embase-3f2a9c1e", INC, "", ""),
]


def main() -> None:
    """Write bob.xlsx (only when run: pytest's doctest collection imports this file)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "decisions"
    sheet.append(["Record_ID", "Decision", "Reason", "Note", "Date"])
    for i, (record, decision, reason, note) in enumerate(ROWS):
        sheet.append(
            [
                record,
                decision.capitalize(),
                reason or None,
                note or None,
                dt.datetime(2026, 5, 12 + i // 8),
            ]
        )
    book.save(HERE / "review" / "screening" / "title_abstract" / "bob.xlsx")


if __name__ == "__main__":
    main()
