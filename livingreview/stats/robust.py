"""Cluster-robust (sandwich) inference for a fitted multilevel model.

The model-based standard errors of :mod:`livingreview.stats.multilevel` are right
only if the working covariance (the imputed V, the random-effects structure)
is right. Cluster-robust variance estimation keeps the point estimate and
replaces its variance by a sandwich built from each trial's residuals, which
stays consistent when the working model is wrong, as long as trials are
independent:

    V^R = B [ sum_i X_i' W_i A_i r_i r_i' A_i' W_i X_i ] B,   B = (X'WX)^-1

with W_i the model's weight matrix of trial i and r_i its residuals.

* :func:`cr1` (``A_i = I`` and a factor m/(m - p), t tests on m - p df, m
  trials) is metafor's ``robust(res, cluster, adjust = TRUE)``.
* :func:`cr2` (the bias-reduced linearisation of Bell & McCaffrey 2002,
  A_i = (I - H_ii)^(-1/2) in the metric of the working model) with
  Satterthwaite degrees of freedom per coefficient is clubSandwich's
  ``coef_test(res, vcov = "CR2", test = "Satterthwaite")`` and
  ``conf_int(...)``; it is the small-sample method recommended by Tipton
  (2015) and Pustejovsky & Tipton (2018).

Clusters are the trials of the fit (clubSandwich requires the random effects
to be nested in the clusters; the trial is the outermost level). Everything
is accumulated trial by trial, grouped by trial size; the Satterthwaite
degrees of freedom, which involve all pairs of trials, reduce to p x p sums.

References: Tipton E (2015) Small sample adjustments for robust variance
estimation with meta-regression. Psychol Methods 20:375-393.
Pustejovsky JE, Tipton E (2018) Small-sample methods for cluster-robust
variance estimation and hypothesis testing in fixed effects models. J Bus
Econ Stat 36:672-683. Pustejovsky JE, Tipton E (2021) Meta-analysis with
robust variance estimation: expanding the range of working models. Prev Sci
23:425-438. Hedges LV, Tipton E, Johnson MC (2010) Res Synth Methods 1:39-65.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import dist
from .multilevel import MultilevelResult

__all__ = ["RobustResult", "cr1", "cr2"]

_EIG_TOL = 1e-12  # clubSandwich's matrix_power: eigenvalues <= 10^-12 are dropped


@dataclass(frozen=True, eq=False)
class RobustResult:
    """Cluster-robust tests of the coefficients of a fitted model.

    ``coefficients``: DataFrame with ``term, estimate, se, statistic, df,
    pval, ci_low, ci_high`` (t tests; ``df`` per coefficient for CR2, m - p
    for CR1). ``estimate``... ``ci_high``, ``df``: the first coefficient.
    ``qm``/``qm_df``/``qm_pval``: CR1 only, the robust Wald F test of the
    moderators as metafor's ``robust()`` (NaN for CR2). ``vcov``: the
    robust covariance matrix of the coefficients; ``n_clusters``: m.
    """

    type: str
    n_clusters: int
    coefficients: pd.DataFrame = field(repr=False)
    estimate: float
    se: float
    statistic: float
    df: float
    pval: float
    ci_low: float
    ci_high: float
    qm: float
    qm_df: tuple[int, int]
    qm_pval: float
    level: float
    vcov: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        keys = ("type", "n_clusters", "estimate", "se", "statistic", "df", "pval",
                "ci_low", "ci_high", "qm", "qm_pval", "level")  # fmt: skip
        d = {}
        for key in keys:
            v = getattr(self, key)
            d[key] = (
                float(v)
                if isinstance(v, float | np.floating) and math.isfinite(v)
                else (None if isinstance(v, float | np.floating) else v)
            )
        d["qm_df"] = list(self.qm_df)
        return d


def _parts(res: MultilevelResult) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Per-group W, X, r of the fit, and B = (X'WX)^-1, b."""
    ev = res._eval
    return list(zip(res._groups, ev.W, ev.L, ev.r, strict=True)), ev.B, ev.b


def _result(
    res: MultilevelResult,
    kind: str,
    vcov: np.ndarray,
    df: np.ndarray,
    level: float,
    m: int,
    qm: tuple[float, tuple[int, int], float],
) -> RobustResult:
    b = res.beta
    se = np.sqrt(np.diag(vcov))
    stat = b / se
    pval = 2 * dist.t_sf(np.abs(stat), df)
    crit = dist.t_isf((1 - level) / 2, df)
    terms = res.coefficients["term"].tolist()
    coef = pd.DataFrame(
        {
            "term": terms,
            "estimate": b,
            "se": se,
            "statistic": stat,
            "df": df,
            "pval": pval,
            "ci_low": b - crit * se,
            "ci_high": b + crit * se,
        }
    )
    r0 = coef.iloc[0]
    return RobustResult(
        type=kind, n_clusters=m, coefficients=coef, estimate=float(r0.estimate),
        se=float(r0.se), statistic=float(r0.statistic), df=float(r0.df), pval=float(r0.pval),
        ci_low=float(r0.ci_low), ci_high=float(r0.ci_high), qm=qm[0], qm_df=qm[1],
        qm_pval=qm[2], level=level, vcov=vcov,
    )  # fmt: skip


def cr1(res: MultilevelResult, level: float | None = None) -> RobustResult:
    """CR1 cluster-robust tests, as metafor's ``robust(res, cluster = trial)``.

    Parameters
    ----------
    res
        A fit from :func:`livingreview.stats.multilevel.fit` or ``fit_multivariate``.
    level
        Confidence level (default: the fit's).

    Returns
    -------
    RobustResult
        t tests with m - p degrees of freedom (m trials, p coefficients) and
        the robust Wald test of the moderators, F(q, m - p).

    Notes
    -----
    V^CR1 = m/(m - p) B [sum_i X_i'W_i r_i r_i'W_i X_i] B (Hedges, Tipton &
    Johnson 2010; metafor's default ``adjust = TRUE``). The CR1 tests are
    liberal with few trials; prefer :func:`cr2` then (Tipton 2015).

    Examples
    --------
    >>> from livingreview.stats import multilevel, robust
    >>> res = multilevel.fit([0.1, 0.3, 0.2, 0.5, 0.4, 0.0, 0.3], [0.02] * 7,
    ...                      trial=[1, 1, 2, 2, 3, 3, 4])
    >>> rb = robust.cr1(res)
    >>> rb.df, rb.n_clusters
    (3.0, 4)
    """
    level = res.level if level is None else level
    parts, B, b = _parts(res)
    p = b.size
    m = res.n_trials
    if m <= p:
        raise ValueError(f"{m} trials cannot give robust tests of {p} coefficients (need m > p)")
    meat = np.zeros((p, p))
    for g, W, _L, r in parts:
        WX = W @ g.X
        comp = np.einsum("bnp,bn->bp", WX, r)
        meat += comp.T @ comp
    vcov = m / (m - p) * (B @ meat @ B)
    vcov = (vcov + vcov.T) / 2
    btt = np.arange(1, p) if p > 1 else np.arange(1)
    q = btt.size
    qm = float(b[btt] @ np.linalg.solve(vcov[np.ix_(btt, btt)], b[btt])) / q
    qm_pval = float(dist.f_sf(qm, q, m - p))
    return _result(res, "CR1", vcov, np.full(p, float(m - p)), level, m, (qm, (q, m - p), qm_pval))


def _inv_sqrt_psd(G: np.ndarray) -> np.ndarray:
    """Batched symmetric G^(-1/2), eigenvalues <= 1e-12 set to 0 (clubSandwich matrix_power)."""
    vals, vecs = np.linalg.eigh(G)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(vals > _EIG_TOL, vals**-0.5, 0.0)
    return (vecs * f[:, None, :]) @ np.swapaxes(vecs, 1, 2)


def cr2(res: MultilevelResult, level: float | None = None) -> RobustResult:
    """CR2 cluster-robust t tests with Satterthwaite df, as clubSandwich's ``coef_test``.

    Parameters
    ----------
    res
        A fit from :func:`livingreview.stats.multilevel.fit` or ``fit_multivariate``.
    level
        Confidence level (default: the fit's).

    Returns
    -------
    RobustResult
        ``coefficients`` with the CR2 standard errors, Satterthwaite degrees
        of freedom, p-values and t-based intervals of
        ``clubSandwich::coef_test(res, vcov = "CR2", cluster = trial)`` and
        ``conf_int``; ``qm`` is NaN (the HTZ Wald test is not implemented).

    Notes
    -----
    With the working covariance M_i = L_i L_i' of the fit (its inverse W_i
    the weights), B = (X'WX)^-1 and R_i = L_i' (clubSandwich's upper Cholesky
    factor):

        A_i = R_i' [R_i M_i R_i' - R_i X_i B X_i' R_i']^(-1/2) R_i

    (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018, eq. 5). The
    Satterthwaite df of coefficient c is nu = (sum_i P_ii)^2 / sum_ij P_ij^2
    with P_ij = delta_ij g_i'g_i - h_i'h_j, g_i = [B X_i'W_i A_i L_i]_c and
    h_i = [B X_i'W_i A_i X_i C]_c, C C' = B; the double sum is
    sum_i (g_i'g_i)^2 - 2 sum_i g_i'g_i h_i'h_i + ||sum_i h_i h_i'||_F^2, so
    the cost is linear in the number of trials (Pustejovsky & Tipton 2018;
    Tipton 2015).

    Examples
    --------
    >>> from livingreview.stats import multilevel, robust
    >>> res = multilevel.fit([0.1, 0.3, 0.2, 0.5, 0.4, 0.0, 0.3], [0.02] * 7,
    ...                      trial=[1, 1, 2, 2, 3, 3, 4])
    >>> rb = robust.cr2(res)
    >>> rb.n_clusters, rb.df < 3
    (4, True)
    """
    level = res.level if level is None else level
    parts, B, b = _parts(res)
    p = b.size
    m = res.n_trials
    if m < 2:
        raise ValueError("cluster-robust variance needs at least 2 trials")
    Cb = np.linalg.cholesky(B)
    meat = np.zeros((p, p))
    gg_all, hh_all = [], []
    S = np.zeros((p, p, p))  # per coefficient c: sum_i h_ci h_ci'
    for g, W, L, r in parts:
        M = L @ np.swapaxes(L, 1, 2)
        R = np.swapaxes(L, 1, 2)  # upper: M = R'R
        RX = R @ g.X
        G = R @ M @ L - RX @ B @ np.swapaxes(RX, 1, 2)
        G = (G + np.swapaxes(G, 1, 2)) / 2
        A = L @ _inv_sqrt_psd(G) @ R  # R' G^-1/2 R
        E = np.swapaxes(g.X, 1, 2) @ W @ A  # X_i' W_i A_i  (nb, p, n)
        comp = np.einsum("bpn,bn->bp", E, r)
        meat += comp.T @ comp
        BE = np.einsum("pq,bqn->bpn", B, E)
        Gi = BE @ L  # (nb, p, n)
        Hi = BE @ g.X @ Cb  # (nb, p, p)
        gg = (Gi**2).sum(axis=2)  # (nb, p): g_ci'g_ci
        hh = (Hi**2).sum(axis=2)  # (nb, p): h_ci'h_ci
        S += np.einsum("bcj,bck->cjk", Hi, Hi)
        gg_all.append(gg)
        hh_all.append(hh)
    vcov = B @ meat @ B
    vcov = (vcov + vcov.T) / 2
    gg = np.concatenate(gg_all)
    hh = np.concatenate(hh_all)
    E_c = gg.sum(axis=0) - hh.sum(axis=0)
    sumsq = (gg**2).sum(axis=0) - 2 * (gg * hh).sum(axis=0) + (S**2).sum(axis=(1, 2))
    df = E_c**2 / sumsq
    nan = float("nan")
    return _result(res, "CR2", vcov, df, level, m, (nan, (p - 1 if p > 1 else 1, 0), nan))
