# Everything that is not a rule: config validation, stratum lists read after the
# checkpoint, input functions and the targets of `all` and `analyses`.
import json

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from livingreview.config_check import check_config_files, check_inputs
from livingreview.strata import STRATUM_PATTERN

check_config_files(workflow.configfiles)  # duplicate keys, alias bombs
try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as exc:
    sources = ", ".join(str(f) for f in workflow.configfiles) or "the configuration"
    raise WorkflowError(
        f"{sources} (with any --config overrides) does not match "
        f"workflow/schemas/config.schema.yaml: {exc}"
    ) from None
# input folders and quiet period: once per run, not again in every cluster job
if workflow.is_main_process:
    check_inputs(config, workflow.configfiles)


wildcard_constraints:
    stratum=STRATUM_PATTERN,
    domain=r"[a-z0-9]+(?:-[a-z0-9]+)*",


ANALYSIS = config["analysis"]
DOMAINS = config["extraction"]["domains"]
STRATA_INDEX = "results/strata/strata.json"
ROB_TABLE = "results/strata/rob.csv"  # written by the stratify checkpoint


def strata_info():
    """{stratum: {k, kind, domain, platform, measure, label, favourable_sign}} after stratify."""
    with open(checkpoints.stratify.get().output.index, encoding="utf-8") as fh:
        return json.load(fh)


def stratum_data(wildcards):
    """A stratum's own data.csv (the checkpoint must have run), nothing else."""
    checkpoints.stratify.get()
    return f"results/strata/{wildcards.stratum}/data.csv"


def funnel_data(wildcards):
    """data.csv for strata with k >= min_k_funnel; otherwise a path no rule makes.

    The missing input makes Snakemake skip `stratum_funnel` for this stratum and
    fall back to `stratum` (ruleorder), so small strata get no funnel or Egger.
    """
    if strata_info()[wildcards.stratum]["k"] >= ANALYSIS["min_k_funnel"]:
        return f"results/strata/{wildcards.stratum}/data.csv"
    return f"results/strata/{wildcards.stratum}/.below-min-k-funnel"


def stratum_param(key):
    """A params function returning one strata.json field of this stratum."""
    return lambda wildcards: strata_info()[wildcards.stratum][key]


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
)


def metareg_data(wildcards):
    """data.csv of one domain stratum, or of every continuous domain for `overall`."""
    info = strata_info()
    if wildcards.domain == "overall":
        names = [
            s
            for s, v in info.items()
            if v["kind"] == "domain" and v["measure"] == "SMD"
        ]
    else:
        names = [f"domain-{wildcards.domain}"]
    return [f"results/strata/{name}/data.csv" for name in sorted(names)]


def rob_table(wildcards):
    """The RoB table, read after the checkpoint so an unchanged table reruns nothing."""
    checkpoints.stratify.get()
    return ROB_TABLE


def studies_table(wildcards):
    checkpoints.stratify.get()
    return "results/strata/studies.csv"


def stratum_outputs(name, info):
    """Per-stratum files of the contract: forest always; egger/funnel when k >= min_k_funnel."""
    files = ["pooled.json", "loo.csv", "influence.csv", "forest.svg", "forest.png"]
    if info["k"] >= ANALYSIS["min_k_funnel"]:
        files += ["egger.json", "funnel.svg", "funnel.png"]
    return [f"results/strata/{name}/{f}" for f in files]


def metareg_names():
    info = strata_info()
    domains = sorted(v["domain"] for v in info.values() if v["kind"] == "domain")
    return domains + ["overall"]


def analysis_outputs(wildcards=None):
    """Everything up to the analyses: strata results, meta-regressions, design check."""
    info = strata_info()
    files = [STRATA_INDEX]
    for name in sorted(info):
        files += stratum_outputs(name, info[name])
    files += expand("results/metareg/{domain}.json", domain=metareg_names())
    files.append("results/design_check.json")
    return files


def get_final_output(wildcards=None):
    """The analyses, plus the report and bundle when their rules are included."""
    files = analysis_outputs()
    defined = {r.name for r in workflow.rules}
    for rule_name in ("report", "bundle"):
        if rule_name in defined:
            files += list(getattr(rules, rule_name).output)
    return files
