"""HTML pieces every page of a report is made of, and the slots a published version fills.

One home for escaping, tables, figures and the page style, so the working-copy
report (``report.py``) and the bundle's version fragments
(``version_sections.py``) write the same HTML. Everything that comes from
records or sheets goes through :func:`e`.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..formatting import format_number

CSP = (
    "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
    "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)


def e(value: Any) -> str:
    """HTML-escape anything (quotes included), so it is inert in text and attributes."""
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return html.escape(str(value), quote=True)


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


def kv_table(pairs: Iterable[tuple[Any, Any]]) -> str:
    """A two-column table of labelled values (a value that is missing shows blank)."""
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def figure_html(made: Mapping[str, list[Path]], key: str, caption: str) -> str:
    """A figure shown as its SVG (else PNG), with links to every format; ``""`` if not drawn."""
    files = made.get(key) or []
    svg = next((p for p in files if p.suffix == ".svg"), None)
    png = next((p for p in files if p.suffix == ".png"), None)
    main = svg or png
    if main is None:
        return ""
    ordered = sorted(files, key=lambda p: p.suffix != ".svg")  # SVG first, as drawn
    links = " ".join(
        f'<a href="figures/{e(p.name)}">{e(p.suffix[1:].upper())}</a>' for p in ordered
    )
    return (
        f'<figure id="fig-{e(key)}"><img src="figures/{e(main.name)}" alt="{e(caption)}">'
        f"<figcaption>{e(caption)} ({links})</figcaption></figure>"
    )


# --------------------------------------------------------------------------- slots
#
# The report is rendered once, by the report rule, as a working copy. What only a
# published version knows (its number and date, what is new, the history, the
# comparison with the previous version, the provenance of its inputs) sits in named
# slots; the bundle fills them (fill_slots) without rendering the report again.

SLOTS = ("version", "news", "history", "changes", "provenance")


def slot(name: str, content: str) -> str:
    """A named region of whole lines holding ``content`` (the working copy's text)."""
    if name not in SLOTS:
        raise ValueError(f"unknown report slot {name!r}; slots: {', '.join(SLOTS)}")
    body = f"{content}\n" if content else ""
    return f"<!-- slot:{name} -->\n{body}<!-- /slot:{name} -->"


def fill_slots(page: str, fragments: Mapping[str, str]) -> str:
    """Replace each named slot (markers included) by its fragment; every slot must exist once.

    Unfilled slots keep their working-copy text without the markers, so a
    published page carries no slot comments.
    """
    for name in SLOTS:
        pattern = re.compile(rf"<!-- slot:{name} -->\n(.*?)<!-- /slot:{name} -->\n", re.S)
        found = pattern.findall(page)
        if len(found) != 1:
            raise ValueError(f"the report page has {len(found)} slots named {name!r}, not 1")
        content = fragments.get(name)
        text = found[0] if content is None else (f"{content}\n" if content else "")
        page = pattern.sub(lambda _m, text=text: text, page)
    return page
