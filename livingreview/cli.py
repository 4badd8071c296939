"""``livingreview``: run, verify and inspect a living review from the command line (or cron).

Exit codes (also in ``livingreview --help``):

- 0   success (including "no change": nothing new arrived, no version published)
- 1   the workflow failed, or ``verify`` found a mismatch
- 2   usage error or bad input (the message names file, row and column)
- 75  another ``livingreview update`` holds the project lock (EX_TEMPFAIL: try later)
- 128+N  ``update`` was stopped by signal N (143: SIGTERM) after Snakemake stopped

``update`` holds an exclusive ``flock`` on ``results/.update.lock`` for the
whole run: Snakemake inherits the locked file, so the lock stays held while
Snakemake runs even when the ``livingreview`` process itself is killed, and
the signals that process gets are passed on to Snakemake. A Snakemake lock
left by a killed run is removed only when no process of that run is alive.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import yaml

from .config_overrides import parse_overrides
from .io import write_text
from .snakemake_errors import input_error_lines
from .update_processes import RUN_ENV, _Forwarder, _run_logged, _run_processes

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75  # sysexits.h EX_TEMPFAIL
LOCK_FILE = "results/.update.lock"
DEFAULT_CONFIG = "config/config.yaml"  # the Snakefile's configfile
STALE_LOCK_TEXT = "cannot be locked"  # Snakemake's LockException message
EXIT_GRACE_S = 3.0  # for the processes of a run killed just before this one started

EPILOG = """\
examples:
  livingreview init my-review --title "Exercise for depression"   a new review project
  livingreview update -d my-review         run it (the workflow ships with the package)
  livingreview update                      run the whole workflow with all cores
  livingreview update --cores 2 --config inputs.root=resources
  livingreview update --config search.mode=live analysis.min_k=2   (dots: nested keys)
  livingreview update --configfile config/other.yaml   merged over config/config.yaml
  livingreview update --workflow-profile profiles/slurm     on a SLURM cluster
  livingreview update --quiet              for cron: output only in results/logs/
  livingreview verify results/bundles/2026-11-21.1
  livingreview verify --all                every version and the chain between them
  livingreview status                      who has how many records to screen

exit codes:
  0   success; also "no change" (nothing new arrived, no new version)
  1   the workflow failed (see the log named in the message) or verify found a mismatch
  2   usage error or bad input (the last lines on stderr name file, row and column)
  75  another `livingreview update` is running on this project (lock held); try later
  143 `update` was stopped by SIGTERM (128 + signal), after Snakemake stopped

crontab (see docs/cron.md):
  17 3 * * * cd /path/to/review && .venv/bin/livingreview update --quiet --cores 2
"""


def _snakemake_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "snakemake"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]


def _latest(project: Path) -> str | None:
    from .publish.versions import latest

    return latest(project / "results" / "bundles")


def _fail(verb: str, message: str, code: int = EXIT_USAGE) -> int:
    print(f"livingreview {verb}: {message}", file=sys.stderr)
    return code


# --------------------------------------------------------------------------- update


def update(args: argparse.Namespace) -> int:
    from . import clock
    from .errors import LivingReviewError
    from .project import snakefile as project_snakefile
    from .project import version_warning

    project = Path(args.directory).resolve()
    try:  # one date for the whole run: the search window's end and the version's name
        run_date = clock.today().isoformat()
    except LivingReviewError as exc:
        return _fail("update", str(exc))
    # A project made by `livingreview init` runs the package's workflow; this
    # repository (the demo) its own Snakefile.
    snakefile = project_snakefile(project)
    if snakefile.parent != project and not (project / DEFAULT_CONFIG).is_file():
        return _fail(
            "update",
            f"no Snakefile and no {DEFAULT_CONFIG} in {project}: is it a review project? "
            "(livingreview init <dir> --title ... makes one)",
        )
    try:
        plain, nested = parse_overrides(args.config or [])
    except ValueError as exc:
        return _fail("update", str(exc))
    if warning := version_warning(project):
        print(f"livingreview update: warning: {warning}", file=sys.stderr)
    configfiles = []
    if args.configfile:
        configfile = (project / args.configfile).resolve()
        if not configfile.is_file():
            return _fail("update", f"--configfile {args.configfile}: no such file in {project}")
        configfiles.append(str(configfile))
    # Snakemake says only "Config file is not valid JSON or YAML": name the file and line.
    for path in [project / DEFAULT_CONFIG, *map(Path, configfiles)]:
        try:
            if path.is_file():
                _load_config(path)
        except LivingReviewError as exc:
            _fail("update", "bad input, nothing was published:")
            print(exc, file=sys.stderr)
            return EXIT_USAGE
    lock_path = project / LOCK_FILE
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = _open_lock(lock_path)
    except OSError as exc:
        return _fail("update", f"cannot open the project lock {lock_path}: {exc.strerror or exc}")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        return _fail(
            "update",
            f"another update is running on {project} (lock {lock_path} held by {holder}); "
            f"exiting with code {EXIT_LOCKED}",
            EXIT_LOCKED,
        )
    except OSError as exc:
        lock.close()
        return _fail("update", f"cannot lock {lock_path}: {exc.strerror or exc}")
    try:
        since = dt.datetime.now().isoformat(timespec="seconds")
        _write_holder(lock, f"pid {os.getpid()} since {since}")
        logs = project / "results" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
        log_path = logs / f"{stamp}.log"
        if nested:  # kept beside the log: the run's record of what it was given
            overrides = logs / f"{stamp}.config.yaml"
            write_text(overrides, yaml.safe_dump(nested, sort_keys=False))
            configfiles.append(str(overrides))
        before = _latest(project)
        base = [*_snakemake_cmd(), "--snakefile", str(snakefile), "--directory", str(project)]
        cmd = [*base, "--rerun-incomplete", "--printshellcmds", "--nocolor"]
        if args.workflow_profile:
            # The profile (e.g. profiles/slurm) sets cores and jobs itself; a --cores taken
            # from this login node would make every cluster job ask for all its CPUs.
            cmd += ["--workflow-profile", args.workflow_profile]
        if args.cores or not args.workflow_profile:
            cmd += ["--cores", str(args.cores or os.cpu_count() or 1)]
        if configfiles:
            cmd += ["--configfiles", *configfiles]
        if plain:
            cmd += ["--config", *plain]
        cmd += list(args.snakemake_args or [])
        env = {**os.environ, RUN_ENV: str(project), clock.ENV: run_date}
        with open(log_path, "a", encoding="utf-8") as log, _Forwarder() as forward:
            log.write(f"livingreview update: run date {run_date} ({clock.ENV})\n")

            def started(proc: subprocess.Popen) -> None:
                _write_holder(lock, f"pid {os.getpid()} (Snakemake pid {proc.pid}) since {since}")

            def run(command: list[str], echo: bool) -> tuple[int, str]:
                return _run_logged(
                    command,
                    project,
                    log,
                    echo,
                    env=env,
                    pass_fds=(lock.fileno(),),
                    forward=forward,
                    started=started,
                )

            if alive := _previous_run_alive(project, log):
                return alive
            rc, tail = run(cmd, not args.quiet)
            if rc != 0 and STALE_LOCK_TEXT in tail and forward.received is None:
                # We hold the project flock and Snakemake inherits it, so no Snakemake of
                # another update runs here. Snakemake's lock is a leftover of a killed run,
                # unless a job of that run is still alive (its Snakemake was killed alone).
                if alive := _previous_run_alive(project, log):
                    return alive
                log.write("Removing a stale Snakemake lock left by an interrupted run\n")
                run([*base, "--unlock"], False)
                rc, tail = run(cmd, not args.quiet)
        if forward.received is not None:
            name = signal.Signals(forward.received).name
            return _fail(
                "update",
                f"stopped by {name}; Snakemake finished or stopped its jobs and exited "
                f"(exit {rc}); log: {log_path}",
                128 + forward.received,
            )
        if rc != 0:
            messages, bad_input = input_error_lines(tail)
            if bad_input:
                head = f"bad input, nothing was published (log: {log_path}):"
            else:
                head = f"the workflow failed (exit {rc}); log: {log_path}"
            _fail("update", head)
            for line in messages:  # the last lines on stderr: what cron mails show
                print(line, file=sys.stderr)
            if rc == EXIT_USAGE and not messages:  # Snakemake refused its arguments
                return EXIT_USAGE
            return EXIT_USAGE if bad_input else EXIT_FAILED
        configs = [project / DEFAULT_CONFIG, *configfiles]
        for line in _deliver_alerts(project, configs, plain, snakefile.parent):
            print(f"livingreview alerts: {line}", file=sys.stderr)
        after = _latest(project)
        results = project / "results"
        if after is None or after == before:
            where = f"; latest version {after}" if after else ""
            print(f"no change{where}")
        else:
            print(f"published version {after}: {results / 'bundles' / after}")
        # the published report carries its version; the working copy in results/report does not
        report = results / "bundles" / after / "report" if after else results / "report"
        print(f"results: {results} (report: {report / 'index.html'}; log: {log_path})")
        return EXIT_OK
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def _deliver_alerts(
    project: Path,
    configfiles: Sequence[Path | str],
    plain: list[str],
    workflow_dir: Path | None = None,
) -> list[str]:
    """Alerts due after a successful run (livingreview.publish.alerts), with the run's own configuration.

    Snakemake calls no hook when it has nothing to do, so a failed alert would
    wait for the next change; here it is retried on every update. The files
    and ``--config`` entries are merged as Snakemake merges them, and the
    schema's defaults filled in. Never raises: an alert never fails a run.
    """
    from snakemake.utils import update_config, validate

    from .publish.alerts import run_hook

    try:
        config: dict[str, Any] = {}
        for path in configfiles:
            update_config(config, _load_config(Path(path)))
        for entry in plain:
            key, _, raw = entry.partition("=")
            update_config(config, {key: yaml.safe_load(raw)})
        if ((config.get("alerts") or {}).get("when") or "never") == "never":
            return []
        schemas = Path(workflow_dir or project) / "workflow" / "schemas"  # the Snakefile's own
        validate(config, str(schemas / "config.schema.yaml"))
        return run_hook(config, project / "results")
    except Exception as exc:  # the run succeeded; say why no alert went out
        return [f"not delivered: {type(exc).__name__}: {exc}"]


def _previous_run_alive(project: Path, log: IO[str]) -> int:
    """EXIT_LOCKED (with the message) while a process of an earlier update runs; else 0.

    Processes just sent SIGKILL (a killed run's process group) take a moment to
    go; they get ``EXIT_GRACE_S`` seconds before the run counts as alive.
    """
    end = time.monotonic() + EXIT_GRACE_S
    while (alive := _run_processes(project, exclude=os.getpid())) and time.monotonic() < end:
        time.sleep(0.1)
    if not alive:
        return 0
    log.write(f"Processes of a previous run still alive: {alive}\n")
    return _fail(
        "update",
        f"processes of a previous update of {project} are still running "
        f"(pids {', '.join(map(str, alive))}); Snakemake's lock is kept; "
        f"exiting with code {EXIT_LOCKED}",
        EXIT_LOCKED,
    )


def _open_lock(path: Path) -> IO[str]:
    return open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run


def _write_holder(lock: IO[str], text: str) -> None:
    """Record who holds the lock (printed by an update that finds it held)."""
    with contextlib.suppress(OSError):
        lock.seek(0)
        lock.truncate()
        lock.write(text + "\n")
        lock.flush()


def verify(args: argparse.Namespace) -> int:
    from .publish.verify import verify as verify_bundle
    from .publish.verify import verify_all

    if args.all:
        folder = Path(args.bundle) if args.bundle else Path(args.directory) / "results" / "bundles"
        if not folder.is_dir():
            return _fail("verify", f"{folder}: no such bundles folder")
        problems = verify_all(folder)
        what, ok = folder, "every version and the chain verify"
    else:
        if not args.bundle:
            return _fail("verify", "name a bundle folder, or use --all")
        if not Path(args.bundle).is_dir():
            return _fail("verify", f"{args.bundle}: no such bundle folder")
        problems = verify_bundle(args.bundle)
        what, ok = Path(args.bundle), "all checksums match"
    if problems:
        print(f"{what}: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{what}: {ok}")
    return EXIT_OK


def rezip(args: argparse.Namespace) -> int:
    """``livingreview zip <bundle>``: rebuild an older version's zip from its folder."""
    from .publish.verify import verify as verify_bundle
    from .publish.zips import rebuild_zip

    folder = Path(args.bundle)
    if not (folder / "manifest.json").is_file():
        return _fail("zip", f"{folder}: not a published version folder (no manifest.json)")
    problems = verify_bundle(folder)
    if problems:
        print(f"{folder}: {len(problems)} problem(s); no zip made", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_FAILED
    target, same = rebuild_zip(folder)
    if not same:
        print(
            f"{target}: rebuilt, but its sha256 differs from {target.name}.sha256 (the folder "
            "verifies; this zlib compresses differently from the one that published it)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"{target}: the published zip, byte for byte ({target.name}.sha256 matches)")
    return EXIT_OK


def _load_config(path: Path) -> dict[str, Any]:
    """The project's config as a mapping; a LivingReviewError naming the file otherwise."""
    from .errors import InputError

    try:
        with open(path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
    except FileNotFoundError:
        raise InputError(path, "a config file (none there)") from None
    except OSError as exc:
        raise InputError(path, f"a readable config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(path, "UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "valid YAML"
        raise InputError(
            path, f"valid YAML ({problem})", row=mark.line + 1 if mark else None
        ) from None
    if not isinstance(config, dict):
        raise InputError(path, "a mapping of config keys", got=type(config).__name__)
    return config


def status(args: argparse.Namespace) -> int:
    from .errors import LivingReviewError
    from .screening.status import format_status
    from .screening.status import status as screening_status

    project = Path(args.directory)
    configfile = project / args.configfile
    try:
        config = _load_config(configfile)
        st = screening_status(config, workdir=project)
    except LivingReviewError as exc:
        return _fail("status", str(exc).replace("\n", " "))
    except (KeyError, TypeError, AttributeError) as exc:
        key = exc.args[0] if isinstance(exc, KeyError) and exc.args else None
        detail = f"key {key!r} missing" if key else "a key has the wrong type"
        return _fail("status", f"{configfile}: {detail} (see config/README.md)")
    sys.stdout.write(format_status(st, project / "results" / "screening"))
    from .search.records import withdrawal_warnings

    for line in withdrawal_warnings(project / "results" / "records" / "summary.json"):
        print(f"warning: {line}")
    return EXIT_OK


def init(args: argparse.Namespace) -> int:
    from .errors import LivingReviewError
    from .project import init as init_project

    dest = Path(args.directory)
    try:
        init_project(dest, args.title, short_name=args.short_name)
    except LivingReviewError as exc:
        return _fail("init", str(exc))
    except OSError as exc:
        return _fail("init", f"cannot write {dest}: {exc.strerror or exc}")
    print(f"new review project in {dest}:")
    print("  config/config.yaml   the protocol: edit the lines marked REPLACE")
    print("  resources/           the inputs (search exports, screening, extraction)")
    print("  templates/           every sheet: header and one example row")
    print("  README.md            where everything goes")
    print(f"next: livingreview update -d {dest}")
    return EXIT_OK


def _version() -> str:
    from .project import package_version

    return package_version()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livingreview",
        description="Keep a systematic review and meta-analysis up to date.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"livingreview {_version()}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="{init,update,verify,status}")
    ini = sub.add_parser(
        "init",
        help="create a new review project (config, input folders, sheet templates, README)",
    )
    ini.add_argument("directory", help="the new project's folder (created; must not hold one)")
    ini.add_argument("--title", required=True, help="the review's title")
    ini.add_argument("--short-name", help="slug for published file names (default: from the title)")
    ini.set_defaults(func=init)
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
    up.add_argument(
        "--configfile",
        metavar="FILE",
        help="a config file (relative to the project) merged over config/config.yaml, "
        "key by key; its keys win",
    )
    up.add_argument(
        "--config",
        nargs="+",
        metavar="KEY=VALUE",
        help="override config keys; dots name nested keys (search.mode=live); "
        "values are read as YAML (3, 0.9, true, text)",
    )
    up.add_argument(
        "-q", "--quiet", action="store_true", help="write Snakemake's output only to the log"
    )
    up.add_argument(
        "snakemake_args", nargs=argparse.REMAINDER, help="after --: extra snakemake arguments"
    )
    up.set_defaults(func=update)
    ver = sub.add_parser(
        "verify", help="recompute every checksum of a published bundle (or of all, --all)"
    )
    ver.add_argument(
        "bundle", nargs="?", help="a folder under results/bundles/ (with --all: the bundles folder)"
    )
    ver.add_argument(
        "--all",
        action="store_true",
        help="verify every version and the chain of manifests from the first to LATEST",
    )
    ver.add_argument("-d", "--directory", default=".", help="project folder for --all (default: .)")
    ver.set_defaults(func=verify)
    rz = sub.add_parser(
        "zip", help="rebuild an older version's zip from its folder (only the newest keeps one)"
    )
    rz.add_argument("bundle", help="a version folder under results/bundles/")
    rz.set_defaults(func=rezip)
    st = sub.add_parser("status", help="screening workload per reviewer, conflicts, unscreened")
    st.add_argument("-d", "--directory", default=".", help="project folder (default: .)")
    st.add_argument("--configfile", default=DEFAULT_CONFIG)
    st.set_defaults(func=status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on a usage error
    if getattr(args, "snakemake_args", None) and args.snakemake_args[0] == "--":
        args.snakemake_args = args.snakemake_args[1:]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser", "EXIT_LOCKED", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE"]
