"""Database exports as they really come (issue 20, "In"): formats by content, every record read.

The files in ``tests/data/exports/`` imitate real exports (tests/data/exports/SOURCES.md);
``../shared/fixtures/exports/`` is a real search exported from five databases.
"""

from __future__ import annotations

import csv
import re
import shutil
import unicodedata
from pathlib import Path

import pytest

from livingreview.errors import InputError
from livingreview.publish.interop import prisma2020_csv
from livingreview.search.export_records import RecordError
from livingreview.search.exports import load_export
from livingreview.search.records import build_records

DATA = Path(__file__).parent / "data" / "exports"
SHARED = "fixtures/exports/gambling-harms"
KW = {"origin": "x", "seen": "2024-01-01", "order": 0}

A = ("10.1371/journal.pntd.0006219", "29377890")  # Asampong 2018, leprosy caregivers
B = ("10.1371/journal.pntd.0006178", "29370169")  # Delea 2018, trachoma F&E review
C = ("10.1371/journal.pntd.0006167", "29370170")  # Fritzell 2018, Zika apprehension

# file -> (format, [(doi, pmid or "")] in file order)
EXPECTED = {
    "ovid-medline.ris": ("ris", [A, B]),
    "ovid-embase.ris": ("ris", [(B[0], ""), (C[0], "")]),
    "ovid-psycinfo.ris": ("ris", [(A[0], "")]),
    "ebsco-cinahl.ris": ("ris", [(A[0], ""), (B[0], ""), (C[0], "")]),
    "proquest.ris": ("ris", [(A[0], ""), (C[0], "")]),
    "wos.ris": ("ris", [(C[0], ""), (A[0], "")]),
    "savedrecs.txt": ("wos", [A, B, C]),
    "savedrecs-tab.txt": ("wos-tab", [A, B, C]),
    "scopus.csv": ("csv", [A, B, C]),
    "cochrane-central.txt": ("cochrane", [B, C]),
    "cochrane-central.ris": ("ris", [(B[0], "")]),
    "endnote.xml": ("endnote-xml", [A, B, C]),
    "pubmed.nbib": ("medline", [A, C]),
}
TITLES = {
    A[0]: "caregivers views on stigmatization and discrimination of people affected by leprosy "
    "in ghana",
    B[0]: "interventions to maximize facial cleanliness and achieve environmental improvement for "
    "trachoma elimination a review of the grey literature",
    C[0]: "emerging trends of zika apprehension in an epidemic setting",
}
FIRST_AUTHOR = {A[0]: "Asampong", B[0]: "Delea", C[0]: "Fritzell"}


def norm(title: str) -> str:
    """Normalised title, written here independently of livingreview.search.records."""
    text = unicodedata.normalize("NFKD", title.replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().replace("'", "")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_format_reads_every_record(name: str) -> None:
    fmt, ids = EXPECTED[name]
    export = load_export(DATA / name, "db", **KW)
    assert export.format == fmt
    assert [(r.doi, r.pmid) for r in export.records] == ids
    for r in export.records:
        assert norm(r.title) == TITLES[r.doi]
        assert r.year == "2018"
        assert "neglected tropical" in r.journal.lower() or r.journal == "PLoS Negl Trop Dis"
        assert r.authors[0].startswith(FIRST_AUTHOR[r.doi]) and len(r.authors) >= 3
        assert r.abstract and r.source == "db"


def test_tag_variants_and_encodings() -> None:
    ovid = load_export(DATA / "ovid-embase.ris", "embase", **KW).records
    assert ovid[0].abstract.startswith("Background Efforts")  # N2, Ovid's abstract tag
    assert ovid[0].authors == ("Delea M.G.", "Solomon H.", "Solomon A.W.", "Freeman M.C.")  # A1
    cinahl = load_export(DATA / "ebsco-cinahl.ris", "cinahl", **KW)
    assert (DATA / "ebsco-cinahl.ris").read_bytes().count(b"\r\n") > 10
    assert [r.doi for r in cinahl.records] == [A[0], B[0], C[0]]  # EBSCOhost's DOI tag is L3
    proquest = load_export(DATA / "proquest.ris", "proquest", **KW)
    assert proquest.encoding == "cp1252"
    assert proquest.records[0].title.startswith("Caregivers’ views")  # 0x92, not U+FFFD
    wos = load_export(DATA / "savedrecs.txt", "wos", **KW).records
    assert wos[1].title == (
        "Interventions to maximize facial cleanliness and achieve environmental improvement "
        "for trachoma elimination: A review of the grey literature"
    )  # a wrapped TI is one title
    assert wos[1].publication_types == ("Review",)
    central = load_export(DATA / "cochrane-central.txt", "central", **KW).records
    assert central[0].publication_types == ("Journal Article", "Review")
    assert central[0].authors == ("Delea MG", "Solomon H", "Solomon AW", "Freeman MC")
    nbib = load_export(DATA / "pubmed.nbib", "pubmed", **KW).records
    assert nbib[0].mesh_terms[:2] == ("Adult", "Caregivers")
    assert load_export(DATA / "endnote.xml", "endnote", **KW).records[0].language == "eng"
    scopus = load_export(DATA / "scopus.csv", "scopus", **KW).records
    assert scopus[2].abstract.count("Methodology/Principal findings") == 1  # quoted line break


def test_content_decides_not_the_name(tmp_path: Path) -> None:
    for name, renamed in [
        ("ovid-medline.ris", "export.txt"),
        ("scopus.csv", "scopus.txt"),
        ("savedrecs.txt", "savedrecs.ris"),
        ("pubmed.nbib", "pubmed.ris"),
        ("endnote.xml", "library.txt"),
        ("cochrane-central.txt", "central.csv"),
    ]:
        shutil.copy(DATA / name, tmp_path / renamed)
        export = load_export(tmp_path / renamed, "db", **KW)
        assert export.format == EXPECTED[name][0], renamed
        assert [r.doi for r in export.records] == [d for d, _ in EXPECTED[name][1]]


def test_utf16_cr_only_and_bom_variants(tmp_path: Path) -> None:
    text = (DATA / "savedrecs-tab.txt").read_bytes().decode("utf-8-sig")
    (tmp_path / "win.txt").write_bytes(text.encode("utf-16"))  # WoS "Tab delimited (Win)"
    export = load_export(tmp_path / "win.txt", "wos", **KW)
    assert (export.format, export.encoding) == ("wos-tab", "utf-16")
    assert [r.pmid for r in export.records] == [A[1], B[1], C[1]]
    ris = (DATA / "ovid-medline.ris").read_text(encoding="utf-8")
    (tmp_path / "mac.ris").write_bytes(b"\xef\xbb\xbf" + ris.replace("\n", "\r").encode())
    assert [r.pmid for r in load_export(tmp_path / "mac.ris", "m", **KW).records] == [A[1], B[1]]


def bad(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_a_record_without_title_names_file_record_line_and_field(tmp_path: Path) -> None:
    ris = (DATA / "ovid-medline.ris").read_text(encoding="utf-8")
    second = ris.index("TY  - JOUR", 10)
    line = ris[:second].count("\n") + 1
    path = bad(tmp_path, "x.ris", ris[:second] + re.sub(r"T1  - [^\n]*\n", "", ris[second:]))
    with pytest.raises(RecordError) as info:
        load_export(path, "medline", **KW)
    assert str(info.value) == (
        f"{path}, record 2 (line {line}), field 'TI': expected a title (TI or T1)"
    )
    assert isinstance(info.value, InputError) and info.value.record == 2

    with open(DATA / "scopus.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[2][rows[0].index("Title")] = ""
    path = tmp_path / "scopus.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with pytest.raises(InputError, match=r"scopus.csv, row 3, column 'Title': expected a title"):
        load_export(path, "scopus", **KW)

    xml = (DATA / "endnote.xml").read_text(encoding="utf-8")
    path = bad(
        tmp_path,
        "e.xml",
        xml.replace("Emerging trends of Zika apprehension in an epidemic setting", ""),
    )
    with pytest.raises(
        RecordError, match=r"e.xml, record 3 \(line 1\), field 'titles/title': expected a title"
    ):
        load_export(path, "endnote", **KW)

    wos = (DATA / "savedrecs.txt").read_text(encoding="utf-8")
    path = bad(
        tmp_path,
        "w.txt",
        wos.replace("TI Emerging trends of Zika apprehension in an epidemic setting\n", ""),
    )
    with pytest.raises(RecordError, match=r"w.txt, record 3 \(line \d+\), field 'TI'"):
        load_export(path, "wos", **KW)


def test_malformed_records_are_never_dropped(tmp_path: Path) -> None:
    ris = (DATA / "ovid-medline.ris").read_text(encoding="utf-8")
    stray = ris[: ris.index("ER  - ")].count("\n") + 3  # after the first ER line and a blank
    cases = {
        # the first record's ER  - line lost: two records would become one
        ris.replace("ER  - \n", "", 1): r"record 1 \(line 1\): expected its end line before",
        # the file cut short inside the second record
        ris[: ris.rindex("ER  -")]: r"record 2 \(line \d+\): expected an end line",
        # a stray line between records (a record without TY  - ) would be skipped by rispy
        ris.replace("ER  - \n\n", "ER  - \n\nDB  - Embase\n", 1): (
            rf"record 2 \(line {stray}\): expected a record starting with 'TY  - ', got 'DB  - Embase'"
        ),
    }
    for n, (text, message) in enumerate(cases.items()):
        with pytest.raises(RecordError, match=message):
            load_export(bad(tmp_path, f"{n}.ris", text), "medline", **KW)

    central = (DATA / "cochrane-central.txt").read_text(encoding="utf-8")
    cut = central[: central.index("Record #2 of 2")]
    with pytest.raises(InputError, match=r"expected 2 records, as its 'Record #1 of 2' says"):
        load_export(bad(tmp_path, "c.txt", cut), "central", **KW)
    with pytest.raises(RecordError, match=r"record 2 \(line \d+\): expected 'Record #2 of 2'"):
        load_export(bad(tmp_path, "c2.txt", central.replace("#2 of 2", "#3 of 2")), "c", **KW)

    nbib = (DATA / "pubmed.nbib").read_text(encoding="utf-8")
    broken = nbib.replace("LA  - eng\nPT  - Journal Article\nTA", "LA  - eng\nJournal Article\nTA")
    with pytest.raises(RecordError, match=r"record 2 \(line \d+\): expected MEDLINE lines"):
        load_export(bad(tmp_path, "p.nbib", broken), "pubmed", **KW)

    tab = (DATA / "savedrecs-tab.txt").read_text(encoding="utf-8-sig")
    broken = tab.replace("\t29370169\t", "\tPMC5791234\t")
    with pytest.raises(RecordError, match=r"record 2 \(line 3\), field 'PM': expected a PubMed"):
        load_export(bad(tmp_path, "t.txt", broken), "wos", **KW)

    xml = (DATA / "endnote.xml").read_text(encoding="utf-8")
    with pytest.raises(InputError, match=r"e.xml: expected well-formed EndNote XML"):
        load_export(bad(tmp_path, "e.xml", xml.replace("</records>", "")), "endnote", **KW)


def test_content_that_matches_no_format_stops_naming_the_file(tmp_path: Path) -> None:
    path = bad(tmp_path, "refs.txt", "@article{smith2020,\n  title={A trial},\n}\n")
    with pytest.raises(InputError) as info:
        load_export(path, "db", **KW)
    assert str(info.value).startswith(f"{path}: expected a database export: RIS ('TY  - ' first)")
    assert str(info.value).endswith("got '@article{smith2020,'")
    path = bad(tmp_path, "pubmed.xml", "<?xml version='1.0'?>\n<PubmedArticleSet/>\n")
    with pytest.raises(InputError, match="pubmed.xml: expected a database export"):
        load_export(path, "db", **KW)


def export_tree(root: Path, files: dict[str, list[Path]]) -> Path:
    for db, paths in files.items():
        (root / "search/exports" / db).mkdir(parents=True)
        for p in paths:
            shutil.copy(p, root / "search/exports" / db / p.name)
    return root


def test_every_record_keeps_every_database_that_found_it(tmp_path: Path) -> None:
    dbs = {
        "medline": ["ovid-medline.ris"],
        "embase": ["ovid-embase.ris"],
        "psycinfo": ["ovid-psycinfo.ris"],
        "cinahl": ["ebsco-cinahl.ris"],
        "proquest": ["proquest.ris"],
        "wos": ["savedrecs.txt", "savedrecs-tab.txt", "wos.ris"],
        "scopus": ["scopus.csv"],
        "central": ["cochrane-central.txt", "cochrane-central.ris"],
        "endnote": ["endnote.xml"],
        "pubmed": ["pubmed.nbib"],
    }
    root = export_tree(tmp_path, {db: [DATA / f for f in fs] for db, fs in dbs.items()})
    table, summary = build_records(root)
    assert sorted(table["doi"]) == sorted([A[0], B[0], C[0]])
    found = {db: set() for db in dbs}
    for db, files in dbs.items():
        for f in files:
            found[db] |= {d for d, _ in EXPECTED[f][1]}
    for row in table.itertuples():
        assert row.sources.split("; ") == sorted(db for db in dbs if row.doi in found[db])
    counts = {db: sum(len(EXPECTED[f][1]) for f in fs) for db, fs in dbs.items()}
    assert summary["identified"] == dict(sorted(counts.items()))
    assert summary["duplicates_removed"] == sum(counts.values()) - 3
    assert {e["file"].rsplit("/", 1)[1]: e["format"] for e in summary["exports"]} == {
        f: EXPECTED[f][0] for fs in dbs.values() for f in fs
    }
    assert summary["by_source"]["endnote"] == {
        "identified": 3,
        "records": 3,
        "only_this_source": 0,
    }


# --------------------------------------------------------------------------- the shared exports


def ris_blocks(path: Path) -> list[dict[str, list[str]]]:
    """Tags of each record, read here without rispy: the independent count."""
    text = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    out, current = [], None
    for line in text.split("\n"):
        m = re.match(r"^([A-Z][A-Z0-9])  -(?: (.*))?$", line.lstrip("\ufeff"))
        if not m:
            continue
        tag, value = m.group(1), (m.group(2) or "").strip()
        if tag == "TY":
            current = {}
        elif tag == "ER":
            out.append(current)
            current = None
        else:
            current.setdefault(tag, []).append(value)
    return out


def test_the_shared_five_database_search_imports_completely(shared: Path, tmp_path: Path) -> None:
    files = sorted((shared / SHARED).glob("*.ris"))
    assert len(files) == 5
    by_db = {f.name.split("_")[2]: f for f in files}
    root = export_tree(tmp_path, {db: [f] for db, f in by_db.items()})
    table, summary = build_records(root)

    raw = []  # (db, doi, title, year) per record, from the files themselves
    for db, f in by_db.items():
        er_lines = sum(
            1 for s in f.read_bytes().decode("utf-8-sig").splitlines() if s.startswith("ER  -")
        )
        assert int(f.stem.rsplit("_", 1)[1]) == er_lines  # the file name says it too
        records = load_export(f, db, **KW).records
        assert len(records) == er_lines == summary["identified"][db]
        blocks = ris_blocks(f)
        assert len(blocks) == er_lines
        assert all(r.title for r in records)
        assert all(re.fullmatch(r"(19|20)\d\d", r.year) for r in records)
        for r, tags in zip(records, blocks, strict=True):
            doi = (tags.get("DO") or tags.get("L3") or [""])[0].lower()
            doi = re.sub(r"^https?://(dx\.)?doi\.org/", "", doi).rstrip(".")
            assert r.doi == doi  # DOIs where the file has them, none invented
            title = (tags.get("TI") or tags.get("T1"))[0]
            assert norm(r.title) == norm(title)
            raw.append((db, doi, norm(title), r.year))
    assert len(raw) == 645 == summary["identified_total"]
    assert sum(1 for _, doi, _, _ in raw if doi) == 41 + 42 + 118 + 176 + 253

    # Duplicates, independently: the same DOI, else the same title and year; two
    # records with different DOIs are never one.
    parent = list(range(len(raw)))
    dois = [{d} - {""} for _, d, _, _ in raw]

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for key in (lambda r: r[1], lambda r: (r[2], r[3])):
        first: dict = {}
        for i, r in enumerate(raw):
            k = key(r)
            if k and k in first:
                a, b = find(first[k]), find(i)
                if a != b and len(dois[a] | dois[b]) <= 1:
                    parent[b] = a
                    dois[a] |= dois[b]
            elif k:
                first[k] = i
    groups: dict[int, set[str]] = {}
    for i, (db, *_) in enumerate(raw):
        groups.setdefault(find(i), set()).add(db)
    assert summary["unique"] == len(table) == len(groups)
    assert summary["duplicates_removed"] == 645 - len(groups)
    cross = sum(1 for dbs in groups.values() if len(dbs) > 1)
    assert (table["sources"].str.contains(";")).sum() == cross
    assert sorted(len(s.split("; ")) for s in table["sources"]) == sorted(
        len(dbs) for dbs in groups.values()
    )
    only = {db: sum(1 for dbs in groups.values() if dbs == {db}) for db in by_db}
    assert {db: v["only_this_source"] for db, v in summary["by_source"].items()} == only

    # PRISMA 2020: records identified from each database, before de-duplication.
    prisma = prisma2020_csv({**summary, "included_studies": 0}).set_index("data")["n"]
    assert prisma["database_results"] == 645
    assert prisma["database_specific_results"] == (
        "crimjust, 41; lens, 49; psycinfo, 124; pubmed, 176; scopus, 255"
    )
    assert prisma["duplicates"] == 645 - len(groups)


def test_endnote_xml_entities_are_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET", encoding="utf-8")
    xml = (DATA / "endnote.xml").read_text(encoding="utf-8")
    doctype = (
        f'<?xml version="1.0" encoding="UTF-8" ?><!DOCTYPE xml [<!ENTITY x SYSTEM "file://{secret}">'
        '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    )
    xml = xml.replace('<?xml version="1.0" encoding="UTF-8" ?>', doctype, 1)
    xml = xml.replace("in an epidemic setting</style>", "in an epidemic setting &x;&b;</style>", 1)
    path = bad(tmp_path, "e.xml", xml)
    titles = [r.title for r in load_export(path, "endnote", **KW).records]
    assert not any("SECRET" in t or "aaaa" in t for t in titles)
