"""HTML of the report's sections that every rendering shares (working copy and version).

Each function returns the HTML of one piece of a section, or ``""`` when the
piece has nothing to show; the page template (``templates/report.html.j2``)
places them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..evidence.grade import GRADE_DOMAINS
from ..formatting import format_number
from ..measures import is_ratio
from .html import e, html_table
from .report_data import as_float, domain_of, read_json_or_none
from .report_settings import ReportSettings


def binary_note(strata: Mapping[str, Mapping[str, Any]], settings: ReportSettings) -> str:
    """Where the binary (RR) domains are: the figure shows SMDs only, Table 2 and the strata all."""
    binary = [
        str(x.get("label") or settings.domain_labels.get(domain_of(x) or "", x["stratum"]))
        for x in strata.values()
        if x.get("kind") == "domain" and is_ratio(x.get("measure"))
    ]
    if not binary:
        return ""
    return (
        f". Binary domains (risk ratio, {settings.ci_label}): {', '.join(binary)}: "
        "in the table below and under Strata"
    )


def strata_toc(
    strata: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, Any],
    settings: ReportSettings,
) -> str:
    """A table of contents of the strata: each domain, then its strata by the stratifier."""
    shown = [n for n in strata if f"forest_{n}" in figures]
    if not shown:
        return ""

    def link(name: str) -> str:
        info = strata[name]
        return f'<a href="#s-{e(name)}">{e(info.get("label") or name)}</a>'

    items = []
    for name in shown:
        if strata[name].get("kind") != "domain":
            continue
        domain = domain_of(strata[name])
        inner = [n for n in shown if strata[n].get("kind") == "domain-platform"
                 and domain_of(strata[n]) == domain]  # fmt: skip
        sub = "".join(f"<li>{link(n)}</li>" for n in inner)
        items.append(f"<li>{link(name)}" + (f"<ul>{sub}</ul>" if sub else "") + "</li>")
    overview = [n for n in shown if strata[n].get("kind") == "platform"]
    if overview:
        sub = "".join(f"<li>{link(n)}</li>" for n in overview)
        heading = e(settings.stratifier.overview_title)
        items.append(f"<li>{heading}<ul>{sub}</ul></li>")
    return f'<nav class="toc" id="strata-toc"><ul>{"".join(items)}</ul></nav>'


def platform_caption(
    strata: Mapping[str, Mapping[str, Any]], settings: ReportSettings | None = None
) -> str:
    """Caption of the platform overview: how its rows were pooled, as their pooled.json say.

    A platform's trials contribute one effect per domain; such rows are pooled
    with the multilevel model (effects nested in trials, robust inference).
    Rows pooled as if independent (``analysis.dependence.model: univariate``)
    are said to be so.
    """
    from .plots import multilevel_note

    rows = [x for x in strata.values() if x.get("kind") == "platform" and x.get("reported")]
    heading = (settings or ReportSettings()).stratifier.overview_title
    text = f"{heading} across continuous outcomes"
    multi = [x for x in rows if x.get("model") == "multilevel"]
    if multi:
        text += f": {multilevel_note(multi)}"
    naive = [
        x["stratum"]
        for x in rows
        if x.get("model") != "multilevel"
        and as_float(x.get("n_trials", x.get("n_studies"))) < as_float(x.get("k"))
    ]
    if naive:
        text += (
            f" {', '.join(naive)}: several effects per trial pooled as if independent "
            "(analysis.dependence.model: univariate)."
        )
    return text


def forest_caption(info: Mapping[str, Any], name: str) -> str:
    text = f"Forest plot: {info.get('label') or name}"
    if info.get("model") == "multilevel":
        from .plots import multilevel_text

        text += f" ({multilevel_text(info)})"
    return text


def watch_section(results: Path) -> str:
    """Retraction and correction watch: notices on records that reached full text."""
    path = results / "screening" / "watch.csv"
    head = '<h2 id="watch">Retraction and correction watch</h2>'
    if not path.is_file():
        return ""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not len(table):
        return head + (
            '<p class="muted">PubMed lists no retraction, erratum, expression of concern '
            "or update for any record assessed at full text.</p>"
        )
    shown = table.rename(columns={"record_id": "Record", "title": "Title", "status": "Full text",
                                  "rule": "Rule", "notice": "Notice", "notice_pmid": "Notice PMID"})  # fmt: skip
    return head + html_table(
        shown[["Record", "Title", "Notice", "Notice PMID", "Full text", "Rule"]],
        caption="Notices PubMed links to records assessed at full text (a retracted record is "
        "excluded by rule retraction-watch unless screening.retracted is flag; errata, "
        "expressions of concern and updates are for the extractors to check)",
    )


def cumulative_section(results: Path, settings: ReportSettings) -> str:
    """Cumulative meta-analysis by publication year: one figure per pooled domain."""
    folder = results / "cumulative"
    table = folder / "cumulative.csv"
    pooled = (
        sorted(set(pd.read_csv(table, usecols=["domain"], dtype=str)["domain"]))
        if table.is_file()
        else []
    )
    figures = [folder / f"{d}.svg" for d in pooled if (folder / f"{d}.svg").is_file()]
    head = '<h2 id="cumulative">Cumulative meta-analysis by publication year</h2>'
    if not figures:
        return head + '<p class="muted">No pooled domain yet.</p>'
    parts = [head, f"<p>The pooled estimate and {e(settings.ci_label)} as each study was added, "
             "oldest first (metafor's <code>cumul</code>); table: "
             '<a href="../cumulative/cumulative.csv">cumulative.csv</a>.</p>']  # fmt: skip
    for svg in figures:
        label = settings.domain_labels.get(svg.stem, svg.stem)
        parts.append(
            f'<figure><img src="../cumulative/{e(svg.name)}" alt="{e(label)}">'
            f"<figcaption>{e(label)}</figcaption></figure>"
        )
    return "".join(parts)


def certainty_section(results: Path) -> str:
    """Summary of findings and, per outcome, each GRADE domain: suggestion, decision, who decided."""
    parts = ['<h2 id="certainty">Certainty of evidence (GRADE)</h2>']
    sof_path, ratings = (
        results / "grade" / "sof.csv",
        read_json_or_none(results / "grade" / "grade.json"),
    )
    if not sof_path.is_file() or not isinstance(ratings, dict):
        return parts[0] + '<p class="muted">No certainty ratings in this run.</p>'
    sof = pd.read_csv(sof_path, keep_default_na=False, dtype=str)
    sof["certainty"] = (sof["symbols"] + " " + sof["certainty"]).str.strip()
    columns = {"outcome": "Outcome", "studies": "Studies", "participants": "Participants",
               "effect": "Relative / standardised effect", "absolute": "Absolute effect or "
               "interpretation", "certainty": "Certainty", "footnotes": "Reasons for rating down"}  # fmt: skip
    parts.append(html_table(sof[list(columns)].rename(columns=columns),
                            caption="Summary of findings (participants: each trial once)"))  # fmt: skip
    rows = [
        (
            r.get("label") or domain,
            gd.replace("_", " "),
            r["domains"][gd]["suggested"],
            r["domains"][gd]["final"],
            r["domains"][gd]["final_reason"],
            r["domains"][gd]["decided_by"],
        )  # fmt: skip
        for domain, r in (ratings.get("outcomes") or {}).items()
        for gd in GRADE_DOMAINS
    ]
    if rows:
        frame = pd.DataFrame(rows, columns=["Outcome", "GRADE domain", "Suggested", "Final",
                                            "Reason", "Decided by"])  # fmt: skip
        parts.append(html_table(frame, caption="GRADE domains: the software's suggestion and the "
                                "team's decision (grade/adjudication.csv)"))  # fmt: skip
    parts.append(
        '<p><a href="../grade/sof.csv">sof.csv</a> &middot; <a href="../grade/grade.json">'
        "grade.json</a> (suggestions, rules and facts)</p>"
    )
    return "".join(parts)


def prisma_counts_html(path: Path) -> str:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)  # counts; blank stays blank
    latest = " (blank: counted for the whole review only)" if len(table.columns) > 2 else ""
    return html_table(table, caption=f"PRISMA 2020 counts{latest}") + (
        '<p><a href="tables/prisma.csv">prisma.csv</a> &middot; <a href="../screening/'
        'prisma.json">prisma.json</a></p>'
    )


def design_check_html(design: Any) -> str:
    """The OLS design check: its coefficients, or why it was not estimated."""
    if not isinstance(design, dict):
        return ""
    head = "<h3>Design check: OLS of ln(n) on follow-up weeks (HC3)</h3>"
    link = '<p><a href="../design_check.json">design_check.json</a></p>'
    if not design.get("reported"):
        why = "fewer than 3 studies with both values, or a single follow-up"
        return f"{head}<p>Not estimated: {why} (n = {e(design.get('n'))}).</p>{link}"
    level = format_number(100 * float(design.get("level") or 0.95), 0)
    coefs = pd.DataFrame(design.get("coefficients") or [])
    coefs = coefs.reindex(columns=["term", "estimate", "se", "tval", "pval", "ci_low", "ci_high"])
    coefs.columns = ["term", "estimate", "SE", "t", "p", f"{level}% CI low", f"{level}% CI high"]
    caption = (
        f"n = {design.get('n')} studies, residual df = {format_number(design.get('df_resid'), 0)}"
        f", R\u00b2 = {format_number(design.get('r2'))}"
    )
    return head + html_table(coefs, caption=caption) + link


NO_POOLED = "No pooled analyses yet"

NO_DECISIONS = "No screening decisions yet"


def no_pooled_html(
    prisma: Mapping[str, Any], strata: Mapping[str, Mapping[str, Any]], settings: ReportSettings
) -> str:
    """The notice of a review whose strata are all below ``min_k`` (or that has none yet)."""
    min_k = settings.analysis.min_k
    k = max((int(info.get("k") or 0) for info in strata.values()), default=0)
    studies = prisma.get("included_studies", 0)
    return (
        f'<p class="notice"><strong>{NO_POOLED}</strong>: {e(studies)} included '
        f"stud{'y' if studies == 1 else 'ies'}; a stratum is pooled once it has at least "
        f"{e(min_k)} studies (the largest has {k}).</p>"
    )


def agreement_html(agreement: Any) -> str:
    """Cohen's kappa per stage and reviewer pair, or why there is none yet."""
    from ..screening.files import STAGE_LABELS

    stages = (agreement or {}).get("stages") if isinstance(agreement, dict) else None
    rows = [
        {
            "stage": STAGE_LABELS.get(stage, stage),
            "reviewers": " & ".join(pair.get("reviewers") or [name]),
            "records both screened": pair.get("n"),
            "percent agreement": pair.get("percent_agreement"),
            "kappa": pair.get("kappa"),
            "ci_low": pair.get("ci_low"),
            "ci_high": pair.get("ci_high"),
        }
        for stage, pairs in (stages or {}).items()
        for name, pair in sorted(pairs.items())
    ]
    head = "<h3>Agreement between reviewers</h3>"
    if not rows:
        note = (agreement or {}).get("note") if isinstance(agreement, dict) else None
        note = note or NO_DECISIONS
        return f"{head}<p>{e(note[:1].upper() + note[1:])}.</p>"
    return head + html_table(
        pd.DataFrame(rows), caption="Cohen's kappa over the records both reviewers screened"
    )
