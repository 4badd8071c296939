# Search stage: PubMed snapshots + database exports -> results/records/.
#
# offline (default): no search job at all; build_records reads the snapshots
#   already under <inputs.root>/search/pubmed and the exports under
#   <inputs.root>/search/exports.
# live: search_pubmed fetches everything new since the last completed snapshot
#   into today's snapshot (so a daily cron run searches once per day). It is a
#   local job and takes the global resource `ncbi` (give it a limit of 1 in the
#   profile: `resources: [ncbi=1]`) so no two jobs call NCBI at the same time.
#   NCBI_API_KEY comes from the environment only.
import datetime

from livingreview.records import input_files

SEARCH = config["search"]
INPUT_ROOT = config["inputs"]["root"]
PUBMED_DIR = f"{INPUT_ROOT}/search/pubmed"
SEARCH_LIVE = SEARCH.get("mode", "offline") == "live"
SEARCH_UNTIL = datetime.date.today().isoformat()


if SEARCH_LIVE:

    localrules:
        search_pubmed,

    rule search_pubmed:
        output:
            snapshot=protected(f"{PUBMED_DIR}/{SEARCH_UNTIL}.xml.gz"),
            sidecar=protected(f"{PUBMED_DIR}/{SEARCH_UNTIL}.json"),
        log:
            f"results/logs/search/pubmed-{SEARCH_UNTIL}.log",
        resources:
            ncbi=1,
        params:
            search=SEARCH,
            until=SEARCH_UNTIL,
        script:
            "../../scripts/search.py"


rule build_records:
    input:
        lambda wildcards: input_files(INPUT_ROOT, SEARCH_UNTIL if SEARCH_LIVE else None),
    output:
        csv="results/records/records.csv",
        summary="results/records/summary.json",
    log:
        "results/logs/search/records.log",
    params:
        root=INPUT_ROOT,
        title_similarity=config["dedup"]["title_similarity"],
    script:
        "../../scripts/records.py"
