"""PRISMA 2020 flow diagram of the screening counts, drawn with matplotlib.

Two templates of Page et al. (2021, BMJ 372:n71, Figure 1) are drawn from
``prisma.json`` (``livingreview.screening.prisma.prisma_counts``):

* a new review: identification via databases, screening, included;
* an updated review (records exist from before the latest search): a
  "Previous studies" column with the studies included in the previous
  version, the flow of the new records only, and the total.

PRISMA's "reports sought for retrieval / not retrieved" boxes are left out:
the screening sheets do not record retrieval. A living review also has
records not yet decided; they are shown in a dashed box below the flow so
that the boxes add up. The figure is drawn in inches at its print size
(8.3 in wide, A4 width) with 9 pt text, so it is readable when printed.
Output is deterministic (see ``livingreview.publish.plots.save_figure``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from .plots import RC, save_figure  # noqa: E402

FONT_PT = 9.0
LINE_IN = FONT_PT * 1.32 / 72  # line height in inches
CHAR_IN = FONT_PT * 0.56 / 72  # mean character width of DejaVu Sans, inches
PAD_IN = 0.09
GAP_IN = 0.32  # vertical gap between boxes (room for arrows)
BANNER = "#f2c14e"
PHASE = "#a9cce3"
SOURCE_LABELS = {
    "pubmed": "PubMed",
    "medline": "MEDLINE",
    "embase": "Embase",
    "cinahl": "CINAHL",
    "psycinfo": "PsycINFO",
    "cochrane": "Cochrane CENTRAL",
    "central": "Cochrane CENTRAL",
    "scopus": "Scopus",
    "wos": "Web of Science",
    "webofscience": "Web of Science",
    "clinicaltrials": "ClinicalTrials.gov",
    "ictrp": "WHO ICTRP",
}


def _n(value: Any) -> str:
    return f"{int(value or 0):,}"


def _nn(value: Any) -> str:
    """``(n = 1,234)`` held together by no-break spaces, so wrapping never splits it."""
    return f"(n\u00a0=\u00a0{_n(value)})"


def _plural(value: Any, word: str) -> str:
    return f"{_n(value)} {word}{'' if int(value or 0) == 1 else 's'}"


def source_label(source: str) -> str:
    return SOURCE_LABELS.get(
        source.lower().replace(" ", "").replace("-", "").replace("_", ""), source
    )


@dataclass
class _Box:
    x: float
    width: float
    lines: list[str]
    top: float = 0.0
    dashed: bool = False

    @property
    def height(self) -> float:
        return len(self.lines) * LINE_IN + 2 * PAD_IN

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def mid(self) -> float:
        return self.top + self.height / 2


def _wrap(paragraphs: list[str], width_in: float) -> list[str]:
    """Wrap each paragraph to the box width; an indent of two spaces is kept."""
    chars = max(12, int((width_in - 2 * PAD_IN) / CHAR_IN))
    out: list[str] = []
    for text in paragraphs:
        indent = "   " if text.startswith("  ") else ""
        out += textwrap.wrap(
            text.strip(), chars, initial_indent=indent, subsequent_indent=indent + "  "
        ) or [""]
    return out


def _identified_lines(identified: Mapping[str, int], total: int, head: str) -> list[str]:
    lines = [head]
    for source, n in sorted(identified.items(), key=lambda kv: source_label(kv[0]).lower()):
        lines.append(f"  {source_label(source)} {_nn(n)}")
    if len(identified) != 1:
        lines.append(f"  Total {_nn(total)}")
    return lines


def _reason_lines(reasons: Mapping[str, int], total: int) -> list[str]:
    lines = [f"Reports excluded {_nn(total)}" + (":" if reasons else "")]
    for reason, n in sorted(reasons.items(), key=lambda kv: (-int(kv[1]), kv[0])):
        lines.append(f"  {reason[:1].upper() + reason[1:]} {_nn(n)}")
    return lines


def _pending_lines(c: Mapping[str, Any]) -> list[str]:
    def part(stage: str) -> str:
        return (
            f"{_plural(c['unscreened'][stage], 'record')} not screened, "
            f"{_n(c['awaiting'][stage])} awaiting a second reviewer, "
            f"{_plural(c['conflicts'][stage], 'conflict')} awaiting adjudication"
        )

    when = f" (after the search of {c['latest_search']})" if c.get("latest_search") else ""
    return [
        f"Not yet decided in this living review{when}:",
        f"  Title/abstract: {part('title_abstract')}",
        f"  Full text: {part('full_text')}",
    ]


def prisma_figure(counts: Mapping[str, Any]) -> Figure:
    """The PRISMA 2020 flow diagram as a matplotlib Figure (update template when ``update``)."""
    update = bool(counts.get("update"))
    flow = counts["new_search"] if update else counts
    width = 8.3
    strip_x, strip_w = 0.12, 0.32
    if update:
        prev_x, prev_w = 0.56, 1.9
        main_x, main_w = 2.7, 2.55
        side_x, side_w = 5.55, 2.63
    else:
        main_x, main_w = 0.75, 3.4
        side_x, side_w = 4.6, 3.58

    def box(x: float, w: float, paragraphs: list[str], dashed: bool = False) -> _Box:
        return _Box(x, w, _wrap(paragraphs, w), dashed=dashed)

    if update:
        head = f"New records identified (searches up to {counts.get('latest_search')}) from:"
        removed_text = "Duplicate records removed (new records returned by more than one source)"
    else:
        head = "Records identified from:"
        removed_text = "Duplicate records removed"
    ident = box(
        main_x,
        main_w,
        _identified_lines(flow.get("identified", {}), flow.get("identified_total", 0), head),
    )
    removed = box(
        side_x,
        side_w,
        [
            "Records removed before screening:",
            f"  {removed_text} {_nn(flow['duplicates_removed'])}",
        ],
    )
    screened = box(main_x, main_w, [f"Records screened {_nn(flow['screened'])}"])
    excluded = box(side_x, side_w, [f"Records excluded {_nn(flow['excluded_title_abstract'])}"])
    assessed = box(
        main_x, main_w, [f"Reports assessed for eligibility {_nn(flow['fulltext_assessed'])}"]
    )
    ft_excluded = box(
        side_x, side_w, _reason_lines(flow["fulltext_excluded"], flow["fulltext_excluded_total"])
    )
    if update:
        included = box(
            main_x,
            main_w,
            [
                f"New studies included in review {_nn(counts['new_included'])}",
                f"Reports of new included studies {_nn(flow['included_records'])}",
            ],
        )
        previous = box(
            prev_x,
            prev_w,
            [
                "Studies included in previous version of review "
                f"{_nn(counts['previous_included'])}",
                "",
                "Reports of studies included in previous version of review "
                f"{_nn(counts.get('previous_included_records', counts['previous_included']))}",
            ],
        )
        total = box(
            prev_x,
            main_x + main_w - prev_x,
            [
                f"Total studies included in review {_nn(counts['included_studies'])}",
                f"Reports of total included studies {_nn(counts['included_records'])}",
            ],
        )
    else:
        previous = total = None
        included = box(
            main_x,
            main_w,
            [
                f"Studies included in review {_nn(counts['included_studies'])}",
                f"Reports of included studies {_nn(counts['included_records'])}",
            ],
        )
    pending = box(strip_x, width - 0.12 - strip_x, _pending_lines(counts), dashed=True)

    # ---- vertical layout (inches from the top). Each phase is a list of rows;
    # a phase is at least as tall as its rotated label.
    banner_top, banner_h = 0.15, 0.42
    layout: list[tuple[str, list[list[_Box]]]] = [
        ("Identification", [[ident, removed] + ([previous] if update else [])]),
        ("Screening", [[screened, excluded], [assessed, ft_excluded]]),
        ("Included", [[included], [total]] if update else [[included]]),
    ]
    y = banner_top + banner_h + 0.22
    phases: list[tuple[str, float, float]] = []
    for label, rows in layout:
        start = y
        need = len(label) * CHAR_IN * 1.02 + 0.16
        heights = [max(b.height for b in r if b is not previous) for r in rows]
        span = sum(heights) + GAP_IN * (len(rows) - 1)
        if span < need:
            heights[-1] += need - span
        for r, h in zip(rows, heights, strict=True):
            for b in r:  # each box keeps its own height, centred on the row
                b.top = y if b is previous else y + (h - b.height) / 2
            y += h + GAP_IN
        phases.append((label, start, y - GAP_IN))
    y += 0.05
    pending.top = y
    height = pending.bottom + 0.15

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)  # y grows downwards, like the layout
        ax.axis("off")

        def draw(b: _Box, face: str = "white", bold_first: bool = False) -> None:
            ax.add_patch(
                FancyBboxPatch(
                    (b.x, b.top),
                    b.width,
                    b.height,
                    boxstyle="square,pad=0",
                    facecolor=face,
                    edgecolor="black",
                    linewidth=0.8,
                    linestyle="--" if b.dashed else "-",
                )
            )
            for i, line in enumerate(b.lines):
                ax.text(
                    b.x + PAD_IN,
                    b.top + PAD_IN + (i + 0.5) * LINE_IN,
                    line,
                    ha="left",
                    va="center",
                    fontsize=FONT_PT,
                    fontweight="bold" if bold_first and i == 0 else "normal",
                )

        def banner(x: float, w: float, text: str) -> None:
            ax.add_patch(
                FancyBboxPatch(
                    (x, banner_top),
                    w,
                    banner_h,
                    boxstyle="round,pad=0,rounding_size=0.08",
                    facecolor=BANNER,
                    edgecolor="black",
                    linewidth=0.8,
                )
            )
            ax.text(
                x + w / 2,
                banner_top + banner_h / 2,
                "\n".join(textwrap.wrap(text, int((w - 0.2) / (CHAR_IN * 1.08)))),
                ha="center",
                va="center",
                fontsize=FONT_PT + 0.5,
                fontweight="bold",
            )

        def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
            ax.annotate(
                "",
                xy=(x1, y1),
                xytext=(x0, y0),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": "black",
                    "lw": 0.9,
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
            )

        if update:
            banner(prev_x, prev_w, "Previous studies")
        banner(
            main_x,
            side_x + side_w - main_x,
            "Identification of new studies via databases and registers"
            if update
            else "Identification of studies via databases and registers",
        )
        for label, top, bottom in phases:
            ax.add_patch(
                FancyBboxPatch(
                    (strip_x, top),
                    strip_w,
                    bottom - top,
                    boxstyle="round,pad=0,rounding_size=0.08",
                    facecolor=PHASE,
                    edgecolor="none",
                )
            )
            ax.text(
                strip_x + strip_w / 2,
                (top + bottom) / 2,
                label,
                rotation=90,
                ha="center",
                va="center",
                fontsize=FONT_PT + 0.5,
                fontweight="bold",
            )
        mains = [ident, screened, assessed, included]
        for b in [*mains, removed, excluded, ft_excluded]:
            draw(b)
        for upper, lower in zip(mains, mains[1:], strict=False):
            arrow(main_x + main_w / 2, upper.bottom, main_x + main_w / 2, lower.top)
        for left in (ident, screened, assessed):
            arrow(main_x + main_w, left.mid, side_x, left.mid)
        if previous is not None and total is not None:
            draw(previous)
            draw(total)
            arrow(prev_x + prev_w / 2, previous.bottom, prev_x + prev_w / 2, total.top)
            arrow(main_x + main_w / 2, included.bottom, main_x + main_w / 2, total.top)
        draw(pending, face="#f7f7f7")
    return fig


def write_prisma(counts: Mapping[str, Any], path: str | Path) -> list[Path]:
    """Write ``<stem>.svg`` and ``<stem>.png`` of the PRISMA diagram; returns the paths."""
    return save_figure(prisma_figure(counts), path)


# --------------------------------------------------------------------------- table

STAGES = (("title_abstract", "title/abstract"), ("full_text", "full text"))
WHOLE = "whole review"
LATEST = "latest search"


def _count_rows(c: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(PRISMA box, n) of one set of counts, in the flow's order."""
    identified = c.get("identified") or {}
    for source, n in sorted(identified.items(), key=lambda kv: source_label(kv[0]).lower()):
        yield f"Records identified from {source_label(source)}", n
    yield "Records identified, total", c.get("identified_total")
    yield "Duplicate records removed", c.get("duplicates_removed")
    yield "Records screened (title/abstract)", c.get("screened")
    yield "Records excluded at title/abstract", c.get("excluded_title_abstract")
    yield "Reports assessed for eligibility (full text)", c.get("fulltext_assessed")
    reasons = c.get("fulltext_excluded") or {}
    for reason, n in sorted(reasons.items(), key=lambda kv: (-int(kv[1]), kv[0])):
        yield f"Reports excluded: {reason}", n
    yield "Reports excluded, total", c.get("fulltext_excluded_total")
    yield "Reports of included studies", c.get("included_records")
    for key, label in STAGES:
        yield f"Not yet screened ({label})", (c.get("unscreened") or {}).get(key)
        yield f"Awaiting a second reviewer ({label})", (c.get("awaiting") or {}).get(key)
        yield f"Conflicts awaiting adjudication ({label})", (c.get("conflicts") or {}).get(key)


def prisma_table(counts: Mapping[str, Any]) -> pd.DataFrame:
    """The counts of ``prisma.json`` as a table for people (the report's CSV download).

    One row per PRISMA 2020 box, in the flow's order. An updated review gets a
    second column, the records of the latest search alone (the flow the update
    template draws); the study counts of the review as a whole are blank there.

    >>> t = prisma_table({"identified": {"pubmed": 3}, "identified_total": 3,
    ...                   "duplicates_removed": 0, "screened": 3, "included_studies": 1})
    >>> list(t.columns), t.iloc[0, 0], int(t.iloc[0, 1])
    (['PRISMA 2020 box', 'whole review'], 'Records identified from PubMed', 3)
    """
    flow = dict(_count_rows(counts))
    studies = {"Studies included in the review": counts.get("included_studies")}
    latest = counts.get("new_search") if counts.get("update") else None
    if latest:
        studies["Studies included in the previous version"] = counts.get("previous_included")
        studies["New studies included in this version"] = counts.get("new_included")
    frame = pd.DataFrame(
        {"PRISMA 2020 box": [*flow, *studies], WHOLE: [*flow.values(), *studies.values()]}
    )
    if latest:
        in_latest = dict(_count_rows(latest))  # a source or reason it lacks counts 0
        frame[LATEST] = [in_latest.get(box, 0) for box in flow] + [None] * len(studies)
    for column in frame.columns[1:]:
        frame[column] = frame[column].astype("Int64")
    return frame
