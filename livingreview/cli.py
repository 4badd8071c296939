"""``livingreview``: run, verify and inspect a living review from the command line (or cron).

Exit codes (also in ``livingreview --help``):

- 0   success (including "no change": nothing new arrived, no version published)
- 1   the workflow failed, or ``verify`` found a mismatch
- 2   usage error or bad input (the message names file, row and column)
- 75  another ``livingreview update`` holds the project lock (EX_TEMPFAIL: try later)
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75  # sysexits.h EX_TEMPFAIL
LOCK_FILE = "results/.update.lock"
STALE_LOCK_TEXT = "cannot be locked"  # Snakemake's LockException message

EPILOG = """\
examples:
  livingreview update                      run the whole workflow with all cores
  livingreview update --cores 2 --config inputs.root=resources
  livingreview update --workflow-profile profiles/slurm     on a SLURM cluster
  livingreview update --quiet              for cron: output only in results/logs/
  livingreview verify results/bundles/2026-11-21.1
  livingreview status                      who has how many records to screen

exit codes:
  0   success; also "no change" (nothing new arrived, no new version)
  1   the workflow failed (see the log named in the message) or verify found a mismatch
  2   usage error or bad input
  75  another `livingreview update` is running on this project (lock held); try later

crontab (see docs/cron.md):
  17 3 * * * cd /path/to/review && .venv/bin/livingreview update --quiet --cores 2
"""


def _snakemake_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "snakemake"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]


def _latest(project: Path) -> str | None:
    from .bundle import latest

    return latest(project / "results" / "bundles")


def _run_logged(cmd: Sequence[str], cwd: Path, log: IO[str], echo: bool) -> tuple[int, str]:
    """Run ``cmd``, copying its output to the log (and stdout unless quiet)."""
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        log.flush()
        seen.append(line)
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
    return proc.wait(), "".join(seen[-200:])


def update(args: argparse.Namespace) -> int:
    project = Path(args.directory).resolve()
    snakefile = project / "Snakefile"
    if not snakefile.is_file():
        print(f"livingreview update: no Snakefile in {project}", file=sys.stderr)
        return EXIT_USAGE
    lock_path = project / LOCK_FILE
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        print(
            f"livingreview update: another update is running on {project} "
            f"(lock {lock_path} held by {holder}); exiting with code {EXIT_LOCKED}",
            file=sys.stderr,
        )
        lock.close()
        return EXIT_LOCKED
    try:
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()} since {dt.datetime.now().isoformat(timespec='seconds')}\n")
        lock.flush()
        logs = project / "results" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
        log_path = logs / f"{stamp}.log"
        before = _latest(project)
        base = [*_snakemake_cmd(), "--snakefile", str(snakefile), "--directory", str(project)]
        cmd = [*base, "--rerun-incomplete", "--printshellcmds", "--nocolor"]
        if args.workflow_profile:
            # The profile (e.g. profiles/slurm) sets cores and jobs itself; a --cores taken
            # from this login node would make every cluster job ask for all its CPUs.
            cmd += ["--workflow-profile", args.workflow_profile]
        if args.cores or not args.workflow_profile:
            cmd += ["--cores", str(args.cores or os.cpu_count() or 1)]
        if args.config:
            cmd += ["--config", *args.config]
        cmd += list(args.snakemake_args or [])
        with open(log_path, "a", encoding="utf-8") as log:
            rc, tail = _run_logged(cmd, project, log, echo=not args.quiet)
            if rc != 0 and STALE_LOCK_TEXT in tail:
                # We hold the project flock, so no other `livingreview update` runs here:
                # Snakemake's lock is a leftover of an interrupted run. Remove it, retry once.
                log.write("Removing a stale Snakemake lock left by an interrupted run\n")
                unlock = [*base, "--unlock"]
                _run_logged(unlock, project, log, echo=False)
                rc, tail = _run_logged(cmd, project, log, echo=not args.quiet)
        if rc != 0:
            print(
                f"livingreview update: the workflow failed (exit {rc}); log: {log_path}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        after = _latest(project)
        results = project / "results"
        if after is None or after == before:
            where = f"; latest version {after}" if after else ""
            print(f"no change{where}")
        else:
            print(f"published version {after}: {results / 'bundles' / after}")
        print(f"results: {results} (report: {results / 'report' / 'index.html'}; log: {log_path})")
        return EXIT_OK
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def verify(args: argparse.Namespace) -> int:
    from .bundle import verify as verify_bundle

    problems = verify_bundle(args.bundle)
    if problems:
        print(f"{args.bundle}: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.bundle}: all checksums match")
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    import yaml

    from .errors import LivingReviewError
    from .screening import format_status
    from .screening import status as screening_status

    project = Path(args.directory)
    with open(project / args.configfile, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    try:
        st = screening_status(config, workdir=project)
    except LivingReviewError as exc:
        print(f"livingreview status: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(format_status(st))
    from .records import withdrawal_warnings

    for line in withdrawal_warnings(project / "results" / "records" / "summary.json"):
        print(f"warning: {line}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livingreview",
        description="Keep a systematic review and meta-analysis up to date.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="{update,verify,status}")
    up = sub.add_parser(
        "update",
        help="run the whole workflow (search -> report -> bundle) non-interactively",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    up.add_argument("-d", "--directory", default=".", help="project folder (default: .)")
    up.add_argument(
        "-c",
        "--cores",
        help="cores for Snakemake (default: all; with --workflow-profile: the profile's)",
    )
    up.add_argument(
        "--workflow-profile",
        metavar="DIR",
        help="a Snakemake profile to run with, e.g. profiles/slurm for a SLURM cluster",
    )
    up.add_argument("--config", nargs="+", metavar="KEY=VALUE", help="passed to snakemake --config")
    up.add_argument(
        "-q", "--quiet", action="store_true", help="write Snakemake's output only to the log"
    )
    up.add_argument(
        "snakemake_args", nargs=argparse.REMAINDER, help="after --: extra snakemake arguments"
    )
    up.set_defaults(func=update)
    ver = sub.add_parser("verify", help="recompute every checksum of a published bundle")
    ver.add_argument("bundle", help="a folder under results/bundles/")
    ver.set_defaults(func=verify)
    st = sub.add_parser("status", help="screening workload per reviewer, conflicts, unscreened")
    st.add_argument("-d", "--directory", default=".", help="project folder (default: .)")
    st.add_argument("--configfile", default="config/config.yaml")
    st.set_defaults(func=status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "snakemake_args", None) and args.snakemake_args[0] == "--":
        args.snakemake_args = args.snakemake_args[1:]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser", "EXIT_LOCKED", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE"]
