"""Multilevel and multivariate random-effects meta-analysis, as metafor's ``rma.mv``.

Several effects of the same trial are not independent: they share the trial's
participants (sampling covariance V within a trial) and the trial's true
effect (a between-trial random effect). The model (Konstantopoulos 2011) is

    y_ij = x_ij'b + u_i + w_ij + e_ij,   u_i ~ N(0, s_trial),  w_ij ~ N(0, s_effect),
    e_i ~ N(0, V_i)

for effect j of trial i, i.e. ``rma.mv(yi, V, mods, random = ~ 1 | trial/effect)``.
The multivariate model of :func:`fit_multivariate` replaces u_i + w_ij by a
random effect per outcome with an unstructured between-trial covariance
(``random = ~ outcome | trial, struct = "UN"``).

Algebra. The marginal covariance M = V + sum_k theta_k G_k is linear in the
variance parameters theta and block-diagonal by trial, so nothing N x N is
ever formed: trials are grouped by their number of effects and every
quantity (log-likelihood, score, expected and observed information, the GLS
estimate) is accumulated from batched n x n and n x p products of each
group. With W = M^-1, P = W - W X (X'WX)^-1 X'W and r = y - X b,

    l_R(theta) = -1/2 [ (k - p) log 2pi + log|M| + log|X'WX| - log|X'X| + r'Wr ]
    dl/dtheta_k = 1/2 [ y'P G_k P y - tr(P G_k) ]
    E[-d2l]     = 1/2 tr(P G_k P G_l)
    -d2l        = y'P G_k P G_l P y - 1/2 tr(P G_k P G_l)

(ML: the same with P replaced by W in the traces and without the log|X'WX|
terms). theta is found by Newton-Raphson on the observed information
(Fisher scoring when it is not positive definite), with step halving so that
the likelihood never decreases, projection onto theta >= 0 (a component whose
score is negative at 0 stays at 0), and convergence when the step is below
1e-12 of the scale of the sampling variances. metafor instead maximises over
log(theta) with ``nlminb``; both find the same maximum, to the optimiser's
tolerance. A component at the boundary is exactly 0 here, a tiny positive
number in metafor.

References: Konstantopoulos S (2011) Fixed effects and variance components
estimation in three-level meta-analysis. Res Synth Methods 2:61-76.
Viechtbauer W (2010) J Stat Softw 36(3). Berkey CS et al. (1998) Stat Med
17:2537-2550.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import dist
from .covariance import BlockDiagonal
from .metareg import moderator_matrix

__all__ = ["MultilevelResult", "ProfileCI", "fit", "fit_multivariate", "profile_ci"]

METHODS = ("REML", "ML")
TESTS = ("z", "t")
_MAXITER = 500
_TOL = 1e-12
_LOG2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------- blocks


@dataclass
class _Group:
    """All trials with n effects: row indices, data and covariance stacked as arrays."""

    rows: np.ndarray  # (nb, n) indices into the (original) rows
    y: np.ndarray  # (nb, n)
    X: np.ndarray  # (nb, n, p)
    V: np.ndarray  # (nb, n, n)
    G: list[Any]  # per component: "ones" (J), "eye" (I) or an array broadcastable to (nb, n, n)


@dataclass
class _Eval:
    """One evaluation of the (restricted) likelihood and what the final fit needs."""

    ll: float
    b: np.ndarray
    B: np.ndarray  # (X'WX)^-1
    score: np.ndarray
    fisher: np.ndarray
    observed: np.ndarray
    W: list[np.ndarray]
    L: list[np.ndarray]  # lower Cholesky factors of M per group
    r: list[np.ndarray]


def _trial_codes(trial: Any, k: int) -> tuple[np.ndarray, list[Any]]:
    t = trial.to_numpy() if isinstance(trial, pd.Series) else np.asarray(trial)
    if t.ndim != 1 or t.size != k:
        raise ValueError(f"trial has {t.size} entries for {k} effects")
    missing = pd.isna(t)
    if missing.any():
        raise ValueError(f"effect {int(np.flatnonzero(missing)[0])}: trial is missing")
    codes, uniques = pd.factorize(t, sort=False)
    return codes.astype(np.int64), list(uniques)


def _groups(
    codes: np.ndarray,
    y: np.ndarray,
    X: np.ndarray,
    vblocks: Any,
    components: Any,
) -> list[_Group]:
    """Split rows into trials (by ``codes``) and stack trials of equal size.

    ``vblocks(rows)`` returns the (nb, n, n) sampling covariance of the trials
    whose rows are ``rows``; ``components(rows)`` the list of G_k arrays.
    """
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    out = []
    for n in np.unique(sizes):
        trials = np.flatnonzero(sizes == n)
        rows = order[starts[trials][:, None] + np.arange(n)[None, :]]
        out.append(_Group(rows=rows, y=y[rows], X=X[rows], V=vblocks(rows), G=components(rows)))
    return out


_SMALL = 8  # blocks up to this size are factorised by vectorised loops over the batch


def _chol_inv(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Batched lower Cholesky factor L, inverse W and log-determinant of SPD blocks.

    LAPACK is called once per block by ``np.linalg``; for many small blocks
    the factorisation is written as n^3/3 vector operations over the batch
    instead, which is ~10x faster at n = 5. Raises LinAlgError when a block is
    not positive definite.
    """
    nb, n, _ = M.shape
    if n > _SMALL or nb < 64:
        L = np.linalg.cholesky(M)
        W = np.linalg.inv(M)
        W = (W + np.swapaxes(W, 1, 2)) / 2
        return L, W, 2 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
    Mt = np.ascontiguousarray(M.transpose(1, 2, 0))  # (n, n, nb): contiguous vectors
    Lt = np.zeros_like(Mt)
    for j in range(n):
        d = Mt[j, j] - (Lt[j, :j] ** 2).sum(axis=0) if j else Mt[j, j].copy()
        if not np.all(d > 0):
            raise np.linalg.LinAlgError("block not positive definite")
        Lt[j, j] = np.sqrt(d)
        for i in range(j + 1, n):
            acc = Mt[i, j] - (Lt[i, :j] * Lt[j, :j]).sum(axis=0) if j else Mt[i, j]
            Lt[i, j] = acc / Lt[j, j]
    Lit = np.zeros_like(Mt)  # L^-1, lower triangular
    for i in range(n):
        Lit[i, i] = 1 / Lt[i, i]
        for j in range(i):
            Lit[i, j] = -(Lt[i, j:i] * Lit[j:i, j]).sum(axis=0) / Lt[i, i]
    Wt = np.einsum("kib,kjb->ijb", Lit, Lit)  # L^-T L^-1
    logdet = 2 * float(np.log(np.diagonal(Lt)).sum())
    return Lt.transpose(2, 0, 1), np.ascontiguousarray(Wt.transpose(2, 0, 1)), logdet


def _gmul(G: Any, Z: np.ndarray) -> np.ndarray:
    """G @ Z for a component G: "ones" (J), "eye" (I) or an array broadcastable to blocks."""
    if isinstance(G, str):
        if G == "eye":
            return Z
        return np.broadcast_to(Z.sum(axis=1, keepdims=True), Z.shape)
    return G @ Z


def _gadd(M: np.ndarray, t: float, G: Any) -> None:
    """M += t G in place."""
    if isinstance(G, str):
        if G == "eye":
            n = M.shape[1]
            M[:, np.arange(n), np.arange(n)] += t
        else:
            M += t
    else:
        M += t * G


def _xtx(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """sum over blocks of A_b' B_b for (nb, n, p) and (nb, n, q) arrays."""
    return np.einsum("bni,bnj->ij", A, B)


def _check_pd(groups: list[_Group], codes: np.ndarray, trials: list[Any]) -> None:
    """Every trial's sampling covariance block must be positive definite."""
    for g in groups:
        ok = np.linalg.eigvalsh(g.V)[:, 0] > 0
        if not ok.all():
            row = int(g.rows[np.flatnonzero(~ok)[0], 0])
            raise ValueError(
                f"the sampling covariance of trial '{trials[codes[row]]}' (effects "
                f"{sorted(g.rows[np.flatnonzero(~ok)[0]].tolist())}) is not positive definite"
            )


def _evaluate(theta: np.ndarray, groups: list[_Group], p: int, k: int, reml: bool) -> _Eval:
    """Likelihood, score and information at theta, accumulated group by group."""
    XWX = np.zeros((p, p))
    XWy = np.zeros(p)
    logdet = 0.0
    Ws, Ls, WXs = [], [], []
    for g in groups:
        M = g.V.copy()
        for t, G in zip(theta, g.G, strict=True):
            _gadd(M, t, G)
        L, W, ld = _chol_inv(M)
        logdet += ld
        WX = W @ g.X
        XWX += _xtx(g.X, WX)
        XWy += _xtx(WX, g.y[:, :, None])[:, 0]
        Ws.append(W)
        Ls.append(L)
        WXs.append(WX)
    B = np.linalg.inv(XWX)
    B = (B + B.T) / 2
    b = B @ XWy
    K = len(theta)
    rs = []
    rss = 0.0
    trWG = np.zeros(K)
    C = np.zeros((K, p, p))  # X'W G_k W X
    yPGPy = np.zeros(K)
    T = np.zeros((K, K))  # tr(W G_k W G_l)
    D = np.zeros((K, K, p, p))  # X'W G_k W G_l W X
    uWu = np.zeros((K, K))
    XWu = np.zeros((K, p))
    for g, W, WX in zip(groups, Ws, WXs, strict=True):
        r = g.y - g.X @ b
        Wr = (W @ r[:, :, None])[:, :, 0]
        rss += float((r * Wr).sum())
        A = [np.swapaxes(_gmul(G, W), 1, 2) for G in g.G]  # W G_k = (G_k W)'
        E = [_gmul(G, WX) for G in g.G]  # G_k W X
        u = [_gmul(G, Wr[:, :, None]) for G in g.G]  # G_k W r, (nb, n, 1)
        WE = [W @ e for e in E]
        Wu = [W @ x for x in u]
        for i in range(K):
            trWG[i] += float(np.trace(A[i], axis1=1, axis2=2).sum())
            C[i] += _xtx(WX, E[i])
            yPGPy[i] += float((Wr * u[i][:, :, 0]).sum())
            XWu[i] += _xtx(WX, u[i])[:, 0]
            for j in range(i, K):
                T[i, j] += float((A[i] * np.swapaxes(A[j], 1, 2)).sum())
                D[i, j] += _xtx(E[i], WE[j])
                uWu[i, j] += float((u[i] * Wu[j]).sum())
        rs.append(r)
    for i in range(K):
        for j in range(i):
            T[i, j], D[i, j], uWu[i, j] = T[j, i], D[j, i].T, uWu[j, i]
    uPu = uWu - XWu @ B @ XWu.T
    if reml:
        trPG = trWG - np.einsum("ij,kji->k", B, C)
        BC = np.einsum("ij,kjl->kil", B, C)
        trPGPG = T - 2 * np.einsum("ij,klji->kl", B, D) + np.einsum("kij,lji->kl", BC, BC)
        ldXWX = np.linalg.slogdet(XWX)[1]
        ldXX = np.linalg.slogdet(sum(_xtx(g.X, g.X) for g in groups))[1]
        ll = -0.5 * ((k - p) * _LOG2PI + logdet + ldXWX - ldXX + rss)
    else:
        trPG = trWG
        trPGPG = T
        ll = -0.5 * (k * _LOG2PI + logdet + rss)
    score = 0.5 * (yPGPy - trPG)
    fisher = 0.5 * trPGPG
    observed = uPu - 0.5 * trPGPG
    return _Eval(ll=ll, b=b, B=B, score=score, fisher=fisher, observed=observed, W=Ws, L=Ls, r=rs)


def _optimise(
    groups: list[_Group],
    p: int,
    k: int,
    reml: bool,
    start: np.ndarray,
    nonneg: np.ndarray,
    scale: float,
    fixed: np.ndarray | None = None,
) -> tuple[np.ndarray, _Eval, bool, int]:
    """Newton-Raphson / Fisher scoring with step halving and projection onto theta_k >= 0.

    ``fixed``: boolean mask of components held at their start value (profiling).
    """
    theta = start.astype(float).copy()
    fixed = np.zeros(theta.size, bool) if fixed is None else fixed
    cur = _evaluate(theta, groups, p, k, reml)
    tol = _TOL * scale
    converged = False
    it = 0
    for it in range(1, _MAXITER + 1):  # noqa: B007
        at_zero = nonneg & (theta <= 0) & (cur.score <= 0)
        free = ~(fixed | at_zero)
        if not free.any():
            converged = True
            break
        s = cur.score[free]
        step = None
        for info in (cur.observed, cur.fisher):
            H = info[np.ix_(free, free)]
            try:
                np.linalg.cholesky(H)
                step = np.linalg.solve(H, s)
                break
            except np.linalg.LinAlgError:
                continue
        if step is None:  # no usable curvature: gradient step scaled to the data
            step = s * scale**2
        full = np.zeros_like(theta)
        full[free] = step
        accepted = False
        for _ in range(60):
            new = theta + full
            new[nonneg] = np.maximum(new[nonneg], 0.0)
            try:
                nxt = _evaluate(new, groups, p, k, reml)
            except np.linalg.LinAlgError:
                full /= 2
                continue
            if nxt.ll >= cur.ll - 1e-12 * max(1.0, abs(cur.ll)):
                accepted = True
                break
            full /= 2
        if not accepted:
            converged = bool(np.abs(cur.score[free]).max() * scale <= 1e-6)
            break
        change = float(np.abs(new - theta).max())
        theta, cur = new, nxt
        if change <= tol:
            converged = True
            break
    return theta, cur, converged, it


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class MultilevelResult:
    """A fitted multilevel (or multivariate) model, as metafor's ``rma.mv`` object.

    ``coefficients``: DataFrame with ``term, estimate, se, statistic, pval,
    ci_low, ci_high`` (statistic is z, or t with k - p df under ``test="t"``).
    ``estimate``/``se``/``zval``/``pval``/``ci_*``: the first coefficient
    (the pooled effect of an intercept-only model). ``sigma2``: variance
    components by name (``trial``, ``effect``; or ``tau2.<outcome>`` and
    ``rho.<a>.<b>`` for the multivariate model); ``qe``/``qe_pval``: the test
    for residual heterogeneity r'V^-1 r on k - p df (r from the GLS fit with
    V only); ``qm``/``qm_pval``: omnibus Wald test of the moderators
    (all coefficients but the intercept; the intercept alone when there are no
    moderators), chi^2 with m df or F(m, k - p) under ``test="t"``;
    ``i2``: total I^2 in percent, 100 sum(sigma2) / (sum(sigma2) + (k - p) /
    tr(P_V)), P_V the residual maker of the fixed-effects GLS fit (metafor's
    FAQ definition for multilevel models); ``loglik``/``aic``/``bic`` as
    metafor's ``fitstats``.
    """

    k: int
    n_trials: int
    p: int
    model: str
    coefficients: pd.DataFrame = field(repr=False)
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    sigma2: dict[str, float]
    qe: float
    qe_df: int
    qe_pval: float
    qm: float
    qm_df: tuple[int, int | None]
    qm_pval: float
    i2: float
    loglik: float
    aic: float
    bic: float
    method: str
    test: str
    level: float
    df: float | None
    converged: bool
    iterations: int
    vb: np.ndarray = field(repr=False)
    beta: np.ndarray = field(repr=False)
    trials: list[Any] = field(repr=False)
    _groups: list[_Group] = field(repr=False)
    _eval: _Eval = field(repr=False)
    _theta: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Scalar fields as JSON-ready values (NaN -> None); coefficients as records."""
        keys = (
            "k", "n_trials", "p", "model", "estimate", "se", "zval", "pval", "ci_low",
            "ci_high", "qe", "qe_df", "qe_pval", "qm", "qm_pval", "i2", "loglik", "aic",
            "bic", "method", "test", "level", "df", "converged", "iterations",
        )  # fmt: skip
        d = {key: _plain(getattr(self, key)) for key in keys}
        d["sigma2"] = {key: _plain(v) for key, v in self.sigma2.items()}
        d["qm_df"] = list(self.qm_df)
        d["coefficients"] = [
            {c: _plain(v) for c, v in row.items()}
            for row in self.coefficients.to_dict(orient="records")
        ]
        return d


def _plain(x: Any) -> Any:
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


# --------------------------------------------------------------------------- input checks


def _check_common(
    yi: Any, mods: Any, names: Sequence[str] | None, method: str, test: str, level: float
) -> tuple[np.ndarray, np.ndarray, list[str], str, str]:
    y = np.asarray(yi, dtype=float).reshape(-1)
    if y.size == 0:
        raise ValueError("no effects: yi is empty (k = 0)")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"effect {bad[0]}: yi must be finite (got {float(y[bad[0]])!r})")
    m = str(method).upper()
    if m not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    t = str(test).lower()
    if t not in TESTS:
        raise ValueError(f"test must be 'z' or 't'; got {test!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}")
    Z, terms = moderator_matrix(mods, y.size, names, unit="effect")
    X = np.column_stack([np.ones(y.size), Z])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError("the model matrix is not of full rank (collinear or constant moderators)")
    return y, X, ["intrcpt", *terms], m, t


def _vblocks_from(vi: Any, rho: float, k: int, codes: np.ndarray) -> tuple[Any, float]:
    """A function rows -> (nb, n, n) sampling covariance, and the scale mean(diag V)."""
    if isinstance(vi, BlockDiagonal):
        if vi.k != k:
            raise ValueError(f"V has {vi.k} rows for {k} effects")
        coo = vi.matrix.tocoo()
        cross = np.flatnonzero((codes[coo.row] != codes[coo.col]) & (coo.data != 0))
        if cross.size:
            i, j = int(coo.row[cross[0]]), int(coo.col[cross[0]])
            raise ValueError(f"V links effects {i} and {j} of different trials")
        d = vi.diagonal()
        bad = np.flatnonzero(~np.isfinite(d) | (d <= 0))
        if bad.size:
            raise ValueError(f"effect {bad[0]}: the variance V[{bad[0]}, {bad[0]}] must be > 0")
        return vi.take, float(np.mean(d))
    v = np.asarray(vi, dtype=float).reshape(-1)
    if v.size != k:
        raise ValueError(f"yi and vi differ in length ({k} vs {v.size})")
    bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise ValueError(f"effect {bad[0]}: vi must be finite and > 0 (got {float(v[bad[0]])!r})")
    if not -1 < rho < 1:
        raise ValueError(f"rho must be in (-1, 1); got {rho!r}")

    def take(rows: np.ndarray) -> np.ndarray:
        s = np.sqrt(v[rows])
        V = rho * s[:, :, None] * s[:, None, :]
        n = rows.shape[1]
        V[:, np.arange(n), np.arange(n)] = v[rows]
        return V

    return take, float(np.mean(v))


# --------------------------------------------------------------------------- core fit


def _finish(
    *,
    groups: list[_Group],
    theta: np.ndarray,
    ev: _Eval,
    converged: bool,
    iterations: int,
    sigma2: dict[str, float],
    n_params: int,
    k: int,
    p: int,
    terms: list[str],
    trials: list[Any],
    model: str,
    method: str,
    test: str,
    level: float,
) -> MultilevelResult:
    b, vb = ev.b, ev.B
    se = np.sqrt(np.diag(vb))
    stat = b / se
    btt = np.arange(1, p) if p > 1 else np.arange(1)
    m = btt.size
    qm = float(b[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], b[btt]))
    if test == "t":
        df: float | None = k - p
        pval = 2 * dist.t_sf(np.abs(stat), k - p)
        crit = float(dist.t_isf((1 - level) / 2, k - p))
        qm = qm / m
        qm_df: tuple[int, int | None] = (m, k - p)
        qm_pval = float(dist.f_sf(qm, m, k - p))
    else:
        df = None
        pval = 2 * dist.norm_sf(np.abs(stat))
        crit = float(dist.norm_isf((1 - level) / 2))
        qm_df = (m, None)
        qm_pval = float(dist.chi2_sf(qm, m))
    # QE and the typical sampling variance from the fixed-effects GLS fit (theta = 0)
    fe = _evaluate(np.zeros_like(theta), groups, p, k, reml=True)
    qe = max(
        0.0,
        sum(
            float((r * np.einsum("bnm,bm->bn", W, r)).sum())
            for r, W in zip(fe.r, fe.W, strict=True)
        ),
    )
    qe_pval = float(dist.chi2_sf(qe, k - p)) if k > p else 1.0
    trW = sum(float(np.einsum("bnn->", W)) for W in fe.W)
    WWX = sum(np.einsum("bni,bnj->ij", W @ g.X, W @ g.X) for W, g in zip(fe.W, groups, strict=True))
    trP = trW - float(np.trace(fe.B @ WWX))
    total = float(sum(v for key, v in sigma2.items() if not key.startswith("rho")))
    i2 = 100 * total / (total + (k - p) / trP) if k > p and trP > 0 else float("nan")
    n_obs = k - p if method == "REML" else k
    aic = -2 * ev.ll + 2 * n_params
    bic = -2 * ev.ll + n_params * math.log(n_obs)
    coef = pd.DataFrame(
        {
            "term": terms,
            "estimate": b,
            "se": se,
            "statistic": stat,
            "pval": pval,
            "ci_low": b - crit * se,
            "ci_high": b + crit * se,
        }
    )
    return MultilevelResult(
        k=k, n_trials=len(trials), p=p, model=model, coefficients=coef,
        estimate=float(b[0]), se=float(se[0]), zval=float(stat[0]), pval=float(pval[0]),
        ci_low=float(b[0] - crit * se[0]), ci_high=float(b[0] + crit * se[0]),
        sigma2=sigma2, qe=qe, qe_df=k - p, qe_pval=qe_pval, qm=qm, qm_df=qm_df,
        qm_pval=qm_pval, i2=i2, loglik=ev.ll, aic=aic, bic=bic, method=method, test=test,
        level=level, df=df, converged=converged, iterations=iterations, vb=vb, beta=b,
        trials=trials, _groups=groups, _eval=ev, _theta=theta,
    )  # fmt: skip


def fit(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray | BlockDiagonal,
    trial: Sequence[Any] | np.ndarray | pd.Series,
    mods: np.ndarray | pd.DataFrame | None = None,
    *,
    rho: float = 0.0,
    names: Sequence[str] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> MultilevelResult:
    """Three-level random-effects model: effects nested in trials.

    Reproduces ``metafor::rma.mv(yi, V, mods, random = ~ 1 | trial/effect,
    method, test, level)`` with ``effect`` a unique id per row.

    Parameters
    ----------
    yi
        Effect sizes, one per row (k rows).
    vi
        Sampling variances (a vector; with ``rho`` they become the imputed
        block-diagonal V of :func:`livingreview.stats.covariance.impute_covariance`),
        or a :class:`~livingreview.stats.covariance.BlockDiagonal` V whose blocks lie
        within trials (e.g. the Gleser-Olkin covariance of multi-arm trials).
    trial
        Trial label of each row; rows of a trial need not be contiguous.
    mods
        Optional moderators (k x m array or DataFrame); an intercept is added.
    rho
        Assumed correlation of the sampling errors of two effects of the same
        trial when ``vi`` is a vector (0: independent).
    names
        Moderator names (default: DataFrame columns or x1, x2, ...).
    method
        ``"REML"`` (default) or ``"ML"``.
    test
        ``"z"`` (default) or ``"t"`` (t and F tests on k - p df, as metafor's
        ``test="t"``).
    level
        Confidence level of the intervals.

    Returns
    -------
    MultilevelResult
        With ``sigma2 = {"trial": ..., "effect": ...}`` and ``model =
        "multilevel"``. When no trial has more than one effect the two
        components are not separately identified; the model is then the
        univariate random-effects model (all heterogeneity in ``trial``,
        ``effect`` = 0) and equals :func:`livingreview.stats.fit`.

    Notes
    -----
    Marginal covariance of trial i: M_i = V_i + s_trial J + s_effect I, with
    J the all-ones matrix. b = (X'WX)^-1 X'Wy, Var(b) = (X'WX)^-1 with
    W = M^-1; (s_trial, s_effect) maximise the restricted (REML) or full (ML)
    log-likelihood given in the module docstring (Konstantopoulos 2011,
    Res Synth Methods 2:61-76; Viechtbauer 2010, J Stat Softw 36(3)). Cost is
    O(sum_i n_i^3) per iteration; no k x k matrix is formed.

    Examples
    --------
    >>> from livingreview.stats import multilevel
    >>> res = multilevel.fit([0.1, 0.3, 0.2, 0.5, 0.4, 0.0], [0.02, 0.03, 0.02, 0.04, 0.03, 0.02],
    ...                      trial=["a", "a", "b", "b", "c", "c"])
    >>> round(res.estimate, 4), res.n_trials, res.k
    (0.2173, 3, 6)
    """
    y, X, terms, meth, t = _check_common(yi, mods, names, method, test, level)
    k, p = X.shape
    codes, trials = _trial_codes(trial, k)
    take, scale = _vblocks_from(vi, rho, k, codes)
    if k <= p:
        raise ValueError(f"k = {k} effects leave no degrees of freedom for {p} coefficients")

    def components(rows: np.ndarray) -> list[np.ndarray]:
        return ["ones", "eye"]

    groups = _groups(codes, y, X, take, components)
    _check_pd(groups, codes, trials)
    nonneg = np.array([True, True])
    single = all(g.rows.shape[1] == 1 for g in groups)
    fixed = np.array([False, single])
    start = np.array([scale / 2, 0.0 if single else scale / 2])
    theta, ev, conv, it = _optimise(groups, p, k, meth == "REML", start, nonneg, scale, fixed=fixed)
    sigma2 = {"trial": float(theta[0]), "effect": float(theta[1])}
    return _finish(
        groups=groups, theta=theta, ev=ev, converged=conv, iterations=it, sigma2=sigma2,
        n_params=p + (1 if single else 2), k=k, p=p, terms=terms, trials=trials,
        model="multilevel", method=meth, test=t, level=level,
    )  # fmt: skip


def fit_multivariate(
    yi: Sequence[float] | np.ndarray,
    V: BlockDiagonal,
    trial: Sequence[Any] | np.ndarray | pd.Series,
    outcome: Sequence[Any] | np.ndarray | pd.Series,
    mods: np.ndarray | pd.DataFrame | None = None,
    *,
    names: Sequence[str] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> MultilevelResult:
    """Multivariate model with an unstructured between-trial covariance of the outcomes.

    Reproduces ``metafor::rma.mv(yi, V, mods, random = ~ outcome | trial,
    struct = "UN")``. Give outcome indicators as moderators (e.g. the
    ``mods = ~ outcome - 1`` of the metafor example) through ``mods``; an
    intercept is still added, so code one outcome as the reference level.

    Parameters
    ----------
    yi, V, trial, mods, names, method, test, level
        As :func:`fit`; ``V`` is the known block-diagonal sampling covariance.
    outcome
        Outcome label of each row; a trial has at most one row per outcome.

    Returns
    -------
    MultilevelResult
        ``sigma2`` holds ``tau2.<outcome>`` for each outcome and
        ``rho.<a>.<b>`` for each pair (the between-trial correlation), in the
        order of first appearance of the outcomes; ``model = "multivariate"``.

    Notes
    -----
    M_i = V_i + Z_i T Z_i' with Z_i the outcome indicator of trial i's rows
    and T the q x q between-trial covariance, linear in its q(q + 1)/2
    entries; these are estimated as in :func:`fit`, with step halving keeping
    T positive definite (Berkey et al. 1998, Stat Med 17:2537-2550).

    Examples
    --------
    >>> from livingreview.stats import covariance, multilevel
    >>> V = covariance.BlockDiagonal.from_blocks(
    ...     [[0, 1], [2, 3], [4, 5], [6, 7]],
    ...     [[[0.01, 0.004], [0.004, 0.02]]] * 4)
    >>> res = multilevel.fit_multivariate(
    ...     [0.4, -0.3, 0.2, -0.6, 0.5, -0.1, 0.3, -0.4], V, trial=[1, 1, 2, 2, 3, 3, 4, 4],
    ...     outcome=["PD", "AL"] * 4, mods=[[0], [1]] * 4, names=["AL"])
    >>> sorted(res.sigma2)
    ['rho.PD.AL', 'tau2.AL', 'tau2.PD']
    """
    if not isinstance(V, BlockDiagonal):
        raise ValueError("fit_multivariate needs V as a covariance.BlockDiagonal")
    y, X, terms, meth, t = _check_common(yi, mods, names, method, test, level)
    k, p = X.shape
    codes, trials = _trial_codes(trial, k)
    ocodes, olevels = _trial_codes(outcome, k)
    dup = pd.DataFrame({"t": codes, "o": ocodes}).duplicated()
    if dup.any():
        raise ValueError(
            f"effect {int(np.flatnonzero(dup.to_numpy())[0])}: trial has this outcome twice"
        )
    take, scale = _vblocks_from(V, 0.0, k, codes)
    q = len(olevels)
    pairs = [(a, b) for a in range(q) for b in range(a, q)]

    def components(rows: np.ndarray) -> list[np.ndarray]:
        o = ocodes[rows]  # (nb, n)
        out = []
        for a, b in pairs:
            ia, ib = (o == a).astype(float), (o == b).astype(float)
            G = ia[:, :, None] * ib[:, None, :]
            if a != b:
                G = G + np.swapaxes(G, 1, 2)
            out.append(G)
        return out

    groups = _groups(codes, y, X, take, components)
    _check_pd(groups, codes, trials)
    nonneg = np.array([a == b for a, b in pairs])
    start = np.array([scale if a == b else 0.0 for a, b in pairs])
    theta, ev, conv, it = _optimise(groups, p, k, meth == "REML", start, nonneg, scale)
    tau2 = {a: theta[i] for i, (a, b) in enumerate(pairs) if a == b}
    sigma2 = {f"tau2.{olevels[a]}": float(tau2[a]) for a in range(q)}
    for i, (a, b) in enumerate(pairs):
        if a != b:
            den = math.sqrt(tau2[a] * tau2[b])
            sigma2[f"rho.{olevels[a]}.{olevels[b]}"] = (
                float(theta[i] / den) if den > 0 else float("nan")
            )
    return _finish(
        groups=groups, theta=theta, ev=ev, converged=conv, iterations=it, sigma2=sigma2,
        n_params=p + len(pairs), k=k, p=p, terms=terms, trials=trials,
        model="multivariate", method=meth, test=t, level=level,
    )  # fmt: skip


# --------------------------------------------------------------------------- profile CI


@dataclass(frozen=True)
class ProfileCI:
    """Profile-likelihood confidence interval of one variance component."""

    component: str
    estimate: float
    ci_low: float
    ci_high: float
    level: float


def _root(f: Any, a: float, b: float, xtol: float) -> float:
    """Root of f in [a, b] (signs differ) by the Illinois variant of regula falsi.

    Written out to spare the ~0.5 s import of ``scipy.optimize`` in every
    per-stratum process.
    """
    fa, fb = f(a), f(b)
    side = 0
    for _ in range(200):
        c = (a * fb - b * fa) / (fb - fa)
        fc = f(c)
        if fc == 0 or abs(b - a) <= xtol:
            return c
        if (fc > 0) == (fb > 0):
            b, fb = c, fc
            if side == -1:
                fa /= 2
            side = -1
        else:
            a, fa = c, fc
            if side == 1:
                fb /= 2
            side = 1
        if abs(b - a) <= xtol:
            return (a + b) / 2
    return c


def profile_ci(res: MultilevelResult, component: str, level: float | None = None) -> ProfileCI:
    """Profile-likelihood CI of a variance component, as metafor's ``confint.rma.mv``.

    Parameters
    ----------
    res
        A fit of :func:`fit` (``model = "multilevel"``).
    component
        ``"trial"`` or ``"effect"``.
    level
        Confidence level (default: the fit's).

    Returns
    -------
    ProfileCI
        The bounds: the values s of the component at which the (restricted)
        log-likelihood, maximised over the other component with this one held
        at s, is chi^2_{1, level}/2 below its maximum; a bound is 0 when the
        profile at 0 is still above that level, and ``inf`` when no upper
        bound exists.

    Notes
    -----
    Each profile point is a constrained fit (the same Newton iterations with
    the component held fixed); the bounds are roots found by regula falsi
    (Illinois) to 1e-10 relative. metafor's ``confint`` solves the same equations with
    ``uniroot`` on top of ``nlminb`` fits, whose tolerances limit its bounds
    to about 3 significant digits (and it sometimes gives up on an upper
    bound). Hartung J, Knapp G (2005); Viechtbauer W (2010), J Stat Softw 36(3).

    Examples
    --------
    >>> from livingreview.stats import multilevel
    >>> res = multilevel.fit([0.1, 0.5, 0.2, 0.6, 0.9, 1.0, 0.3, 0.2], [0.01] * 8,
    ...                      trial=[1, 1, 2, 2, 3, 3, 4, 4])
    >>> ci = multilevel.profile_ci(res, "trial")
    >>> ci.ci_low < ci.estimate < ci.ci_high
    True
    """
    if res.model != "multilevel":
        raise ValueError("profile_ci is implemented for the multilevel (trial/effect) model")
    names = list(res.sigma2)
    if component not in names:
        raise ValueError(f"component must be one of {names}; got {component!r}")
    level = res.level if level is None else level
    j = names.index(component)
    groups, theta = res._groups, res._theta
    p, k, reml = res.p, res.k, res.method == "REML"
    scale = float(np.mean([np.diagonal(g.V, axis1=1, axis2=2).mean() for g in groups]))
    target = res.loglik - float(dist.chi2_isf(1 - level, 1)) / 2
    fixed = np.zeros(theta.size, bool)
    fixed[j] = True
    single = all(g.rows.shape[1] == 1 for g in groups)
    if single:
        fixed[1] = True

    last = [theta.copy()]  # warm start: the previous profile point's optimum
    nonneg = np.ones(theta.size, bool)

    def prof(s: float) -> float:
        start = last[0].copy()
        start[j] = s
        th, ev, _, _ = _optimise(groups, p, k, reml, start, nonneg, scale, fixed)
        last[0] = th
        return ev.ll - target

    est = float(theta[j])
    lo = 0.0
    if est > 0 and prof(0.0) < 0:
        lo = float(_root(prof, 0.0, est, 1e-10 * est))
    hi_b = max(est, scale) * 2
    for _ in range(60):
        if prof(hi_b) < 0:
            break
        hi_b *= 2
    else:
        return ProfileCI(component, est, lo, float("inf"), level)
    hi = float(_root(prof, est, hi_b, 1e-10 * est))
    return ProfileCI(component, est, lo, hi, level)
