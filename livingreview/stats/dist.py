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
    return special.ndtr(-np.asarray(x, dtype=float))


def norm_cdf(x):
    return special.ndtr(np.asarray(x, dtype=float))


def norm_isf(q):
    return -special.ndtri(np.asarray(q, dtype=float))


def norm_ppf(p):
    return special.ndtri(np.asarray(p, dtype=float))


def t_sf(x, df):
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
    return 2.0 * special.gammaincinv(np.asarray(df, dtype=float) / 2.0, np.asarray(p, dtype=float))


def f_sf(x, dfn, dfd):
    return special.fdtrc(
        np.asarray(dfn, dtype=float), np.asarray(dfd, dtype=float), np.asarray(x, dtype=float)
    )


# One template documents them all (numpydoc): name -> summary, parameters,
# returns, the scipy.special call, an example and its value.
_TEMPLATE = """{summary}

    Parameters
    ----------
{parameters}
    Returns
    -------
    numpy.ndarray
        {returns}

    Notes
    -----
    ``scipy.special.{call}``, the function ``scipy.stats`` evaluates for this
    distribution (the module docstring says why not ``scipy.stats``).

    Examples
    --------
    >>> {example}
    {value}
    """
_X, _Q, _P = (
    ("x", "Quantiles."),
    ("q", "Upper tail probabilities."),
    ("p", "Lower tail probabilities."),
)
_DF = ("df", "Degrees of freedom.")
_DOCS = {
    norm_sf: ("Upper tail P(Z > x) of the standard normal.", [_X], "P(Z > x).", "ndtr(-x)", "norm_sf(1.96)", "0.024998"),
    norm_cdf: ("Lower tail P(Z <= x) of the standard normal.", [_X], "P(Z <= x).", "ndtr(x)", "norm_cdf(1.96)", "0.975002"),
    norm_isf: ("Upper quantile of the standard normal: x with P(Z > x) = q.", [_Q], "The quantiles.", "ndtri(1 - q)", "norm_isf(0.025)", "1.959964"),
    norm_ppf: ("Quantile of the standard normal: x with P(Z <= x) = p.", [_P], "The quantiles.", "ndtri(p)", "norm_ppf(0.975)", "1.959964"),
    t_sf: ("Upper tail P(T > x) of Student's t.", [_X, _DF], "P(T > x).", "stdtr(df, -x)", "t_sf(2.0, 12)", "0.034328"),
    t_isf: ("Upper quantile of Student's t: x with P(T > x) = q.", [_Q, _DF], "The quantiles.", "stdtrit(df, 1 - q)", "t_isf(0.025, 12)", "2.178813"),
    t_ppf: ("Quantile of Student's t: x with P(T <= x) = p.", [_P, _DF], "The quantiles.", "stdtrit(df, p)", "t_ppf(0.975, 12)", "2.178813"),
    chi2_sf: ("Upper tail P(X > x) of the chi-square distribution.", [_X, _DF], "P(X > x).", "chdtrc(df, x)", "chi2_sf(3.84, 1)", "0.050044"),
    chi2_cdf: ("Lower tail P(X <= x) of the chi-square distribution.", [_X, _DF], "P(X <= x).", "chdtr(df, x)", "chi2_cdf(3.84, 1)", "0.949956"),
    chi2_isf: ("Upper quantile of the chi-square distribution: x with P(X > x) = q.", [_Q, _DF], "The quantiles.", "chdtri(df, q)", "chi2_isf(0.025, 12)", "23.336664"),
    chi2_ppf: ("Quantile of the chi-square distribution: x with P(X <= x) = p.", [_P, _DF], "The quantiles.", "gammaincinv(df / 2, p) * 2 (accurate for small p)", "chi2_ppf(0.025, 12)", "4.403789"),
    f_sf: ("Upper tail P(F > x) of the F distribution.", [_X, ("dfn", "Numerator degrees of freedom."), ("dfd", "Denominator degrees of freedom.")], "P(F > x).", "fdtrc(dfn, dfd, x)", "f_sf(4.965, 2, 10)", "0.031803"),
}  # fmt: skip
for _func, (_summary, _params, _returns, _call, _example, _value) in _DOCS.items():
    _func.__doc__ = _TEMPLATE.format(
        summary=_summary,
        parameters="".join(f"    {name} : array_like\n        {text}\n" for name, text in _params),
        returns=_returns,
        call=_call,
        example=f"round(float({_example}), 6)",
        value=_value,
    )
