"""Effect sizes from summary statistics, computed exactly as R's metafor ``escalc``.

Every effect function is vectorised over studies and returns ``(yi, vi)``: the
effect estimate and its sampling variance as float numpy arrays. Arm 1 is the
intervention and arm 2 the control; effects are arm 1 minus arm 2 (or arm 1
over arm 2 on the log scale for ratios).

Bad input raises :class:`EffectInputError` (a ``ValueError``) naming the
0-based study index and the field, e.g.
``study 3: field 'sd1' must be > 0 (got -1.0)``. Its ``index``, ``field`` and
``value`` attributes let a caller map the problem back to a sheet row.

References
----------
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and
related estimators. J Educ Stat 6:107-128.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
J Stat Softw 36(3). Source of ``escalc`` (metafor 3.8-1) for the exact rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special

from . import dist
from .shared_docs import shared

__all__ = [
    "EffectInputError",
    "align",
    "design_effect",
    "effective_n",
    "hedges_correction",
    "log_odds_ratio",
    "log_risk_ratio",
    "sd_from_se",
    "se_from_ci",
    "se_from_p",
    "se_from_t",
    "smd",
    "smd_from_change",
    "smd_from_md_se",
]

ArrayLike = float | int | Sequence[float] | np.ndarray


class EffectInputError(ValueError):
    """A summary statistic that cannot give an effect size.

    ``index`` is the 0-based position of the study in the input vectors,
    ``field`` the argument name (``'sd1'``, ``'n2'``, ...), ``value`` the bad value.
    """

    def __init__(self, index: int, field: str, expected: str, value: Any) -> None:
        self.index = int(index)
        self.field = field
        self.expected = expected
        self.value = value
        super().__init__(f"study {self.index}: field '{field}' {expected} (got {value!r})")


def _arrays(**named: ArrayLike) -> dict[str, np.ndarray]:
    """Convert arguments to 1-D float arrays of one common length (scalars broadcast)."""
    arrs = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in named.items()}
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrs.values()))
    except ValueError as exc:
        lengths = {k: a.shape[0] for k, a in arrs.items()}
        raise ValueError(f"input vectors differ in length: {lengths}") from exc
    if len(shape) != 1:
        raise ValueError(f"inputs must be 1-D vectors over studies, got shape {shape}")
    return {k: np.broadcast_to(a, shape).astype(float, copy=True) for k, a in arrs.items()}


def _first_bad(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _check_finite(arrs: dict[str, np.ndarray]) -> None:
    """Raise for the first study (lowest index, then argument order) with NaN/inf."""
    bad = [(_first_bad(~np.isfinite(a)), k) for k, a in arrs.items()]
    bad = [(i, k) for i, k in bad if i is not None]
    if bad:
        i, k = min(bad, key=lambda t: t[0])
        raise EffectInputError(i, k, "must be a finite number", float(arrs[k][i]))


def _check(arrs: dict[str, np.ndarray], field: str, bad: np.ndarray, expected: str) -> None:
    i = _first_bad(bad)
    if i is not None:
        raise EffectInputError(i, field, expected, float(arrs[field][i]))


def hedges_correction(m: ArrayLike) -> np.ndarray:
    """Exact small-sample correction c(m) of the standardised mean difference.

    Parameters
    ----------
    m : array_like
        Degrees of freedom, n1 + n2 - 2 for a two-group comparison.

    Returns
    -------
    numpy.ndarray
        c(m); NaN where m <= 1.

    Notes
    -----
    c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)), about 1 - 3/(4m - 1);
    computed on the log scale, as metafor's ``.cmicalc``. Hedges LV (1981).
    Distribution theory for Glass's estimator of effect size and related
    estimators. J Educ Stat 6:107-128, eq. 6e.

    Examples
    --------
    >>> hedges_correction([10, 38]).round(4)
    array([0.9227, 0.9801])
    """
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore"):
        out = np.exp(special.gammaln(m / 2) - np.log(np.sqrt(m / 2)) - special.gammaln((m - 1) / 2))
    return np.where(m <= 1, np.nan, out)


def _hedges_g(d: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """g = c(n1+n2-2) d; vi = 1/n1 + 1/n2 + g^2 / (2 (n1+n2)) (metafor SMD, vtype="LS")."""
    g = hedges_correction(n1 + n2 - 2) * d
    vi = 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))
    return g, vi


def _check_groups(a: dict[str, np.ndarray], *fields: str) -> None:
    for f in fields:
        _check(a, f, a[f] < 2, "must be >= 2")


def smd(
    m1: ArrayLike,
    sd1: ArrayLike,
    n1: ArrayLike,
    m2: ArrayLike,
    sd2: ArrayLike,
    n2: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g (bias-corrected standardised mean difference) and its variance.

    Parameters
    ----------
    m1, sd1, n1 : array_like
        Mean, SD and size of arm 1 (intervention); sd > 0, n >= 2.
    m2, sd2, n2 : array_like
        The same for arm 2 (control).

    Returns
    -------
    yi, vi : numpy.ndarray
        g and its sampling variance, one per study.

    Raises
    ------
    EffectInputError
        Naming the study and field of the first value out of range.

    Notes
    -----
    d = (m1 - m2) / s_p with s_p^2 = ((n1-1) sd1^2 + (n2-1) sd2^2) / (n1+n2-2);
    g = c(n1+n2-2) d with the exact correction :func:`hedges_correction`;
    vi = 1/n1 + 1/n2 + g^2 / (2 (n1+n2)), the large-sample variance of
    ``escalc(measure="SMD")`` (``vtype="LS"``). Hedges LV (1981), J Educ Stat
    6:107-128; Viechtbauer W (2010). Conducting meta-analyses in R with the metafor
    package. J Stat Softw 36(3) (``escalc``, metafor 3.8-1).

    Examples
    --------
    Hospital stay in the stroke-care trials (metafor: g = -0.3552, -0.3479,
    -2.3176; vi = 0.0131, 0.0645, 0.0458):

    >>> from livingreview.stats import datasets
    >>> d = datasets.normand1999()
    >>> yi, vi = smd(d.m1i, d.sd1i, d.n1i, d.m2i, d.sd2i, d.n2i)
    >>> yi[:3].round(4), vi[:3].round(4)
    (array([-0.3552, -0.3479, -2.3176]), array([0.0131, 0.0645, 0.0458]))
    """
    a = _arrays(m1=m1, sd1=sd1, n1=n1, m2=m2, sd2=sd2, n2=n2)
    _check_finite(a)
    for f in ("sd1", "sd2"):
        _check(a, f, a[f] <= 0, "must be > 0")
    _check_groups(a, "n1", "n2")
    n1a, n2a = a["n1"], a["n2"]
    sdp = np.sqrt(((n1a - 1) * a["sd1"] ** 2 + (n2a - 1) * a["sd2"] ** 2) / (n1a + n2a - 2))
    return _hedges_g((a["m1"] - a["m2"]) / sdp, n1a, n2a)


def smd_from_change(
    m1: ArrayLike,
    sd1: ArrayLike,
    n1: ArrayLike,
    m2: ArrayLike,
    sd2: ArrayLike,
    n2: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g from mean change scores and the SD of the change in each arm.

    Parameters
    ----------
    m1, sd1, n1 : array_like
        Mean change, SD of the change and size of arm 1.
    m2, sd2, n2 : array_like
        The same for arm 2.

    Returns
    -------
    yi, vi : numpy.ndarray
        g and its sampling variance.

    Raises
    ------
    EffectInputError
        As :func:`smd`.

    Notes
    -----
    The formula of :func:`smd` applied to change scores, i.e. the change-score
    SMD metafor gives for ``escalc("SMD", m1i=change1, sd1i=sdchange1, ...)``
    (Cochrane Handbook 10.5.2). For a mean change reported with its SE,
    convert with :func:`sd_from_se` first.

    Examples
    --------
    >>> yi, vi = smd_from_change(-0.8, 1.1, 40, -0.2, 1.0, 38)
    >>> yi.round(4), vi.round(4)
    (array([-0.5644]), array([0.0534]))
    """
    return smd(m1, sd1, n1, m2, sd2, n2)


def smd_from_md_se(
    md: ArrayLike, se: ArrayLike, n1: ArrayLike, n2: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g from a mean difference and its standard error.

    Parameters
    ----------
    md : array_like
        Mean difference, arm 1 minus arm 2.
    se : array_like
        Its standard error (> 0).
    n1, n2 : array_like
        Arm sizes (>= 2).

    Returns
    -------
    yi, vi : numpy.ndarray
        g and its sampling variance.

    Raises
    ------
    EffectInputError
        As :func:`smd`.

    Notes
    -----
    Assuming a pooled-variance two-sample comparison, se = s_p sqrt(1/n1 +
    1/n2), so s_p = se / sqrt(1/n1 + 1/n2) and d = md / s_p; then g and vi
    as in :func:`smd`. Use with :func:`se_from_ci`, :func:`se_from_p` or
    :func:`se_from_t` for MDs reported with a CI, p-value or t statistic
    (Cochrane Handbook 6.5.2.3).

    Examples
    --------
    metafor (``escalc("SMD")`` with sd1i = sd2i = s_p): g = 0.9473, -0.6146,
    0.1551; vi = 0.1061, 0.0648, 0.0169:

    >>> yi, vi = smd_from_md_se([2.5, -1, 0.3], [0.8, 0.4, 0.25], [20, 35, 120], [22, 30, 118])
    >>> yi.round(4), vi.round(4)
    (array([ 0.9473, -0.6146,  0.1551]), array([0.1061, 0.0648, 0.0169]))
    """
    a = _arrays(md=md, se=se, n1=n1, n2=n2)
    _check_finite(a)
    _check(a, "se", a["se"] <= 0, "must be > 0")
    _check_groups(a, "n1", "n2")
    sdp = a["se"] / np.sqrt(1 / a["n1"] + 1 / a["n2"])
    return _hedges_g(a["md"] / sdp, a["n1"], a["n2"])


def _quantile(level: float, df: ArrayLike | None) -> np.ndarray:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    p = 1 - (1 - level) / 2
    if df is None:
        return np.asarray(dist.norm_ppf(p))
    return dist.t_ppf(p, np.asarray(df, dtype=float))


def se_from_ci(
    lower: ArrayLike, upper: ArrayLike, level: float = 0.95, df: ArrayLike | None = None
) -> np.ndarray:
    """SE of an estimate from its symmetric confidence interval.

    Parameters
    ----------
    lower, upper : array_like
        The CI bounds (upper > lower); ratios on the log scale.
    level : float, default 0.95
        The CI's confidence level.
    df : array_like, optional
        Degrees of freedom of a t-based CI (e.g. n1 + n2 - 2 for small
        trials); normal quantiles without it.

    Returns
    -------
    numpy.ndarray
        The standard errors.

    Raises
    ------
    EffectInputError
        For upper <= lower or df <= 0.

    Notes
    -----
    se = (upper - lower) / (2 q), q the normal (or t with ``df``) quantile at
    1 - (1 - level)/2 (Cochrane Handbook 6.3.1).

    Examples
    --------
    >>> se_from_ci(-1.2, -0.2).round(4), se_from_ci(-1.2, -0.2, df=30).round(4)
    (array([0.2551]), array([0.2448]))
    """
    a = _arrays(lower=lower, upper=upper)
    _check_finite(a)
    _check(a, "upper", a["upper"] <= a["lower"], "must be > lower")
    if df is not None:
        d = _arrays(df=df)
        _check_finite(d)
        _check(d, "df", d["df"] <= 0, "must be > 0")
    return (a["upper"] - a["lower"]) / (2 * _quantile(level, df))


def se_from_p(estimate: ArrayLike, p: ArrayLike, df: ArrayLike | None = None) -> np.ndarray:
    """SE of an estimate from its two-sided p-value.

    Parameters
    ----------
    estimate : array_like
        The estimate (non-zero: a p-value says nothing of the SE otherwise).
    p : array_like
        Its two-sided p-value, in (0, 1).
    df : array_like, optional
        Degrees of freedom of a t test; a z test without it.

    Returns
    -------
    numpy.ndarray
        The standard errors.

    Raises
    ------
    EffectInputError
        For p outside (0, 1), a zero estimate or df <= 0.

    Notes
    -----
    The statistic is recovered as q = Phi^-1(1 - p/2) (or the t quantile with
    ``df``), then se = |estimate| / q (Cochrane Handbook 6.3.2).

    Examples
    --------
    >>> se_from_p(-0.7, 0.0001).round(4)
    array([0.1799])
    """
    a = _arrays(estimate=estimate, p=p)
    _check_finite(a)
    _check(a, "p", (a["p"] <= 0) | (a["p"] >= 1), "must be in (0, 1)")
    _check(a, "estimate", a["estimate"] == 0, "must be non-zero to recover an SE from p")
    if df is None:
        q = dist.norm_isf(a["p"] / 2)
    else:
        d = _arrays(df=df)
        _check_finite(d)
        _check(d, "df", d["df"] <= 0, "must be > 0")
        q = dist.t_isf(a["p"] / 2, d["df"])
    return np.abs(a["estimate"]) / q


def se_from_t(estimate: ArrayLike, t: ArrayLike) -> np.ndarray:
    """SE of an estimate from its t (or z) statistic.

    Parameters
    ----------
    estimate : array_like
        The estimate (non-zero).
    t : array_like
        Its test statistic (non-zero).

    Returns
    -------
    numpy.ndarray
        se = |estimate / t|.

    Raises
    ------
    EffectInputError
        For a zero estimate or statistic.

    Notes
    -----
    The statistic of a Wald or t test is estimate / se (Cochrane Handbook 6.3.2).

    Examples
    --------
    >>> se_from_t(-0.7, -3.5)
    array([0.2])
    """
    a = _arrays(estimate=estimate, t=t)
    _check_finite(a)
    _check(a, "t", a["t"] == 0, "must be non-zero")
    _check(a, "estimate", a["estimate"] == 0, "must be non-zero to recover an SE from t")
    return np.abs(a["estimate"] / a["t"])


def sd_from_se(se: ArrayLike, n: ArrayLike) -> np.ndarray:
    """SD of a sample from the standard error of its mean.

    Parameters
    ----------
    se : array_like
        Standard error of the mean (> 0).
    n : array_like
        Sample size (>= 2).

    Returns
    -------
    numpy.ndarray
        sd = se sqrt(n).

    Raises
    ------
    EffectInputError
        For se <= 0 or n < 2.

    Notes
    -----
    Cochrane Handbook 6.5.2.2.

    Examples
    --------
    >>> sd_from_se(0.2, 100)
    array([2.])
    """
    a = _arrays(se=se, n=n)
    _check_finite(a)
    _check(a, "se", a["se"] <= 0, "must be > 0")
    _check(a, "n", a["n"] < 2, "must be >= 2")
    return a["se"] * np.sqrt(a["n"])


def _binary(
    ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, add: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated 2x2 cells, with ``add`` added to every cell of a study having a zero cell.

    This is metafor's default ``add=1/2, to="only0", drop00=FALSE``: a study
    with no events (or only events) in both arms is kept and corrected too.
    """
    a = _arrays(ai=ai, n1i=n1i, ci=ci, n2i=n2i)
    _check_finite(a)
    for ev, n in (("ai", "n1i"), ("ci", "n2i")):
        _check(a, ev, a[ev] < 0, "must be >= 0")
        _check(a, n, a[n] < 2, "must be >= 2")
        _check(a, ev, a[ev] > a[n], f"must be <= {n}")
    ai_, ci_ = a["ai"], a["ci"]
    bi_, di_ = a["n1i"] - ai_, a["n2i"] - ci_
    zero = (ai_ == 0) | (bi_ == 0) | (ci_ == 0) | (di_ == 0)
    add_v = np.where(zero, add, 0.0)
    return ai_ + add_v, bi_ + add_v, ci_ + add_v, di_ + add_v


@shared
def log_risk_ratio(
    ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, add: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Log risk ratio and its variance, as ``escalc(measure="RR")`` with its defaults.

    Parameters
    ----------
    {binary}

    Returns
    -------
    yi, vi : numpy.ndarray
        log RR and its sampling variance.

    Raises
    ------
    EffectInputError
        For negative events, events above the arm size, or n < 2.

    Notes
    -----
    After the zero-cell correction (metafor's ``add=1/2, to="only0",
    drop00=FALSE``), yi = log(ai/n1) - log(ci/n2) and vi = 1/ai - 1/n1 +
    1/ci - 1/n2 (delta method). Viechtbauer W (2010). Conducting meta-analyses in R with the metafor
    package. J Stat Softw 36(3) (``escalc``, metafor 3.8-1).

    Examples
    --------
    The first BCG trials (metafor: yi = -0.8893, -1.5854, -1.3481):

    >>> from livingreview.stats import datasets
    >>> dat = datasets.bcg()
    >>> yi, vi = log_risk_ratio(dat.tpos, dat.tpos + dat.tneg, dat.cpos, dat.cpos + dat.cneg)
    >>> yi[:3].round(4), vi[:3].round(4)
    (array([-0.8893, -1.5854, -1.3481]), array([0.3256, 0.1946, 0.4154]))
    """
    a, b, c, d = _binary(ai, n1i, ci, n2i, add)
    n1, n2 = a + b, c + d
    return np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2


@shared
def log_odds_ratio(
    ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, add: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Log odds ratio and its variance, as ``escalc(measure="OR")`` with its defaults.

    Parameters
    ----------
    {binary}

    Returns
    -------
    yi, vi : numpy.ndarray
        log OR and its sampling variance.

    Raises
    ------
    EffectInputError
        As :func:`log_risk_ratio`.

    Notes
    -----
    yi = log(a d / (b c)), vi = 1/a + 1/b + 1/c + 1/d (Woolf 1955), cells
    corrected as in :func:`log_risk_ratio`. Viechtbauer W (2010). Conducting meta-analyses in R with the metafor
    package. J Stat Softw 36(3) (``escalc``, metafor 3.8-1).

    Examples
    --------
    The first BCG trials (metafor: yi = -0.9387, -1.6662, -1.3863):

    >>> from livingreview.stats import datasets
    >>> dat = datasets.bcg()
    >>> yi, vi = log_odds_ratio(dat.tpos, dat.tpos + dat.tneg, dat.cpos, dat.cpos + dat.cneg)
    >>> yi[:3].round(4), vi[:3].round(4)
    (array([-0.9387, -1.6662, -1.3863]), array([0.3571, 0.2081, 0.4334]))
    """
    a, b, c, d = _binary(ai, n1i, ci, n2i, add)
    return np.log(a / b) - np.log(c / d), 1 / a + 1 / b + 1 / c + 1 / d


def align(yi: ArrayLike, favourable: str | Sequence[str] = "higher") -> np.ndarray:
    """Orient effects so that a positive value always favours the intervention.

    Parameters
    ----------
    yi : array_like
        Effects, arm 1 minus arm 2 (or log ratios).
    favourable : str or sequence of str, default "higher"
        ``"higher"`` (higher outcome values are good: yi unchanged) or
        ``"lower"`` (sign flipped); one string or one per study.

    Returns
    -------
    numpy.ndarray
        The oriented effects (variances are unchanged).

    Raises
    ------
    EffectInputError
        For a ``favourable`` other than "higher" or "lower".

    Notes
    -----
    Flipping the sign is exact for differences and for log ratios
    (log(1/RR) = -log RR). A domain whose convention is "negative =
    favourable" multiplies the result by -1 (``extraction.domains.*.favourable_sign``).

    Examples
    --------
    >>> align([0.5, -0.2], ["higher", "lower"])
    array([0.5, 0.2])
    """
    y = np.atleast_1d(np.asarray(yi, dtype=float))
    fav = np.broadcast_to(np.asarray(favourable, dtype=object), y.shape)
    ok = np.isin(fav, ["higher", "lower"])
    i = _first_bad(~ok)
    if i is not None:
        raise EffectInputError(i, "favourable", "must be 'higher' or 'lower'", fav[i])
    return np.where(fav == "lower", -y, y)


def design_effect(icc: ArrayLike, cluster_size: ArrayLike) -> np.ndarray:
    """Design effect of a cluster-randomised trial.

    Parameters
    ----------
    icc : array_like
        Intracluster correlation, in [0, 1].
    cluster_size : array_like
        Mean cluster size m (>= 1).

    Returns
    -------
    numpy.ndarray
        DE = 1 + (m - 1) ICC.

    Raises
    ------
    EffectInputError
        For ICC outside [0, 1] or m < 1.

    Notes
    -----
    The convention in this project: the effective sample size of each arm is
    n / DE (:func:`effective_n`) and, equivalently to first order, the
    sampling variance of an effect computed as if individually randomised is
    multiplied by DE. Donner A, Klar N (2000). Design and analysis of cluster
    randomization trials in health research; Cochrane Handbook 23.1.4.

    Examples
    --------
    >>> design_effect(0.05, 21)
    array([2.])
    """
    a = _arrays(icc=icc, cluster_size=cluster_size)
    _check_finite(a)
    _check(a, "icc", (a["icc"] < 0) | (a["icc"] > 1), "must be in [0, 1]")
    _check(a, "cluster_size", a["cluster_size"] < 1, "must be >= 1")
    return 1 + (a["cluster_size"] - 1) * a["icc"]


def effective_n(n: ArrayLike, deff: ArrayLike) -> np.ndarray:
    """Effective sample size of a cluster-randomised trial's arm.

    Parameters
    ----------
    n : array_like
        The arm's number of participants.
    deff : array_like
        Its design effect (>= 1), :func:`design_effect`.

    Returns
    -------
    numpy.ndarray
        n / DE.

    Raises
    ------
    EffectInputError
        For DE < 1.

    Notes
    -----
    Cochrane Handbook 23.1.4.

    Examples
    --------
    >>> effective_n(120, 2.0)
    array([60.])
    """
    a = _arrays(n=n, deff=deff)
    _check_finite(a)
    _check(a, "deff", a["deff"] < 1, "must be >= 1")
    return a["n"] / a["deff"]
