# Screening: merge reviewers' sheets under <root>/screening into the review's
# current state. The sheets are listed by an input function, so adding,
# changing or removing one reruns this rule; its outputs are byte-identical
# for identical inputs, so downstream rules rerun only on real changes. The input
# function screening_sheets is in common.smk; it lists other tools' exports dropped
# into a stage folder too (livingreview.screening.imports).
rule screening:
    input:
        records="results/records/records.csv",
        summary="results/records/summary.json",
        sheets=screening_sheets,
        schemas=[
            f"{SCHEMA_DIR}/screening.schema.yaml",
            f"{SCHEMA_DIR}/adjudication.schema.yaml",
        ],
    output:
        decisions="results/screening/decisions.csv",
        conflicts="results/screening/conflicts.csv",
        agreement="results/screening/agreement.json",
        queue=directory("results/screening/queue"),
        prisma="results/screening/prisma.json",
        watch="results/screening/watch.csv",
        prioritise="results/screening/prioritise.json",
        unmatched="results/screening/unmatched.csv",
        prisma_svg="results/screening/prisma.svg",
        prisma_png="results/screening/prisma.png",
    log:
        "results/logs/screening.log",
    params:
        root=config["inputs"]["root"],
        screening=config["screening"],
    script:
        "../../scripts/screening.py"
