"""The review's report: figures, tables and one self-contained ``index.html``.

``build_report(results, out, config)``, or as the rule calls it ``run`` then
``write`` (docs/contracts.md, "Stage entry points"), turns the analysis outputs
(the keys of the configuration it renders read into a
:class:`~livingreview.publish.report_settings.ReportSettings`) into ``results/report/``:

- ``figures/``: domain summary (the review's Figure 2), platform overview
  (Figure 3), PRISMA 2020 flow, RoB 2 summary and traffic-light plots, forest
  plot of every stratum and funnel plot where k >= ``min_k_funnel``; SVG + PNG.
- ``tables/``: ``platform_domain.csv`` (Table 2: k, estimate, 95% CI, I2 or NE),
  ``strata.csv``, ``LOO_<stratum>.csv``, ``metaregression.csv``, ``prisma.csv``
  (the PRISMA 2020 counts, one row per box; the latest search beside the whole
  review in an update).
- ``index.html``: a static page with no external requests, rendered once from
  ``templates/report.html.j2`` (one block per section). What only a published
  version knows sits in slots the bundle fills (``html.fill_slots``), so the
  bundle never renders the report again and the two modules do not call each other. Everything that
  comes from records or sheets (titles, study names, notes) is HTML-escaped,
  and a Content-Security-Policy forbids scripts, so text such as
  ``<script>`` or ``onerror=`` in a citation is shown, never run.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import pandas as pd
from markupsafe import Markup

from ..contract import optional_input
from ..io import write_text
from . import provenance
from .html import CSP, STYLE, e, figure_html, html_table, kv_table, slot
from .report_data import load_studies, read_json_or_none, read_strata, strata_table
from .report_figures import build_figures
from .report_sections import (
    agreement_html,
    binary_note,
    certainty_section,
    cumulative_section,
    design_check_html,
    forest_caption,
    no_pooled_html,
    platform_caption,
    prisma_counts_html,
    strata_toc,
    watch_section,
)
from .report_settings import ReportSettings
from .report_tables import build_tables, pd_grid, table2_caption
from .version_sections import changes_html, history_html, provenance_html, version_line

STRATA_COLUMNS = ["stratum", "k", "n_trials", "model", "reported", "measure", "estimate",
                  "ci_low", "ci_high", "pval", "tau2", "i2", "pi_low", "pi_high"]  # fmt: skip


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("livingreview.publish", "templates"),
        autoescape=True,  # a value that is not already HTML is escaped
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["slot"] = lambda name, content: Markup(slot(name, content))
    return env.get_template("report.html.j2")


def _html(parts: list[str]) -> list[Markup]:
    """The non-empty pieces of a section, as HTML the template inserts unescaped."""
    return [Markup(p) for p in parts if p]


def _search_parts(results: Path, settings: ReportSettings) -> list[str]:
    summary = read_json_or_none(results / "records" / "summary.json") or {}
    prisma = read_json_or_none(results / "screening" / "prisma.json") or {}
    parts = [
        kv_table(
            [
                ("Search window start", settings.start_date),
                ("Latest search (PubMed snapshot until)", summary.get("latest_search")),
                ("Records identified", summary.get("identified_total", prisma.get("identified_total"))),
                ("Duplicates removed", summary.get("duplicates_removed", prisma.get("duplicates_removed"))),
                ("Unique records", summary.get("unique")),
                ("New in latest search", summary.get("new_in_latest")),
                ("Included studies", prisma.get("included_studies")),
                ("Newly included in this version", prisma.get("new_included")),
            ]
        )
    ]  # fmt: skip
    identified = summary.get("identified") or prisma.get("identified") or {}
    if identified:
        frame = pd.DataFrame(sorted(identified.items()), columns=["source", "records"])
        parts.append(html_table(frame, caption="Records per source"))
    snapshots = summary.get("snapshots") or []
    if snapshots:
        frame = pd.DataFrame(snapshots).reindex(columns=["until", "count", "file", "sha256"])
        parts.append(html_table(frame, caption="PubMed search snapshots used"))
    from ..search.records import withdrawal_warnings

    parts += [f"<p><strong>Warning:</strong> {e(w)}</p>" for w in withdrawal_warnings(summary)]
    return parts


def _results_parts(
    results: Path,
    strata: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, list[Path]],
    tables: Mapping[str, Path],
    settings: ReportSettings,
) -> list[str]:
    prisma = read_json_or_none(results / "screening" / "prisma.json") or {}
    parts = []
    if not any(info.get("reported") for info in strata.values()):
        parts.append(no_pooled_html(prisma, strata, settings))
    parts.append(
        figure_html(
            figures,
            "domain_summary",
            f"Pooled SMD, {settings.ci_label} and prediction interval per outcome domain"
            f" (NE: not estimated, {settings.min_k_label}){binary_note(strata, settings)}",
        )
    )
    pd_path = tables.get("platform_domain")
    if pd_path is not None:
        table = pd.read_csv(pd_path, dtype={"cell": str}, keep_default_na=False)
        parts.append(html_table(pd_grid(table, settings), caption=table2_caption(settings)))
        parts.append(
            '<p><a href="tables/platform_domain.csv">platform_domain.csv</a> &middot; '
            '<a href="tables/platform_domain.html">HTML</a></p>'
        )
    parts.append(figure_html(figures, "platform_overview", platform_caption(strata, settings)))
    if "metaregression" in tables:
        mr = pd.read_csv(tables["metaregression"], keep_default_na=False, na_values=[""])
        caption = "Meta-regression (random effects) on the configured moderators"
        parts.append(html_table(mr, caption=caption))
    parts.append(design_check_html(read_json_or_none(results / "design_check.json")))
    parts.append(watch_section(results))
    parts.append(certainty_section(results))
    parts.append(cumulative_section(results, settings))
    return parts


def _strata_parts(
    strata: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, list[Path]],
    tables: Mapping[str, Path],
    settings: ReportSettings,
) -> list[str]:
    parts = [strata_toc(strata, figures, settings)]
    table = strata_table(strata)
    if len(table):
        caption = (
            "All strata (analysis scale: SMD or log RR); k = effects; model: "
            "univariate random effects, or multilevel (effects nested in trials) "
            "where a trial has several effects"
        )
        parts.append(html_table(table[STRATA_COLUMNS], caption=caption))
    for name, info in strata.items():
        if f"forest_{name}" not in figures:
            continue
        label = e(info.get("label") or name)
        parts.append(f'<h3 id="s-{e(name)}">{label} <span class="muted">({e(name)})</span></h3>')
        parts.append(figure_html(figures, f"forest_{name}", forest_caption(info, name)))
        if f"funnel_{name}" in figures:
            egger = (
                "multilevel Egger's test (CR2 test of the SE slope)"
                if info.get("model") == "multilevel"
                else "Egger's test"
            )
            parts.append(
                figure_html(figures, f"funnel_{name}", f"Funnel plot with {egger}: {name}")
            )
        if f"LOO_{name}" in tables:
            parts.append(f'<p><a href="tables/LOO_{e(name)}.csv">Leave-one-out table (CSV)</a></p>')
    return parts


def _rob_parts(
    results: Path, figures: Mapping[str, list[Path]], settings: ReportSettings
) -> list[str]:
    parts = [
        figure_html(figures, "rob_summary", "RoB 2 summary: share of studies per judgement and domain"),
        figure_html(figures, "rob_traffic_light", "RoB 2 judgements per study"),
    ]  # fmt: skip
    studies = load_studies(results)
    if studies is not None and len(studies):
        cols = [
            c
            for c in ("study_id", "citation", "country", "design", settings.stratifier.column,
                      "followup_weeks", "n_total", "rob_overall")
            if c in studies.columns
        ]  # fmt: skip
        parts.append(html_table(studies[cols], caption=f"Included studies (n = {len(studies)})"))
    return parts


def render_index(
    results: Path,
    out: Path,
    config: Mapping[str, Any] | ReportSettings,
    *,
    strata: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, list[Path]],
    tables: Mapping[str, Path],
    changes: Mapping[str, Any] | None = None,
    previous: str | None = None,
) -> str:
    """The HTML of the working copy's ``index.html`` (links relative to the report folder).

    The slots hold what the working copy knows: no version, ``changes`` against
    the latest published version (``previous``), the software it runs with.
    """
    results = Path(results)
    settings = ReportSettings.from_config(config)
    history = Path(out).parent / "history" / "history.csv"
    agreement = read_json_or_none(results / "screening" / "agreement.json")
    context = {
        "csp": Markup(CSP),
        "style": Markup(STYLE),
        "title": Markup(e(settings.title)),
        "version": version_line(None, None),
        "news": "",
        "history": history_html(history) if history.is_file() else "",
        "changes": changes_html(changes, previous),
        "provenance": provenance_html(None),
        "search": _html(_search_parts(results, settings)),
        "prisma": _html(
            [
                figure_html(figures, "prisma", "PRISMA 2020 flow diagram"),
                prisma_counts_html(tables["prisma"]) if "prisma" in tables else "",
                agreement_html(agreement),
            ]
        ),
        "results": _html(_results_parts(results, strata, figures, tables, settings)),
        "strata": _html(_strata_parts(strata, figures, tables, settings)),
        "rob": _html(_rob_parts(results, figures, settings)),
    }
    return _template().render(context)


class ReportResult(NamedTuple):
    """What the report reads before it draws: the results folder, its strata, the
    settings and what ``render_index`` is given besides (the changes since the
    previous version)."""

    results: Path
    settings: ReportSettings
    strata: dict[str, dict[str, Any]]  # read_strata: strata.json merged with pooled.json
    index_kw: dict[str, Any]


def run(settings: ReportSettings, inputs: Mapping[str, Any]) -> ReportResult:
    """The stage's entry point (docs/contracts.md, "Stage entry points").

    ``inputs``: ``effects`` (``results/effects/effects.csv``: the results
    folder is two levels up; the rule lists every file the report reads) and
    ``previous`` (optional: the newest published bundle, to compare with).
    """
    results = Path(inputs["effects"]).parents[1]
    return _read(results, settings, optional_input(inputs.get("previous")))


def _read(
    results: Path, settings: ReportSettings, previous_bundle: str | Path | None, **index_kw: Any
) -> ReportResult:
    if "changes" not in index_kw and previous_bundle is not None:
        prev = Path(previous_bundle)
        index_kw["changes"] = provenance.explain(
            prev,
            effects=results / "effects" / "effects.csv",
            strata=results / "strata",
            config=None,  # the report has only the keys it renders; the bundle compares all
            decisions=results / "screening" / "decisions.csv",
        )
        index_kw["previous"] = prev.name
    return ReportResult(results, settings, read_strata(results), index_kw)


def write(result: ReportResult, outputs: Mapping[str, str | Path]) -> None:
    """Draw the figures and tables and write ``index.html`` (the ``index`` output) beside them.

    Files of figures/ and tables/ the report no longer makes (e.g. of a
    stratum that no longer exists) are removed.
    """
    results, settings, strata = result.results, result.settings, result.strata
    out = Path(outputs["index"]).parent
    out.mkdir(parents=True, exist_ok=True)
    figures = build_figures(results, out, strata, settings)
    tables = build_tables(results, out, strata, settings)
    keep = {p for files in figures.values() for p in files} | set(tables.values())
    keep |= {out / "tables" / "platform_domain.html"}
    for folder in (out / "figures", out / "tables"):
        for p in folder.glob("*"):
            if p.is_file() and p not in keep:  # e.g. a stratum that no longer exists
                p.unlink()
    text = render_index(
        results, out, settings, strata=strata, figures=figures, tables=tables, **result.index_kw
    )
    write_text(out / "index.html", text)


def build_report(
    results: str | Path,
    out: str | Path,
    config: Mapping[str, Any] | ReportSettings,
    *,
    previous_bundle: str | Path | None = None,
    **index_kw: Any,
) -> Path:
    """Write figures, tables and ``index.html`` under ``out``; returns the index path.

    ``previous_bundle``: the published bundle to compare with for "changes since
    the last version" (default: none). ``index_kw`` go to ``render_index``.
    """
    settings = ReportSettings.from_config(config)
    index = Path(out) / "index.html"
    write(_read(Path(results), settings, previous_bundle, **index_kw), {"index": index})
    return index
