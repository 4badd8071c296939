"""Normal, t, chi-square and F tail functions on top of ``scipy.special``.

``scipy.stats`` costs about 0.6 s to import, and every per-stratum Snakemake
job is a fresh Python process, so on a review with hundreds of strata the
import alone would dominate the run. These are the same special functions
``scipy.stats`` evaluates for these distributions (``ndtr``, ``stdtr``,
``chdtrc``, ``fdtrc`` and their inverses), so results agree to rounding.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def norm_sf(x):
    """P(Z > x) for a standard normal Z."""
    return special.ndtr(-np.asarray(x, dtype=float))


def norm_cdf(x):
    return special.ndtr(np.asarray(x, dtype=float))


def norm_isf(q):
    """x with P(Z > x) = q."""
    return -special.ndtri(np.asarray(q, dtype=float))


def norm_ppf(p):
    return special.ndtri(np.asarray(p, dtype=float))


def t_sf(x, df):
    """P(T > x) for Student's t with ``df`` degrees of freedom."""
    return special.stdtr(np.asarray(df, dtype=float), -np.asarray(x, dtype=float))


def t_isf(q, df):
    return -special.stdtrit(np.asarray(df, dtype=float), np.asarray(q, dtype=float))


def t_ppf(p, df):
    return special.stdtrit(np.asarray(df, dtype=float), np.asarray(p, dtype=float))


def chi2_sf(x, df):
    return special.chdtrc(np.asarray(df, dtype=float), np.asarray(x, dtype=float))


def chi2_cdf(x, df):
    return special.chdtr(np.asarray(df, dtype=float), np.asarray(x, dtype=float))


def chi2_isf(q, df):
    return special.chdtri(np.asarray(df, dtype=float), np.asarray(q, dtype=float))


def chi2_ppf(p, df):
    """Lower quantile via the regularised incomplete gamma inverse (accurate for small p)."""
    return 2.0 * special.gammaincinv(np.asarray(df, dtype=float) / 2.0, np.asarray(p, dtype=float))


def f_sf(x, dfn, dfd):
    return special.fdtrc(
        np.asarray(dfn, dtype=float), np.asarray(dfd, dtype=float), np.asarray(x, dtype=float)
    )
