"""The one wrapper every Snakemake adapter in ``scripts/`` runs its stage in.

Each rule has a log under ``results/logs/``; a stage that fails must leave its
reason there (with the traceback) and still fail the job, so Snakemake stops
and publishes nothing. The adapters wrote this by hand, in five variants (two
logged no failure at all). Secrets never reach a log: anything that looks like
a credential in a URL or the value of ``NCBI_API_KEY`` is masked in every line,
tracebacks included.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FORMAT", "logged", "scrub"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SECRET_ENV = ("NCBI_API_KEY",)
_SECRET_RE = re.compile(r"((?:api_key|apikey|token|password|secret)=)[^&\s'\"]+", re.IGNORECASE)


def scrub(text: str) -> str:
    """Mask credentials in ``text``.

    >>> scrub("GET https://x/efetch.fcgi?db=pubmed&api_key=abc123&id=1")
    'GET https://x/efetch.fcgi?db=pubmed&api_key=***&id=1'
    """
    text = _SECRET_RE.sub(r"\1***", text)
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


@contextlib.contextmanager
def logged(log: str | Path, stage: str) -> Iterator[logging.Logger]:
    """Log to the rule's ``log`` file (overwritten); a failure is logged, then re-raised.

    Usage in an adapter::

        with logged(snakemake.log[0], "screening") as log:
            run(...)
            log.info("...")
    """
    handler = logging.FileHandler(log, mode="w", encoding="utf-8")
    handler.setFormatter(_ScrubbingFormatter(FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logger = logging.getLogger(f"livingreview.{stage}")
    try:
        yield logger
    except Exception:
        logger.exception("%s failed", stage)
        raise
    finally:
        handler.flush()
