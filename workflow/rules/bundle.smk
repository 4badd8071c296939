# Publishing: a new immutable version under results/bundles/<YYYY-MM-DD.N>/ when
# anything changed since results/bundles/LATEST (livingreview.publish.bundle). Local: it
# writes the shared bundles folder and must never run on a cluster node.


localrules:
    bundle,


rule bundle:
    input:
        report="results/report/index.html",
        table="results/report/tables/platform_domain.csv",
        effects="results/effects/effects.csv",
        arm_data="results/effects/arm_data.csv",
        analyses=analysis_outputs,
        grade=list(GRADE_OUTPUT.values()),
        cumulative=rules.cumulative.output,
    output:
        published=f"{contract.BUNDLES_DIR}/published.json",
    log:
        "results/logs/bundle/bundle.log",
    params:
        config=PUBLISHED_CONFIG,
        # for one run: --config 'publish={allow_removals: true}' (livingreview.publish.bundle.publish)
        allow_removals=config["publish"]["allow_removals"],  # schema default: false
        inputs_root=config["inputs"]["root"],
    script:
        "../../scripts/bundle.py"
