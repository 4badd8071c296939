"""The one clock of a run: today's date, for the search window and the version name.

An update that starts at 23:59 must not search up to one date and publish
under the next, and a resumed run must name its version as the run it
resumes would have. ``livingreview update`` therefore reads the date once and
passes it to Snakemake, and so to every job, as ``LIVINGREVIEW_TODAY``. Set
the variable yourself (``YYYY-MM-DD``, not later than today) to rerun an
update as of an earlier day. Every date a run works with comes from here;
timestamps (log names, a snapshot's ``completed``) stay the real time.
"""

from __future__ import annotations

import datetime as dt
import os

from .errors import LivingReviewError

ENV = "LIVINGREVIEW_TODAY"


def today() -> dt.date:
    """``LIVINGREVIEW_TODAY`` when set, else the machine's local date.

    Raises ``LivingReviewError`` for a value that is not an ISO date or that
    lies after the machine's date (a version must not be dated in the future).
    """
    value = os.environ.get(ENV, "").strip()
    now = dt.date.today()
    if not value:
        return now
    try:
        pinned = dt.date.fromisoformat(value)
    except ValueError:
        raise LivingReviewError(
            f"environment variable {ENV}={value!r}: expected a date YYYY-MM-DD"
        ) from None
    if pinned > now:
        raise LivingReviewError(
            f"environment variable {ENV}={value}: is after today ({now.isoformat()}); "
            "a run cannot be dated in the future"
        )
    return pinned
