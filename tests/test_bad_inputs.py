"""The bad-input corpus (tests/bad_inputs/): every broken file stops its stage cleanly.

Each case folder holds ``files/`` (laid over a copy of the project: the
workflow, config and the demo review under resources/demo, plus results
already built from the demo up to screening and one published bundle) and
``expected.yaml``: the stage, the file the message must name, its spreadsheet
row and column, and a fragment of what was expected (see
tests/bad_inputs/README.md). Each case runs through the package function the
stage's Snakemake script calls (``records.build_records``, ``screening.run``,
``extraction.run`` + ``write``, ``snapshots.run_search`` against the fake
E-utilities server), or through the real workflow (``snakemake``) for config
cases, and must:

* fail with a :class:`~livingreview.errors.LivingReviewError` (config: a
  non-zero exit) whose message names the file, row and column and says what
  was expected; a positive case (``expect: ok``) must succeed instead;
* leave every file under ``resources/`` and ``results/bundles/`` with the
  SHA-256 it had before (a search may only *add* files under its
  ``search/pubmed/.partial/`` download folder).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_eutils import SMALL_TEMPLATE_FILES, FakeEutils, make_corpus

from livingreview.errors import InputError, InputErrors, LivingReviewError
from livingreview.extraction import stage as extraction
from livingreview.extraction.files import input_files as extraction_input_files
from livingreview.publish import bundle
from livingreview.screening import stage as screening
from livingreview.screening.files import sheet_paths
from livingreview.search import records, snapshots
from livingreview.search.pubmed import PubMedClient

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.yaml").is_file())
SNAKEMAKE = REPO / ".venv" / "bin" / "snakemake"
ROOT = "resources/demo"
STAGES = ("records", "search", "screening", "extraction", "config")
KEYS = {"stage", "why", "expect", "file", "row", "column", "message", "errors", "remove",
        "place_as", "fault", "check"}  # fmt: skip


def _config(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / "config" / "config.yaml").read_text(encoding="utf-8"))


def _results(project: Path) -> Path:
    return project / "results"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project with records and screening built and one version published."""
    project = tmp_path_factory.mktemp("bad-inputs-template")
    for name in ("Snakefile", "workflow", "config", "scripts", "profiles"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, project / name)
    shutil.copytree(REPO / ROOT, project / ROOT)
    cfg = _config(project)
    res = _results(project)
    table, summary = records.build_records(project / ROOT, title_similarity=95)
    records.write_records(
        table, summary, res / "records" / "records.csv", res / "records" / "summary.json"
    )
    result = screening.run(
        screening.ScreeningSettings.from_params(
            {"root": project / ROOT, "screening": cfg["screening"]}
        ),
        {
            "records": res / "records" / "records.csv",
            "summary": res / "records" / "summary.json",
            "schemas": [project / "workflow" / "schemas" / "screening.schema.yaml"],
        },
    )
    screening.write_outputs(result, res / "screening")
    published = bundle.publish(
        res, res / "bundles", cfg, inputs_root=project / ROOT, repo=REPO, date="2026-11-21"
    )
    assert published.changed and published.path is not None
    return project


# --------------------------------------------------------------------------- stages


def run_records(cfg: dict[str, Any], case: dict[str, Any]) -> None:
    table, summary = records.build_records(ROOT, title_similarity=cfg["dedup"]["title_similarity"])
    records.write_records(
        table, summary, "results/records/records.csv", "results/records/summary.json"
    )


def run_screening(cfg: dict[str, Any], case: dict[str, Any]) -> None:
    result = screening.run(
        screening.ScreeningSettings.from_params({"root": ROOT, "screening": cfg["screening"]}),
        {
            "records": "results/records/records.csv",
            "summary": "results/records/summary.json",
            "sheets": [str(p) for p in sheet_paths(ROOT)],
            "schemas": ["workflow/schemas/screening.schema.yaml"],
        },
    )
    screening.write_outputs(result, "results/screening")


def run_extraction(cfg: dict[str, Any], case: dict[str, Any]) -> None:
    files = extraction_input_files(ROOT)
    result = extraction.run(
        extraction.ExtractionSettings.from_params({"root": ROOT, "extraction": cfg["extraction"]}),
        {
            **files,
            "decisions": "results/screening/decisions.csv",
            "schemas": ["workflow/schemas/studies.schema.yaml"],
        },
    )
    extraction.write(
        result,
        {
            "studies": "results/extraction/studies.csv",
            "discrepancies": "results/extraction/discrepancies.csv",
            "effects": "results/effects/effects.csv",
            "not_selected": "results/effects/not_selected.csv",
        },
    )


def run_search(cfg: dict[str, Any], case: dict[str, Any]) -> None:
    """A live search of the days since the demo's last snapshot, against the fake server."""
    fault = dict(case["fault"])
    kind, endpoint, times = fault.pop("kind"), fault.pop("endpoint"), fault.pop("times", 1)
    corpus = make_corpus(5, dt.date(2026, 11, 2), dt.date(2026, 11, 20), first_pmid=91000000)
    fake = FakeEutils(
        REPO.parent / "shared" / "fixtures" / "pubmed", corpus, template_files=SMALL_TEMPLATE_FILES
    )
    fake.fault(kind, endpoint, times=times, **fault)
    search = cfg["search"]
    with fake:
        client = PubMedClient(
            fake.base_url,
            email=search["email"],
            tool=search["tool"],
            timeout=10,
            max_retries=times - 1,
            rate=0,
            sleep=lambda _s: None,
        )
        snapshots.run_search(
            client,
            f"{ROOT}/search/pubmed",
            " ".join(search["query"].split()),
            start_date=dt.date.fromisoformat(search["start_date"]),
            until=dt.date(2026, 11, 21),
            batch_size=search["batch_size"],
        )


class WorkflowFailed(Exception):
    """The real workflow exited non-zero; the message is its console output."""


def run_config(cfg: dict[str, Any], case: dict[str, Any]) -> None:
    proc = subprocess.run(
        [str(SNAKEMAKE), "--cores", "1", "--nocolor"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise WorkflowFailed(proc.stdout + proc.stderr)


RUNNERS = {
    "records": run_records,
    "search": run_search,
    "screening": run_screening,
    "extraction": run_extraction,
    "config": run_config,
}


# --------------------------------------------------------------------------- checks


def checksums(project: Path) -> dict[str, str]:
    """SHA-256 of every file under resources/ and results/bundles/ (the never-modified trees)."""
    out = {}
    for top in ("resources", "results/bundles"):
        for p in sorted((project / top).rglob("*")):
            if p.is_file():
                out[p.relative_to(project).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def errors_of(exc: BaseException) -> list[InputError]:
    if isinstance(exc, InputErrors):
        return exc.errors
    return [exc] if isinstance(exc, InputError) else []


def check_message(exc: BaseException, case: dict[str, Any]) -> None:
    """The message names the file, row and column of the broken cell and what was expected."""
    text = str(exc)
    fragment = case["message"]
    if case["stage"] == "config":
        assert isinstance(exc, WorkflowFailed), f"expected the workflow to fail: {exc!r}"
        assert fragment in text, text[-3000:]
        # the schema's ValidationError, or livingreview.config_check's InputError naming
        # the config file (and line)
        assert "config" in text.lower() and ("ValidationError" in text or "InputError" in text), (
            text[-3000:]
        )
        if "file" in case:
            assert case["file"] in text, text[-3000:]
        if "row" in case:
            assert f"row {case['row']}" in text, text[-3000:]
        return
    assert isinstance(exc, LivingReviewError), f"unclear failure {type(exc).__name__}: {exc}"
    found = errors_of(exc)
    if "row" in case or "column" in case:
        assert found, f"expected an InputError naming row/column, got {type(exc).__name__}: {text}"
        match = [
            e
            for e in found
            if e.file == case.get("file")
            and e.row == case.get("row")
            and e.column == case.get("column")
            and fragment in str(e)
        ]
        assert match, (
            f"no error at {case.get('file')} row {case.get('row')} column {case.get('column')} saying {fragment!r}:\n{text}"
        )
        line = str(match[0])
        if "row" in case:
            assert f"row {case['row']}" in line
        if "column" in case:
            assert f"column '{case['column']}'" in line
    elif found and "file" in case:  # (a file name may hold a line break: match the error)
        assert any(e.file == case["file"] and fragment in str(e) for e in found), (
            f"no error naming {case['file']!r} saying {fragment!r}:\n{text}"
        )
    else:
        lines = [ln for ln in text.splitlines() if fragment in ln]
        assert lines, f"{fragment!r} not in the message:\n{text}"
        if "file" in case:
            assert any(case["file"] in ln for ln in lines), f"{case['file']} not named:\n{text}"
    # one planted problem gives one message line, not a cascade
    assert len(found) <= case.get("errors", 1), text


def apply_case(folder: Path, project: Path, case: dict[str, Any]) -> None:
    files = folder / "files"
    place_as = case.get("place_as") or {}
    if files.is_dir():
        for src in sorted(p for p in files.rglob("*") if p.is_file()):
            rel = src.relative_to(files).as_posix()
            dst = project / rel
            if rel in place_as:
                dst = dst.with_name(place_as[rel])
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                dst.chmod(0o644)
            shutil.copyfile(src, dst)
    for rel in case.get("remove") or []:
        (project / rel).unlink()


def test_corpus_is_complete() -> None:
    """>= 120 cases (issue 14), every stage covered, and every expected.yaml well-formed."""
    assert len(CASES) >= 120, len(CASES)
    stages = set()
    for name in CASES:
        case = yaml.safe_load((CORPUS / name / "expected.yaml").read_text(encoding="utf-8"))
        assert set(case) <= KEYS, (name, set(case) - KEYS)
        assert case["stage"] in STAGES and case["expect"] in ("error", "ok"), name
        assert case["expect"] == "ok" or case.get("message"), name
        stages.add(case["stage"])
    assert stages == set(STAGES)


@pytest.mark.parametrize("name", CASES)
def test_bad_input(
    name: str, template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = CORPUS / name
    case = yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))
    _run_case(folder, case, template, tmp_path, monkeypatch)


def _run_case(
    folder: Path,
    case: dict[str, Any],
    template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path / "project"
    shutil.copytree(template, project, symlinks=True)
    apply_case(folder, project, case)
    before = checksums(project)
    monkeypatch.chdir(project)  # as under Snakemake: paths relative to the project
    runner = RUNNERS[case["stage"]]
    if case["expect"] == "ok":
        runner(_config(project), case)
        check = case.get("check")
        if check:
            assert check["contains"] in (project / check["file"]).read_text(encoding="utf-8")
    else:
        with pytest.raises(Exception) as info:
            runner(_config(project), case)
        check_message(info.value, case)
    after = checksums(project)
    changed = sorted(k for k in before if after.get(k) != before[k])
    assert not changed, f"modified or deleted: {changed}"
    added = sorted(set(after) - set(before))
    if case["stage"] == "search":
        added = [a for a in added if not a.startswith(f"{ROOT}/search/pubmed/.partial/")]
    assert not added, f"files added under resources/ or results/bundles/: {added}"


@pytest.mark.parametrize(
    ("name", "bounds"),
    [
        ("extraction-sd-above-mean-range", {"nonnegative_means": False}),
        ("extraction-smd-implausible", {"max_abs_smd": 1000}),
    ],
)
def test_plausibility_bounds_come_from_the_config(
    name: str,
    bounds: dict[str, Any],
    template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same sheets that stop under the default bounds pass once the config lifts them."""
    folder = CORPUS / name
    case = yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))
    project = tmp_path / "project"
    shutil.copytree(template, project, symlinks=True)
    apply_case(folder, project, case)
    monkeypatch.chdir(project)
    cfg = _config(project)
    cfg["extraction"]["plausibility"] = bounds
    run_extraction(cfg, case)
    assert Path("results/effects/effects.csv").is_file()
