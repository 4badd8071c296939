"""The report's downloadable tables (``report/tables/``): Table 2, strata, leave-one-out, PRISMA."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import write_csv, write_text
from .html import CSP, STYLE, html_table
from .report_data import (
    metaregression_table,
    platform_domain_table,
    read_json_or_none,
    strata_table,
)
from .report_settings import ReportSettings

TEXT_COLUMNS = ("citation", "label", "stratum", "platform", "domain", "term", "cell", "omitted")


def build_tables(
    results: Path, out: Path, strata: Mapping[str, Mapping[str, Any]], settings: ReportSettings
) -> dict[str, Path]:
    tab_dir = Path(out) / "tables"
    tab_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}
    pd_table = platform_domain_table(strata, settings)
    write_csv(pd_table, tab_dir / "platform_domain.csv", text_columns=TEXT_COLUMNS)
    grid = pd_grid(pd_table, settings)
    write_text(tab_dir / "platform_domain.html", standalone_table(grid, settings))
    made["platform_domain"] = tab_dir / "platform_domain.csv"
    write_csv(strata_table(strata), tab_dir / "strata.csv", text_columns=TEXT_COLUMNS)
    made["strata"] = tab_dir / "strata.csv"
    for name, s in strata.items():
        loo = Path(results) / "strata" / name / "loo.csv"
        if s.get("reported") and loo.is_file():
            df = pd.read_csv(loo, keep_default_na=False, na_values=[""])
            write_csv(df, tab_dir / f"LOO_{name}.csv", text_columns=TEXT_COLUMNS)
            made[f"LOO_{name}"] = tab_dir / f"LOO_{name}.csv"
    mr = metaregression_table(results)
    if len(mr):
        write_csv(mr, tab_dir / "metaregression.csv", text_columns=TEXT_COLUMNS)
        made["metaregression"] = tab_dir / "metaregression.csv"
    counts = read_json_or_none(Path(results) / "screening" / "prisma.json")
    if counts:
        from .prisma import prisma_table  # matplotlib: only when a report is built

        write_csv(prisma_table(counts), tab_dir / "prisma.csv", text_columns=["PRISMA 2020 box"])
        made["prisma"] = tab_dir / "prisma.csv"
    return made


def pd_grid(table: pd.DataFrame, settings: ReportSettings) -> pd.DataFrame:
    """Wide form of Table 2: platforms as rows, domains as columns, cells as text."""
    labels_d = settings.domain_labels
    labels_p = {"all": settings.stratifier.all_label, **settings.platform_labels}
    grid = table.pivot(index="platform", columns="domain", values="cell")
    grid = grid.reindex(
        index=list(dict.fromkeys(table["platform"])), columns=list(dict.fromkeys(table["domain"]))
    )
    grid.index = [labels_p.get(p, p) for p in grid.index]
    grid.columns = [labels_d.get(d, d) for d in grid.columns]
    grid.index.name = settings.stratifier.label
    return grid.reset_index()


def table2_caption(settings: ReportSettings) -> str:
    """Table 2's caption, with the configured confidence level and min_k."""
    return (
        f"{settings.stratifier.label} x domain: k, pooled estimate [{settings.ci_label}], "
        f"I\u00b2; NE = not estimated ({settings.min_k_label})"
    )


def standalone_table(df: pd.DataFrame, settings: ReportSettings) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>Platform x domain</title><style>{STYLE}</style></head><body>"
        + html_table(df, caption=table2_caption(settings))
        + "</body></html>\n"
    )
