"""The tau^2 estimators of ``rma.uni`` (HE, DL, SJ, PM/EB, REML/ML) and their SEs.

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

The iteration controls (``_MAXITER``, ``_REL_TOL``, ``_LL0_TOL``) are shared
with the deleted fits of :mod:`livingreview.stats.deleted`, which read them
from this module.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .wls import _EPS, _WLS, _loglik, _qform, _Qgen, _trP, _trPP, _wls

__all__ = ["ConvergenceWarning"]


class ConvergenceWarning(UserWarning):
    """An iterative estimate needed the fallback root-finder (the fit reports converged False)."""


_MAXITER = 1000
_REL_TOL = 1e-12
_LL0_TOL = _EPS**0.25  # metafor's con$tol, used for its ll0check


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
