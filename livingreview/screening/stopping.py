"""Stopping estimate for a round: relevant records left, from a random sample of the remainder.

Split off :mod:`livingreview.screening.prioritise`. It advises; it never
excludes a record (Callaghan & Müller-Hansen 2020).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .prioritise import PrioritiseSettings

__all__ = ["STOPPING_METHOD", "StoppingEstimate", "stopping_estimate", "stopping_sample"]

STOPPING_METHOD = "random-sample hypergeometric stopping criterion (Callaghan & Muller-Hansen 2020)"


@dataclass(frozen=True)
class StoppingEstimate:
    """Relevant records still unscreened, estimated from a random sample of them.

    ``remaining`` is the point estimate of the relevant records still
    unscreened once the sample is screened, ``k (N - n) / n``;
    ``remaining_low`` and ``remaining_high`` its exact two-sided
    hypergeometric interval at ``level``;
    ``recall`` and ``recall_low`` the implied recall so far (estimate and lower
    bound); ``p_value`` tests H0 "recall is below ``target_recall``" and
    ``can_stop`` is ``p_value < 1 - level``. Advice only.
    """

    method: str
    n_unscreened: int
    sample_size: int
    sample_relevant: int
    found: int
    remaining: float
    remaining_low: int
    remaining_high: int
    recall: float
    recall_low: float
    target_recall: float
    p_value: float
    level: float
    can_stop: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def stopping_sample(unscreened: Sequence[str], size: int, seed: int = 0) -> list[str]:
    """A simple random sample (without replacement) of the unscreened records to screen next.

    The sample must be random, not the top of the ranking, for
    :func:`stopping_estimate` to hold.

    Examples
    --------
    >>> stopping_sample(["a", "b", "c", "d"], 2, seed=1) == stopping_sample(["a", "b", "c", "d"], 2, 1)
    True
    """
    ids = list(unscreened)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ids), size=min(size, len(ids)), replace=False)
    return [ids[i] for i in sorted(pick)]


def stopping_estimate(
    found: int,
    n_unscreened: int,
    sample_size: int,
    sample_relevant: int,
    settings: PrioritiseSettings | Mapping[str, Any] | None = None,
) -> StoppingEstimate:
    """Estimate the relevant records left after screening a random sample of the remainder.

    The team has screened some records in ranked order and found ``found``
    relevant ones. Of the ``n_unscreened`` records still left, a simple
    random sample of ``sample_size`` is screened and holds ``sample_relevant``
    relevant ones. The number ``K`` of relevant records among the
    ``n_unscreened`` then makes ``sample_relevant`` hypergeometric
    (population ``n_unscreened``, ``K`` successes, ``sample_size`` draws):

    * relevant records left after the sample, ``K - sample_relevant``: point
      estimate ``sample_relevant * (n_unscreened - sample_size) / sample_size``;
    * exact interval: every ``K`` not rejected by either one-sided test at
      ``(1 - level) / 2``, minus ``sample_relevant``;
    * stopping test (Callaghan & Müller-Hansen 2020): H0 "recall <
      ``target_recall``" holds iff ``K >= K_tar`` with
      ``K_tar = floor((found + sample_relevant) / target_recall - found) + 1``;
      ``p = P(X <= sample_relevant | n_unscreened, K_tar, sample_size)``.
      ``can_stop`` when ``p < 1 - level``: stopping after the sample misses
      the target recall with probability at most ``1 - level``.

    It advises; it never excludes a record. Reference: Callaghan MW,
    Müller-Hansen F. Statistical stopping criteria for automated screening in
    systematic reviews. Syst Rev 2020;9:273. doi:10.1186/s13643-020-01521-4.

    Examples
    --------
    >>> e = stopping_estimate(found=40, n_unscreened=1000, sample_size=200, sample_relevant=0)
    >>> e.remaining, e.remaining_low, e.remaining_high, e.can_stop
    (0.0, 0, 16, False)
    >>> e = stopping_estimate(found=40, n_unscreened=1000, sample_size=800, sample_relevant=0)
    >>> e.remaining_high, e.can_stop, round(e.p_value, 4)
    (2, True, 0.0079)
    """
    from scipy.stats import hypergeom

    settings = PrioritiseSettings.from_params(settings)
    N, n, k = int(n_unscreened), int(sample_size), int(sample_relevant)
    if not 0 <= n <= N or not 0 <= k <= n or found < 0:
        raise ValueError(
            f"need 0 <= sample_relevant ({k}) <= sample_size ({n}) <= n_unscreened ({N})"
        )
    alpha = 1 - settings.level
    if n == 0:
        est, low, high = math.nan, 0, N
    else:
        K = np.arange(k, N - (n - k) + 1)
        keep_high = hypergeom.cdf(k, N, K, n) > alpha / 2  # P(X <= k | K): too small K is kept
        keep_low = hypergeom.sf(k - 1, N, K, n) > alpha / 2  # P(X >= k | K)
        kept = K[keep_high & keep_low]
        est = k * (N - n) / n
        low, high = (int(kept.min()) - k, int(kept.max()) - k) if kept.size else (0, 0)
    total_found = found + k
    k_tar = math.floor(total_found / settings.target_recall - found) + 1
    if n == 0:
        p = 1.0
    elif k_tar > N:  # even every unscreened record relevant would not keep recall below target
        p = 0.0
    else:
        p = float(hypergeom.cdf(k, N, max(k_tar, k), n))
    recall = total_found / (total_found + est) if total_found and not math.isnan(est) else math.nan
    recall_low = total_found / (total_found + high) if total_found + high > 0 else math.nan
    return StoppingEstimate(
        method=STOPPING_METHOD,
        n_unscreened=N,
        sample_size=n,
        sample_relevant=k,
        found=int(found),
        remaining=float(est),
        remaining_low=low,
        remaining_high=high,
        recall=float(recall),
        recall_low=float(recall_low),
        target_recall=settings.target_recall,
        p_value=p,
        level=settings.level,
        can_stop=bool(p < alpha),
    )
