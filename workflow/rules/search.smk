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
#   Snakemake never owns a snapshot: the job writes it into the append-only
#   store itself, and its output is a marker under results/ (Snakemake deletes
#   the outputs of a failed job and rewrites them when params change).
from livingreview.clock import today
from livingreview.search.files import input_files, search_marker

SEARCH = config["search"]
INPUT_ROOT = config["inputs"]["root"]
SEARCH_LIVE = SEARCH["mode"] == "live"
SEARCH_UNTIL = today().isoformat()
SEARCH_MARKER = search_marker(SEARCH_UNTIL)


if SEARCH_LIVE:

    localrules:
        search_pubmed,

    rule search_pubmed:
        output:
            marker=SEARCH_MARKER,
        log:
            f"results/logs/search/pubmed-{SEARCH_UNTIL}.log",
        resources:
            ncbi=1,
        params:
            search=SEARCH,
            until=SEARCH_UNTIL,
            snapshot_dir=f"{INPUT_ROOT}/search/pubmed",
        script:
            "../../scripts/search.py"


rule build_records:
    input:
        lambda wildcards: input_files(INPUT_ROOT, SEARCH_UNTIL if SEARCH_LIVE else None),
    output:
        csv="results/records/records.csv",
        summary="results/records/summary.json",
        aliases="results/records/aliases.csv",
    log:
        "results/logs/search/records.log",
    params:
        root=INPUT_ROOT,
        title_similarity=config["dedup"]["title_similarity"],
    script:
        "../../scripts/records.py"
