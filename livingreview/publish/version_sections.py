"""What only a published version shows: its number and date, what is new, history, changes, provenance.

The bundle renders these fragments and fills the report's slots with them
(:func:`livingreview.publish.html.fill_slots`); the working-copy report renders
the same functions with what it knows (no version, changes against the latest
published version, the software it runs with).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..measures import display
from . import provenance
from .html import e, html_table, kv_table


def history_html(path: Path) -> str:
    """Version history: the figure and each domain's estimate per version."""
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    cells = []
    for row in table.itertuples(index=False):
        if not row.reported:
            cells.append(f"NE (k = {row.k})")
            continue

        def f(x: float, measure: str = row.measure) -> str:
            return f"{display(x, measure):.2f}"

        cells.append(f"{f(row.estimate)} [{f(row.ci_low)}, {f(row.ci_high)}] (k = {row.k})")
    table["cell"] = cells
    grid = table.pivot(index="version", columns="label", values="cell").reset_index()
    return (
        '<h2 id="history">Version history</h2>'
        '<figure><img src="../history/history.svg" alt="Pooled estimate per version">'
        "<figcaption>Pooled estimate and CI of each outcome domain in each published "
        "version (ratios back-transformed)</figcaption></figure>"
        + html_table(grid, caption="Estimate [CI] (k) per version")
        + '<p><a href="../history/history.csv">history.csv</a></p>'
    )


def news_html(news: Mapping[str, Any]) -> str:
    """What's new in this version: change types, and per outcome whether the conclusion changed."""
    from .whats_new import state_text

    rows = [
        (
            (o["new"] or o["old"] or {}).get("label", o["domain"]),
            "changed" if o["conclusion_changed"] else ("new" if news["previous"] is None else "unchanged"),
            "; ".join(o["reasons"]),
            state_text(o["old"]) if news["previous"] is not None else "",
            state_text(o["new"]),
        )
        for o in news["outcomes"]
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["Outcome", "Conclusion", "Why", "Before", "Now"])
    kinds = ", ".join(news["change_types"]) or "none"
    rules = "; ".join(news["conclusion_rules"])
    removed = "".join(
        f"<li>{e(r['study_id'])}: {e(r['why'])}</li>" for r in news["studies_removed"]
    )
    return (
        f'<h2 id="whats-new">What\'s new in this version</h2><p>Type of change: {e(kinds)}.</p>'
        + html_table(frame, caption=f"Conclusions, judged by pre-specified rules: {rules}")
        + (f"<p>Studies removed:</p><ul>{removed}</ul>" if removed else "")
        + '<p><a href="../whats_new.json">whats_new.json</a></p>'
    )


def changes_html(changes: Mapping[str, Any] | None, previous: str | None) -> str:
    if changes is None:
        return "<p>No previous version to compare with.</p>"
    intro = (
        "<p>First published version.</p>"
        if changes.get("first_version")
        else f"<p>Compared with version <strong>{e(previous)}</strong>.</p>"
    )
    if not provenance.has_changes(dict(changes)):
        return intro + "<p>No changes.</p>"
    parts = [intro]
    for title, lines in provenance.change_lines(dict(changes)).items():
        if not lines:
            continue
        items = "".join(f"<li>{e(line)}</li>" for line in lines)
        parts.append(f'<h3>{e(title)}</h3><ul class="changes">{items}</ul>')
    return "".join(parts)


def version_line(version: str | None, date: str | None) -> str:
    """The line under the title: the version and its date, or that this is a working copy."""
    text = f"Version {version}" if version else "Working copy (not yet published)"
    return f"<p><strong>{e(text)}</strong>{' &middot; ' + e(date) if date else ''}</p>"


def provenance_html(info: Mapping[str, Any] | None) -> str:
    """Software and input checksums: a version's manifest, or the running software."""
    info = dict(info or {})
    soft = info.get("software") or provenance.software_versions()
    pipeline = info.get("pipeline") or {}
    rows = [
        ("Pipeline commit", pipeline.get("git_commit")),
        ("Uncommitted changes in pipeline", pipeline.get("git_dirty")),
        ("Python", soft.get("python")),
    ] + [(f"{k}", v) for k, v in sorted((soft.get("packages") or {}).items())]
    parts = [kv_table(rows)]
    inputs = info.get("inputs") or {}
    if inputs:
        parts.append(
            html_table(
                pd.DataFrame(sorted(inputs.items()), columns=["input file", "sha256"]),
                caption="Input files",
            )
        )
    return "\n".join(parts)


def version_fragments(
    *,
    version: str,
    date: str,
    news: Mapping[str, Any] | None,
    history: Path | None,
    changes: Mapping[str, Any] | None,
    previous: str | None,
    manifest: Mapping[str, Any],
) -> dict[str, str]:
    """The HTML of every report slot for one published version (see ``html.SLOTS``)."""
    return {
        "version": version_line(version, date),
        "news": news_html(news) if news is not None else "",
        "history": history_html(history) if history is not None and history.is_file() else "",
        "changes": changes_html(changes, previous),
        "provenance": provenance_html(manifest),
    }
