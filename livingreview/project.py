"""A review project outside this repository: ``livingreview init`` and where the workflow lives.

The workflow (``Snakefile``, ``workflow/rules``, ``workflow/schemas``,
``scripts/``, ``profiles/``) ships inside the installed package, beside this
module, as Snakemake's deployment conventions suggest: a project folder holds
only the review's own files (``config/config.yaml`` and the inputs under
``resources/``), and ``livingreview update -d <project>`` runs the package's
Snakefile with the project as Snakemake's working directory. A folder with its
own ``Snakefile`` (this repository, running the shipped demo) runs that one.

:func:`init` writes a new project: a commented configuration for a generic
review, the input tree, a header-and-one-example-row template for every sheet
(the headers come from the sheet schemas, so they are written once), a README
for the team and the package version the project was made with.
"""

from __future__ import annotations

import csv
import io
import os
import re
import string
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from . import clock
from .errors import LivingReviewError
from .io import write_text

# The package's own files (package data, see pyproject.toml), never the checkout's.
PACKAGE_DIR = Path(str(files(__package__)))
SNAKEFILE = PACKAGE_DIR / "Snakefile"
SCHEMA_DIR = PACKAGE_DIR / "workflow" / "schemas"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
CONFIG = Path("config") / "config.yaml"
INPUT_ROOT = "resources"  # inputs.root of a new project
REQUIREMENTS = "requirements.txt"  # the pinned package version

#: The input tree of a new project (under ``inputs.root``), each folder kept by a ``.gitkeep``.
INPUT_FOLDERS = (
    "search/pubmed",  # snapshots written by search.mode: live (append-only)
    "search/exports",  # <database>/<file>.ris|.nbib|.txt|.csv, one folder per database
    "screening/title_abstract",  # <reviewer>.csv
    "screening/full_text",  # <reviewer>.csv
    "extraction/studies",  # <extractor>.csv
    "extraction/outcomes",  # <extractor>.csv
    "grade",  # adjudication.csv: the team's GRADE decisions
)

#: Sheet -> where the team puts it (under inputs.root); the template is templates/<sheet>.csv.
SHEETS = {
    "screening": "screening/title_abstract/<reviewer>.csv or screening/full_text/<reviewer>.csv",
    "adjudication": "screening/adjudication.csv",
    "studies": "extraction/studies/<extractor>.csv",
    "outcomes": "extraction/outcomes/<extractor>.csv",
    "resolutions": "extraction/resolutions.csv",
    "grade_adjudication": "grade/adjudication.csv",
}

#: One example row per sheet (columns not named stay empty). A test checks each row
#: against its sheet's schema and the configuration written by :func:`init`.
EXAMPLES: dict[str, dict[str, str]] = {
    "screening": {
        "record_id": "12345678",
        "decision": "exclude",
        "reason": "not an RCT",
        "note": "cohort study",
        "date": "2027-01-15",
    },
    "adjudication": {
        "record_id": "12345678",
        "stage": "title_abstract",
        "decision": "exclude",
        "reason": "not an RCT",
        "adjudicator": "third",
        "note": "discussed at the team meeting",
        "date": "2027-01-20",
    },
    "studies": {
        "study_id": "smith2024",
        "record_id": "12345678",
        "citation": "Smith et al. (2024)",
        "country": "Norway",
        "design": "individual",
        "platform": "type-a",
        "followup_weeks": "12",
        "n_total": "120",
        **{f"rob_d{i}": "low" for i in range(1, 6)},
        "rob_overall": "low",
    },
    "outcomes": {
        "study_id": "smith2024",
        "domain": "primary",
        "outcome": "primary scale",
        "timepoint_weeks": "12",
        "form": "means",
        "favourable": "lower",
        "m1": "10.2",
        "sd1": "4.1",
        "n1": "60",
        "m2": "12.0",
        "sd2": "4.3",
        "n2": "58",
    },
    "resolutions": {
        "sheet": "studies",
        "key": "smith2024",
        "field": "followup_weeks",
        "value": "12",
        "note": "agreed: Table 2 reports 12 weeks",
    },
    "grade_adjudication": {
        "domain": "primary",
        "grade_domain": "imprecision",
        "decision": "serious",
        "reason": "the interval includes the minimal important difference",
        "adjudicator": "ana",
    },
}


def schema_dir(basedir: str | Path) -> str:
    """The sheet schemas beside a Snakefile in ``basedir``, as the rules name them.

    Relative to the working directory when they are inside it (the repository
    running its demo: ``workflow/schemas``, as before), else absolute (a
    project made by :func:`init` runs the installed package's copy).
    """
    path = Path(basedir) / "workflow" / "schemas"
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path.absolute())


def snakefile(project: str | Path) -> Path:
    """The project's own Snakefile if it has one (this repository), else the package's."""
    own = Path(project) / "Snakefile"
    return own if own.is_file() else SNAKEFILE


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("livingreview")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown"


def version_warning(project: str | Path) -> str | None:
    """A warning when the project pins another livingreview version than the one running.

    The pin is the ``livingreview==X`` line :func:`init` wrote to ``requirements.txt``;
    a project without one (this repository) gets no warning.
    """
    path = Path(project) / REQUIREMENTS
    if not path.is_file():
        return None
    m = re.search(r"^livingreview==(\S+)\s*$", path.read_text(encoding="utf-8"), re.M)
    running = package_version()
    if m is None or m.group(1) == running:
        return None
    return (
        f"{path} pins livingreview=={m.group(1)} but livingreview {running} is running; "
        f"install the pinned version (pip install -r {REQUIREMENTS}) or update the pin"
    )


def template_columns(sheet: str) -> list[str]:
    """The columns of a sheet's template: its schema's properties, in the schema's order.

    The screening template leaves out the columns only a queue file carries
    (accepted when a filled-in queue is dropped in, never typed by hand).
    """
    from .screening.columns import QUEUE_COLUMNS, QUEUE_FILL_IN
    from .sheets import load_schema

    columns = list(load_schema(SCHEMA_DIR / f"{sheet}.schema.yaml")["properties"])
    if sheet == "screening":
        queue_only = set(QUEUE_COLUMNS) - set(QUEUE_FILL_IN) - {"record_id"}
        columns = [c for c in columns if c not in queue_only]
    return columns


def template_text(sheet: str) -> str:
    """A sheet template: the header and one example row (CSV)."""
    columns = template_columns(sheet)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow([EXAMPLES[sheet].get(c, "") for c in columns])
    return out.getvalue()


def slug(title: str) -> str:
    """A short name for the review from its title (``[a-z0-9-]``, at most 5 words).

    >>> slug("Exercise for depression: a living review")
    'exercise-for-depression-a-living'
    """
    words = re.findall(r"[a-z0-9]+", title.lower())[:5]
    return "-".join(words) or "review"


def _render(name: str, values: Mapping[str, Any]) -> str:
    text = (TEMPLATE_DIR / name).read_text(encoding="utf-8")
    return string.Template(text).substitute(values)


def init(dest: str | Path, title: str, *, short_name: str | None = None) -> list[Path]:
    """Create a new review project in ``dest`` (empty or missing); returns the files written.

    Raises LivingReviewError when ``dest`` already holds a configuration or a
    results folder (nothing is overwritten).
    """
    dest = Path(dest)
    for existing in (dest / CONFIG, dest / "results", dest / INPUT_ROOT):
        if existing.exists():
            raise LivingReviewError(
                f"{existing} exists: livingreview init makes a new project and overwrites "
                "nothing; choose an empty or new folder"
            )
    title = " ".join(title.split())
    if not title:
        raise LivingReviewError("--title: give the review's title")
    version = package_version()
    values = {
        "title": title.replace('"', "'"),
        "short_name": short_name or slug(title),
        "start_date": clock.today().isoformat(),
        "version": version,
        "input_root": INPUT_ROOT,
        "sheets": "\n".join(
            f"| `templates/{sheet}.csv` | `{INPUT_ROOT}/{where}` |"
            for sheet, where in SHEETS.items()
        ),
    }
    files = {
        CONFIG: _render("config.yaml", values),
        Path("README.md"): _render("README.md", values),
        Path(REQUIREMENTS): (
            "# The livingreview version this review was set up with; install it with\n"
            f"#   python3 -m venv .venv && .venv/bin/pip install -r {REQUIREMENTS}\n"
            f"livingreview=={version}\n"
        ),
        Path(".gitignore"): "results/\n.snakemake/\n.venv/\n",
    }
    files |= {Path("templates") / f"{sheet}.csv": template_text(sheet) for sheet in SHEETS}
    files |= {Path(INPUT_ROOT) / folder / ".gitkeep": "" for folder in INPUT_FOLDERS}
    written = []
    for rel, text in files.items():
        write_text(dest / rel, text)
        written.append(dest / rel)
    return written
