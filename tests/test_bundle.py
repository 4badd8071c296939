"""Bundles: versions, immutability, no-change detection, CHANGES.md and verify."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest
from results_fixture import CONFIG, make_results

from livingreview import bundle, report


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("template")
    results = make_results(root, n_studies=6)
    report.build_report(results, results / "report", CONFIG)
    return root


@pytest.fixture
def project(template, tmp_path):
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    return tmp_path, tmp_path / "results"


def _publish(root, results, date="2026-11-21"):
    return bundle.publish(
        results, results / "bundles", CONFIG, inputs_root=root / "resources" / "demo", date=date
    )


def test_first_publication_manifest_and_zip(project):
    root, results = project
    res = _publish(root, results)
    assert res.changed and res.version == "2026-11-21.1"
    b = results / "bundles" / "2026-11-21.1"
    assert (results / "bundles" / "LATEST").read_text().strip() == "2026-11-21.1"
    manifest = json.loads((b / "manifest.json").read_text())
    assert manifest["version"] == "2026-11-21.1" and manifest["previous"] is None
    assert manifest["software"]["packages"]["pandas"]
    assert manifest["inputs"]["search/pubmed/2026-11-20.xml.gz"] == bundle.sha256_file(
        root / "resources/demo/search/pubmed/2026-11-20.xml.gz"
    )
    assert manifest["search_snapshots"][0]["until"] == "2026-11-20"
    for rel in ("effects.csv", "config.yaml", "CHANGES.md", "report/index.html",
                "strata/domain-glycemic/pooled.json", "ro-crate-metadata.json"):  # fmt: skip
        assert rel in manifest["files"], rel
    assert "Version 2026-11-21.1" in (b / "report" / "index.html").read_text()
    crate = json.loads((b / "ro-crate-metadata.json").read_text())
    assert crate["@context"] == "https://w3id.org/ro/crate/1.1/context"
    with zipfile.ZipFile(results / "bundles" / "2026-11-21.1.zip") as zf:
        names = zf.namelist()
    assert "2026-11-21.1/manifest.json" in names and len(names) == len(manifest["files"]) + 1
    assert bundle.verify(b) == []


def test_no_change_makes_no_version(project):
    root, results = project
    _publish(root, results)
    report.build_report(results, results / "report", CONFIG)  # rebuilt, same content
    again = _publish(root, results)
    assert not again.changed and again.message == "no change since version 2026-11-21.1"
    assert sorted(p.name for p in (results / "bundles").iterdir()) == [
        "2026-11-21.1", "2026-11-21.1.zip", "2026-11-21.1.zip.sha256", "LATEST"
    ]  # fmt: skip


def test_new_data_gives_next_version_and_changes(project):
    root, results = project
    first = _publish(root, results)
    before = {p: p.read_bytes() for p in first.path.rglob("*") if p.is_file()}
    make_results(root, n_studies=7, shift=0.6)  # one study more, estimates move
    report.build_report(results, results / "report", CONFIG, previous_bundle=first.path)
    second = _publish(root, results)
    assert second.version == "2026-11-21.2"
    changes = (second.path / "CHANGES.md").read_text()
    assert "Compared with version 2026-11-21.1." in changes
    assert "- study06: Author6 et al. (2021)" in changes
    assert "- domain-glycemic (SMD): -0." in changes and "(k = 6) -> " in changes
    assert "## Changes of statistical significance" in changes
    # the previous version is untouched and still verifies
    assert {p: p.read_bytes() for p in first.path.rglob("*") if p.is_file()} == before
    assert bundle.verify(first.path) == [] and bundle.verify(second.path) == []
    m = json.loads((second.path / "manifest.json").read_text())
    assert m["previous"] == "2026-11-21.1"
    third = _publish(root, results, date="2026-11-22")
    assert not third.changed  # same content on another day: still no new version


def test_verify_reports_tampering(project):
    root, results = project
    b = _publish(root, results).path
    target = b / "strata" / "domain-glycemic" / "pooled.json"
    target.chmod(0o644)
    target.write_text(target.read_text().replace('"k": 6', '"k": 7'))
    (b / "extra.txt").write_text("x")
    (b / "effects.csv").chmod(0o644)
    (b / "effects.csv").unlink()
    problems = bundle.verify(b)
    assert any(p.startswith("strata/domain-glycemic/pooled.json: sha256 ") for p in problems)
    assert "effects.csv: missing" in problems
    assert "extra.txt: not listed in the manifest" in problems


def test_published_files_are_read_only(project):
    root, results = project
    b = _publish(root, results).path
    assert all(not (p.stat().st_mode & 0o222) for p in b.rglob("*") if p.is_file())


def test_same_content_gives_same_fingerprint_and_zip(template, tmp_path):
    outs = []
    for name in ("a", "b"):
        shutil.copytree(template, tmp_path / name)
        results = tmp_path / name / "results"
        r = bundle.publish(results, results / "bundles", CONFIG, date="2026-11-21")
        manifest = json.loads((r.path / "manifest.json").read_text())
        zip_bytes = (results / "bundles" / f"{r.version}.zip").read_bytes()
        outs.append((manifest["fingerprint"], manifest["files"], zip_bytes))
    assert outs[0] == outs[1]  # same folder content -> same zip, byte for byte


def test_zip_holds_the_folder_pngs_stored_text_deflated(project):
    root, results = project
    (results / "report" / "figures" / "note.txt").write_text("compressible " * 500)
    res = _publish(root, results)
    folder = {
        p.relative_to(res.path).as_posix(): p.read_bytes()
        for p in res.path.rglob("*")
        if p.is_file()
    }
    with zipfile.ZipFile(results / "bundles" / f"{res.version}.zip") as zf:
        infos = {i.filename.removeprefix(f"{res.version}/"): i for i in zf.infolist()}
        assert {rel: zf.read(i) for rel, i in infos.items()} == folder
    assert all(i.date_time == (2026, 11, 21, 0, 0, 0) for i in infos.values())
    assert all(i.external_attr == 0o444 << 16 for i in infos.values())
    pngs = [i for rel, i in infos.items() if rel.endswith(".png")]
    assert pngs and all(i.compress_type == zipfile.ZIP_STORED for i in pngs)
    text = [i for rel, i in infos.items() if not rel.endswith(".png")]
    assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in text)
    assert infos["report/figures/note.txt"].compress_size < 200


def test_manifest_checksums_equal_a_full_rehash(project):
    """Content is hashed once; files written afterwards are hashed again, nothing goes stale."""
    root, results = project
    first = _publish(root, results)
    make_results(root, n_studies=7, shift=0.6)
    report.build_report(results, results / "report", CONFIG, previous_bundle=first.path)
    second = _publish(root, results)
    for b in (first.path, second.path):
        manifest = json.loads((b / "manifest.json").read_text())
        full = bundle._files(b)
        del full["manifest.json"]
        assert manifest["files"] == full
        assert list(manifest["files"]) == sorted(manifest["files"])
        crate = json.loads((b / "ro-crate-metadata.json").read_text())
        listed = {p["@id"]: p["sha256"] for p in crate["@graph"] if p.get("@type") == "File"}
        assert listed == {k: v for k, v in full.items() if k != "ro-crate-metadata.json"}


def test_a_file_written_but_not_rehashed_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    files = bundle._files(tmp_path)
    (tmp_path / "late.txt").write_text("written after the checksums")
    with pytest.raises(RuntimeError, match="late.txt"):
        bundle._rehash(tmp_path, files, ())
    assert bundle._rehash(tmp_path, files, ("late.txt",)) == bundle._files(tmp_path)
