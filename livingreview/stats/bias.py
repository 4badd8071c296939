"""Small-study effects: Egger's regression test and Duval & Tweedie's trim-and-fill."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..io import _json_clean  # NaN -> null, the one copy
from .rma import MetaResult, _rma, fit
from .shared_docs import shared

__all__ = ["EggerResult", "TrimFillResult", "egger_test", "trim_and_fill"]


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
        return _json_clean(asdict(self))


@shared
def egger_test(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    model: str = "rma",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> EggerResult:
    """Egger's regression test with the standard error as predictor (metafor ``regtest``).

    Parameters
    ----------
    {data}
    model : {"rma", "lm"}, default "rma"
        ``"rma"``: the meta-regression y_i = b0 + b1 sqrt(v_i) + u_i + e_i
        fitted like :func:`fit` (``method``, ``test``), as ``regtest(x)``;
        ``"lm"``: weighted least squares with weights 1/v_i and a
        multiplicative dispersion (the classical Egger test), t with k - 2
        df, as ``regtest(x, model="lm")``.
    {model}

    Returns
    -------
    EggerResult
        ``statistic`` and ``pval`` of the slope b1, ``df`` (None for z), and
        ``limit_estimate`` (b0, the effect as the SE goes to 0) with its CI.

    Raises
    ------
    ValueError
        For k < 3 or an unknown model.

    Notes
    -----
    Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis
    detected by a simple, graphical test. BMJ 315:629-634. Same as
    ``fit(yi, vi, method, test, level).regtest(model)``.

    Examples
    --------
    BCG vaccine trials (metafor: z = -0.8033, p = 0.4218, limit estimate -0.5104):

    {bcg}
    >>> eg = stats.egger_test(yi, vi)
    >>> round(eg.statistic, 4), round(eg.pval, 4), round(eg.limit_estimate, 4)
    (-0.8033, 0.4218, -0.5104)
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
            key: _json_clean(getattr(self, key))
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


@shared
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
    """Duval & Tweedie's trim-and-fill, step by step as metafor ``trimfill.rma.uni``.

    Parameters
    ----------
    {data}
    method : str, default "REML"
        tau^2 estimator of the trimmed fits and of the final fit.
    estimator : {"L0", "R0", "Q0"}, default "L0"
        Estimator of the number k0 of missing studies.
    side : {"left", "right"}, optional
        Side where studies are missing; by default chosen from the sign of
        the Egger-type slope (below).
    test, level
        As :func:`fit`, for the final fit to the filled data.
    maxiter : int, default 100
        Iterations of the trimming before a RuntimeError.

    Returns
    -------
    TrimFillResult
        ``k0``, ``se_k0``, ``side``, the adjusted ``estimate``/``se``/``ci_*``/
        ``pval``/``tau2``, the refitted ``fit`` and the filled data.

    Raises
    ------
    ValueError
        For k < 3, an unknown estimator or side, all vi equal with ``side``
        not given (the slope that chooses it is not estimable; metafor stops
        with "missing value where TRUE/FALSE needed"), or Q0 undefined.

    Notes
    -----
    Side (when not given): "right" if the slope of the meta-regression of
    y_i on sqrt(v_i) is negative, else "left". Then iterate: fit the model to
    the k - k0 least extreme studies, rank |y_i - mu| over all k studies and
    estimate k0 with L0 = (4 S_r - k(k+1)) / (2k - 1), R0 = gamma* - 1 or
    Q0 = k - 1/2 - sqrt(2k^2 - 4 S_r + 1/4), rounded and floored at 0, until
    k0 repeats (S_r the sum of the positive signed ranks, gamma* the length of
    the rightmost run of positive ranks: k minus the largest negative rank). The k0 most extreme studies are mirrored about
    the last trimmed estimate, 2 mu - y_i, and the model refitted. Where the
    variance of S_r comes out negative, se(k0) is NaN, as in metafor. Duval S,
    Tweedie R (2000). Trim and fill: a simple funnel-plot-based method of
    testing and adjusting for publication bias in meta-analysis. Biometrics
    56:455-463. Same as
    ``fit(yi, vi, method, test, level).trimfill(estimator, side, maxiter)``.

    Examples
    --------
    BCG vaccine trials (metafor: one study filled on the right, estimate
    -0.6571, se(k0) 2.4528):

    {bcg}
    >>> tf = stats.trim_and_fill(yi, vi)
    >>> tf.k0, tf.side, round(tf.estimate, 4), round(tf.se_k0, 4)
    (1, 'right', -0.6571, 2.4528)
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
