"""Seeded random edits of a living-review project, as a review team makes them.

Used by the property test (``tests/test_incremental.py``) and the soak
(``bench/soak_incremental.py``): each edit changes the configuration or the
human-provided inputs of a project copy the way a user would (one key, one
cell, one row, one file), reading the project's current ``results/`` where a
reviewer would (conflicts to adjudicate, discrepancies to resolve, records
still to screen). Every edit is valid input, except those marked ``may_fail``:
those may make the inputs invalid, and the run must then stop cleanly (exit 2,
one message naming an input file, nothing published).

Example::

    rng = random.Random(7)
    edit = random_edit(rng, Path("project"))
    print(edit.kind, edit.text)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

CONFIG = Path("config/config.yaml")
ROOT = Path("resources/demo")
REVIEWERS = ("alice", "bob")
EXTRACTORS = ("carol", "dave")
FT_REASONS = ("not an RCT", "wrong population", "wrong outcomes", "non-extractable data")


@dataclass(frozen=True)
class Edit:
    kind: str
    text: str
    may_fail: bool = False  # the inputs may now be invalid: the run must then stop cleanly


# --------------------------------------------------------------------------- files


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _config(project: Path) -> dict:
    return yaml.safe_load((project / CONFIG).read_text(encoding="utf-8"))


def _save_config(project: Path, config: dict) -> None:
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    (project / CONFIG).write_text(text, encoding="utf-8")


def _results(project: Path, rel: str) -> list[dict[str, str]]:
    path = project / "results" / rel
    return read_rows(path)[1] if path.is_file() else []


def _sheets(project: Path, folder: str) -> list[Path]:
    base = project / ROOT / folder
    return sorted(p for p in base.glob("*.csv") if p.is_file()) if base.is_dir() else []


def _ft_records(project: Path) -> set[str]:
    """Records with any full-text row (their title/abstract status must stay 'included')."""
    ids = set()
    for p in _sheets(project, "screening/full_text"):
        ids |= {r["record_id"] for r in read_rows(p)[1]}
    adj = project / ROOT / "screening" / "adjudication.csv"
    if adj.is_file():
        ids |= {r["record_id"] for r in read_rows(adj)[1] if r["stage"] == "full_text"}
    return ids


# --------------------------------------------------------------------------- config edits


def _set(config: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value


def _get(config: dict, dotted: str):
    node = config
    for key in dotted.split("."):
        node = node[key]
    return node


ANALYSIS_CHOICES = {
    "analysis.method": ["REML", "ML", "DL", "PM", "HE", "SJ", "EB", "FE"],
    "analysis.test": ["z", "knha"],
    "analysis.level": [0.9, 0.95, 0.99],
    "analysis.min_k": [2, 3, 4, 5],
    "analysis.min_k_funnel": [4, 6, 8, 10, 12],
    "analysis.leave_one_out": [True, False],
    "analysis.influence_exclude": [1, 2, 5, 10],
    "analysis.moderators": [
        ["followup_weeks", "ln_n"],
        ["followup_weeks"],
        ["ln_n", "interactivity"],
        ["n", "feedback", "care_integration"],
        ["moderation"],
    ],
    "extraction.stratifier.overview": [True, False],
    "analysis.dependence.model": ["auto", "univariate"],
    "analysis.dependence.rho": [0.0, 0.3, 0.6, 0.8],
    "analysis.dependence.inference": ["CR2", "model"],
    "screening.allow_single_reviewer": [True, False],
    "dedup.title_similarity": [85, 90, 95, 100],
    "extraction.timepoint_weeks": [
        {"min": 1, "max": 520},
        {"min": 1, "max": 12},
        {"min": 1, "max": 26},
        {"min": 12, "max": 52},
        {"min": 4, "max": 104},
    ],
}


def edit_config_choice(rng: random.Random, project: Path) -> Edit:
    """One analysis, screening-policy, dedup or time-window key set to another allowed value."""
    config = _config(project)
    key = rng.choice(sorted(ANALYSIS_CHOICES))
    old = _get(config, key)
    value = rng.choice([v for v in ANALYSIS_CHOICES[key] if v != old])
    _set(config, key, value)
    _save_config(project, config)
    return Edit(key, f"{key}: {old!r} -> {value!r}")


def edit_domain(rng: random.Random, project: Path) -> Edit:
    """A domain's label, favourable sign or priority tiers changed."""
    config = _config(project)
    name = rng.choice(sorted(config["extraction"]["domains"]))
    domain = config["extraction"]["domains"][name]
    what = rng.choice(["label", "favourable_sign", "priority", "label", "type"])
    if what == "type":  # the sheets' forms no longer fit: the run must stop on bad input
        domain["type"] = {"continuous": "binary", "binary": "continuous"}[domain["type"]]
        _save_config(project, config)
        return Edit("extraction.domains.type", f"domain {name}: type -> {domain['type']}", True)
    if what == "label":
        domain["label"] = domain["label"] + rng.choice([" (revised)", " outcomes", "!"])
    elif what == "favourable_sign":
        domain["favourable_sign"] = {"negative": "positive", "positive": "negative"}[
            domain["favourable_sign"]
        ]
    else:
        tiers = [list(t) for t in domain["priority"]]
        if len(tiers) > 1 and rng.random() < 0.5:
            tiers.reverse()
        else:  # the first outcome of the first tier moves to a tier of its own, last
            first = tiers[0].pop(0)
            tiers = [t for t in tiers if t] + [[first]]
        domain["priority"] = tiers
    _save_config(project, config)
    return Edit(f"extraction.domains.{what}", f"domain {name}: {what} -> {domain[what]!r}")


def edit_domain_set(rng: random.Random, project: Path) -> Edit:
    """A domain added (no data yet) or removed (its sheet rows then name an unknown domain)."""
    config = _config(project)
    domains = config["extraction"]["domains"]
    if rng.random() < 0.5 or len(domains) < 3:
        domains["quality-of-life"] = {
            "label": "Quality of life",
            "type": "continuous",
            "favourable_sign": "positive",
            "priority": [["QoL total"]],
        }
        _save_config(project, config)
        return Edit("extraction.domains.add", "domain quality-of-life added")
    name = rng.choice(sorted(d for d in domains if d != "quality-of-life"))
    del domains[name]
    _save_config(project, config)
    return Edit("extraction.domains.remove", f"domain {name} removed", may_fail=True)


def edit_platforms(rng: random.Random, project: Path) -> Edit:
    """A platform's display name changed, or an unused platform added."""
    config = _config(project)
    platforms = config["extraction"]["stratifier"]["values"]
    if rng.random() < 0.6:
        slug = rng.choice(sorted(platforms))
        platforms[slug] = platforms[slug] + " app"
        text = f"platform {slug} displayed as {platforms[slug]!r}"
    else:
        platforms["signal"] = "Signal"
        text = "platform signal added"
    _save_config(project, config)
    return Edit("extraction.stratifier.values", text)


def edit_reasons(rng: random.Random, project: Path) -> Edit:
    """An exclusion reason added to the allowed list."""
    config = _config(project)
    reasons = config["screening"]["exclusion_reasons"]
    new = rng.choice(["wrong setting", "trial registration only", "retracted"])
    if new not in reasons:
        reasons.append(new)
    _save_config(project, config)
    return Edit("screening.exclusion_reasons", f"exclusion reason {new!r} allowed")


def edit_title(rng: random.Random, project: Path) -> Edit:
    config = _config(project)
    config["review"]["title"] = config["review"]["title"] + f" (update {rng.randint(1, 99)})"
    _save_config(project, config)
    return Edit("review.title", f"title -> {config['review']['title']!r}")


# --------------------------------------------------------------------------- screening edits


def edit_screening_row(rng: random.Random, project: Path) -> Edit | None:
    """A reviewer adds, changes or deletes one decision in their own sheet."""
    ft = _ft_records(project)
    stage = rng.choice(["title_abstract", "full_text"])
    sheets = _sheets(project, f"screening/{stage}")
    if not sheets:
        return None
    path = rng.choice(sheets)
    header, rows = read_rows(path)
    action = rng.choice(["add", "edit", "remove"])
    rel = path.relative_to(project / ROOT)
    if action == "add":
        decisions = _results(project, "screening/decisions.csv")
        reviewer = path.stem.split("-")[0].split("_")[0]
        mine = {
            r["record_id"] for s in sheets if s.stem.startswith(reviewer) for r in read_rows(s)[1]
        }
        want = "unscreened" if stage == "title_abstract" else None
        pool = [
            d["record_id"]
            for d in decisions
            if d["stage"] == stage
            and d["record_id"] not in mine
            and (d["status"] in ("unscreened", "awaiting") if want else d["status"] == "awaiting")
        ]
        if stage == "full_text":  # only records included at title/abstract reach full text
            included = {
                d["record_id"]
                for d in decisions
                if d["stage"] == "title_abstract" and d["status"] == "included"
            }
            pool = [r for r in pool if r in included]
        if not pool:
            return None
        rid = rng.choice(sorted(pool))
        decision = rng.choice(["include", "exclude"])
        reason = rng.choice(FT_REASONS) if stage == "full_text" and decision == "exclude" else ""
        rows.append(
            dict.fromkeys(header, "")
            | {"record_id": rid, "decision": decision, "reason": reason, "date": "2026-12-01"}
        )
        write_rows(path, header, rows)
        return Edit("screening.row.add", f"{rel}: {rid} {decision} {reason}".strip())
    if stage == "title_abstract":  # a title/abstract change must not orphan full-text rows
        candidates = [i for i, r in enumerate(rows) if r["record_id"] not in ft]
    else:
        candidates = list(range(len(rows)))
    if not candidates:
        return None
    i = rng.choice(candidates)
    rid = rows[i]["record_id"]
    if action == "remove":
        del rows[i]
        write_rows(path, header, rows)
        return Edit("screening.row.remove", f"{rel}: row of {rid} removed")
    old = rows[i]["decision"]
    new = "exclude" if old != "exclude" else "include"
    rows[i]["decision"] = new
    rows[i]["reason"] = rng.choice(FT_REASONS) if stage == "full_text" and new == "exclude" else ""
    write_rows(path, header, rows)
    return Edit("screening.row.edit", f"{rel}: {rid} {old} -> {new}")


def edit_screening_file(rng: random.Random, project: Path) -> Edit | None:
    """A reviewer's sheet dropped in (a third reviewer) or taken out."""
    if rng.random() < 0.5:
        stage = rng.choice(["title_abstract", "full_text"])
        decisions = _results(project, "screening/decisions.csv")
        ft = _ft_records(project)
        if stage == "title_abstract":  # a third reviewer who agrees where full text started
            pool = [d for d in decisions if d["stage"] == stage and d["status"] == "excluded"]
            pool = [d for d in pool if d["record_id"] not in ft]
        else:
            pool = [d for d in decisions if d["stage"] == stage and d["status"] != "unscreened"]
        if not pool:
            return None
        chosen = rng.sample(pool, min(len(pool), rng.randint(1, 6)))
        header = ["record_id", "decision", "reason", "note", "date"]
        rows = []
        for d in sorted(chosen, key=lambda d: d["record_id"]):
            decision = (
                "exclude" if stage == "title_abstract" else rng.choice(["include", "exclude"])
            )
            reason = (
                rng.choice(FT_REASONS) if stage == "full_text" and decision == "exclude" else ""
            )
            rows.append({"record_id": d["record_id"], "decision": decision, "reason": reason,
                         "note": "", "date": "2026-12-02"})  # fmt: skip
        path = project / ROOT / "screening" / stage / f"frank-{rng.randint(1, 999)}.csv"
        write_rows(path, header, rows)
        return Edit("screening.file.add", f"{path.relative_to(project / ROOT)}: {len(rows)} rows")
    sheets = _sheets(project, "screening/title_abstract") + _sheets(project, "screening/full_text")
    if not sheets:
        return None
    path = rng.choice(sheets)
    path.unlink()
    # title/abstract rows may leave full-text rows of records no longer included
    return Edit(
        "screening.file.remove",
        f"{path.relative_to(project / ROOT)} removed",
        may_fail="title_abstract" in path.parts,
    )


def edit_adjudication(rng: random.Random, project: Path) -> Edit | None:
    """The adjudicator settles a conflict, changes a ruling, withdraws one, or the file goes."""
    path = project / ROOT / "screening" / "adjudication.csv"
    header = ["record_id", "stage", "decision", "reason", "adjudicator", "note", "date"]
    rows = read_rows(path)[1] if path.is_file() else []
    ft = _ft_records(project)
    action = rng.choice(["add", "add", "edit", "remove", "remove-file"])
    if action == "add":
        conflicts = _results(project, "screening/conflicts.csv")
        if not conflicts:
            return None
        c = rng.choice(conflicts)
        decision = rng.choice(["include", "exclude"])
        if c["stage"] == "title_abstract" and c["record_id"] in ft:
            decision = "include"
        reason = (
            rng.choice(FT_REASONS) if c["stage"] == "full_text" and decision == "exclude" else ""
        )
        rows.append({"record_id": c["record_id"], "stage": c["stage"], "decision": decision,
                     "reason": reason, "adjudicator": "erin", "note": "", "date": "2026-12-03"})  # fmt: skip
        write_rows(path, header, rows)
        return Edit("adjudication.row.add", f"{c['record_id']} {c['stage']}: {decision}")
    if action == "remove-file":
        if not path.is_file():
            return None
        path.unlink()
        return Edit("adjudication.file.remove", "screening/adjudication.csv removed", may_fail=True)
    candidates = [
        i for i, r in enumerate(rows) if r["stage"] == "full_text" or r["record_id"] not in ft
    ]
    if not candidates:
        return None
    i = rng.choice(candidates)
    r = rows[i]
    if action == "remove":
        del rows[i]
        write_rows(path, header, rows)
        return Edit("adjudication.row.remove", f"{r['record_id']} {r['stage']} ruling withdrawn")
    new = "exclude" if r["decision"] != "exclude" else "include"
    r["decision"] = new
    r["reason"] = rng.choice(FT_REASONS) if r["stage"] == "full_text" and new == "exclude" else ""
    write_rows(path, header, rows)
    return Edit("adjudication.row.edit", f"{r['record_id']} {r['stage']}: ruling -> {new}")


# --------------------------------------------------------------------------- extraction edits


def _extraction_pair(project: Path, sheet: str) -> list[Path]:
    return [project / ROOT / "extraction" / sheet / f"{e}.csv" for e in EXTRACTORS]


def _key(sheet: str, row: dict[str, str]) -> tuple[str, ...]:
    if sheet == "studies":
        return (row["study_id"],)
    return (row["study_id"], row["domain"], row["outcome"], row["timepoint_weeks"])


def _scaled(value: str, rng: random.Random) -> str:
    x = float(value)
    y = x * rng.choice([0.8, 0.9, 1.1, 1.25])
    digits = max(len(value.split(".")[1]) if "." in value else 0, 2)
    return f"{y:.{digits}f}"


STUDY_EDITS = {
    "rob_overall": ["low", "some concerns", "high"],
    "rob_d1": ["low", "some concerns", "high"],
    "rob_d4": ["low", "some concerns", "high"],
    "interactivity": ["yes", "no"],
    "feedback": ["yes", "no"],
    "platform": ["whatsapp", "wechat", "line", "mixed"],
    "followup_weeks": ["12", "24", "26", "52"],
    "citation": None,
}


def edit_extraction_row(rng: random.Random, project: Path) -> Edit | None:
    """Extractors change a cell (both, or one: a discrepancy), add or delete a row."""
    sheet = rng.choice(["studies", "outcomes", "outcomes"])
    paths = [p for p in _extraction_pair(project, sheet) if p.is_file()]
    if not paths:
        return None
    both = len(paths) == 2 and rng.random() < 0.7
    targets = paths if both else [rng.choice(paths)]
    header, rows = read_rows(targets[0])
    if not rows:
        return None
    action = rng.choice(
        ["edit", "edit", "remove", "add"] if sheet == "outcomes" else ["edit", "edit", "remove"]
    )
    row = rng.choice(rows)
    key = _key(sheet, row)
    who = "+".join(p.stem for p in targets)
    if action == "edit":
        if sheet == "studies":
            field = rng.choice(sorted(STUDY_EDITS))
            if STUDY_EDITS[field] is None:
                value = row[field] + " [corrected]"
            else:
                value = rng.choice([v for v in STUDY_EDITS[field] if v != row[field]])
        else:
            numeric = [f for f in ("m1", "m2", "sd1", "sd2", "md", "se") if row.get(f, "").strip()]
            if not numeric:
                return None
            field = rng.choice(numeric)
            value = _scaled(row[field], rng)
            if field == "md" and row.get("ci_low"):  # keep the CI around the estimate
                value = f"{(float(row['ci_low']) + float(row['ci_high'])) / 2:.3f}"
    for path in targets:
        h, rs = read_rows(path)
        if action == "edit":
            for r in rs:
                if _key(sheet, r) == key:
                    r[field] = value
        elif action == "remove":
            rs = [r for r in rs if _key(sheet, r) != key]
        else:  # the same outcome measured again later
            for r in list(rs):
                if _key(sheet, r) == key:
                    later = dict(r, timepoint_weeks=str(int(float(r["timepoint_weeks"])) + 4))
                    if any(_key(sheet, x) == _key(sheet, later) for x in rs):
                        return None
                    rs.append(later)
        write_rows(path, h, rs)
    if action == "edit":
        return Edit(f"{sheet}.cell.edit", f"{who}: {'|'.join(key)} {field} -> {value}")
    if action == "remove":
        return Edit(f"{sheet}.row.remove", f"{who}: {'|'.join(key)} removed")
    return Edit(f"{sheet}.row.add", f"{who}: {'|'.join(key)} measured 4 weeks later")


def edit_extraction_file(rng: random.Random, project: Path) -> Edit | None:
    """An extractor's sheet taken out, or a third extractor's (agreeing) sheet dropped in."""
    sheet = rng.choice(["studies", "outcomes"])
    paths = [p for p in _extraction_pair(project, sheet) if p.is_file()]
    if not paths:
        return None
    if rng.random() < 0.5:
        path = rng.choice(paths)
        path.unlink()
        # a resolution of a discrepancy between the two extractors then resolves nothing:
        # the run must stop naming resolutions.csv (file, row, column), as it does
        return Edit(
            f"{sheet}.file.remove", f"extraction/{sheet}/{path.name} removed", may_fail=True
        )
    header, rows = read_rows(paths[0])
    if sheet == "outcomes":  # a third extractor must also have the study rows of their trials
        return None
    chosen = rng.sample(rows, min(len(rows), 3))
    out = project / ROOT / "extraction" / sheet / "erin-extra.csv"
    if out.exists():
        return None
    write_rows(out, header, chosen)
    return Edit(f"{sheet}.file.add", f"extraction/{sheet}/erin-extra.csv: {len(chosen)} rows")


def edit_resolutions(rng: random.Random, project: Path) -> Edit | None:
    """A resolution added for an open discrepancy, one withdrawn, or the file removed."""
    path = project / ROOT / "extraction" / "resolutions.csv"
    header = ["sheet", "key", "field", "value", "note"]
    rows = read_rows(path)[1] if path.is_file() else []
    action = rng.choice(["add", "add", "remove", "remove-file"])
    if action == "add":
        open_ = [
            d
            for d in _results(project, "extraction/discrepancies.csv")
            if d["status"] == "unresolved"
        ]
        if not open_:
            return None
        d = rng.choice(open_)
        values = [v.split("=", 1)[1] for v in d["values"].split("; ") if "=" in v]
        if d["field"] == "(row)":
            value = "accept"
        elif values:
            value = rng.choice(values)
        else:
            return None
        rows.append({"sheet": d["sheet"], "key": d["key"], "field": d["field"], "value": value,
                     "note": "settled in the property test"})  # fmt: skip
        write_rows(path, header, rows)
        return Edit("resolutions.row.add", f"{d['key']} {d['field']} = {value}", may_fail=True)
    if action == "remove-file":
        if not path.is_file():
            return None
        path.unlink()
        return Edit("resolutions.file.remove", "extraction/resolutions.csv removed")
    if not rows:
        return None
    i = rng.randrange(len(rows))
    r = rows.pop(i)
    write_rows(path, header, rows)
    return Edit("resolutions.row.remove", f"{r['key']} {r['field']} resolution withdrawn")


# --------------------------------------------------------------------------- search edits

_TITLES = (
    "WeChat-based peer support for glycaemic control in type 2 diabetes: a randomised trial",
    "WhatsApp reminders and HbA1c in adults with diabetes: a randomized controlled trial",
    "A LINE messenger programme for diabetes self-management: a randomised controlled trial",
    "Telegram group education for people with prediabetes: a pilot randomized trial",
)


def _article(pmid: str, title: str, year: int) -> bytes:
    return (
        f'<PubmedArticle><MedlineCitation Status="In-Data-Review" Owner="NLM">'
        f'<PMID Version="1">{pmid}</PMID><Article PubModel="Print">'
        f"<Journal><JournalIssue><PubDate><Year>{year}</Year></PubDate></JournalIssue>"
        f"<Title>Diabetes Technology Letters</Title></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle>"
        f"<Abstract><AbstractText>{title}. Simulated record.</AbstractText></Abstract>"
        f"<Language>eng</Language><PublicationTypeList>"
        f"<PublicationType>Randomized Controlled Trial</PublicationType>"
        f"</PublicationTypeList></Article></MedlineCitation><PubmedData><ArticleIdList>"
        f'<ArticleId IdType="pubmed">{pmid}</ArticleId>'
        f'<ArticleId IdType="doi">10.5555/lrprop.{pmid}</ArticleId>'
        f"</ArticleIdList></PubmedData></PubmedArticle>"
    ).encode()


def edit_snapshot(rng: random.Random, project: Path) -> Edit | None:
    """A new PubMed search snapshot (the package's writer) with a few new records."""
    from livingreview.search.snapshots import write_snapshot

    folder = project / ROOT / "search" / "pubmed"
    dates = sorted(dt.date.fromisoformat(p.stem) for p in folder.glob("*.json"))
    until = dates[-1] + dt.timedelta(days=rng.randint(7, 30))
    n = rng.randint(1, 4)
    base = 98000000 + int(until.strftime("%y%m%d")) * 10
    articles = [
        (str(base + i), _article(str(base + i), rng.choice(_TITLES) + f" ({base + i})", until.year))
        for i in range(n)
    ]
    config = _config(project)
    write_snapshot(
        folder,
        until,
        iter(articles),
        query=" ".join(config["search"]["query"].split()),
        mindate=dates[-1],
        mdat=True,
        started=f"{until.isoformat()}T06:00:00+00:00",
    )
    return Edit("search.snapshot.add", f"snapshot {until} with {n} new records")


def edit_export(rng: random.Random, project: Path) -> Edit | None:
    """A database export dropped in: new records and one duplicate of a known record."""
    import rispy

    folder = project / ROOT / "search" / "exports" / "embase"
    n = len(list(folder.glob("*.ris")))
    records = _results(project, "records/records.csv")
    entries = []
    for i in range(rng.randint(1, 3)):
        title = rng.choice(_TITLES) + f" (embase {n}-{i})"
        entries.append({"type_of_reference": "JOUR", "title": title, "year": "2026",
                        "authors": ["Doe, Jane"], "journal_name": "Embase Journal",
                        "doi": f"10.5555/lrprop.embase.{n}.{i}"})  # fmt: skip
    with_doi = [r for r in records if r.get("doi")]
    if with_doi:
        dup = rng.choice(with_doi)
        entries.append({"type_of_reference": "JOUR", "title": dup["title"], "year": dup["year"],
                        "doi": dup["doi"]})  # fmt: skip
    path = folder / f"embase-2026-12-{10 + n:02d}.ris"
    path.write_text(rispy.dumps(entries), encoding="utf-8")
    return Edit("search.export.add", f"{path.relative_to(project / ROOT)}: {len(entries)} records")


# --------------------------------------------------------------------------- choosing

EDITS: dict[str, Callable[[random.Random, Path], Edit | None]] = {
    "config": edit_config_choice,
    "domain": edit_domain,
    "domain-set": edit_domain_set,
    "platforms": edit_platforms,
    "reasons": edit_reasons,
    "title": edit_title,
    "screening-row": edit_screening_row,
    "screening-file": edit_screening_file,
    "adjudication": edit_adjudication,
    "extraction-row": edit_extraction_row,
    "extraction-file": edit_extraction_file,
    "resolutions": edit_resolutions,
    "snapshot": edit_snapshot,
    "export": edit_export,
}
WEIGHTS = {"config": 4, "domain": 2, "screening-row": 2, "extraction-row": 3, "adjudication": 2}


def random_edit(rng: random.Random, project: Path) -> Edit:
    """One edit of a kind drawn at random (weighted); kinds with nothing to edit are redrawn."""
    kinds = sorted(EDITS)
    weights = [WEIGHTS.get(k, 1) for k in kinds]
    for _ in range(50):
        kind = rng.choices(kinds, weights)[0]
        edit = EDITS[kind](rng, project)
        if edit is not None:
            return edit
    raise RuntimeError("no applicable edit found in 50 draws")
