#!/usr/bin/env bash
# The cluster proof: a real (single-node) SLURM cluster on this machine runs the
# demo review through profiles/slurm, and the results must equal a local run's.
#
#   sudo tests/cluster/run_cluster_check.sh          # by hand (root: apt-get, daemons)
#   LR_CLUSTER=1 bash .ci/run                         # as a CI stage (see .ci/run)
#
# Environment: LR_CLUSTER_TARGET (default all), LR_CLUSTER_TIMEOUT (seconds for
# both Snakemake runs, default 900), LR_CLUSTER_KEEP=1 keeps the scratch folder.
# Whatever happens (failure, Ctrl-C), the trap cancels our jobs and stops the
# daemons this script started, by PID, and removes their pid files.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${LR_PYTHON:-$REPO/.venv/bin/python}
TARGET=${LR_CLUSTER_TARGET:-all}
LIMIT=${LR_CLUSTER_TIMEOUT:-900}
WORK=$(mktemp -d /tmp/livingreview-cluster-check.XXXXXX)
export LR_SLURM_STATE="$WORK/slurm"

cleanup() {
    local rc=$?
    "$HERE/local_slurm.sh" down || true
    if [[ ${LR_CLUSTER_KEEP:-0} == 1 ]]; then
        echo "[cluster-check] scratch kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$SECONDS
"$HERE/local_slurm.sh" install
# Plugin present? (the `cluster` extra of pyproject.toml; `make cluster` installs it)
"$PY" -c 'import snakemake_executor_plugin_slurm' ||
    { echo "[cluster-check] snakemake-executor-plugin-slurm missing: pip install -e '.[cluster]'" >&2; exit 1; }
timeout -s KILL 120 "$HERE/local_slurm.sh" up

# The check itself kills its Snakemake runs after LIMIT seconds; the outer
# timeout is the backstop should anything else hang (sacct-style hangs ignore SIGTERM).
timeout -s KILL $((LIMIT + 120)) "$PY" "$HERE/check_cluster.py" \
    --repo "$REPO" --work "$WORK/runs" --target "$TARGET" --timeout "$LIMIT" \
    --json "$WORK/summary.json"
echo "[cluster-check] passed in $((SECONDS - start))s"
