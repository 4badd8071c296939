"""Atomic file writes, checksums and spreadsheet-safe text.

Every file the pipeline writes goes through these helpers so that a crash
(or SIGKILL) never leaves a half-written file under its final name: data is
written to a temporary file in the same folder, flushed to disk, then moved
into place with ``os.replace`` (atomic on POSIX within one file system). The
temporary name carries the writer's pid, so the next write of the same file
removes what a killed writer left (see :func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas costs 0.6 s to import; the CLI starts without it
    import pandas as pd


# OWASP CSV-injection guidance: a cell starting with one of these is read as a
# formula by spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete ``.<name>.<pid>.*.tmp`` siblings of ``path`` whose writer no longer runs.

    A writer killed mid-write (SIGKILL, OOM, power loss) leaves its temporary
    file; the next write of the same file (a rerun of the killed job) removes
    it. A temporary file whose pid is alive is left alone: it may be a live writer.
    """
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_write(
    path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(
            fd, mode, encoding=None if binary else encoding, newline=None if binary else newline
        ) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_write(path) as fh:
        fh.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def _json_clean(obj: Any) -> Any:
    """JSON has no NaN/Infinity: write them as null so every reader agrees."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _json_clean(obj.item())
    return obj


def write_json(path: str | Path, obj: Any) -> None:
    """Deterministic JSON (sorted keys) so identical results are byte-identical."""
    write_text(path, json.dumps(_json_clean(obj), indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def neutralise_cell(value: Any) -> Any:
    """Prefix a formula-looking text cell with ``'`` so spreadsheets show it as text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_csv(
    df: pd.DataFrame,
    path: str | Path,
    *,
    text_columns: Iterable[str] = (),
    float_format: str | None = "%.10g",
) -> None:
    """Write a CSV atomically; neutralise formulas in free-text columns.

    ``text_columns`` names the columns that carry text from records, notes or
    sheets (titles, abstracts, notes); numeric columns are left alone so that a
    negative number stays a number.
    """
    out = df.copy()
    for col in text_columns:
        if col in out.columns:
            out[col] = out[col].map(neutralise_cell)
    with atomic_write(path, newline="") as fh:
        out.to_csv(fh, index=False, float_format=float_format, lineterminator="\n")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
