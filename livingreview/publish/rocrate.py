"""The bundle's ``ro-crate-metadata.json``: RO-Crate 1.2 with the Workflow Run Crate profile.

A version is the result of one Snakemake run, so the crate describes it as
Workflow Run Crate 0.5 asks (https://w3id.org/ro/wfrun/workflow/0.5, which
extends Process Run Crate 0.5 and Workflow RO-Crate 1.0): the root dataset
conforms to the three profiles and names the workflow as ``mainEntity``; the
workflow (``workflow/Snakefile`` with its rule files, copied into the bundle
so the crate is self-contained) is a ``File``, ``SoftwareSourceCode`` and
``ComputationalWorkflow`` in the Snakemake language, whose rules are
``SoftwareApplication`` parts and ``HowToStep`` steps; one ``CreateAction``
(the run) has the workflow as ``instrument``, the review's inputs (files
under ``inputs.root``, named with their SHA-256 as they are not in the
bundle) and ``config.yaml`` as ``object``, and the published files as
``result``. Everything is derived from the bundle's content and its date, so
the same inputs give the same crate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..project import PACKAGE_DIR

__all__ = ["CRATE", "WORKFLOW_DIR", "ro_crate", "rule_names", "workflow_sources"]

CRATE = "ro-crate-metadata.json"
WORKFLOW_DIR = "workflow"  # the workflow definition inside a bundle
RO_CRATE = "https://w3id.org/ro/crate/1.2"
WORKFLOW_RO_CRATE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0"
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": ("Process Run Crate", "0.5"),
    "https://w3id.org/ro/wfrun/workflow/0.5": ("Workflow Run Crate", "0.5"),
    WORKFLOW_RO_CRATE: ("Workflow RO-Crate", "1.0"),
}
CONTEXT = [f"{RO_CRATE}/context", "https://w3id.org/ro/terms/workflow-run/context"]
SNAKEMAKE = "https://w3id.org/workflowhub/workflow-ro-crate#snakemake"
RULE_RE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.M)
KINDS = {".csv": "text/csv", ".json": "application/json", ".svg": "image/svg+xml",
         ".png": "image/png", ".html": "text/html", ".md": "text/markdown",
         ".yaml": "application/yaml", ".cff": "application/yaml", ".ris":
         "application/x-research-info-systems", ".R": "text/x-r", ".smk": "text/x-snakemake",
         ".zip": "application/zip"}  # fmt: skip


def workflow_sources(repo: str | Path | None) -> dict[str, Path]:
    """Bundle path -> source of the workflow definition: the Snakefile and its rule files.

    Taken from the pipeline checkout ``repo`` when it holds them (the
    workflow that ran), else from the installed package.
    """
    roots = [Path(repo)] if repo is not None else []
    roots.append(PACKAGE_DIR)
    for root in roots:
        rules = root / "workflow" / "rules"
        if (root / "Snakefile").is_file() and rules.is_dir():
            out = {f"{WORKFLOW_DIR}/Snakefile": root / "Snakefile"}
            for p in sorted(rules.glob("*.smk")):
                out[f"{WORKFLOW_DIR}/rules/{p.name}"] = p
            return out
    return {}


def rule_names(texts: Mapping[str, str]) -> list[tuple[str, str]]:
    """(rule, file) for every ``rule``/``checkpoint`` defined, in file order.

    >>> rule_names({"workflow/rules/a.smk": "rule fit:\\n    input: 'x'\\ncheckpoint split:\\n"})
    [('fit', 'workflow/rules/a.smk'), ('split', 'workflow/rules/a.smk')]
    """
    return [(m.group(1), rel) for rel, text in texts.items() for m in RULE_RE.finditer(text)]


def _file(rel: str, sha: str, size: int) -> dict[str, Any]:
    return {"@id": rel, "@type": "File", "name": rel, "sha256": sha, "contentSize": str(size),
            "encodingFormat": "text/x-snakemake" if Path(rel).name == "Snakefile"
            else KINDS.get(Path(rel).suffix, "application/octet-stream")}  # fmt: skip


def ro_crate(
    stage: Path,
    files: Mapping[str, str],
    *,
    version: str,
    date: str,
    title: str,
    license_id: str,
    inputs: Mapping[str, str],
    snakemake_version: str | None,
) -> dict[str, Any]:
    """The crate of the bundle in ``stage`` whose files (path -> SHA-256, crate excluded) are ``files``."""
    parts = [_file(rel, sha, (stage / rel).stat().st_size) for rel, sha in sorted(files.items())]
    main = f"{WORKFLOW_DIR}/Snakefile"
    texts = {
        rel: (stage / rel).read_text(encoding="utf-8")
        for rel in sorted(files)
        if rel == main or (rel.startswith(f"{WORKFLOW_DIR}/rules/") and rel.endswith(".smk"))
    }
    rules = rule_names(texts)
    entities: dict[str, dict[str, Any]] = {p["@id"]: p for p in parts}
    run_id = "#snakemake-run"  # one run per crate
    if main in entities:
        entities[main] = dict(
            entities[main],
            **{
                "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
                "name": "livingreview workflow",
                "programmingLanguage": {"@id": SNAKEMAKE},
                "hasPart": [{"@id": f"#rule-{r}"} for r, _f in rules]
                + [{"@id": rel} for rel in texts if rel != main],
                "step": [{"@id": f"#step-{r}"} for r, _f in rules],
            },
        )
    steps = []
    for i, (rule, rel) in enumerate(rules, start=1):
        steps.append({"@id": f"#rule-{rule}", "@type": "SoftwareApplication", "name": rule,
                      "description": f"Snakemake rule {rule} ({rel})", "subjectOf": {"@id": rel}})  # fmt: skip
        steps.append({"@id": f"#step-{rule}", "@type": "HowToStep", "name": rule,
                      "position": str(i), "workExample": {"@id": f"#rule-{rule}"}})  # fmt: skip
    input_entities = [
        {
            "@id": f"#input/{rel}",
            "@type": "File",
            "name": rel,
            "sha256": sha,
            "description": "Input under inputs.root (not part of the bundle)",
        }  # fmt: skip
        for rel, sha in sorted(inputs.items())
    ]
    outputs = [rel for rel in sorted(files) if not rel.startswith(f"{WORKFLOW_DIR}/")]
    run = {
        "@id": run_id,
        "@type": "CreateAction",
        "name": f"Snakemake run that published version {version}",
        "endTime": date,
        "instrument": {"@id": main},
        "object": [{"@id": e["@id"]} for e in input_entities]
        + ([{"@id": "config.yaml"}] if "config.yaml" in files else []),
        "result": [{"@id": rel} for rel in outputs],
    }
    language = {"@id": SNAKEMAKE, "@type": "ComputerLanguage", "name": "Snakemake",
                "identifier": {"@id": "https://doi.org/10.12688/f1000research.29032.2"},
                "url": {"@id": "https://snakemake.readthedocs.io"}}  # fmt: skip
    if snakemake_version:
        language["version"] = snakemake_version
    root = {
        "@id": "./",
        "@type": "Dataset",
        "name": f"{title} (version {version})",
        "description": "Living systematic review results bundle produced by livingreview.",
        "datePublished": date,
        "version": version,
        "license": {"@id": f"https://spdx.org/licenses/{license_id}"},
        "conformsTo": [{"@id": p} for p in PROFILES],
        "hasPart": [{"@id": p["@id"]} for p in parts],
        "mentions": [{"@id": run_id}],
    }
    if main in entities:
        root["mainEntity"] = {"@id": main}
    return {
        "@context": CONTEXT,
        "@graph": [
            {
                "@id": CRATE,
                "@type": "CreativeWork",
                "about": {"@id": "./"},
                "conformsTo": [{"@id": RO_CRATE}, {"@id": WORKFLOW_RO_CRATE}],
            },  # fmt: skip
            root,
            *(
                {"@id": p, "@type": "CreativeWork", "name": n, "version": v}
                for p, (n, v) in PROFILES.items()
            ),  # fmt: skip
            {
                "@id": f"https://spdx.org/licenses/{license_id}",
                "@type": "CreativeWork",
                "name": license_id,
            },  # fmt: skip
            *entities.values(),
            language,
            *steps,
            run,
            *input_entities,
        ],
    }
