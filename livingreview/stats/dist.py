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
    """Upper tail P(Z > x) of the standard normal.

    Parameters
    ----------
    x : array_like
        Quantiles.
    Returns
    -------
    numpy.ndarray
        P(Z > x).

    Notes
    -----
    ``scipy.special.ndtr(-x)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(norm_sf(1.96)), 6)
    0.024998
    """
    return special.ndtr(-np.asarray(x, dtype=float))


def norm_cdf(x):
    """Lower tail P(Z <= x) of the standard normal.

    Parameters
    ----------
    x : array_like
        Quantiles.
    Returns
    -------
    numpy.ndarray
        P(Z <= x).

    Notes
    -----
    ``scipy.special.ndtr(x)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(norm_cdf(1.96)), 6)
    0.975002
    """
    return special.ndtr(np.asarray(x, dtype=float))


def norm_isf(q):
    """Upper quantile of the standard normal: x with P(Z > x) = q.

    Parameters
    ----------
    q : array_like
        Upper tail probabilities.
    Returns
    -------
    numpy.ndarray
        The quantiles.

    Notes
    -----
    ``scipy.special.-ndtri(q)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(norm_isf(0.025)), 6)
    1.959964
    """
    return -special.ndtri(np.asarray(q, dtype=float))


def norm_ppf(p):
    """Quantile of the standard normal: x with P(Z <= x) = p.

    Parameters
    ----------
    p : array_like
        Lower tail probabilities.
    Returns
    -------
    numpy.ndarray
        The quantiles.

    Notes
    -----
    ``scipy.special.ndtri(p)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(norm_ppf(0.975)), 6)
    1.959964
    """
    return special.ndtri(np.asarray(p, dtype=float))


def t_sf(x, df):
    """Upper tail P(T > x) of Student's t.

    Parameters
    ----------
    x : array_like
        Quantiles.
    df : array_like
        Degrees of freedom.
    Returns
    -------
    numpy.ndarray
        P(T > x).

    Notes
    -----
    ``scipy.special.stdtr(df, -x)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(t_sf(2.0, 12)), 6)
    0.034328
    """
    return special.stdtr(np.asarray(df, dtype=float), -np.asarray(x, dtype=float))


def t_isf(q, df):
    """Upper quantile of Student's t: x with P(T > x) = q.

    Parameters
    ----------
    q : array_like
        Upper tail probabilities.
    df : array_like
        Degrees of freedom.
    Returns
    -------
    numpy.ndarray
        The quantiles.

    Notes
    -----
    ``scipy.special.-stdtrit(df, q)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(t_isf(0.025, 12)), 6)
    2.178813
    """
    return -special.stdtrit(np.asarray(df, dtype=float), np.asarray(q, dtype=float))


def t_ppf(p, df):
    """Quantile of Student's t: x with P(T <= x) = p.

    Parameters
    ----------
    p : array_like
        Lower tail probabilities.
    df : array_like
        Degrees of freedom.
    Returns
    -------
    numpy.ndarray
        The quantiles.

    Notes
    -----
    ``scipy.special.stdtrit(df, p)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(t_ppf(0.975, 12)), 6)
    2.178813
    """
    return special.stdtrit(np.asarray(df, dtype=float), np.asarray(p, dtype=float))


def chi2_sf(x, df):
    """Upper tail P(X > x) of the chi-square distribution.

    Parameters
    ----------
    x : array_like
        Quantiles.
    df : array_like
        Degrees of freedom.
    Returns
    -------
    numpy.ndarray
        P(X > x).

    Notes
    -----
    ``scipy.special.chdtrc(df, x)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> float(chi2_sf(152.233, 12))
    1.9967721373353058e-26
    """
    return special.chdtrc(np.asarray(df, dtype=float), np.asarray(x, dtype=float))


def chi2_cdf(x, df):
    """Lower tail P(X <= x) of the chi-square distribution.

    Parameters
    ----------
    x : array_like
        Quantiles.
    df : array_like
        Degrees of freedom.
    Returns
    -------
    numpy.ndarray
        P(X <= x).

    Notes
    -----
    ``scipy.special.chdtr(df, x)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(chi2_cdf(3.84, 1)), 6)
    0.949956
    """
    return special.chdtr(np.asarray(df, dtype=float), np.asarray(x, dtype=float))


def chi2_isf(q, df):
    """Upper quantile of the chi-square distribution: x with P(X > x) = q.

    Parameters
    ----------
    q : array_like
        Upper tail probabilities.
    df : array_like
        Degrees of freedom.
    Returns
    -------
    numpy.ndarray
        The quantiles.

    Notes
    -----
    ``scipy.special.chdtri(df, q)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(chi2_isf(0.025, 12)), 4)
    23.3367
    """
    return special.chdtri(np.asarray(df, dtype=float), np.asarray(q, dtype=float))


def chi2_ppf(p, df):
    """Quantile of the chi-square distribution: x with P(X <= x) = p.

    Parameters
    ----------
    p : array_like
        Lower tail probabilities.
    df : array_like
        Degrees of freedom.
    Returns
    -------
    numpy.ndarray
        The quantiles.

    Notes
    -----
    ``scipy.special.2 gammaincinv(df/2, p), accurate for small p``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(chi2_ppf(0.025, 12)), 4)
    4.4038
    """
    return 2.0 * special.gammaincinv(np.asarray(df, dtype=float) / 2.0, np.asarray(p, dtype=float))


def f_sf(x, dfn, dfd):
    """Upper tail P(F > x) of the F distribution.

    Parameters
    ----------
    x : array_like
        Quantiles.
    dfn : array_like
        Numerator degrees of freedom.
    dfd : array_like
        Denominator degrees of freedom.
    Returns
    -------
    numpy.ndarray
        P(F > x).

    Notes
    -----
    ``scipy.special.fdtrc(dfn, dfd, x)``, the function ``scipy.stats`` evaluates for
    this distribution (module docstring: why not ``scipy.stats``).

    Examples
    --------
    >>> round(float(f_sf(4.965, 2, 10)), 6)
    0.031803
    """
    return special.fdtrc(
        np.asarray(dfn, dtype=float), np.asarray(dfd, dtype=float), np.asarray(x, dtype=float)
    )
