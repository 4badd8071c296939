# Living evidence. Certainty: a GRADE suggestion per outcome domain with its reasons, the
# team's adjudication (<root>/grade/adjudication.csv) and the summary-of-findings
# table (livingreview.evidence.grade). Reruns when a domain's pooled result, data or Egger
# test, the grade settings or the adjudication sheet change. Input functions: common.smk.
rule grade:
    input:
        strata=grade_strata,
        adjudication=grade_adjudication,
        schema=f"{SCHEMA_DIR}/grade_adjudication.schema.yaml",
    output:
        **GRADE_OUTPUT,
    log:
        "results/logs/analysis/grade.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        grade=config["grade"],
        min_k_funnel=ANALYSIS["min_k_funnel"],
    script:
        "../../scripts/grade.py"


rule cumulative:
    input:
        strata=grade_strata,
        studies="results/extraction/studies.csv",
        records="results/records/records.csv",
    output:
        table=f"{contract.CUMULATIVE_DIR}/{contract.CUMULATIVE_TABLE}",
        figures=[
            f"{contract.CUMULATIVE_DIR}/{name}"
            for name in contract.cumulative_files(list(EXTRACTION["domains"]))
            if name != contract.CUMULATIVE_TABLE
        ],
    log:
        "results/logs/analysis/cumulative.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        method=ANALYSIS["method"],
        test=ANALYSIS["test"],
        level=ANALYSIS["level"],
        labels={d: spec["label"] for d, spec in EXTRACTION["domains"].items()},
    script:
        "../../scripts/cumulative.py"
