"""The review's report: figures, tables and one self-contained ``index.html``.

``build_report(results, out, config)`` (the keys it renders, read into a
:class:`~livingreview.publish.report_settings.ReportSettings`) turns the analysis outputs (see
docs/contracts.md) into ``results/report/``:

- ``figures/``: domain summary (the review's Figure 2), platform overview
  (Figure 3), PRISMA 2020 flow, RoB 2 summary and traffic-light plots, forest
  plot of every stratum and funnel plot where k >= ``min_k_funnel``; SVG + PNG.
- ``tables/``: ``platform_domain.csv`` (Table 2: k, estimate, 95% CI, I2 or NE),
  ``strata.csv``, ``LOO_<stratum>.csv``, ``metaregression.csv``, ``prisma.csv``
  (the PRISMA 2020 counts, one row per box; the latest search beside the whole
  review in an update).
- ``index.html``: a static page with no external requests. Everything that
  comes from records or sheets (titles, study names, notes) is HTML-escaped,
  and a Content-Security-Policy forbids scripts, so text such as
  ``<script>`` or ``onerror=`` in a citation is shown, never run.
"""

from __future__ import annotations

import filecmp
import html
import math
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..contract import parse_stratum
from ..evidence.grade import GRADE_DOMAINS
from ..formatting import format_number
from ..io import atomic_write, read_json, write_csv, write_text
from ..measures import display, is_ratio
from . import provenance
from .report_settings import ReportSettings

CSP = (
    "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
    "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)
TEXT_COLUMNS = ("citation", "label", "stratum", "platform", "domain", "term", "cell", "omitted")


def e(value: Any) -> str:
    """HTML-escape anything (quotes included), so it is inert in text and attributes."""
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return html.escape(str(value), quote=True)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _read_json(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


# --------------------------------------------------------------------------- reading results


def read_strata(results: Path) -> dict[str, dict[str, Any]]:
    """``strata.json`` entries merged with each stratum's ``pooled.json``, sorted by name."""
    results = Path(results)
    index = _read_json(results / "strata" / "strata.json") or {}
    out: dict[str, dict[str, Any]] = {}
    names = set(index) | {p.parent.name for p in (results / "strata").glob("*/pooled.json")}
    for name in sorted(names):
        pooled = _read_json(results / "strata" / name / "pooled.json") or {}
        info = dict(index.get(name, {}))
        info.update(pooled)
        info["stratum"] = name
        info.setdefault("kind", _kind(name))
        out[name] = info
    return out


def _parsed(name: str) -> Mapping[str, Any]:
    try:
        return parse_stratum(name)
    except ValueError:
        return {"kind": "domain" if name.startswith("domain-") else "platform"}


def _kind(name: str) -> str:
    return str(_parsed(name)["kind"])


def _domain_of(info: Mapping[str, Any]) -> str | None:
    if info.get("domain"):
        return str(info["domain"])
    return _parsed(info["stratum"]).get("domain")


def _platform_of(info: Mapping[str, Any]) -> str | None:
    """The stratifier value of a stratum (``platform`` in strata.json, whatever the stratifier)."""
    if info.get("platform"):
        return str(info["platform"])
    return _parsed(info["stratum"]).get("platform")


def _shown(info: Mapping[str, Any], field: str) -> float:
    return display(info.get(field), info.get("measure"))


def _cell(info: Mapping[str, Any]) -> str:
    k = int(_num(info.get("k"))) if math.isfinite(_num(info.get("k"))) else 0
    if not info.get("reported") or not math.isfinite(_num(info.get("estimate"))):
        return f"NE (k = {k})"
    name = "RR" if is_ratio(info.get("measure")) else "SMD"
    return (
        f"k = {k}; {name} {_shown(info, 'estimate'):.2f} "
        f"[{_shown(info, 'ci_low'):.2f}, {_shown(info, 'ci_high'):.2f}]; "
        f"I\u00b2 = {_num(info.get('i2')):.0f}%"
    )


def strata_table(strata: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per stratum with the numbers a reader looks for (ratios back-transformed too)."""
    rows = []
    for name, s in strata.items():
        ratio = is_ratio(s.get("measure"))
        rows.append(
            {
                "stratum": name,
                "kind": s.get("kind"),
                "domain": _domain_of(s),
                "platform": _platform_of(s),
                "label": s.get("label"),
                "measure": s.get("measure"),
                "k": s.get("k"),
                "reported": bool(s.get("reported")),
                "estimate": s.get("estimate"),
                "ci_low": s.get("ci_low"),
                "ci_high": s.get("ci_high"),
                "pval": s.get("pval"),
                "tau2": s.get("tau2"),
                "i2": s.get("i2"),
                "q": s.get("q"),
                "q_pval": s.get("q_pval"),
                "pi_low": s.get("pi_low"),
                "pi_high": s.get("pi_high"),
                "model": s.get("model") or "univariate",
                "n_trials": s.get("n_trials", s.get("n_studies")),
                "inference": s.get("inference"),
                "rho": s.get("rho"),
                "exp_estimate": _shown(s, "estimate") if ratio else None,
                "exp_ci_low": _shown(s, "ci_low") if ratio else None,
                "exp_ci_high": _shown(s, "ci_high") if ratio else None,
                "favourable_sign": s.get("favourable_sign"),
            }
        )
    return pd.DataFrame(rows)


def platform_domain_table(
    strata: Mapping[str, Mapping[str, Any]], settings: ReportSettings
) -> pd.DataFrame:
    """Table 2: one row per platform x domain (platform "all" = the domain stratum).

    Columns: ``platform, domain, stratum, k, measure, estimate, ci_low, ci_high,
    i2, reported, cell``; ratios are shown back-transformed in ``cell`` only.
    Combinations with no stratum are listed with k = 0 and NE.
    """
    domains = list(settings.domain_labels)
    platforms = list(settings.platform_labels)
    for s in strata.values():
        d, p = _domain_of(s), _platform_of(s)
        if d and d not in domains:
            domains.append(d)
        if s.get("kind") == "domain-platform" and p and p not in platforms:
            platforms.append(p)
    by_key = {}
    for s in strata.values():
        kind = s.get("kind")
        if kind == "domain":
            by_key[("all", _domain_of(s))] = s
        elif kind == "domain-platform":
            by_key[(_platform_of(s), _domain_of(s))] = s
    rows = []
    for p in ["all", *platforms]:
        for d in domains:
            s = by_key.get((p, d))
            if s is None:
                rows.append(
                    {"platform": p, "domain": d, "stratum": "", "k": 0, "reported": False}
                    | {"cell": "NE (k = 0)"}
                )
                continue
            rows.append(
                {
                    "platform": p,
                    "domain": d,
                    "stratum": s["stratum"],
                    "k": s.get("k"),
                    "measure": s.get("measure"),
                    "estimate": s.get("estimate") if s.get("reported") else None,
                    "ci_low": s.get("ci_low") if s.get("reported") else None,
                    "ci_high": s.get("ci_high") if s.get("reported") else None,
                    "i2": s.get("i2") if s.get("reported") else None,
                    "reported": bool(s.get("reported")),
                    "cell": _cell(s),
                }
            )
    cols = [
        "platform",
        "domain",
        "stratum",
        "k",
        "measure",
        "estimate",
        "ci_low",
        "ci_high",
        "i2",
        "reported",
        "cell",
    ]
    return pd.DataFrame(rows).reindex(columns=cols)


def metaregression_table(results: Path) -> pd.DataFrame:
    """Flatten ``results/metareg/*.json`` into one row per model x coefficient.

    The coefficient table may be a list of records (with ``term``) or a mapping
    ``term -> {estimate, se, ...}``; model-level numbers (k, tau2, i2, r2, qm,
    qm_pval) are repeated on each row.
    """
    rows = []
    for path in sorted((Path(results) / "metareg").glob("*.json")):
        model = read_json(path)
        if not isinstance(model, dict):
            continue
        coefs = model.get("coefficients") or model.get("coef") or []
        if isinstance(coefs, dict):
            coefs = [
                {"term": t, **(v if isinstance(v, dict) else {"estimate": v})}
                for t, v in coefs.items()
            ]
        level = {
            f: model.get(f)
            for f in ("k", "tau2", "i2", "r2", "qm", "qm_pval", "method", "reported")
            if f in model and not isinstance(model.get(f), dict | list)
        }
        if not coefs:
            rows.append({"model": path.stem, "term": None, **level})
        for c in coefs:
            c = dict(c)
            row = {"model": path.stem, "term": c.pop("term", c.pop("name", None))}
            row.update({k: v for k, v in c.items() if not isinstance(v, dict | list)})
            row.update(level)
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- figures


def _load_studies(results: Path) -> pd.DataFrame | None:
    path = Path(results) / "extraction" / "studies.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else None


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
        dict(s, label=s.get("label") or domain_labels.get(_domain_of(s) or "", s["stratum"]))
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
            label=platform_labels.get(_platform_of(s) or "") or s.get("label") or s["stratum"],
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
        studies = _load_studies(results)
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
        if int(_num(s.get("k")) or 0) >= min_k_funnel:
            made[f"funnel_{name}"] = _copy_or_plot(
                sdir,
                "funnel",
                fig_dir / f"funnel_{name}",
                lambda stem, s=s, read=read, sdir=sdir: plots.funnel_plot(
                    read(), s, _read_json(sdir / "egger.json"), stem
                ),
            )
    return made


# --------------------------------------------------------------------------- tables


def build_tables(
    results: Path, out: Path, strata: Mapping[str, Mapping[str, Any]], settings: ReportSettings
) -> dict[str, Path]:
    tab_dir = Path(out) / "tables"
    tab_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}
    pd_table = platform_domain_table(strata, settings)
    write_csv(pd_table, tab_dir / "platform_domain.csv", text_columns=TEXT_COLUMNS)
    grid = pd_grid(pd_table, settings)
    write_text(tab_dir / "platform_domain.html", _standalone_table(grid, settings))
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
    counts = _read_json(Path(results) / "screening" / "prisma.json")
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


# --------------------------------------------------------------------------- HTML


P_COLUMNS = ("pval", "q_pval", "qm_pval", "p", "p-value", "P")  # shown as p < 0.001, never 0.000


def html_table(df: pd.DataFrame, *, digits: int = 3, caption: str | None = None) -> str:
    """An escaped HTML table; floats rounded for reading (the CSV keeps full precision)."""
    p_cols = [str(c) in P_COLUMNS for c in df.columns]

    def cell(v: Any, is_p: bool) -> str:
        if isinstance(v, float):
            return e(format_number(v, digits, p=is_p))
        return e(v)

    head = "".join(f"<th>{e(c)}</th>" for c in df.columns)
    body = "\n".join(
        "<tr>"
        + "".join(f"<td>{cell(v, p)}</td>" for v, p in zip(row, p_cols, strict=True))
        + "</tr>"
        for row in df.itertuples(index=False, name=None)
    )
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


STYLE = """
body{font-family:"DejaVu Sans",Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.85em}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}caption{text-align:left;font-weight:bold;padding:.3em 0}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}.muted{color:#666}.changes li{margin:.15em 0}
nav a{margin-right:1em}code{background:#f5f5f5;padding:0 .2em}
"""


def _table2_caption(settings: ReportSettings) -> str:
    """Table 2's caption, with the configured confidence level and min_k."""
    return (
        f"{settings.stratifier.label} x domain: k, pooled estimate [{settings.ci_label}], "
        f"I\u00b2; NE = not estimated ({settings.min_k_label})"
    )


def _binary_note(strata: Mapping[str, Mapping[str, Any]], settings: ReportSettings) -> str:
    """Where the binary (RR) domains are: the figure shows SMDs only, Table 2 and the strata all."""
    binary = [
        str(x.get("label") or settings.domain_labels.get(_domain_of(x) or "", x["stratum"]))
        for x in strata.values()
        if x.get("kind") == "domain" and is_ratio(x.get("measure"))
    ]
    if not binary:
        return ""
    return (
        f". Binary domains (risk ratio, {settings.ci_label}): {', '.join(binary)}: "
        "in the table below and under Strata"
    )


def _strata_toc(
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
        domain = _domain_of(strata[name])
        inner = [n for n in shown if strata[n].get("kind") == "domain-platform"
                 and _domain_of(strata[n]) == domain]  # fmt: skip
        sub = "".join(f"<li>{link(n)}</li>" for n in inner)
        items.append(f"<li>{link(name)}" + (f"<ul>{sub}</ul>" if sub else "") + "</li>")
    overview = [n for n in shown if strata[n].get("kind") == "platform"]
    if overview:
        sub = "".join(f"<li>{link(n)}</li>" for n in overview)
        heading = e(settings.stratifier.overview_title)
        items.append(f"<li>{heading}<ul>{sub}</ul></li>")
    return f'<nav class="toc" id="strata-toc"><ul>{"".join(items)}</ul></nav>'


def _platform_caption(
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
        and _num(x.get("n_trials", x.get("n_studies"))) < _num(x.get("k"))
    ]
    if naive:
        text += (
            f" {', '.join(naive)}: several effects per trial pooled as if independent "
            "(analysis.dependence.model: univariate)."
        )
    return text


def _forest_caption(info: Mapping[str, Any], name: str) -> str:
    text = f"Forest plot: {info.get('label') or name}"
    if info.get("model") == "multilevel":
        from .plots import multilevel_text

        text += f" ({multilevel_text(info)})"
    return text


def _standalone_table(df: pd.DataFrame, settings: ReportSettings) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>Platform x domain</title><style>{STYLE}</style></head><body>"
        + html_table(df, caption=_table2_caption(settings))
        + "</body></html>\n"
    )


def _figure(made: Mapping[str, list[Path]], key: str, caption: str) -> str:
    files = made.get(key) or []
    svg = next((p for p in files if p.suffix == ".svg"), None)
    png = next((p for p in files if p.suffix == ".png"), None)
    main = svg or png
    if main is None:
        return ""
    links = " ".join(f'<a href="figures/{e(p.name)}">{e(p.suffix[1:].upper())}</a>' for p in files)
    return (
        f'<figure id="fig-{e(key)}"><img src="figures/{e(main.name)}" alt="{e(caption)}">'
        f"<figcaption>{e(caption)} ({links})</figcaption></figure>"
    )


def _history_html(path: Path) -> str:
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


def _news_html(news: Mapping[str, Any]) -> str:
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


def _watch_section(results: Path) -> str:
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


def _cumulative_section(results: Path, settings: ReportSettings) -> str:
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


def _certainty_section(results: Path) -> str:
    """Summary of findings and, per outcome, each GRADE domain: suggestion, decision, who decided."""
    parts = ['<h2 id="certainty">Certainty of evidence (GRADE)</h2>']
    sof_path, ratings = results / "grade" / "sof.csv", _read_json(results / "grade" / "grade.json")
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


def _kv_table(pairs: Iterable[tuple[Any, Any]]) -> str:
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def _prisma_counts_html(path: Path) -> str:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)  # counts; blank stays blank
    latest = " (blank: counted for the whole review only)" if len(table.columns) > 2 else ""
    return html_table(table, caption=f"PRISMA 2020 counts{latest}") + (
        '<p><a href="tables/prisma.csv">prisma.csv</a> &middot; <a href="../screening/'
        'prisma.json">prisma.json</a></p>'
    )


def _design_check_html(design: Any) -> str:
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


def _changes_html(changes: Mapping[str, Any] | None, previous: str | None) -> str:
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


NO_POOLED = "No pooled analyses yet"
NO_DECISIONS = "No screening decisions yet"


def _no_pooled_html(
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


def _agreement_html(agreement: Any) -> str:
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


def render_index(
    results: Path,
    out: Path,
    config: Mapping[str, Any] | ReportSettings,
    *,
    strata: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, list[Path]],
    tables: Mapping[str, Path],
    version: str | None = None,
    date: str | None = None,
    changes: Mapping[str, Any] | None = None,
    previous: str | None = None,
    provenance_info: Mapping[str, Any] | None = None,
    news: Mapping[str, Any] | None = None,
) -> str:
    """The HTML of ``index.html`` (links are relative to the report folder).

    ``news``: the version's ``whats_new.json`` (the bundle passes it; the working
    copy has none, as it is not a version).
    """
    results = Path(results)
    settings = ReportSettings.from_config(config)
    title = settings.title
    summary = _read_json(results / "records" / "summary.json") or {}
    prisma = _read_json(results / "screening" / "prisma.json") or {}
    snapshots = summary.get("snapshots") or []
    version_text = f"Version {version}" if version else "Working copy (not yet published)"

    s = []
    s.append(f"<h1>{e(title)}</h1>")
    s.append(f"<p><strong>{e(version_text)}</strong>{' &middot; ' + e(date) if date else ''}</p>")
    s.append(
        '<nav><a href="#search">Search</a><a href="#prisma">PRISMA</a><a href="#changes">Changes</a>'
        '<a href="#results">Results</a><a href="#certainty">Certainty</a>'
        '<a href="#cumulative">Cumulative</a>'
        '<a href="#strata">Strata</a><a href="#rob">Risk of bias</a>'
        '<a href="#provenance">Provenance</a></nav>'
    )
    # search and counts
    s.append('<h2 id="search">Search</h2>')
    s.append(
        _kv_table(
            [
                ("Search window start", settings.start_date),
                ("Latest search (PubMed snapshot until)", summary.get("latest_search")),
                (
                    "Records identified",
                    summary.get("identified_total", prisma.get("identified_total")),
                ),
                (
                    "Duplicates removed",
                    summary.get("duplicates_removed", prisma.get("duplicates_removed")),
                ),
                ("Unique records", summary.get("unique")),
                ("New in latest search", summary.get("new_in_latest")),
                ("Included studies", prisma.get("included_studies")),
                ("Newly included in this version", prisma.get("new_included")),
            ]
        )
    )
    identified = summary.get("identified") or prisma.get("identified") or {}
    if identified:
        s.append(
            html_table(
                pd.DataFrame(sorted(identified.items()), columns=["source", "records"]),
                caption="Records per source",
            )
        )
    if snapshots:
        s.append(
            html_table(
                pd.DataFrame(snapshots).reindex(columns=["until", "count", "file", "sha256"]),
                caption="PubMed search snapshots used",
            )
        )
    from ..search.records import withdrawal_warnings

    s += [f"<p><strong>Warning:</strong> {e(w)}</p>" for w in withdrawal_warnings(summary)]
    # PRISMA
    s.append('<h2 id="prisma">PRISMA 2020 flow</h2>')
    s.append(_figure(figures, "prisma", "PRISMA 2020 flow diagram"))
    if "prisma" in tables:
        s.append(_prisma_counts_html(tables["prisma"]))
    s.append(_agreement_html(_read_json(results / "screening" / "agreement.json")))
    # changes
    if news is not None:
        s.append(_news_html(news))
    history = Path(out).parent / "history" / "history.csv"
    if history.is_file():  # a published version (the bundle renders it): how the evidence moved
        s.append(_history_html(history))
    s.append('<h2 id="changes">Changes since the last version</h2>')
    s.append(_changes_html(changes, previous))
    # results
    s.append('<h2 id="results">Results</h2>')
    if not any(info.get("reported") for info in strata.values()):
        s.append(_no_pooled_html(prisma, strata, settings))
    s.append(
        _figure(
            figures,
            "domain_summary",
            f"Pooled SMD, {settings.ci_label} and prediction interval per outcome domain"
            f" (NE: not estimated, {settings.min_k_label}){_binary_note(strata, settings)}",
        )
    )
    pd_path = tables.get("platform_domain")
    if pd_path is not None:
        table = pd.read_csv(pd_path, dtype={"cell": str}, keep_default_na=False)
        s.append(
            html_table(
                pd_grid(table, settings),
                caption=_table2_caption(settings),
            )
        )
        s.append(
            '<p><a href="tables/platform_domain.csv">platform_domain.csv</a> &middot; '
            '<a href="tables/platform_domain.html">HTML</a></p>'
        )
    s.append(_figure(figures, "platform_overview", _platform_caption(strata, settings)))
    if "metaregression" in tables:
        mr = pd.read_csv(tables["metaregression"], keep_default_na=False, na_values=[""])
        s.append(
            html_table(mr, caption="Meta-regression (random effects) on the configured moderators")
        )
    s.append(_design_check_html(_read_json(results / "design_check.json")))
    s.append(_watch_section(results))
    s.append(_certainty_section(results))
    s.append(_cumulative_section(results, settings))
    # strata
    s.append('<h2 id="strata">Strata</h2>')
    s.append(_strata_toc(strata, figures, settings))
    st = strata_table(strata)
    if len(st):
        s.append(
            html_table(
                st[
                    [
                        "stratum",
                        "k",
                        "n_trials",
                        "model",
                        "reported",
                        "measure",
                        "estimate",
                        "ci_low",
                        "ci_high",
                        "pval",
                        "tau2",
                        "i2",
                        "pi_low",
                        "pi_high",
                    ]
                ],
                caption=(
                    "All strata (analysis scale: SMD or log RR); k = effects; model: "
                    "univariate random effects, or multilevel (effects nested in trials) "
                    "where a trial has several effects"
                ),
            )
        )
    for name, info in strata.items():
        if f"forest_{name}" not in figures:
            continue
        s.append(
            f'<h3 id="s-{e(name)}">{e(info.get("label") or name)} <span class="muted">({e(name)})</span></h3>'
        )
        s.append(_figure(figures, f"forest_{name}", _forest_caption(info, name)))
        if f"funnel_{name}" in figures:
            egger = (
                "multilevel Egger's test (CR2 test of the SE slope)"
                if info.get("model") == "multilevel"
                else "Egger's test"
            )
            s.append(_figure(figures, f"funnel_{name}", f"Funnel plot with {egger}: {name}"))
        if f"LOO_{name}" in tables:
            s.append(f'<p><a href="tables/LOO_{e(name)}.csv">Leave-one-out table (CSV)</a></p>')
    # RoB
    s.append('<h2 id="rob">Risk of bias (RoB 2)</h2>')
    s.append(
        _figure(figures, "rob_summary", "RoB 2 summary: share of studies per judgement and domain")
    )
    s.append(_figure(figures, "rob_traffic_light", "RoB 2 judgements per study"))
    studies = _load_studies(results)
    if studies is not None and len(studies):
        cols = [
            c
            for c in ("study_id", "citation", "country", "design", settings.stratifier.column,
                      "followup_weeks", "n_total", "rob_overall")
            if c in studies.columns
        ]  # fmt: skip
        s.append(html_table(studies[cols], caption=f"Included studies (n = {len(studies)})"))
    # provenance
    s.append('<h2 id="provenance">Software and data provenance</h2>')
    info = dict(provenance_info or {})
    soft = info.get("software") or provenance.software_versions()
    pipeline = info.get("pipeline") or {}
    rows = [
        ("Pipeline commit", pipeline.get("git_commit")),
        ("Uncommitted changes in pipeline", pipeline.get("git_dirty")),
        ("Python", soft.get("python")),
    ] + [(f"{k}", v) for k, v in sorted((soft.get("packages") or {}).items())]
    s.append(_kv_table(rows))
    inputs = info.get("inputs") or {}
    if inputs:
        s.append(
            html_table(
                pd.DataFrame(sorted(inputs.items()), columns=["input file", "sha256"]),
                caption="Input files",
            )
        )
    s.append(
        '<p class="muted">Every file of a published version is listed with its SHA-256 in '
        "<code>manifest.json</code>; check with <code>livingreview verify &lt;bundle&gt;</code>.</p>"
    )
    body = "\n".join(x for x in s if x)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


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
    results, out = Path(results), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    strata = read_strata(results)
    settings = ReportSettings.from_config(config)
    figures = build_figures(results, out, strata, settings)
    tables = build_tables(results, out, strata, settings)
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
    keep = {p for files in figures.values() for p in files} | set(tables.values())
    keep |= {out / "tables" / "platform_domain.html"}
    for folder in (out / "figures", out / "tables"):
        for p in folder.glob("*"):
            if p.is_file() and p not in keep:  # e.g. a stratum that no longer exists
                p.unlink()
    text = render_index(
        results, out, settings, strata=strata, figures=figures, tables=tables, **index_kw
    )
    write_text(out / "index.html", text)
    return out / "index.html"


def report_parts(out: str | Path) -> tuple[dict[str, list[Path]], dict[str, Path]]:
    """Figures and tables already in a report folder (used when re-rendering a bundle's index)."""
    out = Path(out)
    figures: dict[str, list[Path]] = {}
    for p in sorted((out / "figures").glob("*")):
        if p.suffix in (".svg", ".png"):
            figures.setdefault(p.stem, []).append(p)
    for files in figures.values():
        files.sort(key=lambda p: p.suffix != ".svg")
    tables = {p.stem: p for p in sorted((out / "tables").glob("*.csv"))}
    return figures, tables
