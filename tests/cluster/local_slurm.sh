#!/usr/bin/env bash
# A throwaway single-node SLURM cluster on this machine, for the cluster check
# and the cluster benchmark. Needs root and Debian (apt-get); no systemd.
#
#   tests/cluster/local_slurm.sh install   apt-get install munge + slurm (about 5 s)
#   tests/cluster/local_slurm.sh up        write slurm.conf, start munged, slurmctld, slurmd
#   tests/cluster/local_slurm.sh down      cancel jobs, stop the daemons WE started (by PID)
#   tests/cluster/local_slurm.sh status    sinfo + squeue
#
# Facts behind the choices (../shared/design/CLUSTER.md): daemons started by
# hand; proctrack/linuxproc + task/none (no cgroups here); DefMemPerCPU so a
# job without --mem does not take the whole node; MinJobAge (3600 here; SLURM default 300) so the
# executor plugin can use `squeue` for status (it needs MinJobAge >= 3 x
# --slurm-init-seconds-before-status-checks). No slurmdbd: never let the
# plugin use `sacct` against this cluster, it hangs forever.
#
# Only daemons this script started are stopped: their PIDs are recorded in
# $LR_SLURM_STATE/started (one "name pid" a line). /etc/slurm/slurm.conf is
# written only when absent or written by this script (marker line), and removed
# again by `down`: every SLURM client and the executor plugin (which drops
# SLURM_* variables, SLURM_CONF included) read that path.
set -euo pipefail

STATE=${LR_SLURM_STATE:-/tmp/livingreview-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# written by livingreview tests/cluster/local_slurm.sh"
MIN_JOB_AGE=${LR_SLURM_MIN_JOB_AGE:-3600}

log() { printf '[local-slurm] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (apt-get, daemons)"; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.5 s until COMMAND succeeds.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || die "$what did not happen within ${limit}s"
        sleep 0.5
    done
}

cmd_install() {
    need_root
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v munged >/dev/null && command -v sbatch >/dev/null; then
        log "munge and slurm already installed"
        return
    fi
    log "installing munge + slurm with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 600 apt-get install -y -qq --no-install-recommends \
        munge slurmctld slurmd slurm-client >/dev/null
}

write_conf() {
    local host node
    host=$(hostname -s)
    # First line of `slurmd -C`: NodeName=<host> CPUs=.. Boards=.. ... RealMemory=..
    node=$(slurmd -C | head -n 1)
    [[ $node == NodeName=* ]] || die "unexpected 'slurmd -C' output: $node"
    if [[ -e $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script; refusing to overwrite it"
    fi
    mkdir -p "$STATE/ctld" "$STATE/d" /etc/slurm
    cat >"$CONF.tmp" <<EOF
$MARKER
ClusterName=livingreview
SlurmctldHost=${host}(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=$MIN_JOB_AGE
ReturnToService=2
MpiDefault=none
${node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

record() { echo "$1 $2" >>"$STATE/started"; }

pid_from() { [[ -s $1 ]] && tr -dc '0-9' <"$1"; }

cmd_up() {
    need_root
    command -v slurmctld >/dev/null || die "slurm is not installed: run '$0 install' first"
    mkdir -p "$STATE"
    : >"$STATE/started"
    write_conf

    # munge: reuse a running munged (not ours, so never stopped by `down`).
    mkdir -p /run/munge
    chown munge:munge /run/munge
    if { munge -n </dev/null | unmunge; } >/dev/null 2>&1; then
        log "munged already running; reusing it"
    else
        runuser -u munge -- /usr/sbin/munged
        wait_for 10 "munged start" test -s /run/munge/munged.pid
        record munged "$(pid_from /run/munge/munged.pid)"
        wait_for 10 "munge round trip" bash -c 'munge -n </dev/null | unmunge'
    fi

    if scontrol ping 2>/dev/null | grep -q 'is UP'; then
        die "a slurmctld is already running; stop it first (this script only manages its own)"
    fi
    /usr/sbin/slurmctld -f "$CONF"
    wait_for 15 "slurmctld pid file" test -s "$STATE/slurmctld.pid"
    record slurmctld "$(pid_from "$STATE/slurmctld.pid")"
    wait_for 30 "slurmctld UP (scontrol ping)" bash -c "scontrol ping | grep -q 'is UP'"

    /usr/sbin/slurmd -f "$CONF"
    wait_for 15 "slurmd pid file" test -s "$STATE/slurmd.pid"
    record slurmd "$(pid_from "$STATE/slurmd.pid")"
    wait_for 30 "node idle (sinfo)" bash -c "sinfo -h -o %T | grep -qx idle"
    log "cluster up: $(sinfo -h -o '%P %D %c cpus %m MB %T')"
}

cmd_down() {
    # Never fails: it runs from traps, after errors.
    set +e
    if [[ -s $STATE/started ]] && command -v scancel >/dev/null; then
        timeout 10 scancel --full --quiet --user "$(id -un)" 2>/dev/null
        sleep 1
    fi
    if [[ -s $STATE/started ]]; then
        # stop in reverse start order: slurmd, slurmctld, munged
        local name pid
        tac "$STATE/started" | while read -r name pid; do
            [[ -n $pid ]] || continue
            if kill -0 "$pid" 2>/dev/null; then
                log "stopping $name (pid $pid)"
                kill -TERM "$pid" 2>/dev/null
                for _ in $(seq 1 40); do
                    kill -0 "$pid" 2>/dev/null || break
                    sleep 0.25
                done
                if kill -0 "$pid" 2>/dev/null; then
                    log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
                    kill -KILL "$pid" 2>/dev/null
                fi
            fi
            case $name in
            munged) rm -f /run/munge/munged.pid ;;
            slurmctld) rm -f "$STATE/slurmctld.pid" /run/slurmctld.pid ;;
            slurmd) rm -f "$STATE/slurmd.pid" /run/slurmd.pid ;;
            esac
        done
        : >"$STATE/started"
    fi
    if [[ -e $CONF ]] && grep -qF "$MARKER" "$CONF"; then
        rm -f "$CONF"
    fi
    return 0
}

cmd_status() {
    sinfo
    squeue --states=all
}

case ${1:-} in
install) cmd_install ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*)
    echo "usage: $0 install|up|down|status" >&2
    exit 2
    ;;
esac
