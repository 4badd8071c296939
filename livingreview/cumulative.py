"""Cumulative meta-analysis: the pooled result as studies accrue (metafor's ``cumul``).

A living review's readers ask when the evidence became convincing. The model
is refitted on the first 1, 2, ..., k studies in a given order (publication
year in the report), with the fit's method, test and level, as
``metafor::cumul.rma.uni`` does; ties keep the data order (R's ``order`` is
stable). A step of one study follows metafor's k = 1 rules (tau^2 = 0, z test).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .meta import MetaResult, fit

__all__ = ["CUMUL_COLUMNS", "cumulative"]

CUMUL_COLUMNS = ["added", "order", "k", "estimate", "se", "zval", "pval", "ci_low", "ci_high",
                 "q", "q_pval", "tau2", "i2", "h2"]  # fmt: skip


def cumulative(res: MetaResult, order: Sequence[Any] | np.ndarray | None = None) -> pd.DataFrame:
    """Refit ``res``'s model on the first 1..k studies sorted by ``order``.

    Parameters
    ----------
    res : MetaResult
        The fit of all k studies (:func:`livingreview.meta.fit`); its method,
        test and level are used for every step.
    order : sequence, optional
        One sort key per study (e.g. publication year); stable, so ties keep
        the data order. Default: the data order.

    Returns
    -------
    pandas.DataFrame
        One row per step: ``added`` (the label of the study added), ``order``
        (its key), ``k``, then as ``cumul``: ``estimate, se, zval, pval,
        ci_low, ci_high, q, q_pval, tau2, i2, h2`` (``zval`` is a t statistic
        under knha with k - 1 df).

    Notes
    -----
    Lau J, Antman EM, Jimenez-Silva J, et al. Cumulative meta-analysis of
    therapeutic trials for myocardial infarction. N Engl J Med 1992;327:248-254.

    Examples
    --------
    >>> from livingreview import meta
    >>> res = meta.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05], labels="abcd")
    >>> cu = cumulative(res, order=[2001, 1999, 2003, 2001])
    >>> cu["added"].tolist(), cu["estimate"].round(4).tolist()
    (['b', 'a', 'd', 'c'], [0.3, 0.18, 0.2917, 0.305])
    """
    k = res.k
    keys = np.arange(k) if order is None else np.asarray(order)
    if keys.shape != (k,):
        raise ValueError(f"cumulative(): order needs one key per study ({k}); got {keys.shape}")
    idx = np.argsort(keys, kind="stable")
    labels = list(res.labels) if res.labels else list(range(1, k + 1))
    rows = []
    for j in range(1, k + 1):
        sel = idx[:j]
        r = fit(res.yi[sel], res.vi[sel], res.method, res.test, res.level)
        rows.append(
            {
                "added": labels[idx[j - 1]],
                "order": keys[idx[j - 1]].item(),
                "k": j,
                "estimate": r.estimate,
                "se": r.se,
                "zval": r.zval,
                "pval": r.pval,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "q": r.q,
                "q_pval": r.q_pval,
                "tau2": r.tau2,
                "i2": r.i2,
                "h2": r.h2,
            }  # fmt: skip
        )
    return pd.DataFrame(rows, columns=CUMUL_COLUMNS)
