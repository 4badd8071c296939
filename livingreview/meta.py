"""Random-effects meta-analysis that reproduces R's metafor (``rma.uni`` and its verbs).

The model is y_i = x_i'b + u_i + e_i with e_i ~ N(0, v_i) (known sampling
variances) and u_i ~ N(0, tau^2). Everything follows metafor 3.8-1
(Viechtbauer 2010, J Stat Softw 36(3)); each function names the metafor
function it reproduces, and the tests compare with numbers produced by it
(``tests/reference/make_reference.R``).

Design choices that matter for the numbers:

* No k x k matrix is ever formed. With weights w_i = 1/(v_i + tau^2) and
  B = (X'WX)^-1 every quantity metafor computes from its P matrix reduces to
  p x p algebra: tr(P) = sum w - tr(B X'W^2X),
  tr(PP) = sum w^2 - 2 tr(B X'W^3X) + tr(B C B C) with C = X'W^2X, and
  y'PPy = sum (w r)^2 with r the weighted least-squares residuals.
* REML, ML and EB use Fisher scoring started at max(0, HE) with step halving,
  exactly as metafor, but iterate until |delta tau^2| <= 1e-12 * max(tau^2,
  min v), i.e. relative to tau^2 (metafor's default threshold is an absolute
  1e-5); if that fails in 1000 iterations a bracketed root of the score
  equation is used, the fit reports ``converged=False`` and a
  :class:`ConvergenceWarning` is issued. Results agree with metafor run with
  a tight ``control=list(threshold=...)``, also when one study has a huge
  variance.
  A REML/ML estimate that converges into the boundary (tau^2 below that
  tolerance while the score at 0 is <= 0) is reported as exactly 0.
* PM is the root of the generalised Q statistic Q(tau^2) = k - p found by
  Brent's method to machine precision (metafor's ``uniroot`` default
  tolerance is only ~1e-4). EB solves the same equation (Morris 1983) and
  gives the same value.
* Leave-one-out and influence diagnostics solve all k deleted fits at once,
  without k refits: each deleted fit needs only sums over j != i of
  w_j^a y_j^b (a = 1..3, b = 0..2) at its own tau^2_(-i). These come from a
  power series around a common centre (O(k) set-up, O(1) per deleted fit per
  iteration; the 32 most precise studies are summed exactly) or, where the
  series is not accurate to 1e-15, from exact chunked sums (bounded memory).
  REML/ML deleted fits follow metafor's own path (Fisher scoring from
  max(0, HE_(-i)) with step halving, then its ll0check), vectorised over the
  k fits; a walk to the boundary whose score is negative both at the iterate
  and at 0 is cut short to 0. PM/EB use a safeguarded Newton on
  Q(tau^2) = k - 2. Time is O(k) per iteration, memory O(k).

Study indices in error messages are 0-based.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from . import dist

__all__ = [
    "METHODS",
    "ConvergenceWarning",
    "EggerResult",
    "MetaRegression",
    "MetaResult",
    "Tau2CI",
    "TrimFillResult",
    "egger_test",
    "fit",
    "influence",
    "leave_one_out",
    "meta_regression",
    "tau2_ci",
    "trim_and_fill",
]

METHODS = ("REML", "ML", "DL", "PM", "HE", "SJ", "EB", "FE")
TESTS = ("z", "knha")
_EPS = np.finfo(float).eps


class ConvergenceWarning(UserWarning):
    """An iterative estimate needed the fallback root-finder (the fit reports converged False)."""


_MAXITER = 1000
_REL_TOL = 1e-12
_LL0_TOL = _EPS**0.25  # metafor's con$tol, used for its ll0check
_CHUNK_ELEMS = 2_000_000  # elements per chunk of the k x k leave-one-out passes (16 MB)


# --------------------------------------------------------------------------- validation


def _as_vector(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector over studies, got shape {a.shape}")
    return a


def _check_data(yi: Any, vi: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _as_vector(yi, "yi")
    v = _as_vector(vi, "vi")
    if y.shape != v.shape:
        raise ValueError(f"yi and vi differ in length ({y.size} vs {v.size})")
    if y.size == 0:
        raise ValueError("no studies: yi is empty (k = 0)")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"study {bad[0]}: yi must be finite (got {float(y[bad[0]])!r})")
    bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise ValueError(f"study {bad[0]}: vi must be finite and > 0 (got {float(v[bad[0]])!r})")
    return y, v


def _check_method(method: str, test: str, level: float) -> tuple[str, str]:
    m = str(method).upper()
    if m not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    t = str(test).lower()
    if t not in TESTS:
        raise ValueError(f"test must be 'z' or 'knha'; got {test!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}")
    return m, t


def _labels(labels: Sequence[Any] | None, k: int) -> list[Any]:
    if labels is None:
        return list(range(1, k + 1))
    out = list(labels)
    if len(out) != k:
        raise ValueError(f"labels has {len(out)} entries for k = {k} studies")
    return out


def _none_if_nan(x: Any) -> Any:
    if isinstance(x, float | np.floating) and not math.isfinite(float(x)):
        return None
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


# --------------------------------------------------------------------------- p x p algebra


@dataclass
class _WLS:
    """Weighted least-squares pieces for weights w (all O(k p^2))."""

    w: np.ndarray
    b: np.ndarray  # coefficients
    B: np.ndarray  # (X'WX)^-1
    r: np.ndarray  # residuals y - X b


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> _WLS:
    A = X.T @ (w[:, None] * X)
    B = np.linalg.inv(A)
    b = B @ (X.T @ (w * y))
    return _WLS(w=w, b=b, B=B, r=y - X @ b)


def _qform(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    return X.T @ (w[:, None] * X)


def _trP(X: np.ndarray, f: _WLS) -> float:
    return float(f.w.sum() - np.trace(f.B @ _qform(X, f.w**2)))


def _trPP(X: np.ndarray, f: _WLS) -> float:
    C = _qform(X, f.w**2)
    BC = f.B @ C
    return float((f.w**2).sum() - 2 * np.trace(f.B @ _qform(X, f.w**3)) + np.trace(BC @ BC))


def _Qgen(X: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Generalised Q: sum w (y - X b_w)^2 with w = 1/(v + tau2) (metafor .QE.func)."""
    f = _wls(X, y, 1 / (v + tau2))
    return float((f.w * f.r**2).sum())


def _loglik(X: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float, reml: bool) -> float:
    k, p = X.shape
    f = _wls(X, y, 1 / (v + tau2))
    rss = float((f.w * f.r**2).sum())
    if reml:
        sign, logdet = np.linalg.slogdet(_qform(X, f.w))
        return (
            -0.5 * (k - p) * math.log(2 * math.pi)
            - 0.5 * np.log(v + tau2).sum()
            - 0.5 * logdet
            - 0.5 * rss
        )
    return -0.5 * k * math.log(2 * math.pi) - 0.5 * np.log(v + tau2).sum() - 0.5 * rss


# --------------------------------------------------------------------------- tau^2 estimators


def _tau2_he(X: np.ndarray, y: np.ndarray, v: np.ndarray) -> float:
    """Hedges (1983) estimator: (RSS_OLS - tr(P V)) / (k - p), P the OLS residual maker."""
    k, p = X.shape
    f = _wls(X, y, np.ones(k))
    h = np.einsum("ij,jk,ik->i", X, f.B, X)
    return float(((f.r**2).sum() - (v * (1 - h)).sum()) / (k - p))


def _tau2_dl(X: np.ndarray, y: np.ndarray, v: np.ndarray) -> tuple[float, _WLS]:
    """DerSimonian & Laird (1986): (Q_E - (k - p)) / tr(P), fixed-effect weights."""
    k, p = X.shape
    f = _wls(X, y, 1 / v)
    Q = float((f.w * f.r**2).sum())
    return (Q - (k - p)) / _trP(X, f), f


def _tau2_sj(X: np.ndarray, y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """Sidik & Jonkman (2005): tau0^2 = mean((y - ybar)^2); tau^2 = tau0^2 Q(tau0^2)/(k - p)."""
    k, p = X.shape
    tau0 = float(np.mean((y - y.mean()) ** 2))
    return tau0 * _Qgen(X, y, v, tau0) / (k - p), tau0


def _bracket_root(fun: Any, lo: float, start: float) -> float:
    """Root of a function positive at lo and negative somewhere above it (doubling search)."""
    hi = max(start, lo + 1.0)
    for _ in range(200):
        if fun(hi) < 0:
            break
        lo, hi = hi, hi * 2
    else:
        raise RuntimeError("could not bracket the root of the tau^2 estimating equation")
    from scipy import optimize  # imported here: only tau2_ci needs it

    return optimize.brentq(fun, lo, hi, xtol=1e-300, rtol=4 * _EPS, maxiter=1000)


def _tau2_pm(X: np.ndarray, y: np.ndarray, v: np.ndarray) -> float:
    """Paule & Mandel (1982): root of Q(tau^2) = k - p, 0 when Q(0) < k - p."""
    k, p = X.shape
    target = k - p

    def g(t: float) -> float:
        return _Qgen(X, y, v, t) - target

    if g(0.0) < 0:
        return 0.0
    if g(0.0) == 0:
        return 0.0
    return _bracket_root(g, 0.0, float(np.mean(v)))


def _score(X: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float, method: str) -> float:
    f = _wls(X, y, 1 / (v + tau2))
    yPPy = float(((f.w * f.r) ** 2).sum())
    if method == "REML":
        return yPPy - _trP(X, f)
    return yPPy - float(f.w.sum())


def _tau2_floor(v: np.ndarray) -> float:
    """Absolute floor of the tau^2 stopping rule: the smallest sampling variance.

    The rule is relative to tau^2 (|change| <= 1e-12 tau^2); near tau^2 = 0
    it becomes 1e-12 min(v): a change that small moves no weight
    1/(v_i + tau^2) by more than 1e-12 relative. A floor scaled by mean(v)
    instead lets one study with a huge variance stop the iteration early.
    """
    return float(np.min(v))


def _tau2_fisher(
    X: np.ndarray, y: np.ndarray, v: np.ndarray, method: str
) -> tuple[float, bool, int]:
    """REML/ML by Fisher scoring as metafor (start max(0, HE), step halving), tight tolerance."""
    k, p = X.shape
    floor = _tau2_floor(v)
    tau2 = max(0.0, _tau2_he(X, y, v))
    converged = False
    it = 0
    for it in range(1, _MAXITER + 1):  # noqa: B007
        f = _wls(X, y, 1 / (v + tau2))
        Py = f.w * f.r
        if method == "REML":
            adj = (float(Py @ Py) - _trP(X, f)) / _trPP(X, f)
        else:  # ML
            adj = (float(Py @ Py) - float(f.w.sum())) / float((f.w**2).sum())
        if not math.isfinite(adj):
            adj = 0.0
        if tau2 == 0 and adj < 0:
            adj = 0.0
        while tau2 + adj < 0:
            adj /= 2
        new = tau2 + adj
        change = abs(new - tau2)
        tau2 = new
        if change <= _REL_TOL * max(tau2, floor):
            converged = True
            break
    if not converged:
        # Fall back to a bracketed root of the score equation; the fit reports
        # converged = False and a ConvergenceWarning says so.
        def g(t: float) -> float:
            return _score(X, y, v, t, method)

        if g(0.0) <= 0:
            tau2 = 0.0
        else:
            tau2 = _bracket_root(g, 0.0, max(tau2, float(np.mean(v))))
        warnings.warn(
            f"{method} Fisher scoring reached the iteration limit ({_MAXITER}); "
            "tau^2 is the bracketed root of the score equation instead",
            ConvergenceWarning,
            stacklevel=2,
        )
    # Boundary: an iterate that crept to 0 by step halving is 0.
    if tau2 <= _REL_TOL * floor * 10 and _score(X, y, v, 0.0, method) <= 0:
        tau2 = 0.0
    # metafor's ll0check: a local maximum worse than tau^2 = 0 is replaced by 0.
    if tau2 > 0:
        reml = method == "REML"
        if _loglik(X, y, v, 0.0, reml) - _loglik(X, y, v, tau2, reml) > _LL0_TOL:
            tau2 = 0.0
    return tau2, converged, it


def _se_tau2(
    X: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float, method: str, tau0: float
) -> float:
    """Standard error of tau^2 as reported by metafor for each estimator."""
    k, p = X.shape
    t = max(tau2, 0.0)
    if method == "FE":
        return float("nan")
    if method == "REML":
        return math.sqrt(2 / _trPP(X, _wls(X, y, 1 / (v + tau2))))
    if method == "ML":
        return math.sqrt(2 / float(((1 / (v + tau2)) ** 2).sum()))
    if method in ("EB", "PM"):
        w = 1 / (v + tau2)
        return math.sqrt(2 * k**2 / (k - p) / float(w.sum()) ** 2)
    if method == "DL":
        f = _wls(X, y, 1 / v)
        trP = _trP(X, f)
        return math.sqrt(1 / trP**2 * (2 * (k - p) + 4 * t * trP + 2 * t**2 * _trPP(X, f)))
    # HE (unweighted P) and SJ (P with weights 1/(v + tau0)): need tr(PVPV) and sum(PV * P).
    w = np.ones(k) if method == "HE" else 1 / (v + tau0)
    f = _wls(X, y, w)
    B = f.B
    wv = w * v
    tr_pvpv = float((wv**2).sum() - 2 * np.trace(B @ _qform(X, w**3 * v**2)))
    D = B @ _qform(X, w**2 * v)
    tr_pvpv += float(np.trace(D @ D))
    if method == "HE":
        return math.sqrt(
            1
            / (k - p) ** 2
            * (
                2 * tr_pvpv
                + 4 * t * (v * (1 - np.einsum("ij,jk,ik->i", X, B, X))).sum()
                + 2 * t**2 * (k - p)
            )
        )
    h = np.einsum("ij,jk,ik->i", X, B, X)
    BCB = B @ _qform(X, w**2) @ B
    diagPP = w**2 - 2 * w**3 * h + w**2 * np.einsum("ij,jk,ik->i", X, BCB, X)
    sum_pvp = float((v * diagPP).sum())
    return math.sqrt(
        tau0**2 / (k - p) ** 2 * (2 * tr_pvpv + 4 * t * sum_pvp + 2 * t**2 * _trPP(X, f))
    )


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


# --------------------------------------------------------------------------- fit


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
    >>> from livingreview import meta
    >>> res = meta.fit([0.1, 0.3, 0.35, 0.6, -0.1], [0.02, 0.03, 0.01, 0.05, 0.04])
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
        return {key: _none_if_nan(val) for key, val in d.items()}

    @cached_property
    def _deleted(self) -> dict[str, np.ndarray]:
        """The k deleted fits (one per omitted study), shared by leave1out and influence."""
        return _loo_core(self)

    def leave1out(self) -> pd.DataFrame:
        """Refit without each study in turn (metafor ``leave1out``).

        One row per omitted study, columns ``omitted, estimate, se, ci_low,
        ci_high, pval, tau2, i2, q`` then ``zval, q_pval, h2`` (``zval`` is a
        t statistic with k - 2 df under knha). Deleted fits of k - 1 = 1
        study follow metafor's k = 1 rules (tau^2 = 0, z test). Needs k >= 2.

        Examples
        --------
        >>> from livingreview import meta
        >>> res = meta.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05], test="knha")
        >>> res.leave1out()["estimate"].round(4).tolist()
        [0.3717, 0.3136, 0.2917, 0.2675]
        """
        return _leave1out(self)

    def influence(self) -> pd.DataFrame:
        """Case-deletion diagnostics (metafor ``influence.rma.uni``), with the fit's test.

        Columns ``study, rstudent, dffits, cook_d, cov_r, tau2_del, qe_del,
        hat, weight, dfbs, inf``; see :func:`influence` for the formulas.
        Needs k >= 2.

        Examples
        --------
        >>> from livingreview import meta
        >>> res = meta.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05], labels="abcd")
        >>> res.influence().set_index("study")["cook_d"].round(3).to_dict()
        {'a': 0.697, 'b': 0.011, 'c': 0.028, 'd': 0.221}
        """
        return _influence(self)

    def regtest(self, model: str = "rma") -> EggerResult:
        """Egger's regression test with the SE as predictor (metafor ``regtest``).

        ``model="rma"``: the fit's model (method, test, level) with sqrt(v_i)
        as moderator; ``model="lm"``: weighted least squares with a
        multiplicative dispersion, as ``regtest(x, model="lm")``. Needs k >= 3.

        Examples
        --------
        >>> from livingreview import meta
        >>> res = meta.fit([0.1, 0.3, 0.35, 0.6, -0.1], [0.02, 0.03, 0.01, 0.05, 0.04])
        >>> round(res.regtest().statistic, 4)
        0.03
        """
        return _regtest(self, model)

    def trimfill(
        self, estimator: str = "L0", side: str | None = None, maxiter: int = 100
    ) -> TrimFillResult:
        """Duval & Tweedie's trim-and-fill (metafor ``trimfill.rma.uni``); see
        :func:`trim_and_fill`. The filled data are refitted with the fit's
        method, test and level. Needs k >= 3.

        Examples
        --------
        >>> from livingreview import meta
        >>> res = meta.fit([0.05, 0.1, 0.3, 0.35, 0.6, 0.9, 1.2], [0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12])
        >>> tf = res.trimfill()
        >>> tf.k0, tf.side, round(tf.estimate, 4)
        (2, 'left', 0.2469)
        """
        return _trimfill(self, estimator, side, maxiter)

    def tau2_ci(self) -> Tau2CI:
        """Q-profile confidence interval for tau^2 at the fit's level; see :func:`tau2_ci`.

        Examples
        --------
        >>> from livingreview import meta
        >>> res = meta.fit([0.1, 0.3, 0.35, 0.6, -0.1], [0.02, 0.03, 0.01, 0.05, 0.04])
        >>> ci = res.tau2_ci()
        >>> round(ci.tau2_low, 4), round(ci.tau2_high, 4)
        (0.0, 0.5366)
        """
        return _tau2_ci(self)

    def cumul(self, order: Sequence[Any] | np.ndarray | None = None) -> pd.DataFrame:
        """Cumulative meta-analysis in ``order`` (metafor ``cumul``); see
        :func:`livingreview.cumulative.cumulative`.

        Examples
        --------
        >>> from livingreview import meta
        >>> res = meta.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05])
        >>> res.cumul(order=[4, 3, 2, 1])["k"].tolist()
        [1, 2, 3, 4]
        """
        from .cumulative import cumulative

        return cumulative(self, order)

    def without(self, labels: Sequence[Any]) -> MetaResult:
        """The same model refitted without the studies named by ``labels``.

        Examples
        --------
        >>> from livingreview import meta
        >>> res = meta.fit([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.01, 0.05], labels="abcd")
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
    and ``predict()`` for the prediction interval. ``test="knha"`` is the
    Knapp-Hartung adjustment: variance scaled by s2w = sum w (y - mu)^2/(k - 1),
    t distribution with k - 1 df for the CI, the test and the prediction
    interval. tau^2 is truncated at 0. k = 1 gives tau^2 = 0, Q = 0, I^2 = 0
    and a z test, as metafor does.

    ``labels`` name the studies in the verbs' output (default 1..k). REML
    and ML report ``converged=False`` (and warn) when Fisher scoring needed
    the fallback root-finder.

    Raises ValueError for empty input, non-finite yi, and non-finite or
    non-positive vi (naming the 0-based study index).

    Examples
    --------
    >>> from livingreview import meta
    >>> res = meta.fit([0.1, 0.3, 0.35, 0.6, -0.1], [0.02, 0.03, 0.01, 0.05, 0.04], test="knha")
    >>> round(res.estimate, 4), round(res.ci_low, 4), res.df
    (0.2477, -0.0413, 4)
    """
    y, v = _check_data(yi, vi)
    m, t = _check_method(method, test, level)
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


# --------------------------------------------------------------------------- tau2 CI


@dataclass(frozen=True)
class Tau2CI:
    """Q-profile confidence interval for tau^2 (and tau, I^2, H^2) as ``confint.rma.uni``."""

    tau2: float
    tau2_low: float
    tau2_high: float
    tau_low: float
    tau_high: float
    i2_low: float
    i2_high: float
    h2_low: float
    h2_high: float
    level: float

    def to_dict(self) -> dict[str, Any]:
        return {key: _none_if_nan(val) for key, val in asdict(self).items()}


def tau2_ci(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    level: float = 0.95,
) -> Tau2CI:
    """Q-profile CI for tau^2 (Viechtbauer 2007, Stat Med 26:37-52).

    The bounds solve Q(tau^2) = chi^2_{k-1, 1-a/2} (lower) and
    Q(tau^2) = chi^2_{k-1, a/2} (upper), Q the generalised Q statistic, which
    decreases in tau^2; a bound is 0 when Q(0) is already below its target.
    I^2 and H^2 bounds use the fitted model's typical within-study variance.
    ``method`` only sets the point estimate reported beside the interval.
    Unlike metafor (search limited to [0, max(100, 10 tau^2)]) the upper
    bound is always searched to convergence.
    """
    return fit(yi, vi, method=method, level=level).tau2_ci()


def _tau2_ci(res: MetaResult) -> Tau2CI:
    y, v, level = res.yi, res.vi, res.level
    if y.size < 2:
        raise ValueError("tau2_ci needs k >= 2 studies (metafor: 'Stopped because k = 1.')")
    if res.method == "FE":
        raise ValueError("tau2_ci: a fixed-effect model (method='FE') has no tau^2")
    X = np.ones((y.size, 1))
    df = y.size - 1
    crit_u = dist.chi2_isf((1 - level) / 2, df)
    crit_l = dist.chi2_ppf((1 - level) / 2, df)
    q0 = _Qgen(X, y, v, 0.0)

    def bound(target: float) -> float:
        if q0 < target:
            return 0.0
        return _bracket_root(
            lambda t: _Qgen(X, y, v, t) - target, 0.0, max(res.tau2, float(np.mean(v)))
        )

    lo, hi = bound(crit_u), bound(crit_l)
    vt = res.vt
    return Tau2CI(
        tau2=res.tau2, tau2_low=lo, tau2_high=hi, tau_low=math.sqrt(lo), tau_high=math.sqrt(hi),
        i2_low=100 * lo / (vt + lo), i2_high=100 * hi / (vt + hi),
        h2_low=lo / vt + 1, h2_high=hi / vt + 1, level=level,
    )  # fmt: skip


# --------------------------------------------------------------------------- leave-one-out core


def _excl(a: np.ndarray) -> np.ndarray:
    """sum_{j != i} a_j for every i, from prefix and suffix sums (no cancellation)."""
    pre = np.concatenate(([0.0], np.cumsum(a)[:-1]))
    suf = np.concatenate((np.cumsum(a[::-1])[::-1][1:], [0.0]))
    return pre + suf


def _excl_moments(
    v: np.ndarray, Y3: np.ndarray, tau: np.ndarray, rows: np.ndarray, maxpow: int
) -> list[np.ndarray]:
    """For each row i in ``rows`` with its own tau_i: sum_{j != i} w_ij^a [1, y_j, y_j^2].

    w_ij = 1/(v_j + tau_i); returns a list over a = 1..maxpow of (len(rows), 3)
    arrays. Rows are processed in chunks so memory stays at a few chunk x k
    buffers whatever k is.
    """
    k = v.size
    n = rows.size
    out = [np.empty((n, 3)) for _ in range(maxpow)]
    step = max(1, _CHUNK_ELEMS // k)
    buf = np.empty((min(step, n), k))
    buf2 = np.empty_like(buf) if maxpow >= 2 else None
    for s in range(0, n, step):
        e = min(n, s + step)
        c = e - s
        W = buf[:c]
        np.add(tau[s:e, None], v[None, :], out=W)
        np.reciprocal(W, out=W)
        W[np.arange(c), rows[s:e]] = 0.0
        out[0][s:e] = W @ Y3
        if maxpow >= 2:
            W2 = buf2[:c]
            np.multiply(W, W, out=W2)
            out[1][s:e] = W2 @ Y3
            if maxpow >= 3:
                W2 *= W
                out[2][s:e] = W2 @ Y3
    return out


def _moments_at_zero(v: np.ndarray, yc: np.ndarray, maxpow: int) -> list[np.ndarray]:
    """Same as :func:`_excl_moments` at tau = 0 for all rows, in O(k)."""
    out = []
    for a in range(1, maxpow + 1):
        w = v ** (-float(a))
        out.append(np.column_stack([_excl(w), _excl(w * yc), _excl(w * yc**2)]))
    return out


def _score_parts(M: list[np.ndarray], method: str, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Score U(tau) and dU/dtau of each deleted fit from its moment sums (intercept-only).

    mu = A1/W1; y'PPy = sum w^2 (y - mu)^2; tr P = W1 - W2/W1.
    REML: U = y'PPy - tr P; ML: U = y'PPy - W1; PM/EB: U = Q(tau) - (k - 2).
    """
    W1, A1, B1 = M[0].T
    W2, A2, B2 = M[1].T
    mu = A1 / W1
    yPPy = B2 - 2 * mu * A2 + mu**2 * W2
    if method in ("PM", "EB"):
        Q = B1 - 2 * mu * A1 + mu**2 * W1
        return Q - target, -yPPy
    W3, A3, B3 = M[2].T
    d_yPPy = -2 * (B3 - 2 * mu * A3 + mu**2 * W3) + 2 * (A2 - mu * W2) ** 2 / W1
    if method == "REML":
        return yPPy - (W1 - W2 / W1), d_yPPy + W2 - 2 * W3 / W1 + W2**2 / W1**2
    return yPPy - W1, d_yPPy + W2  # ML


_TAYLOR_TERMS = 24  # series length; with |delta|/min(v + c) <= 0.2 the remainder is < 1e-15
_TAYLOR_RHO = 0.2
_NEAR = 32  # studies with the largest weights, summed exactly in every deleted fit
_DOMINANT = 0.5  # own weight share above which sum-minus-term is recomputed exactly


class _ExclSums:
    """sum_{j != i} w_j(x_i)^a [1, y_j, y_j^2] for every deleted fit i, w_j(x) = 1/(v_j + x).

    Every deleted fit has its own tau^2 x_i, but all x_i lie close to a common
    centre c (the full estimate, or the median of the iterates). The
    ``_NEAR`` studies with the smallest u_j = v_j + c are summed exactly
    (O(_NEAR) per deleted fit, with the omitted study's weight set to 0); for
    the others, with s = their smallest u_j, the sums are expanded around c:
    sum_j (u_j + d)^-a y_j^b = sum_n (-1)^n C(a+n-1, n) (d/s)^n T[a, n, b],
    T[a, n, b] = sum_j u_j^-a (s/u_j)^n y_j^b, precomputed once in O(k N).
    Each evaluation then costs O(N + _NEAR) per deleted fit instead of O(k).
    The series is used only where |d|/s <= 0.2 (remainder < 1e-15 relative)
    and where an omitted study outside the exact set carries less than half
    of the total weight (so subtracting its own term loses < 1 digit); other
    rows, and rows with x_i = 0, are computed exactly (chunked O(k) per row,
    or prefix sums).
    """

    def __init__(self, v: np.ndarray, yc: np.ndarray, center: float, maxpow: int) -> None:
        self.v, self.yc, self.c, self.maxpow = v, yc, float(center), maxpow
        k = v.size
        self.Y3 = np.column_stack([np.ones(k), yc, yc**2])
        u = v + self.c
        order = np.argsort(u, kind="stable")
        self.near = order[:_NEAR]
        rest = order[_NEAR:]
        self.in_near = np.zeros(k, dtype=bool)
        self.in_near[self.near] = True
        self.s = float(u[rest].min()) if rest.size else 1.0
        r = self.s / u[rest]
        R = r[:, None] ** np.arange(_TAYLOR_TERMS + 1)[None, :]  # entries <= 1
        self.T = [
            (u[rest, None] ** (-float(a)) * R).T @ self.Y3[rest] for a in range(1, maxpow + 1)
        ]
        n = np.arange(_TAYLOR_TERMS + 1)
        self.binom = [
            (-1.0) ** n
            * np.exp(special.gammaln(a + n) - special.gammaln(a) - special.gammaln(n + 1))
            for a in range(1, maxpow + 1)
        ]
        self._zero: list[np.ndarray] | None = None
        self.exact_rows = 0

    def _at_zero(self) -> list[np.ndarray]:
        if self._zero is None:
            self._zero = _moments_at_zero(self.v, self.yc, self.maxpow)
        return self._zero

    def __call__(
        self, x: np.ndarray, rows: np.ndarray, maxpow: int | None = None
    ) -> list[np.ndarray]:
        maxpow = self.maxpow if maxpow is None else maxpow
        t = (x - self.c) / self.s
        vi, yi = self.v[rows], self.yc[rows]
        own_y = np.column_stack([np.ones(rows.size), yi, yi**2])
        own_in_rest = ~self.in_near[rows]
        Wn = 1.0 / (self.v[self.near][None, :] + x[:, None])
        Wn[rows[:, None] == self.near[None, :]] = 0.0
        Yn = self.Y3[self.near]
        out = []
        ok = np.abs(t) <= _TAYLOR_RHO
        powers = np.vander(t, _TAYLOR_TERMS + 1, increasing=True)
        Wa = np.ones_like(Wn)
        for a in range(1, maxpow + 1):
            Wa = Wa * Wn
            full = (powers * self.binom[a - 1][None, :]) @ self.T[a - 1] + Wa @ Yn
            own = (vi + x)[:, None] ** (-float(a)) * own_y * own_in_rest[:, None]
            ok &= own[:, 0] <= _DOMINANT * full[:, 0]
            out.append(full - own)
        zero = x == 0
        if zero.any():
            z = self._at_zero()
            for a in range(maxpow):
                out[a][zero] = z[a][rows[zero]]
        redo = np.flatnonzero(~ok & ~zero)
        if redo.size:
            self.exact_rows += redo.size
            ex = _excl_moments(self.v, self.Y3, x[redo], rows[redo], maxpow)
            for a in range(maxpow):
                out[a][redo] = ex[a]
        return out


def _recenter(sums: _ExclSums, x: np.ndarray) -> _ExclSums:
    """Rebuild the series around the median of the current iterates when they have moved."""
    c = float(np.median(x))
    if abs(c - sums.c) > 0.05 * sums.s:
        return _ExclSums(sums.v, sums.yc, c, sums.maxpow)
    return sums


def _loo_newton(
    v: np.ndarray, yc: np.ndarray, method: str, x0: np.ndarray, rows: np.ndarray, maxpow: int
) -> np.ndarray:
    """Roots of the score of the deleted fits ``rows`` (score at 0 known > 0): safeguarded Newton.

    Each row keeps a bracket [lo, hi] (U(lo) > 0 > U(hi)); a Newton step
    leaving the bracket is replaced by bisection (or doubling while hi is
    unknown).
    """
    k = v.size
    target = k - 2.0
    scale = float(np.mean(v))  # step size of the search for an upper bracket only
    floor = _tau2_floor(v)
    n = rows.size
    out = np.zeros(n)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    x = x0.astype(float).copy()
    act = np.arange(n)
    sums = _ExclSums(v, yc, float(np.median(x)) if n else 0.0, maxpow)
    for _ in range(200):
        if act.size == 0:
            break
        xa = x[act]
        sums = _recenter(sums, xa)
        U, dU = _score_parts(sums(xa, rows[act]), method, target)
        pos, neg = U > 0, U < 0
        lo[act[pos]] = xa[pos]
        hi[act[neg]] = xa[neg]
        with np.errstate(divide="ignore", invalid="ignore"):
            nx = xa - U / dU
        la, ha = lo[act], hi[act]
        bad = ~np.isfinite(nx) | (dU >= 0) | (nx <= la) | (nx >= ha)
        mid = np.where(np.isfinite(ha), (la + ha) / 2, np.maximum(2 * xa, la + scale))
        nx = np.where(bad, mid, nx)
        done = (
            (U == 0)
            | (np.abs(nx - xa) <= _REL_TOL * np.maximum(xa, floor))
            | (ha - la <= _REL_TOL * np.maximum(la, floor))
        )
        out[act] = np.where(U == 0, xa, nx)
        x[act] = nx
        act = act[~done]
    if act.size:
        raise RuntimeError(f"leave-one-out tau^2 did not converge for {act.size} deleted fits")
    return out


def _loo_tau2_root(v: np.ndarray, yc: np.ndarray, method: str, start: float) -> np.ndarray:
    """PM and EB for all deleted fits: the unique root of Q(tau^2) = k - 2, or 0."""
    k = v.size
    U0, dU0 = _score_parts(_moments_at_zero(v, yc, 2), method, k - 2.0)
    tau = np.zeros(k)
    rows = np.flatnonzero(U0 > 0)  # Q(0) <= k - 2: boundary solution 0
    if start > 0:
        x0 = np.full(rows.size, start)
    else:  # the Newton step from 0
        with np.errstate(divide="ignore", invalid="ignore"):
            x0 = np.where(dU0[rows] < 0, -U0[rows] / dU0[rows], float(np.mean(v)))
    tau[rows] = _loo_newton(v, yc, method, x0, rows, 2)
    return tau


def _excl_logsum(v: np.ndarray, tau: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """sum_{j != i} log(v_j + tau_i) for each row i (chunked, exact)."""
    k = v.size
    out = np.empty(rows.size)
    step = max(1, _CHUNK_ELEMS // k)
    for s in range(0, rows.size, step):
        e = min(rows.size, s + step)
        L = np.log(np.add.outer(tau[s:e], v))
        L[np.arange(e - s), rows[s:e]] = 0.0
        out[s:e] = L.sum(axis=1)
    return out


def _loo_tau2_fisher(v: np.ndarray, yc: np.ndarray, method: str, he: np.ndarray) -> np.ndarray:
    """REML and ML for all deleted fits at once, following metafor's path.

    Fisher scoring started at max(0, HE_(-i)) with step halving, exactly the
    iteration of :func:`_tau2_fisher` (and of metafor), vectorised over the
    deleted fits; then the boundary snap and metafor's ll0check (the
    likelihood at tau^2 = 0 is compared, exactly, for deleted fits whose score
    at 0 is <= 0 although the iteration stopped inside).
    """
    k = v.size
    reml = method == "REML"
    maxpow = 3 if reml else 2
    floor = _tau2_floor(v)
    tau = np.maximum(0.0, he)
    U0, _ = _score_parts(_moments_at_zero(v, yc, 3), method, 0.0)
    sums = _ExclSums(v, yc, float(np.median(tau)), maxpow)
    active = np.arange(k)
    for _ in range(_MAXITER):
        if active.size == 0:
            break
        ta = tau[active]
        sums = _recenter(sums, ta)
        M = sums(ta, active)
        W1, A1, _ = M[0].T
        W2, A2, B2 = M[1].T
        mu = A1 / W1
        yPPy = B2 - 2 * mu * A2 + mu**2 * W2
        with np.errstate(divide="ignore", invalid="ignore"):
            if reml:
                W3 = M[2][:, 0]
                adj = (yPPy - (W1 - W2 / W1)) / (W2 - 2 * W3 / W1 + W2**2 / W1**2)
            else:
                adj = (yPPy - W1) / W2
        adj = np.where(np.isfinite(adj), adj, 0.0)
        # Short cut of the slow halving walk to the boundary: the score is < 0 both
        # here and at 0, so (barring a second interior maximum below) the path ends at 0.
        to_zero = (adj < 0) & (U0[active] < 0)
        adj = np.where(to_zero, -ta, adj)
        adj = np.where((ta == 0) & (adj < 0), 0.0, adj)
        neg = ta + adj < 0
        while neg.any():
            adj = np.where(neg, adj / 2, adj)
            neg = ta + adj < 0
        new = ta + adj
        tau[active] = new
        active = active[np.abs(adj) > _REL_TOL * np.maximum(new, floor)]
    if active.size:  # not converged in _MAXITER iterations: bracketed root instead
        warnings.warn(
            f"leave-one-out: {method} Fisher scoring reached the iteration limit ({_MAXITER}) "
            f"in {active.size} deleted fit(s); their tau^2 is the bracketed root of the score",
            ConvergenceWarning,
            stacklevel=2,
        )
        pos = active[U0[active] > 0]
        tau[active] = 0.0
        tau[pos] = _loo_newton(v, yc, method, np.maximum(tau[pos], float(np.mean(v))), pos, 3)
    tau[(tau <= _REL_TOL * floor * 10) & (U0 <= 0)] = 0.0
    sus = np.flatnonzero((tau > 0) & (U0 <= 0))
    if sus.size:
        M0 = _moments_at_zero(v, yc, 1)[0][sus]
        Mt = _excl_moments(v, sums.Y3, tau[sus], sus, 1)[0]

        def ll(logsum: np.ndarray, M: np.ndarray) -> np.ndarray:
            W1, A1, B1 = M.T
            rss = B1 - A1**2 / W1
            return -0.5 * logsum - (0.5 * np.log(W1) if reml else 0.0) - 0.5 * rss

        ll0 = ll(_excl(np.log(v))[sus], M0)
        llt = ll(_excl_logsum(v, tau[sus], sus), Mt)
        tau[sus[ll0 - llt > _LL0_TOL]] = 0.0
    return tau


def _loo_core(full: MetaResult) -> dict[str, np.ndarray]:
    """tau^2, mu, sum of weights, Knapp-Hartung s2w and Q_E of every deleted fit.

    Computed once per fitted result (``MetaResult._deleted``) and shared by
    its ``leave1out`` and ``influence``.
    """
    y, v, method, test = full.yi, full.vi, full.method, full.test
    k = y.size
    n1 = k - 1
    idx = np.arange(k)
    yc = y - full.estimate  # shift for numerical stability (all estimators are shift-equivariant)
    # Q_E and typical variance of each deleted set, fixed-effect weights:
    # Q_(-i) = Q - w_i (y_i - mu_FE)^2 W / (W - w_i) (exact down-date).
    w0 = 1 / v
    S0 = _excl(w0)
    resid0 = yc - (w0 * yc).sum() / w0.sum()
    Qfull = float((w0 * resid0**2).sum())
    qe = np.maximum(0.0, Qfull - w0 * resid0**2 * w0.sum() / S0)
    trP0 = S0 - _excl(w0**2) / S0
    if n1 == 1 or method == "FE":
        tau = np.zeros(k)
    elif method == "DL":
        tau = np.maximum(0.0, (qe - (n1 - 1)) / trP0)
    elif method in ("HE", "SJ", "REML", "ML"):
        # RSS_(-i) = RSS - k/(k-1) (y_i - ybar)^2 (exact down-date)
        dev = yc - yc.mean()
        rss = np.maximum(0.0, float((dev**2).sum()) - k / n1 * dev**2)
        he = (rss - _excl(v) * (1 - 1 / n1)) / (n1 - 1)
        if method == "HE":
            tau = np.maximum(0.0, he)
        elif method in ("REML", "ML"):
            tau = _loo_tau2_fisher(v, yc, method, he)
        else:
            tau0 = rss / n1
            M = _ExclSums(v, yc, float((dev**2).mean()), 1)(tau0, idx)[0]
            Qs = M[:, 2] - M[:, 1] ** 2 / M[:, 0]
            tau = np.maximum(0.0, tau0 * Qs / (n1 - 1))
    else:
        tau = _loo_tau2_root(v, yc, method, full.tau2)
    W1, A1, B1 = _ExclSums(v, yc, float(np.median(tau)), 1)(tau, idx)[0].T
    mu = A1 / W1
    if test == "knha" and n1 > 1:
        rss = np.maximum(0.0, B1 - 2 * mu * A1 + mu**2 * W1)
        s2w = np.where(rss <= _EPS, 0.0, rss / (n1 - 1))
    else:
        s2w = np.ones(k)
    return {
        "tau2": tau,
        "mu": mu + full.estimate,
        "W1": W1,
        "Wall": W1 + 1 / (v + tau),
        "s2w": s2w,
        "qe": qe if n1 > 1 else np.zeros(k),
        "trP0": trP0,
    }


def leave_one_out(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[Any] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """Refit the model k times, each time without one study (metafor ``leave1out``).

    Returns one row per omitted study with columns ``omitted, estimate, se,
    ci_low, ci_high, pval, tau2, i2, q`` then ``zval, q_pval, h2`` (``zval``
    is a t statistic with k - 2 df under knha). Deleted fits with k - 1 = 1
    study follow metafor's k = 1 rules (tau^2 = 0, z test). Requires k >= 2.
    All k fits are solved at once (see the module docstring): typically O(k) time per
    iteration, O(k) memory (exact fallback rows O(k) each, in fixed-size chunks).
    Same as ``fit(yi, vi, method, test, level, labels).leave1out()``.
    """
    return fit(yi, vi, method, test, level, labels=labels).leave1out()


def _leave1out(full: MetaResult) -> pd.DataFrame:
    k, m, t, level = full.k, full.method, full.test, full.level
    if k < 2:
        raise ValueError("leave_one_out needs k >= 2 studies (metafor: 'Stopped because k = 1.')")
    lab = list(full.labels)
    core = full._deleted
    n1 = k - 1
    knha = t == "knha" and n1 > 1
    se = np.sqrt(core["s2w"] / core["W1"])
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = (core["mu"] - 0) / se
    if knha:
        crit = dist.t_isf((1 - level) / 2, n1 - 1)
        pval = 2 * dist.t_sf(np.abs(zval), n1 - 1)
    else:
        crit = dist.norm_isf((1 - level) / 2)
        pval = 2 * dist.norm_sf(np.abs(zval))
    tau = core["tau2"]
    qe = core["qe"]
    if n1 == 1:
        i2, h2, q_pval = np.zeros(k), np.ones(k), np.ones(k)
    else:
        vt = (n1 - 1) / core["trP0"]
        if m == "FE":
            with np.errstate(divide="ignore", invalid="ignore"):
                i2 = np.where(qe > 0, np.maximum(0.0, 100 * (qe - (n1 - 1)) / qe), 0.0)
            h2 = qe / (n1 - 1)
        else:
            i2 = 100 * tau / (vt + tau)
            h2 = tau / vt + 1
        q_pval = dist.chi2_sf(qe, n1 - 1)
    return pd.DataFrame(
        {
            "omitted": lab,
            "estimate": core["mu"],
            "se": se,
            "ci_low": core["mu"] - crit * se,
            "ci_high": core["mu"] + crit * se,
            "pval": pval,
            "tau2": tau,
            "i2": i2,
            "q": qe,
            "zval": zval,
            "q_pval": q_pval,
            "h2": h2,
        }
    )


def influence(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[Any] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """Case-deletion diagnostics of the intercept-only model (metafor ``influence.rma.uni``).

    Columns: ``study, rstudent, dffits, cook_d, cov_r, tau2_del, qe_del, hat,
    weight, dfbs, inf``. With mu_(-i), tau^2_(-i), s2w_(-i) from the fit
    without study i and mu, Var(mu) from the full fit:
    rstudent = (y_i - mu_(-i)) / sqrt(s2w_(-i)(v_i + tau^2_(-i)) + Var(mu_(-i)));
    dffits = (mu - mu_(-i)) / sqrt(s2w_(-i) h_i (tau^2_(-i) + v_i));
    cook_d = (mu - mu_(-i))^2 / Var(mu); cov_r = Var(mu_(-i)) / Var(mu);
    dfbs = (mu - mu_(-i)) / sqrt(s2w_(-i) / sum_j 1/(v_j + tau^2_(-i)));
    hat = w_i / sum w; weight = 100 hat. ``inf`` flags a study as metafor
    does: |dffits| > 3 sqrt(1/(k-1)), or pchisq(cook_d, 1) > 0.5, or
    hat > 3/k, or |dfbs| > 1. Requires k >= 2. Same as
    ``fit(yi, vi, method, test, level, labels).influence()``.
    """
    return fit(yi, vi, method, test, level, labels=labels).influence()


def _influence(full: MetaResult) -> pd.DataFrame:
    y, v, k = full.yi, full.vi, full.k
    if k < 2:
        raise ValueError("influence needs k >= 2 studies (metafor: 'Stopped because k = 1.')")
    lab = list(full.labels)
    core = full._deleted
    tau, mu, s2w = core["tau2"], core["mu"], core["s2w"]
    vb_full = full.se**2
    vdel = s2w / core["W1"]
    diff = full.estimate - mu
    resid = y - mu
    resid[np.abs(resid) < 100 * _EPS] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rstudent = resid / np.sqrt(v * s2w + vdel + tau * s2w)
        dffits = diff / np.sqrt(s2w * full.hat * (tau + v))
        dfbs = diff / np.sqrt(s2w / core["Wall"])
        cook = diff**2 / vb_full
        cov_r = vdel / vb_full
    inf = (
        (np.abs(dffits) > 3 * math.sqrt(1 / (k - 1)))
        | (dist.chi2_cdf(cook, 1) > 0.5)
        | (full.hat > 3 / k)
        | (np.abs(dfbs) > 1)
    )
    return pd.DataFrame(
        {
            "study": lab,
            "rstudent": rstudent,
            "dffits": dffits,
            "cook_d": cook,
            "cov_r": cov_r,
            "tau2_del": tau,
            "qe_del": core["qe"],
            "hat": full.hat,
            "weight": full.weights,
            "dfbs": dfbs,
            "inf": inf,
        }
    )


# --------------------------------------------------------------------------- Egger


@dataclass(frozen=True)
class EggerResult:
    """Regression test for funnel-plot asymmetry (metafor ``regtest``, predictor ``sei``).

    ``statistic`` is the z (model ``rma``, test z) or t value of the SE slope,
    ``df`` its degrees of freedom (None for z); ``limit_estimate`` is the
    intercept, the estimated effect as the SE goes to 0, with its CI.
    """

    model: str
    predictor: str
    statistic: float
    pval: float
    df: float | None
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    slope: float
    method: str
    test: str
    k: int

    def to_dict(self) -> dict[str, Any]:
        return {key: _none_if_nan(val) for key, val in asdict(self).items()}


def egger_test(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    model: str = "rma",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> EggerResult:
    """Egger's regression test with the standard error as predictor (Egger et al. 1997).

    ``model="rma"``: the meta-regression y_i = b0 + b1 sqrt(v_i) + u_i + e_i
    fitted like :func:`fit` (``method``, ``test``), as ``regtest(x)`` on a
    model fitted with those settings. ``model="lm"``: weighted least squares
    with weights 1/v_i and a multiplicative dispersion (the classical Egger
    test), t with k - 2 df, as ``regtest(x, model="lm")``. Requires k >= 3.
    Same as ``fit(yi, vi, method, test, level).regtest(model)``.
    """
    return fit(yi, vi, method, test, level).regtest(model)


def _regtest(full: MetaResult, model: str) -> EggerResult:
    y, v, m, t, level = full.yi, full.vi, full.method, full.test, full.level
    if model not in ("rma", "lm"):
        raise ValueError(f"model must be 'rma' or 'lm'; got {model!r}")
    k = y.size
    if k < 3:
        raise ValueError(f"egger_test needs k >= 3 studies, got k = {k}")
    X = np.column_stack([np.ones(k), np.sqrt(v)])
    if model == "rma":
        c = _rma(X, y, v, m, t, level)
        return EggerResult(
            model=model, predictor="sei", statistic=float(c.stat[1]), pval=float(c.pval[1]),
            df=c.df, limit_estimate=float(c.beta[0]), limit_ci_low=float(c.ci_low[0]),
            limit_ci_high=float(c.ci_high[0]), slope=float(c.beta[1]), method=m, test=c.test, k=k,
        )  # fmt: skip
    import statsmodels.api as sm

    res = sm.WLS(y, X, weights=1 / v).fit()
    ci = res.conf_int(alpha=1 - level)
    return EggerResult(
        model=model, predictor="sei", statistic=float(res.tvalues[1]), pval=float(res.pvalues[1]),
        df=float(res.df_resid), limit_estimate=float(res.params[0]), limit_ci_low=float(ci[0, 0]),
        limit_ci_high=float(ci[0, 1]), slope=float(res.params[1]), method="FE", test="t", k=k,
    )  # fmt: skip


# --------------------------------------------------------------------------- trim and fill


@dataclass(frozen=True, eq=False)
class TrimFillResult:
    """Trim-and-fill (Duval & Tweedie 2000) as metafor ``trimfill.rma.uni``.

    ``k0`` studies imputed on ``side`` ("left" or "right": the side where
    studies are missing), ``se_k0`` its SE; ``fit`` is the model refitted with
    the imputed studies (``filled_yi``, ``filled_vi``), whose estimate and CI
    are the adjusted ones (copied to ``estimate``, ``ci_low``, ``ci_high``).
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pval: float
    tau2: float
    fit: MetaResult = field(repr=False)
    filled_yi: np.ndarray = field(repr=False)
    filled_vi: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = {
            key: _none_if_nan(getattr(self, key))
            for key in (
                "k0",
                "se_k0",
                "side",
                "estimator",
                "estimate",
                "se",
                "ci_low",
                "ci_high",
                "pval",
                "tau2",
            )
        }
        d["filled_yi"] = [float(x) for x in self.filled_yi]
        d["filled_vi"] = [float(x) for x in self.filled_vi]
        return d


def _sqrt_or_nan(x: float) -> float:
    return math.sqrt(x) if x >= 0 else float("nan")


def trim_and_fill(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    estimator: str = "L0",
    side: str | None = None,
    test: str = "z",
    level: float = 0.95,
    maxiter: int = 100,
) -> TrimFillResult:
    """Duval & Tweedie's trim-and-fill, step by step as metafor.

    Side (when not given): "right" if the slope of the Egger-type
    meta-regression on sqrt(v_i) is negative, else "left". Then iterate:
    fit the model (``method``) to the k - k0 least extreme studies, rank
    |y_i - mu| over all k studies and estimate k0 with L0
    (4 S_r - k(k+1))/(2k - 1), R0 or Q0, rounded and floored at 0, until
    k0 repeats. The k0 most extreme studies are mirrored about the last
    trimmed estimate, 2 mu - y_i, and the model refitted (metafor refits with
    its default test "z"; ``test`` and ``level`` apply to that refit).

    Where the variance of S_r (L0, Q0) comes out negative, as with one
    extreme outlier, se(k0) is NaN, as in metafor; with all y_i equal k0 is
    0 (se(k0) NaN for L0 and Q0, sqrt(2) for R0), metafor's answer. When the side
    is not given and all v_i are equal, the Egger slope that chooses it is not
    estimable: a ValueError asks for ``side`` (metafor stops with
    "missing value where TRUE/FALSE needed"). Same as
    ``fit(yi, vi, method, test, level).trimfill(estimator, side, maxiter)``.
    """
    return fit(yi, vi, method, test, level).trimfill(estimator, side, maxiter)


def _trimfill(full: MetaResult, estimator: str, side: str | None, maxiter: int) -> TrimFillResult:
    y, v, m, t, level = full.yi, full.vi, full.method, full.test, full.level
    if estimator not in ("L0", "R0", "Q0"):
        raise ValueError(f"estimator must be 'L0', 'R0' or 'Q0'; got {estimator!r}")
    k = y.size
    if k < 3:
        raise ValueError(f"trim_and_fill needs k >= 3 studies, got k = {k}")
    if side is None:
        if np.all(v == v[0]):
            raise ValueError(
                "trim_and_fill cannot choose the side: all vi are equal, so the slope of the"
                " effects on their standard errors is not estimable; pass side='left' or"
                " side='right'"
            )
        slope = _rma(np.column_stack([np.ones(k), np.sqrt(v)]), y, v, m, "z", level).beta[1]
        if np.all(y == y[0]):
            slope = 0.0  # exactly, not its rounding error: metafor then says "left"
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise ValueError(f"side must be 'left', 'right' or None; got {side!r}")
    ys = -y if side == "right" else y.copy()
    order = np.argsort(ys, kind="stable")
    ys, vs = ys[order], v[order]
    k0, k0_prev, it = 0, -1, 0
    beta = 0.0
    se_k0 = float("nan")
    if np.all(y == y[0]):
        # No asymmetry to estimate; the ranks would only reflect rounding noise of
        # y_i - mu. metafor's answer: k0 = 0, se(k0) NaN (L0, Q0) or sqrt(2) (R0).
        k0_prev = k0
        se_k0 = math.sqrt(2) if estimator == "R0" else float("nan")
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise RuntimeError("trim and fill algorithm did not converge")
        beta = float(_rma(np.ones((k - k0, 1)), ys[: k - k0], vs[: k - k0], m, "z", level).beta[0])
        yc = ys - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)
        signed = np.sign(yc) * ranks
        if estimator == "R0":
            neg = signed[signed < 0]
            k0f = (k - (np.max(-neg) if neg.size else 0)) - 1
            se_k0 = math.sqrt(2 * max(0, k0f) + 2)
        else:
            Sr = float(signed[signed > 0].sum())
            if estimator == "L0":
                k0f = (4 * Sr - k * (k + 1)) / (2 * k - 1)
            else:
                k0f = k - 0.5 - _sqrt_or_nan(2 * k**2 - 4 * Sr + 0.25)
                if math.isnan(k0f):
                    raise ValueError(
                        "trim_and_fill (Q0): k0 is not defined for these data"
                        " (2 k^2 - 4 S_r + 1/4 < 0); use estimator='L0' or 'R0'"
                    )
            var_sr = (
                k * (k + 1) * (2 * k + 1)
                + 10 * k0f**3
                + 27 * k0f**2
                + 17 * k0f
                - 18 * k * k0f**2
                - 18 * k * k0f
                + 6 * k**2 * k0f
            ) / 24
            # var_sr < 0 (e.g. all effects equal): metafor's sqrt gives NaN, so does se_k0
            if estimator == "L0":
                se_k0 = 4 * _sqrt_or_nan(var_sr) / (2 * k - 1)
            else:
                se_k0 = (
                    2
                    * _sqrt_or_nan(var_sr)
                    / _sqrt_or_nan((k - 0.5) ** 2 - k0f * (2 * k - k0f - 1))
                )
        k0 = max(0, int(np.round(k0f)))  # R's round(): half to even, as numpy
        se_k0 = se_k0 if math.isnan(se_k0) else max(0.0, se_k0)  # R: max(0, NaN) is NaN
    if k0 > 0:
        mirrored = 2 * beta - ys[k - k0 :]
        fill_y = -mirrored if side == "right" else mirrored
        filled_y = np.concatenate([y, fill_y])
        filled_v = np.concatenate([v, vs[k - k0 :]])
    else:
        filled_y, filled_v = y.copy(), v.copy()
    res = fit(filled_y, filled_v, m, t, level)
    return TrimFillResult(
        k0=k0, se_k0=se_k0, side=side, estimator=estimator, estimate=res.estimate, se=res.se,
        ci_low=res.ci_low, ci_high=res.ci_high, pval=res.pval, tau2=res.tau2, fit=res,
        filled_yi=filled_y, filled_vi=filled_v,
    )  # fmt: skip


# --------------------------------------------------------------------------- meta-regression


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
            key: _none_if_nan(getattr(self, key))
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
            {c: _none_if_nan(val) for c, val in row.items()}
            for row in self.coefficients.to_dict(orient="records")
        ]
        return d


def meta_regression(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    mods: np.ndarray | pd.DataFrame | Sequence[Sequence[float]],
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    names: Sequence[str] | None = None,
) -> MetaRegression:
    """Meta-regression on moderators ``mods`` (k x m array or DataFrame); an intercept is added.

    Moderators must be finite numbers (code categories as 0/1 columns) and the
    design of full rank; a ValueError names the study and the moderator
    otherwise. Needs k > m + 1 for a random-effects method.
    """
    y, v = _check_data(yi, vi)
    meth, t = _check_method(method, test, level)
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

    ``mods`` is a DataFrame (its column names are the terms), an array (terms
    ``x1``, ``x2``, ...) or None (no moderators); ``names`` overrides the terms.
    Raises ValueError naming the ``unit`` (study, effect) and the moderator of
    the first value that is not finite.
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
