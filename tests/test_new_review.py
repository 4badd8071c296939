"""A team starts its own review: ``livingreview init``, the empty review, docs/new-review.md.

The walkthrough test executes the fenced blocks of ``docs/new-review.md`` in
order (``console`` blocks: each ``$`` line through the shell; blocks with a
``title="path"``: that file's whole content), so the document cannot drift
from what the package does. It runs against a copy of the package outside
this checkout (symbolic links followed, as an installed wheel holds real
files): the project must need nothing from the repository.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from livingreview import cli, project
from livingreview.sheets import load_schema, load_sheet

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "new-review.md"
VENV_BIN = REPO / ".venv" / "bin"
BLOCK = re.compile(r'^```(\w+)(?: title="([^"]+)")?(?: edit="(keys)")?\n(.*?)^```\n', re.M | re.S)
TITLE = "Exercise for depression: a living review"


def walkthrough() -> list[tuple[str, str | None, str]]:
    """(kind, file path or None, text) of every fenced block of the document, in order.

    An ``edit="keys"`` block's kind is ``edit``: its keys replace the file's (two levels).
    """
    return [
        ("edit" if m.group(3) else m.group(1), m.group(2), m.group(4))
        for m in BLOCK.finditer(DOC.read_text())
    ]


def steps() -> list[tuple[str, str | None, str]]:
    """The walkthrough as a person does it: ``(edit|file|command, path or None, text)``.

    ``edit`` blocks change keys of a file, ``file`` blocks are files written by hand
    (a block of another kind than ``console`` with a path), ``command`` is one ``$``
    line of a ``console`` block.
    """
    out: list[tuple[str, str | None, str]] = []
    for kind, path, text in walkthrough():
        if kind == "edit":
            out.append(("edit", path, text))
        elif path is not None:
            out.append(("file", path, text))
        elif kind == "console":
            out += [("command", None, line[2:]) for line in text.splitlines() if line[:2] == "$ "]
    return out


def edit_keys(path: Path, text: str) -> None:
    """Write each ``section: {key: value}`` of ``text`` over the YAML file's, as a person would."""
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, keys in yaml.safe_load(text).items():
        config.setdefault(section, {}).update(keys)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package as an install holds it: a copy with the links to the workflow followed."""
    lib = tmp_path_factory.mktemp("site")
    shutil.copytree(
        REPO / "livingreview",
        lib / "livingreview",
        symlinks=False,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return lib


def env_for(lib: Path) -> dict[str, str]:
    """Commands see the copied package first, and the venv's ``livingreview`` on PATH."""
    return dict(
        os.environ,
        PYTHONPATH=str(lib),
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONHASHSEED="0",
    )


def shell(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"$ {command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def latest(review: Path) -> Path:
    bundles = review / "results" / "bundles"
    return bundles / (bundles / "LATEST").read_text().strip()


# --------------------------------------------------------------------------- init


def test_init_writes_a_valid_project_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    review = tmp_path / "r"
    assert cli.main(["init", str(review), "--title", TITLE]) == cli.EXIT_OK
    config = yaml.safe_load((review / "config" / "config.yaml").read_text())
    import jsonschema

    jsonschema.validate(config, load_schema(project.SCHEMA_DIR / "config.schema.yaml"))
    assert config["review"]["title"] == TITLE and config["inputs"]["root"] == "resources"
    assert "diabetes" not in (review / "config" / "config.yaml").read_text().lower()
    for folder in project.INPUT_FOLDERS:
        assert (review / "resources" / folder).is_dir(), folder
    assert (review / "requirements.txt").read_text().splitlines()[-1] == (
        f"livingreview=={project.package_version()}"
    )
    # every template: the schema's columns, and an example row the workflow would accept
    for sheet in project.SHEETS:
        path = review / "templates" / f"{sheet}.csv"
        header = path.read_text().splitlines()[0].split(",")
        schema = load_schema(project.SCHEMA_DIR / f"{sheet}.schema.yaml")
        assert header == project.template_columns(sheet)
        assert set(schema["required"]) <= set(header) <= set(schema["properties"])
        rows = load_sheet(path, schema)
        assert len(rows) == 1, sheet
    examples = project.EXAMPLES
    assert examples["studies"]["platform"] in config["extraction"]["stratifier"]["values"]
    domain = config["extraction"]["domains"][examples["outcomes"]["domain"]]
    assert examples["outcomes"]["outcome"] in [o for tier in domain["priority"] for o in tier]
    assert examples["screening"]["reason"] in config["screening"]["exclusion_reasons"]
    assert examples["screening"]["record_id"] == examples["studies"]["record_id"]
    # a second init on the same folder changes nothing
    before = (review / "config" / "config.yaml").read_text()
    assert cli.main(["init", str(review), "--title", "Other"]) == cli.EXIT_USAGE
    assert "overwrites nothing" in capsys.readouterr().err
    assert (review / "config" / "config.yaml").read_text() == before


def test_a_project_pinned_to_another_version_is_warned_about(tmp_path: Path) -> None:
    project.init(tmp_path / "r", TITLE)
    assert project.version_warning(tmp_path / "r") is None  # made by the running version
    pin = tmp_path / "r" / project.REQUIREMENTS
    pin.write_text(pin.read_text().replace(project.package_version(), "0.0.1"))
    warning = project.version_warning(tmp_path / "r")
    assert warning is not None and "livingreview==0.0.1" in warning
    assert project.version_warning(tmp_path) is None  # no requirements.txt: no pin


def test_package_data_ships_every_workflow_file() -> None:
    """pyproject's package-data globs cover each file the workflow reads from the package."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["livingreview"]
    package = REPO / "livingreview"
    needed = [package / "Snakefile"]
    for folder in ("workflow", "scripts", "profiles", "templates"):
        needed += [p for p in (package / folder).rglob("*") if p.is_file()]
    needed = [p for p in needed if "__pycache__" not in p.parts]
    assert len(needed) > 20
    for path in needed:
        rel = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), rel
    # the package's copy of the workflow is the repository's (links, not a second copy)
    for name in ("Snakefile", "workflow", "scripts", "profiles"):
        assert (package / name).resolve() == (REPO / name).resolve()


# --------------------------------------------------------------------------- the walkthrough


def test_walkthrough(tmp_path: Path, installed: Path) -> None:
    """docs/new-review.md, executed: from init, through an empty review, to four pooled trials."""
    env = env_for(installed)
    review = tmp_path / "my-review"
    published: list[str] = []
    blocks = walkthrough()
    assert sum(kind == "console" for kind, _, _ in blocks) >= 5
    for kind, path, text in steps():
        if kind == "edit":
            edit_keys(tmp_path / path, text)
        elif kind == "file":
            assert path.startswith("my-review/"), path
            if "/extraction/studies/" in path:
                _check_from_queue(review, path, text)
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        else:
            out = shell(text, tmp_path, env).stdout
            if " update " in text:
                published.append(latest(review).name)
                log = sorted((review / "results" / "logs").glob("2*.log"))[-1].read_text()
                # the installed copy's workflow ran, not the checkout's
                assert f"--snakefile {installed / 'livingreview' / 'Snakefile'}" in log
                _check_step(review, len(published), out)
            if " status " in text:
                assert "results/screening/queue/<reviewer>.csv" in out
                assert "_unscreened.csv" in out
    assert len(published) == 7 and len(set(published)) == 7  # each run published a version


def _check_from_queue(review: Path, path: str, text: str) -> None:
    """A studies sheet of the walkthrough is a filled-in copy of the extractor's queue."""
    queue = review / "results" / "extraction" / "queue"
    who = Path(path).stem.split("-")[0]
    source = (
        queue / f"{who}.csv" if (queue / f"{who}.csv").is_file() else queue / "_unextracted.csv"
    )
    lines = source.read_text(encoding="utf-8").splitlines()
    sheet = text.splitlines()
    assert sheet[0] == lines[0], f"{path}: the header is not the queue's ({source.name})"
    prefilled = {line.split(",")[1]: line.split(",")[:3] for line in lines[1:]}
    for row in sheet[1:]:
        cells = row.split(",")
        assert prefilled.get(cells[1]) == cells[:3], f"{path}: {row} is not in {source.name}"


def _strata(review: Path) -> dict:
    return json.loads((latest(review) / "strata" / "strata.json").read_text())


def _check_step(review: Path, step: int, out: str) -> None:
    """What each ``livingreview update`` of the walkthrough must have published."""
    bundle = latest(review)
    report = (bundle / "report" / "index.html").read_text(encoding="utf-8")
    prisma = json.loads((bundle / "screening" / "prisma.json").read_text())
    queue = review / "results" / "screening" / "queue"
    assert "published version" in out
    assert TITLE in report
    if step == 1:  # 0 records
        assert prisma["records"] == 0 and prisma["identified_total"] == 0
        assert "No pooled analyses yet" in report and "No decisions yet" in report
    elif step == 2:  # 4 records, 0 decisions: header-only files give full queues
        assert (prisma["records"], prisma["screened"], prisma["included_studies"]) == (4, 0, 0)
        for who in ("ana", "ben", "_unscreened"):
            rows = (queue / f"{who}.csv").read_text().splitlines()
            assert len(rows) == 5, who  # header + every record
        assert "No pooled analyses yet" in report and "No decisions yet" in report
    elif step == 3:  # screened: three trials included, none extracted; extraction queue
        assert (prisma["records"], prisma["excluded_title_abstract"]) == (4, 1)
        assert prisma["included_studies"] == 3
        assert "No pooled analyses yet" in report
        assert "Agreement between reviewers" in report and "No decisions yet" not in report
        assert len((queue / "_unscreened.csv").read_text().splitlines()) == 1
        todo = review / "results" / "extraction" / "queue" / "_unextracted.csv"
        assert [line.split(",")[0] for line in todo.read_text().splitlines()] == [
            "study_id",
            "smith2024",
            "lee2025",
            "garcia2025",
        ]
    elif step == 4:  # three trials extracted: the first pooled analysis
        pooled = json.loads((bundle / "strata" / "domain-primary" / "pooled.json").read_text())
        assert pooled["k"] == 3 and pooled["reported"] and pooled["estimate"] < 0
        assert "No pooled analyses yet" not in report
        discrepancies = review / "results" / "extraction" / "discrepancies.csv"
        assert len(discrepancies.read_text().splitlines()) == 1  # the two extractions agree
        # the team's own stratifier names the strata and labels the report (issue 15)
        assert sorted(_strata(review)) == [
            "domain-primary",
            "domain-primary_exercise_type-aerobic",
            "domain-primary_exercise_type-resistance",
        ]
        assert (bundle / "strata" / "domain-primary_exercise_type-aerobic" / "forest.svg").is_file()
        assert "Exercise type x domain" in report and "All exercise types" in report
        assert "Platform" not in report and "platform" not in report.replace("platform_domain", "")
        assert '<a href="#s-domain-primary_exercise_type-aerobic">' in report
        # ... and its moderator is in the meta-regression
        metareg = json.loads((bundle / "metareg" / "primary.json").read_text())
        assert metareg["moderators"] == ["supervised"] and metareg["reported"], metareg
        assert [c["term"] for c in metareg["coefficients"]] == ["intercept", "supervised"]
        for who in ("ana", "ben", "_unextracted"):
            rows = (review / "results" / "extraction" / "queue" / f"{who}.csv").read_text()
            assert len(rows.splitlines()) == 1, who  # nothing left to extract
    elif step == 5:  # second search: one new record, one found again; cleo's queue
        assert (prisma["identified_total"], prisma["duplicates_removed"]) == (6, 1)
        assert prisma["records"] == 5
        cleo = (queue / "cleo.csv").read_text().splitlines()
        assert len(cleo) == 2 and cleo[1].startswith("40000005,")
    elif step == 6:  # the new record screened by cleo and ana: in ana's and ben's queues
        assert prisma["included_studies"] == 4
        assert _strata(review)["domain-primary"]["k"] == 3
        for who in ("ana", "ben"):
            rows = (review / "results" / "extraction" / "queue" / f"{who}.csv").read_text()
            assert rows.splitlines()[1].startswith("okafor2026,40000005,Okafor et al. (2026),")
    elif step == 7:  # the new trial extracted
        assert prisma["included_studies"] == 4
        assert _strata(review)["domain-primary"]["k"] == 4
        assert "okafor2026" in (bundle / "CHANGES.md").read_text()


def test_review_with_decisions_but_no_included_study_publishes(tmp_path: Path) -> None:
    """Every record excluded: the run publishes PRISMA, agreement and no pooled analyses."""
    review = tmp_path / "r"
    assert cli.main(["init", str(review), "--title", TITLE]) == cli.EXIT_OK
    export = next(text for _, path, text in walkthrough() if path and "/exports/" in path)
    root = review / "resources"
    (root / "search" / "exports" / "scopus").mkdir()
    (root / "search" / "exports" / "scopus" / "first.csv").write_text(export)
    ids = [line.rsplit(",", 1)[1] for line in export.splitlines()[1:]]
    for who in ("ana", "ben"):
        rows = "".join(f"{i},exclude,wrong population,,2027-01-12\n" for i in ids)
        (root / "screening" / "title_abstract" / f"{who}.csv").write_text(
            "record_id,decision,reason,note,date\n" + rows
        )
    shell(
        f"livingreview update -d {review} --cores 2 --config inputs.quiet_period_s=0",
        tmp_path,
        env_for(REPO),
    )
    bundle = latest(review)
    prisma = json.loads((bundle / "screening" / "prisma.json").read_text())
    assert (prisma["records"], prisma["screened"], prisma["excluded_title_abstract"]) == (4, 4, 4)
    assert (prisma["fulltext_assessed"], prisma["included_studies"]) == (0, 0)
    report = (bundle / "report" / "index.html").read_text(encoding="utf-8")
    assert "No pooled analyses yet</strong>: 0 included studies" in report
    agreement = json.loads((review / "results" / "screening" / "agreement.json").read_text())
    assert agreement["stages"]["title_abstract"]["ana-ben"]["percent_agreement"] == 1.0
    assert "Agreement between reviewers" in report and "No decisions yet" not in report
    assert (review / "results" / "screening" / "queue" / "_unscreened.csv").read_text().count(
        "\n"
    ) == 1  # the header only


def test_update_of_a_folder_that_is_no_project_exits_2(tmp_path: Path, capsys) -> None:
    assert cli.main(["update", "-d", str(tmp_path)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "livingreview init" in err and str(tmp_path) in err


def test_contracts_lists_the_csv_export_columns_the_reader_accepts() -> None:
    from livingreview.search.export_readers import CSV_COLUMNS

    text = (REPO / "docs" / "contracts.md").read_text()
    table = dict(re.findall(r"^\| `(\w+)` \| (`.*`) \|$", text, re.M))
    assert {
        field: tuple(re.findall(r"`([^`]+)`", names))
        for field, names in table.items()
        if field in CSV_COLUMNS
    } == CSV_COLUMNS
