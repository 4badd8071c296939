"""The report's figures: drawn here, or copied from the stratum that drew them.

matplotlib is imported only where a figure is drawn.
"""

from __future__ import annotations

import filecmp
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import atomic_write
from .report_data import as_float, domain_of, load_studies, platform_of, read_json_or_none
from .report_settings import ReportSettings


def _copy_file(src: Path, target: Path) -> None:
    """Copy ``src`` to ``target`` atomically, unless ``target`` already holds the same bytes.

    A rerun after one study changed redraws a few strata; rewriting (and
    fsyncing) the other ~200 unchanged figure files was most of the report's
    time. Comparing reads from the page cache and leaves identical files alone.
    """
    if target.is_file() and filecmp.cmp(src, target, shallow=False):
        return
    with open(src, "rb") as fh, atomic_write(target, "wb") as out_fh:
        shutil.copyfileobj(fh, out_fh)


def _copy_or_plot(src_dir: Path, kind: str, dest_stem: Path, draw: Any) -> list[Path]:
    """Use the stratum's own figure when both formats exist (drawn by the analysis), else draw."""
    svg, png = src_dir / f"{kind}.svg", src_dir / f"{kind}.png"
    if svg.is_file() and png.is_file():
        out = []
        for src in (svg, png):
            target = dest_stem.with_name(dest_stem.name + src.suffix)
            _copy_file(src, target)
            out.append(target)
        return out
    return draw(dest_stem)


def draw_rob_figures(studies: pd.DataFrame, out: str | Path) -> dict[str, list[Path]]:
    """RoB 2 summary bars and per-study traffic lights (paged for large reviews)."""
    if not len(studies) or not any(c.startswith("rob_") for c in studies):
        return {}
    from . import plots  # matplotlib: imported only where a figure is drawn

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "rob_summary": plots.rob_summary_plot(studies, out / "rob_summary"),
        "rob_traffic_light": plots.rob_traffic_light_plot(studies, out / "rob_traffic_light"),
    }


def build_figures(
    results: Path, out: Path, strata: Mapping[str, Mapping[str, Any]], settings: ReportSettings
) -> dict[str, list[Path]]:
    """Draw (or copy) every figure into ``out/figures``; returns name -> written files."""
    from . import plots  # matplotlib: imported only where a figure is drawn

    fig_dir = Path(out) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[Path]] = {}
    domain_labels = settings.domain_labels
    platform_labels = settings.platform_labels
    domain_rows = [
        dict(s, label=s.get("label") or domain_labels.get(domain_of(s) or "", s["stratum"]))
        for s in strata.values()
        if s.get("kind") == "domain" and str(s.get("measure", "SMD")).upper() == "SMD"
    ]
    stated = {"level": settings.analysis.level, "min_k": settings.analysis.min_k}
    if domain_rows:
        made["domain_summary"] = plots.domain_summary_plot(
            domain_rows, fig_dir / "domain_summary", **stated
        )
    platform_rows = [
        dict(
            s,
            label=platform_labels.get(platform_of(s) or "") or s.get("label") or s["stratum"],
        )
        for s in strata.values()
        if s.get("kind") == "platform"
    ]
    if platform_rows:
        made["platform_overview"] = plots.platform_overview_plot(
            platform_rows,
            fig_dir / "platform_overview",
            heading=settings.stratifier.overview_title,
            row_header=settings.stratifier.label,
            **stated,
        )
    for fmt in ("svg", "png"):
        src = Path(results) / "screening" / f"prisma.{fmt}"
        if src.is_file():
            target = fig_dir / f"prisma.{fmt}"
            _copy_file(src, target)
            made.setdefault("prisma", []).append(target)
    rob_dir = Path(results) / "rob"
    if rob_dir.is_dir():  # drawn by the rob_figures rule, redrawn only when a judgement changed
        for src in sorted(rob_dir.glob("rob_*.*")):
            key = "rob_summary" if src.name.startswith("rob_summary") else "rob_traffic_light"
            target = fig_dir / src.name
            _copy_file(src, target)
            made.setdefault(key, []).append(target)
    else:
        studies = load_studies(results)
        if studies is not None:
            made.update(draw_rob_figures(studies, fig_dir))
    min_k_funnel = settings.analysis.min_k_funnel
    for name, s in strata.items():
        sdir = Path(results) / "strata" / name
        data_path = sdir / "data.csv"
        if not data_path.is_file():
            continue
        # one row tells whether the stratum has data; the whole table is read only to draw
        if len(pd.read_csv(data_path, keep_default_na=False, na_values=[""], nrows=1)) == 0:
            continue

        def read(path: Path = data_path) -> pd.DataFrame:
            return pd.read_csv(path, keep_default_na=False, na_values=[""])

        made[f"forest_{name}"] = _copy_or_plot(
            sdir,
            "forest",
            fig_dir / f"forest_{name}",
            lambda stem, s=s, read=read: plots.forest_plot(read(), s, stem),
        )
        if int(as_float(s.get("k")) or 0) >= min_k_funnel:
            made[f"funnel_{name}"] = _copy_or_plot(
                sdir,
                "funnel",
                fig_dir / f"funnel_{name}",
                lambda stem, s=s, read=read, sdir=sdir: plots.funnel_plot(
                    read(), s, read_json_or_none(sdir / "egger.json"), stem
                ),
            )
    return made
