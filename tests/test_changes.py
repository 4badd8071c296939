"""CHANGES.md says why; versions that lose studies or all records are held (issues 13, 14)."""

from __future__ import annotations

import copy
import json
import shutil

import pandas as pd
import pytest
from results_fixture import CONFIG, make_results

from livingreview.errors import InputError
from livingreview.publish import bundle, provenance, report, versions


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("template")
    results = make_results(root, n_studies=6)
    _decisions(results, {})
    report.build_report(results, results / "report", CONFIG)
    return root


@pytest.fixture
def project(template, tmp_path):
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    return tmp_path, tmp_path / "results"


def _decisions(results, status: dict[str, str]) -> None:
    """decisions.csv: every study's record included at both stages unless ``status`` says else."""
    studies = pd.read_csv(results / "extraction" / "studies.csv", dtype=str)
    rows = []
    for rid in studies["record_id"]:
        for stage in ("title_abstract", "full_text"):
            st = status.get(rid, "included") if stage == "full_text" else "included"
            rows.append(
                {
                    "record_id": rid,
                    "stage": stage,
                    "status": st,
                    "rule": "agreement" if st in ("included", "excluded") else "none",
                    "sources": f"alice={stage}/alice.csv:{rid[-2:]}",
                }
            )
    (results / "screening").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(results / "screening" / "decisions.csv", index=False)


def _drop_study(results, study_id: str) -> None:
    path = results / "effects" / "effects.csv"
    eff = pd.read_csv(path, dtype=str, keep_default_na=False)
    eff[eff["study_id"] != study_id].to_csv(path, index=False)


def _publish(root, results, config=CONFIG, **kw):
    return bundle.publish(
        results,
        results / "bundles",
        config,
        inputs_root=root / "resources" / "demo",
        date="2026-11-21",
        **kw,
    )


def test_changes_name_config_keys_and_input_files(project):
    root, results = project
    first = _publish(root, results)
    config = copy.deepcopy(CONFIG)
    config["analysis"]["method"] = "DL"
    new_sheet = root / "resources/demo/screening/full_text/carol.csv"
    new_sheet.parent.mkdir(parents=True, exist_ok=True)
    new_sheet.write_text("record_id,decision\n30000001,include\n", encoding="utf-8")
    second = _publish(root, results, config)
    text = (second.path / "CHANGES.md").read_text()
    assert f"Compared with version {first.version}." in text
    assert '## Why: configuration changed (old -> new)\n\n- analysis.method: "REML" -> "DL"' in text
    assert "## Why: input files added\n\n- screening/full_text/carol.csv" in text
    assert "## Published files changed\n\n- config.yaml (changed)" in text
    html = (second.path / "report" / "index.html").read_text()
    assert "Why: configuration changed (old -&gt; new)" in html
    assert "analysis.method: &quot;REML&quot; -&gt; &quot;DL&quot;" in html


def test_input_change_that_changes_nothing_a_reader_sees_is_not_published(project):
    root, results = project
    first = _publish(root, results)
    sheet = root / "resources/demo/screening/full_text/carol.csv"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    sheet.write_text("record_id,decision,note\n30000001,include,checked\n", encoding="utf-8")
    config = copy.deepcopy(CONFIG)
    config["publish"] = {"allow_removals": True}  # how to publish: not part of the version
    again = _publish(root, results, config)
    assert not again.changed and again.version == first.version


def test_publish_section_is_not_in_the_published_config(project):
    root, results = project
    config = copy.deepcopy(CONFIG)
    config["publish"] = {"allow_removals": True}
    res = _publish(root, results, config)
    assert "publish" not in (res.path / "config.yaml").read_text()
    assert "allow_removals" not in (res.path / "manifest.json").read_text()


def test_decision_and_effect_changes_are_explained(project):
    root, results = project
    _publish(root, results)
    rid = pd.read_csv(results / "extraction" / "studies.csv", dtype=str)["record_id"][2]
    _decisions(results, {rid: "excluded"})
    _drop_study(results, "study02")
    res = _publish(root, results)
    text = (res.path / "CHANGES.md").read_text()
    assert "## Studies removed\n\n- study02" in text
    assert (
        f"- {rid} full_text: included -> excluded (agreement); rows: alice=full_text/alice.csv:02"
        in text
    )
    assert "study02 glycemic: at  wk -> none (no effect selected any more)" not in text
    assert "## Why: effects chosen or computed differently\n\n- study02 glycemic:" in text
    assert "Held back" not in text  # an explicit exclusion is not a loss


def test_study_lost_with_its_decisions_holds_the_version(project):
    root, results = project
    first = _publish(root, results)
    rid = pd.read_csv(results / "extraction" / "studies.csv", dtype=str)["record_id"][3]
    _decisions(results, {rid: "awaiting"})  # e.g. one reviewer's sheet was removed
    _drop_study(results, "study03")
    with pytest.raises(bundle.PublicationHeld) as err:
        _publish(root, results)
    assert isinstance(err.value, InputError)  # `livingreview update` exits 2 and shows it
    msg = str(err.value)
    assert msg.startswith(f"version held: 1 previously included study of version {first.version}")
    assert f"study03: record {rid}: full_text decision now awaiting" in msg
    assert "publish.allow_removals" in msg and "Nothing was published" in msg
    assert versions.latest(results / "bundles") == first.version
    assert sorted(p.name for p in (results / "bundles").iterdir()) == [
        first.version, f"{first.version}.zip", f"{first.version}.zip.sha256", "LATEST"
    ]  # fmt: skip

    config = copy.deepcopy(CONFIG)
    config["publish"] = {"allow_removals": True}
    res = _publish(root, results, config)
    assert res.changed and res.version == "2026-11-21.2"
    text = (res.path / "CHANGES.md").read_text()
    assert "## Held back, published with publish.allow_removals\n\n- study03: record" in text


def test_study_that_lost_double_extraction_holds_the_version(project):
    root, results = project
    eff = pd.read_csv(results / "effects/effects.csv", dtype=str, keep_default_na=False)
    eff["source"] = [
        f"extraction/outcomes/carol.csv:{i + 2}; extraction/outcomes/dave.csv:{i + 2}"
        for i in range(len(eff))
    ]
    eff.to_csv(results / "effects/effects.csv", index=False)
    studies = pd.read_csv(results / "extraction/studies.csv", dtype=str, keep_default_na=False)
    studies["extractors"] = "carol; dave"
    studies.to_csv(results / "extraction/studies.csv", index=False)
    _publish(root, results)
    studies.loc[studies["study_id"] == "study04", "extractors"] = "carol"
    studies.to_csv(results / "extraction/studies.csv", index=False)
    _drop_study(results, "study04")
    with pytest.raises(
        bundle.PublicationHeld,
        match=r"study04: double extraction lost \(now carol, was carol, dave\)",
    ):
        _publish(root, results)


def test_removed_file_behind_a_vanished_study_is_named(project):
    root, results = project
    sheet = root / "resources/demo/extraction/outcomes/dave.csv"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    sheet.write_text("study_id\nstudy05\n", encoding="utf-8")
    first = _publish(root, results)
    sheet.unlink()
    _drop_study(results, "study05")
    with pytest.raises(bundle.PublicationHeld) as err:
        _publish(root, results)
    assert "study05: input file(s) removed: extraction/outcomes/dave.csv" in str(err.value)
    assert versions.latest(results / "bundles") == first.version


def test_no_records_after_records_is_refused_even_when_removals_are_allowed(project):
    root, results = project
    first = _publish(root, results)
    summary = json.loads((results / "records/summary.json").read_text())
    summary.update(unique=0, identified={}, identified_total=0, snapshots=[])
    (results / "records/summary.json").write_text(json.dumps(summary))
    config = copy.deepcopy(CONFIG)
    config["publish"] = {"allow_removals": True}
    with pytest.raises(bundle.PublicationHeld) as err:
        _publish(root, results, config)
    assert str(err.value).startswith(
        f"refusing to publish a version with no records after version {first.version} had 300"
    )
    assert versions.latest(results / "bundles") == first.version


def test_config_changes_flatten_nested_keys():
    old = {"analysis": {"method": "REML", "moderators": ["a"]}, "x": {"y": 1}}
    new = {"analysis": {"method": "REML", "moderators": ["a", "b"]}, "z": 2}
    assert provenance.config_changes(old, new) == [
        ["analysis.moderators", ["a"], ["a", "b"]],
        ["x.y", 1, None],
        ["z", None, 2],
    ]
