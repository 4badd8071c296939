"""Bundles: versions, immutability, no-change detection, CHANGES.md and verify."""

from __future__ import annotations

import json
import shutil
import zipfile

import pandas as pd
import pytest
import yaml
from results_fixture import CONFIG, make_results

from livingreview.publish import bundle, report, verify, versions
from livingreview.publish.zips import rebuild_zip


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


def test_bundle_rule_entry_point_parses_params_once_publishes_and_writes_its_marker(project):
    """bundle.run/write, the stage shape; allow_removals "true" from --config is parsed once."""
    root, results = project
    params = {
        "config": CONFIG,
        "inputs_root": str(root / "resources" / "demo"),
        "allow_removals": "true",
    }
    settings = bundle.BundleSettings.from_params(params, bundles=results / "bundles", repo=root)
    assert settings.allow_removals is True and settings.bundles == results / "bundles"
    assert bundle.BundleSettings.from_params(
        {**params, "allow_removals": False}, bundles=".", repo=root
    )
    assert not bundle.BundleSettings.from_params(
        {**params, "allow_removals": "false"}, bundles=".", repo=root
    ).allow_removals
    inputs = {"effects": str(results / "effects" / "effects.csv")}
    result = bundle.run(settings, inputs)
    assert result.changed and result.path == results / "bundles" / result.version
    bundle.write(result, {"published": results / "bundles" / "published.json"})
    marker = json.loads((results / "bundles" / "published.json").read_text())
    assert marker == {"changed": True, "version": result.version, "message": result.message}
    again = bundle.run(settings, inputs)
    assert not again.changed and again.version == result.version


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
    assert crate["@context"][0] == "https://w3id.org/ro/crate/1.2/context"
    with zipfile.ZipFile(results / "bundles" / "2026-11-21.1.zip") as zf:
        names = zf.namelist()
    assert "2026-11-21.1/manifest.json" in names and len(names) == len(manifest["files"]) + 1
    assert verify.verify(b) == []


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
    # the headline is the conclusions under pre-specified rules, not p < 0.05 flips
    assert changes.index("## What's new") < changes.index("## Studies added")
    assert "Glycemic control: " in changes
    news = json.loads((second.path / "whats_new.json").read_text())
    assert news["previous"] == "2026-11-21.1" and "new studies" in news["change_types"]
    glyc = next(o for o in news["outcomes"] if o["domain"] == "glycemic")
    assert glyc["old"]["k"] == 6 and glyc["new"]["k"] == 7
    assert glyc["conclusion_changed"] == bool(glyc["reasons"])
    cff = yaml.safe_load((second.path / "CITATION.cff").read_text())
    assert cff["version"] == "2026-11-21.2" and "previous version: 2026-11-21.1" in str(cff)
    zen = json.loads((second.path / ".zenodo.json").read_text())
    assert zen["version"] == "2026-11-21.2" and zen["title"].startswith("Demo review")
    prisma = pd.read_csv(second.path / "prisma" / "PRISMA2020.csv").set_index("data")
    assert int(prisma.loc["total_studies", "n"]) == 7
    history = pd.read_csv(second.path / "history" / "history.csv")
    glyc_history = history[history["domain"] == "glycemic"]
    assert glyc_history["version"].tolist() == ["2026-11-21.1", "2026-11-21.2"]
    assert glyc_history["k"].tolist() == [6, 7]
    assert (second.path / "history" / "history.svg").is_file()
    index = (second.path / "report" / "index.html").read_text()
    assert '<h2 id="history">Version history</h2>' in index and "../history/history.svg" in index
    if "## Supporting detail: p-values" in changes:
        assert changes.index("## Supporting detail") > changes.index("## Studies added")
    # the previous version is untouched and still verifies
    assert {p: p.read_bytes() for p in first.path.rglob("*") if p.is_file()} == before
    assert verify.verify(first.path) == [] and verify.verify(second.path) == []
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
    problems = verify.verify(b)
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
        by_id = {p["@id"]: p for p in crate["@graph"]}
        listed = {i["@id"]: by_id[i["@id"]]["sha256"] for i in by_id["./"]["hasPart"]}
        assert listed == {k: v for k, v in full.items() if k != "ro-crate-metadata.json"}


def test_a_file_written_but_not_rehashed_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    files = bundle._files(tmp_path)
    (tmp_path / "late.txt").write_text("written after the checksums")
    with pytest.raises(RuntimeError, match="late.txt"):
        bundle._rehash(tmp_path, files, ())
    assert bundle._rehash(tmp_path, files, ("late.txt",)) == bundle._files(tmp_path)


# --------------------------------------------------------------------------- bundles you can prove


def _rezip(zip_path, change):
    """Rewrite ``zip_path`` with ``change(entries)`` applied, and its checksum line to match."""
    with zipfile.ZipFile(zip_path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    change(entries)
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    sidecar = zip_path.with_name(zip_path.name + ".sha256")
    lines = sidecar.read_text().splitlines()
    lines[0] = f"{bundle.sha256_file(zip_path)}  {zip_path.name}"
    sidecar.write_text("\n".join(lines) + "\n")


def test_verify_fails_when_the_zip_differs_from_the_folder(project):
    root, results = project
    res = _publish(root, results)
    zip_path = results / "bundles" / f"{res.version}.zip"
    v = res.version

    def edit(entries):
        entries[f"{v}/effects.csv"] = b"study_id,yi\nx,9\n"
        entries[f"{v}/extra.csv"] = b"a\n"
        del entries[f"{v}/config.yaml"]

    _rezip(zip_path, edit)
    problems = verify.verify(res.path)
    assert f"{v}.zip: effects.csv differs between the zip and the folder" in problems
    assert f"{v}.zip: extra.csv is in the zip but not in the folder" in problems
    assert f"{v}.zip: config.yaml is in the folder but not in the zip" in problems
    assert len(problems) == 3  # the checksum file matches the new zip: only the entries tell


def test_verify_fails_without_the_checksum_file_or_the_zip(project):
    root, results = project
    res = _publish(root, results)
    sidecar = results / "bundles" / f"{res.version}.zip.sha256"
    sidecar.unlink()
    assert verify.verify(res.path) == [
        f"{res.version}.zip.sha256: missing (the zip's checksum cannot be checked)"
    ]
    (results / "bundles" / f"{res.version}.zip").unlink()
    assert verify.verify(res.path) == [
        f"{res.version}.zip: missing (the newest version keeps its zip)"
    ]


def _edit_manifest(b, change):
    path = b / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.chmod(0o644)
    path.write_text(json.dumps(manifest, indent=2))


@pytest.mark.parametrize("rel", ["/etc/passwd", "../../outside.txt", "report/../../outside.txt"])
def test_verify_refuses_manifest_paths_outside_the_bundle(project, rel):
    root, results = project
    res = _publish(root, results)
    outside = results / "outside.txt"
    outside.write_text("not part of the bundle")
    sha = bundle.sha256_file(outside if not rel.startswith("/") else "/etc/passwd")
    _edit_manifest(res.path, lambda m: m["files"].update({rel: sha}))
    problems = verify.verify(res.path)
    assert f"{rel}: listed in the manifest but outside the bundle" in problems


def test_verify_refuses_a_symbolic_link_leaving_the_bundle(project):
    root, results = project
    res = _publish(root, results)
    target = res.path / "effects.csv"
    target.chmod(0o644)
    target.unlink()
    target.symlink_to(results / "effects" / "effects.csv")  # same bytes, outside the bundle
    problems = verify.verify(res.path)
    assert "effects.csv: listed in the manifest but outside the bundle" in problems
    assert "effects.csv: a symbolic link (a bundle holds only files)" in problems


def test_verify_finds_an_edited_manifest(project):
    root, results = project
    res = _publish(root, results)
    _edit_manifest(res.path, lambda m: m.update(title="A different review"))
    problems = verify.verify(res.path)
    assert (
        "manifest.json: sha256 does not match " + f"{res.version}.zip.sha256 (edited?)" in problems
    )
    assert f"{res.version}.zip: manifest.json differs between the zip and the folder" in problems


def _three_versions(root, results):
    made = []
    for i, date in enumerate(("2026-11-21", "2026-11-22", "2026-11-23")):
        make_results(root, n_studies=6 + i, shift=0.2 * i)  # the report's figures stay
        made.append(_publish(root, results, date=date))
    assert [r.version for r in made] == ["2026-11-21.1", "2026-11-22.1", "2026-11-23.1"]
    return made


def test_versions_are_chained_and_verify_all_checks_the_chain(project):
    root, results = project
    first, second, third = _three_versions(root, results)
    bundles = results / "bundles"
    assert verify.verify_all(bundles) == []
    m2 = json.loads((second.path / "manifest.json").read_text())
    assert m2["previous_manifest_sha256"] == bundle.sha256_file(first.path / "manifest.json")
    assert (
        json.loads((first.path / "manifest.json").read_text())["previous_manifest_sha256"] is None
    )
    sidecar = (bundles / "2026-11-21.1.zip.sha256").read_text()
    assert (
        f"{bundle.sha256_file(first.path / 'manifest.json')}  2026-11-21.1/manifest.json" in sidecar
    )
    # a consistent forgery of version 1 (manifest and checksum file rewritten together;
    # an older version keeps no zip to rewrite)
    assert not (bundles / "2026-11-21.1.zip").exists()
    _edit_manifest(first.path, lambda m: m.update(title="Rewritten history"))
    text = (bundles / "2026-11-21.1.zip.sha256").read_text().splitlines()
    text[1] = f"{bundle.sha256_file(first.path / 'manifest.json')}  2026-11-21.1/manifest.json"
    (bundles / "2026-11-21.1.zip.sha256").write_text("\n".join(text) + "\n")
    assert verify.verify(first.path) == []  # alone it looks intact ...
    assert verify.verify_all(bundles) == [  # ... but the next version recorded the original
        "2026-11-22.1: checksum of 2026-11-21.1's manifest differs from the one recorded"
    ]


def test_verify_all_finds_a_removed_version_and_a_stale_latest(project):
    root, results = project
    _first, second, _third = _three_versions(root, results)
    bundles = results / "bundles"
    shutil.rmtree(second.path)
    problems = verify.verify_all(bundles)
    assert any(
        p.startswith("2026-11-23.1: manifest names 2026-11-22.1 as the previous version")
        for p in problems
    )
    (bundles / "LATEST").write_text("2026-11-21.1\n")
    assert any(p.startswith("LATEST: names 2026-11-21.1") for p in verify.verify_all(bundles))


def test_version_names_increase_when_the_clock_goes_back(project, tmp_path):
    root, results = project
    first = _publish(root, results, date="2026-11-22")
    make_results(root, n_studies=7, shift=0.6)
    second = _publish(root, results, date="2026-11-20")  # the clock went back two days
    assert second.changed and second.version == "2026-11-22.2"
    assert versions.version_key(second.version) > versions.version_key(first.version)
    assert json.loads((second.path / "manifest.json").read_text())["date"] == "2026-11-20"
    assert verify.verify_all(results / "bundles") == []
    (tmp_path / "b" / "2026-12-31.4.zip").parent.mkdir()
    (tmp_path / "b" / "2026-12-31.4.zip").write_bytes(b"")  # a zip whose folder was removed
    assert versions.next_version(tmp_path / "b", "2026-01-01") == "2026-12-31.5"
    assert versions.next_version(tmp_path / "b", "2027-01-01") == "2027-01-01.1"


# --------------------------------------------------------------------------- shared files


def _tree(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_unchanged_files_are_hard_links_to_the_previous_version(project):
    root, results = project
    first = _publish(root, results)
    before = _tree(first.path)
    make_results(root, n_studies=7, shift=0.6)  # the report's figures stay
    second = _publish(root, results, date="2026-11-22")
    m1 = json.loads((first.path / "manifest.json").read_text())["files"]
    m2 = json.loads((second.path / "manifest.json").read_text())["files"]
    same = {rel for rel in m2 if m1.get(rel) == m2[rel]}
    changed = set(m2) - same
    assert "config.yaml" in same and "effects.csv" in changed and len(same) > 10
    for rel in same:
        a, b = (first.path / rel).stat(), (second.path / rel).stat()
        assert a.st_ino == b.st_ino and b.st_nlink == 2, rel
    for rel in changed:
        assert (second.path / rel).stat().st_nlink == 1, rel
    assert all(not (p.stat().st_mode & 0o222) for p in second.path.rglob("*") if p.is_file())
    assert not list(second.path.rglob("*.link.tmp"))  # no temporary link names left
    third = _publish(root, results, date="2026-11-23")  # no change: nothing linked or written
    assert not third.changed
    assert _tree(first.path) == before
    assert verify.verify_all(results / "bundles") == []


def test_shared_versions_equal_copied_ones_byte_for_byte(template, tmp_path, monkeypatch):
    """Links change how a version is stored, never what it holds (nor its zip)."""
    outs = []
    for name, links in (("linked", True), ("copied", False)):
        shutil.copytree(template, tmp_path / name)
        root, results = tmp_path / name, tmp_path / name / "results"
        if not links:  # as on a file system without hard links

            def refuse(*_args, **_kwargs):
                raise OSError(18, "Invalid cross-device link")

            monkeypatch.setattr(bundle.os, "link", refuse)
        made = []
        for i, date in enumerate(("2026-11-21", "2026-11-22")):
            make_results(root, n_studies=6 + i, shift=0.3 * i)
            made.append(_publish(root, results, date=date))
        nlinks = [p.stat().st_nlink for p in made[1].path.rglob("*") if p.is_file()]
        assert (max(nlinks) == 2) if links else (max(nlinks) == 1)
        assert not (results / "bundles" / f"{made[0].version}.zip").exists()  # newest keeps one
        assert verify.verify_all(results / "bundles") == []
        rebuilt, same = rebuild_zip(made[0].path)  # the older one, byte for byte
        assert same
        zips = {r.version: (results / "bundles" / f"{r.version}.zip").read_bytes() for r in made}
        outs.append(([_tree(r.path) for r in made], zips))
        monkeypatch.undo()
    assert outs[0] == outs[1]


def test_an_edited_earlier_version_is_not_shared(project):
    root, results = project
    first = _publish(root, results)
    target = first.path / "config.yaml"
    original = target.read_bytes()
    target.chmod(0o644)
    target.write_bytes(original.replace(b"title", b"TITLE", 1))
    target.chmod(0o444)
    make_results(root, n_studies=7, shift=0.6)
    second = _publish(root, results, date="2026-11-22")
    assert (second.path / "config.yaml").read_bytes() == original
    assert (second.path / "config.yaml").stat().st_ino != target.stat().st_ino
    assert verify.verify(second.path) == []
    assert "config.yaml: sha256 " in " ".join(verify.verify(first.path))


def test_only_the_newest_version_keeps_its_zip_and_an_older_one_is_rebuilt_exactly(project, capsys):
    """Issue 20: a zip is a full copy, so disk would grow by a version a week with every zip."""
    from livingreview import cli

    root, results = project
    first, second, third = _three_versions(root, results)
    bundles = results / "bundles"
    assert sorted(p.name for p in bundles.glob("*.zip")) == [f"{third.version}.zip"]
    assert all((bundles / f"{v.version}.zip.sha256").is_file() for v in (first, second, third))
    assert verify.verify_all(bundles) == []
    assert cli.main(["zip", str(first.path)]) == cli.EXIT_OK
    assert "byte for byte" in capsys.readouterr().out
    sums = (bundles / f"{first.version}.zip.sha256").read_text()
    assert bundle.sha256_file(bundles / f"{first.version}.zip") in sums
    assert verify.verify(first.path) == []  # a rebuilt zip is checked like the newest one
    # a version whose folder no longer verifies gets no zip
    edited = second.path / "effects.csv"
    edited.unlink()  # a new file, not the one shared with the other versions
    edited.write_text("edited\n")
    assert cli.main(["zip", str(second.path)]) == cli.EXIT_FAILED
    assert not (bundles / f"{second.version}.zip").exists()
    assert "no zip made" in capsys.readouterr().err


def test_older_zips_a_killed_publication_left_are_dropped_by_the_next_run(project):
    """Killed after LATEST was written, before the older zips were removed: the next run,
    with nothing to publish, removes them (as a clean run would have none)."""
    root, results = project
    first, _second, third = _three_versions(root, results)
    bundles = results / "bundles"
    shutil.copy2(bundles / f"{third.version}.zip", bundles / f"{first.version}.zip")  # left over
    again = _publish(root, results, date="2026-11-24")
    assert not again.changed
    assert sorted(p.name for p in bundles.glob("*.zip")) == [f"{third.version}.zip"]
