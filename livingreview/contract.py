"""The file contract of the workflow, written once: stratum names, per-stratum files, bundle files.

Rules (``workflow/rules/*.smk``), the ``stratify`` checkpoint's clean-up and the
bundle all read these lists, so a file added to one cannot be forgotten by the
others (a stale ``funnel.png`` was once published because the clean-up had its
own, shorter list). Snakemake imports this module while it builds the DAG, so
it imports nothing heavy (no pandas, no numpy).

Stratum names (ARCHITECTURE.md, "Stratum identifiers"):

- ``domain-<d>``: every effect of outcome domain ``d``;
- ``domain-<d>_<key>-<v>``: the effects of ``d`` from trials whose stratifier
  (``extraction.stratifier.column`` = ``key``, e.g. ``platform``) is ``v``;
- ``<key>-<v>``: the stratifier overview (several effects per trial: multilevel model).

The key is lower-case letters, digits and ``_`` (never ``domain``), a value a slug,
so a name parses without knowing the configuration.

It also names the configuration keys that only say how to run (where to
search, whom NCBI may contact, time-outs): they are left out of what a
version publishes, so changing them never creates a new version.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
KEY = r"(?!domain-)[a-z][a-z0-9_]*"  # the stratifier's column (livingreview.stratifier)
# The wildcard constraint of `stratum` in the workflow (no named groups: Snakemake's own).
STRATUM_PATTERN = rf"(?:domain-{SLUG}(?:_[a-z][a-z0-9_]*-{SLUG})?|{KEY}-{SLUG})"
STRATUM_RE = re.compile(
    rf"^(?:domain-(?P<domain>{SLUG})(?:_(?P<dkey>[a-z][a-z0-9_]*)-(?P<dp>{SLUG}))?"
    rf"|(?P<key>{KEY})-(?P<platform>{SLUG}))$"
)

STRATA_DIR = "results/strata"
STRATA_INDEX = f"{STRATA_DIR}/strata.json"
# Written by the stratify checkpoint into each stratum folder.
DATA_FILE = "data.csv"
# Written by the per-stratum job for every stratum (output name -> file name).
STRATUM_OUTPUTS = {
    "pooled": "pooled.json",
    "loo": "loo.csv",
    "influence": "influence.csv",
    "forest": "forest.svg",
    "forest_png": "forest.png",
}
# Written in addition only when k >= analysis.min_k_funnel (the protocol forbids them below).
FUNNEL_OUTPUTS = {
    "egger": "egger.json",
    "funnel": "funnel.svg",
    "funnel_png": "funnel.png",
}
# Every file a stratum folder may hold; anything else in it is stale.
STRATUM_FILES = (DATA_FILE, *STRATUM_OUTPUTS.values(), *FUNNEL_OUTPUTS.values())

# One meta-regression per domain stratum, plus `overall` (every continuous domain).
METAREG_DIR = "results/metareg"
METAREG_OVERALL = "overall"

# Certainty of evidence (livingreview.evidence.grade): one job after the domain strata. The team's
# decisions are read from GRADE_ADJUDICATION under inputs.root when it exists.
GRADE_DIR = "results/grade"
GRADE_OUTPUTS = {"ratings": "grade.json", "sof": "sof.csv"}
GRADE_ADJUDICATION = "grade/adjudication.csv"
# Cumulative meta-analysis by publication year of each pooled domain: one table, and
# one figure per configured domain (<domain>.svg/.png; "not pooled" until it is), all
# published. Named files, not a directory output: a killed job leaves nothing behind.
CUMULATIVE_DIR = "results/cumulative"
CUMULATIVE_TABLE = "cumulative.csv"


BUNDLES_DIR = "results/bundles"  # the published versions, LATEST, the bundle rule's marker


def cumulative_files(domains: list[str] | tuple[str, ...]) -> list[str]:
    """The files of ``CUMULATIVE_DIR`` for the configured outcome domains."""
    return [CUMULATIVE_TABLE, *(f"{d}.{ext}" for d in domains for ext in ("svg", "png"))]


# Files of results/ a version publishes as they are: source (under results/) -> path in the bundle.
# Besides these: report/**, metareg/*.json, cumulative/*, strata/<stratum>/<STRATUM_FILES>,
# config.yaml.
BUNDLE_FILES = {
    "effects/effects.csv": "effects.csv",
    "extraction/studies.csv": "studies.csv",
    "records/summary.json": "records/summary.json",
    "screening/prisma.json": "screening/prisma.json",
    # the report's agreement table: what the page shows must be in the fingerprint
    "screening/agreement.json": "screening/agreement.json",
    # the retraction and correction watch: notices on records that reached full text
    "screening/watch.csv": "screening/watch.csv",
    # how the queues were ordered: the model, its training counts, likely relevant per queue
    "screening/prioritise.json": "screening/prioritise.json",
    # audit trail: explains the next version's changes; not in the fingerprint (bundle.AUDIT)
    "screening/decisions.csv": "screening/decisions.csv",
    "design_check.json": "design_check.json",
    "strata/strata.json": "strata/strata.json",
    **{f"grade/{name}": f"grade/{name}" for name in GRADE_OUTPUTS.values()},
}

# Configuration keys that say how to run, not what the review is: never published,
# so a new e-mail address or time-out does not make a new version.
RUN_KEYS = (
    ("search", "mode"),
    ("search", "eutils_url"),
    ("search", "email"),
    ("search", "tool"),
    ("search", "batch_size"),
    ("search", "max_retries"),
    ("search", "timeout_s"),
    ("search", "max_retry_after_s"),
    ("inputs", "quiet_period_s"),
)

# Whole sections that say how to run or publish (publish.allow_removals is for one run;
# alerts say whom to tell, not what the review found).
RUN_SECTIONS = ("publish", "alerts")


def stratum_name(
    domain: str | None = None, platform: str | None = None, *, key: str = "platform"
) -> str:
    """``domain-<d>``, ``domain-<d>_<key>-<v>`` or ``<key>-<v>`` (``platform``: the value).

    ``key`` is the stratifier's column (``extraction.stratifier.column``).
    """
    if domain and platform:
        return f"domain-{domain}_{key}-{platform}"
    if domain:
        return f"domain-{domain}"
    if platform:
        return f"{key}-{platform}"
    raise ValueError("a stratum needs a domain, a stratifier value or both")


def parse_stratum(name: str) -> dict[str, str | None]:
    """Inverse of :func:`stratum_name`: ``{kind, domain, platform}`` (pooled.json's fields).

    ``kind`` is ``domain``, ``domain-platform`` (a domain within one stratifier
    value) or ``platform`` (the stratifier overview), whatever the stratifier is:
    these names, like the field ``platform`` (the stratifier's value), predate
    the configurable stratifier and are kept so published files keep their bytes.
    """
    match = STRATUM_RE.match(name)
    if not match:
        raise ValueError(f"not a stratum name: {name!r}")
    if match["platform"]:
        return {"kind": "platform", "domain": None, "platform": match["platform"]}
    if match["dp"]:
        return {"kind": "domain-platform", "domain": match["domain"], "platform": match["dp"]}
    return {"kind": "domain", "domain": match["domain"], "platform": None}


def has_funnel(k: int, min_k_funnel: int) -> bool:
    """Whether a stratum of ``k`` effects gets Egger's test and a funnel plot."""
    return k >= min_k_funnel


def several_effects_per_trial(info: Mapping[str, Any]) -> bool:
    """Whether a ``strata.json`` entry has a trial with several effects (``k > n_studies``).

    Such a stratum is pooled with the multilevel model (``analysis.dependence``),
    so only its job gets those settings as params: changing them reruns exactly
    the strata that use them. ``analysis.several_effects_per_trial`` says the
    same of a stratum's ``data.csv``.
    """
    return int(info["k"]) > int(info["n_studies"])


def stratum_outputs(k: int, min_k_funnel: int) -> dict[str, str]:
    """Output name -> file name of the per-stratum job for a stratum of ``k`` effects."""
    return {**STRATUM_OUTPUTS, **(FUNNEL_OUTPUTS if has_funnel(k, min_k_funnel) else {})}


def stratum_files(k: int, min_k_funnel: int) -> tuple[str, ...]:
    """Every file a stratum folder holds once the workflow ran (``data.csv`` included)."""
    return (DATA_FILE, *stratum_outputs(k, min_k_funnel).values())


def metareg_names(index: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The meta-regressions of a ``strata.json`` index: each domain's, then ``overall``."""
    domains = sorted(str(v["domain"]) for v in index.values() if v["kind"] == "domain")
    return [*domains, METAREG_OVERALL]


def published_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without the :data:`RUN_KEYS`: what a version publishes as ``config.yaml``."""
    out = copy.deepcopy(dict(config))
    for section, key in RUN_KEYS:
        if isinstance(out.get(section), dict):
            out[section].pop(key, None)
    for section in RUN_SECTIONS:
        out.pop(section, None)
    return out


#: The shipped studies schema's yes/no study-level columns (the demo review's moderators):
#: carried from the studies sheets into effects.csv and every stratum's data.csv.
DEMO_MODERATORS = ("interactivity", "moderation", "feedback", "care_integration")


def record_sort_key(record_id: str) -> tuple[int, int, str]:
    """The order of record ids in every output: PMIDs numerically, then the others.

    >>> sorted(["scopus-1a", "900", "12"], key=record_sort_key)
    ['12', '900', 'scopus-1a']
    """
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


def optional_input(files: Any) -> Any:
    """An optional input as a path or None: a rule lists one as a list of none or one.

    >>> optional_input([]), optional_input(["a.csv"]), optional_input("a.csv")
    (None, 'a.csv', 'a.csv')
    """
    if files is None or isinstance(files, str | PurePath):
        return files
    return files[0] if files else None
