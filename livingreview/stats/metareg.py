"""Mixed-effects meta-regression (``rma(yi, vi, mods = ~ ...)``) and its moderator matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..io import _json_clean  # NaN -> null, the one copy
from .checks import _check_data, check_method
from .rma import _rma
from .shared_docs import shared

__all__ = ["MetaRegression", "meta_regression", "moderator_matrix"]


@dataclass(frozen=True, eq=False)
class MetaRegression:
    """Mixed-effects meta-regression as ``rma(yi, vi, mods = ~ ...)``.

    ``coefficients``: DataFrame with ``term, estimate, se, statistic, pval,
    ci_low, ci_high`` (statistic is z, or t with k - p df under knha).
    ``qm``/``qm_pval``: omnibus test of all moderators (chi^2 with m df, or
    F(m, k - p) under knha, ``qm_df``); ``qe``/``qe_pval``: residual
    heterogeneity; ``r2``: pseudo-R^2 in PERCENT (0-100),
    max(0, 100 (tau^2_RE - tau^2_ME) / tau^2_RE) with tau^2_RE from the
    model without moderators (0 when tau^2_RE = 0), as metafor's ``R2``
    (for method FE: adjusted R^2 of the weighted regression, in %).
    """

    k: int
    p: int
    coefficients: pd.DataFrame = field(repr=False)
    tau2: float
    se_tau2: float
    i2: float
    h2: float
    r2: float | None
    qm: float
    qm_df: tuple[int, int | None]
    qm_pval: float
    qe: float
    qe_df: int
    qe_pval: float
    method: str
    test: str
    level: float
    converged: bool

    def to_dict(self) -> dict[str, Any]:
        d = {
            key: _json_clean(getattr(self, key))
            for key in (
                "k",
                "p",
                "tau2",
                "se_tau2",
                "i2",
                "h2",
                "r2",
                "qm",
                "qm_pval",
                "qe",
                "qe_df",
                "qe_pval",
                "method",
                "test",
                "level",
                "converged",
            )
        }
        d["qm_df"] = list(self.qm_df)
        d["coefficients"] = [
            _json_clean(row) for row in self.coefficients.to_dict(orient="records")
        ]
        return d


@shared
def meta_regression(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    mods: np.ndarray | pd.DataFrame | Sequence[Sequence[float]],
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    names: Sequence[str] | None = None,
) -> MetaRegression:
    """Mixed-effects meta-regression on moderators, as ``rma(yi, vi, mods = ~ ...)``.

    Parameters
    ----------
    {data}
    mods : array_like or pandas.DataFrame
        k x m moderators (a DataFrame's column names are the terms); an
        intercept is added. Finite numbers only: code categories as 0/1
        columns.
    {model}
    names : sequence of str, optional
        Term names overriding the columns' (default ``x1``, ``x2``, ...).

    Returns
    -------
    MetaRegression
        ``coefficients`` (term, estimate, se, statistic, pval, ci_low,
        ci_high), residual ``tau2``, the omnibus test of the moderators
        (``qm``, ``qm_df``, ``qm_pval``), residual heterogeneity ``qe``, and
        the pseudo-R^2 ``r2`` in percent.

    Raises
    ------
    ValueError
        Naming the study and moderator of a value that is not finite, for a
        design not of full rank, or k <= m + 1 with a random-effects method.

    Notes
    -----
    The model y_i = b0 + x_i'b + u_i + e_i with u_i ~ N(0, tau^2) residual
    heterogeneity; b = (X'WX)^-1 X'Wy with w_i = 1/(v_i + tau^2), tau^2
    estimated by ``method`` on the residuals. QM is the Wald chi^2 test of
    b (F(m, k - p) under knha); R^2 = max(0, 100 (tau^2_RE - tau^2_ME) /
    tau^2_RE), tau^2_RE from the model without moderators (Raudenbush 2009,
    in: The handbook of research synthesis and meta-analysis, 2nd ed., ch. 16).
    For FE, R^2 is the adjusted R^2 of the weighted regression.

    Examples
    --------
    BCG vaccine trials on latitude and year (metafor: b = -3.5454, -0.0280,
    0.0019; tau^2 0.1108; R^2 64.63%; QM 12.204):

    {bcg}
    >>> mr = stats.meta_regression(yi, vi, dat[["ablat", "year"]])
    >>> mr.coefficients["estimate"].round(4).tolist()
    [-3.5454, -0.028, 0.0019]
    >>> round(mr.tau2, 4), round(mr.r2, 2), round(mr.qm, 3)
    (0.1108, 64.63, 12.204)
    """
    y, v = _check_data(yi, vi)
    meth, t = check_method(method, test, level)
    Z, terms = moderator_matrix(mods, y.size, names)
    X = np.column_stack([np.ones(y.size), Z])
    k, p = X.shape
    if meth != "FE" and k <= p:
        raise ValueError(
            f"meta_regression needs k > {p} studies for {p - 1} moderators, got k = {k}"
        )
    c = _rma(X, y, v, meth, t, level)
    if meth == "FE":
        if np.var(y) == 0:
            r2: float | None = 0.0
        else:
            import statsmodels.api as sm

            r2 = max(0.0, 100 * float(sm.WLS(y, X, weights=c.w).fit().rsquared_adj))
    else:
        tau2_re = _rma(np.ones((k, 1)), y, v, meth, t, level).tau2
        r2 = 0.0 if tau2_re == 0 else max(0.0, 100 * (tau2_re - c.tau2) / tau2_re)
    coef = pd.DataFrame(
        {
            "term": ["intercept", *terms],
            "estimate": c.beta,
            "se": c.se,
            "statistic": c.stat,
            "pval": c.pval,
            "ci_low": c.ci_low,
            "ci_high": c.ci_high,
        }
    )
    return MetaRegression(
        k=k, p=p, coefficients=coef, tau2=c.tau2, se_tau2=c.se_tau2, i2=c.i2, h2=c.h2, r2=r2,
        qm=c.qm, qm_df=c.qm_df, qm_pval=c.qm_pval, qe=c.qe, qe_df=k - p, qe_pval=c.qe_pval,
        method=meth, test=c.test, level=level, converged=c.converged,
    )  # fmt: skip


def moderator_matrix(
    mods: Any, n: int, names: Sequence[str] | None = None, unit: str = "study"
) -> tuple[np.ndarray, list[str]]:
    """Moderators as an n x m float matrix and their names, checked once for every model.

    Parameters
    ----------
    mods : pandas.DataFrame, array_like or None
        A DataFrame (its column names are the terms), an n x m array or a
        vector (terms ``x1``, ``x2``, ...), or None (no moderators).
    n : int
        Number of rows expected (studies or effects).
    names : sequence of str, optional
        Term names overriding the default ones.
    unit : str, default "study"
        What a row is, for messages ("study", "effect").

    Returns
    -------
    Z : numpy.ndarray
        n x m float matrix (n x 0 for None).
    terms : list of str
        The m term names.

    Raises
    ------
    ValueError
        For a wrong number of rows or names, or naming the ``unit`` and the
        moderator of the first value that is not finite.

    Notes
    -----
    One copy of the moderator rules for :func:`meta_regression` and the
    multilevel models (:func:`livingreview.stats.multilevel.fit`): metafor's
    ``mods`` argument without its formula interface (categorical moderators
    are coded by the caller).

    Examples
    --------
    >>> from livingreview.stats import datasets
    >>> Z, terms = moderator_matrix(datasets.bcg()[["ablat", "year"]], 13)
    >>> Z.shape, terms, Z[0].tolist()
    ((13, 2), ['ablat', 'year'], [44.0, 1948.0])
    """
    if mods is None:
        Z, terms = np.zeros((n, 0)), []
    elif isinstance(mods, pd.DataFrame):
        terms = [str(c) for c in mods.columns]
        Z = mods.to_numpy(dtype=float)
    else:
        Z = np.asarray(mods, dtype=float)
        if Z.ndim == 1:
            Z = Z[:, None]
        terms = [f"x{j + 1}" for j in range(Z.shape[1])]
    if names is not None:
        terms = [str(name) for name in names]
    if Z.ndim != 2 or Z.shape[0] != n:
        raise ValueError(f"mods must have one row per {unit} ({n}), got shape {Z.shape}")
    if len(terms) != Z.shape[1]:
        raise ValueError(f"{len(terms)} names for {Z.shape[1]} moderators")
    bad = np.argwhere(~np.isfinite(Z))
    if bad.size:
        i, j = bad[0]
        raise ValueError(
            f"{unit} {i}: moderator '{terms[j]}' must be a finite number (got {float(Z[i, j])!r})"
        )
    return Z, terms
