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
from .block_likelihood import _check_pd, _Eval, _evaluate, _Group, _groups, _optimise, _trial_codes
from .covariance import BlockDiagonal
from .metareg import moderator_matrix

__all__ = ["MultilevelResult", "fit", "fit_multivariate"]

METHODS = ("REML", "ML")
TESTS = ("z", "t")


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
