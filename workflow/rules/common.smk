# Everything that is not a rule: config validation, stratum lists read after the
# checkpoint, input functions and the targets of `all` and `analyses`.
import json
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from livingreview import contract
from livingreview.config_check import check_config_files, check_inputs, check_references
from livingreview.project import schema_dir
from livingreview.screening.files import sheet_paths
from livingreview.analysis.moderators import parse_moderators, unknown_moderators
from livingreview.sheets import load_schema
from livingreview.stratifier import Stratifier, old_keys_message

check_config_files(workflow.configfiles)  # duplicate keys, alias bombs
try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as exc:
    sources = ", ".join(str(f) for f in workflow.configfiles) or "the configuration"
    hint = ""
    if "stages" in (config.get("screening") or {}):  # a key of older configurations
        hint = (
            "\nscreening.stages is no longer a setting: delete it. Screening always has "
            "two stages, title/abstract then full text (<inputs.root>/screening/"
            "title_abstract/ and full_text/), as the PRISMA 2020 flow reports them."
        )
    old_keys = old_keys_message(config)  # keys of configurations before issue 15
    if old_keys:
        hint = f"{hint}\n{old_keys}"
    raise WorkflowError(
        f"{sources} (with any --config overrides) does not match "
        f"workflow/schemas/config.schema.yaml: {exc}{hint}"
    ) from None
check_references(config, workflow.configfiles)
# input folders and quiet period: once per run, not again in every cluster job
if workflow.is_main_process:
    check_inputs(config, workflow.configfiles)


wildcard_constraints:
    stratum=contract.STRATUM_PATTERN,
    domain=r"[a-z0-9]+(?:-[a-z0-9]+)*",


ANALYSIS = config["analysis"]
# The sheet schemas beside the rules: "workflow/schemas" in the repository; the
# installed package's copy (an absolute path) for a project made by `livingreview init`.
SCHEMA_DIR = schema_dir(workflow.basedir)
EXTRACTION = config["extraction"]
STRATIFIER = Stratifier.from_config(EXTRACTION)  # parsed once: column, label, values
_unknown = unknown_moderators(
    parse_moderators(ANALYSIS["moderators"])[0],
    [
        *load_schema(f"{SCHEMA_DIR}/studies.schema.yaml")["properties"],
        *EXTRACTION["study_columns"],
        STRATIFIER.column,
    ],
)
if _unknown:
    raise WorkflowError(
        f"analysis.moderators names {_unknown[0]}, which is no column of the studies "
        "sheet: declare it in extraction.study_columns (name: number, boolean or text)."
    )
STRATA_INDEX = contract.STRATA_INDEX
ROB_TABLE = f"{contract.STRATA_DIR}/rob.csv"  # written by the stratify checkpoint
# The per-stratum job's outputs (contract.STRATUM_OUTPUTS / FUNNEL_OUTPUTS) as paths.
STRATUM_OUTPUT = {
    key: f"{contract.STRATA_DIR}/{{stratum}}/{name}"
    for key, name in contract.STRATUM_OUTPUTS.items()
}
FUNNEL_OUTPUT = {
    key: f"{contract.STRATA_DIR}/{{stratum}}/{name}"
    for key, name in contract.FUNNEL_OUTPUTS.items()
}


def only(mapping, keys):
    """The entries of ``mapping`` named in ``keys`` (the part of a config section a rule uses)."""
    return {key: mapping[key] for key in keys if key in mapping}


# What each stage reads of the configuration, passed to its rule as params so that
# a changed key reruns exactly the jobs that use it (ARCHITECTURE.md). The domain
# labels are shown by stratify and the report only; the priorities used by extraction
# only (EXTRACTION_PARAMS, in extraction.smk).
STRATIFY_DOMAINS = {
    d: only(spec, ("label", "type", "favourable_sign"))
    for d, spec in EXTRACTION["domains"].items()
}
# The keys the report renders (livingreview.publish.report): title, search window, labels, and
# the analysis settings its captions state.
REPORT_CONFIG = {
    "review": only(config["review"], ("title",)),
    "search": only(config["search"], ("start_date",)),
    "extraction": {
        "domains": {
            d: only(spec, ("label",)) for d, spec in EXTRACTION["domains"].items()
        },
        "stratifier": only(STRATIFIER.as_params(), ("column", "label", "values")),
    },
    "analysis": only(ANALYSIS, ("level", "min_k", "min_k_funnel")),
}
# What a version publishes as config.yaml and renders: the protocol without the keys
# that only say how to run (contract.RUN_KEYS), so a new e-mail address or time-out
# reruns nothing and publishes no new version.
PUBLISHED_CONFIG = contract.published_config(config)


def screening_sheets(wildcards):
    """Every reviewer's sheet under <root>/screening (adding or removing one reruns screening)."""
    return [str(p) for p in sheet_paths(config["inputs"]["root"])]


def strata_info():
    """{stratum: {k, kind, domain, platform, measure, label, favourable_sign}} after stratify."""
    with open(checkpoints.stratify.get().output.index, encoding="utf-8") as fh:
        return json.load(fh)


def stratum_data(wildcards):
    """A stratum's own data.csv (the checkpoint must have run), nothing else."""
    checkpoints.stratify.get()
    return f"{contract.STRATA_DIR}/{wildcards.stratum}/{contract.DATA_FILE}"


def funnel_data(wildcards):
    """data.csv for strata with k >= min_k_funnel; otherwise a path no rule makes.

    The missing input makes Snakemake skip `stratum_funnel` for this stratum and
    fall back to `stratum` (ruleorder), so small strata get no funnel or Egger.
    """
    if contract.has_funnel(
        strata_info()[wildcards.stratum]["k"], ANALYSIS["min_k_funnel"]
    ):
        return f"{contract.STRATA_DIR}/{wildcards.stratum}/{contract.DATA_FILE}"
    return f"{contract.STRATA_DIR}/{wildcards.stratum}/.below-min-k-funnel"


def stratum_param(key):
    """A params function returning one strata.json field of this stratum."""
    return lambda wildcards: strata_info()[wildcards.stratum][key]


def stratum_dependence(wildcards):
    """analysis.dependence for a stratum in which a trial has several effects, else None.

    Only those strata use it (livingreview.analysis.stratum.stratum_model), so a change of
    rho or inference reruns them and leaves the one-effect-per-trial strata alone.
    """
    if contract.several_effects_per_trial(strata_info()[wildcards.stratum]):
        return ANALYSIS["dependence"]
    return None


STRATUM_PARAMS = dict(
    measure=stratum_param("measure"),
    label=stratum_param("label"),
    favourable_sign=stratum_param("favourable_sign"),
    method=ANALYSIS["method"],
    test=ANALYSIS["test"],
    level=ANALYSIS["level"],
    min_k=ANALYSIS["min_k"],
    min_k_funnel=ANALYSIS["min_k_funnel"],
    influence_exclude=ANALYSIS["influence_exclude"],
    leave_one_out=ANALYSIS["leave_one_out"],
    dependence=stratum_dependence,
)


def metareg_data(wildcards):
    """data.csv of one domain stratum, or of every continuous domain for `overall`."""
    info = strata_info()
    if wildcards.domain == contract.METAREG_OVERALL:
        names = [
            s
            for s, v in info.items()
            if v["kind"] == "domain" and v["measure"] == "SMD"
        ]
    else:
        names = [f"domain-{wildcards.domain}"]
    return [
        f"{contract.STRATA_DIR}/{name}/{contract.DATA_FILE}" for name in sorted(names)
    ]


def rob_table(wildcards):
    """The RoB table, read after the checkpoint so an unchanged table reruns nothing."""
    checkpoints.stratify.get()
    return ROB_TABLE


def studies_table(wildcards):
    checkpoints.stratify.get()
    return f"{contract.STRATA_DIR}/studies.csv"


def stratum_outputs(name, info):
    """Per-stratum files of the contract: forest always; egger/funnel when k >= min_k_funnel."""
    files = contract.stratum_outputs(info["k"], ANALYSIS["min_k_funnel"]).values()
    return [f"{contract.STRATA_DIR}/{name}/{f}" for f in files]


def metareg_names():
    return contract.metareg_names(strata_info())


def analysis_outputs(wildcards=None):
    """Everything up to the analyses: strata results, meta-regressions, design check."""
    info = strata_info()
    files = [STRATA_INDEX]
    for name in sorted(info):
        files += stratum_outputs(name, info[name])
    files += expand(f"{contract.METAREG_DIR}/{{domain}}.json", domain=metareg_names())
    files.append("results/design_check.json")
    return files


def get_final_output(wildcards=None):
    """The analyses, plus the report and bundle when their rules are included."""
    files = analysis_outputs()
    defined = {r.name for r in workflow.rules}
    if "extraction_queue" in defined:  # the team's working files, not published
        files += list(rules.extraction_queue.output)
    for rule_name in ("report", "bundle"):
        if rule_name in defined:
            files += list(getattr(rules, rule_name).output)
    return files


# The living-evidence rules (evidence.smk): GRADE and the cumulative meta-analyses read
# every domain stratum; the team's adjudication sheet is an input only when it exists.
GRADE_OUTPUT = {
    key: f"{contract.GRADE_DIR}/{name}" for key, name in contract.GRADE_OUTPUTS.items()
}


def grade_strata(wildcards):
    """Each domain stratum's data, pooled result and (k >= min_k_funnel) Egger test."""
    info = strata_info()
    files = [STRATA_INDEX]
    for name in sorted(n for n, v in info.items() if v["kind"] == "domain"):
        files.append(f"{contract.STRATA_DIR}/{name}/{contract.DATA_FILE}")
        files += stratum_outputs(name, info[name])
    return [f for f in files if f.endswith((".json", ".csv"))]


def grade_adjudication(wildcards):
    path = Path(config["inputs"]["root"]) / contract.GRADE_ADJUDICATION
    return [str(path)] if path.is_file() else []


def deliver_alerts():
    """onsuccess: alerts due after a direct Snakemake run (`livingreview update` delivers itself)."""
    import os

    from livingreview.publish.alerts import run_hook

    if not os.environ.get("LIVINGREVIEW_UPDATE_OF"):
        for line in run_hook(config):
            print(f"livingreview alerts: {line}")
