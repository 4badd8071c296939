# Extraction: merge the double-extracted sheets, compute effect sizes and select
# one effect per trial and domain (livingreview.extraction.stage; docs/contracts.md).
from livingreview.extraction.files import input_files as extraction_input_files

# What extraction reads of the configuration: everything under `extraction` except
# the domain labels (shown by stratify and the report only), so relabelling a domain
# does not rerun it.
EXTRACTION_PARAMS = dict(
    config["extraction"],
    # the stratify checkpoint alone reads stratifier.overview
    stratifier={
        k: v for k, v in config["extraction"]["stratifier"].items() if k != "overview"
    },
    domains={
        d: {
            k: v
            for k, v in spec.items()
            if k in ("type", "favourable_sign", "priority")
        }
        for d, spec in config["extraction"]["domains"].items()
    },
)


rule extraction:
    input:
        unpack(lambda wildcards: extraction_input_files(config["inputs"]["root"])),
        decisions="results/screening/decisions.csv",
        aliases="results/records/aliases.csv",
        schemas=expand(
            f"{SCHEMA_DIR}/{{sheet}}.schema.yaml",
            sheet=["studies", "outcomes", "resolutions"],
        ),
    output:
        studies="results/extraction/studies.csv",
        discrepancies="results/extraction/discrepancies.csv",
        effects="results/effects/effects.csv",
        not_selected="results/effects/not_selected.csv",
        arm_data="results/effects/arm_data.csv",
    log:
        "results/logs/extraction.log",
    params:
        root=config["inputs"]["root"],
        extraction=EXTRACTION_PARAMS,
    script:
        "../../scripts/extraction.py"


# The included trials each extractor has not entered yet (livingreview.extraction.queue);
# working files for the team, not part of a published version.
rule extraction_queue:
    input:
        studies=lambda wildcards: extraction_input_files(config["inputs"]["root"])[
            "studies"
        ],
        decisions="results/screening/decisions.csv",
        records="results/records/records.csv",
        schema=f"{SCHEMA_DIR}/studies.schema.yaml",
    output:
        queue=directory("results/extraction/queue"),
    log:
        "results/logs/extraction_queue.log",
    params:
        extraction={
            k: v
            for k, v in config["extraction"].items()
            if k in ("stratifier", "study_columns")
        },
    script:
        "../../scripts/extraction_queue.py"
