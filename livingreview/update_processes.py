"""The processes of a ``livingreview update`` run: Snakemake, its signals and its output.

``update`` runs Snakemake as a child that inherits the project lock, passes the
signals it gets on to it (:class:`_Forwarder`), copies its output to the run's log
(:func:`_run_logged`) and finds the processes a killed run left (:func:`_run_processes`).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

# Set in Snakemake's environment (and so in every job's): finds a run's processes.
RUN_ENV = "LIVINGREVIEW_UPDATE_OF"
TAIL_LINES = 2000  # of Snakemake's output, searched for the messages of failed jobs


class _Forwarder:
    """Pass SIGTERM/SIGHUP (and a SIGINT not sent by the terminal) on to Snakemake.

    Without this, killing the ``livingreview update`` process left Snakemake
    running. Snakemake answers SIGTERM by finishing the jobs it is running and
    starting no new one; a second signal is passed on as SIGINT, on which it
    stops its jobs at once. A Ctrl-C at a terminal reaches Snakemake directly
    (it is in the terminal's foreground process group), so it is not sent twice.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Forwarder:
        for sig in self.SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, _frame: object) -> None:
        again = self.received is not None
        self.received = self.received or signum
        if self.proc is None or self.proc.poll() is not None:
            return
        if signum == signal.SIGINT and _terminal_sent_it():
            return
        # Snakemake stops gracefully on SIGTERM; SIGHUP would kill it outright, leaving its jobs.
        first = signal.SIGTERM if signum == signal.SIGHUP else signum
        self.proc.send_signal(signal.SIGINT if again else first)


def _terminal_sent_it() -> bool:
    """True when we are in the foreground of a terminal (a Ctrl-C reaches every process)."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def _run_logged(
    cmd: Sequence[str],
    cwd: Path,
    log: IO[str],
    echo: bool,
    *,
    env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    forward: _Forwarder | None = None,
    started: Callable[[subprocess.Popen], None] | None = None,
) -> tuple[int, str]:
    """Run ``cmd``, copying its output to the log (and stdout unless quiet).

    ``pass_fds`` keeps the project lock open in the child, so the lock is held
    as long as Snakemake runs even if this process is killed; ``forward``
    passes the signals this process receives on to it.
    """
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        pass_fds=tuple(pass_fds),
    )
    if started is not None:
        started(proc)
    if forward is not None:
        forward.proc = proc
        if forward.received is not None:  # a signal arrived before the child existed
            proc.send_signal(signal.SIGTERM)
    seen: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        log.flush()
        seen.append(line)
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
    return proc.wait(), "".join(seen)


def _run_processes(project: Path, exclude: int) -> list[int]:
    """Pids of live processes started by an update of ``project`` (they carry ``RUN_ENV``).

    Snakemake passes its environment on to every job, so this finds a job left
    running by a killed Snakemake even though it has another parent now.
    """
    marker = f"{RUN_ENV}={project}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == exclude:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)
