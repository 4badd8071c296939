"""The bundle's RO-Crate: RO-Crate 1.2 with the Workflow Run Crate 0.5 profile."""

from __future__ import annotations

import json

import pytest
from results_fixture import CONFIG, make_results

from livingreview.publish.bundle import publish
from livingreview.publish.rocrate import rule_names, workflow_sources
from livingreview.publish.verify import verify


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("crate")
    results = make_results(root, n_studies=4)
    res = publish(
        results, results / "bundles", CONFIG, inputs_root=root / "resources" / "demo",
        date="2026-11-21",
    )  # fmt: skip
    crate = json.loads((res.path / "ro-crate-metadata.json").read_text())
    return res.path, crate, {e["@id"]: e for e in crate["@graph"]}


def _ids(value):
    return [v["@id"] for v in (value if isinstance(value, list) else [value])]


def test_crate_is_ro_crate_1_2_with_the_workflow_run_profiles(published):
    _b, crate, by_id = published
    assert crate["@context"][0] == "https://w3id.org/ro/crate/1.2/context"
    assert "https://w3id.org/ro/terms/workflow-run/context" in crate["@context"]
    descriptor = by_id["ro-crate-metadata.json"]
    assert descriptor["@type"] == "CreativeWork" and descriptor["about"] == {"@id": "./"}
    assert "https://w3id.org/ro/crate/1.2" in _ids(descriptor["conformsTo"])
    root = by_id["./"]
    assert root["@type"] == "Dataset" and root["datePublished"] == "2026-11-21"
    assert root["name"] and root["description"] and root["license"]["@id"] in by_id
    profiles = set(_ids(root["conformsTo"]))
    assert profiles == {
        "https://w3id.org/ro/wfrun/process/0.5",
        "https://w3id.org/ro/wfrun/workflow/0.5",
        "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
    }
    assert all(by_id[p]["@type"] == "CreativeWork" and by_id[p]["version"] for p in profiles)
    assert len(by_id) == len(crate["@graph"])  # every @id once


def test_every_bundle_file_is_listed_with_its_checksum(published):
    b, _crate, by_id = published
    manifest = json.loads((b / "manifest.json").read_text())
    on_disk = {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()}
    listed = set(_ids(by_id["./"]["hasPart"]))
    assert listed == on_disk - {"manifest.json", "ro-crate-metadata.json"}
    for rel in listed:
        assert "File" in by_id[rel]["@type"] and by_id[rel]["sha256"] == manifest["files"][rel]
        assert by_id[rel]["contentSize"] == str((b / rel).stat().st_size)
    assert verify(b) == []


def test_the_run_is_a_create_action_of_the_snakemake_workflow(published):
    b, _crate, by_id = published
    root = by_id["./"]
    workflow = by_id[root["mainEntity"]["@id"]]
    assert workflow["@id"] == "workflow/Snakefile" and (b / "workflow" / "Snakefile").is_file()
    assert set(workflow["@type"]) == {"File", "SoftwareSourceCode", "ComputationalWorkflow"}
    assert workflow["encodingFormat"] == "text/x-snakemake"
    language = by_id[workflow["programmingLanguage"]["@id"]]
    assert language["@type"] == "ComputerLanguage" and language["name"] == "Snakemake"
    (run_id,) = _ids(root["mentions"])
    run = by_id[run_id]
    assert run["@type"] == "CreateAction" and run["instrument"] == {"@id": workflow["@id"]}
    objects = _ids(run["object"])
    assert "config.yaml" in objects
    manifest = json.loads((b / "manifest.json").read_text())
    inputs = {by_id[i]["name"]: by_id[i]["sha256"] for i in objects if i.startswith("#input/")}
    assert inputs == manifest["inputs"] and inputs  # the review's inputs, by checksum
    results = set(_ids(run["result"]))
    assert {"effects.csv", "strata/domain-glycemic/pooled.json", "CHANGES.md"} <= results
    assert not any(r.startswith("workflow/") for r in results)
    # the rules: tools of the workflow and its steps, in order
    steps = [by_id[s] for s in _ids(workflow["step"])]
    assert [s["@type"] for s in steps] == ["HowToStep"] * len(steps)
    names = [s["name"] for s in steps]
    assert {"bundle", "report", "all"} <= set(names)
    assert [int(s["position"]) for s in steps] == list(range(1, len(steps) + 1))
    tools = {by_id[t]["name"] for t in _ids(workflow["hasPart"]) if t.startswith("#rule-")}
    assert tools == set(names)
    assert all(by_id[s["workExample"]["@id"]]["@type"] == "SoftwareApplication" for s in steps)


def test_rules_are_read_from_the_workflow_files():
    sources = workflow_sources(None)
    assert "workflow/Snakefile" in sources and "workflow/rules/bundle.smk" in sources
    texts = {rel: p.read_text() for rel, p in sources.items()}
    names = [r for r, _f in rule_names(texts)]
    assert "bundle" in names and "all" in names and len(names) == len(set(names))
