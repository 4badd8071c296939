"""The shipped demo review: reproducible from its seed, and it keeps its promises.

The demo (resources/demo) is what `make run` analyses and what the workflow
tests rerun, so its properties are checked here on the committed files: the
search snapshots parse, every sheet loads against its schema, the screening has
realistic agreement and conflicts, and the extracted effects fill several
strata with k >= 10 while others stay below the pooling threshold.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import rispy
import yaml
from lxml import etree
from statsmodels.stats.inter_rater import cohens_kappa

from livingreview import demo
from livingreview.extraction import stage as extraction
from livingreview.screening import stage as screening
from livingreview.search import records
from livingreview.search.pubmed_xml import parse_efetch
from livingreview.search.records import normalise_title
from livingreview.sheets import load_sheet

SIDECAR_FIELDS = {
    "query", "mindate", "maxdate", "datetype", "mdat", "count_reported", "count_fetched",
    "pmids_sha256", "started", "completed", "software", "file", "file_sha256",
}  # fmt: skip


@pytest.fixture(scope="module")
def root(repo: Path) -> Path:
    return repo / "resources" / "demo"


@pytest.fixture(scope="module")
def config(repo: Path) -> dict:
    return yaml.safe_load((repo / "config" / "config.yaml").read_text())


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_regenerating_with_the_seed_gives_byte_identical_files(root: Path, tmp_path: Path) -> None:
    demo.main(["--out", str(tmp_path / "a"), "--seed", str(demo.SEED)])
    committed, fresh = _files(root), _files(tmp_path / "a")
    assert sorted(fresh) == sorted(committed)
    changed = [name for name in committed if committed[name] != fresh[name]]
    assert changed == []
    assert sum(len(b) for b in committed.values()) < 1_000_000
    # another seed gives other data (the seed is really used)
    demo.generate(tmp_path / "b", seed=7)
    other = _files(tmp_path / "b")
    assert other["extraction/outcomes/carol.csv"] != committed["extraction/outcomes/carol.csv"]


def test_readme_says_simulated_and_how_to_regenerate(root: Path) -> None:
    text = (root / "README.md").read_text()
    assert "SIMULATED" in text
    assert "python -m livingreview.demo --out resources/demo --seed 2026" in text


def test_snapshots_are_pubmed_xml_with_contract_sidecars(root: Path, config: dict) -> None:
    folder = root / "search" / "pubmed"
    pmids = {}
    for until in (demo.FIRST_UNTIL, demo.UPDATE_UNTIL):
        gz = folder / f"{until}.xml.gz"
        raw = gzip.decompress(gz.read_bytes())
        assert raw.splitlines()[1].startswith(
            b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle'
        )
        tree = etree.fromstring(
            raw, etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
        )
        assert tree.tag == "PubmedArticleSet"
        arts = tree.findall("PubmedArticle")
        labelled = [a for a in arts if a.find(".//AbstractText[@Label]") is not None]
        assert 0 < len(labelled) < len(arts)  # structured and unstructured abstracts
        assert all(a.findtext("PubmedData/ArticleIdList/ArticleId[@IdType='doi']") for a in arts)
        records = list(parse_efetch(gz))
        assert len(records) == len(arts)
        assert all(int(r.pmid) >= demo.PMID_BASE and r.doi.startswith("10.5555/") for r in records)
        assert all(r.title and r.year and r.journal and r.authors for r in records)
        pmids[until] = {r.pmid for r in records}

        meta = json.loads((folder / f"{until}.json").read_text())
        assert set(meta) == SIDECAR_FIELDS
        assert meta["maxdate"] == until and meta["file"] == gz.name
        assert meta["file_sha256"] == hashlib.sha256(gz.read_bytes()).hexdigest()
        joined = "\n".join(sorted(pmids[until], key=int)).encode()
        assert meta["pmids_sha256"] == hashlib.sha256(joined).hexdigest()
        assert meta["count_fetched"] == len(records)
        assert meta["query"] == config["search"]["query"]
        assert "api_key" not in json.dumps(meta).lower()
    first, update = pmids[demo.FIRST_UNTIL], pmids[demo.UPDATE_UNTIL]
    assert 250 <= len(first) <= 270 and 35 <= len(update) <= 50
    assert len(first & update) == 2  # revised records the update search returns again


def test_exports_give_deduplication_work_and_every_record_is_screened(root: Path) -> None:
    table, summary = records.build_records(root)
    assert summary["identified"] == {"pubmed": 300, "embase": 42, "cinahl": 19}
    assert summary["unique"] == 309 and summary["duplicates_removed"] == 52
    sources = Counter(table.sources)
    assert sources["embase"] == 6 and sources["cinahl"] == 3  # only in one export
    assert sources["cinahl; embase; pubmed"] >= 1
    # duplicates matched only by a near-identical title (no DOI in the export)
    entries = rispy.loads(
        (root / "search/exports/embase" / f"embase-{demo.FIRST_UNTIL}.ris").read_text()
    )
    pubmed_titles = {records.normalise_title(t) for t in table.title[table.pmid != ""]}
    no_doi = [records.normalise_title(e["title"]) for e in entries if not e.get("doi")]
    altered = [t for t in no_doi if t not in pubmed_titles]
    assert len(no_doi) >= 12 and len(altered) >= 5
    assert len(table[table.sources == "embase; pubmed"]) >= 30
    screened = {
        r["record_id"] for f in (root / "screening/title_abstract").glob("*.csv") for r in _rows(f)
    }
    assert set(table.record_id) == screened


def test_distinct_records_never_look_like_duplicates(root: Path) -> None:
    from rapidfuzz import fuzz

    records = [
        r for f in sorted((root / "search/pubmed").glob("*.xml.gz")) for r in parse_efetch(f)
    ]
    unique = {r.pmid: r for r in records}.values()
    by_year: dict[int, list[str]] = {}
    for r in unique:
        by_year.setdefault(r.year, []).append(normalise_title(r.title))
    for titles in by_year.values():
        for i, a in enumerate(titles):
            assert all(fuzz.token_sort_ratio(a, b) < 95 for b in titles[i + 1 :])


def test_every_sheet_loads_against_its_schema(root: Path, repo: Path) -> None:
    schemas = repo / "workflow" / "schemas"
    loaded = {}
    for path in sorted((root / "screening").rglob("*.csv")):
        name = "adjudication" if path.name == "adjudication.csv" else "screening"
        loaded[str(path.relative_to(root))] = load_sheet(path, schemas / f"{name}.schema.yaml")
    for kind in ("studies", "outcomes"):
        for path in sorted((root / "extraction" / kind).glob("*.csv")):
            loaded[str(path.relative_to(root))] = load_sheet(path, schemas / f"{kind}.schema.yaml")
    loaded["resolutions"] = load_sheet(
        root / "extraction/resolutions.csv", schemas / "resolutions.schema.yaml"
    )
    assert len(loaded) == 14
    assert all(len(frame) > 0 for frame in loaded.values())


def _final(root: Path, stage: str, files: list[str]) -> tuple[dict, dict]:
    """Per record: the reviewers' decisions and the adjudicated decision (if any)."""
    decisions: dict[str, dict[str, str]] = {}
    for name in files:
        for row in _rows(root / "screening" / stage / f"{name}.csv"):
            decisions.setdefault(row["record_id"], {})[name.split("-")[0]] = row["decision"]
    adjudicated = {
        r["record_id"]: r for r in _rows(root / "screening/adjudication.csv") if r["stage"] == stage
    }
    return decisions, adjudicated


def test_screening_has_realistic_agreement_conflicts_and_reasons(root: Path, config: dict) -> None:
    ta, ta_adj = _final(root, "title_abstract", ["alice", "bob", "alice-update", "bob-update"])
    ft, ft_adj = _final(root, "full_text", ["alice", "bob", "alice-update", "bob-update"])
    both = [d for d in ta.values() if len(d) == 2]
    sends = [[int(d[r] != "exclude") for r in ("alice", "bob")] for d in both]
    table = pd.crosstab(
        pd.Series([s[0] for s in sends]), pd.Series([s[1] for s in sends])
    ).to_numpy()
    assert 0.7 <= cohens_kappa(table).kappa <= 0.85
    assert sum(1 for d in ta.values() if len(d) == 1) == 3  # awaiting a second reviewer

    def passed(rid: str) -> bool:
        d = ta[rid]
        if rid in ta_adj:
            return ta_adj[rid]["decision"] != "exclude"
        return len(d) == 2 and all(v != "exclude" for v in d.values())

    assert all(passed(rid) for rid in ft)  # only records sent on are assessed at full text
    ta_conflicts = [
        r
        for r, d in ta.items()
        if len({v == "exclude" for v in d.values()}) > 1 and r not in ta_adj
    ]
    ft_conflicts = [r for r, d in ft.items() if len(set(d.values())) > 1 and r not in ft_adj]
    assert len(ta_conflicts) == 2 and len(ft_conflicts) == 1

    reasons = Counter()
    for name in ("alice", "bob", "alice-update", "bob-update"):
        for row in _rows(root / "screening/full_text" / f"{name}.csv"):
            if row["decision"] == "exclude":
                assert row["reason"] in config["screening"]["exclusion_reasons"]
            if (
                name.startswith("alice")
                and row["decision"] == "exclude"
                and row["record_id"] not in ft_adj
            ):
                reasons[row["reason"]] += 1
    assert reasons.most_common(1)[0][0] == "not an RCT"
    assert reasons["poor methodological quality"] == 1 and reasons["non-extractable data"] >= 2

    included = {
        rid
        for rid, d in ft.items()
        if (
            ft_adj[rid]["decision"] == "include"
            if rid in ft_adj
            else set(d.values()) == {"include"}
        )
    }
    studies = _rows(root / "extraction/studies/carol.csv")
    assert {s["record_id"] for s in studies} == included


def test_extraction_sheets_cover_the_protocol(root: Path, config: dict) -> None:
    studies = pd.read_csv(root / "extraction/studies/carol.csv", dtype=str, keep_default_na=False)
    outcomes = pd.read_csv(root / "extraction/outcomes/carol.csv", dtype=str, keep_default_na=False)
    assert 23 <= len(studies) <= 27
    assert set(studies.platform) == {*config["extraction"]["stratifier"]["values"], "mixed"}
    fu, n = studies.followup_weeks.astype(float), studies.n_total.astype(int)
    assert fu.min() == 4 and fu.max() == 52 and n.min() >= 40 and n.max() <= 400
    cluster = studies[studies.design == "cluster"]
    assert len(cluster) >= 2 and (cluster.icc != "").all() and (cluster.cluster_size != "").all()
    assert set(outcomes.form) == {
        "means",
        "change_sd",
        "change_se",
        "md_ci",
        "md_se",
        "md_p",
        "events",
    }
    assert set(outcomes.domain) == set(config["extraction"]["domains"])
    for domain, spec in config["extraction"]["domains"].items():
        names = {o for tier in spec["priority"] for o in tier}
        assert set(outcomes.outcome[outcomes.domain == domain]) <= names
    points = outcomes.groupby(["study_id", "domain", "outcome"]).timepoint_weeks.nunique()
    assert (points > 1).sum() >= 10  # the latest-time-point rule has choices
    per_domain = outcomes.groupby(["study_id", "domain"]).outcome.nunique()
    assert (per_domain > 1).sum() >= 15  # so have the priority tiers


def test_pipeline_on_the_demo_fills_strata_as_promised(
    root: Path, config: dict, repo: Path, tmp_path: Path
) -> None:
    """Run the real screening and extraction stages on the demo and count effects per stratum."""
    table, summary = records.build_records(root)
    records.write_records(table, summary, tmp_path / "records.csv", tmp_path / "summary.json")
    schemas = repo / "workflow" / "schemas"
    res = screening.run(
        screening.ScreeningSettings.from_params({"root": root, "screening": config["screening"]}),
        {
            "records": tmp_path / "records.csv",
            # the search history: which round found each record
            "summary": tmp_path / "summary.json",
            "schemas": [schemas / "screening.schema.yaml"],
        },
    )
    screening.write_outputs(res, tmp_path / "s")
    assert res.prisma["included_records"] == 25
    assert res.prisma["previous_included"] == 22 and res.prisma["new_included"] == 3
    assert res.prisma["conflicts"] == {"title_abstract": 2, "full_text": 1}
    assert res.prisma["awaiting"]["title_abstract"] == 3
    assert res.prisma["fulltext_excluded"]["poor methodological quality"] == 1
    ex = extraction.run(
        extraction.ExtractionSettings.from_params(
            {"root": root, "extraction": config["extraction"]}
        ),
        {
            "studies": sorted((root / "extraction/studies").glob("*.csv")),
            "outcomes": sorted((root / "extraction/outcomes").glob("*.csv")),
            "decisions": tmp_path / "s" / "decisions.csv",
            "schemas": [schemas / "studies.schema.yaml"],
            "resolutions": root / "extraction/resolutions.csv",
        },
    )
    effects, dropped = ex.effects, ex.not_selected
    assert list(dropped.status[dropped.status != "not-selected"]) == ["unresolved"]
    assert (ex.discrepancies.status == "resolved").sum() >= 8
    k_domain = effects.groupby("domain").size()
    assert (
        k_domain["glycemic"] >= 10 and k_domain["behaviour"] >= 10 and k_domain["knowledge"] >= 10
    )
    assert k_domain["complications"] >= 3
    smd = effects[(effects.measure == "SMD") & (effects.platform != "mixed")]
    k_platform = smd.groupby("platform").size()
    assert k_platform["wechat"] >= 10 and k_platform["whatsapp"] >= 10
    k_cell = effects[effects.platform != "mixed"].groupby(["domain", "platform"]).size()
    assert (k_cell >= 3).sum() >= 8 and (k_cell < 3).sum() >= 8  # pooled and NE strata
    glyc = effects[effects.domain == "glycemic"].yi
    assert -0.8 < glyc.mean() < -0.3  # simulated around the published -0.52


def test_large_mode_scales_the_same_structure(tmp_path: Path, repo: Path) -> None:
    summary = demo.generate(tmp_path / "big", seed=11, trials=80)
    assert summary["trials"] == 80
    records = (
        summary["records_snapshot1"]
        + summary["records_snapshot2"]
        - summary["records_revised_in_update"]
    )
    assert 2.5 * 80 <= records <= 3.5 * 80
    schemas = repo / "workflow" / "schemas"
    studies = load_sheet(
        tmp_path / "big/extraction/studies/dave.csv", schemas / "studies.schema.yaml"
    )
    assert len(studies) == 80 and studies.study_id.is_unique
    assert set(studies.platform) <= {*demo.PLATFORMS, "mixed"}
    load_sheet(tmp_path / "big/extraction/outcomes/carol.csv", schemas / "outcomes.schema.yaml")
    load_sheet(tmp_path / "big/screening/title_abstract/bob.csv", schemas / "screening.schema.yaml")
    demo.generate(tmp_path / "again", seed=11, trials=80)
    assert _files(tmp_path / "again") == _files(tmp_path / "big")
