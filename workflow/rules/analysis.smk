# Strata and analyses (livingreview.analysis.strata, livingreview.analysis.stratum, livingreview.publish.plots).
# `stratify` is a checkpoint: once it has run, Snakemake re-evaluates the jobs
# below it and reruns only those whose own data.csv changed (ARCHITECTURE.md).


# On a cluster, stratify runs on the submit host: about a second of splitting
# effects.csv, between the serial stages and the grouped strata; as a cluster job
# it would add a submission and status polling to the critical path.
localrules:
    stratify,


checkpoint stratify:
    input:
        effects="results/effects/effects.csv",
        studies="results/extraction/studies.csv",
    output:
        index=STRATA_INDEX,
    log:
        "results/logs/analysis/stratify.log",
    params:
        domains=STRATIFY_DOMAINS,
        stratifier=STRATIFIER.as_params(),
        study_columns=list(EXTRACTION["study_columns"]),
        min_k_funnel=ANALYSIS["min_k_funnel"],
        rob_table=ROB_TABLE,
        metareg_dir=contract.METAREG_DIR,
    script:
        "../../scripts/stratify.py"


# One job per stratum writes all of its files: each job is a fresh Python
# process, so separate pooled/forest/egger jobs would triple the start-up cost.
# Strata with k >= min_k_funnel also get the funnel files (livingreview.contract); the
# protocol forbids them below that, and a rule cannot have optional outputs,
# so `stratum_funnel` is preferred (ruleorder) wherever its input exists and
# `stratum` serves the rest (see funnel_data in common.smk).
ruleorder: stratum_funnel > stratum


rule stratum:
    input:
        data=stratum_data,
    output:
        **STRATUM_OUTPUT,
    log:
        "results/logs/analysis/stratum/{stratum}.log",
    benchmark:
        "results/logs/benchmarks/stratum/{stratum}.tsv"
    # Strata before meta-regressions (0): the report waits for the slowest stratum,
    # and the short metareg jobs fill the cores the last strata leave free.
    priority: 1
    group:
        "strata"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        **STRATUM_PARAMS,
    script:
        "../../scripts/stratum.py"


use rule stratum as stratum_funnel with:
    input:
        data=funnel_data,
    output:
        **STRATUM_OUTPUT,
        **FUNNEL_OUTPUT,
    log:
        "results/logs/analysis/stratum/{stratum}.log",
    benchmark:
        "results/logs/benchmarks/stratum/{stratum}.tsv"


rule metareg:
    input:
        data=metareg_data,
    output:
        json=f"{contract.METAREG_DIR}/{{domain}}.json",
    log:
        "results/logs/analysis/metareg/{domain}.log",
    benchmark:
        "results/logs/benchmarks/metareg/{domain}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        moderators=ANALYSIS["moderators"],
        method=ANALYSIS["method"],
        test=ANALYSIS["test"],
        level=ANALYSIS["level"],
        min_k=ANALYSIS["min_k"],
    script:
        "../../scripts/metareg.py"


rule design_check:
    input:
        studies=studies_table,
    output:
        json="results/design_check.json",
    log:
        "results/logs/analysis/design_check.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        level=ANALYSIS["level"],
    script:
        "../../scripts/design_check.py"


rule analyses:
    input:
        analysis_outputs,
