"""Random-effects meta-analysis that reproduces R's metafor (``rma.uni`` and its verbs).

The model is y_i = x_i'b + u_i + e_i with e_i ~ N(0, v_i) (known sampling
variances) and u_i ~ N(0, tau^2). Everything follows metafor 3.8-1
(Viechtbauer 2010, J Stat Softw 36(3)); each function names the metafor
function it reproduces, and the tests compare with numbers produced by it
(``tests/reference/make_reference.R``).

This module holds the engine (:func:`_rma`, one model with moderators) and
the fitted intercept-only model (:func:`fit`, :class:`MetaResult`), whose
verbs live in their own modules: :mod:`~livingreview.stats.deleted`
(leave-one-out, influence), :mod:`~livingreview.stats.bias` (Egger,
trim-and-fill), :mod:`~livingreview.stats.qprofile` (the CI of tau^2) and
:mod:`~livingreview.stats.cumulative`. The p x p algebra is in
:mod:`~livingreview.stats.wls`, the tau^2 estimators in
:mod:`~livingreview.stats.tau2`.

Study indices in error messages are 0-based.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..io import _json_clean  # NaN -> null, the one copy
from . import dist
from .checks import _check_data, _labels, check_method
from .shared_docs import shared
from .tau2 import _se_tau2, _tau2_dl, _tau2_fisher, _tau2_he, _tau2_pm, _tau2_sj
from .wls import _EPS, _trP, _wls

if TYPE_CHECKING:
    from .bias import EggerResult, TrimFillResult
    from .qprofile import Tau2CI

__all__ = ["MetaResult", "fit"]


@dataclass
class _Core:
    """Everything rma.uni computes for one model (internal)."""

    k: int
    p: int
    method: str
    test: str
    level: float
    tau2: float
    se_tau2: float
    converged: bool
    iterations: int
    beta: np.ndarray
    vb: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    crit: float
    df: float | None
    s2w: float
    qm: float
    qm_df: tuple[int, int | None]
    qm_pval: float
    qe: float
    qe_pval: float
    vt: float
    i2: float
    h2: float
    w: np.ndarray
    hat: np.ndarray


def _rma(
    X: np.ndarray, y: np.ndarray, v: np.ndarray, method: str, test: str, level: float
) -> _Core:
    """rma.uni(yi, vi, mods = X, intercept = FALSE, method, test, level)."""
    k, p = X.shape
    if k < p:
        raise ValueError(f"k = {k} studies cannot estimate {p} coefficients")
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the model matrix is not of full rank (collinear or constant moderators)")
    converged, iterations, tau0 = True, 0, float("nan")
    if k == 1 or method == "FE":
        tau2 = 0.0
        if k == 1:
            test = "z"  # metafor: 'Setting argument test="z" since k=1.'
    elif k == p:
        raise ValueError(
            f"k = {k} studies leave no degrees of freedom to estimate tau^2 with {p} coefficients"
        )
    elif method == "HE":
        tau2 = _tau2_he(X, y, v)
    elif method == "DL":
        tau2 = _tau2_dl(X, y, v)[0]
    elif method == "SJ":
        tau2, tau0 = _tau2_sj(X, y, v)
    elif method in ("PM", "EB"):
        tau2 = _tau2_pm(X, y, v)
    else:
        tau2, converged, iterations = _tau2_fisher(X, y, v, method)
    tau2 = max(0.0, float(tau2))
    se_tau2 = float("nan") if k == 1 else _se_tau2(X, y, v, tau2, method, tau0)

    f = _wls(X, y, 1 / (v + tau2))
    vb = f.B.copy()
    s2w = 1.0
    if test == "knha":
        rss = float((f.w * f.r**2).sum())
        s2w = 0.0 if rss <= _EPS else rss / (k - p)
        vb = s2w * vb
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = f.b / se
    btt = np.arange(1, p) if p > 1 else np.arange(p)
    m = btt.size
    try:
        qm = float(f.b[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], f.b[btt]))
    except np.linalg.LinAlgError:
        qm = float("nan")
    if test == "knha":
        df: float | None = k - p
        qm = qm / m
        qm_df: tuple[int, int | None] = (m, k - p)
        qm_pval = float(dist.f_sf(qm, m, k - p))
        pval = 2 * dist.t_sf(np.abs(stat), k - p)
        crit = float(dist.t_isf((1 - level) / 2, k - p))
    else:
        df = None
        qm_df = (m, None)
        qm_pval = float(dist.chi2_sf(qm, m))
        pval = 2 * dist.norm_sf(np.abs(stat))
        crit = float(dist.norm_isf((1 - level) / 2))

    if k > p:
        fe = _wls(X, y, 1 / v)
        qe = max(0.0, float((fe.w * fe.r**2).sum()))
        qe_pval = float(dist.chi2_sf(qe, k - p))
        vt = (k - p) / _trP(X, fe)
        if method == "FE":
            i2 = max(0.0, 100 * (qe - (k - p)) / qe) if qe > 0 else 0.0  # metafor: 0
            h2 = qe / (k - p)
        else:
            i2 = 100 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1
    else:
        qe, qe_pval, i2, h2, vt = 0.0, 1.0, 0.0, 1.0, 0.0

    hat = np.einsum("ij,jk,ik->i", X, f.B, X) * f.w
    hat[hat > 1 - 10 * _EPS] = 1.0
    return _Core(
        k=k, p=p, method=method, test=test, level=level, tau2=tau2, se_tau2=se_tau2,
        converged=converged, iterations=iterations, beta=f.b, vb=vb, se=se, stat=stat,
        pval=pval, ci_low=f.b - crit * se, ci_high=f.b + crit * se, crit=crit, df=df,
        s2w=s2w, qm=qm, qm_df=qm_df, qm_pval=qm_pval, qe=qe, qe_pval=qe_pval, vt=vt,
        i2=i2, h2=h2, w=f.w, hat=hat,
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class MetaResult:
    """A fitted intercept-only model, as metafor's ``rma.uni`` object.

    ``estimate``/``se``/``zval``/``pval``/``ci_*``: the pooled effect (``zval``
    is the t statistic under ``test="knha"``, with ``df`` = k - 1);
    ``pi_*``: prediction interval as ``predict.rma``,
    estimate +- crit sqrt(se^2 + tau^2) (NaN for method FE, as metafor); ``tau2``/``se_tau2``; ``i2`` (%) and
    ``h2`` computed from the typical within-study variance ``vt`` =
    (k - 1)/tr(P) (metafor's default definition); ``q``/``q_pval``: Cochran's
    Q with k - 1 df; ``s2w``: the Knapp-Hartung scale factor (1 for z);
    ``weights``: percent weights w_i / sum w; ``hat``: hat values;
    ``labels``: the study labels (metafor's ``slab``, 1..k by default).

    The statistics verbs are methods, as metafor's functions of a fitted
    model: :meth:`leave1out`, :meth:`influence`, :meth:`regtest`,
    :meth:`trimfill`, :meth:`tau2_ci` and :meth:`without`. They take
    ``method``, ``test`` and ``level`` from the fit, so their settings cannot
    diverge from it, and :meth:`leave1out` and :meth:`influence` share one
    solution of the k deleted fits (computed on first use).

    Examples
    --------
    >>> from livingreview import stats
    >>> res = stats.fit([0.1, 0.3, 0.35, 0.6, -0.1], [0.02, 0.03, 0.01, 0.05, 0.04])
    >>> round(res.estimate, 4), round(res.tau2, 4)
    (0.2477, 0.02)
    >>> res.leave1out()["estimate"].round(4).tolist()
    [0.29, 0.2336, 0.2074, 0.1993, 0.305]
    """

    k: int
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    tau: float
    se_tau2: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_pval: float
    vt: float
    method: str
    test: str
    level: float
    df: float | None
    crit: float
    s2w: float
    converged: bool
    iterations: int
    weights: np.ndarray = field(repr=False)
    hat: np.ndarray = field(repr=False)
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    labels: tuple[Any, ...] = field(repr=False, default=())

    def to_dict(self) -> dict[str, Any]:
        """Scalar fields as JSON-ready Python values (NaN -> None); arrays left out."""
        d = asdict(self)
        for name in ("weights", "hat", "yi", "vi", "labels"):
            d.pop(name)
        return _json_clean(d)

    @cached_property
    def _deleted(self) -> dict[str, np.ndarray]:
        """The k deleted fits (one per omitted study), shared by leave1out and influence."""
        from .deleted import _loo_core  # deleted imports this module

        return _loo_core(self)

    def leave1out(self) -> pd.DataFrame:
        """Refit without each study in turn (metafor ``leave1out``).

        One row per omitted study, columns ``omitted, estimate, se, ci_low,
        ci_high, pval, tau2, i2, q`` then ``zval, q_pval, h2`` (``zval`` is a
        t statistic with k - 2 df under knha). Deleted fits of k - 1 = 1
        study follow metafor's k = 1 rules (tau^2 = 0, z test). Needs k >= 2.

        Examples
        --------
        >>> from livingreview import stats
        >>> res = stats.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05], test="knha")
        >>> res.leave1out()["estimate"].round(4).tolist()
        [0.3717, 0.3136, 0.2917, 0.2675]
        """
        from .deleted import _leave1out

        return _leave1out(self)

    def influence(self) -> pd.DataFrame:
        """Case-deletion diagnostics (metafor ``influence.rma.uni``), with the fit's test.

        Columns ``study, rstudent, dffits, cook_d, cov_r, tau2_del, qe_del,
        hat, weight, dfbs, inf``; see :func:`influence` for the formulas.
        Needs k >= 2.

        Examples
        --------
        >>> from livingreview import stats
        >>> res = stats.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05], labels="abcd")
        >>> res.influence().set_index("study")["cook_d"].round(3).to_dict()
        {'a': 0.697, 'b': 0.011, 'c': 0.028, 'd': 0.221}
        """
        from .deleted import _influence

        return _influence(self)

    def regtest(self, model: str = "rma") -> EggerResult:
        """Egger's regression test with the SE as predictor (metafor ``regtest``).

        ``model="rma"``: the fit's model (method, test, level) with sqrt(v_i)
        as moderator; ``model="lm"``: weighted least squares with a
        multiplicative dispersion, as ``regtest(x, model="lm")``. Needs k >= 3.

        Examples
        --------
        >>> from livingreview import stats
        >>> res = stats.fit([0.1, 0.3, 0.35, 0.6, -0.1], [0.02, 0.03, 0.01, 0.05, 0.04])
        >>> round(res.regtest().statistic, 4)
        0.03
        """
        from .bias import _regtest

        return _regtest(self, model)

    def trimfill(
        self, estimator: str = "L0", side: str | None = None, maxiter: int = 100
    ) -> TrimFillResult:
        """Duval & Tweedie's trim-and-fill (metafor ``trimfill.rma.uni``); see
        :func:`trim_and_fill`. The filled data are refitted with the fit's
        method, test and level. Needs k >= 3.

        Examples
        --------
        >>> from livingreview import stats
        >>> res = stats.fit([0.05, 0.1, 0.3, 0.35, 0.6, 0.9, 1.2], [0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12])
        >>> tf = res.trimfill()
        >>> tf.k0, tf.side, round(tf.estimate, 4)
        (2, 'left', 0.2469)
        """
        from .bias import _trimfill

        return _trimfill(self, estimator, side, maxiter)

    def tau2_ci(self) -> Tau2CI:
        """Q-profile confidence interval for tau^2 at the fit's level; see :func:`tau2_ci`.

        Examples
        --------
        >>> from livingreview import stats
        >>> res = stats.fit([0.1, 0.3, 0.35, 0.6, -0.1], [0.02, 0.03, 0.01, 0.05, 0.04])
        >>> ci = res.tau2_ci()
        >>> round(ci.tau2_low, 4), round(ci.tau2_high, 4)
        (0.0, 0.5366)
        """
        from .qprofile import _tau2_ci

        return _tau2_ci(self)

    def cumul(self, order: Sequence[Any] | np.ndarray | None = None) -> pd.DataFrame:
        """Cumulative meta-analysis in ``order`` (metafor ``cumul``); see
        :func:`livingreview.stats.cumulative.cumulative`.

        Examples
        --------
        >>> from livingreview import stats
        >>> res = stats.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05])
        >>> res.cumul(order=[4, 3, 2, 1])["k"].tolist()
        [1, 2, 3, 4]
        """
        from .cumulative import cumulative

        return cumulative(self, order)

    def without(self, labels: Sequence[Any]) -> MetaResult:
        """The same model refitted without the studies named by ``labels``.

        Examples
        --------
        >>> from livingreview import stats
        >>> res = stats.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05], labels="abcd")
        >>> sub = res.without(["d"])
        >>> sub.k, sub.labels, round(sub.estimate, 4)
        (3, ('a', 'b', 'c'), 0.2675)
        """
        drop = set(labels)
        unknown = drop - set(self.labels)
        if unknown:
            raise ValueError(f"without(): no study labelled {sorted(map(str, unknown))}")
        keep = np.array([lab not in drop for lab in self.labels], dtype=bool)
        return fit(
            self.yi[keep], self.vi[keep], self.method, self.test, self.level,
            labels=[lab for lab, kept in zip(self.labels, keep, strict=True) if kept],
        )  # fmt: skip


@shared
def fit(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    labels: Sequence[Any] | None = None,
) -> MetaResult:
    """Fit the random-effects (or fixed-effect, ``method="FE"``) model.

    Reproduces ``metafor::rma(yi, vi, method=method, test=test, level=level)``
    and ``predict()`` for the prediction interval.

    Parameters
    ----------
    yi : array_like
        Effect estimates, one per study (finite).
    vi : array_like
        Their sampling variances (finite, > 0).
    method : str, default "REML"
        tau^2 estimator: REML, ML, DL, PM, HE, SJ, EB, or FE (fixed effect,
        tau^2 = 0).
    test : str, default "z"
        ``"z"`` (Wald) or ``"knha"`` (Knapp-Hartung).
    level : float, default 0.95
        Confidence level of the CI and the prediction interval.
    labels : sequence, optional
        Study labels for the verbs' output (metafor's ``slab``); default 1..k.

    Returns
    -------
    MetaResult
        The fitted model; its verbs (``leave1out``, ``influence``,
        ``regtest``, ``trimfill``, ``tau2_ci``, ``cumul``, ``without``) take
        its method, test and level.

    Raises
    ------
    ValueError
        For empty input, non-finite yi, and non-finite or non-positive vi
        (naming the 0-based study index), or an unknown method or test.

    Notes
    -----
    With w_i = 1/(v_i + tau^2), mu = sum w_i y_i / sum w_i and
    Var(mu) = 1 / sum w_i; the CI is mu +- z_{1-a/2} se and the prediction
    interval mu +- z_{1-a/2} sqrt(se^2 + tau^2) (none for FE). ``test="knha"``
    scales the variance by s2w = sum w_i (y_i - mu)^2 / (k - 1) and uses the
    t distribution with k - 1 df for the CI, the test and the prediction
    interval (Knapp & Hartung 2003, Stat Med 22:2693-2710). I^2 =
    100 tau^2 / (tau^2 + vt) with vt = (k - 1) / tr(P) (Higgins & Thompson
    2002). tau^2 is truncated at 0. k = 1 gives tau^2 = 0, Q = 0, I^2 = 0 and
    a z test, as metafor does. REML and ML report ``converged=False`` (and
    warn) when Fisher scoring needed the fallback root-finder.
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor
    package. J Stat Softw 36(3).

    Examples
    --------
    The BCG vaccine trials (metafor: estimate -0.7145, tau^2 0.3132, 95% CI
    -1.0669 to -0.3622, prediction interval -1.8667 to 0.4376):

    {bcg}
    >>> res = stats.fit(yi, vi)
    >>> round(res.estimate, 4), round(res.tau2, 4), round(res.i2, 2)
    (-0.7145, 0.3132, 92.22)
    >>> round(res.ci_low, 4), round(res.ci_high, 4), round(res.pi_low, 4), round(res.pi_high, 4)
    (-1.0669, -0.3622, -1.8667, 0.4376)
    >>> knha = stats.fit(yi, vi, test="knha")
    >>> round(knha.ci_low, 4), round(knha.ci_high, 4), knha.df
    (-1.1084, -0.3206, 12)
    """
    y, v = _check_data(yi, vi)
    m, t = check_method(method, test, level)
    lab = tuple(_labels(labels, y.size))
    c = _rma(np.ones((y.size, 1)), y, v, m, t, level)
    est, se = float(c.beta[0]), float(c.se[0])
    # predict.rma gives no prediction interval for a fixed-effect model
    half = c.crit * math.sqrt(se**2 + c.tau2) if m != "FE" else float("nan")
    return MetaResult(
        k=c.k, estimate=est, se=se, zval=float(c.stat[0]), pval=float(c.pval[0]),
        ci_low=float(c.ci_low[0]), ci_high=float(c.ci_high[0]),
        pi_low=est - half, pi_high=est + half, tau2=c.tau2, tau=math.sqrt(c.tau2),
        se_tau2=c.se_tau2, i2=c.i2, h2=c.h2, q=c.qe, q_df=c.k - 1, q_pval=c.qe_pval,
        vt=c.vt, method=m, test=c.test, level=level, df=c.df, crit=c.crit, s2w=c.s2w,
        converged=c.converged, iterations=c.iterations, weights=100 * c.w / c.w.sum(),
        hat=c.hat, yi=y, vi=v, labels=lab,
    )  # fmt: skip
