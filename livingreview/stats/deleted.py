"""Leave-one-out fits and case-deletion diagnostics (metafor ``leave1out``, ``influence``).

All k deleted fits are solved at once, without k refits: each deleted fit
needs only sums over j != i of w_j^a y_j^b (a = 1..3, b = 0..2) at its own
tau^2_(-i). These come from a power series around a common centre (O(k)
set-up, O(1) per deleted fit per iteration; the 32 most precise studies are
summed exactly) or, where the series is not accurate to 1e-15, from exact
chunked sums (bounded memory). REML/ML deleted fits follow metafor's own path
(Fisher scoring from max(0, HE_(-i)) with step halving, then its ll0check),
vectorised over the k fits; a walk to the boundary whose score is negative
both at the iterate and at 0 is cut short to 0. PM/EB use a safeguarded
Newton on Q(tau^2) = k - 2. Time is O(k) per iteration, memory O(k).
The iteration controls are those of :mod:`livingreview.stats.tau2` (read at
call time, so that one setting governs the full and the deleted fits).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from . import dist, tau2
from .rma import MetaResult, fit
from .shared_docs import shared
from .tau2 import ConvergenceWarning, _tau2_floor
from .wls import _EPS

__all__ = ["influence", "leave_one_out"]

_CHUNK_ELEMS = 2_000_000  # elements per chunk of the k x k leave-one-out passes (16 MB)


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
            | (np.abs(nx - xa) <= tau2._REL_TOL * np.maximum(xa, floor))
            | (ha - la <= tau2._REL_TOL * np.maximum(la, floor))
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
    for _ in range(tau2._MAXITER):
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
        active = active[np.abs(adj) > tau2._REL_TOL * np.maximum(new, floor)]
    if active.size:  # not converged in tau2._MAXITER iterations: bracketed root instead
        warnings.warn(
            f"leave-one-out: {method} Fisher scoring reached the iteration limit ({tau2._MAXITER}) "
            f"in {active.size} deleted fit(s); their tau^2 is the bracketed root of the score",
            ConvergenceWarning,
            stacklevel=2,
        )
        pos = active[U0[active] > 0]
        tau[active] = 0.0
        tau[pos] = _loo_newton(v, yc, method, np.maximum(tau[pos], float(np.mean(v))), pos, 3)
    tau[(tau <= tau2._REL_TOL * floor * 10) & (U0 <= 0)] = 0.0
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
        tau[sus[ll0 - llt > tau2._LL0_TOL]] = 0.0
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


@shared
def leave_one_out(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[Any] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """Refit the model k times, each time without one study (metafor ``leave1out``).

    Parameters
    ----------
    {data}
    {labels}
    {model}

    Returns
    -------
    pandas.DataFrame
        One row per omitted study: ``omitted, estimate, se, ci_low, ci_high,
        pval, tau2, i2, q`` then ``zval, q_pval, h2`` (``zval`` is a t
        statistic with k - 2 df under knha).

    Raises
    ------
    ValueError
        For k < 2 (metafor: "Stopped because k = 1.").

    Notes
    -----
    Each row is the fit of :func:`fit` to the k - 1 other studies (tau^2_(-i)
    re-estimated); deleted fits of k - 1 = 1 study follow metafor's k = 1
    rules (tau^2 = 0, z test). All k fits are solved at once (module
    docstring): O(k) time per iteration and O(k) memory instead of k refits.
    Viechtbauer W, Cheung MWL (2010). Outlier and influence diagnostics for
    meta-analysis. Res Synth Methods 1:112-125. Same as
    ``fit(yi, vi, method, test, level, labels).leave1out()``.

    Examples
    --------
    BCG vaccine trials (metafor: -0.7071, -0.6540, -0.6856 without trials 1-3):

    {bcg}
    >>> loo = stats.leave_one_out(yi, vi)
    >>> loo["estimate"].round(4).tolist()[:3], loo["tau2"].round(4).tolist()[:3]
    ([-0.7071, -0.654, -0.6856], [0.3362, 0.2926, 0.3207])
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


@shared
def influence(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    labels: Sequence[Any] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """Case-deletion diagnostics of the intercept-only model (metafor ``influence.rma.uni``).

    Parameters
    ----------
    {data}
    {labels}
    {model}

    Returns
    -------
    pandas.DataFrame
        One row per study: ``study, rstudent, dffits, cook_d, cov_r,
        tau2_del, qe_del, hat, weight, dfbs, inf``.

    Raises
    ------
    ValueError
        For k < 2.

    Notes
    -----
    With mu_(-i), tau^2_(-i), s2w_(-i) from the fit without study i and mu,
    Var(mu) from the full fit:
    rstudent = (y_i - mu_(-i)) / sqrt(s2w_(-i)(v_i + tau^2_(-i)) + Var(mu_(-i)));
    dffits = (mu - mu_(-i)) / sqrt(s2w_(-i) h_i (tau^2_(-i) + v_i));
    cook_d = (mu - mu_(-i))^2 / Var(mu); cov_r = Var(mu_(-i)) / Var(mu);
    dfbs = (mu - mu_(-i)) / sqrt(s2w_(-i) / sum_j 1/(v_j + tau^2_(-i)));
    hat = w_i / sum w; weight = 100 hat. ``inf`` flags a study as metafor
    does: |dffits| > 3 sqrt(1/(k-1)), or pchisq(cook_d, 1) > 0.5, or
    hat > 3/k, or |dfbs| > 1. Viechtbauer W, Cheung MWL (2010). Outlier and
    influence diagnostics for meta-analysis. Res Synth Methods 1:112-125.
    Same as ``fit(yi, vi, method, test, level, labels).influence()``.

    Examples
    --------
    BCG vaccine trials (metafor: Cook's distances 0.0017, 0.1132, 0.0260 of
    trials 1-3; no trial flagged):

    {bcg}
    >>> inf = stats.influence(yi, vi)
    >>> inf["cook_d"].round(4).tolist()[:3], int(inf["inf"].sum())
    ([0.0017, 0.1132, 0.026], 0)
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
