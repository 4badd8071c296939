# livingreview: records -> screening -> extraction -> strata -> analyses -> report.
# A table of contents; rules live in workflow/rules/, logic in livingreview/.
from snakemake.utils import min_version

min_version("9.27")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/screening.smk"
include: "workflow/rules/extraction.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/grade.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bundle.smk"


rule all:
    default_target: True
    input:
        get_final_output,
