# Report: figures, tables and index.html under results/report/ (livingreview.publish.report).
# It reads every analysis output, the effects, the RoB table, PRISMA and search counts;
# "changes since the last version" compares with the newest bundle (results/bundles/LATEST).


# On a cluster the report runs on the submit host: a few seconds of work, where a
# cluster job would add a submission and status polling to the end of every run.
localrules:
    report,


rule rob_figures:
    input:
        rob_table,
    output:
        directory("results/rob"),
    log:
        "results/logs/report/rob_figures.log",
    # The longest single job of a large review: started first, it runs beside the strata.
    priority: 2
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../../scripts/rob_figures.py"


rule report:
    input:
        analyses=analysis_outputs,
        grade=list(GRADE_OUTPUT.values()),
        cumulative=rules.cumulative.output,
        rob="results/rob",
        effects="results/effects/effects.csv",
        studies="results/extraction/studies.csv",
        prisma="results/screening/prisma.json",
        agreement="results/screening/agreement.json",
        watch="results/screening/watch.csv",
        records="results/records/summary.json",
    output:
        index="results/report/index.html",
        table="results/report/tables/platform_domain.csv",
    log:
        "results/logs/report/report.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=REPORT_CONFIG,
        bundles=contract.BUNDLES_DIR,
    script:
        "../../scripts/report.py"
