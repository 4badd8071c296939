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
    """Exact small-sample correction c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)).

    Same as metafor's ``.cmicalc`` (computed on the log scale for large m);
    m is the degrees of freedom, n1 + n2 - 2 for a two-group comparison.
    Hedges (1981), eq. 6e.
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

    d = (m1 - m2) / s_p with s_p^2 = ((n1-1) sd1^2 + (n2-1) sd2^2) / (n1+n2-2);
    g = c(n1+n2-2) d with the exact correction :func:`hedges_correction`;
    vi = 1/n1 + 1/n2 + g^2 / (2 (n1+n2)), the large-sample variance that
    metafor's ``escalc(measure="SMD")`` uses by default (``vtype="LS"``).
    Requires sd > 0 and n >= 2 in each arm.
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

    The formula is that of :func:`smd` applied to change scores (m = mean
    change, sd = SD of change), i.e. the change-score SMD that metafor gives
    for ``escalc("SMD", m1i=change1, sd1i=sdchange1, ...)``. For a mean change
    reported with its SE, convert with :func:`sd_from_se` first.
    """
    return smd(m1, sd1, n1, m2, sd2, n2)


def smd_from_md_se(
    md: ArrayLike, se: ArrayLike, n1: ArrayLike, n2: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Hedges' g from a mean difference and its standard error.

    Assuming the SE came from a pooled-variance two-sample comparison,
    se = s_p sqrt(1/n1 + 1/n2), so s_p = se / sqrt(1/n1 + 1/n2) and
    d = md / s_p; then g and vi as in :func:`smd`. Use with
    :func:`se_from_ci`, :func:`se_from_p` or :func:`se_from_t` for MDs reported
    with a CI, p-value or t statistic (Cochrane Handbook 6.5.2.3).
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

    se = (upper - lower) / (2 q), q the normal quantile (or the t quantile with
    ``df`` degrees of freedom, e.g. n1 + n2 - 2 for small trials) at
    1 - (1 - level)/2. Ratios must be passed on the log scale.
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

    The test statistic is recovered as q = Phi^-1(1 - p/2) (or the t quantile
    with ``df``), then se = |estimate| / q. Requires 0 < p < 1 and a non-zero
    estimate (a p-value carries no information on the SE otherwise).
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
    """SE of an estimate from its t (or z) statistic: se = |estimate / t|."""
    a = _arrays(estimate=estimate, t=t)
    _check_finite(a)
    _check(a, "t", a["t"] == 0, "must be non-zero")
    _check(a, "estimate", a["estimate"] == 0, "must be non-zero to recover an SE from t")
    return np.abs(a["estimate"] / a["t"])


def sd_from_se(se: ArrayLike, n: ArrayLike) -> np.ndarray:
    """SD from the standard error of a mean: sd = se * sqrt(n)."""
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


def log_risk_ratio(
    ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, add: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Log risk ratio and variance, as ``escalc(measure="RR")`` with its defaults.

    ai, ci: events in arm 1 and 2; n1i, n2i: arm sizes. After the zero-cell
    correction (``add`` to all four cells of a study with any zero cell),
    yi = log(ai/n1) - log(ci/n2), vi = 1/ai - 1/n1 + 1/ci - 1/n2.
    """
    a, b, c, d = _binary(ai, n1i, ci, n2i, add)
    n1, n2 = a + b, c + d
    return np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2


def log_odds_ratio(
    ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, add: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Log odds ratio and variance, as ``escalc(measure="OR")`` with its defaults.

    yi = log(ai d / (b c)), vi = 1/a + 1/b + 1/c + 1/d (Woolf), cells corrected
    as in :func:`log_risk_ratio`.
    """
    a, b, c, d = _binary(ai, n1i, ci, n2i, add)
    return np.log(a / b) - np.log(c / d), 1 / a + 1 / b + 1 / c + 1 / d


def align(yi: ArrayLike, favourable: str | Sequence[str] = "higher") -> np.ndarray:
    """Orient effects so that a positive value always favours the intervention.

    ``favourable`` says whether higher outcome values are good (``"higher"``:
    yi unchanged) or bad (``"lower"``: sign flipped). It may be one string or
    one per study. Flipping the sign is exact for differences and for log
    ratios (log(1/RR) = -log RR); variances are unchanged. A domain whose
    convention is "negative = favourable" multiplies the result by -1.
    """
    y = np.atleast_1d(np.asarray(yi, dtype=float))
    fav = np.broadcast_to(np.asarray(favourable, dtype=object), y.shape)
    ok = np.isin(fav, ["higher", "lower"])
    i = _first_bad(~ok)
    if i is not None:
        raise EffectInputError(i, "favourable", "must be 'higher' or 'lower'", fav[i])
    return np.where(fav == "lower", -y, y)


def design_effect(icc: ArrayLike, cluster_size: ArrayLike) -> np.ndarray:
    """Design effect of a cluster-randomised trial: DE = 1 + (m - 1) ICC.

    m is the mean cluster size, ICC the intracluster correlation (Donner &
    Klar 2000; Cochrane Handbook 23.1.4). The convention in this project:
    the effective sample size of each arm is n / DE (see :func:`effective_n`)
    and, equivalently to first order, the sampling variance of an effect
    computed as if individually randomised is MULTIPLIED by DE. Requires
    0 <= ICC <= 1 and m >= 1.
    """
    a = _arrays(icc=icc, cluster_size=cluster_size)
    _check_finite(a)
    _check(a, "icc", (a["icc"] < 0) | (a["icc"] > 1), "must be in [0, 1]")
    _check(a, "cluster_size", a["cluster_size"] < 1, "must be >= 1")
    return 1 + (a["cluster_size"] - 1) * a["icc"]


def effective_n(n: ArrayLike, deff: ArrayLike) -> np.ndarray:
    """Effective sample size n / DE of a cluster trial arm (Cochrane Handbook 23.1.4)."""
    a = _arrays(n=n, deff=deff)
    _check_finite(a)
    _check(a, "deff", a["deff"] < 1, "must be >= 1")
    return a["n"] / a["deff"]
